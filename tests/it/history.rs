//! Every run on record: `plan` before a run, then one run and a `--fresh`
//! one, listed by `runs` (and `.optimize/index.csv`), one experiment by
//! `show`, the two side by side by `compare`, `search` across them, and the
//! earlier run's learnings in a model's hypothesis prompt.

use crate::common;
use crate::common::fake_llm;

use common::{TestRepo, new_demo, optimize_in};
use fake_llm::{FakeLlm, Reply};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn run_ids(dir: &std::path::Path) -> Vec<String> {
    let runs = json(&optimize_in(dir, &["runs", "--json"]).expect_code(0).stdout);
    runs.as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn plan_tries_every_hypothesis_and_leaves_nothing_behind() {
    let (_home, dir) = new_demo();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = (
        git(&["status", "--porcelain", "--ignored"]),
        git(&["branch", "-a"]),
        git(&["worktree", "list"]),
    );
    let out = optimize_in(&dir, &["plan", "optimize.yaml", "--json"]);
    out.expect_code(0);
    let plan = json(&out.stdout);
    let hyps = plan["hypotheses"].as_array().unwrap();
    let broken: Vec<&serde_json::Value> = hyps.iter().filter(|h| h["applies"] == false).collect();
    assert_eq!(broken.len(), 1, "{hyps:?}");
    assert!(broken[0]["error"].as_str().unwrap().contains("measure.sh"));
    assert!(hyps.iter().filter(|h| h["applies"] == true).count() >= 8);
    let batch = plan["batch"].as_array().unwrap();
    assert_eq!(batch.len(), 4);
    assert_eq!(batch[1]["slot"], 1);
    assert_eq!(batch[1]["branch"], "optimize-exp/demo/exp-002");
    assert!(
        batch[1]["worktree"]
            .as_str()
            .unwrap()
            .ends_with(".optimize/demo/worktrees/slot-1")
    );
    assert_eq!(plan["spec"]["execution"]["max_concurrent"], 4);
    // Nothing was written: no state dir, branch or worktree.
    assert!(!dir.join(".optimize").exists());
    assert_eq!(
        (
            git(&["status", "--porcelain", "--ignored"]),
            git(&["branch", "-a"]),
            git(&["worktree", "list"])
        ),
        before
    );
    // --write keeps the plan, and only that.
    optimize_in(&dir, &["plan", "optimize.yaml", "--write"]).expect_code(0);
    let written = json(&std::fs::read_to_string(dir.join(".optimize/demo/plan.json")).unwrap());
    assert_eq!(written["batch"], plan["batch"]);
    assert!(!dir.join(".optimize/demo/experiment-log.yaml").exists());
}

#[test]
fn runs_show_compare_and_search_cover_current_and_archived_runs() {
    let (_home, dir) = new_demo();
    optimize_in(&dir, &["optimize.yaml", "--quiet"]).expect_code(0);
    optimize_in(
        &dir,
        &[
            "optimize.yaml",
            "--quiet",
            "--fresh",
            "--max-iterations",
            "3",
        ],
    )
    .expect_code(0);

    let runs = json(&optimize_in(&dir, &["runs", "--json"]).expect_code(0).stdout);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let (old, new) = (&runs[0], &runs[1]);
    assert_eq!(old["archived"], true);
    assert_eq!(new["archived"], false);
    assert_eq!(old["spec"], "demo");
    assert_eq!(old["experiments"], 10);
    assert_eq!(new["experiments"], 3);
    assert_eq!(old["kept"], 3);
    assert_eq!(old["primary"]["name"], "runtime_ms");
    assert_eq!(old["primary"]["baseline"], 100.0);
    assert_eq!(old["primary"]["best"], 66.0);
    assert!(
        old["status"].as_str().unwrap().starts_with("complete"),
        "{old}"
    );
    assert!(
        new["status"].as_str().unwrap().contains("max_iterations"),
        "{new}"
    );
    let index = std::fs::read_to_string(dir.join(".optimize/index.csv")).unwrap();
    let rows: Vec<&str> = index.lines().collect();
    assert_eq!(rows.len(), 3, "{index}");
    assert!(rows[0].starts_with("spec,run_id,started_at"));
    assert!(rows[1].contains(old["run_id"].as_str().unwrap()) && rows[1].contains(",true,"));
    let text = optimize_in(&dir, &["runs"]).expect_code(0).stdout.clone();
    assert!(
        text.contains("(archived)") && text.contains("runtime_ms 100 -> 66"),
        "{text}"
    );

    // show: the current run by default, an archived one with --run.
    let shown = json(
        &optimize_in(&dir, &["show", "optimize.yaml", "1", "--json"])
            .expect_code(0)
            .stdout,
    );
    assert_eq!(shown["run_id"], new["run_id"]);
    assert_eq!(shown["hypothesis"], "Cache parsed inputs between rounds");
    assert_eq!(shown["outcome"], "kept");
    assert!(shown["diff"].as_str().unwrap().contains("src/"));
    assert!(!shown["files"].as_array().unwrap().is_empty());
    let old_id = old["run_id"].as_str().unwrap();
    let archived = json(
        &optimize_in(
            &dir,
            &["show", "optimize.yaml", "8", "--run", old_id, "--json"],
        )
        .expect_code(0)
        .stdout,
    );
    assert_eq!(archived["run_id"], old["run_id"]);
    assert_eq!(archived["outcome"], "error");
    let text = optimize_in(&dir, &["show", "optimize.yaml", "2"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(
        text.contains("Unroll the inner loop") && text.contains("runtime_ms"),
        "{text}"
    );
    optimize_in(&dir, &["show", "optimize.yaml", "99"])
        .expect_code(2)
        .stderr_has("no experiment #99");

    // compare: metrics side by side, outcomes, kept by both, the chart.
    let new_id = new["run_id"].as_str().unwrap();
    let cmp = json(
        &optimize_in(
            &dir,
            &["compare", "optimize.yaml", old_id, new_id, "--json"],
        )
        .expect_code(0)
        .stdout,
    );
    let runtime = &cmp["metrics"][0];
    assert_eq!(runtime["name"], "runtime_ms");
    assert_eq!(runtime["a"]["best"], 66.0);
    assert_eq!(runtime["a"]["baseline"], 100.0);
    assert_eq!(runtime["b"]["baseline"], 100.0);
    assert_eq!(cmp["a"]["experiments"], 10);
    assert_eq!(cmp["b"]["experiments"], 3);
    assert!(
        cmp["kept_by_both"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("Cache parsed inputs between rounds"))
    );
    let svg = std::fs::read_to_string(dir.join(".optimize/demo/compare.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains(old_id), "compare.svg");
    optimize_in(&dir, &["compare", "optimize.yaml", old_id, "19990101"])
        .expect_code(2)
        .stderr_has("has no run 19990101");

    // search: both runs, by hypothesis and by category, prefix words.
    let hits = json(
        &optimize_in(&dir, &["search", "unroll", "--json"])
            .expect_code(0)
            .stdout,
    );
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(hits.iter().any(|h| h["archived"] == true));
    assert!(hits.iter().all(|h| h["iteration"] == 2));
    let by_category = json(
        &optimize_in(&dir, &["search", "memo", "--json"])
            .expect_code(0)
            .stdout,
    );
    assert!(!by_category.as_array().unwrap().is_empty());
    // No match exits 1, as grep does.
    optimize_in(&dir, &["search", "nothing-like-this"])
        .expect_code(1)
        .stderr_has("no experiment matches");
    optimize_in(&dir, &["search", "nothing-like-this", "--json"])
        .expect_code(1)
        .stdout_has("[]");
    // The index follows the logs: a third run's experiments are found too.
    optimize_in(
        &dir,
        &[
            "optimize.yaml",
            "--quiet",
            "--fresh",
            "--max-iterations",
            "2",
        ],
    )
    .expect_code(0);
    let hits = json(
        &optimize_in(&dir, &["search", "cache", "parsed", "--json"])
            .expect_code(0)
            .stdout,
    );
    assert_eq!(hits.as_array().unwrap().len(), 3);
    assert_eq!(run_ids(&dir).len(), 3);
}

#[test]
fn a_model_gets_the_learnings_of_earlier_runs() {
    let repo = TestRepo::new(&[
        (
            "eval.sh",
            "#!/bin/sh\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1}\"\n",
        ),
        ("src/value.txt", "10\n"),
    ]);
    let spec = |source: &str, url: &str| {
        format!(
            r#"name: proj
description: make the score of the value file bigger
metric:
  primary: {{type: hard, name: score, direction: maximize}}
  degenerate_gates: [{{name: ok, check: "== 1"}}]
measurement: {{command: ./eval.sh}}
scope: {{mutable: [src/], immutable: [eval.sh]}}
execution: {{max_concurrent: 1}}
stopping: {{max_iterations: 1}}
hypotheses: {source}
llm: {{base_url: "{url}", model: m, api_key_env: TEST_KEY}}
"#
        )
    };
    repo.write(
        "optimize.yaml",
        &spec(
            "{source: file, file: hypotheses.yaml}",
            "http://127.0.0.1:9",
        ),
    );
    repo.write(
        "hypotheses.yaml",
        "- description: Triple the value file\n  apply: \"echo 30 > src/value.txt\"\n",
    );
    repo.commit_all("spec");
    repo.run(&["optimize.yaml"]).expect_code(0);

    let server = FakeLlm::start(|r, _| {
        if r.prompt().contains("You propose hypotheses") {
            Reply::Text("{\"hypotheses\": []}".into())
        } else {
            Reply::Status(400, None)
        }
    });
    repo.write("optimize.yaml", &spec("{source: llm}", &server.url));
    repo.commit_all("model");
    let out = repo
        .command(&["optimize.yaml", "--fresh"])
        .env("TEST_KEY", "k-123456")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prompt = server
        .requests()
        .iter()
        .map(|r| r.prompt())
        .find(|p| p.contains("You propose hypotheses"))
        .expect("the model was asked for hypotheses");
    assert!(prompt.contains("Learnings from earlier runs"), "{prompt}");
    assert!(prompt.contains("Triple the value file -> kept"), "{prompt}");
}

/// `optimize clean`: the branches of decided-against experiments go, in the
/// current run and archived ones; a dry run changes nothing; kept commits,
/// the best and deferred experiments stay.
#[test]
fn clean_prunes_decided_against_branches_and_never_a_kept_commit() {
    let (_home, dir) = new_demo();
    optimize_in(&dir, &["optimize.yaml", "--quiet"]).expect_code(0);
    optimize_in(&dir, &["run", "optimize.yaml", "--fresh", "--quiet"]).expect_code(0);
    let branches = |dir: &std::path::Path| -> Vec<String> {
        let out = std::process::Command::new("git")
            .args(["branch", "--format=%(refname:short)"])
            .current_dir(dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let before = branches(&dir);
    let best = std::process::Command::new("git")
        .args(["rev-parse", "optimize/demo"])
        .current_dir(&dir)
        .output()
        .unwrap()
        .stdout;
    let dry = optimize_in(&dir, &["clean", "optimize.yaml", "--dry-run"]);
    dry.expect_code(0)
        .stdout_has("would delete optimize-exp/demo/exp-");
    assert!(
        dry.stdout
            .contains("would delete optimize-archive-exp/demo/"),
        "{}",
        dry.stdout
    );
    assert_eq!(branches(&dir), before, "a dry run changes nothing");
    optimize_in(&dir, &["clean", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("deleted optimize-exp/demo/exp-");
    let after = branches(&dir);
    assert!(after.len() < before.len(), "{before:?} -> {after:?}");
    let log = optimize::log::ExperimentLog::load(&dir.join(".optimize/demo/experiment-log.yaml"))
        .unwrap();
    for e in &log.experiments {
        let branch = format!("optimize-exp/demo/exp-{:03}", e.iteration);
        let kept = e.outcome.is_kept() || e.outcome.to_string() == "deferred_needs_approval";
        assert_eq!(after.contains(&branch), kept, "{branch} ({})", e.outcome);
    }
    assert!(
        after
            .iter()
            .any(|b| b.starts_with("optimize-archive/demo/"))
    );
    let best_after = std::process::Command::new("git")
        .args(["rev-parse", "optimize/demo"])
        .current_dir(&dir)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(best, best_after);
    optimize_in(&dir, &["clean", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("nothing to prune");
}
