//! Every required objective compared, candidate against the baseline.

use serde_json::Value;

use super::*;

/// Every required objective compared, candidate against the baseline.
pub(super) struct Compared {
    /// By name, in the order first compared (a name compared twice keeps
    /// its place and its last result, as a JavaScript object does).
    pub comparisons: Vec<(String, Comparison)>,
    /// With their relative change.
    pub improved: Vec<(String, f64)>,
    pub violated: Vec<String>,
    pub missing: Vec<String>,
    /// Paired objectives whose baseline has too few samples, described.
    pub short_baselines: Vec<String>,
    pub candidates: Vec<(String, Option<Bundle>)>,
}

impl Compared {
    pub fn comparison(&self, name: &str) -> Option<&Comparison> {
        by_name(&self.comparisons, name)
    }

    fn record(&mut self, name: &str, result: Comparison) {
        match self.comparisons.iter_mut().find(|(n, _)| n == name) {
            Some((_, slot)) => *slot = result,
            None => self.comparisons.push((name.to_string(), result)),
        }
    }

    /// The error when a required metric is missing or a paired baseline is
    /// short of samples (more candidate samples cannot mend the baseline).
    pub fn incomplete(&self) -> Option<Decision> {
        let reason = if !self.missing.is_empty() {
            format!("missing required metric: {}", self.missing.join(", "))
        } else if !self.short_baselines.is_empty() {
            format!(
                "insufficient paired baseline samples: {}",
                self.short_baselines.join(", ")
            )
        } else {
            return None;
        };
        let mut d = Decision::closed(Verdict::Error, reason);
        d.comparisons = self.comparisons.clone();
        Some(d)
    }
}

/// `on_ladder`: the selection pair, whose paired baseline must cover the
/// ladder's confirmation samples; the held-out pair needs only as many
/// baseline samples as the candidate has.
pub(super) fn compare_required(
    rules: &Rules,
    baseline: &Value,
    candidate: &Value,
    on_ladder: bool,
) -> Compared {
    let mut c = Compared {
        comparisons: Vec::new(),
        improved: Vec::new(),
        violated: Vec::new(),
        missing: Vec::new(),
        short_baselines: Vec::new(),
        candidates: Vec::new(),
    };
    let confirmation = match on_ladder && rules.ladder.enabled {
        true => rules.ladder.confirmation_repeats,
        false => 1,
    };
    for objective in &rules.required {
        let base = metric_bundle(
            baseline,
            &objective.name,
            rules.aggregation,
            objective.judge,
        );
        let cand = metric_bundle(
            candidate,
            &objective.name,
            rules.aggregation,
            objective.judge,
        );
        c.candidates.push((objective.name.clone(), cand.clone()));
        let (Some(base), Some(cand)) = (
            base.filter(|b| b.aggregate.is_some()),
            cand.filter(|c| c.aggregate.is_some()),
        ) else {
            c.missing.push(objective.name.clone());
            continue;
        };
        if rules.thresholds.method == Method::Paired
            && !base.samples.is_empty()
            && !cand.samples.is_empty()
        {
            let needed = (cand.samples.len() as u64).max(confirmation);
            if (base.samples.len() as u64) < needed {
                c.short_baselines.push(format!(
                    "{} ({} observed, {needed} required)",
                    objective.name,
                    base.samples.len()
                ));
                continue;
            }
        }
        let result = compare_objective(objective, &base, &cand, &rules.thresholds);
        if result.verdict == ObjectiveVerdict::Improved {
            c.improved.push((objective.name.clone(), result.relative));
        }
        if result.violated {
            c.violated.push(objective.name.clone());
        }
        c.record(&objective.name, result);
    }
    c
}
