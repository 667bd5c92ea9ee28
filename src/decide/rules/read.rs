//! Reading the payload as JavaScript reads it: `null` is absent, numbers may
//! come as strings, anything not a finite number is no value.

use serde_json::Value;

use super::*;

/// `a ?? b`: a value that is neither missing nor `null`.
pub(super) fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

pub(super) fn field<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
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

pub(super) fn js_string_number(s: &str) -> Option<f64> {
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

pub(super) fn positive_integer(v: Option<&Value>, fallback: u64) -> u64 {
    match finite(v) {
        Some(n) if n.fract() == 0.0 && n >= 1.0 => n as u64,
        _ => fallback,
    }
}

pub(super) fn first_non_negative(values: &[Option<&Value>], fallback: Option<f64>) -> Option<f64> {
    values
        .iter()
        .find_map(|v| finite(*v).filter(|n| *n >= 0.0))
        .or(fallback)
}

pub(super) fn value_text(v: &Value) -> String {
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

pub(super) fn value_bundle(raw: &Value, aggregation: Aggregation) -> Option<Bundle> {
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
/// diagnostics, then gates; a judge score looks in `judge` first.
pub fn metric_bundle(
    source: &Value,
    name: &str,
    aggregation: Aggregation,
    judge: bool,
) -> Option<Bundle> {
    let sections = if judge {
        ["judge", "metrics", "diagnostics", "gates"]
    } else {
        ["metrics", "judge", "diagnostics", "gates"]
    };
    for section in sections {
        if let Some(raw) = source.get(section).and_then(|s| s.get(name)) {
            return value_bundle(raw, aggregation);
        }
    }
    None
}
