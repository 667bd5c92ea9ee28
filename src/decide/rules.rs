//! ce-optimize's decision for one candidate against the current best:
//! multi-objective eligibility, noise-aware comparison (absolute, relative,
//! paired), futility and the measurement ladder's next step. A port of its
//! `decide.mjs`, rule for rule, on the same JSON payload
//! `{spec, baseline, candidate}`, so `optimize decide` is a drop-in for it
//! and the loop decides with the very same code.
//!
//! The payload is JSON written by people and other tools, so values are read
//! the way JavaScript reads them: `null` counts as absent, numbers may come
//! as strings, and a value that is not a finite number is no value.

use serde::Serialize;
use serde_json::Value;

/// What to do with the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Keep,
    /// Eligible so far, but the ladder wants confirmation samples first.
    Promising,
    Revert,
    Inconclusive,
    Censored,
    Degenerate,
    Error,
}

/// The measurement the decision needs next (as the log records it).
pub use crate::log::NextMeasurement as Next;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveVerdict {
    Improved,
    Regressed,
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub verdict: ObjectiveVerdict,
    /// Signed so that positive is better.
    #[serde(serialize_with = "js_number")]
    pub delta: f64,
    /// `delta` relative to the best's value (0 when that is 0).
    #[serde(serialize_with = "js_number")]
    pub relative: f64,
    pub violated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub decision: Verdict,
    pub eligible: bool,
    pub next_measurement: Next,
    pub target_reached: bool,
    pub improved_objectives: Vec<String>,
    pub violated_objectives: Vec<String>,
    /// Per required objective, in the order they were compared.
    #[serde(serialize_with = "ordered_map")]
    pub comparisons: Vec<(String, Comparison)>,
    #[serde(serialize_with = "js_option")]
    pub primary_delta: Option<f64>,
    #[serde(serialize_with = "js_number")]
    pub rank_score: f64,
    /// Cases the best passed and the candidate fails (report only).
    pub regressions: Vec<String>,
    /// The held-out pair's verdict, once the selection pair would keep.
    pub holdout: Option<HoldoutCheck>,
    pub reason: String,
}

impl Decision {
    fn closed(decision: Verdict, reason: impl Into<String>) -> Decision {
        Decision {
            decision,
            eligible: false,
            next_measurement: Next::None,
            target_reached: false,
            improved_objectives: Vec::new(),
            violated_objectives: Vec::new(),
            comparisons: Vec::new(),
            primary_delta: None,
            rank_score: 0.0,
            regressions: Vec::new(),
            holdout: None,
            reason: reason.into(),
        }
    }

    pub fn comparison(&self, name: &str) -> Option<&Comparison> {
        by_name(&self.comparisons, name)
    }
}

/// The comparison of objective `name` in a list of them.
fn by_name<'a>(comparisons: &'a [(String, Comparison)], name: &str) -> Option<&'a Comparison> {
    comparisons.iter().find(|(n, _)| n == name).map(|(_, c)| c)
}

/// JavaScript prints integral numbers without a fraction, and NaN as null.
fn js_number<S: serde::Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if !x.is_finite() {
        s.serialize_none()
    } else if x.fract() == 0.0 && x.abs() < 9.0e15 {
        s.serialize_i64(*x as i64)
    } else {
        s.serialize_f64(*x)
    }
}

fn js_option<S: serde::Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(v) => js_number(v, s),
        None => s.serialize_none(),
    }
}

fn ordered_map<S: serde::Serializer>(
    entries: &[(String, Comparison)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

mod cases;
mod compare;
mod holdout;
mod model;
mod of_spec;
mod read;
mod required;

pub use cases::regressions;
pub use compare::*;
pub use holdout::{HoldoutCheck, confirm as confirm_on_holdout};
pub use model::*;
pub use read::*;
use required::{Compared, compare_required};

/// Keep, revert, inconclusive, censored or degenerate, for one candidate.
pub fn decide(payload: &Value) -> Decision {
    let empty = Value::Object(Default::default());
    let spec = present(payload.get("spec")).unwrap_or(&empty);
    let baseline = present(payload.get("baseline")).unwrap_or(&empty);
    let candidate = present(payload.get("candidate")).unwrap_or(&empty);
    let holdout = present(payload.get("holdout"));
    decide_confirmed(&Rules::from_spec(spec), baseline, candidate, holdout)
}

/// The decision on the selection pair, confirmed on the held-out pair
/// `{baseline, candidate}` when the spec configures one (without the pair,
/// a would-be keep is `promising` with `next_measurement: holdout`).
pub fn decide_confirmed(
    rules: &Rules,
    baseline: &Value,
    candidate: &Value,
    holdout: Option<&Value>,
) -> Decision {
    confirm_on_holdout(rules, decide_with(rules, baseline, candidate), holdout)
}

/// The decision on the selection pair alone: what sampling needs, and what
/// [`confirm_on_holdout`] confirms once the loop has measured the holdout.
pub fn decide_with(rules: &Rules, baseline: &Value, candidate: &Value) -> Decision {
    let Some(primary) = &rules.primary else {
        return Decision::closed(Verdict::Error, "missing primary metric");
    };
    if candidate.get("smoke_passed") == Some(&Value::Bool(false)) {
        return Decision::closed(Verdict::Degenerate, "smoke test failed");
    }
    if let Some(d) = gate_failure(rules, candidate) {
        return d;
    }
    let c = compare_required(rules, baseline, candidate, true);
    if let Some(d) = c.incomplete() {
        return d;
    }

    let aggregation = rules.aggregation;
    let primary_bundle = metric_bundle(candidate, &primary.name, aggregation, primary.judge);
    let baseline_primary = metric_bundle(baseline, &primary.name, aggregation, primary.judge);
    let primary_cmp = c.comparison(&primary.name).cloned();
    let eligible = !c.improved.is_empty() && c.violated.is_empty();
    let contending = still_contending(rules, &c);
    let sample_count = sample_count(&c, candidate);
    let improved_names: Vec<String> = c.improved.iter().map(|(n, _)| n.clone()).collect();

    if !eligible
        && !contending
        && is_futile(
            &rules.ladder,
            primary.direction,
            baseline_primary.and_then(|b| b.aggregate),
            primary_bundle.as_ref().and_then(|b| b.aggregate),
            finite(candidate.get("elapsed_seconds")),
            sample_count,
        )
    {
        return Decision {
            improved_objectives: improved_names,
            violated_objectives: c.violated,
            primary_delta: primary_cmp.map(|c| c.delta),
            comparisons: c.comparisons,
            ..Decision::closed(
                Verdict::Censored,
                "noncompetitive under the predeclared futility bound",
            )
        };
    }

    let target_reached = targets_reached(rules, &c.candidates);
    let decision = if eligible {
        Verdict::Keep
    } else if !c.violated.is_empty() || !contending {
        Verdict::Revert
    } else {
        Verdict::Inconclusive
    };
    let (decision, next) = ladder_step(&rules.ladder, decision, sample_count, candidate);
    let reason = reason(eligible, decision, &improved_names, &c.violated);
    let rank_score = rank(primary_cmp.as_ref(), &c.improved);
    Decision {
        decision,
        eligible,
        next_measurement: next,
        target_reached,
        improved_objectives: improved_names,
        violated_objectives: c.violated,
        comparisons: c.comparisons,
        primary_delta: primary_cmp.map(|c| c.delta),
        rank_score,
        regressions: regressions(baseline, candidate),
        holdout: None,
        reason,
    }
}

impl Rules {
    /// The primary's aggregate in a snapshot, read as a decision reads it.
    pub fn primary_value(&self, snapshot: &Value) -> Option<f64> {
        let primary = self.primary.as_ref()?;
        metric_bundle(snapshot, &primary.name, self.aggregation, primary.judge)?.aggregate
    }
}

/// Some required objective is still inside its threshold.
fn still_contending(rules: &Rules, c: &Compared) -> bool {
    rules.required.iter().any(|o| {
        c.comparison(&o.name)
            .is_some_and(|c| c.verdict == ObjectiveVerdict::Inconclusive)
    })
}

/// The fewest candidate samples of any required objective (a metric without
/// samples counts as the snapshot's `sample_count`, else 1).
fn sample_count(c: &Compared, candidate: &Value) -> u64 {
    c.candidates
        .iter()
        .map(
            |(_, bundle)| match bundle.as_ref().map(|b| b.samples.len()) {
                Some(n) if n >= 1 => n as u64,
                _ => positive_integer(candidate.get("sample_count"), 1),
            },
        )
        .min()
        .unwrap_or(1)
}

fn reason(eligible: bool, decision: Verdict, improved: &[String], violated: &[String]) -> String {
    if eligible {
        format!(
            "improved {} without violating other required objectives",
            improved.join(", ")
        )
    } else if decision == Verdict::Inconclusive {
        "delta inside the comparison threshold".to_string()
    } else if !violated.is_empty() {
        format!("violated {}", violated.join(", "))
    } else {
        "no required objective improved".to_string()
    }
}

/// A degenerate gate the candidate fails (or a check that cannot be read).
fn gate_failure(rules: &Rules, candidate: &Value) -> Option<Decision> {
    let failures = match failed_gates(rules, candidate) {
        Ok(failures) if failures.is_empty() => return None,
        Ok(failures) => failures,
        Err(e) => return Some(Decision::closed(Verdict::Error, e)),
    };
    let mut d = Decision::closed(
        Verdict::Degenerate,
        format!("degenerate gate failed: {}", failures.join(", ")),
    );
    d.violated_objectives = failures;
    Some(d)
}

/// The gates a snapshot fails, in the spec's order.
fn failed_gates(rules: &Rules, snapshot: &Value) -> Result<Vec<String>, String> {
    let mut failures = Vec::new();
    for (name, check) in &rules.gates {
        let value = snapshot.get("gates").and_then(|g| g.get(name));
        if !gate_passes(value, check)? {
            failures.push(name.clone());
        }
    }
    Ok(failures)
}

/// Every required objective that declares a target meets it.
fn targets_reached(rules: &Rules, candidates: &[(String, Option<Bundle>)]) -> bool {
    let with_targets: Vec<&Objective> = rules
        .required
        .iter()
        .filter(|o| o.target.is_some())
        .collect();
    !with_targets.is_empty()
        && with_targets.iter().all(|o| {
            // The last bundle of a name, as a JavaScript object keeps it.
            let value = candidates
                .iter()
                .rev()
                .find(|(n, _)| *n == o.name)
                .and_then(|(_, b)| b.as_ref()?.aggregate);
            match (value, o.target) {
                (Some(v), Some(t)) => o.direction.signed_delta(t, v) >= 0.0,
                _ => false,
            }
        })
}

/// The ladder's next step: the smoke check first, more samples while a keep
/// is unconfirmed or the result inconclusive within the budget.
fn ladder_step(
    ladder: &Ladder,
    mut decision: Verdict,
    sample_count: u64,
    candidate: &Value,
) -> (Verdict, Next) {
    let mut next = Next::None;
    if ladder.enabled && ladder.has_smoke && present(candidate.get("smoke_passed")).is_none() {
        next = Next::Smoke;
    } else if ladder.enabled && matches!(decision, Verdict::Keep | Verdict::Inconclusive) {
        let confirming = decision == Verdict::Keep;
        let budget = if confirming {
            ladder.confirmation_repeats
        } else {
            (ladder.exploratory_pairs + 1).min(ladder.confirmation_repeats)
        };
        if sample_count < budget {
            if confirming {
                decision = Verdict::Promising;
            }
            next = if sample_count < ladder.exploratory_pairs {
                Next::Exploratory
            } else if confirming {
                Next::Confirm
            } else {
                Next::AddSample
            };
        }
    }
    (decision, next)
}

/// The primary's relative gain when it improved, else the best relative
/// gain of any improved objective.
fn rank(primary: Option<&Comparison>, improved: &[(String, f64)]) -> f64 {
    match primary {
        Some(c) if c.verdict == ObjectiveVerdict::Improved => c.relative,
        _ if improved.is_empty() => primary.map_or(0.0, |c| c.relative),
        _ => improved
            .iter()
            .map(|(_, r)| *r)
            .fold(f64::NEG_INFINITY, f64::max),
    }
}

fn is_futile(
    ladder: &Ladder,
    direction: Direction,
    baseline: Option<f64>,
    candidate: Option<f64>,
    elapsed: Option<f64>,
    sample_count: u64,
) -> bool {
    let Some(futility) = ladder.futility.as_ref().filter(|_| ladder.enabled) else {
        return false;
    };
    // A bound of zero or less (or none that reads as a number) is off.
    if let (Some(after), Some(elapsed), Some(b), Some(c)) =
        (futility.after_elapsed_seconds, elapsed, baseline, candidate)
        && after > 0.0
        && elapsed >= after
        && direction.signed_delta(b, c) <= 0.0
    {
        return true;
    }
    let bound = match (futility.worse_factor, baseline) {
        (Some(f), Some(b)) if f > 1.0 && b > 0.0 => match direction {
            Direction::Minimize => b * f,
            Direction::Maximize => b / f,
        },
        _ => return false,
    };
    let Some(c) = candidate else { return false };
    direction.signed_delta(bound, c) <= 0.0 && (sample_count as f64) <= ladder.exploratory_raw
}

#[cfg(test)]
mod tests;
