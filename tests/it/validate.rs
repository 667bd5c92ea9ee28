//! `optimize validate` on real repositories: one baseline measurement in a
//! temporary worktree that is always removed, the user's checkout untouched.

use crate::common;
use std::time::{Duration, Instant};

use common::{TestRepo, hard_spec, processes_with};

fn repo_with_eval(eval: &str, spec_extra: &str) -> TestRepo {
    let repo = TestRepo::new(&[("src/lib.txt", "code\n"), ("eval.sh", eval)]);
    repo.write("spec.yaml", &hard_spec("val", "./eval.sh", spec_extra));
    repo.commit_all("spec");
    repo
}

const GOOD: &str = "#!/bin/sh\necho 'warming up'\necho '{\"score\": 0.75, \"ok\": 1, \"size\": 12, \"note\": \"text is ignored\"}'\n";

#[test]
fn measures_the_baseline_and_changes_nothing() {
    let repo = repo_with_eval(GOOD, "");
    let before = repo.user_state();
    let branches_before = repo.git(&["branch", "--list"]);
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(0)
        .stdout_has("valid spec \"val\" (maximize hard metric score)")
        .stdout_row(&["score", "0.75", "(primary,", "maximize)"])
        .stdout_has("pass  ok  1 == 1")
        .stdout_has("baseline ok");
    assert_eq!(repo.user_state(), before);
    assert_eq!(repo.git(&["branch", "--list"]), branches_before);
    assert!(!repo.state_dir("val").join("worktrees/validate").exists());
    let left: Vec<_> = std::fs::read_dir(repo.state_dir("val").join("worktrees"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "no worktree is left: {left:?}");
    let out =
        std::fs::read_to_string(repo.state_dir("val").join("validate/measure-1.stdout")).unwrap();
    assert!(
        out.contains("warming up"),
        "the command's output is kept: {out}"
    );
}

#[test]
fn no_measure_checks_the_spec_alone() {
    let repo = repo_with_eval("#!/bin/sh\nexit 1\n", "");
    repo.run_with_key(&["validate", "--no-measure", "spec.yaml"])
        .expect_code(0);
    assert!(
        !repo.path().join(".optimize").exists(),
        "nothing is written"
    );
}

#[test]
fn measures_the_committed_tree_not_the_dirty_checkout() {
    let repo = repo_with_eval(GOOD, "");
    repo.write(
        "eval.sh",
        "#!/bin/sh\necho '{\"score\": 99, \"ok\": 1, \"size\": 1}'\n",
    );
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(0)
        .stdout_has("0.75");
    assert!(
        repo.read("eval.sh").contains("99"),
        "the user's uncommitted edit is untouched"
    );
}

#[test]
fn repeat_mode_aggregates_runs() {
    let eval = "#!/bin/sh\ncase $OPTIMIZE_RUN in 1) s=5;; 2) s=1;; *) s=3;; esac\necho \"{\\\"score\\\": $s, \\\"ok\\\": 1, \\\"size\\\": $OPTIMIZE_RUN}\"\n";
    let repo = repo_with_eval(eval, "");
    let spec = hard_spec("val", "./eval.sh", "").replace(
        "  timeout_seconds: 20",
        "  timeout_seconds: 20\n  stability:\n    mode: repeat\n    repeat_count: 3\n    aggregation: median",
    );
    repo.write("spec.yaml", &spec);
    repo.commit_all("repeat");
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(0)
        .stdout_has("3 runs, median")
        .stdout_row(&["score", "3", "(primary,"]);
}

#[test]
fn failing_gate_is_reported() {
    let repo = repo_with_eval(
        "#!/bin/sh\necho '{\"score\": 1, \"ok\": 0, \"size\": 1}'\n",
        "",
    );
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(1)
        .stdout_has("FAIL  ok  0 == 1")
        .stderr_has("the baseline fails its own gate: ok");
}

#[test]
fn missing_keys_are_named() {
    let repo = repo_with_eval("#!/bin/sh\necho '{\"score\": 1}'\n", "");
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(1)
        .stderr_has("the measurement output lacks keys \"ok\", \"size\" (run 1); it has: score");
}

#[test]
fn output_without_json() {
    let repo = repo_with_eval("#!/bin/sh\necho 'all good, score 5'\n", "");
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(1)
        .stderr_has(
            "printed no JSON object on stdout (run 1); end of its stdout:\nall good, score 5",
        );
}

#[test]
fn non_numeric_metric() {
    let repo = repo_with_eval(
        "#!/bin/sh\necho '{\"score\": \"high\", \"ok\": 1, \"size\": 1}'\n",
        "",
    );
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(1)
        .stderr_has("\"score\" is \"high\", not a number");
}

#[test]
fn non_zero_exit_shows_stderr() {
    let repo = repo_with_eval("#!/bin/sh\necho 'Traceback: boom' >&2\nexit 3\n", "");
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(1)
        .stderr_has("the measurement command exited with status 3 (run 1); end of its stderr:\nTraceback: boom")
        .stderr_has("the command's output is in");
    let left: Vec<_> = std::fs::read_dir(repo.state_dir("val").join("worktrees"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "the worktree is removed after a failure");
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let marker = format!("optimize-grandchild-{}", std::process::id());
    let eval = format!("#!/bin/sh\n(sh -c 'sleep 300; echo {marker}' &)\nsleep 300 &\nwait\n");
    let repo = repo_with_eval(&eval, "");
    repo.write(
        "spec.yaml",
        &hard_spec("val", "./eval.sh", "").replace("timeout_seconds: 20", "timeout_seconds: 1"),
    );
    repo.commit_all("timeout");
    let start = Instant::now();
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(1)
        .stderr_has("timed out after 1s (run 1); its whole process group was killed");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(processes_with(&marker).is_empty(), "a grandchild survived");
    assert!(processes_with(&format!("{}", repo.path().display())).is_empty());
}

#[test]
fn shared_files_and_working_directory_and_port() {
    let repo = TestRepo::new(&[
        ("src/lib.txt", "code\n"),
        (
            "tools/eval/eval.sh",
            "#!/bin/sh\nn=$(cat ../../data/items.db)\necho \"{\\\"score\\\": $n, \\\"ok\\\": 1, \\\"size\\\": $EVAL_PORT}\"\n",
        ),
    ]);
    std::fs::create_dir_all(repo.path().join("data")).unwrap();
    repo.write("data/items.db", "42");
    repo.write(".gitignore", "data/\n");
    let spec = hard_spec("val", "sh eval.sh", "parallel:\n  port_env_var: EVAL_PORT\n  port_base: 9100\n  shared_files: [data/items.db]\n")
        .replace("  timeout_seconds: 20", "  timeout_seconds: 20\n  working_directory: tools/eval")
        .replace("[\"eval.sh\"]", "[\"tools/eval/\"]");
    repo.write("spec.yaml", &spec);
    repo.write("tools/eval/eval.sh", &repo.read("tools/eval/eval.sh"));
    repo.commit_all("spec");
    repo.run_with_key(&["validate", "spec.yaml"])
        .expect_code(0)
        .stdout_row(&["score", "42"])
        .stdout_row(&["size", "9100", "(diagnostic)"]);
}

#[test]
fn interrupt_kills_the_measurement_and_removes_the_worktree() {
    let marker = format!("optimize-interrupt-{}", std::process::id());
    let eval = format!("#!/bin/sh\nsh -c 'sleep 300; echo {marker}' &\nwait\n");
    let repo = repo_with_eval(&eval, "");
    let child = repo
        .command(&["validate", "spec.yaml"])
        .env("OPENAI_API_KEY", "sk-test-key")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the measurement is running.
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_with(&marker).is_empty() {
        assert!(Instant::now() < deadline, "the measurement never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "exit took {:?}",
        start.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("the baseline worktree was removed"));
    assert!(
        processes_with(&marker).is_empty(),
        "the measurement's processes are gone"
    );
    let left: Vec<_> = std::fs::read_dir(repo.state_dir("val").join("worktrees"))
        .unwrap()
        .collect();
    assert!(left.is_empty());
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 1);
}

#[test]
fn outside_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.yaml"), hard_spec("val", "true", "")).unwrap();
    let mut cmd = std::process::Command::new(common::BIN);
    cmd.args(["validate", "spec.yaml"]).current_dir(dir.path());
    common::isolate(&mut cmd, dir.path());
    cmd.env("OPENAI_API_KEY", "sk-test-key");
    let run = common::Run::from(cmd.output().unwrap());
    run.expect_code(2)
        .stderr_has("is not inside a git repository");
}

/// The baseline's spread over repeat_count runs, what the protocol detects,
/// and a warning when the threshold sits inside the noise.
#[test]
fn validate_measures_the_noise_and_warns_when_the_threshold_is_inside_it() {
    // The score swings by a few percent from run to run (by OPTIMIZE_RUN).
    let eval = "#!/bin/sh\ncase $OPTIMIZE_RUN in 1) s=100;; 2) s=97;; 3) s=103;; 4) s=99;; *) s=101;; esac\necho \"{\\\"score\\\": $s, \\\"ok\\\": 1, \\\"size\\\": 1}\"\n";
    let repo = TestRepo::new(&[("eval.sh", eval), ("src/a.txt", "a")]);
    let spec = |stability: &str| {
        common::hard_spec("noisy", "./eval.sh", "").replace(
            "  timeout_seconds: 20\n",
            &format!("  timeout_seconds: 20\n  stability: {stability}\n"),
        )
    };
    repo.write(
        "tight.yaml",
        &spec("{mode: repeat, repeat_count: 5, noise_threshold: 0.5}"),
    );
    repo.write(
        "statistical.yaml",
        &spec("{comparison: {method: statistical}}"),
    );
    repo.commit_all("specs");
    repo.run_with_key(&["validate", "tight.yaml"])
        .expect_code(0)
        .stdout_has("noise (5 runs): score sd 2.236068 (2.24% of 100)")
        .stdout_has("the configured protocol (5 runs a side) reliably detects changes of")
        .stderr_has("warning: noise_threshold (0.5) sits inside the noise")
        .stderr_has("method: statistical");
    let quiet = repo.run_with_key(&["validate", "statistical.yaml"]);
    quiet.expect_code(0).stdout_has("(24 runs a side)");
    assert!(
        !quiet.stderr.contains("sits inside the noise"),
        "{}",
        quiet.stderr
    );
}

/// What the run refuses at once, `validate --no-measure` refuses too, each
/// with its place: nothing needs a measurement to be known.
#[test]
fn no_measure_refuses_what_the_run_would_refuse_at_once() {
    let repo = repo_with_eval(GOOD, "");
    let check = |extra: &str, key: bool, expected: &str| {
        repo.write("spec.yaml", &hard_spec("val", "./eval.sh", extra));
        let args = ["validate", "--no-measure", "spec.yaml"];
        let run = if key {
            repo.run_with_key(&args)
        } else {
            repo.run(&args)
        };
        assert_ne!(run.code, 0, "{extra} was accepted:\n{}", run.stdout);
        run.stderr_has(expected);
        for args in [&["plan", "spec.yaml"][..], &["spec.yaml"]] {
            let run = if key {
                repo.run_with_key(args)
            } else {
                repo.run(args)
            };
            assert_ne!(run.code, 0, "{args:?} accepted {extra}");
            run.stderr_has(expected);
        }
    };
    check(
        "",
        false,
        "no API key: set the environment variable OPENAI_API_KEY",
    );
    check(
        "hypotheses: {source: file, file: missing.yaml}\n",
        false,
        "missing.yaml",
    );
    std::fs::create_dir_all(repo.path().join("adir")).unwrap();
    check("hypotheses: {source: file, file: adir}\n", false, "adir");
    repo.write("bad.yaml", "- description: [unclosed\n");
    check(
        "hypotheses: {source: file, file: bad.yaml}\n",
        false,
        "bad.yaml",
    );
    let long = "a".repeat(300);
    let spec = hard_spec("val", "./eval.sh", "").replace("name: val", &format!("name: {long}"));
    repo.write("spec.yaml", &spec);
    repo.run_with_key(&["validate", "--no-measure", "spec.yaml"])
        .expect_code(2)
        .stderr_has("spec.yaml:1:7: name: is 300 bytes long; at most 100");
    let spec = hard_spec("val", "./eval.sh", "").replace("- name: ok", "- name: score");
    repo.write("spec.yaml", &spec);
    repo.run_with_key(&["validate", "--no-measure", "spec.yaml"])
        .expect_code(2)
        .stderr_has("gate \"score\" has the primary metric's name");
    repo.write(
        "spec.yaml",
        &hard_spec("val", "./eval.sh", "").replace(
            "  timeout_seconds: 20",
            "  timeout_seconds: 20\n  stability: {mode: repeat, repeat_count: 1000000}",
        ),
    );
    repo.run_with_key(&["validate", "--no-measure", "spec.yaml"])
        .expect_code(2)
        .stderr_has("measurement.stability.repeat_count: 1000000 is more than 1000 runs");
    repo.write(
        "spec.yaml",
        &hard_spec("val", "./eval.sh", "").replace(
            "  timeout_seconds: 20",
            "  timeout_seconds: 20\n  stability: {mode: stable, repeat_count: 9}",
        ),
    );
    repo.run_with_key(&["validate", "--no-measure", "spec.yaml"])
        .expect_code(0)
        .stderr_has("repeat_count: is ignored with mode: stable");
}

/// With two measurement slots, validate measures the baseline two at once
/// as a run would, and warns when sharing the machine moves the metric.
/// The eval counts its copies running at the same moment (through a shared
/// directory), so the contention is real and its effect deterministic.
#[test]
fn validate_measures_the_slots_at_once_and_warns_when_sharing_moves_the_metric() {
    let shared = tempfile::tempdir().unwrap();
    let eval = format!(
        "#!/bin/sh\nd={}\ntouch \"$d/$$\"\nsleep 1.5\nn=$(ls \"$d\" | wc -l)\nsleep 0.5\nrm -f \"$d/$$\"\necho \"{{\\\"score\\\": $((100 * n)), \\\"ok\\\": 1, \\\"size\\\": 1}}\"\n",
        shared.path().display()
    );
    let repo = TestRepo::new(&[("eval.sh", &eval), ("src/a.txt", "a")]);
    let spec = |slots: u32| {
        common::hard_spec("shared", "./eval.sh", "").replace(
            "  timeout_seconds: 20\n",
            &format!(
                "  timeout_seconds: 20\n  max_concurrent: {slots}\n  stability: {{mode: repeat, repeat_count: 2}}\n"
            ),
        )
    };
    repo.write("two.yaml", &spec(2));
    repo.write("one.yaml", &spec(1));
    repo.commit_all("specs");
    repo.run_with_key(&["validate", "two.yaml"])
        .expect_code(0)
        .stdout_has("measuring the baseline 2 at once (measurement.max_concurrent)")
        .stdout_has("2 at once: score mean ")
        .stderr_has("warning: 2 measurements at once share this machine: score moves by +")
        .stderr_has("measurement.max_concurrent: 1");
    let alone = repo.run_with_key(&["validate", "one.yaml"]);
    alone.expect_code(0);
    assert!(!alone.stdout.contains("at once"), "{}", alone.stdout);
    assert!(
        !alone.stderr.contains("share this machine"),
        "{}",
        alone.stderr
    );
}
