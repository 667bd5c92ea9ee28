//! The log is saved in place after its sealed entries, with a redo record
//! making each save atomic: a kill leaves a record that `status` and the
//! resumed run use to finish a torn write, and a clean end removes it.

use crate::common;
use common::{TestRepo, log_yaml, outcomes};

fn project() -> TestRepo {
    let repo = TestRepo::new(&[
        (
            "eval.sh",
            "#!/bin/sh\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1}\"\n",
        ),
        ("src/value.txt", "0\n"),
    ]);
    repo.write(
        "optimize.yaml",
        r#"name: logw
description: in-place log saves
metric:
  primary: {type: hard, name: score, direction: maximize}
  degenerate_gates: [{name: ok, check: "== 1"}]
measurement: {command: ./eval.sh, timeout_seconds: 20}
scope: {mutable: [src/], immutable: [eval.sh]}
execution: {mode: serial, max_concurrent: 1}
stopping: {plateau_iterations: 100}
max_runner_up_merges_per_batch: 0
hypotheses: {source: file, file: hypotheses.yaml}
"#,
    );
    let hyps: String = (1..=5)
        .map(|i| format!("- description: step {i}\n  apply: \"echo {i} > src/value.txt\"\n"))
        .collect();
    repo.write("hypotheses.yaml", &hyps);
    repo.commit_all("spec");
    repo
}

#[test]
fn a_torn_save_is_finished_from_the_redo_record_by_status_and_resume() {
    let repo = project();
    let killed = repo
        .command(&["optimize.yaml"])
        .env("OPTIMIZE_FAULT", "appended-before-evaluation:3")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let state = repo.state_dir("logw");
    let log_path = state.join("experiment-log.yaml");
    let redo = std::fs::read_to_string(state.join("experiment-log.redo"))
        .expect("a killed run leaves its last save's redo record");
    let whole = std::fs::read_to_string(&log_path).unwrap();
    let offset: usize = redo
        .lines()
        .find_map(|l| l.strip_prefix("offset: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        offset > 0 && offset < whole.len(),
        "only the tail is rewritten"
    );
    // As if the in-place write had been cut short: the tail half written.
    let torn = &whole[..offset + (whole.len() - offset) / 2];
    std::fs::write(&log_path, torn).unwrap();

    repo.run(&["status", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("experiments: 3 (measured 1, kept 2)");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "logw");
    let out = outcomes(&log);
    assert_eq!(out.len(), 5, "{out:?}");
    assert!(out.iter().all(|(_, o)| o == "kept"), "{out:?}");
    assert!(!state.join("experiment-log.redo").exists());
}
