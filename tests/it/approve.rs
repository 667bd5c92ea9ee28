//! The morning after: approving or denying the dependencies hypotheses wait
//! on, by command and through the interactive prompt on a terminal, and the
//! next run measuring them first.

use crate::common;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{BIN, SCORE_EVAL, isolate, new_demo, optimize_in};
use optimize::log::ExperimentLog;

fn demo_run() -> (tempfile::TempDir, PathBuf) {
    let (home, dir) = new_demo();
    optimize_in(&dir, &["optimize.yaml", "--quiet"]).expect_code(0);
    (home, dir)
}

fn log(dir: &Path) -> ExperimentLog {
    ExperimentLog::load(&dir.join(".optimize/demo/experiment-log.yaml")).unwrap()
}

#[test]
fn approving_both_kinds_then_running_measures_them_first() {
    let (_home, dir) = demo_run();
    let spec_before = std::fs::read_to_string(dir.join("optimize.yaml")).unwrap();
    optimize_in(&dir, &["approve", "optimize.yaml", "fastjson", "numpy"])
        .expect_code(0)
        .stdout_has("approved: fastjson, numpy")
        .stdout_has("now runnable: \"Vectorize the scoring loop with numpy\"")
        .stdout_has("will be measured from its kept commit: \"Parse with the fastjson library\"");
    assert_eq!(
        std::fs::read_to_string(dir.join("optimize.yaml")).unwrap(),
        spec_before,
        "the spec is untouched"
    );
    let approvals = std::fs::read_to_string(dir.join(".optimize/demo/approvals.yaml")).unwrap();
    assert!(approvals.contains("- fastjson") && approvals.contains("- numpy"));

    optimize_in(&dir, &["optimize.yaml", "--quiet"]).expect_code(0);
    let log = log(&dir);
    let new: Vec<(&str, String)> = log.experiments[10..]
        .iter()
        .map(|e| (e.hypothesis.as_str(), e.outcome.to_string()))
        .collect();
    assert_eq!(
        new,
        [
            ("Parse with the fastjson library", "kept".to_string()),
            (
                "Vectorize the scoring loop with numpy",
                "reverted".to_string()
            ),
        ]
    );
    // The deferred idea was measured from its kept commit, as a new entry.
    let remeasured = &log.experiments[10];
    assert_eq!(remeasured.record.measured_from_iteration, Some(4));
    assert_eq!(
        log.experiments[3].outcome.to_string(),
        "deferred_needs_approval"
    );
    assert!(log.hypothesis_backlog.is_empty());
    assert_eq!(log.best.iteration, 11);
}

#[test]
fn approve_all_and_deny() {
    let (_home, dir) = demo_run();
    optimize_in(&dir, &["deny", "optimize.yaml", "numpy"])
        .expect_code(0)
        .stdout_has("denied: numpy")
        .stdout_has("dropped: \"Vectorize the scoring loop with numpy\"");
    let l = log(&dir);
    assert!(l.hypothesis_backlog.is_empty());
    assert!(l.extra.get("dropped_hypotheses").is_some());
    optimize_in(&dir, &["approve", "optimize.yaml", "--all"])
        .expect_code(0)
        .stdout_has("approved: fastjson");
    optimize_in(&dir, &["optimize.yaml", "--quiet"]).expect_code(0);
    let l = log(&dir);
    assert_eq!(l.experiments.len(), 11);
    assert_eq!(
        l.experiments[10].hypothesis,
        "Parse with the fastjson library"
    );
}

#[test]
fn approve_before_any_run_and_with_nothing_waiting() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("demo");
    optimize::demo::create(&dir).unwrap();
    optimize_in(&dir, &["approve", "optimize.yaml", "serde"])
        .expect_code(1)
        .stderr_has("has no run yet");
    optimize_in(&dir, &["approve", "optimize.yaml"]).expect_code(2);
}

#[test]
fn interactive_prompt_through_a_pseudo_terminal() {
    let (home, dir) = demo_run();
    // script(1) runs the command on a pseudo-terminal and forwards our input.
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("{BIN} optimize.yaml"), "/dev/null"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    isolate(&mut cmd, home.path());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"a\nd\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "approve dependency fastjson (1 hypothesis waiting)? [a]pprove / [d]eny / [l]ater"
        ),
        "{text}"
    );
    assert!(text.contains("approve dependency numpy"), "{text}");
    let approvals = std::fs::read_to_string(dir.join(".optimize/demo/approvals.yaml")).unwrap();
    assert!(approvals.contains("approved:\n- fastjson"), "{approvals}");
    assert!(approvals.contains("denied:\n- numpy"), "{approvals}");
    let l = log(&dir);
    assert_eq!(l.hypothesis_backlog.len(), 1);
    assert_eq!(
        l.hypothesis_backlog[0].description,
        "Parse with the fastjson library"
    );
}

/// A run that stopped on its plateau: approving what waits leads to it
/// being measured (not to a run that stops at once), every printed hint
/// does something when followed, and what was measured waits no more.
#[test]
fn after_a_plateau_an_approval_is_measured_and_every_hint_works() {
    let repo = common::TestRepo::new(&[
        ("eval.sh", SCORE_EVAL),
        ("src/value.txt", "10\n"),
        ("requirements.txt", "requests\n"),
    ]);
    repo.write(
        "optimize.yaml",
        &common::hard_spec(
            "flow",
            "./eval.sh",
            "hypotheses: {source: file, file: h.yaml}\nexecution: {mode: serial, max_concurrent: 1}\nstopping: {plateau_iterations: 2, max_iterations: 4}\n",
        )
        .replace("mutable: [\"src/\"]", "mutable: [\"src/\", requirements.txt]"),
    );
    repo.write(
        "h.yaml",
        r#"
- {description: no effect one, apply: "echo x > src/a.txt"}
- {description: no effect two, apply: "echo y > src/b.txt"}
- {description: use fastlib, apply: "echo fastlib >> requirements.txt && echo 20 > src/value.txt"}
- {description: declared numpy, required_deps: [numpy], apply: "echo 30 > src/value.txt"}
- {description: no effect three, apply: "echo z > src/c.txt"}
"#,
    );
    repo.commit_all("spec");
    let first = repo.run(&["optimize.yaml"]);
    first.expect_code(0).stdout_has("plateau_iterations");
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(0).stdout_has("this run is complete");
    // The hint lifts the limit that stopped it.
    let hint = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("extend it with: "))
        .expect("a hint")
        .to_string();
    assert!(hint.contains("--plateau-iterations"), "{hint}");
    let command = hint.split(" (or").next().unwrap_or_default();
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let before = outcomes(&repo).len();
    repo.run(&args).expect_code(0);
    assert!(
        outcomes(&repo).len() > before,
        "following {hint} ran nothing"
    );

    let approve = repo.run(&["approve", "optimize.yaml", "--all"]);
    approve.expect_code(0);
    let next = approve
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("next: "))
        .expect("a next command")
        .split(" (measures")
        .next()
        .unwrap()
        .to_string();
    let before = outcomes(&repo).len();
    let args: Vec<&str> = next.split_whitespace().skip(1).collect();
    let after = repo.run(&args);
    after.expect_code(0);
    let all = outcomes(&repo);
    let new: Vec<&str> = all[before..].iter().map(|(h, _)| h.as_str()).collect();
    assert!(new.contains(&"use fastlib"), "{all:?}");
    assert!(new.contains(&"declared numpy"), "{all:?}");
    assert!(
        !after.stdout.contains("approve with:"),
        "nothing waits any more:\n{}",
        after.stdout
    );
}

fn outcomes(repo: &common::TestRepo) -> Vec<(String, String)> {
    common::outcomes(&common::log_yaml(repo.path(), "flow"))
}
