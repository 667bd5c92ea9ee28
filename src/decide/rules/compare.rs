//! One objective compared, candidate against the best; a gate's check.

use serde_json::Value;

use super::*;

pub(super) fn verdict_from_signed(delta: f64, threshold: f64) -> ObjectiveVerdict {
    if delta > threshold {
        ObjectiveVerdict::Improved
    } else if delta < -threshold {
        ObjectiveVerdict::Regressed
    } else {
        ObjectiveVerdict::Inconclusive
    }
}

/// One required objective, candidate against the best.
pub fn compare_objective(
    objective: &Objective,
    base: &Bundle,
    cand: &Bundle,
    t: &Thresholds,
) -> Comparison {
    let (b, c) = (
        base.aggregate.unwrap_or(f64::NAN),
        cand.aggregate.unwrap_or(f64::NAN),
    );
    let delta = objective.direction.signed_delta(b, c);
    let denom = b.abs();
    let relative = if denom > 0.0 { delta / denom } else { 0.0 };
    let abs_threshold = t.absolute(objective.judge);
    let mut verdict = if matches!(t.method, Method::Relative | Method::Paired) && denom <= 0.0 {
        ObjectiveVerdict::Inconclusive
    } else {
        match t.method {
            Method::Relative => verdict_from_signed(relative, t.relative_threshold),
            Method::Paired => {
                let threshold = t.relative_threshold * denom;
                if base.samples.is_empty() || cand.samples.is_empty() {
                    // A judge's score is one number per run: compared as a
                    // scalar, against the judge's floor.
                    match verdict_from_signed(delta, threshold) {
                        _ if objective.judge => verdict_from_signed(delta, abs_threshold),
                        ObjectiveVerdict::Regressed => ObjectiveVerdict::Regressed,
                        _ => ObjectiveVerdict::Inconclusive,
                    }
                } else if cand.samples.len() > base.samples.len() {
                    // A candidate sample without its paired baseline sample.
                    ObjectiveVerdict::Inconclusive
                } else {
                    let diffs: Vec<f64> = cand
                        .samples
                        .iter()
                        .zip(&base.samples)
                        .map(|(v, reference)| objective.direction.signed_delta(*reference, *v))
                        .collect();
                    let lo = diffs.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = diffs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    if verdict_from_signed(lo, threshold) == ObjectiveVerdict::Improved {
                        ObjectiveVerdict::Improved
                    } else if verdict_from_signed(hi, threshold) == ObjectiveVerdict::Regressed {
                        ObjectiveVerdict::Regressed
                    } else {
                        ObjectiveVerdict::Inconclusive
                    }
                }
            }
            Method::Absolute => verdict_from_signed(delta, abs_threshold),
        }
    };
    if let (true, Some(m)) = (objective.judge, t.minimum_improvement)
        && verdict == ObjectiveVerdict::Improved
        && delta <= m
    {
        verdict = ObjectiveVerdict::Inconclusive;
    }
    let mut violated = verdict == ObjectiveVerdict::Regressed;
    if let Some(mr) = &objective.max_regression
        && verdict != ObjectiveVerdict::Improved
        && let Some(raw) = mr.value.filter(|v| *v >= 0.0)
    {
        let bound = if mr.relative { raw * denom } else { raw };
        violated = -delta > bound;
        if violated {
            verdict = ObjectiveVerdict::Regressed;
        }
    }
    Comparison {
        verdict,
        delta,
        relative,
        violated,
    }
}

/// A gate check such as `>= 0.85` against a value; anything unreadable fails.
pub fn gate_passes(value: Option<&Value>, check: &str) -> Result<bool, String> {
    let check = check.trim();
    let (op, rest) = [">=", "<=", "==", "!=", ">", "<"]
        .iter()
        .find_map(|op| check.strip_prefix(op).map(|r| (*op, r)))
        .filter(|(_, r)| !r.trim().is_empty())
        .ok_or_else(|| format!("invalid gate check: {check}"))?;
    let threshold = js_string_number(rest.trim()).unwrap_or(f64::NAN);
    let Some(n) = finite(value) else {
        return Ok(false);
    };
    if !threshold.is_finite() {
        return Ok(false);
    }
    Ok(match op {
        ">=" => n >= threshold,
        "<=" => n <= threshold,
        ">" => n > threshold,
        "<" => n < threshold,
        "==" => n == threshold,
        _ => n != threshold,
    })
}
