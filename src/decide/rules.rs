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

/// The measurement the decision needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Next {
    None,
    Smoke,
    Exploratory,
    Confirm,
    AddSample,
}

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
            reason: reason.into(),
        }
    }

    pub fn comparison(&self, name: &str) -> Option<&Comparison> {
        self.comparisons
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
    }
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

/// `a ?? b`: a value that is neither missing nor `null`.
fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn field<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    present(present(v)?.get(key))
}

/// JavaScript's `Number(value)` where it gives a finite number.
pub fn finite(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Null => return None,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64()?,
        Value::String(s) if s.is_empty() => return None,
        Value::String(s) => js_string_number(s)?,
        Value::Array(a) if a.is_empty() => 0.0,
        Value::Array(a) if a.len() == 1 => finite(a.first())?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

fn js_string_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(0.0);
    }
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
    }
    // Rust also reads "inf" and "nan"; JavaScript's Number does not.
    if t.chars()
        .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return None;
    }
    t.parse().ok()
}

fn positive_integer(v: Option<&Value>, fallback: u64) -> u64 {
    match finite(v) {
        Some(n) if n.fract() == 0.0 && n >= 1.0 => n as u64,
        _ => fallback,
    }
}

fn first_non_negative(values: &[Option<&Value>], fallback: Option<f64>) -> Option<f64> {
    values
        .iter()
        .find_map(|v| finite(*v).filter(|n| *n >= 0.0))
        .or(fallback)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Direction {
    fn read(v: Option<&Value>) -> Option<Direction> {
        match present(v)?.as_str()? {
            "minimize" => Some(Direction::Minimize),
            // decide.mjs treats anything but "minimize" as maximize.
            _ => Some(Direction::Maximize),
        }
    }

    /// Positive when `candidate` is better than `reference`.
    pub fn signed_delta(self, reference: f64, candidate: f64) -> f64 {
        match self {
            Direction::Minimize => reference - candidate,
            Direction::Maximize => candidate - reference,
        }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Median,
    Mean,
    Min,
    Max,
}

impl Aggregation {
    fn read(v: Option<&Value>) -> Aggregation {
        match present(v).and_then(Value::as_str) {
            Some("mean") => Aggregation::Mean,
            Some("min") => Aggregation::Min,
            Some("max") => Aggregation::Max,
            _ => Aggregation::Median,
        }
    }

    pub fn apply(self, samples: &[f64]) -> Option<f64> {
        if samples.is_empty() {
            return None;
        }
        Some(match self {
            Aggregation::Mean => samples.iter().sum::<f64>() / samples.len() as f64,
            Aggregation::Min => samples.iter().copied().fold(f64::INFINITY, f64::min),
            Aggregation::Max => samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Aggregation::Median => median(samples)?,
        })
    }
}

pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
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
        let aggregation = Aggregation::read(
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
        let gates = match gates_v.and_then(Value::as_array) {
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
        };

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
        let ladder = Ladder {
            enabled,
            has_smoke: field(ladder_v, "smoke_command").is_some_and(truthy),
            exploratory_pairs,
            exploratory_raw: match field(ladder_v, "exploratory_pairs") {
                Some(v) => finite(Some(v)).unwrap_or(f64::NAN),
                None => 1.0,
            },
            confirmation_repeats,
            futility,
        };
        Rules {
            primary,
            required,
            gates,
            thresholds,
            ladder,
            aggregation,
        }
    }
}

/// JavaScript truthiness.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn max_regression(v: Option<&Value>) -> Option<MaxRegression> {
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
fn required_objectives(
    primary: Option<&Value>,
    objectives: Option<&Value>,
) -> (Option<Objective>, Vec<Objective>) {
    let primary_direction = Direction::read(field(primary, "direction"));
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
                    direction: Direction::read(field(o, "direction"))
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

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A metric's value in a snapshot: its aggregate, and its samples if kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub aggregate: Option<f64>,
    pub samples: Vec<f64>,
}

fn value_bundle(raw: &Value, aggregation: Aggregation) -> Option<Bundle> {
    match raw {
        Value::Object(o) => {
            let samples: Vec<Option<f64>> = match o.get("samples") {
                Some(Value::Array(a)) => a.iter().map(|s| finite(Some(s))).collect(),
                _ => Vec::new(),
            };
            if samples.iter().any(Option::is_none) {
                return Some(Bundle {
                    aggregate: None,
                    samples: Vec::new(),
                });
            }
            let samples: Vec<f64> = samples.into_iter().flatten().collect();
            let aggregate = if samples.is_empty() {
                finite(o.get("aggregate"))
            } else {
                aggregation.apply(&samples)
            };
            Some(Bundle { aggregate, samples })
        }
        Value::Null | Value::Array(_) => None,
        other => Some(Bundle {
            aggregate: finite(Some(other)),
            samples: Vec::new(),
        }),
    }
}

/// A metric from wherever the snapshot keeps it: metrics, judge,
/// diagnostics, then gates.
pub fn metric_bundle(source: &Value, name: &str, aggregation: Aggregation) -> Option<Bundle> {
    for section in ["metrics", "judge", "diagnostics", "gates"] {
        if let Some(raw) = source.get(section).and_then(|s| s.get(name)) {
            return value_bundle(raw, aggregation);
        }
    }
    None
}

fn verdict_from_signed(delta: f64, threshold: f64) -> ObjectiveVerdict {
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
                    match verdict_from_signed(delta, threshold) {
                        ObjectiveVerdict::Regressed => ObjectiveVerdict::Regressed,
                        _ => ObjectiveVerdict::Inconclusive,
                    }
                } else {
                    let diffs: Vec<f64> = cand
                        .samples
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let reference = base.samples[i.min(base.samples.len() - 1)];
                            objective.direction.signed_delta(reference, *v)
                        })
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

/// Keep, revert, inconclusive, censored or degenerate, for one candidate.
pub fn decide(payload: &Value) -> Decision {
    let empty = Value::Object(Default::default());
    let spec = present(payload.get("spec")).unwrap_or(&empty);
    let baseline = present(payload.get("baseline")).unwrap_or(&empty);
    let candidate = present(payload.get("candidate")).unwrap_or(&empty);
    decide_with(&Rules::from_spec(spec), baseline, candidate)
}

pub fn decide_with(rules: &Rules, baseline: &Value, candidate: &Value) -> Decision {
    let Some(primary) = &rules.primary else {
        return Decision::closed(Verdict::Error, "missing primary metric");
    };
    if candidate.get("smoke_passed") == Some(&Value::Bool(false)) {
        return Decision::closed(Verdict::Degenerate, "smoke test failed");
    }
    let mut failures = Vec::new();
    for (name, check) in &rules.gates {
        let value = candidate.get("gates").and_then(|g| g.get(name));
        match gate_passes(value, check) {
            Ok(true) => {}
            Ok(false) => failures.push(name.clone()),
            Err(e) => return Decision::closed(Verdict::Error, e),
        }
    }
    if !failures.is_empty() {
        let mut d = Decision::closed(
            Verdict::Degenerate,
            format!("degenerate gate failed: {}", failures.join(", ")),
        );
        d.violated_objectives = failures;
        return d;
    }

    let mut comparisons: Vec<(String, Comparison)> = Vec::new();
    let mut improved: Vec<(String, f64)> = Vec::new();
    let mut violated = Vec::new();
    let mut missing = Vec::new();
    let mut candidate_values: Vec<(String, Option<f64>)> = Vec::new();
    for objective in &rules.required {
        let base = metric_bundle(baseline, &objective.name, rules.aggregation);
        let cand = metric_bundle(candidate, &objective.name, rules.aggregation);
        candidate_values.push((
            objective.name.clone(),
            cand.as_ref().and_then(|c| c.aggregate),
        ));
        let (Some(base), Some(cand)) = (
            base.filter(|b| b.aggregate.is_some()),
            cand.filter(|c| c.aggregate.is_some()),
        ) else {
            missing.push(objective.name.clone());
            continue;
        };
        let result = compare_objective(objective, &base, &cand, &rules.thresholds);
        if result.verdict == ObjectiveVerdict::Improved {
            improved.push((objective.name.clone(), result.relative));
        }
        if result.violated {
            violated.push(objective.name.clone());
        }
        comparisons.push((objective.name.clone(), result));
    }
    if !missing.is_empty() {
        let mut d = Decision::closed(
            Verdict::Error,
            format!("missing required metric: {}", missing.join(", ")),
        );
        d.comparisons = comparisons;
        return d;
    }

    let aggregation = rules.aggregation;
    let primary_bundle = metric_bundle(candidate, &primary.name, aggregation);
    let baseline_primary = metric_bundle(baseline, &primary.name, aggregation);
    let primary_cmp = comparisons
        .iter()
        .find(|(n, _)| *n == primary.name)
        .map(|(_, c)| c.clone());
    let eligible = !improved.is_empty() && violated.is_empty();
    let sample_count = match primary_bundle.as_ref().map(|b| b.samples.len()) {
        Some(n) if n >= 1 => n as u64,
        _ => positive_integer(candidate.get("sample_count"), 1),
    };
    let improved_names: Vec<String> = improved.iter().map(|(n, _)| n.clone()).collect();

    if !eligible
        && is_futile(
            &rules.ladder,
            primary.direction,
            baseline_primary.and_then(|b| b.aggregate),
            primary_bundle.as_ref().and_then(|b| b.aggregate),
            finite(candidate.get("elapsed_seconds")),
            sample_count,
        )
    {
        let mut d = Decision::closed(
            Verdict::Censored,
            "noncompetitive under the predeclared futility bound",
        );
        d.improved_objectives = improved_names;
        d.violated_objectives = violated;
        d.primary_delta = primary_cmp.map(|c| c.delta);
        d.comparisons = comparisons;
        return d;
    }

    let with_targets: Vec<&Objective> = rules
        .required
        .iter()
        .filter(|o| o.target.is_some())
        .collect();
    let target_reached = !with_targets.is_empty()
        && with_targets.iter().all(|o| {
            let value = candidate_values
                .iter()
                .find(|(n, _)| *n == o.name)
                .and_then(|(_, v)| *v);
            match (value, o.target) {
                (Some(v), Some(t)) => o.direction.signed_delta(t, v) >= 0.0,
                _ => false,
            }
        });
    let all_inside = rules.required.iter().all(|o| {
        comparisons
            .iter()
            .find(|(n, _)| *n == o.name)
            .is_some_and(|(_, c)| c.verdict == ObjectiveVerdict::Inconclusive)
    });
    let mut decision = if eligible {
        Verdict::Keep
    } else if all_inside {
        Verdict::Inconclusive
    } else {
        Verdict::Revert
    };

    let ladder = &rules.ladder;
    let mut next = Next::None;
    if ladder.enabled && ladder.has_smoke && present(candidate.get("smoke_passed")).is_none() {
        next = Next::Smoke;
    } else if ladder.enabled && matches!(decision, Verdict::Keep | Verdict::Inconclusive) {
        let confirming = decision == Verdict::Keep;
        let budget = if confirming {
            ladder.confirmation_repeats
        } else {
            ladder.exploratory_pairs + 1
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

    let reason = if eligible {
        format!(
            "improved {} without violating other required objectives",
            improved_names.join(", ")
        )
    } else if decision == Verdict::Inconclusive {
        "delta inside the comparison threshold".to_string()
    } else if !violated.is_empty() {
        format!("violated {}", violated.join(", "))
    } else {
        "no required objective improved".to_string()
    };
    let rank_score = match &primary_cmp {
        Some(c) if c.verdict == ObjectiveVerdict::Improved => c.relative,
        _ if improved.is_empty() => primary_cmp.as_ref().map_or(0.0, |c| c.relative),
        _ => improved
            .iter()
            .map(|(_, r)| *r)
            .fold(f64::NEG_INFINITY, f64::max),
    };
    Decision {
        decision,
        eligible,
        next_measurement: next,
        target_reached,
        improved_objectives: improved_names,
        violated_objectives: violated,
        comparisons,
        primary_delta: primary_cmp.map(|c| c.delta),
        rank_score,
        reason,
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
    if let (Some(after), Some(elapsed), Some(b), Some(c)) =
        (futility.after_elapsed_seconds, elapsed, baseline, candidate)
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
#[path = "rules_tests.rs"]
mod tests;
