//! A judge primary: items sampled with the seed (stratified, singletons with
//! their own rubric), judged in batches by the fake model server, averaged,
//! compared with minimum_improvement, costs totalled, and the cost cap
//! stopping the run.

use crate::common;
use crate::common::fake_llm;

use common::{Run, TestRepo, log_yaml, outcomes};
use fake_llm::{FakeLlm, Reply};

const EVAL: &str = r#"#!/bin/sh
q=$(cat ../../src/quality.txt)
: > judge-items.jsonl
for i in 1 2 3 4 5 6; do
  echo "{\"id\": \"s$i\", \"bucket\": \"short\", \"text\": \"short answer $i at quality $q\"}" >> judge-items.jsonl
  echo "{\"id\": \"l$i\", \"bucket\": \"long\", \"text\": \"long answer $i at quality $q\"}" >> judge-items.jsonl
done
for i in 1 2 3; do
  echo "{\"id\": \"x$i\", \"singleton\": true, \"text\": \"lonely $i at quality $q\"}" >> judge-items.jsonl
done
echo '{"result_count": 15, "latency_ms": 3}'
"#;

fn project(url: &str, seed: u64, cap: f64) -> TestRepo {
    let repo = TestRepo::new(&[("tools/eval/eval.sh", EVAL), ("src/quality.txt", "2\n")]);
    repo.write(
        "optimize.yaml",
        &format!(
            r#"name: judged
description: better answers
metric:
  primary: {{type: judge, name: mean_score, direction: maximize}}
  degenerate_gates: [{{name: result_count, check: ">= 5"}}]
  diagnostics: [{{name: latency_ms}}]
  judge:
    rubric: "Rate 1-5. Also report ambiguous (0 or 1)."
    scoring: {{primary: mean_score, secondary: [ambiguous]}}
    model: haiku
    sample_size: 4
    stratification: [{{bucket: short, count: 2}}, {{bucket: long, count: 2}}]
    singleton_sample: 1
    singleton_rubric: "SINGLETON: should this item have been grouped? 1-5"
    sample_seed: {seed}
    batch_size: 2
    minimum_improvement: 0.5
    max_total_cost_usd: {cap}
measurement: {{command: "sh eval.sh", working_directory: tools/eval}}
scope: {{mutable: [src/], immutable: [tools/eval/]}}
execution: {{mode: serial, max_concurrent: 1}}
hypotheses: {{source: file, file: hypotheses.yaml}}
llm: {{base_url: "{url}", api_key_env: JUDGE_TEST_KEY}}
"#
        ),
    );
    repo.write(
        "hypotheses.yaml",
        "- description: Write better answers\n  apply: \"echo 4 > src/quality.txt\"\n- description: Reword slightly\n  apply: \"echo 4 > src/quality.txt && echo x > src/note.txt\"\n",
    );
    repo.commit_all("judged project");
    repo
}

/// Scores every item by the quality written in its text.
fn judge_reply(req: &fake_llm::Request) -> Reply {
    let prompt = req.prompt();
    let mut scores = Vec::new();
    for (i, part) in prompt.split("## Item ").skip(1).enumerate() {
        let q: f64 = part
            .split("at quality ")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0.0);
        scores.push(format!(
            "{{\"item\": {i}, \"mean_score\": {q}, \"ambiguous\": 0}}"
        ));
    }
    Reply::Text(format!("{{\"scores\": [{}]}}", scores.join(", ")))
}

/// The run of a judged project, with the judge's key in the environment.
fn run_judged(repo: &TestRepo) -> Run {
    Run::from(
        repo.command(&["optimize.yaml"])
            .env("JUDGE_TEST_KEY", "k-judge-123456")
            .output()
            .unwrap(),
    )
}

fn sampled_ids(server: &FakeLlm, first_calls: usize) -> Vec<String> {
    sampled_ids_in(server, 0..first_calls)
}

/// The ids of the items the calls in `calls` sent to the judge, sorted.
fn sampled_ids_in(server: &FakeLlm, calls: std::ops::Range<usize>) -> Vec<String> {
    let mut ids: Vec<String> = server.requests()[calls]
        .iter()
        .flat_map(|r| {
            r.prompt()
                .split("\"id\":\"")
                .skip(1)
                .map(|s| s.split('"').next().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_judged_run_with_stratified_reproducible_sampling() {
    let server = FakeLlm::start(|r, _| judge_reply(r));
    let repo = project(&server.url, 42, 5.0);
    run_judged(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "judged");
    assert_eq!(
        outcomes(&log)
            .into_iter()
            .map(|(_, o)| o)
            .collect::<Vec<_>>(),
        ["kept", "reverted"],
        "{}",
        serde_yaml::to_string(&log).unwrap()
    );
    assert_eq!(log["baseline"]["judge"]["mean_score"].as_f64(), Some(2.0));
    assert_eq!(
        log["baseline"]["judge"]["singleton_mean_score"].as_f64(),
        Some(2.0)
    );
    assert_eq!(log["baseline"]["judge"]["sample_seed"], 42);
    assert_eq!(log["best"]["judge"]["mean_score"].as_f64(), Some(4.0));
    assert_eq!(log["experiments"][0]["primary_delta"], "+2");
    // 3 calls per judged tree (two batches of 2, one singleton batch), haiku
    // prices; the second experiment's output is the first's, so the judge
    // cache scores it without a call.
    assert_eq!(server.requests().len(), 6);
    let per_call = (1000.0 * 0.8 + 200.0 * 4.0) / 1e6;
    assert!((log["best"]["total_judge_cost_usd"].as_f64().unwrap() - 6.0 * per_call).abs() < 1e-9);
    let second = &log["experiments"][1]["judge"];
    assert_eq!(second["judge_cost_usd"].as_f64(), Some(0.0));
    assert_eq!(second["mean_score"].as_f64(), Some(4.0));
    let items = second["items"].as_sequence().unwrap();
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(
        |i| i["cached"] == true && i["content_hash"].as_str().unwrap().starts_with("fnv1a64:")
    ));
    let cache =
        std::fs::read_to_string(repo.path().join(".optimize/judged/judge-cache.yaml")).unwrap();
    assert_eq!(
        cache.matches("fnv1a64:").count(),
        10,
        "five items of each quality"
    );
    assert!(
        (log["experiments"][0]["judge"]["judge_cost_usd"]
            .as_f64()
            .unwrap()
            - 3.0 * per_call)
            .abs()
            < 1e-9
    );
    assert!(server.requests()[2].prompt().contains("SINGLETON"));
    assert!(server.requests().iter().all(|r| r.body["model"] == "haiku"));

    // The baseline's sample: two of each bucket and one singleton, the same for the same seed.
    let a = sampled_ids(&server, 3);
    assert_eq!(a.iter().filter(|i| i.starts_with('s')).count(), 2);
    assert_eq!(a.iter().filter(|i| i.starts_with('l')).count(), 2);
    assert_eq!(a.iter().filter(|i| i.starts_with('x')).count(), 1);
    let again = FakeLlm::start(|r, _| judge_reply(r));
    let repo2 = project(&again.url, 42, 5.0);
    run_judged(&repo2).expect_code(0);
    assert_eq!(
        sampled_ids(&again, 3),
        a,
        "the same seed samples the same items"
    );
    let other = FakeLlm::start(|r, _| judge_reply(r));
    let repo3 = project(&other.url, 7, 5.0);
    run_judged(&repo3).expect_code(0);
    assert_ne!(
        sampled_ids(&other, 3),
        a,
        "another seed samples other items"
    );
}

#[test]
fn the_cost_cap_stops_judging_and_the_run() {
    let server = FakeLlm::start(|r, _| judge_reply(r));
    let repo = project(&server.url, 42, 0.006);
    let run = run_judged(&repo);
    run.expect_code(0)
        .stdout_has("finished: the judge budget (judge.max_total_cost_usd) is spent");
    let log = log_yaml(repo.path(), "judged");
    // The interrupted experiment is not recorded; it stays in the backlog.
    assert_eq!(outcomes(&log).len(), 0);
    assert_eq!(log["hypothesis_backlog"].as_sequence().unwrap().len(), 2);
    assert!(log["best"]["total_judge_cost_usd"].as_f64().unwrap() >= 0.006);
    assert_eq!(
        server.requests().len(),
        4,
        "no judge call after the cap was reached"
    );
}

/// Parallel experiments share the cap: once it is reached no judge call
/// starts, so the run overshoots by at most the calls already in flight
/// (one per experiment), never by a whole experiment's judging each.
#[test]
fn parallel_experiments_share_the_judge_budget() {
    let server = FakeLlm::start(|r, _| judge_reply(r));
    // The baseline's 3 calls cost $0.0048 ($0.0016 each at haiku's price);
    // the cap leaves room for two more.
    let repo = project(&server.url, 42, 0.0079);
    let spec = repo.read("optimize.yaml").replace(
        "execution: {mode: serial, max_concurrent: 1}",
        "execution: {mode: parallel, max_concurrent: 2}",
    );
    repo.write("optimize.yaml", &spec);
    repo.commit_all("parallel");
    let run = run_judged(&repo);
    run.expect_code(0)
        .stdout_has("finished: the judge budget (judge.max_total_cost_usd) is spent");
    let calls_after_baseline = server.requests().len() - 3;
    // Two calls fit under the cap; at most one more was in flight when the
    // other experiment reached it. Per-experiment budgets would allow four.
    assert!(
        (2..=3).contains(&calls_after_baseline),
        "{calls_after_baseline} judge calls after the baseline"
    );
    let log = log_yaml(repo.path(), "judged");
    let spent = log["best"]["total_judge_cost_usd"].as_f64().unwrap();
    // Past the cap by at most the calls in flight: one per experiment.
    assert!(spent <= 0.0079 + 2.0 * 0.0016 + 1e-9, "spent {spent}");
}

#[test]
fn a_confirmation_seed_confirms_a_keep_on_another_judge_sample() {
    let server = FakeLlm::start(|r, _| judge_reply(r));
    let repo = project(&server.url, 42, 5.0);
    let spec = std::fs::read_to_string(repo.path().join("optimize.yaml")).unwrap();
    repo.write(
        "optimize.yaml",
        &spec.replace(
            "    sample_seed: 42\n",
            "    sample_seed: 42\n    confirmation_seed: 7\n",
        ),
    );
    repo.write(
        "hypotheses.yaml",
        "- description: Write better answers\n  apply: \"echo 4 > src/quality.txt\"\n",
    );
    repo.commit_all("confirm on another sample");
    run_judged(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "judged");
    let entry = &log["experiments"][0];
    assert_eq!(
        entry["outcome"],
        "kept",
        "{}",
        serde_yaml::to_string(&log).unwrap()
    );
    let holdout = &entry["holdout"];
    assert_eq!(holdout["agrees"], true);
    let score = |side: &str| {
        let value = &holdout[side]["metrics"]["mean_score"];
        value.as_f64().or_else(|| value["aggregate"].as_f64())
    };
    assert_eq!(
        (score("baseline"), score("candidate")),
        (Some(2.0), Some(4.0))
    );
    // Baseline and candidate (3 calls each), then both sides of the holdout.
    assert_eq!(server.requests().len(), 12);
    let selection = sampled_ids(&server, 2);
    let confirmation = sampled_ids_in(&server, 9..11);
    assert_ne!(
        selection, confirmation,
        "the confirmation draws another sample"
    );
}

#[test]
fn the_judges_feedback_is_kept_per_item_and_recurring_themes_reach_the_digest() {
    let server = FakeLlm::start(|r, _| {
        let Reply::Text(text) = judge_reply(r) else {
            unreachable!()
        };
        Reply::Text(text.replace(
            ", \"ambiguous\": 0}",
            ", \"ambiguous\": 0, \"feedback\": \"Too vague for a reader, 2 steps missing\"}",
        ))
    });
    let repo = project(&server.url, 42, 5.0);
    run_judged(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "judged");
    let items = log["best"]["judge"]["items"].as_sequence().unwrap();
    assert!(
        items
            .iter()
            .all(|i| i["feedback"] == "Too vague for a reader, 2 steps missing")
    );
    let digest =
        std::fs::read_to_string(repo.path().join(".optimize/judged/strategy-digest.md")).unwrap();
    assert!(digest.contains("## Failure themes"), "{digest}");
    assert!(
        digest.contains("- 5 times, e.g. "),
        "four sampled items and one singleton: {digest}"
    );
}
