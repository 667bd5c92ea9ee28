//! A resume after the spec changed. Some changes keep what the log recorded
//! comparable (the caps, the model, an added holdout, the slots); others make
//! every recorded measurement stale (the metric, the measurement command and
//! its protocol, the scope): a run that went on would compare new numbers
//! with old ones taken another way, so it refuses to resume.

use serde_json::Value;

use crate::spec::Spec;

/// Keys whose change makes the recorded measurements stale.
const STALE: &[&str] = &[
    "name",
    "metric",
    "measurement.command",
    "measurement.working_directory",
    "measurement.output_format",
    "measurement.stability",
    "scope",
];

/// What changed between the spec a run started with and the one now.
#[derive(Debug, Default, PartialEq)]
pub struct SpecChange {
    /// Changes the recorded measurements survive.
    pub valid: Vec<String>,
    /// Changes that make them stale.
    pub stale: Vec<String>,
}

pub fn compare(started: &Spec, now: &Spec) -> SpecChange {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    leaves(
        "",
        &serde_json::to_value(started).unwrap_or_default(),
        &mut before,
    );
    leaves(
        "",
        &serde_json::to_value(now).unwrap_or_default(),
        &mut after,
    );
    let mut changed: Vec<String> = Vec::new();
    for (path, value) in &before {
        if after.iter().find(|(p, _)| p == path).map(|(_, v)| v) != Some(value) {
            changed.push(section(path));
        }
    }
    for (path, _) in &after {
        if !before.iter().any(|(p, _)| p == path) {
            changed.push(section(path));
        }
    }
    changed.sort();
    changed.dedup();
    let mut change = SpecChange::default();
    for key in changed {
        let stale = STALE.iter().any(|s| {
            key == *s || key.starts_with(&format!("{s}.")) || key.starts_with(&format!("{s}["))
        });
        if stale {
            change.stale.push(key);
        } else {
            change.valid.push(key);
        }
    }
    change
}

/// A changed leaf named by its key, without list positions past the key
/// (`scope.mutable`, not `scope.mutable[3]`).
fn section(path: &str) -> String {
    match path.find('[') {
        Some(i) => path[..i].to_string(),
        None => path.to_string(),
    }
}

fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, child, out);
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                leaves(&format!("{prefix}[{i}]"), child, out);
            }
            if list.is_empty() {
                out.push((prefix.to_string(), v.clone()));
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::LoadedSpec;

    fn spec(extra: &str) -> Spec {
        let text = format!(
            "name: n\ndescription: d\nmetric: {{primary: {{type: hard, name: s, direction: maximize}}, degenerate_gates: [{{name: ok, check: '== 1'}}]}}\nmeasurement: {{command: ./eval.sh{extra}}}\nscope: {{mutable: [src/], immutable: [eval.sh]}}\n"
        );
        LoadedSpec::parse_str(&text, Path::new("s.yaml"))
            .unwrap()
            .spec
    }

    #[test]
    fn caps_and_an_added_holdout_keep_the_measurements_and_the_command_does_not() {
        let start = spec("");
        assert_eq!(compare(&start, &start), SpecChange::default());
        let mut capped = spec(", holdout: {command: ./held.sh}");
        capped.stopping.max_iterations = 500;
        let change = compare(&start, &capped);
        assert!(change.stale.is_empty(), "{change:?}");
        assert_eq!(
            change.valid,
            ["measurement.holdout.command", "stopping.max_iterations"]
        );
        let mut other = spec("");
        other.measurement.command = "./other.sh".into();
        other.scope.mutable.push("lib/".into());
        assert_eq!(
            compare(&start, &other).stale,
            ["measurement.command", "scope.mutable"]
        );
    }
}
