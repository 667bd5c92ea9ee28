//! `comparison.method: statistical`: a sequential test of one candidate
//! against the incumbent measured in the same rounds. No I/O.
//!
//! At each look (after every round, once the candidate has `MIN_SAMPLES`),
//! for each of two tests, Welch's (all samples of both) and the paired one
//! (per-round differences, when the two were measured in the same rounds),
//! at half the level each (see [`look_paired`]):
//! - `d` is the candidate's relative improvement over the incumbent's mean
//!   (positive is better), with the test's standard error `se` and degrees
//!   of freedom;
//! - **keep** when `d - threshold > q * se`, where `q` follows an
//!   O'Brien-Fleming-shaped boundary over the possible looks
//!   (`z(1 - a/2) * sqrt(K / k)`, never below Student's t at `1 - a`), and
//!   `a = (1 - confidence) / m` corrects for the `m` candidates compared in
//!   the batch (Bonferroni): early looks need overwhelming evidence, the last
//!   one about the nominal level;
//! - **futile** when even an optimistic (70%) upper bound of `d` stays below
//!   the threshold, or when even a very optimistic (95%) one could not clear
//!   the final boundary by `max_samples` (its standard error shrinking as
//!   `sqrt(n / max_samples)`): more samples would not make it a keep;
//! - **inconclusive** once `max_samples` are spent undecided.

/// Samples a candidate takes before the first look.
pub const MIN_SAMPLES: usize = 3;
/// The one-sided level of the optimistic bound that decides futility.
const FUTILITY_LEVEL: f64 = 0.7;
/// The level of the bound that must still reach the final boundary.
const REACHABLE_LEVEL: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatVerdict {
    /// Needs another sample.
    Open,
    Keep,
    Futile,
    Inconclusive,
}

impl StatVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            StatVerdict::Open => "open",
            StatVerdict::Keep => "keep",
            StatVerdict::Futile => "futile",
            StatVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// The settings of one test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub minimize: bool,
    /// The improvement that counts, relative to the incumbent.
    pub threshold: f64,
    pub confidence: f64,
    pub max_samples: usize,
    /// Candidates compared in the batch (the Bonferroni correction).
    pub compared: usize,
}

/// One look at a candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub verdict: StatVerdict,
    /// Relative improvement over the incumbent's mean (positive is better).
    pub improvement: f64,
    /// The change of the primary (candidate mean minus incumbent mean), in
    /// the metric's units, and its two-sided interval at `confidence`.
    pub change: f64,
    pub interval: [f64; 2],
    /// How sure the improvement exceeds the threshold (one-sided).
    pub confidence: f64,
    pub incumbent_mean: f64,
}

pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample variance (n - 1).
pub fn variance(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64
}

/// Looks at `candidate` against `incumbent` (raw samples of the primary),
/// with Welch's test alone.
pub fn look(plan: &Plan, incumbent: &[f64], candidate: &[f64]) -> Look {
    look_paired(plan, incumbent, candidate, &[])
}

/// Looks at `candidate` against `incumbent`, and, when the two were measured
/// in the same rounds, at `differences` (candidate minus incumbent, one per
/// round). Two tests judge at half the level each (a union, Bonferroni):
/// Welch's on all samples, which uses the incumbent's whole history, and the
/// paired test on the per-round differences, which cancels what a round's
/// samples share (drift, a busy machine). Either keeps; futile needs both.
pub fn look_paired(plan: &Plan, incumbent: &[f64], candidate: &[f64], differences: &[f64]) -> Look {
    let n_c = candidate.len();
    let (mi, mc) = (mean(incumbent), mean(candidate));
    let scale = mi.abs().max(f64::MIN_POSITIVE);
    let sign = if plan.minimize { -1.0 } else { 1.0 };
    let a = variance(incumbent) / incumbent.len() as f64;
    let b = variance(candidate) / n_c as f64;
    let welch = Estimate {
        change: mc - mi,
        se: (a + b).sqrt(),
        df: welch_df(a, b, incumbent.len(), n_c),
    };
    let paired = (differences.len() >= MIN_SAMPLES).then(|| Estimate {
        change: mean(differences),
        se: (variance(differences) / differences.len() as f64).sqrt(),
        df: (differences.len() - 1) as f64,
    });
    let tests: Vec<Estimate> = std::iter::once(welch).chain(paired).collect();
    // What is reported is the more precise of the two.
    let shown = *tests
        .iter()
        .min_by(|x, y| x.se.total_cmp(&y.se))
        .expect("Welch's is always there");
    let two_sided = t_quantile(1.0 - (1.0 - plan.confidence) / 2.0, shown.df);
    let half = two_sided * shown.se;
    let improvement = |e: &Estimate| sign * e.change / scale;
    let mut result = Look {
        verdict: StatVerdict::Open,
        improvement: improvement(&shown),
        change: shown.change,
        interval: [shown.change - half, shown.change + half],
        confidence: 0.0,
        incumbent_mean: mi,
    };
    if welch.se == 0.0 {
        // Measurements without noise: the estimate is exact.
        let d = improvement(&welch);
        result.improvement = d;
        result.change = welch.change;
        result.interval = [welch.change, welch.change];
        result.confidence = if d > plan.threshold { 1.0 } else { 0.0 };
        if n_c >= MIN_SAMPLES.min(plan.max_samples) && incumbent.len() >= 2 {
            result.verdict = if d > plan.threshold {
                StatVerdict::Keep
            } else {
                StatVerdict::Futile
            };
        }
        return result;
    }
    result.confidence = tests
        .iter()
        .filter(|e| e.se > 0.0)
        .map(|e| t_cdf((improvement(e) - plan.threshold) / (e.se / scale), e.df))
        .fold(0.0, f64::max);
    if n_c < MIN_SAMPLES || incumbent.len() < 2 {
        return result;
    }
    let alpha = (1.0 - plan.confidence) / plan.compared.max(1) as f64 / tests.len() as f64;
    let verdicts: Vec<StatVerdict> = tests
        .iter()
        .map(|e| judge(plan, improvement(e), e.se / scale, e.df, n_c, alpha))
        .collect();
    result.verdict = if verdicts.contains(&StatVerdict::Keep) {
        StatVerdict::Keep
    } else if verdicts.iter().all(|v| *v == StatVerdict::Futile) {
        StatVerdict::Futile
    } else if verdicts.contains(&StatVerdict::Open) {
        StatVerdict::Open
    } else {
        StatVerdict::Inconclusive
    };
    result
}

/// A change of the primary with its standard error and degrees of freedom.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    change: f64,
    se: f64,
    df: f64,
}

/// One test's verdict at look `n` for a relative improvement `d` with
/// standard error `se` (relative too), at level `alpha`.
fn judge(plan: &Plan, d: f64, se: f64, df: f64, n: usize, alpha: f64) -> StatVerdict {
    if se == 0.0 {
        return if d > plan.threshold {
            StatVerdict::Keep
        } else {
            StatVerdict::Futile
        };
    }
    let looks = (plan.max_samples + 1).saturating_sub(MIN_SAMPLES).max(1) as f64;
    let k = (n + 1 - MIN_SAMPLES) as f64;
    let boundary =
        (normal_quantile(1.0 - alpha / 2.0) * (looks / k).sqrt()).max(t_quantile(1.0 - alpha, df));
    let last_boundary = normal_quantile(1.0 - alpha / 2.0).max(t_quantile(1.0 - alpha, df));
    let se_at_last = se * (n as f64 / plan.max_samples.max(n) as f64).sqrt();
    if d - plan.threshold > boundary * se {
        StatVerdict::Keep
    } else if d + t_quantile(FUTILITY_LEVEL, df) * se < plan.threshold
        || d + t_quantile(REACHABLE_LEVEL, df) * se < plan.threshold + last_boundary * se_at_last
    {
        StatVerdict::Futile
    } else if n >= plan.max_samples {
        StatVerdict::Inconclusive
    } else {
        StatVerdict::Open
    }
}

/// Welch-Satterthwaite degrees of freedom (`a`, `b`: variance / n).
fn welch_df(a: f64, b: f64, n_a: usize, n_b: usize) -> f64 {
    let num = (a + b) * (a + b);
    let den = a * a / (n_a.max(2) - 1) as f64 + b * b / (n_b.max(2) - 1) as f64;
    if den == 0.0 {
        return (n_a + n_b).saturating_sub(2).max(1) as f64;
    }
    (num / den).max(1.0)
}

/// A decision of [`super::rules`] with the primary judged by the sequential
/// test instead of a fixed threshold; the other required objectives keep
/// their comparisons (a violation still blocks a keep).
pub fn with_statistics(
    mut d: super::rules::Decision,
    primary: &str,
    verdict: StatVerdict,
) -> super::rules::Decision {
    use super::rules::Verdict;
    d.violated_objectives.retain(|v| v != primary);
    d.improved_objectives.retain(|v| v != primary);
    let others_violated = !d.violated_objectives.is_empty();
    match verdict {
        StatVerdict::Keep => {
            d.improved_objectives.insert(0, primary.to_string());
            d.eligible = !others_violated;
            d.decision = if d.eligible {
                Verdict::Keep
            } else {
                Verdict::Revert
            };
            d.reason = if d.eligible {
                format!("{primary} improved beyond the threshold at the stated confidence")
            } else {
                format!("violated {}", d.violated_objectives.join(", "))
            };
        }
        StatVerdict::Futile => {
            d.eligible = false;
            d.decision = Verdict::Revert;
            d.reason = format!("{primary} is clearly not better by the threshold");
        }
        StatVerdict::Inconclusive | StatVerdict::Open => {
            d.eligible = false;
            d.decision = Verdict::Inconclusive;
            d.reason = "undecided when max_samples were spent".into();
        }
    }
    d
}

impl std::str::FromStr for StatVerdict {
    type Err = ();
    fn from_str(s: &str) -> Result<StatVerdict, ()> {
        match s {
            "keep" => Ok(StatVerdict::Keep),
            "futile" => Ok(StatVerdict::Futile),
            "inconclusive" => Ok(StatVerdict::Inconclusive),
            "open" => Ok(StatVerdict::Open),
            _ => Err(()),
        }
    }
}

/// The noise of one metric over repeated runs of the same tree, and what a
/// protocol comparing `per_side` runs a side can tell apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    pub mean: f64,
    pub sd: f64,
    pub runs: usize,
}

impl Noise {
    pub fn of(samples: &[f64]) -> Noise {
        Noise {
            mean: mean(samples),
            sd: variance(samples).sqrt(),
            runs: samples.len(),
        }
    }

    pub fn relative(&self) -> f64 {
        if self.mean == 0.0 {
            0.0
        } else {
            self.sd / self.mean.abs()
        }
    }

    /// The spread of the difference between two aggregates of `per_side`
    /// runs each (the median's is about 1.25 times the mean's).
    pub fn of_difference(&self, per_side: usize, median: bool) -> f64 {
        let factor = if median && per_side > 2 { 1.2533 } else { 1.0 };
        self.sd * (2.0 / per_side.max(1) as f64).sqrt() * factor
    }

    /// The smallest true change found 80% of the time at 95% confidence.
    pub fn detectable(&self, per_side: usize, median: bool) -> f64 {
        (normal_quantile(0.95) + normal_quantile(0.8)) * self.of_difference(per_side, median)
    }

    /// How often a change that does nothing still clears `threshold`.
    pub fn false_keep_rate(&self, threshold: f64, per_side: usize, median: bool) -> f64 {
        let spread = self.of_difference(per_side, median);
        if spread == 0.0 {
            return 0.0;
        }
        1.0 - t_cdf(threshold / spread, 1000.0)
    }
}

mod distributions;

pub use distributions::{normal_quantile, t_cdf, t_quantile};

#[cfg(test)]
mod tests;
