//! The morning after, on real repositories: `optimize finalize` (review
//! branches) on the demo, and `optimize ablate` (what each kept change
//! carries) on a stack with an interaction.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{Project, TestRepo, log_yaml, new_demo, optimize_in};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn finalize_makes_disjoint_branches_that_together_make_the_best() {
    let (_home, dir) = new_demo();
    optimize_in(&dir, &["optimize.yaml", "--quiet"]).expect_code(0);
    let dry = optimize_in(&dir, &["finalize", "optimize.yaml", "--dry-run"]);
    dry.expect_code(0)
        .stdout_has("optimize-review/demo/1-")
        .stdout_has("dry run");
    assert!(
        git(&dir, &["branch", "--list", "optimize-review/*"]).is_empty(),
        "a dry run makes no branch"
    );

    optimize_in(&dir, &["finalize", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("alone");
    let log = log_yaml(&dir, "demo");
    let start = log["start_commit"].as_str().unwrap().to_string();
    let best = log["best"]["commit"].as_str().unwrap().to_string();
    // The measured best: below the report the wrap-up commits on it.
    let best = if log["report_commit"].as_str() == Some(best.as_str()) {
        format!("{best}^")
    } else {
        best
    };
    let branches: Vec<String> = lines(&git(
        &dir,
        &[
            "branch",
            "--list",
            "--format=%(refname:short)",
            "optimize-review/*",
        ],
    ))
    .into_iter()
    .collect();
    let kept = log["experiments"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|e| matches!(e["outcome"].as_str(), Some("kept" | "runner_up_kept")))
        .count();
    assert!(
        branches.len() >= 2 && branches.len() <= kept,
        "{branches:?} for {kept} kept"
    );
    let mut union = BTreeSet::new();
    for b in &branches {
        assert_eq!(
            git(&dir, &["merge-base", &start, b]),
            start,
            "{b} starts at the start commit"
        );
        let files = lines(&git(&dir, &["diff", "--name-only", &start, b]));
        assert!(
            union.is_disjoint(&files),
            "{b} touches a file another branch touches: {files:?}"
        );
        for f in &files {
            assert_eq!(
                git(&dir, &["show", &format!("{b}:{f}")]),
                git(&dir, &["show", &format!("{best}:{f}")]),
                "{f} on {b}"
            );
        }
        union.extend(files);
    }
    assert_eq!(
        union,
        lines(&git(&dir, &["diff", "--name-only", &start, &best])),
        "together they make the best's tree"
    );
    let review: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(dir.join(".optimize/demo/review/review.yaml")).unwrap(),
    )
    .unwrap();
    for r in review["branches"].as_sequence().unwrap() {
        assert_eq!(
            r["measured"]["failed_gates"].as_sequence().unwrap().len(),
            0,
            "{r:?} passes its gates alone"
        );
        let description = std::fs::read_to_string(r["description"].as_str().unwrap()).unwrap();
        assert!(
            description.contains("Measured alone on the start commit: runtime_ms"),
            "{description}"
        );
        assert!(description.contains("## Files"), "{description}");
    }
}

/// Five hypotheses that each raise the score while the loop runs (mode
/// `loop`); measured afterwards (mode `after`), A and B only help
/// together, C helps alone, E helps alone but hurts beside A.
fn interacting_stack(mode_file: &Path) -> TestRepo {
    let eval = format!(
        "#!/bin/sh\nhas() {{ [ -f \"src/$1\" ]; }}\ns=10\nif [ \"$(cat {mode})\" = loop ]; then\n  for f in a b c e; do has $f && s=$((s + 5)); done\nelse\n  has a && has b && s=$((s + 10))\n  has c && s=$((s + 5))\n  if has e; then if has a; then s=$((s - 2)); else s=$((s + 5)); fi; fi\nfi\necho \"{{\\\"score\\\": $s, \\\"ok\\\": 1}}\"\n",
        mode = mode_file.display()
    );
    Project::scored("stack")
        .eval(&eval)
        .spec_extra("execution: {mode: serial, max_concurrent: 1}\n")
        .applies([
            ("Add a", "touch src/a"),
            ("Add b", "touch src/b"),
            ("Add c", "touch src/c"),
            ("Add e", "touch src/e"),
        ])
        .build()
}

#[test]
fn ablation_tells_what_each_kept_change_carries() {
    let modes = tempfile::tempdir().unwrap();
    let mode = modes.path().join("mode");
    std::fs::write(&mode, "loop\n").unwrap();
    let repo = interacting_stack(&mode);
    repo.run(&["optimize.yaml"]).expect_code(0);
    let kept: Vec<String> = log_yaml(repo.path(), "stack")["experiments"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "kept")
        .map(|e| e["hypothesis"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kept,
        ["Add a", "Add b", "Add c", "Add e"],
        "all four kept while the loop ran"
    );

    std::fs::write(&mode, "after\n").unwrap();
    let ablated = repo.run(&["ablate", "optimize.yaml"]);
    ablated.expect_code(0);
    let log = log_yaml(repo.path(), "stack");
    let verdicts: Vec<(String, String)> = log["ablation"]["changes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["hypothesis"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            (
                "Add a".to_string(),
                "carries_the_gain_with_others".to_string()
            ),
            (
                "Add b".to_string(),
                "carries_the_gain_with_others".to_string()
            ),
            ("Add c".to_string(), "carries_the_gain".to_string()),
            ("Add e".to_string(), "harmful_in_the_stack".to_string()),
        ],
        "{}",
        ablated.stdout
    );
    assert_eq!(log["ablation"]["best_value"], 23.0);
    assert_eq!(log["ablation"]["start_value"], 10.0);
    let report = std::fs::read_to_string(repo.state_dir("stack").join("report.md")).unwrap();
    assert!(
        report.contains("| #3 Add c | +5 (better) | -5 (worse) | carries the gain |"),
        "{report}"
    );
    assert!(report.contains("harmful in the stack"), "{report}");
}

#[test]
fn wrapup_ablation_runs_at_the_end_of_the_run() {
    let repo = Project::scored("stack")
        .eval("#!/bin/sh\n[ -f src/a ] && s=15 || s=10\necho \"{\\\"score\\\": $s, \\\"ok\\\": 1}\"\n")
        .spec_extra("wrapup: {ablation: true}\n")
        .applies([("Add a", "touch src/a")])
        .build();
    repo.run(&["optimize.yaml"])
        .expect_code(0)
        .stdout_has("ablation:");
    let log = log_yaml(repo.path(), "stack");
    assert_eq!(log["ablation"]["changes"][0]["verdict"], "carries_the_gain");
}
