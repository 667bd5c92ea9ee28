//! Held-out confirmation (`measurement.holdout`): a would-be keep is
//! measured on cases the selection never reads, beside the best, and kept
//! only when that pair agrees; what it disagrees with is recorded as
//! decide.mjs decides it.

use crate::common;
use common::Project;
use common::{log_yaml, outcomes};

/// `eval.sh` scores the selection cases (`src/value.txt`), `holdout.sh` the
/// held-out ones (`src/general.txt`); a change may help one and not the other.
const HOLDOUT_EVAL: &str = "#!/bin/sh\nok=1; [ -e src/broken ] && ok=0\necho \"{\\\"score\\\": $(cat src/general.txt), \\\"ok\\\": $ok}\"\n";

fn project() -> Project {
    with_holdout(Project::scored("held"), "serial", 1)
        .file("holdout.sh", HOLDOUT_EVAL)
        .file("src/general.txt", "10\n")
}

/// `./holdout.sh` as the holdout (immutable, as `eval.sh`), `mode` with
/// `slots` implementers.
fn with_holdout(project: Project, mode: &str, slots: u32) -> Project {
    project
        .spec_key(
            "measurement",
            "{command: ./eval.sh, timeout_seconds: 20, holdout: {command: ./holdout.sh}}",
        )
        .spec_key(
            "scope",
            "{mutable: [src/], immutable: [eval.sh, holdout.sh]}",
        )
        .spec_extra(&format!(
            "execution: {{mode: {mode}, max_concurrent: {slots}}}\nstopping: {{plateau_iterations: 100}}\n"
        ))
}

#[test]
fn a_gain_is_kept_only_when_the_holdout_confirms_it() {
    let repo = project()
        .applies([
            (
                "learn the selection cases by heart",
                "echo 15 > src/value.txt",
            ),
            (
                "overfit at the holdout's expense",
                "echo 16 > src/value.txt && echo 8 > src/general.txt",
            ),
            (
                "break the held-out cases",
                "echo 17 > src/value.txt && touch src/broken",
            ),
            (
                "generalize",
                "echo 12 > src/value.txt && echo 13.5 > src/general.txt",
            ),
        ])
        .build();
    repo.run(&["optimize.yaml", "--quiet"]).expect_code(0);
    let log = log_yaml(repo.path(), "held");
    let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["inconclusive", "reverted", "degenerate", "kept"]);
    let entries = log["experiments"].as_sequence().unwrap();
    let holdout = |i: usize| &entries[i]["holdout"];
    let reasons = [
        "holdout did not confirm the selection gain",
        "holdout regressed score",
        "holdout degenerate gate failed: ok",
    ];
    for (i, reason) in reasons.iter().enumerate() {
        assert_eq!(holdout(i)["agrees"], false, "entry {i}");
        assert_eq!(holdout(i)["reason"].as_str(), Some(*reason), "entry {i}");
        let learnings = entries[i]["learnings"].as_str().unwrap();
        assert!(learnings.contains(reason), "{learnings}");
    }
    assert_eq!(holdout(0)["decision"], "inconclusive");
    assert_eq!(holdout(1)["decision"], "revert");
    assert_eq!(holdout(2)["decision"], "degenerate");
    assert_eq!(holdout(3)["agrees"], true);
    assert_eq!(holdout(3)["decision"], "keep");
    assert_eq!(
        holdout(3)["candidate"]["metrics"]["score"]["aggregate"].as_f64(),
        Some(13.5)
    );
    assert_eq!(
        holdout(3)["baseline"]["metrics"]["score"]["aggregate"].as_f64(),
        Some(10.0)
    );
    // The best the candidate would replace was measured beside it.
    assert_ne!(
        holdout(3)["reference_commit"],
        holdout(3)["candidate_commit"]
    );
    assert_eq!(log["best"]["metrics"]["score"].as_f64(), Some(12.0));

    let report = std::fs::read_to_string(repo.path().join(".optimize/held/report.md")).unwrap();
    assert!(report.contains("## Held-out confirmation"), "{report}");
    assert!(
        report.contains("| 4 | generalize | kept | 10 -> 13.5 | confirmed |"),
        "{report}"
    );
    assert!(
        report.contains("revert: holdout regressed score"),
        "{report}"
    );

    // Holdout values stay out of what the next hypotheses are drawn from.
    let digest =
        std::fs::read_to_string(repo.path().join(".optimize/held/strategy-digest.md")).unwrap();
    assert!(!digest.contains("13.5"), "{digest}");
    for e in entries {
        assert!(!e["learnings"].as_str().unwrap_or("").contains("13.5"));
    }
}

#[test]
fn without_a_holdout_nothing_extra_is_measured_or_recorded() {
    let repo = Project::scored("plain")
        .spec_extra("execution: {mode: serial, max_concurrent: 1}\n")
        .applies([("raise", "echo 12 > src/value.txt")])
        .build();
    repo.run(&["optimize.yaml", "--quiet"]).expect_code(0);
    let log = log_yaml(repo.path(), "plain");
    assert!(log["experiments"][0]["holdout"].is_null());
    assert_eq!(log["experiments"][0]["outcome"], "kept");
    let report = std::fs::read_to_string(repo.path().join(".optimize/plain/report.md")).unwrap();
    assert!(
        report.contains("No holdout was configured: every gain above was selected and is reported on the same cases."),
        "{report}"
    );
}

#[test]
fn a_runner_up_is_confirmed_against_the_best_it_joins() {
    let sum = |a: &str, b: &str, gate: &str| {
        format!(
            "#!/bin/sh\necho \"{{\\\"score\\\": $(( $(cat src/{a}) + $(cat src/{b}) )), \\\"ok\\\": {gate}}}\"\n"
        )
    };
    let repo = with_holdout(Project::scored("joined"), "parallel", 2)
        .eval(&sum("a.txt", "b.txt", "1"))
        .file("holdout.sh", &sum("ha.txt", "hb.txt", "1"))
        .file("src/a.txt", "1\n")
        .file("src/b.txt", "1\n")
        .file("src/ha.txt", "1\n")
        .file("src/hb.txt", "1\n")
        .applies([
            ("generalize a", "echo 3 > src/a.txt && echo 3 > src/ha.txt"),
            ("overfit b", "echo 3 > src/b.txt"),
        ])
        .build();
    repo.run(&["optimize.yaml", "--quiet"]).expect_code(0);
    let log = log_yaml(repo.path(), "joined");
    let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        got,
        ["kept", "runner_up_reverted"],
        "{}",
        serde_yaml::to_string(&log).unwrap()
    );
    let second = &log["experiments"][1];
    assert_eq!(second["holdout"]["agrees"], false);
    // Confirmed against the best it would join: experiment 1's commit.
    assert_eq!(
        second["holdout"]["reference_commit"],
        log["experiments"][0]["commit"]
    );
    let learnings = second["learnings"].as_str().unwrap();
    assert!(
        learnings.contains("on the holdout, holdout did not confirm the selection gain"),
        "{learnings}"
    );
    assert_eq!(log["best"]["metrics"]["score"].as_f64(), Some(4.0));
}

/// The model proposes one overfit change: the selection cases rise, the
/// held-out ones (scored 731 on every tree, a number found nowhere else) do not.
fn overfit_by_a_model(with_holdout: bool) -> (common::fake_llm::FakeLlm, common::TestRepo) {
    use common::fake_llm::{FakeLlm, Reply};
    let server = FakeLlm::start(|r, _| {
        let p = r.prompt();
        if p.contains("You propose hypotheses") {
            if p.contains("Memorize the selection cases") {
                Reply::Text("{\"hypotheses\": []}".into())
            } else {
                Reply::Text("{\"hypotheses\": [{\"description\": \"Memorize the selection cases\", \"category\": \"c\", \"priority\": \"high\", \"required_deps\": [], \"files\": [\"src/value.txt\"]}]}".into())
            }
        } else if p.contains("An experiment of an optimization run just finished") {
            Reply::Text("Memorizing raised the selection score.".into())
        } else {
            Reply::Text(
                "```\nsrc/value.txt\n<<<<<<< SEARCH\n10\n=======\n15\n>>>>>>> REPLACE\n```\n"
                    .into(),
            )
        }
    });
    let measurement = if with_holdout {
        "{command: ./eval.sh, timeout_seconds: 20, holdout: {command: ./holdout.sh}}"
    } else {
        "{command: ./eval.sh, timeout_seconds: 20}"
    };
    let repo = Project::scored("overfit")
        .file("holdout.sh", HOLDOUT_EVAL)
        .file("src/general.txt", "731\n")
        .spec(
            common::SpecYaml::scored("overfit")
                .with("measurement", measurement)
                .with("scope", "{mutable: [src/], immutable: [eval.sh, holdout.sh]}")
                .without("hypotheses")
                .extra(&format!(
                    "execution: {{max_concurrent: 1}}\nstopping: {{max_iterations: 2}}\nllm:\n  base_url: {}\n  model: m\n  api_key_env: HOLDOUT_TEST_KEY\n",
                    server.url
                )),
        )
        .build();
    (server, repo)
}

#[test]
fn an_overfit_change_is_kept_without_a_holdout_and_withheld_with_one() {
    for (with_holdout, outcome) in [(false, "kept"), (true, "inconclusive")] {
        let (server, repo) = overfit_by_a_model(with_holdout);
        common::Run::from(
            repo.command(&["optimize.yaml", "--quiet"])
                .env("HOLDOUT_TEST_KEY", "k-holdout-123")
                .output()
                .unwrap(),
        )
        .expect_code(0);
        let log = log_yaml(repo.path(), "overfit");
        assert_eq!(
            log["experiments"][0]["outcome"], outcome,
            "holdout: {with_holdout}"
        );
        if with_holdout {
            let held = &log["experiments"][0]["holdout"];
            assert_eq!(
                held["candidate"]["metrics"]["score"]["aggregate"].as_f64(),
                Some(731.0)
            );
        }
        // No request to the model ever carried a held-out value.
        let requests = server.requests();
        assert!(requests.len() >= 3, "{}", requests.len());
        for r in requests {
            assert!(!r.prompt().contains("731"), "{}", r.prompt());
        }
        let digest =
            std::fs::read_to_string(repo.path().join(".optimize/overfit/strategy-digest.md"))
                .unwrap();
        assert!(!digest.contains("731"), "{digest}");
    }
}
