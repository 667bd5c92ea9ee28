//! `measurement.per_case`: the harness prints a `cases` map beside its
//! metrics; each entry records the cases the best passed and it fails, and
//! the wrap-up and report.md list them for every kept change.

use crate::common;
use common::{Project, log_yaml};

/// `score` from `src/value.txt`; each line `id pass|fail` of `src/cases.txt`
/// as a case.
const CASES_EVAL: &str = r#"#!/bin/sh
cases=$(awk '{printf "%s\"%s\": \"%s\"", (NR > 1 ? ", " : ""), $1, $2}' src/cases.txt)
echo "{\"score\": $(cat src/value.txt), \"ok\": 1, \"cases\": {$cases}}"
"#;

fn project(eval: &str) -> Project {
    Project::scored("cases")
        .eval(eval)
        .file("src/cases.txt", "a pass\nb pass\nc fail\n")
        .spec_key(
            "measurement",
            "{command: ./eval.sh, timeout_seconds: 20, per_case: true}",
        )
        .spec_extra(
            "execution: {mode: serial, max_concurrent: 1}\nstopping: {plateau_iterations: 100}\n",
        )
        .applies([
            (
                "faster but breaks b",
                "echo 12 > src/value.txt && printf 'a pass\\nb fail\\nc fail\\n' > src/cases.txt",
            ),
            (
                "faster still, fixes c",
                "echo 14 > src/value.txt && printf 'a pass\\nb fail\\nc pass\\n' > src/cases.txt",
            ),
        ])
}

#[test]
fn each_kept_change_lists_the_cases_it_regressed() {
    let repo = project(CASES_EVAL).build();
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(0)
        .stdout_has("    per-case regressions: b\n")
        .stdout_has("    per-case regressions: none\n");
    let log = log_yaml(repo.path(), "cases");
    let entries = log["experiments"].as_sequence().unwrap();
    assert_eq!(entries[0]["outcome"], "kept");
    assert_eq!(
        entries[0]["regressions"],
        serde_yaml::from_str::<serde_yaml::Value>("[b]").unwrap()
    );
    assert_eq!(
        entries[1]["regressions"].as_sequence().map(Vec::len),
        Some(0)
    );
    assert_eq!(entries[1]["cases"]["c"], true);
    assert_eq!(log["best"]["cases"]["b"], false);
    let report = std::fs::read_to_string(repo.path().join(".optimize/cases/report.md")).unwrap();
    assert!(report.contains("Per-case regressions: b\n"), "{report}");
    assert!(report.contains("Per-case regressions: none\n"), "{report}");
}

#[test]
fn a_harness_that_prints_no_cases_says_not_recorded() {
    let repo = project(common::SCORE_EVAL).build();
    repo.run(&["optimize.yaml"])
        .expect_code(0)
        .stdout_has("    per-case regressions: not recorded\n");
    let log = log_yaml(repo.path(), "cases");
    assert!(log["experiments"][0]["regressions"].is_null());
}
