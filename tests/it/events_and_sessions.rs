//! The run's event stream (`events.jsonl`), session records closed on every
//! path, overrides recorded, a panicking experiment, and output to a pipe
//! that closes early.

use crate::common;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Run, TestRepo, isolate, new_demo, optimize_in};
use optimize::log::ExperimentLog;

fn events(dir: &Path, spec: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(".optimize").join(spec).join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn log(dir: &Path, spec: &str) -> ExperimentLog {
    ExperimentLog::load(&dir.join(".optimize").join(spec).join("experiment-log.yaml")).unwrap()
}

#[test]
fn events_jsonl_follows_the_run_with_one_final_outcome_per_experiment() {
    let (_home, dir) = new_demo();
    let run = optimize_in(&dir, &["optimize.yaml", "--quiet"]);
    run.expect_code(0);
    assert!(
        run.stderr.is_empty(),
        "--quiet prints nothing: {}",
        run.stderr
    );
    let events = events(&dir, "demo");
    for e in &events {
        let time = e["time"].as_str().unwrap();
        assert!(time.len() == 24 && time.ends_with('Z'), "ISO 8601: {time}");
        let name = e["event"].as_str().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "snake_case: {name}"
        );
    }
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"run_started"));
    assert_eq!(names.last(), Some(&"run_stopped"));
    assert!(names.contains(&"baseline_measured") && names.contains(&"batch_started"));
    assert_eq!(events.last().unwrap()["reason"], "backlog_empty");

    // Exactly one final outcome per experiment, as the log records it.
    let log = log(&dir, "demo");
    let mut finished: Vec<(u64, String)> = events
        .iter()
        .filter(|e| e["event"] == "experiment_finished")
        .map(|e| {
            (
                e["iteration"].as_u64().unwrap(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    finished.sort();
    let recorded: Vec<(u64, String)> = log
        .experiments
        .iter()
        .map(|e| (e.iteration, e.outcome.to_string()))
        .collect();
    assert_eq!(finished, recorded);
    // A new best follows every keep.
    let bests = names.iter().filter(|n| **n == "new_best").count();
    assert_eq!(bests, log.kept().count());
}

#[test]
fn overrides_are_recorded_per_session_and_status_shows_them() {
    let (_home, dir) = new_demo();
    optimize_in(&dir, &["optimize.yaml", "--quiet", "--max-iterations", "3"]).expect_code(0);
    let log = log(&dir, "demo");
    let limits = log.run.sessions[0].limits.unwrap();
    assert_eq!(limits.max_iterations, 3);
    assert_eq!(limits.max_concurrent, 4);
    let status = optimize_in(&dir, &["status", "optimize.yaml", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["stop_conditions"]["max_iterations"]["limit"], 3);
    assert_eq!(v["stop_conditions"]["max_iterations"]["met"], true);
    optimize_in(&dir, &["status", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("max_iterations: 3 of 3 experiments");
}

#[test]
fn a_panicking_experiment_is_an_error_entry_and_the_run_goes_on() {
    let (_home, dir) = new_demo();
    let mut cmd = Command::new(BIN);
    cmd.args(["optimize.yaml", "--quiet"])
        .current_dir(&dir)
        .stdin(Stdio::null());
    isolate(&mut cmd, &dir);
    cmd.env("OPTIMIZE_FAULT", "panic@worktree-created:2");
    Run::from(cmd.output().unwrap()).expect_code(0);
    let log = log(&dir, "demo");
    let panicked: Vec<_> = log
        .experiments
        .iter()
        .filter(|e| {
            e.error_message
                .as_deref()
                .is_some_and(|m| m.contains("internal error") && m.contains("fault injected"))
        })
        .collect();
    assert_eq!(panicked.len(), 1, "one entry records the panic");
    assert_eq!(panicked[0].outcome.to_string(), "error");
    assert_eq!(
        log.experiments.len(),
        10,
        "every other experiment still ran"
    );
    assert!(log.run.sessions[0].ended_at.is_some());
    let mut c = Command::new("git");
    c.args(["worktree", "list"]).current_dir(&dir);
    isolate(&mut c, &dir);
    let worktrees = String::from_utf8(c.output().unwrap().stdout).unwrap();
    assert_eq!(
        worktrees.lines().count(),
        1,
        "no worktree left: {worktrees}"
    );
}

#[test]
fn output_to_a_closed_pipe_is_not_an_error() {
    let (_home, dir) = new_demo();
    optimize_in(&dir, &["optimize.yaml", "--quiet"]).expect_code(0);
    for args in [
        vec!["--help"],
        vec!["status", "optimize.yaml"],
        vec!["status", "optimize.yaml", "--json"],
    ] {
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        isolate(&mut cmd, &dir);
        let mut child = cmd.spawn().unwrap();
        // The reader goes away before anything is read, as `| head -0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// score = src/value.txt plus every src/f*.txt. A combination (a runner-up
/// re-measured on the new best) waits while `$SIGNALS/hold` exists, after
/// saying so in `$SIGNALS/combining`.
const EVAL: &str = r#"#!/bin/sh
case "$OPTIMIZE_WORKTREE" in *-combined)
  touch "$SIGNALS/combining"
  while [ -f "$SIGNALS/hold" ]; do sleep 0.05; done ;;
esac
s=$(cat src/value.txt)
for f in src/f*.txt; do [ -f "$f" ] && s=$((s + $(cat "$f"))); done
echo "{\"score\": $s, \"ok\": 1, \"size\": 1}"
"#;

const HYPOTHESES: &str = r#"
- description: add five
  priority: high
  apply: "echo 5 > src/f1.txt"
- description: add three
  priority: high
  apply: "echo 3 > src/f2.txt"
"#;

fn combining_project() -> (tempfile::TempDir, TestRepo) {
    let outer = tempfile::tempdir().unwrap();
    let repo = TestRepo::new(&[("eval.sh", EVAL), ("src/value.txt", "10\n")]);
    repo.write(
        "optimize.yaml",
        &common::hard_spec(
            "combo",
            "./eval.sh",
            "hypotheses: {source: file, file: h.yaml}\nmax_runner_up_merges_per_batch: 1\n",
        ),
    );
    repo.write("h.yaml", HYPOTHESES);
    repo.commit_all("spec");
    (outer, repo)
}

#[test]
fn interrupted_during_a_runner_up_merge_the_session_is_closed_and_resume_decides_alike() {
    let (signals, repo) = combining_project();
    let beside = signals.path().to_path_buf();
    std::fs::write(beside.join("hold"), "").unwrap();
    let mut child = repo
        .command(&["optimize.yaml", "--quiet"])
        .env("SIGNALS", &beside)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !beside.join("combining").exists() {
        assert!(
            Instant::now() < deadline,
            "the combination was never measured"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    std::fs::remove_file(beside.join("hold")).unwrap();

    let log = log(repo.path(), "combo");
    let session = &log.run.sessions[0];
    assert_eq!(session.stopped_because.as_deref(), Some("interrupted"));
    assert!(session.ended_at.is_some());
    // The first was decided before; the one whose combination was being
    // measured is left to be decided again.
    let outcomes: Vec<String> = log
        .experiments
        .iter()
        .map(|e| e.outcome.to_string())
        .collect();
    assert_eq!(outcomes, ["kept", "measured"], "{:?}", log.experiments);

    Run::from(
        repo.command(&["optimize.yaml", "--quiet"])
            .env("SIGNALS", &beside)
            .output()
            .unwrap(),
    )
    .expect_code(0);
    let log = self::log(repo.path(), "combo");
    let outcomes: Vec<String> = log
        .experiments
        .iter()
        .map(|e| e.outcome.to_string())
        .collect();
    assert_eq!(outcomes, ["kept", "runner_up_kept"]);
    assert_eq!(log.best.metric("score"), Some(18.0));
    assert_eq!(log.run.sessions.len(), 2);
    assert!(log.run.sessions.iter().all(|s| s.ended_at.is_some()));
}
