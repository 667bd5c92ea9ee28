//! What a measurement printed: the JSON object (the whole output, or the
//! last object that starts a line), with its non-finite values named and a
//! key printed twice refused, read into metrics.

use super::*;

/// The `cases` a run printed: a map of case id to pass/fail (`true`, `1`,
/// `"1"`, `"true"` and `"pass"` pass, as decide.mjs reads them).
pub(super) fn read_cases(object: &serde_json::Map<String, serde_json::Value>) -> Option<Cases> {
    let serde_json::Value::Object(map) = object.get("cases")? else {
        return None;
    };
    Some(
        map.iter()
            .map(|(id, outcome)| (id.clone(), case_passed(outcome)))
            .collect(),
    )
}

/// The evaluator's `feedback` beside its metrics, kept to a bounded size: a
/// string as printed, anything else as its JSON.
pub(super) fn read_feedback(object: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    const MAX_CHARS: usize = 4000;
    let text = match object.get("feedback")? {
        serde_json::Value::Null => return None,
        serde_json::Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    let bounded: String = text.chars().take(MAX_CHARS).collect();
    (!bounded.is_empty()).then_some(bounded)
}

/// `true`, `1`, `"1"`, `"true"` and `"pass"` pass; anything else fails.
pub fn case_passed(outcome: &serde_json::Value) -> bool {
    use serde_json::Value;
    match outcome {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => matches!(s.as_str(), "1" | "true" | "pass"),
        _ => false,
    }
}

/// Cases over several runs: a case passes only if it passed in every run
/// that printed it.
pub(super) fn merge_cases(a: Option<Cases>, b: Option<Cases>) -> Option<Cases> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            for (id, passed) in b {
                let both = a.get(&id).is_none_or(|p| *p) && passed;
                a.insert(id, both);
            }
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

pub(super) fn read_metrics(
    object: &serde_json::Map<String, serde_json::Value>,
    required: &[String],
    run: u32,
) -> Result<Metrics, MeasureFailure> {
    let missing: Vec<String> = required
        .iter()
        .filter(|k| !object.contains_key(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(MeasureFailure::MissingKeys {
            run,
            missing,
            present: object.keys().cloned().collect(),
        });
    }
    let mut metrics = Metrics::new();
    for (key, value) in object {
        if let Some(text) = non_finite(value) {
            if required.contains(key) {
                return Err(MeasureFailure::NonFinite {
                    run,
                    key: key.clone(),
                    value: text.to_string(),
                });
            }
            continue;
        }
        match json_number(value) {
            Some(n) => {
                metrics.insert(key.clone(), n);
            }
            None if required.contains(key) => {
                return Err(MeasureFailure::NotANumber {
                    run,
                    key: key.clone(),
                    value: value.to_string(),
                });
            }
            None => {}
        }
    }
    Ok(metrics)
}

pub(super) fn json_number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// The JSON object a harness printed, and the first key it printed twice.
#[derive(Debug, Default)]
pub struct Printed {
    pub map: serde_json::Map<String, serde_json::Value>,
    pub duplicate: Option<String>,
}

impl<'de> serde::Deserialize<'de> for Printed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Printed, D::Error> {
        struct Object;
        impl<'de> serde::de::Visitor<'de> for Object {
            type Value = Printed;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Printed, A::Error> {
                let mut printed = Printed::default();
                while let Some((k, v)) = a.next_entry::<String, serde_json::Value>()? {
                    if printed.map.insert(k.clone(), v).is_some() && printed.duplicate.is_none() {
                        printed.duplicate = Some(k);
                    }
                }
                Ok(printed)
            }
        }
        d.deserialize_map(Object)
    }
}

/// What a non-finite value in the output becomes: a string with this
/// prefix, so the object still parses and the key can be named.
const NON_FINITE: &str = "\u{1}non-finite:";

pub(super) fn non_finite(v: &serde_json::Value) -> Option<&str> {
    v.as_str().and_then(|s| s.strip_prefix(NON_FINITE))
}

/// The output with `NaN`, `Infinity`, `-Infinity` and numbers beyond the
/// range of f64 (outside strings) turned into marked strings.
pub(super) fn mark_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let starts_token =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
        if !starts_token || !(b == b'-' || b == b'N' || b == b'I' || b.is_ascii_digit()) {
            i += 1;
            continue;
        }
        let end = i + bytes[i..]
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-')))
            .unwrap_or(bytes.len() - i);
        let token = &text[i..end];
        let non_finite = matches!(token, "NaN" | "Infinity" | "-Infinity" | "-NaN")
            || (token.bytes().any(|c| c.is_ascii_digit())
                && token.parse::<f64>().is_ok_and(|v| v.is_infinite()));
        if non_finite {
            let o = out.get_or_insert_with(String::new);
            o.push_str(&text[copied..i]);
            // JSON's escape of NON_FINITE's first character.
            o.push_str(&format!("\"\\u0001{}{token}\"", &NON_FINITE[1..]));
            copied = end;
        }
        i = end.max(i + 1);
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[copied..]);
            std::borrow::Cow::Owned(o)
        }
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// The JSON object a harness printed: the whole output, or the last object
/// that starts a line (harnesses often log before printing their result).
/// Non-finite values are kept, marked, so that their key can be named.
pub fn extract_json_object(stdout: &[u8]) -> Option<Printed> {
    let text = String::from_utf8_lossy(stdout);
    let text = mark_non_finite(text.trim());
    let text = text.as_ref();
    if let Ok(p) = serde_json::from_str::<Printed>(text) {
        return Some(p);
    }
    let mut starts: Vec<usize> = text
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(0))
        .filter(|&i| text[i..].trim_start_matches([' ', '\t']).starts_with('{'))
        .collect();
    starts.sort_unstable_by(|a, b| b.cmp(a));
    for start in starts {
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Printed>();
        if let Some(Ok(p)) = stream.next() {
            return Some(p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::aggregate;

    #[test]
    fn finds_json_after_log_lines() {
        let out = b"compiling...\nrunning 3 tests\n{\"score\": 1.5, \"ok\": true}\ndone\n";
        let m = extract_json_object(out).unwrap().map;
        assert_eq!(m["score"], 1.5);
    }

    #[test]
    fn prefers_the_last_object_and_handles_multiline() {
        let out = b"{\"a\": 1}\n{\n  \"a\": 2\n}\n";
        assert_eq!(extract_json_object(out).unwrap().map["a"], 2);
    }

    #[test]
    fn no_object_is_none() {
        assert!(extract_json_object(b"[1,2]\nhello").is_none());
        assert!(extract_json_object(b"").is_none());
    }

    #[test]
    fn non_finite_values_are_named_and_duplicates_found() {
        let out = b"{\"score\": NaN, \"big\": 1e400, \"neg\": -Infinity, \"ok\": 1, \"s\": \"NaN 1e400\"}";
        let p = extract_json_object(out).unwrap();
        assert_eq!(non_finite(&p.map["score"]), Some("NaN"));
        assert_eq!(non_finite(&p.map["big"]), Some("1e400"));
        assert_eq!(non_finite(&p.map["neg"]), Some("-Infinity"));
        assert_eq!(p.map["ok"], 1);
        assert_eq!(p.map["s"], "NaN 1e400");
        let err = read_metrics(&p.map, &["big".into()], 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the measurement output's \"big\" is 1e400, not a finite number (run 2)"
        );
        let dup = extract_json_object(b"{\"a\": 1, \"a\": 2}").unwrap();
        assert_eq!(dup.duplicate.as_deref(), Some("a"));
        assert!(
            extract_json_object(b"{\"a\": 1e5, \"b\": -2.5E-3}")
                .unwrap()
                .duplicate
                .is_none()
        );
    }

    #[test]
    fn aggregates_only_common_keys() {
        let s = vec![
            Metrics::from([("a".into(), 1.0), ("b".into(), 5.0)]),
            Metrics::from([("a".into(), 3.0)]),
            Metrics::from([("a".into(), 2.0)]),
        ];
        let m = aggregate(&s, crate::spec::Aggregation::Median);
        assert_eq!(m, Metrics::from([("a".into(), 2.0)]));
    }
}
