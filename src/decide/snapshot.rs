//! The loop's side of [`super::rules`]: the spec as rules, and what a
//! measurement or a log entry holds as decide.mjs's snapshot
//! (`{gates, metrics: {name: {aggregate, samples}}, judge, sample_count,
//! smoke_passed, elapsed_seconds}`), so the loop and `optimize decide` run
//! the same code on the same shapes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use serde_yaml::Mapping;

use super::rules::Rules;
use crate::log::{Best, Experiment, value_number};
use crate::measure::Metrics;
use crate::spec::Spec;

/// Every sample of every metric, by metric name.
pub type Samples = BTreeMap<String, Vec<f64>>;

/// The rules of a spec as loaded (defaults filled).
pub fn rules_for(spec: &Spec) -> Rules {
    Rules::of(spec)
}

/// The samples of each metric present in every run.
pub fn by_metric(samples: &[Metrics]) -> Samples {
    let Some(first) = samples.first() else {
        return Samples::new();
    };
    first
        .keys()
        .filter(|k| samples.iter().all(|s| s.contains_key(*k)))
        .map(|k| (k.clone(), samples.iter().map(|s| s[k]).collect()))
        .collect()
}

/// What the snapshot says besides the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    pub sample_count: Option<u64>,
    pub smoke_passed: Option<bool>,
    pub elapsed_seconds: Option<f64>,
    /// `measurement.per_case`'s cases (case id -> passed).
    pub cases: Option<crate::measure::Cases>,
}

/// A snapshot from aggregated metrics and their samples.
pub fn snapshot(spec: &Spec, metrics: &Metrics, samples: &Samples, extras: Extras) -> Value {
    let mut gates = Map::new();
    for g in &spec.metric.degenerate_gates {
        if let Some(v) = metrics.get(&g.name) {
            gates.insert(g.name.clone(), json!(v));
        }
    }
    let mut bundles = Map::new();
    for (name, value) in metrics {
        bundles.insert(name.clone(), bundle(*value, samples.get(name)));
    }
    let mut snap = json!({"gates": gates, "metrics": bundles});
    put_extras(&mut snap, extras);
    snap
}

/// A measurement as a snapshot: its aggregates, its samples and how many
/// runs it took.
pub fn of_measured(spec: &Spec, m: &crate::measure::Measured) -> Value {
    let extras = Extras {
        sample_count: Some(m.samples.len() as u64),
        ..Extras::default()
    };
    snapshot(spec, &m.metrics, &by_metric(&m.samples), extras)
}

fn bundle(aggregate: f64, samples: Option<&Vec<f64>>) -> Value {
    match samples {
        Some(s) if !s.is_empty() => json!({"aggregate": aggregate, "samples": s}),
        _ => json!(aggregate),
    }
}

fn put_extras(snap: &mut Value, extras: Extras) {
    if let Some(n) = extras.sample_count {
        snap["sample_count"] = json!(n);
    }
    if let Some(p) = extras.smoke_passed {
        snap["smoke_passed"] = json!(p);
    }
    if let Some(e) = extras.elapsed_seconds {
        snap["elapsed_seconds"] = json!(e);
    }
    if let Some(c) = extras.cases {
        snap["cases"] = json!(c);
    }
}

/// Numbers of a log mapping (plain numbers or `{aggregate, samples}`).
pub fn mapping_metrics(m: &Mapping) -> Metrics {
    m.iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), value_number(v)?)))
        .collect()
}

/// The current best as a snapshot: its metrics, judge scores and samples.
pub fn of_best(spec: &Spec, best: &Best) -> Value {
    let mut metrics = mapping_metrics(&best.metrics);
    if let Some(j) = &best.judge {
        for (k, v) in mapping_metrics(j) {
            metrics.entry(k).or_insert(v);
        }
    }
    let samples = best.samples.clone().unwrap_or_default();
    let extras = Extras {
        cases: best.cases.clone(),
        ..Extras::default()
    };
    snapshot(spec, &metrics, &samples, extras)
}

/// A log entry as a snapshot, as it was when measured.
pub fn of_entry(spec: &Spec, e: &Experiment) -> Value {
    let mut metrics = e.metrics.as_ref().map(mapping_metrics).unwrap_or_default();
    for section in [&e.judge, &e.gates, &e.diagnostics].into_iter().flatten() {
        for (k, v) in mapping_metrics(section) {
            metrics.entry(k).or_insert(v);
        }
    }
    let samples = e.record.samples.clone().unwrap_or_default();
    let extras = Extras {
        sample_count: e.sample_count,
        smoke_passed: e.record.smoke_passed,
        elapsed_seconds: e.record.timings.as_ref().and_then(|t| t.measure_s),
        cases: e.record.cases.clone(),
    };
    snapshot(spec, &metrics, &samples, extras)
}
