//! `optimize decide`: decide.mjs's payload in, its record out, from a file or
//! standard input; a payload that is not JSON is a usage error.

use crate::common;
use std::io::Write;
use std::process::{Command, Stdio};

use common::BIN;

const PAYLOAD: &str = r#"{
  "spec": {"metric": {"primary": {"name": "wall_seconds", "direction": "minimize", "type": "hard"},
                      "degenerate_gates": [{"name": "suite_passed", "check": "== 1"}]},
           "measurement": {"stability": {"noise_threshold": 0.02}}},
  "baseline": {"gates": {"suite_passed": 1}, "metrics": {"wall_seconds": {"aggregate": 10, "samples": [10]}}},
  "candidate": {"gates": {"suite_passed": 1}, "metrics": {"wall_seconds": {"aggregate": 9.97, "samples": [9.97]}}}
}"#;

fn decide(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .arg("decide")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_file_and_stdin_give_the_same_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.json");
    std::fs::write(&file, PAYLOAD).unwrap();
    let (code, from_file, _) = decide(&[file.to_str().unwrap()], "");
    assert_eq!(code, 0);
    let (_, from_stdin, _) = decide(&["-"], PAYLOAD);
    let (_, bare, _) = decide(&[], PAYLOAD);
    assert_eq!(from_file, from_stdin);
    assert_eq!(from_file, bare);
    let v: serde_json::Value = serde_json::from_str(&from_file).unwrap();
    assert_eq!(v["decision"], "keep");
    assert_eq!(v["eligible"], true);
    assert_eq!(v["next_measurement"], "none");
    assert_eq!(
        v["improved_objectives"],
        serde_json::json!(["wall_seconds"])
    );
    assert_eq!(v["comparisons"]["wall_seconds"]["verdict"], "improved");
    assert_eq!(v["primary_delta"].as_f64(), Some(10.0 - 9.97));
    for key in [
        "target_reached",
        "violated_objectives",
        "rank_score",
        "reason",
    ] {
        assert!(v.get(key).is_some(), "the record has {key}");
    }
}

#[test]
fn a_broken_payload_is_a_usage_error_naming_where() {
    let (code, out, err) = decide(&["-"], "{\"spec\": ");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("<stdin>:1:"), "{err}");
    let (code, _, err) = decide(&["/nonexistent/payload.json"], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read /nonexistent/payload.json"),
        "{err}"
    );
}

#[test]
fn a_holdout_pair_and_cases_come_back_in_the_record() {
    let payload = r#"{
      "spec": {"metric": {"primary": {"name": "acc", "direction": "maximize"}},
               "measurement": {"holdout": {"command": "./holdout.sh"}}},
      "baseline": {"metrics": {"acc": 0.80}, "cases": {"q1": true, "q2": "pass", "q3": false}},
      "candidate": {"metrics": {"acc": 0.90}, "cases": {"q1": "fail", "q2": 1, "q3": true}}
    }"#;
    let (code, out, err) = decide(&["-"], payload);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "promising");
    assert_eq!(v["next_measurement"], "holdout");
    assert_eq!(v["regressions"], serde_json::json!(["q1"]));
    assert!(v["holdout"].is_null());

    let with_pair = payload.trim_end().trim_end_matches('}').to_string()
        + r#", "holdout": {"baseline": {"metrics": {"acc": 0.70}}, "candidate": {"metrics": {"acc": 0.71}}}}"#;
    let (code, out, err) = decide(&["-"], &with_pair);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "inconclusive");
    assert_eq!(v["eligible"], false);
    assert_eq!(v["reason"], "holdout did not confirm the selection gain");
    assert_eq!(v["holdout"]["agrees"], false);
    assert_eq!(
        v["holdout"]["comparisons"]["acc"]["verdict"],
        "inconclusive"
    );
}
