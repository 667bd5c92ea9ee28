//! The rules of the `metric` section: the primary, gates, criteria, the judge, objectives.

use std::collections::HashSet;

use super::*;

pub(super) fn check_metric(spec: &Spec, f: &mut Findings) {
    let metric = &spec.metric;
    if metric.primary.name.trim().is_empty() {
        f.error("metric.primary.name", "must not be empty");
    }
    if metric.primary.baseline.is_some() {
        f.warn(
            "metric.primary.baseline",
            "is filled automatically by the baseline measurement; the value here is ignored",
        );
    }
    if metric.degenerate_gates.is_empty() {
        f.error("metric.degenerate_gates", "must have at least one gate");
    }
    let mut seen = HashSet::new();
    for (i, gate) in metric.degenerate_gates.iter().enumerate() {
        if gate.name.trim().is_empty() {
            f.error(
                format!("metric.degenerate_gates[{i}].name"),
                "must not be empty",
            );
        }
        if gate.name == metric.primary.name {
            f.error(
                format!("metric.degenerate_gates[{i}].name"),
                format!(
                    "gate \"{}\" has the primary metric's name; a gate checks another key of the output",
                    gate.name
                ),
            );
        }
        if !seen.insert(gate.name.as_str()) {
            f.warn(
                format!("metric.degenerate_gates[{i}].name"),
                format!(
                    "gate \"{}\" is listed twice; both checks must pass",
                    gate.name
                ),
            );
        }
    }
    for (i, d) in metric.diagnostics.iter().enumerate() {
        if d.name.trim().is_empty() {
            f.error(format!("metric.diagnostics[{i}].name"), "must not be empty");
        }
    }
    check_objectives(metric, f);
    let mut names = HashSet::new();
    for (i, c) in metric.criteria.iter().enumerate() {
        let at = |key: &str| format!("metric.criteria[{i}].{key}");
        if c.name.trim().is_empty() {
            f.error(at("name"), "must not be empty");
        } else if !names.insert(c.name.as_str()) {
            f.error(
                at("name"),
                format!("criterion \"{}\" is listed twice", c.name),
            );
        }
        if c.target.trim().is_empty() {
            f.error(at("target"), "must not be empty");
        }
        if !c.weight.is_finite() || c.weight < 0.0 {
            f.error(at("weight"), "must be a number of at least 0");
        }
    }
    match (metric.primary.kind, &metric.judge) {
        (MetricType::Judge, None) => f.error(
            "metric.judge",
            "is required when metric.primary.type is judge (with rubric and scoring)",
        ),
        (MetricType::Judge, Some(judge)) => check_judge(spec, judge, f),
        (MetricType::Hard, Some(_)) => f.warn(
            "metric.judge",
            "is ignored because metric.primary.type is hard",
        ),
        (MetricType::Hard, None) => {}
    }
}

pub(super) fn check_judge(spec: &Spec, judge: &Judge, f: &mut Findings) {
    let p = "metric.judge";
    if judge.rubric.trim().is_empty() {
        f.error(format!("{p}.rubric"), "must not be empty");
    }
    if judge.scoring.primary.trim().is_empty() {
        f.error(format!("{p}.scoring.primary"), "must not be empty");
    }
    if judge.scoring.primary != spec.metric.primary.name {
        f.warn(
            format!("{p}.scoring.primary"),
            format!(
                "is \"{}\" but metric.primary.name is \"{}\"; the judge's \"{}\" field is optimized",
                judge.scoring.primary, spec.metric.primary.name, judge.scoring.primary
            ),
        );
    }
    if judge.sample_size == 0 {
        f.error(format!("{p}.sample_size"), "must be at least 1");
    }
    if judge.batch_size == 0 {
        f.error(format!("{p}.batch_size"), "must be at least 1");
    }
    if judge.singleton_sample > 0
        && judge
            .singleton_rubric
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        f.error(
            format!("{p}.singleton_rubric"),
            "is required when singleton_sample is greater than 0",
        );
    }
    if let Some(strata) = &judge.stratification {
        let total: u32 = strata.iter().map(|s| s.count).sum();
        if total != judge.sample_size {
            f.warn(
                format!("{p}.stratification"),
                format!(
                    "bucket counts add up to {total}, not sample_size {}; the bucket counts are used",
                    judge.sample_size
                ),
            );
        }
    }
    match judge.max_total_cost_usd {
        None => f.warn(
            format!("{p}.max_total_cost_usd"),
            "is null: judge spend is uncapped; make sure you approve of that",
        ),
        Some(c) if c < 0.0 => f.error(format!("{p}.max_total_cost_usd"), "must not be negative"),
        Some(_) => {}
    }
    if judge.minimum_improvement < 0.0 {
        f.error(format!("{p}.minimum_improvement"), "must not be negative");
    }
}

/// `metric.objectives`: extra hard targets, required or secondary.
pub(super) fn check_objectives(metric: &crate::spec::Metric, f: &mut Findings) {
    let mut seen = HashSet::new();
    for (i, o) in metric.objectives.iter().enumerate() {
        let at = |k: &str| format!("metric.objectives[{i}].{k}");
        if o.name.trim().is_empty() {
            f.error(at("name"), "must not be empty");
        }
        if !seen.insert(o.name.as_str()) {
            f.error(
                at("name"),
                format!("objective \"{}\" is listed twice", o.name),
            );
        }
        match o.role.as_deref() {
            None | Some("required") | Some("secondary") => {}
            Some(other) => f.error(
                at("role"),
                format!("unknown role \"{other}\"; expected required or secondary"),
            ),
        }
        if o.kind == Some(MetricType::Judge) && o.name != metric.primary.name {
            f.error(
                at("type"),
                "must be hard: additional objectives come from the measurement command",
            );
        }
        if o.name == metric.primary.name && o.direction != metric.primary.direction {
            f.error(
                at("direction"),
                "differs from metric.primary.direction for the same metric",
            );
        }
        if let Some(mr) = &o.max_regression {
            if mr.kind != "relative" && mr.kind != "absolute" {
                f.error(
                    at("max_regression.type"),
                    format!(
                        "unknown type \"{}\"; expected relative or absolute",
                        mr.kind
                    ),
                );
            }
            if mr.value < 0.0 {
                f.warn(
                    at("max_regression.value"),
                    "is negative, so it is ignored and a comparison-threshold regression is the violation",
                );
            }
        }
    }
}
