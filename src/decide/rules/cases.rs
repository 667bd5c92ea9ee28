//! Per-case regressions: the cases the best passed and the candidate fails.
//! Reported, never decided on.

use serde_json::Value;

use crate::measure::case_passed as passed;

/// Case ids (of `cases` in both snapshots) that pass in `baseline` and fail
/// in `candidate`, sorted; none when either snapshot has no `cases`.
pub fn regressions(baseline: &Value, candidate: &Value) -> Vec<String> {
    let (Some(before), Some(after)) = (cases(baseline), cases(candidate)) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = before
        .iter()
        .filter(|(id, outcome)| {
            passed(outcome)
                && after
                    .iter()
                    .find(|(other, _)| other == id)
                    .is_some_and(|(_, o)| !passed(o))
        })
        .map(|(id, _)| id.clone())
        .collect();
    // JavaScript's default sort: by UTF-16 code units.
    ids.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    ids
}

/// A snapshot's `cases` as (id, outcome); a list counts by position.
fn cases(snapshot: &Value) -> Option<Vec<(String, &Value)>> {
    match snapshot.get("cases")? {
        Value::Object(map) => Some(map.iter().map(|(k, v)| (k.clone(), v)).collect()),
        Value::Array(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        ),
        _ => None,
    }
}
