//! The worktree pool: one worktree per slot, moved from experiment to
//! experiment. What survives between experiments (ignored build outputs,
//! unless `execution.clean: full`) and what does not (untracked files, edits
//! to tracked files), every experiment's commit on its branch, nothing left
//! after the run, and a killed run's pool reused on resume.

use crate::common;
use common::{Project, SpecYaml, TestRepo, log_yaml, outcomes};

/// Reports what the previous measurement in this worktree left behind,
/// then leaves the same things for the next one: an ignored build output, an
/// untracked file, and an edit to a tracked file.
const EVAL: &str = r#"#!/bin/sh
warm=0; [ -f build/cache.o ] && warm=1
stray=0; [ -f stray.txt ] && stray=1
edited=$(grep -c edited README.md)
mkdir -p build && echo object > build/cache.o
echo leftover > stray.txt
echo edited >> README.md
echo "{\"score\": $(cat src/value.txt), \"ok\": 1, \"warm\": $warm, \"stray\": $stray, \"edited\": $edited}"
"#;

fn project(execution: &str, hypotheses: usize) -> TestRepo {
    let spec = SpecYaml::scored("pool")
        .with("description", "what a reused worktree keeps")
        .with(
            "metric",
            "\n  primary: {type: hard, name: score, direction: maximize}\n  degenerate_gates: [{name: ok, check: \"== 1\"}]\n  diagnostics: [{name: warm}, {name: stray}, {name: edited}]",
        )
        .extra(&format!(
            "execution: {execution}\nstopping: {{plateau_iterations: 100}}\nmax_runner_up_merges_per_batch: 0\n"
        ));
    Project::scored("pool")
        .eval(EVAL)
        .file("src/value.txt", "0\n")
        .file("README.md", "readme\n")
        .file(".gitignore", "build/\n")
        .applies(
            (1..=hypotheses).map(|i| (format!("step {i}"), format!("echo {i} > src/value.txt"))),
        )
        .spec(spec)
        .build()
}

/// `name` of every entry, in order of iteration.
fn diagnostic(log: &serde_yaml::Value, name: &str) -> Vec<f64> {
    log["experiments"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| {
            e["diagnostics"][name]
                .as_f64()
                .unwrap_or_else(|| panic!("no {name} in {e:?}"))
        })
        .collect()
}

fn assert_nothing_left(repo: &TestRepo) {
    let worktrees = repo.state_dir("pool").join("worktrees");
    let left: Vec<_> = std::fs::read_dir(&worktrees)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left under worktrees/: {left:?}");
    let listed = repo.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("worktree ").count(), 1, "{listed}");
}

#[test]
fn a_slot_keeps_ignored_build_outputs_and_loses_untracked_files_and_edits() {
    let repo = project("{mode: serial, max_concurrent: 1}", 4);
    let before = repo.user_state();
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "pool");
    assert_eq!(outcomes(&log).len(), 4);
    // The first experiment gets a new worktree; the others inherit its build.
    assert_eq!(diagnostic(&log, "warm"), [0.0, 1.0, 1.0, 1.0]);
    assert_eq!(diagnostic(&log, "stray"), [0.0; 4]);
    assert_eq!(diagnostic(&log, "edited"), [0.0; 4]);
    // Every experiment's commit is on its own branch, with its change.
    for i in 1..=4 {
        let branch = format!("optimize-exp/pool/exp-{i:03}");
        let value = repo.git(&["show", &format!("{branch}:src/value.txt")]);
        assert_eq!(value.trim(), i.to_string());
    }
    assert_nothing_left(&repo);
    assert_eq!(repo.user_state(), before);
}

#[test]
fn clean_full_starts_every_experiment_cold() {
    let repo = project("{mode: serial, max_concurrent: 1, clean: full}", 3);
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "pool");
    assert_eq!(diagnostic(&log, "warm"), [0.0; 3]);
    assert_eq!(diagnostic(&log, "stray"), [0.0; 3]);
    assert_nothing_left(&repo);
}

#[test]
fn parallel_slots_each_keep_their_own_worktree() {
    let repo = project("{max_concurrent: 2}", 6);
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "pool");
    // Batches of two: each slot is new in the first batch, warm after.
    assert_eq!(diagnostic(&log, "warm"), [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(diagnostic(&log, "stray"), [0.0; 6]);
    assert_nothing_left(&repo);
}

#[test]
fn an_unknown_clean_value_is_refused_with_its_place() {
    let repo = project("{max_concurrent: 1, clean: everything}", 1);
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(2).stderr_has("execution.clean");
    run.stderr_has("optimize.yaml:");
}

#[test]
fn a_killed_runs_pool_is_reused_on_resume() {
    let repo = project("{mode: serial, max_concurrent: 1}", 4);
    // Killed right after the second experiment's entry is written.
    let killed = repo
        .command(&["optimize.yaml"])
        .env("OPTIMIZE_FAULT", "appended-before-evaluation:2")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let slot = repo.state_dir("pool").join("worktrees/slot-0");
    assert!(slot.join("build/cache.o").is_file(), "the pool was removed");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "pool");
    assert_eq!(outcomes(&log).len(), 4);
    // The resumed experiments ran in the same worktree, repaired.
    assert_eq!(diagnostic(&log, "warm"), [0.0, 1.0, 1.0, 1.0]);
    assert_eq!(diagnostic(&log, "stray"), [0.0; 4]);
    assert_nothing_left(&repo);
}

/// A slot whose index was lost (a kill while the worktree was being made)
/// and whose files were tampered with: the resume puts the whole tree back
/// rather than taking every file for a stray.
#[test]
fn a_slot_whose_index_is_gone_is_checked_out_whole_on_resume() {
    let repo = project("{mode: serial, max_concurrent: 1}", 3);
    let killed = repo
        .command(&["optimize.yaml"])
        .env("OPTIMIZE_FAULT", "appended-before-evaluation:1")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let slot = repo.state_dir("pool").join("worktrees/slot-0");
    for admin in std::fs::read_dir(repo.path().join(".git/worktrees"))
        .unwrap()
        .flatten()
    {
        let _ = std::fs::remove_file(admin.path().join("index"));
    }
    std::fs::remove_file(slot.join("README.md")).unwrap();
    std::fs::write(slot.join("src/value.txt"), "99\n").unwrap();
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "pool");
    let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        got,
        ["kept", "kept", "kept"],
        "no experiment saw files outside its scope"
    );
    assert_eq!(
        diagnostic(&log, "edited"),
        [0.0; 3],
        "README.md was put back each time"
    );
    assert_nothing_left(&repo);
}

/// A pool worktree's path replaced by a file (or a dangling link) after a
/// kill: the resume rebuilds it instead of failing on "Not a directory".
#[test]
fn a_pool_path_replaced_by_a_file_is_rebuilt_on_resume() {
    for replacement in ["file", "link"] {
        let repo = project("{mode: serial, max_concurrent: 1}", 3);
        let killed = repo
            .command(&["optimize.yaml"])
            .env("OPTIMIZE_FAULT", "appended-before-evaluation:1")
            .output()
            .unwrap();
        assert!(!killed.status.success());
        let slot = repo.state_dir("pool").join("worktrees/slot-0");
        std::fs::remove_dir_all(&slot).unwrap();
        match replacement {
            "file" => std::fs::write(&slot, "not a worktree").unwrap(),
            _ => std::os::unix::fs::symlink("/nonexistent/slot", &slot).unwrap(),
        }
        repo.run(&["optimize.yaml"]).expect_code(0);
        let log = log_yaml(repo.path(), "pool");
        assert_eq!(outcomes(&log).len(), 3, "{replacement}");
        assert_nothing_left(&repo);
    }
}

/// The state's `tmp` replaced by a file: the error names that path.
#[test]
fn a_tmp_that_is_a_file_is_named() {
    let repo = project("{mode: serial, max_concurrent: 1}", 1);
    let state = repo.state_dir("pool");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("tmp"), "in the way").unwrap();
    let run = repo.run(&["optimize.yaml"]);
    let log = log_yaml(repo.path(), "pool");
    let message = log["experiments"][0]["error_message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains(&format!("{}", state.join("tmp").display()))
            || run
                .stderr
                .contains(&format!("{}", state.join("tmp").display())),
        "{message}\n{}",
        run.stderr
    );
}
