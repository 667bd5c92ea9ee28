//! Errors that say what is wrong and where, for every file the tool reads.

use crate::common::{Project, SpecYaml, TestRepo, hard_spec};

fn project() -> TestRepo {
    Project::scored("msg")
        .file("src/value.txt", "1\n")
        .applies([("two", "echo 2 > src/value.txt")])
        .build()
}

#[test]
fn a_log_field_of_a_flattened_record_is_named_with_its_line() {
    let repo = project();
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = repo.state_dir("msg").join("experiment-log.yaml");
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("measurements:"))
        .expect("the log counts measurements")
        + 1;
    let edited: String = text
        .lines()
        .map(|l| {
            if l.starts_with("measurements:") {
                "measurements: -1"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&log, edited).unwrap();
    repo.run(&["status", "optimize.yaml"])
        .expect_code(1)
        .stderr_has(&format!(
            "experiment-log.yaml:{line}:15: the experiment log is not valid: measurements: invalid value"
        ));
}

#[test]
fn approvals_errors_have_a_line() {
    let repo = project();
    repo.run(&["optimize.yaml"]).expect_code(0);
    repo.write(
        ".optimize/msg/approvals.yaml",
        "approved: [a]\ndenied: {b: 1}\n",
    );
    repo.run(&["approve", "optimize.yaml", "serde"])
        .expect_code(1)
        .stderr_has("approvals.yaml:2:9: denied:");
}

#[test]
fn invalid_utf8_is_placed_by_byte_and_line() {
    let repo = project();
    let mut bytes = std::fs::read(repo.path().join("optimize.yaml")).unwrap();
    bytes.extend_from_slice(b"# caf\xe9\n");
    std::fs::write(repo.path().join("optimize.yaml"), &bytes).unwrap();
    repo.run(&["validate", "--no-measure", "optimize.yaml"])
        .expect_code(2)
        .stderr_has(&format!("not valid UTF-8 at byte {}", bytes.len() - 2));
    let mut bytes = std::fs::read(repo.path().join("hypotheses.yaml")).unwrap();
    bytes.splice(0..0, b"# \xff\n".iter().copied());
    std::fs::write(repo.path().join("hypotheses.yaml"), &bytes).unwrap();
    repo.write(
        "optimize.yaml",
        &hard_spec(
            "msg",
            "./eval.sh",
            "hypotheses: {source: file, file: hypotheses.yaml}\n",
        ),
    );
    repo.run(&["validate", "--no-measure", "optimize.yaml"])
        .expect_code(2)
        .stderr_has("hypotheses.yaml")
        .stderr_has("not valid UTF-8 at byte 2 (line 1)");
}

#[test]
fn a_key_that_is_a_list_is_called_so() {
    let repo = project();
    let spec = std::fs::read_to_string(repo.path().join("optimize.yaml")).unwrap();
    repo.write("optimize.yaml", &format!("{spec}? [a, b]\n: 1\n"));
    repo.run(&["validate", "--no-measure", "optimize.yaml"])
        .expect_code(2)
        .stderr_has("a key must be a name, not a list");
}

#[test]
fn a_repository_git_refuses_for_its_owner_says_so_with_the_hint() {
    let repo = project();
    let nobody = 65534;
    let status = std::process::Command::new("chown")
        .args(["-R", &nobody.to_string()])
        .arg(repo.path())
        .status()
        .unwrap();
    if !status.success() || unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to give the repository another owner");
        return;
    }
    repo.run(&["status", "optimize.yaml"])
        .expect_code(2)
        .stderr_has("git refuses the repository")
        .stderr_has("safe.directory");
}

#[test]
fn an_alias_bomb_in_a_spec_is_refused_quickly_with_the_file_named() {
    let repo = project();
    let mut bomb = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for k in 1..9 {
        let refs = vec![format!("*a{}", k - 1); 10].join(",");
        bomb += &format!("a{k}: &a{k} [{refs}]\n");
    }
    repo.write("bomb.yaml", &bomb);
    let start = std::time::Instant::now();
    repo.run(&["validate", "--no-measure", "bomb.yaml"])
        .expect_code(2)
        .stderr_has("bomb.yaml:")
        .stderr_has("alias bomb");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn plan_counts_statistical_sampling_in_its_time_estimate() {
    let repo = project();
    repo.run(&["validate", "optimize.yaml"]).expect_code(0);
    let spec = SpecYaml::scored("msg").with(
        "measurement",
        "{command: ./eval.sh, stability: {comparison: {method: statistical, max_samples: 12}}}",
    );
    repo.write("optimize.yaml", &spec.render());
    let plan = repo.run(&["plan", "optimize.yaml", "--json"]);
    plan.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let runs = json["estimates"]["runs_per_experiment"].as_f64().unwrap();
    assert!(runs >= 12.0, "{runs}");
}
