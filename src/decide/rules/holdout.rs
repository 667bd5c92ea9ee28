//! Held-out confirmation: a would-be keep is confirmed on a second pair of
//! measurements, on cases the selection never read, under the same gates,
//! objectives and thresholds. The holdout confirms; it never selects.

use serde::Serialize;
use serde_json::Value;

use super::*;

/// The held-out pair's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldoutCheck {
    #[serde(serialize_with = "ordered_map")]
    pub comparisons: Vec<(String, Comparison)>,
    pub improved_objectives: Vec<String>,
    pub violated_objectives: Vec<String>,
    /// The holdout is itself an eligible improvement.
    pub agrees: bool,
    pub decision: Verdict,
    /// Why it does not agree (`None` when it does).
    pub reason: Option<String>,
}

/// The selection's decision, held until the held-out pair confirms a keep.
pub fn confirm(rules: &Rules, mut selected: Decision, pair: Option<&Value>) -> Decision {
    if selected.decision != Verdict::Keep
        || selected.next_measurement != Next::None
        || !rules.holdout
    {
        return selected;
    }
    let Some(pair) = pair else {
        selected.decision = Verdict::Promising;
        selected.next_measurement = Next::Holdout;
        selected.reason =
            "selection comparison would keep; held-out confirmation still missing".into();
        return selected;
    };
    let check = check(rules, pair);
    if !check.agrees {
        selected.decision = check.decision;
        selected.eligible = false;
        selected.reason = check.reason.clone().unwrap_or_default();
    }
    selected.holdout = Some(check);
    selected
}

fn check(rules: &Rules, pair: &Value) -> HoldoutCheck {
    let empty = Value::Object(Default::default());
    let baseline = present(pair.get("baseline")).unwrap_or(&empty);
    let candidate = present(pair.get("candidate")).unwrap_or(&empty);
    let refused = |decision, violated: Vec<String>, reason: String| HoldoutCheck {
        comparisons: Vec::new(),
        improved_objectives: Vec::new(),
        violated_objectives: violated,
        agrees: false,
        decision,
        reason: Some(reason),
    };
    match failed_gates(rules, candidate) {
        Ok(failures) if failures.is_empty() => {}
        Ok(failures) => {
            let reason = format!("holdout degenerate gate failed: {}", failures.join(", "));
            return refused(Verdict::Degenerate, failures, reason);
        }
        Err(e) => return refused(Verdict::Error, Vec::new(), e),
    }
    let c = compare_required(rules, baseline, candidate, false);
    let (decision, reason) = if !c.missing.is_empty() {
        let missing = c.missing.join(", ");
        (
            Verdict::Error,
            Some(format!("holdout missing required metric: {missing}")),
        )
    } else if !c.violated.is_empty() {
        let violated = c.violated.join(", ");
        (
            Verdict::Revert,
            Some(format!("holdout regressed {violated}")),
        )
    } else if c.improved.is_empty() {
        let reason = "holdout did not confirm the selection gain".to_string();
        (Verdict::Inconclusive, Some(reason))
    } else {
        (Verdict::Keep, None)
    };
    HoldoutCheck {
        improved_objectives: c.improved.into_iter().map(|(n, _)| n).collect(),
        violated_objectives: c.violated,
        comparisons: c.comparisons,
        agrees: reason.is_none(),
        decision,
        reason,
    }
}
