//! Signals at the edges of a run: the wrap-up exits at the first one, and a
//! second one during the loop ends every command before the process exits.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Project, SCORE_EVAL, TestRepo, processes_with};

fn project(eval: &str) -> TestRepo {
    Project::scored("sig")
        .eval(eval)
        .spec_key("execution", "{mode: serial, max_concurrent: 1}")
        .applies([("raise it", "echo 11 > src/value.txt")])
        .build()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_wrap_up_exits_130_at_the_first_signal() {
    let repo = project(SCORE_EVAL);
    let mut child = repo
        .command(&["optimize.yaml"])
        .env("OPTIMIZE_FAULT", "stall@wrap-up")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let events = repo.state_dir("sig").join("events.jsonl");
    wait_for("the end of the loop", || {
        std::fs::read_to_string(&events).is_ok_and(|t| t.contains("\"run_stopped\""))
    });
    let start = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(status.code(), Some(130));
}

#[test]
fn a_second_signal_kills_every_command_before_the_process_exits() {
    // The measurement ignores SIGTERM, as some benchmarks do.
    let repo = project(
        "#!/bin/sh\ntrap '' TERM\nif [ \"$(cat src/value.txt)\" = 11 ]; then touch \"$OPTIMIZE_STATE_DIR/started\"; sleep 3021; fi\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1, \\\"size\\\": 1}\"\n",
    );
    let mut child = repo
        .command(&["optimize.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = repo.state_dir("sig").join("started");
    wait_for("the measurement", || {
        started.exists() && !processes_with("sleep 3021").is_empty()
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // SIGKILLed before the exit: gone as soon as the kernel has reaped it,
    // not after the shim's grace period.
    let exited = Instant::now();
    while !processes_with("sleep 3021").is_empty() {
        assert!(
            exited.elapsed() < Duration::from_millis(500),
            "the measurement outlived the exit by {:?}",
            exited.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
