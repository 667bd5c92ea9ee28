//! The rules a spec sets: objectives, thresholds, the ladder, aggregation.

use serde_json::Value;

use super::*;

pub use crate::spec::{Aggregation, Direction, median};

/// decide.mjs treats anything but "minimize" as maximize.
fn read_direction(v: Option<&Value>) -> Option<Direction> {
    match present(v)?.as_str()? {
        "minimize" => Some(Direction::Minimize),
        _ => Some(Direction::Maximize),
    }
}

fn read_aggregation(v: Option<&Value>) -> Aggregation {
    match present(v).and_then(Value::as_str) {
        Some("mean") => Aggregation::Mean,
        Some("min") => Aggregation::Min,
        Some("max") => Aggregation::Max,
        _ => Aggregation::Median,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Absolute,
    Relative,
    Paired,
}

/// The thresholds a comparison uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub method: Method,
    pub noise_threshold: f64,
    pub relative_threshold: f64,
    /// The judge's floor; `None` for hard metrics without one.
    pub minimum_improvement: Option<f64>,
}

impl Thresholds {
    /// The absolute bar a change must clear: the judge's floor for a judge
    /// score, `noise_threshold` otherwise.
    pub fn absolute(&self, judge: bool) -> f64 {
        match (judge, self.minimum_improvement) {
            (true, Some(m)) => m,
            _ => self.noise_threshold,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaxRegression {
    pub relative: bool,
    pub value: Option<f64>,
}

/// A required objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub name: String,
    pub direction: Direction,
    pub judge: bool,
    pub target: Option<f64>,
    pub max_regression: Option<MaxRegression>,
}

/// The ladder's settings, as decide.mjs reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    pub enabled: bool,
    pub has_smoke: bool,
    pub exploratory_pairs: u64,
    /// `exploratory_pairs` as written, which the futility rule compares with.
    pub exploratory_raw: f64,
    pub confirmation_repeats: u64,
    pub futility: Option<Futility>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Futility {
    pub worse_factor: Option<f64>,
    pub after_elapsed_seconds: Option<f64>,
}

/// A spec as decide.mjs normalizes it, nested or flat.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub primary: Option<Objective>,
    pub required: Vec<Objective>,
    pub gates: Vec<(String, String)>,
    pub thresholds: Thresholds,
    pub ladder: Ladder,
    pub aggregation: Aggregation,
    /// A would-be keep waits for a held-out pair: `measurement.holdout.command`,
    /// or a judge primary with its own `confirmation_seed`.
    pub holdout: bool,
}

impl Rules {
    pub fn from_spec(spec: &Value) -> Rules {
        let spec = Some(spec);
        let metric = field(spec, "metric");
        let measurement = field(spec, "measurement");
        let stability = field(spec, "stability").or_else(|| field(measurement, "stability"));
        let primary_v = field(spec, "primary").or_else(|| field(metric, "primary"));
        let judge = field(spec, "judge").or_else(|| field(metric, "judge"));
        let comparison = field(spec, "comparison").or_else(|| field(stability, "comparison"));
        let objectives = field(spec, "objectives").or_else(|| field(metric, "objectives"));
        let gates_v = field(spec, "degenerate_gates").or_else(|| field(metric, "degenerate_gates"));
        let ladder_v = field(spec, "ladder").or_else(|| field(stability, "ladder"));
        let mode = field(spec, "stability_mode").or_else(|| field(stability, "mode"));
        let aggregation = read_aggregation(
            field(spec, "aggregation").or_else(|| field(stability, "aggregation")),
        );
        let repeat_count = field(spec, "repeat_count").or_else(|| field(stability, "repeat_count"));
        let noise = field(spec, "noise_threshold").or_else(|| field(stability, "noise_threshold"));
        let stability_noise = field(stability, "noise_threshold");
        let minimum = field(spec, "minimum_improvement")
            .or_else(|| field(comparison, "minimum_improvement"))
            .or_else(|| field(judge, "minimum_improvement"));

        let uses_judge =
            field(primary_v, "type").and_then(Value::as_str) == Some("judge") || judge.is_some();
        let method = match field(comparison, "method").and_then(Value::as_str) {
            Some("relative") => Method::Relative,
            Some("paired") => Method::Paired,
            _ => Method::Absolute,
        };
        let thresholds = Thresholds {
            method,
            noise_threshold: first_non_negative(
                &[field(comparison, "noise_threshold"), noise, stability_noise],
                Some(0.02),
            )
            .unwrap_or(0.02),
            relative_threshold: first_non_negative(
                &[field(comparison, "relative_threshold")],
                Some(0.05),
            )
            .unwrap_or(0.05),
            minimum_improvement: first_non_negative(
                &[
                    field(comparison, "minimum_improvement"),
                    minimum,
                    field(judge, "minimum_improvement"),
                ],
                uses_judge.then_some(0.3),
            ),
        };

        let (primary, required) = required_objectives(primary_v, objectives);
        let gates = read_gates(gates_v);
        let ladder = Ladder::read(ladder_v, mode, repeat_count);
        let holdout = holdout_configured(measurement, primary_v, judge);
        Rules {
            primary,
            required,
            gates,
            thresholds,
            ladder,
            aggregation,
            holdout,
        }
    }
}

fn holdout_configured(
    measurement: Option<&Value>,
    primary: Option<&Value>,
    judge: Option<&Value>,
) -> bool {
    if field(field(measurement, "holdout"), "command").is_some_and(truthy) {
        return true;
    }
    let Some(seed) = field(judge, "confirmation_seed") else {
        return false;
    };
    let sample_seed = field(judge, "sample_seed")
        .cloned()
        .unwrap_or(Value::from(42));
    field(primary, "type").and_then(Value::as_str) == Some("judge")
        && !strictly_equal(seed, &sample_seed)
}

/// JavaScript's `===` on values read from JSON: objects and lists are never
/// the same object.
fn strictly_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}

impl Ladder {
    fn read(
        ladder_v: Option<&Value>,
        mode: Option<&Value>,
        repeat_count: Option<&Value>,
    ) -> Ladder {
        let exploratory_pairs = positive_integer(field(ladder_v, "exploratory_pairs"), 1);
        let confirmation = field(ladder_v, "confirmation_repeats").or(repeat_count);
        let confirmation_repeats = positive_integer(confirmation, 5).max(exploratory_pairs);
        let enabled = field(ladder_v, "enabled").is_some_and(truthy)
            || mode.and_then(Value::as_str) == Some("ladder");
        let futility = field(ladder_v, "futility")
            .filter(|f| f.is_object())
            .map(|f| Futility {
                worse_factor: finite(Some(
                    field(Some(f), "worse_factor").unwrap_or(&Value::from(1.2)),
                )),
                after_elapsed_seconds: field(Some(f), "after_elapsed_seconds")
                    .map(|v| finite(Some(v)).unwrap_or(f64::NAN)),
            });
        Ladder {
            enabled,
            has_smoke: field(ladder_v, "smoke_command").is_some_and(truthy),
            exploratory_pairs,
            exploratory_raw: match field(ladder_v, "exploratory_pairs") {
                Some(v) => finite(Some(v)).unwrap_or(f64::NAN),
                None => 1.0,
            },
            confirmation_repeats,
            futility,
        }
    }
}

/// Each gate's name and check, as text.
fn read_gates(gates_v: Option<&Value>) -> Vec<(String, String)> {
    match gates_v.and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .map(|g| {
                let text = |k| match present(g.get(k)) {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                (text("name"), text("check"))
            })
            .collect(),
        None => Vec::new(),
    }
}

/// JavaScript truthiness.
pub(super) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

pub(super) fn max_regression(v: Option<&Value>) -> Option<MaxRegression> {
    let v = present(v)?;
    if !truthy(v) {
        return None;
    }
    Some(MaxRegression {
        relative: field(Some(v), "type").and_then(Value::as_str) == Some("relative"),
        value: finite(field(Some(v), "value")),
    })
}

/// The primary first (always required), then the other required objectives.
pub(super) fn required_objectives(
    primary: Option<&Value>,
    objectives: Option<&Value>,
) -> (Option<Objective>, Vec<Objective>) {
    let primary_direction = read_direction(field(primary, "direction"));
    let listed: Vec<(Objective, bool)> = objectives
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|o| field(Some(*o), "role").and_then(Value::as_str) != Some("secondary"))
        .map(|o| {
            let o = Some(o);
            let name = field(o, "name").map(value_text).unwrap_or_default();
            let explicit_type = field(o, "type").is_some();
            (
                Objective {
                    name,
                    direction: read_direction(field(o, "direction"))
                        .or(primary_direction)
                        .unwrap_or(Direction::Maximize),
                    judge: field(o, "type").and_then(Value::as_str) == Some("judge"),
                    target: field(o, "target").map(|t| finite(Some(t)).unwrap_or(f64::NAN)),
                    max_regression: max_regression(field(o, "max_regression")),
                },
                explicit_type,
            )
        })
        .collect();
    let Some(name) = field(primary, "name")
        .map(value_text)
        .filter(|n| !n.is_empty())
    else {
        return (None, listed.into_iter().map(|(o, _)| o).collect());
    };
    let listed_primary = listed.iter().find(|(o, _)| o.name == name);
    let judge = match field(primary, "type") {
        Some(t) => t.as_str() == Some("judge"),
        None => listed_primary.is_some_and(|(o, _)| o.judge),
    };
    let target = field(primary, "target")
        .map(|t| finite(Some(t)).unwrap_or(f64::NAN))
        .or_else(|| listed_primary.and_then(|(o, _)| o.target));
    let regression = listed_primary
        .and_then(|(o, _)| o.max_regression.clone())
        .or_else(|| max_regression(field(primary, "max_regression")));
    let first = Objective {
        name: name.clone(),
        direction: primary_direction
            .or(listed_primary.map(|(o, _)| o.direction))
            .unwrap_or(Direction::Maximize),
        judge,
        target,
        max_regression: regression,
    };
    let mut required = vec![first.clone()];
    required.extend(
        listed
            .into_iter()
            .map(|(o, _)| o)
            .filter(|o| o.name != name),
    );
    (Some(first), required)
}
