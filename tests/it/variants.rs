//! `implementer.variants` against a scripted model server: every variant
//! implements a hypothesis and the better one's commit is kept, both
//! recorded; with `selection: bandit` the run concentrates on the variant
//! whose implementations are kept.

use crate::common;
use crate::common::fake_llm;

use common::{Project, Run, SpecYaml, TestRepo, log_yaml, outcomes};
use fake_llm::{FakeLlm, Reply};

const EVAL: &str = "#!/bin/sh\ns=0\nfor f in src/b*.txt; do [ -f \"$f\" ] && s=$((s + $(cat \"$f\"))); done\necho \"{\\\"score\\\": $s, \\\"ok\\\": 1}\"\n";

/// The strong model writes a bonus of 5, the weak one a bonus of 0.
fn script(req: &fake_llm::Request) -> Reply {
    let p = req.prompt();
    let Some(n) = p.split("Add bonus file ").nth(1).and_then(|rest| {
        rest.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    }) else {
        return Reply::Status(400, None);
    };
    let bonus = if req.body["model"] == "m-strong" {
        5
    } else {
        0
    };
    Reply::Text(format!(
        "```\nsrc/b{n}.txt\n<<<<<<< SEARCH\n=======\n{bonus}\n>>>>>>> REPLACE\n```\n"
    ))
}

fn project(url: &str, implementer: &str, hypotheses: usize) -> TestRepo {
    project_with(
        url,
        implementer,
        hypotheses,
        "{mode: serial, max_concurrent: 1}",
    )
}

fn project_with(url: &str, implementer: &str, hypotheses: usize, execution: &str) -> TestRepo {
    let spec = SpecYaml::scored("var")
        .with("description", "bigger bonuses")
        .extra(&format!(
            "execution: {execution}\nstopping: {{plateau_iterations: 100}}\nmax_runner_up_merges_per_batch: 0\nllm:\n  base_url: {url}\n  model: m-weak\n  api_key_env: VARIANT_TEST_KEY\n  prices: {{m-weak: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}, m-strong: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}}}\nimplementer:\n{implementer}\n"
        ));
    let hyps: String = (1..=hypotheses)
        .map(|i| {
            format!(
                "- description: Add bonus file {i}\n  category: c{i}\n  files: [src/b{i}.txt]\n"
            )
        })
        .collect();
    let project = Project::scored("var")
        .eval(EVAL)
        .file("src/keep.txt", "x\n");
    project
        .without("src/value.txt")
        .hypotheses(&hyps)
        .spec(spec)
        .build()
}

fn run(repo: &TestRepo) -> Run {
    Run::from(
        repo.command(&["optimize.yaml"])
            .env("VARIANT_TEST_KEY", "k-variants-1")
            .output()
            .unwrap(),
    )
}

#[test]
fn variants_implement_at_once_in_slots_of_their_own() {
    use std::sync::{Arc, Condvar, Mutex};
    // Each edit request waits until both variants' requests have arrived:
    // run in turn, the first would wait in vain and fail.
    let arrived = Arc::new((Mutex::new(0usize), Condvar::new()));
    let server = FakeLlm::start(move |r, _| {
        let (count, wake) = &*arrived;
        let mut n = count.lock().unwrap();
        *n += 1;
        wake.notify_all();
        let (n, waited) = wake
            .wait_timeout_while(n, std::time::Duration::from_secs(20), |n| *n < 2)
            .unwrap();
        drop(n);
        if waited.timed_out() {
            return Reply::Status(500, None);
        }
        script(r)
    });
    let repo = project_with(
        &server.url,
        "  kind: llm\n  variants:\n    - {name: weak, model: m-weak}\n    - {name: strong, model: m-strong}\n",
        1,
        "{max_concurrent: 2}",
    );
    run(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "var");
    let e = &log["experiments"][0];
    assert_eq!(e["outcome"], "kept");
    assert_eq!(e["variant"], "strong");
    let variants = e["variants"].as_sequence().unwrap();
    assert!(
        variants.iter().all(|v| v["outcome"] == "measured"),
        "{variants:?}"
    );
    assert_ne!(
        variants[0]["commit"], variants[1]["commit"],
        "each on its own branch"
    );
}

#[test]
fn every_variant_implements_and_the_better_ones_commit_is_kept() {
    let server = FakeLlm::start(|r, _| script(r));
    let repo = project(
        &server.url,
        "  kind: llm\n  variants:\n    - {name: weak, model: m-weak}\n    - {name: strong, model: m-strong, temperature: 0.2}\n",
        2,
    );
    run(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "var");
    let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["kept", "kept"]);
    for e in log["experiments"].as_sequence().unwrap() {
        assert_eq!(e["variant"], "strong");
        let variants = e["variants"].as_sequence().unwrap();
        assert_eq!(variants.len(), 2);
        assert_eq!(variants[0]["name"], "weak");
        assert_eq!(variants[0]["model"], "m-weak");
        assert_eq!(variants[1]["temperature"].as_f64(), Some(0.2));
        assert!(variants.iter().all(|v| v["outcome"] == "measured"));
        assert!(variants.iter().all(|v| v["commit"].as_str().is_some()));
        assert!(
            variants
                .iter()
                .all(|v| v["llm_cost_usd"].as_f64().unwrap() > 0.0)
        );
        assert!(variants.iter().all(|v| v["tokens"].as_u64().unwrap() > 0));
        assert_eq!(e["commit"], variants[1]["commit"]);
    }
    assert_eq!(log["best"]["metrics"]["score"].as_f64(), Some(10.0));
    assert_eq!(repo.git(&["show", "optimize/var:src/b2.txt"]).trim(), "5");
    // Each variant's implementation stays inspectable on its own branch.
    assert_eq!(
        repo.git(&["show", "optimize-exp/var/exp-001-v-weak:src/b1.txt"])
            .trim(),
        "0"
    );
    // The strong variant's requests carried its temperature.
    let strong: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.body["model"] == "m-strong")
        .collect();
    assert!(!strong.is_empty());
    assert!(
        strong
            .iter()
            .all(|r| r.body["temperature"].as_f64() == Some(0.2))
    );
    let status = repo
        .run(&["status", "optimize.yaml"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(
        status.contains("strong: chosen 2 of 2 tried, kept 2"),
        "{status}"
    );
}

#[test]
fn a_bandit_concentrates_on_the_variant_that_gets_kept() {
    let server = FakeLlm::start(|r, _| script(r));
    let repo = project(
        &server.url,
        "  kind: llm\n  selection: bandit\n  per_hypothesis: 1\n  variants:\n    - {name: weak, model: m-weak}\n    - {name: strong, model: m-strong}\n",
        10,
    );
    run(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "var");
    let chosen: Vec<&str> = log["experiments"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["variant"].as_str().unwrap())
        .collect();
    assert_eq!(chosen.len(), 10);
    let strong = chosen.iter().filter(|v| **v == "strong").count();
    assert!(strong >= 7, "the bandit picked {chosen:?}");
    // One variant per hypothesis.
    assert!(
        log["experiments"]
            .as_sequence()
            .unwrap()
            .iter()
            .all(|e| e["variants"].as_sequence().unwrap().len() == 1)
    );
    let report = std::fs::read_to_string(repo.state_dir("var").join("report.md")).unwrap();
    assert!(report.contains("## Variants"), "{report}");
}

#[test]
fn a_replay_implements_again_with_another_model_and_never_moves_the_best() {
    let server = FakeLlm::start(|r, _| script(r));
    let repo = project(&server.url, "  kind: llm\n  model: m-weak\n", 2);
    run(&repo).expect_code(0);
    let before = log_yaml(repo.path(), "var");
    let got: Vec<String> = outcomes(&before).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["reverted", "reverted"]);
    let best_before = repo.git(&["rev-parse", "optimize/var"]);

    let out = Run::from(
        repo.command(&[
            "replay",
            "optimize.yaml",
            "1",
            "--model",
            "m-strong",
            "--temperature",
            "0.3",
        ])
        .env("VARIANT_TEST_KEY", "k-variants-1")
        .output()
        .unwrap(),
    );
    out.expect_code(0);
    assert!(
        out.stdout.contains("original #1") && out.stdout.contains("replay   #3"),
        "{}",
        out.stdout
    );
    let log = log_yaml(repo.path(), "var");
    let replay = &log["experiments"][2];
    assert_eq!(replay["replay_of"], 1);
    assert_eq!(replay["outcome"], "not_selected");
    assert_eq!(replay["hypothesis"], "Add bonus file 1");
    assert_eq!(replay["metrics"]["score"].as_f64(), Some(5.0));
    assert!(
        replay["learnings"]
            .as_str()
            .unwrap()
            .contains("beats the best")
    );
    assert!(
        replay["learnings"]
            .as_str()
            .unwrap()
            .contains("cherry-pick")
    );
    // The best and its branch did not move.
    assert_eq!(log["best"], before["best"]);
    assert_eq!(repo.git(&["rev-parse", "optimize/var"]), best_before);
    let last = server.requests().last().unwrap().clone();
    assert_eq!(last.body["model"], "m-strong");
    assert_eq!(last.body["temperature"].as_f64(), Some(0.3));
    // Nothing is left in the pool.
    let left = std::fs::read_dir(repo.state_dir("var").join("worktrees"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
    // A prompt of one's own, with the same placeholders.
    repo.write(
        ".optimize/custom-prompt.md",
        "MY OWN PROMPT for {{hypothesis}}\n",
    );
    Run::from(
        repo.command(&[
            "replay",
            "optimize.yaml",
            "2",
            "--prompt",
            ".optimize/custom-prompt.md",
        ])
        .env("VARIANT_TEST_KEY", "k-variants-1")
        .output()
        .unwrap(),
    )
    .expect_code(0);
    let last = server.requests().last().unwrap().prompt();
    assert!(
        last.starts_with("MY OWN PROMPT for Add bonus file 2"),
        "{last}"
    );
    // An experiment that does not exist is refused.
    Run::from(
        repo.command(&["replay", "optimize.yaml", "42"])
            .env("VARIANT_TEST_KEY", "k-variants-1")
            .output()
            .unwrap(),
    )
    .expect_code(2)
    .stderr_has("no experiment #42");
}
