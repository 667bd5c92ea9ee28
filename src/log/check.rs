//! What a log must be besides parseable, checked on every load before
//! anything treats it as whole: counters in range (a wrapped iteration would
//! reuse branches), `best` agreeing with the entries (a branch reset to a
//! hand-edited commit would drop kept commits), and, when serde cannot say
//! where a value is wrong (fields of flattened records), the key that is.

use std::path::Path;

use serde_yaml::Value;

use super::{ExperimentLog, LogError, Outcome};

/// No run gets near this many experiments or batches; beyond it a counter
/// was edited or damaged.
pub const MAX_COUNTER: u64 = 1_000_000_000;

pub(super) fn check(log: &ExperimentLog, text: &str, path: &Path) -> Result<(), LogError> {
    let wrong = |key: String, message: String| {
        let pos = crate::spec::position_of(text, &key);
        LogError::Corrupt {
            path: path.to_path_buf(),
            line: pos.map_or(1, |p| p.line),
            column: pos.map_or(1, |p| p.col),
            message: format!("{key}: {message}"),
        }
    };
    let counter = |key: String, value: u64| {
        if value > MAX_COUNTER {
            Err(wrong(
                key,
                format!("{value} is out of range (at most {MAX_COUNTER})"),
            ))
        } else {
            Ok(())
        }
    };
    for (i, e) in log.experiments.iter().enumerate() {
        counter(format!("experiments[{i}].iteration"), e.iteration)?;
        counter(format!("experiments[{i}].batch"), e.batch)?;
    }
    counter("best.iteration".into(), log.best.iteration)?;
    if let Some(f) = &log.run.in_flight {
        counter("in_flight.batch".into(), f.batch)?;
        for (i, m) in f.experiments.iter().enumerate() {
            counter(format!("in_flight.experiments[{i}].iteration"), m.iteration)?;
        }
    }
    check_best(log).map_err(|message| wrong("best.commit".into(), message))
}

/// `best` names the last change integrated onto the branch: the baseline
/// when nothing is kept, else a kept entry of the newest batch that kept one,
/// with that entry's commit; or, while the run rests, the wrap-up's report
/// commit on top of it.
fn check_best(log: &ExperimentLog) -> Result<(), String> {
    let Some(commit) = log.best.commit.as_deref() else {
        return Ok(());
    };
    if log.run.report_commit.as_deref() == Some(commit) {
        return Ok(());
    }
    let integrated = |o: &Outcome| matches!(o, Outcome::Kept | Outcome::RunnerUpKept);
    let last_batch = log
        .experiments
        .iter()
        .filter(|e| integrated(&e.outcome))
        .map(|e| e.batch)
        .max();
    let fix = "edit best (or that entry) back by hand, or start anew with --fresh";
    let Some(last_batch) = last_batch else {
        return match log.baseline.commit.as_deref() {
            Some(base) if base != commit => Err(format!(
                "{commit} contradicts the entries: nothing is kept, so the best is the baseline's commit {base}; {fix}"
            )),
            _ => Ok(()),
        };
    };
    let candidates: Vec<_> = log
        .experiments
        .iter()
        .filter(|e| e.batch == last_batch && integrated(&e.outcome))
        .collect();
    // A log of another tool may record no commits on its entries.
    if candidates
        .iter()
        .all(|e| e.commit.is_none() || e.commit.as_deref() == Some(commit))
        || candidates
            .iter()
            .any(|e| e.commit.as_deref() == Some(commit))
    {
        return Ok(());
    }
    let last = candidates.last().expect("a batch with a keep");
    Err(format!(
        "{commit} contradicts the entries: the last kept experiment is #{} with commit {}; {fix}",
        last.iteration,
        last.commit.as_deref().unwrap_or("(none recorded)")
    ))
}

/// The path of the value serde refused, when its error did not say where
/// (fields under a flattened record): each part of the document is tried on
/// its own until the smallest one that fails is found.
pub(super) fn culprit(text: &str) -> Option<String> {
    let Ok(Value::Mapping(top)) = serde_yaml::from_str::<Value>(text) else {
        return None;
    };
    let required = ["spec", "run_id", "started_at"];
    let base = |extra: Option<(&Value, &Value)>| {
        let mut m = serde_yaml::Mapping::new();
        for k in required {
            m.insert(k.into(), top.get(k).cloned().unwrap_or_else(|| "x".into()));
        }
        if let Some((k, v)) = extra {
            m.insert(k.clone(), v.clone());
        }
        m
    };
    let fails = |m: serde_yaml::Mapping| {
        serde_yaml::from_value::<ExperimentLog>(Value::Mapping(m)).is_err()
    };
    for (k, v) in &top {
        let key = k.as_str()?;
        if !fails(base(Some((k, v)))) {
            continue;
        }
        let Value::Sequence(items) = v else {
            return Some(within(key, v, &mut |v| fails(base(Some((k, v))))));
        };
        for (i, item) in items.iter().enumerate() {
            let one = Value::Sequence(vec![item.clone()]);
            if fails(base(Some((k, &one)))) {
                let here = format!("{key}[{i}]");
                return Some(within(&here, item, &mut |v| {
                    fails(base(Some((k, &Value::Sequence(vec![v.clone()])))))
                }));
            }
        }
        return Some(key.to_string());
    }
    None
}

/// Within a failing mapping `v` at `path`: the first key whose removal makes
/// it pass (`fails` tells whether a version of `v` fails), else `path`.
fn within(path: &str, v: &Value, fails: &mut dyn FnMut(&Value) -> bool) -> String {
    let Value::Mapping(m) = v else {
        return path.to_string();
    };
    for k in m.keys() {
        let mut without = m.clone();
        without.remove(k);
        if !fails(&Value::Mapping(without)) {
            return format!("{path}.{}", k.as_str().unwrap_or("?"));
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::ExperimentLog;

    const LOG: &str = "spec: s\nrun_id: r\nstarted_at: '2026-01-01T00:00:00Z'\nbaseline: {commit: base}\nexperiments:\n- {iteration: 1, batch: 1, hypothesis: a, category: c, outcome: kept, commit: one}\n- {iteration: 2, batch: 2, hypothesis: b, category: c, outcome: kept, commit: two}\n- {iteration: 3, batch: 3, hypothesis: c, category: c, outcome: reverted}\nbest: {iteration: 2, commit: two}\n";

    fn load(text: &str) -> Result<ExperimentLog, String> {
        ExperimentLog::parse(text, Path::new("log.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn best_must_be_the_last_kept_entry() {
        assert!(load(LOG).is_ok());
        let err = load(&LOG.replace(
            "best: {iteration: 2, commit: two}",
            "best: {iteration: 1, commit: one}",
        ))
        .unwrap_err();
        assert!(err.starts_with("log.yaml:9:"), "{err}");
        assert!(err.contains("best.commit: one contradicts the entries: the last kept experiment is #2 with commit two"), "{err}");
        let none_kept = LOG.replace("outcome: kept", "outcome: reverted");
        assert!(load(&none_kept.replace("commit: two}\n", "commit: base}\n")).is_ok());
        let err = load(&none_kept).unwrap_err();
        assert!(
            err.contains("the best is the baseline's commit base"),
            "{err}"
        );
    }

    #[test]
    fn counters_out_of_range_are_named_with_their_place() {
        let err =
            load(&LOG.replace("iteration: 3,", "iteration: 18446744073709551615,")).unwrap_err();
        assert!(err.starts_with("log.yaml:8:"), "{err}");
        assert!(
            err.contains("experiments[2].iteration: 18446744073709551615 is out of range"),
            "{err}"
        );
    }

    #[test]
    fn flattened_fields_are_reported_at_their_key() {
        let text = format!("{LOG}sessions: []\nmeasurements: -1\n");
        let err = load(&text).unwrap_err();
        assert!(err.starts_with("log.yaml:11:"), "{err}");
        assert!(err.contains("measurements:"), "{err}");
        let text = LOG.replace(
            "outcome: reverted}",
            "outcome: reverted, timings: {measure_s: [1]}}",
        );
        let err = load(&text).unwrap_err();
        assert!(
            err.contains("experiments[2].timings: invalid type"),
            "{err}"
        );
        assert!(err.starts_with("log.yaml:8:"), "{err}");
    }
}
