//! `metric.criteria`: each criterion type checked in the worktree after the
//! measurement; a failed required one makes the experiment degenerate, the
//! others only lower its `criteria_score`.

use crate::common;
use common::{TestRepo, log_yaml, outcomes};

const EVAL: &str = r#"#!/bin/sh
v=$(cat src/value.txt)
[ "$v" -ge 12 ] && echo OK
echo "{\"score\": $v, \"ok\": 1}"
"#;

#[test]
fn every_criterion_type_is_checked_and_a_failed_required_one_is_degenerate() {
    let repo = TestRepo::new(&[("eval.sh", EVAL), ("src/value.txt", "10\n")]);
    repo.write(
        "optimize.yaml",
        r#"name: crit
description: criteria
metric:
  primary: {type: hard, name: score, direction: maximize}
  degenerate_gates: [{name: ok, check: "== 1"}]
  criteria:
    - {name: tests-pass, type: test_pass, target: "test $(cat src/value.txt) -lt 100", required: true}
    - {name: no-debug, type: command, target: "! grep -rq dbg src", required: true}
    - {name: has-doc, type: file_exists, target: src/perf.md, weight: 1}
    - {name: prints-ok, type: contains, target: "OK", weight: 2}
measurement: {command: ./eval.sh, timeout_seconds: 20}
scope: {mutable: [src/], immutable: [eval.sh]}
execution: {mode: serial, max_concurrent: 1}
stopping: {plateau_iterations: 100}
max_runner_up_merges_per_batch: 0
hypotheses: {source: file, file: hypotheses.yaml}
"#,
    );
    repo.write(
        "hypotheses.yaml",
        r#"
- description: document and raise a little
  apply: "echo 11 > src/value.txt && echo notes > src/perf.md"
- description: raise with a debug print
  apply: "echo 12 > src/value.txt && echo dbg > src/debug.txt"
- description: raise past what the tests allow
  apply: "echo 200 > src/value.txt"
- description: raise enough to print OK
  apply: "echo 13 > src/value.txt"
"#,
    );
    repo.commit_all("spec");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "crit");
    let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["kept", "degenerate", "degenerate", "kept"]);
    let entries = log["experiments"].as_sequence().unwrap();
    let passed = |i: usize, name: &str| {
        entries[i]["criteria"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in entry {i}"))["passed"]
            .as_bool()
            .unwrap()
    };
    assert!(passed(0, "tests-pass") && passed(0, "no-debug") && passed(0, "has-doc"));
    assert!(!passed(0, "prints-ok"));
    assert_eq!(entries[0]["criteria_score"].as_f64(), Some(0.6));
    assert!(!passed(1, "no-debug"));
    assert!(
        entries[1]["learnings"]
            .as_str()
            .unwrap()
            .contains("failed required criterion no-debug")
    );
    assert!(!passed(2, "tests-pass"));
    assert!(passed(3, "prints-ok") && passed(3, "has-doc"));
    assert_eq!(entries[3]["criteria_score"].as_f64(), Some(1.0));
    assert_eq!(log["best"]["metrics"]["score"].as_f64(), Some(13.0));
}

#[test]
fn a_bad_criterion_is_refused_with_its_place() {
    let repo = TestRepo::new(&[("eval.sh", EVAL), ("src/value.txt", "10\n")]);
    repo.write(
        "optimize.yaml",
        &common::hard_spec(
            "crit",
            "./eval.sh",
            "",
        )
        .replace(
            "  diagnostics:\n    - name: size\n",
            "  diagnostics:\n    - name: size\n  criteria:\n    - {name: x, type: passes, target: t}\n",
        ),
    );
    let run = repo.run_with_key(&["validate", "--no-measure", "optimize.yaml"]);
    run.expect_code(2).stderr_has("metric.criteria[0].type");
}
