//! Experiment logs written to either schema: round trips that keep unknown
//! fields, `optimize status` on them, and a corrupt log refused untouched.

use crate::common;
use std::path::Path;

use common::TestRepo;
use optimize::log::{ExperimentLog, Outcome};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/logs");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
}

/// A repo holding the fixture spec and `log` as its run's log.
fn repo_with_log(log: &str) -> TestRepo {
    let repo = TestRepo::new(&[("README", "x")]);
    repo.write("spec.yaml", &fixture("spec-for-logs.yaml"));
    repo.write(".optimize/improve-build-latency/experiment-log.yaml", log);
    repo
}

#[test]
fn seed_schema_log_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let log =
        ExperimentLog::parse(&fixture("seed-schema-log.yaml"), Path::new("seed.yaml")).unwrap();
    assert_eq!(log.experiments.len(), 9);
    let outcomes: Vec<&str> = log.experiments.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "kept",
            "runner_up_kept",
            "deferred_needs_approval",
            "degenerate",
            "reverted",
            "error",
            "timeout",
            "runner_up_reverted",
            "measured"
        ]
    );
    assert!(
        log.experiments
            .iter()
            .all(|e| !matches!(e.outcome, Outcome::Other(_)))
    );
    let path = dir.path().join("experiment-log.yaml");
    log.save(&path).unwrap();
    let again = ExperimentLog::load(&path).unwrap();
    assert_eq!(again, log);
    assert_eq!(again.experiments[1].merged_with, Some(1));
    assert_eq!(again.best.metric("build_seconds"), Some(25.4));
}

#[test]
fn newer_schema_log_round_trips_with_unknown_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log =
        ExperimentLog::parse(&fixture("newer-schema-log.yaml"), Path::new("newer.yaml")).unwrap();
    let outcomes: Vec<Outcome> = log.experiments.iter().map(|e| e.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Promising,
            Outcome::NotSelected,
            Outcome::Inconclusive,
            Outcome::Censored,
            Outcome::Kept
        ]
    );
    // Metric snapshots of the newer schema read as their aggregate.
    assert_eq!(log.baseline.metric("build_seconds"), Some(30.0));
    assert_eq!(log.best.metric("build_seconds"), Some(24.5));
    assert_eq!(log.experiments[0].sample_count, Some(1));

    let path = dir.path().join("experiment-log.yaml");
    log.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "tool_of_origin: ce-optimize 2.3",
        "reviewer_note: looks good",
        "dashboard_url: http://localhost/run/1",
        "origin: human",
        "next_measurement: confirm",
        "verdict: improved",
        "samples:",
    ] {
        assert!(
            text.contains(kept),
            "lost {kept:?} on the round trip:\n{text}"
        );
    }
    assert_eq!(ExperimentLog::load(&path).unwrap(), log);
}

#[test]
fn unknown_outcome_is_kept_as_written() {
    let text = fixture("seed-schema-log.yaml").replace("outcome: measured", "outcome: quarantined");
    let log = ExperimentLog::parse(&text, Path::new("x.yaml")).unwrap();
    assert_eq!(
        log.experiments[8].outcome,
        Outcome::Other("quarantined".into())
    );
    assert!(log.to_yaml().contains("outcome: quarantined"));
}

#[test]
fn status_on_a_seed_schema_log() {
    let repo = repo_with_log(&fixture("seed-schema-log.yaml"));
    repo.run(&["status", "spec.yaml"])
        .expect_code(0)
        .stdout_has("improve-build-latency (run 20261101T220000Z, started 2026-11-01T22:00:00Z)")
        .stdout_has("no run holds the lock")
        .stdout_has("build_seconds (minimize): baseline 30.5 -> best 25.4 at iteration 2 (-5.1, -16.7%)")
        .stdout_has("experiments: 9 (measured 1, kept 1, reverted 1, degenerate 1, error 1, deferred_needs_approval 1, timeout 1, runner_up_kept 1, runner_up_reverted 1)")
        .stdout_has("backlog: 2 hypotheses (1 waiting for dependency approval)");
}

#[test]
fn status_json_on_a_newer_schema_log() {
    let repo = repo_with_log(&fixture("newer-schema-log.yaml"));
    let run = repo.run(&["status", "spec.yaml", "--json"]);
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["spec"], "improve-build-latency");
    assert_eq!(v["running"], false);
    assert_eq!(v["primary"]["baseline"], 30.0);
    assert_eq!(v["primary"]["best"], 24.5);
    assert_eq!(v["primary"]["improvement"], 5.5);
    assert_eq!(v["experiments"], 5);
    assert_eq!(
        v["outcomes"],
        serde_json::json!({"promising": 1, "kept": 1, "not_selected": 1, "inconclusive": 1, "censored": 1})
    );
    assert_eq!(v["backlog"], 1);
}

#[test]
fn status_before_any_run() {
    let repo = TestRepo::new(&[("README", "x")]);
    repo.write("spec.yaml", &fixture("spec-for-logs.yaml"));
    repo.run(&["status", "spec.yaml"])
        .expect_code(0)
        .stdout_has("not started");
    let run = repo.run(&["status", "spec.yaml", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["started"], false);
}

#[test]
fn corrupt_log_is_refused_with_its_position_and_left_untouched() {
    let corrupt = fixture("seed-schema-log.yaml").replace(
        "    batch: 2\n    hypothesis: Inline",
        "    batch: [2\n    hypothesis: Inline",
    );
    let repo = repo_with_log(&corrupt);
    let log_path = ".optimize/improve-build-latency/experiment-log.yaml";
    let run = repo.run(&["status", "spec.yaml"]);
    run.expect_code(1)
        .stderr_has("experiment-log.yaml:")
        .stderr_has("the experiment log is not valid");
    let line: usize = run
        .stderr
        .split("experiment-log.yaml:")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(line, 52, "the broken entry's line: {}", run.stderr);
    run.stderr_has("experiments[4].batch: invalid type: sequence, expected u64");
    assert_eq!(repo.read(log_path), corrupt);

    let wrong_type =
        fixture("seed-schema-log.yaml").replace("- iteration: 4\n", "- iteration: four\n");
    let repo = repo_with_log(&wrong_type);
    repo.run(&["status", "spec.yaml"])
        .expect_code(1)
        .stderr_has("experiments[3].iteration: invalid type");
    assert_eq!(repo.read(log_path), wrong_type);

    // A log cut short in the middle of a quoted string.
    let text = fixture("seed-schema-log.yaml");
    let truncated = format!(
        "{}  - iteration: 10\n    hypothesis: \"half",
        &text[..text.find("best:").unwrap()]
    );
    let repo = repo_with_log(&truncated);
    repo.run(&["status", "spec.yaml"])
        .expect_code(1)
        .stderr_has("the experiment log is not valid");
    assert_eq!(repo.read(log_path), truncated);
}
