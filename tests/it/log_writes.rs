//! The log is saved in place after its sealed entries, with a redo record
//! making each save atomic: a kill leaves a record that `status` and the
//! resumed run use to finish a torn write, and a clean end removes it.

use crate::common;
use common::{Project, TestRepo, log_yaml, outcomes};

fn project() -> TestRepo {
    Project::scored("logw")
        .file("src/value.txt", "0\n")
        .spec_extra(
            "execution: {mode: serial, max_concurrent: 1}\nstopping: {plateau_iterations: 100}\nmax_runner_up_merges_per_batch: 0\n",
        )
        .applies((1..=5).map(|i| (format!("step {i}"), format!("echo {i} > src/value.txt"))))
        .build()
}

#[test]
fn a_torn_save_is_finished_from_the_redo_record_by_status_and_resume() {
    let repo = project();
    let killed = repo
        .command(&["optimize.yaml"])
        .env("OPTIMIZE_FAULT", "appended-before-evaluation:3")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let state = repo.state_dir("logw");
    let log_path = state.join("experiment-log.yaml");
    let redo = std::fs::read_to_string(state.join("experiment-log.redo"))
        .expect("a killed run leaves its last save's redo record");
    let whole = std::fs::read_to_string(&log_path).unwrap();
    let offset: usize = redo
        .lines()
        .find_map(|l| l.strip_prefix("offset: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        offset > 0 && offset < whole.len(),
        "only the tail is rewritten"
    );
    // As if the in-place write had been cut short: the tail half written.
    let torn = &whole[..offset + (whole.len() - offset) / 2];
    std::fs::write(&log_path, torn).unwrap();

    repo.run(&["status", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("experiments: 3 (measured 1, kept 2)");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "logw");
    let out = outcomes(&log);
    assert_eq!(out.len(), 5, "{out:?}");
    assert!(out.iter().all(|(_, o)| o == "kept"), "{out:?}");
    assert!(!state.join("experiment-log.redo").exists());
}

/// A log cut short (a full disk while copying it, an editor's crash) is
/// refused by every reader, left as it is, and the message says how to
/// recover from the backup, which `optimize` keeps whole.
#[test]
fn a_truncated_log_is_refused_everywhere_and_the_backup_recovers_it() {
    let repo = project();
    repo.run(&["optimize.yaml"]).expect_code(0);
    let state = repo.state_dir("logw");
    let log_path = state.join("experiment-log.yaml");
    let whole = std::fs::read_to_string(&log_path).unwrap();
    let backup = state.join("experiment-log.backup.yaml");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), whole);
    // Cut at a line boundary inside the backlog, as 12 of 20 random cuts were.
    let cut = whole.find("hypothesis_backlog:").unwrap();
    std::fs::write(&log_path, &whole[..cut]).unwrap();
    for args in [
        &["status", "optimize.yaml"][..],
        &["report", "optimize.yaml"],
        &["optimize.yaml"],
        &["approve", "optimize.yaml", "--all"],
    ] {
        repo.run(args)
            .expect_code(1)
            .stderr_has("experiment-log.yaml")
            .stderr_has("is cut short")
            .stderr_has("missing: hypothesis_backlog, sessions")
            .stderr_has("experiment-log.backup.yaml");
        assert_eq!(
            std::fs::read_to_string(&log_path).unwrap(),
            whole[..cut],
            "{args:?} changed the log"
        );
    }
    std::fs::copy(&backup, &log_path).unwrap();
    repo.run(&["status", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("experiments: 5 (kept 5)");
}

/// After a kill, a hand edit of the backlog is what the next run sees: the
/// stale redo record is set aside with a warning, never applied over it.
#[test]
fn a_hand_edit_after_a_kill_is_honoured_over_the_redo_record() {
    let repo = project();
    let killed = repo
        .command(&["optimize.yaml"])
        .env("OPTIMIZE_FAULT", "appended-before-evaluation:2")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let state = repo.state_dir("logw");
    let log_path = state.join("experiment-log.yaml");
    assert!(state.join("experiment-log.redo").exists());
    let text = std::fs::read_to_string(&log_path).unwrap();
    let edited = text.replace(
        "- description: step 5\n",
        "- description: step 5\n  apply: echo 50 > src/value.txt\n",
    );
    let edited = edited.replacen("  apply: echo 5 > src/value.txt\n", "", 1);
    assert_ne!(edited, text, "the backlog holds step 5");
    std::fs::write(&log_path, &edited).unwrap();
    repo.run(&["status", "optimize.yaml"]).expect_code(0);
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(0)
        .stderr_has("experiment-log.redo was not applied (the log changed since it was made)");
    assert!(state.join("experiment-log.redo.stale").exists());
    repo.run(&["show", "optimize.yaml", "5"])
        .expect_code(0)
        .stdout_has("score: 50 /");
}

/// A full disk while the measurement's output is kept is our failure, not
/// the command's: the run stops saying which file and why, records nothing
/// against the experiment, and the next session measures it again.
#[test]
fn a_full_disk_while_capturing_output_stops_the_run_and_blames_no_one() {
    let repo = project();
    let exp = repo.state_dir("logw").join("experiments/001");
    std::fs::create_dir_all(&exp).unwrap();
    // Every write to /dev/full fails with ENOSPC.
    std::os::unix::fs::symlink("/dev/full", exp.join("measure-1.stdout")).unwrap();
    repo.run(&["optimize.yaml"])
        .expect_code(1)
        .stderr_has("measure-1.stdout: No space left on device");
    let log = log_yaml(repo.path(), "logw");
    assert!(outcomes(&log).is_empty(), "{:?}", outcomes(&log));
    assert!(
        log["stopped_because"]
            .as_str()
            .unwrap()
            .contains("runs again once the run is resumed"),
        "{:?}",
        log["stopped_because"]
    );
    std::fs::remove_file(exp.join("measure-1.stdout")).unwrap();
    repo.run(&["optimize.yaml"]).expect_code(0);
    let out = outcomes(&log_yaml(repo.path(), "logw"));
    assert_eq!(out.len(), 5, "{out:?}");
    assert_eq!(out[0], ("step 1".to_string(), "kept".to_string()));
}
