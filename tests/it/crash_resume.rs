//! Crash safety over the demo project: the run is killed at every named fault
//! point and at seeded random moments (SIGKILL), resumed each time, and must
//! end exactly as a run that was never killed, with nothing left behind.

use crate::common;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{BIN, Run, isolate, processes_in};
use optimize::log::ExperimentLog;

struct Demo {
    _home: tempfile::TempDir,
    dir: PathBuf,
}

fn demo() -> Demo {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("demo");
    optimize::demo::create(&dir).unwrap();
    Demo { _home: home, dir }
}

fn command(dir: &Path, fault: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["optimize.yaml", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::null());
    isolate(&mut cmd, dir);
    if let Some(f) = fault {
        cmd.env("OPTIMIZE_FAULT", f);
    }
    cmd
}

fn git(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir);
    isolate(&mut cmd, dir);
    String::from_utf8(cmd.output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}

fn load(dir: &Path) -> Option<ExperimentLog> {
    let path = dir.join(".optimize/demo/experiment-log.yaml");
    path.exists()
        .then(|| ExperimentLog::load(&path).expect("the log always parses"))
}

/// What must hold after any kill: the log parses, no hypothesis has two
/// entries, iterations are unique and increasing, and nothing appended
/// before was lost.
fn check_log(dir: &Path, seen: &mut BTreeMap<u64, String>) {
    let Some(log) = load(dir) else {
        assert!(
            seen.is_empty(),
            "the log vanished after entries were appended"
        );
        return;
    };
    let iterations: Vec<u64> = log.experiments.iter().map(|e| e.iteration).collect();
    assert!(
        iterations.windows(2).all(|w| w[0] < w[1]),
        "iterations not increasing: {iterations:?}"
    );
    let mut hyps: Vec<&str> = log
        .experiments
        .iter()
        .map(|e| e.hypothesis.as_str())
        .collect();
    hyps.sort();
    let before = hyps.len();
    hyps.dedup();
    assert_eq!(before, hyps.len(), "a hypothesis has two entries");
    for (iteration, hypothesis) in seen.iter() {
        let e = log.experiments.iter().find(|e| e.iteration == *iteration);
        assert_eq!(
            e.map(|e| e.hypothesis.as_str()),
            Some(hypothesis.as_str()),
            "entry #{iteration} was lost"
        );
    }
    for e in &log.experiments {
        seen.insert(e.iteration, e.hypothesis.clone());
        assert!(
            log.hypothesis_backlog
                .iter()
                .all(|h| h.description != e.hypothesis),
            "\"{}\" is both appended and in the backlog",
            e.hypothesis
        );
    }
}

/// What must hold after a run that finished: the branch is at `best`, no
/// worktree and no process of the run are left.
fn check_finished(dir: &Path) {
    let log = load(dir).unwrap();
    let best = log.best.commit.clone().unwrap();
    assert_eq!(
        git(dir, &["rev-parse", "optimize/demo"]),
        best,
        "the branch head is best's commit"
    );
    assert_eq!(
        git(dir, &["worktree", "list"]).lines().count(),
        1,
        "no stray worktree"
    );
    assert!(
        processes_in(dir).is_empty(),
        "processes of the run survive: {:?}",
        processes_in(dir)
    );
    assert!(log.run.in_flight.is_none(), "no batch is left in flight");
    assert!(
        log.experiments.iter().all(|e| !e.outcome.is_pending()),
        "every entry has a terminal outcome"
    );
}

type Summary = (Vec<(String, String)>, u64, String);

fn summary(dir: &Path) -> Summary {
    let log = load(dir).unwrap();
    (
        log.experiments
            .iter()
            .map(|e| (e.hypothesis.clone(), e.outcome.to_string()))
            .collect(),
        log.best.iteration,
        serde_yaml::to_string(&log.best.metrics).unwrap(),
    )
}

/// The result of a run that was never interrupted (computed once).
fn reference() -> &'static Summary {
    static REFERENCE: OnceLock<Summary> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let d = demo();
        Run::from(command(&d.dir, None).output().unwrap()).expect_code(0);
        check_finished(&d.dir);
        summary(&d.dir)
    })
}

/// Resumes until a run exits 0, checking the log after each attempt.
fn resume_to_completion(dir: &Path, seen: &mut BTreeMap<u64, String>) {
    let run = Run::from(command(dir, None).output().unwrap());
    run.expect_code(0);
    check_log(dir, seen);
    check_finished(dir);
}

fn fault_then_resume(point: &str) {
    let d = demo();
    let out = command(&d.dir, Some(point)).output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{point} was reached and killed the run: {out:?}"
    );
    let mut seen = BTreeMap::new();
    check_log(&d.dir, &mut seen);
    resume_to_completion(&d.dir, &mut seen);
    assert_eq!(&summary(&d.dir), reference(), "after a fault at {point}");
}

macro_rules! fault_tests {
    ($($name:ident => $point:literal,)*) => {
        $(#[test]
        fn $name() {
            fault_then_resume($point);
        })*
    };
}

fault_tests! {
    fault_after_worktree_created => "worktree-created",
    fault_after_third_worktree_created => "worktree-created:3",
    fault_after_measurement_before_append => "measured-before-append",
    fault_after_append_before_evaluation => "appended-before-evaluation",
    fault_after_last_append_of_a_batch => "appended-before-evaluation:4",
    fault_after_batch_planned => "batch-planned",
    fault_after_second_batch_planned => "batch-planned:2",
    fault_after_branch_moved_before_log => "branch-moved-before-log",
    fault_after_runner_up_branch_moved => "branch-moved-before-log:2",
    fault_during_runner_up_cherry_pick => "runner-up-cherry-pick",
    fault_after_evaluation_before_save => "evaluated-before-save",
    fault_during_digest_write => "digest-write",
}

/// A kill while libgit2 writes a branch leaves the ref's `.lock` file, and a
/// kill inside `worktree add` a half-made admin directory; the resume clears
/// both in the run's own namespaces instead of failing to create that
/// experiment's branch or worktree.
#[test]
fn stale_ref_locks_and_half_made_worktrees_left_by_a_kill_are_cleared_on_resume() {
    let d = demo();
    let out = command(&d.dir, Some("batch-planned")).output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9));
    let heads = d.dir.join(".git/refs/heads");
    std::fs::create_dir_all(heads.join("optimize-exp/demo")).unwrap();
    std::fs::write(heads.join("optimize-exp/demo/exp-001.lock"), "").unwrap();
    std::fs::write(heads.join("optimize/demo.lock"), "").unwrap();
    let half_made = d.dir.join(".git/worktrees/optimize-demo-exp-002");
    std::fs::create_dir_all(&half_made).unwrap();
    std::fs::write(
        half_made.join("HEAD"),
        "ref: refs/heads/optimize-exp/demo/exp-002\n",
    )
    .unwrap();
    let mut seen = BTreeMap::new();
    resume_to_completion(&d.dir, &mut seen);
    assert_eq!(&summary(&d.dir), reference());
    assert!(!heads.join("optimize-exp/demo/exp-001.lock").exists());
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn twenty_random_sigkills_end_like_an_uninterrupted_run() {
    let d = demo();
    let mut rng = Lcg(0x005e_ed0f_0471);
    let mut seen = BTreeMap::new();
    let mut kills = 0;
    let mut attempts = 0;
    while kills < 20 {
        attempts += 1;
        assert!(
            attempts < 80,
            "the run finished too early too often to be killed 20 times"
        );
        let mut child = command(&d.dir, None)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(30 + rng.next(1200));
        let start = Instant::now();
        let mut finished = false;
        while start.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if finished {
            // It completed before the kill: start the demo again from scratch
            // is not what we test; keep killing the same run's resumes.
            check_log(&d.dir, &mut seen);
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        check_log(&d.dir, &mut seen);
    }
    resume_to_completion(&d.dir, &mut seen);
    assert!(
        kills >= 20,
        "only {kills} kills landed before the run finished"
    );
    assert_eq!(&summary(&d.dir), reference());
}

#[test]
fn a_second_run_while_one_runs_exits_3_and_changes_nothing() {
    let d = demo();
    let mut first = command(&d.dir, None)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = d.dir.join(".optimize/demo/experiment-log.yaml");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !log.exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = Run::from(command(&d.dir, None).output().unwrap());
    second
        .expect_code(3)
        .stderr_has(&format!("holds the lock (pid {}", first.id()));
    assert!(first.wait().unwrap().success());
    check_finished(&d.dir);
    assert_eq!(&summary(&d.dir), reference());
}

#[test]
fn interrupt_exits_130_quickly_and_resumes() {
    let d = demo();
    let mut child = command(&d.dir, None)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Batch 2 holds the 3-second timeout experiment; interrupt once it is
    // planned (a state of the log, not a guess of how long batch 1 takes).
    // Wherever the signal lands, the resumed result must be the same:
    // decisions never depend on when Ctrl-C came.
    let deadline = Instant::now() + Duration::from_secs(120);
    while load(&d.dir)
        .and_then(|l| l.run.in_flight.map(|f| f.batch))
        .is_none_or(|b| b < 2)
    {
        assert!(Instant::now() < deadline, "batch 2 was never planned");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    let start = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let mut seen = BTreeMap::new();
    check_log(&d.dir, &mut seen);
    assert!(
        processes_in(&d.dir).is_empty(),
        "the measurement groups were killed"
    );
    assert_eq!(git(&d.dir, &["worktree", "list"]).lines().count(), 1);
    resume_to_completion(&d.dir, &mut seen);
    assert_eq!(&summary(&d.dir), reference());
}

#[test]
fn finished_runs_say_so_and_hand_edited_backlogs_are_honoured() {
    let d = demo();
    Run::from(command(&d.dir, None).output().unwrap()).expect_code(0);
    let again = Run::from(command(&d.dir, None).output().unwrap());
    again
        .expect_code(0)
        .stdout_has("this run is complete (no runnable hypotheses are left in the backlog)")
        .stdout_has("extend it with: optimize approve optimize.yaml fastjson numpy, then optimize optimize.yaml")
        .stdout_has("--fresh");
    assert!(
        !again.stdout.contains("--max-iterations"),
        "the backlog, not the iterations, stopped it:\n{}",
        again.stdout
    );
    let before = summary(&d.dir);
    assert_eq!(before, *reference(), "a complete run changes nothing");

    // Approve numpy by hand and add a new hypothesis by hand.
    let path = d.dir.join(".optimize/demo/experiment-log.yaml");
    let mut log = ExperimentLog::load(&path).unwrap();
    log.hypothesis_backlog[0].dep_status = optimize::log::DepStatus::Approved;
    let mut added = log.hypothesis_backlog[0].clone();
    added.description = "Turn on prefetching by hand".into();
    added.required_deps.clear();
    added.dep_status = optimize::log::DepStatus::NotApplicable;
    added.files = vec!["src/prefetch.conf".into()];
    added.apply = Some("sed -i 's/^enabled=0/enabled=1/' src/prefetch.conf".into());
    log.hypothesis_backlog.push(added);
    log.save(&path).unwrap();

    Run::from(command(&d.dir, None).output().unwrap()).expect_code(0);
    let log = load(&d.dir).unwrap();
    let last: Vec<(&str, String)> = log.experiments[10..]
        .iter()
        .map(|e| (e.hypothesis.as_str(), e.outcome.to_string()))
        .collect();
    assert_eq!(
        last,
        [
            (
                "Vectorize the scoring loop with numpy",
                "reverted".to_string()
            ),
            ("Turn on prefetching by hand", "reverted".to_string())
        ]
    );
    assert!(log.hypothesis_backlog.is_empty());
    check_finished(&d.dir);
}
