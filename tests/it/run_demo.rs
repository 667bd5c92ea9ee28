//! `optimize demo`: every terminal outcome of the seed schema in one run,
//! the exact outcomes, branch contents and commit messages, and nothing left
//! behind.

use crate::common;
use std::process::Command;

use common::{BIN, Run, assert_follows_seed_schema, isolate, log_yaml, outcomes, processes_in};

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir);
    isolate(&mut cmd, dir);
    String::from_utf8(cmd.output().unwrap().stdout).unwrap()
}

fn expected() -> Vec<(String, String)> {
    [
        ("Cache parsed inputs between rounds", "kept"),
        ("Unroll the inner loop four times", "runner_up_kept"),
        ("Skip the self-check to save time", "degenerate"),
        ("Parse with the fastjson library", "deferred_needs_approval"),
        ("Compress intermediate buffers", "runner_up_kept"),
        ("Use huge I/O buffers", "runner_up_reverted"),
        ("Search the whole plan space exhaustively", "timeout"),
        ("Report a cached result from the benchmark itself", "error"),
        ("Prefetch the next record", "reverted"),
        ("Switch to the experimental allocator", "error"),
    ]
    .iter()
    .map(|(h, o)| (h.to_string(), o.to_string()))
    .collect()
}

#[test]
fn demo_shows_every_outcome_and_leaves_nothing_behind() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("demo");
    let mut cmd = Command::new(BIN);
    cmd.args(["demo", dir.to_str().unwrap()])
        .current_dir(home.path());
    isolate(&mut cmd, home.path());
    let start = std::time::Instant::now();
    let run = Run::from(cmd.output().unwrap());
    run.expect_code(0)
        .stdout_has("demo finished: no runnable hypotheses are left in the backlog")
        .stdout_has("runtime_ms  100 -> 66  (-34)  (primary)")
        .stdout_has("approve with: optimize approve")
        .stdout_has("fastjson numpy")
        .stdout_has("what to look at next:");
    assert!(
        start.elapsed().as_secs() < 60,
        "the demo took {:?}",
        start.elapsed()
    );

    let log = log_yaml(&dir, "demo");
    assert_eq!(outcomes(&log), expected());
    assert_follows_seed_schema(&log);
    assert_eq!(log["best"]["iteration"], 5);
    assert_eq!(log["best"]["metrics"]["runtime_ms"].as_f64(), Some(66.0));
    let iterations: Vec<u64> = log["experiments"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(iterations, (1..=10).collect::<Vec<_>>());
    let e = |i: usize| &log["experiments"][i];
    assert_eq!(e(1)["merged_with"], 1);
    assert_eq!(e(5)["merged_with"], 5);
    assert_eq!(e(0)["primary_delta"], "-20");
    assert!(
        e(3)["deferred_reason"]
            .as_str()
            .unwrap()
            .contains("fastjson (in requirements.txt)")
    );
    assert!(
        e(7)["error_message"]
            .as_str()
            .unwrap()
            .contains("measure.sh (inside scope.immutable entry \"measure.sh\")")
    );
    assert!(
        e(9)["error_message"]
            .as_str()
            .unwrap()
            .contains("exited with status 101")
    );
    assert!(
        e(9)["error_message"]
            .as_str()
            .unwrap()
            .contains("experimental allocator corrupted the heap")
    );
    assert!(
        e(6)["error_message"]
            .as_str()
            .unwrap()
            .contains("timed out after 3s")
    );
    assert_eq!(e(2)["gates_passed"], false);
    for i in 0..10 {
        assert!(e(i)["learnings"].is_string(), "entry {i} has learnings");
    }
    // The declared dependency waits in the backlog without an entry.
    let backlog = log["hypothesis_backlog"].as_sequence().unwrap();
    assert_eq!(backlog.len(), 1);
    assert_eq!(backlog[0]["dep_status"], "needs_approval");
    assert_eq!(backlog[0]["required_deps"][0], "numpy");

    // The branch: one commit per kept change, in order, on the start commit,
    // and the wrap-up's report on top.
    let history = git(&dir, &["log", "--format=%s", "optimize/demo"]);
    let mut subjects: Vec<&str> = history.lines().collect();
    let report = subjects.remove(0);
    assert!(
        report.starts_with("optimize(demo): report of run "),
        "{report}"
    );
    assert_eq!(
        subjects,
        [
            "optimize(demo): Compress intermediate buffers",
            "optimize(demo): Unroll the inner loop four times",
            "optimize(demo): Cache parsed inputs between rounds",
            "The demo engine and its benchmark",
        ]
    );
    assert_eq!(
        git(&dir, &["rev-parse", "optimize/demo"]).trim(),
        log["best"]["commit"].as_str().unwrap()
    );
    let show = |f: &str| git(&dir, &["show", &format!("optimize/demo:{f}")]);
    let committed = show("optimize/demo-report.md");
    assert!(
        committed.starts_with("# optimize report: demo"),
        "{committed}"
    );
    assert!(committed.contains("![progress](demo-progress.svg)"));
    assert!(show("optimize/demo-progress.svg").contains("<svg"));
    assert!(show("src/cache.conf").contains("enabled=1"));
    assert!(show("src/unroll.conf").contains("factor=4"));
    assert!(show("src/compress.conf").contains("enabled=1"));
    assert!(
        show("src/buffer.conf").contains("size=normal"),
        "the reverted runner-up is not on the branch"
    );
    assert!(
        show("measure.sh").contains("deterministic stand-in"),
        "the harness is untouched"
    );
    // Every experiment's commit stays reachable.
    for i in 1..=10 {
        let b = format!("optimize-exp/demo/exp-{i:03}");
        assert!(
            !git(&dir, &["rev-parse", "--verify", "--quiet", &b]).is_empty(),
            "{b} exists"
        );
    }
    assert!(
        git(&dir, &["show", "optimize-exp/demo/exp-006:src/buffer.conf"]).contains("size=huge")
    );

    // Nothing left behind: the user's checkout, worktrees, processes.
    assert_eq!(
        git(&dir, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(git(&dir, &["worktree", "list"]).lines().count(), 1);
    assert!(
        std::fs::read_dir(dir.join(".optimize/demo/worktrees"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(
        processes_in(&dir).is_empty(),
        "processes of the run survive: {:?}",
        processes_in(&dir)
    );

    let digest = std::fs::read_to_string(dir.join(".optimize/demo/strategy-digest.md")).unwrap();
    for section in [
        "## Categories tried",
        "## Kept",
        "## Frontier",
        "## Key learnings",
        "- caching: kept 1",
    ] {
        assert!(
            digest.contains(section),
            "digest lacks {section}:\n{digest}"
        );
    }
    let status = Run::from({
        let mut c = Command::new(BIN);
        c.args(["status", "optimize.yaml"]).current_dir(&dir);
        isolate(&mut c, home.path());
        c.output().unwrap()
    });
    status
        .expect_code(0)
        .stdout_has("runtime_ms (minimize): baseline 100 -> best 66 at iteration 5");
}

#[test]
fn demo_refuses_a_non_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["demo", dir.path().to_str().unwrap()]);
    isolate(&mut cmd, dir.path());
    Run::from(cmd.output().unwrap())
        .expect_code(1)
        .stderr_has("is not empty");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "mine"
    );
}
