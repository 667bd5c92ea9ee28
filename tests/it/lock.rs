//! The run lock between real processes: a second holder exits 3 naming the
//! pid; a lock left by a killed process never blocks.

use crate::common;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestRepo, hard_spec};

fn repo() -> TestRepo {
    let repo = TestRepo::new(&[
        ("src/lib.txt", "x"),
        (
            "eval.sh",
            "#!/bin/sh\necho '{\"score\": 1, \"ok\": 1, \"size\": 1}'\n",
        ),
    ]);
    repo.write(
        "spec.yaml",
        &hard_spec(
            "locked",
            "./eval.sh",
            "hypotheses:\n  source: file\n  file: h.yaml\n",
        ),
    );
    repo.write(
        "h.yaml",
        "- description: Touch the library\n  apply: \"echo y > src/lib.txt\"\n",
    );
    repo.commit_all("spec");
    repo
}

/// Another process that holds the run lock (flock(1) takes the same
/// flock(2) lock the tool takes) and writes its pid the way the tool does.
fn hold_lock(repo: &TestRepo) -> std::process::Child {
    let dir = repo.state_dir("locked");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = dir.join("lock");
    // -o: the lock belongs to flock itself, not to the shell it starts.
    let child = Command::new("flock")
        .arg("-o")
        .arg(&lock)
        .args([
            "sh",
            "-c",
            &format!(
                "printf 'pid=%s\\nhost=testhost\\n' $PPID > '{}'; sleep 60",
                lock.display()
            ),
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&lock)
        .unwrap_or_default()
        .contains("pid=")
    {
        assert!(Instant::now() < deadline, "flock never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn second_run_exits_3_and_names_the_holder() {
    let repo = repo();
    let mut holder = hold_lock(&repo);
    let log = repo.state_dir("locked").join("experiment-log.yaml");
    let run = repo.run(&["spec.yaml"]);
    run.expect_code(3).stderr_has(&format!(
        "another run of \"locked\" holds the lock (pid {} on testhost)",
        holder.id()
    ));
    assert!(!log.exists(), "the refused run wrote nothing");
    repo.run(&["status", "spec.yaml"])
        .expect_code(0)
        .stdout_has(&format!("running (pid {} on testhost)", holder.id()));
    let json = repo.run(&["status", "spec.yaml", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["running"], true);
    assert_eq!(v["lock_holder"]["pid"], holder.id());

    // Killed holders never block: the OS drops the lock with the process.
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The whole run succeeds: a failure for another reason would hide a lock
    // that still blocks.
    repo.run(&["spec.yaml", "--quiet"]).expect_code(0);
    let log = optimize::log::ExperimentLog::load(&log).unwrap();
    assert_eq!(log.experiments.len(), 1);
    repo.run(&["status", "spec.yaml"])
        .expect_code(0)
        .stdout_has("no run holds the lock");
}
