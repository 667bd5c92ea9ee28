//! `comparison.method: statistical`: a sequential test of one candidate
//! against the incumbent measured in the same rounds. No I/O.
//!
//! At each look (after every round, once the candidate has `MIN_SAMPLES`):
//! - `d` is the candidate's relative improvement over the incumbent's mean
//!   (positive is better), with Welch's standard error `se` and degrees of
//!   freedom;
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

/// Looks at `candidate` against `incumbent` (raw samples of the primary).
pub fn look(plan: &Plan, incumbent: &[f64], candidate: &[f64]) -> Look {
    let n_c = candidate.len();
    let (mi, mc) = (mean(incumbent), mean(candidate));
    let scale = mi.abs().max(f64::MIN_POSITIVE);
    let signed = if plan.minimize { mi - mc } else { mc - mi };
    let d = signed / scale;
    let a = variance(incumbent) / incumbent.len() as f64;
    let b = variance(candidate) / n_c as f64;
    let se = (a + b).sqrt() / scale;
    let df = welch_df(a, b, incumbent.len(), n_c);
    let two_sided = t_quantile(1.0 - (1.0 - plan.confidence) / 2.0, df);
    let half = two_sided * se * scale;
    let change = mc - mi;
    let mut result = Look {
        verdict: StatVerdict::Open,
        improvement: d,
        change,
        interval: [change - half, change + half],
        confidence: 0.0,
        incumbent_mean: mi,
    };
    if se == 0.0 {
        // Measurements without noise: the estimate is exact.
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
    result.confidence = t_cdf((d - plan.threshold) / se, df);
    if n_c < MIN_SAMPLES || incumbent.len() < 2 {
        return result;
    }
    let alpha = (1.0 - plan.confidence) / plan.compared.max(1) as f64;
    let looks = (plan.max_samples + 1).saturating_sub(MIN_SAMPLES).max(1) as f64;
    let k = (n_c + 1 - MIN_SAMPLES) as f64;
    let boundary =
        (normal_quantile(1.0 - alpha / 2.0) * (looks / k).sqrt()).max(t_quantile(1.0 - alpha, df));
    let last_boundary = normal_quantile(1.0 - alpha / 2.0).max(t_quantile(1.0 - alpha, df));
    let se_at_last = se * (n_c as f64 / plan.max_samples.max(n_c) as f64).sqrt();
    result.verdict = if d - plan.threshold > boundary * se {
        StatVerdict::Keep
    } else if d + t_quantile(FUTILITY_LEVEL, df) * se < plan.threshold
        || d + t_quantile(REACHABLE_LEVEL, df) * se < plan.threshold + last_boundary * se_at_last
    {
        StatVerdict::Futile
    } else if n_c >= plan.max_samples {
        StatVerdict::Inconclusive
    } else {
        StatVerdict::Open
    };
    result
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

/// The standard normal quantile (Acklam's rational approximation,
/// relative error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// Student's t cumulative distribution.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// Student's t quantile, by bisection on the distribution.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if df > 1e6 {
        return normal_quantile(p);
    }
    let (mut lo, mut hi) = (-1e4, 1e4);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    (lo + hi) / 2.0
}

/// The regularized incomplete beta function I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta (Lentz's method).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn distributions_match_their_tables() {
        assert!(close(normal_quantile(0.975), 1.959_964, 1e-5));
        assert!(close(normal_quantile(0.5), 0.0, 1e-9));
        assert!(close(normal_quantile(0.01), -2.326_348, 1e-5));
        assert!(close(t_quantile(0.975, 10.0), 2.228_139, 1e-5));
        assert!(close(t_quantile(0.95, 3.0), 2.353_363, 1e-5));
        assert!(close(t_quantile(0.7, 5.0), 0.559_430, 1e-5));
        assert!(close(t_cdf(2.228_139, 10.0), 0.975, 1e-6));
        assert!(close(t_cdf(-1.0, 4.0), 0.186_950, 1e-5));
    }

    fn plan() -> Plan {
        Plan {
            minimize: true,
            threshold: 0.005,
            confidence: 0.95,
            max_samples: 20,
            compared: 4,
        }
    }

    /// Deterministic "noise": a fixed pattern of relative deviations.
    fn noisy(center: f64, n: usize, offset: usize) -> Vec<f64> {
        const Z: [f64; 10] = [0.3, -1.1, 0.8, -0.2, 1.4, -0.7, 0.1, -1.6, 0.9, 0.1];
        (0..n)
            .map(|i| center * (1.0 + 0.02 * Z[(i + offset) % Z.len()]))
            .collect()
    }

    #[test]
    fn a_clear_gain_is_kept_and_a_slowdown_is_futile() {
        let incumbent = noisy(100.0, 12, 0);
        let gain = look(&plan(), &incumbent, &noisy(90.0, 12, 3));
        assert_eq!(gain.verdict, StatVerdict::Keep);
        assert!(
            gain.interval[0] < -5.0 && gain.interval[1] < 0.0,
            "{gain:?}"
        );
        assert!(gain.confidence > 0.99);
        let slower = look(&plan(), &noisy(100.0, 4, 0), &noisy(103.0, 4, 5));
        assert_eq!(slower.verdict, StatVerdict::Futile);
    }

    #[test]
    fn early_looks_need_more_evidence_than_late_ones() {
        // The same 2% gain: not enough at the third sample, enough at the 20th.
        let early = look(&plan(), &noisy(100.0, 3, 0), &noisy(98.0, 3, 0));
        assert_eq!(early.verdict, StatVerdict::Open);
        let late = look(&plan(), &noisy(100.0, 20, 0), &noisy(98.0, 20, 0));
        assert_eq!(late.verdict, StatVerdict::Keep);
    }

    #[test]
    fn undecided_at_max_samples_is_inconclusive() {
        let p = Plan {
            max_samples: 4,
            ..plan()
        };
        // About 2% better: short of the boundary, yet not hopeless.
        let r = look(&p, &noisy(100.0, 4, 0), &noisy(97.0, 4, 2));
        assert_eq!(r.verdict, StatVerdict::Inconclusive);
        // Barely better: it could not clear the boundary by max_samples.
        let r = look(&p, &noisy(100.0, 4, 0), &noisy(99.4, 4, 2));
        assert_eq!(r.verdict, StatVerdict::Futile);
    }

    #[test]
    fn noiseless_measurements_decide_at_once() {
        let keep = look(&plan(), &[100.0, 100.0, 100.0], &[90.0, 90.0, 90.0]);
        assert_eq!(keep.verdict, StatVerdict::Keep);
        let no = look(&plan(), &[100.0, 100.0, 100.0], &[99.9, 99.9, 99.9]);
        assert_eq!(no.verdict, StatVerdict::Futile);
    }
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
