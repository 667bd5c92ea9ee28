//! `comparison.method: statistical` in the loop: candidates sampled in
//! rounds beside the incumbent, kept only when the change is clear, every
//! sample and the interval recorded, the incumbent's samples refining the
//! best.

use crate::common;

use common::{Project, SpecYaml, TestRepo, log_yaml, outcomes};

/// runtime_ms is src/value.txt times 1.05 when src/slow exists, with a 2%
/// wobble that follows the run number (the same pattern on every tree).
const EVAL: &str = r#"#!/bin/sh
v=$(cat src/value.txt)
[ -f src/slow ] && v=$((v * 105 / 100))
case $((OPTIMIZE_RUN % 5)) in 0) w=1.00;; 1) w=1.02;; 2) w=0.98;; 3) w=1.01;; *) w=0.99;; esac
awk -v v="$v" -v w="$w" 'BEGIN { printf "{\"runtime_ms\": %.4f, \"ok\": 1}\n", v * w }'
"#;

const HYPOTHESES: &str = r#"
- description: Halve the work
  category: algorithm
  apply: "echo 90 > src/value.txt"
- description: Rename a variable
  category: style
  apply: "echo renamed > src/note.txt"
- description: Add a sleep
  category: io
  apply: "touch src/slow"
"#;

/// The project with `method: statistical` (threshold 1%, at most 8 samples).
fn project(extra: &str, hypotheses: &str) -> TestRepo {
    let spec = SpecYaml::scored("stat")
        .with("description", "faster")
        .with(
            "metric",
            "{primary: {type: hard, name: runtime_ms, direction: minimize}, degenerate_gates: [{name: ok, check: \"== 1\"}]}",
        )
        .with(
            "measurement",
            "\n  command: \"./eval.sh\"\n  stability:\n    comparison: {method: statistical, relative_threshold: 0.01, max_samples: 8}",
        )
        .with("hypotheses", "{source: file, file: h.yaml}")
        .extra(extra);
    Project::scored("stat")
        .eval(EVAL)
        .file("src/value.txt", "100\n")
        .file("h.yaml", hypotheses)
        .spec(spec)
        .build()
}

#[test]
fn a_clear_gain_is_kept_and_noise_and_slowdowns_are_not() {
    let repo = project("execution: {max_concurrent: 3}\n", HYPOTHESES);
    repo.run(&["optimize.yaml", "--quiet"])
        .expect_code(0)
        .stdout_has("kept 1, reverted 2");
    let log = log_yaml(repo.path(), "stat");
    assert_eq!(
        outcomes(&log),
        [
            ("Halve the work".to_string(), "kept".to_string()),
            ("Rename a variable".to_string(), "reverted".to_string()),
            ("Add a sleep".to_string(), "reverted".to_string()),
        ]
    );
    let entries = log["experiments"].as_sequence().unwrap();
    let kept = &entries[0];
    assert_eq!(kept["stat_verdict"], "keep");
    let n = kept["sample_count"].as_u64().unwrap();
    assert!((3..=8).contains(&n), "sampled {n} times");
    assert_eq!(
        kept["samples"]["runtime_ms"].as_sequence().unwrap().len() as u64,
        n
    );
    let ci = kept["primary_ci"].as_sequence().unwrap();
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(
        lo < -5.0 && hi < 0.0,
        "the interval of the change: [{lo}, {hi}]"
    );
    assert!(kept["confidence"].as_f64().unwrap() > 0.95);
    for e in &entries[1..] {
        assert_eq!(e["stat_verdict"], "futile", "{e:?}");
        assert!(
            e["learnings"]
                .as_str()
                .unwrap()
                .contains("clearly not better")
        );
    }
    // The best is re-estimated from every sample it has (as the kept candidate).
    assert_eq!(
        log["best"]["samples"]["runtime_ms"]
            .as_sequence()
            .unwrap()
            .len() as u64,
        n
    );
    // Every run of the measurement command is counted: the baseline, three
    // candidates and the incumbent beside them.
    let status = repo.run(&["status", "optimize.yaml", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let measured = v["measurements"].as_u64().unwrap();
    let candidate_samples: u64 = entries
        .iter()
        .map(|e| e["sample_count"].as_u64().unwrap())
        .sum();
    assert!(
        measured > 1 + candidate_samples,
        "{measured} measurements include the incumbent's re-measurements"
    );
}

#[test]
fn the_incumbents_re_measurements_refine_the_best() {
    let repo = project(
        "",
        "- description: Rename a variable\n  apply: \"echo renamed > src/note.txt\"\n",
    );
    repo.run(&["optimize.yaml", "--quiet"]).expect_code(0);
    let log = log_yaml(repo.path(), "stat");
    assert_eq!(log["experiments"][0]["outcome"], "reverted");
    // The baseline's one run, then the incumbent beside the candidate.
    let samples = log["best"]["samples"]["runtime_ms"].as_sequence().unwrap();
    assert!(samples.len() > 3, "{} samples", samples.len());
    let values: Vec<f64> = samples.iter().map(|v| v.as_f64().unwrap()).collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    assert_eq!(log["best"]["metrics"]["runtime_ms"].as_f64(), Some(median));
}

/// One definition of a change everywhere: with nothing kept the run's
/// result is its baseline (not the incumbent re-measured on busy cores),
/// and each entry's delta in `show`, its learnings and the wrap-up is the
/// one its entry records.
#[test]
fn nothing_kept_means_no_change_and_every_view_gives_an_entry_the_same_delta() {
    // Slower on every call, as contended samples are: the re-measured
    // incumbent drifts away from the baseline measured first.
    let drifting = r#"#!/bin/sh
n=$(cat "$OPTIMIZE_STATE_DIR/calls" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$OPTIMIZE_STATE_DIR/calls"
v=$(cat src/value.txt)
awk -v v="$v" -v n="$n" 'BEGIN { printf "{\"runtime_ms\": %.4f, \"ok\": 1}\n", v * (1 + n / 50) }'
"#;
    let repo = project(
        "execution: {max_concurrent: 2}\n",
        "- {description: Rename a variable, category: style, apply: 'echo a > src/note.txt'}\n- {description: Rename another, category: naming, apply: 'echo b > src/other.txt'}\n",
    );
    repo.write("eval.sh", drifting);
    repo.commit_all("drifting");
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(0);
    let log = log_yaml(repo.path(), "stat");
    assert!(
        outcomes(&log).iter().all(|(_, o)| o != "kept"),
        "{:?}",
        outcomes(&log)
    );
    let status = repo.run(&["status", "optimize.yaml", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        json["primary"]["best"], json["primary"]["baseline"],
        "{json}"
    );
    assert_eq!(json["primary"]["delta"].as_f64(), Some(0.0), "{json}");
    assert!(run.stdout.contains("(+0)  (primary)"), "{}", run.stdout);
    for e in log["experiments"].as_sequence().unwrap() {
        let delta = e["primary_delta"].as_str().unwrap();
        let learnings = e["learnings"].as_str().unwrap();
        assert!(
            learnings.contains(&format!("({delta})")),
            "{delta} vs {learnings}"
        );
        let it = e["iteration"].as_u64().unwrap().to_string();
        repo.run(&["show", "optimize.yaml", &it])
            .expect_code(0)
            .stdout_has(&format!("({delta})"));
    }
}
