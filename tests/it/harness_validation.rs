//! `harness_validation.shortcuts`: degenerate changes applied to the start
//! commit and measured before the baseline is trusted; a harness that
//! rewards one is refused, by a run and by `validate`.

use crate::common;
use common::{Project, log_yaml};

/// `score` from `src/value.txt`; the gate `ok` fails above 100, a sanity
/// bound no real change reaches.
const GUARDED_EVAL: &str = "#!/bin/sh\nv=$(cat src/value.txt)\nok=1; [ \"$v\" -gt 100 ] && ok=0\necho \"{\\\"score\\\": $v, \\\"ok\\\": $ok}\"\n";

const SHORTCUTS: &str = r#"harness_validation:
  shortcuts:
    - description: print a constant
      apply: echo 1000 > src/value.txt
    - description: return empty output
      apply: ": > src/value.txt"
    - description: give up
      patch: |
        --- a/src/value.txt
        +++ b/src/value.txt
        @@ -1 +1 @@
        -10
        +1
"#;

fn project(eval: &str) -> Project {
    Project::scored("guarded")
        .eval(eval)
        .spec_extra(SHORTCUTS)
        .spec_extra("execution: {mode: serial, max_concurrent: 1}\n")
        .applies([("raise", "echo 12 > src/value.txt")])
}

#[test]
fn a_harness_that_catches_every_shortcut_runs_and_records_how() {
    let repo = project(GUARDED_EVAL).build();
    repo.run(&["optimize.yaml"])
        .expect_code(0)
        .stderr_has("harness check \"print a constant\": caught (gate ok fails)");
    let log = log_yaml(repo.path(), "guarded");
    let checks = log["harness_validation"]["shortcuts"]
        .as_sequence()
        .unwrap();
    let seen: Vec<(&str, bool)> = checks
        .iter()
        .map(|c| {
            (
                c["description"].as_str().unwrap(),
                c["caught"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("print a constant", true),
            ("return empty output", true),
            ("give up", true)
        ]
    );
    assert!(
        checks[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the measurement fails")
    );
    assert_eq!(
        checks[2]["reason"],
        "scores worse: score 1 vs the baseline's 10"
    );
    assert_eq!(log["experiments"][0]["outcome"], "kept");
    // The shortcuts left nothing behind: the start commit's tree is the baseline's.
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/value.txt")).unwrap(),
        "10\n"
    );
}

#[test]
fn a_harness_that_rewards_a_shortcut_is_refused_before_the_run_starts() {
    let repo = project(common::SCORE_EVAL).build();
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(1).stderr_has(
        "the harness rewards a shortcut: \"print a constant\" scores better: score 1000 vs the baseline's 10",
    );
    assert!(
        !repo
            .path()
            .join(".optimize/guarded/experiment-log.yaml")
            .exists()
    );
    let branches = std::process::Command::new("git")
        .args(["branch", "--list", "optimize/*"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&branches.stdout).trim().is_empty());

    repo.run(&["validate", "optimize.yaml"])
        .expect_code(1)
        .stdout_has(
            "  REWARDED \"print a constant\": scores better: score 1000 vs the baseline's 10",
        )
        .stdout_has("  caught \"give up\": scores worse: score 1 vs the baseline's 10")
        .stderr_has("the harness rewards a shortcut: \"print a constant\"");
}

#[test]
fn a_shortcut_that_cannot_be_applied_names_itself() {
    let repo = project(GUARDED_EVAL)
        .spec_extra(
            "harness_validation:\n  shortcuts:\n    - description: broken\n      apply: exit 3\n",
        )
        .build();
    repo.run(&["optimize.yaml"]).expect_code(1).stderr_has(
        "harness_validation shortcut \"broken\" cannot be applied: `exit 3` exited with status 3",
    );
}
