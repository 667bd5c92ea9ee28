//! Numbers at the edges: every finite value is drawn and reported, a
//! non-finite one is refused where it comes in (the spec, the measurement's
//! output), and counters or a best edited out of range are refused on load
//! with their place.

use crate::common::{Project, SpecYaml, TestRepo, log_yaml, outcomes};

fn project(values: &[&str], extra: &str) -> TestRepo {
    let hyps: String = values[1..]
        .iter()
        .enumerate()
        .map(|(i, v)| format!("- {{description: value {i}, category: c{i}, apply: \"echo '{v}' > src/value.txt\"}}\n"))
        .collect();
    let spec = SpecYaml::scored("edge")
        .with("hypotheses", "{source: file, file: h.yaml}")
        .extra(&format!(
            "execution: {{mode: serial, max_concurrent: 1}}\n{extra}"
        ));
    Project::scored("edge")
        .file("src/value.txt", &format!("{}\n", values[0]))
        .file("h.yaml", &hyps)
        .spec(spec)
        .build()
}

#[test]
fn extreme_finite_metrics_run_report_and_compare_to_the_end() {
    let repo = project(&["50", "1.7e308", "-1e308", "1e-300"], "");
    repo.run(&["optimize.yaml"]).expect_code(0);
    repo.run(&["report", "optimize.yaml"]).expect_code(0);
    repo.run(&["run", "optimize.yaml", "--fresh"])
        .expect_code(0);
    let runs = repo.run(&["runs", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    repo.run(&["compare", "optimize.yaml", ids[0], ids[1]])
        .expect_code(0)
        .stdout_has("1.7e308");
    let svg = std::fs::read_to_string(repo.state_dir("edge").join("progress.svg")).unwrap();
    assert!(svg.contains("<svg"), "a chart was drawn");
}

#[test]
fn non_finite_spec_numbers_are_refused_with_their_place() {
    let repo = project(&["1"], "");
    for bad in [".nan", ".inf", "1e400"] {
        let spec = SpecYaml::scored("edge")
            .with("hypotheses", "{source: file, file: h.yaml}")
            .with(
                "measurement",
                &format!("{{command: ./eval.sh, stability: {{noise_threshold: {bad}}}}}"),
            )
            .render();
        repo.write("bad.yaml", &spec);
        repo.run(&["validate", "--no-measure", "bad.yaml"])
            .expect_code(2)
            .stderr_has("bad.yaml:")
            .stderr_has("measurement.stability.noise_threshold")
            .stderr_has("not a finite number");
    }
    for gate in ["== NaN", "== 1e999", ">= inf"] {
        let spec = std::fs::read_to_string(repo.path().join("optimize.yaml"))
            .unwrap()
            .replace("check: \"== 1\"", &format!("check: \"{gate}\""));
        repo.write("bad.yaml", &spec);
        repo.run(&["validate", "--no-measure", "bad.yaml"])
            .expect_code(2)
            .stderr_has("metric.degenerate_gates[0].check")
            .stderr_has("not a finite number");
    }
}

#[test]
fn non_finite_measured_values_are_named_by_key() {
    let repo = project(&["1", "NaN", "Infinity", "1e400"], "");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "edge");
    let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["error", "error", "error"]);
    for (i, v) in ["NaN", "Infinity", "1e400"].iter().enumerate() {
        let message = log["experiments"][i]["error_message"].as_str().unwrap();
        assert!(
            message.contains(&format!("\"score\" is {v}, not a finite number")),
            "{message}"
        );
    }
}

#[test]
fn a_counter_or_a_best_edited_out_of_range_is_refused_and_nothing_moves() {
    let repo = project(&["1", "2", "3"], "");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let path = repo.state_dir("edge").join("experiment-log.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let branch = repo.git(&["rev-parse", "optimize/edge"]);

    let wrapped = text.replacen("- iteration: 2\n", "- iteration: 18446744073709551615\n", 1);
    assert_ne!(wrapped, text);
    std::fs::write(&path, &wrapped).unwrap();
    repo.run(&["optimize.yaml", "--max-iterations", "5"])
        .expect_code(1)
        .stderr_has("experiments[1].iteration: 18446744073709551615 is out of range");

    let log = log_yaml(repo.path(), "edge");
    let _ = log;
    let first_kept = text
        .lines()
        .skip_while(|l| !l.starts_with("- iteration: 1"))
        .find_map(|l| l.trim().strip_prefix("commit: "))
        .expect("the first keep's commit")
        .trim_matches('\'')
        .to_string();
    let best_line = text
        .lines()
        .skip_while(|l| *l != "best:")
        .find(|l| l.trim_start().starts_with("commit:"))
        .unwrap()
        .to_string();
    let edited = text.replacen(&best_line, &format!("  commit: {first_kept}"), 1);
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).unwrap();
    repo.run(&["optimize.yaml", "--max-iterations", "5"])
        .expect_code(1)
        .stderr_has("best.commit")
        .stderr_has("contradicts the entries: the last kept experiment is #2");
    assert_eq!(
        repo.git(&["rev-parse", "optimize/edge"]),
        branch,
        "the branch stays"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        edited,
        "the log stays"
    );
}
