//! The loop on hand-made projects: scope violations, dependency detection in
//! each manifest kind, patches, failing applies, big outputs, timeouts with
//! grandchildren, serial vs parallel, stopping rules, git identity.

use crate::common;
use std::time::{Duration, Instant};

use common::{
    Project, SpecYaml, TestRepo, error_message, log_yaml, outcomes, processes_in, processes_with,
};

/// score = src/value.txt plus every src/f*.txt; f3 and f4 together cost 100.
const EVAL: &str = r#"#!/bin/sh
s=$(cat src/value.txt)
for f in src/f*.txt; do [ -f "$f" ] && s=$((s + $(cat "$f"))); done
[ -f src/f3.txt ] && [ -f src/f4.txt ] && s=$((s - 100))
echo "{\"score\": $s, \"ok\": 1, \"size\": 1}"
"#;

fn spec(extra: &str) -> SpecYaml {
    SpecYaml::scored("proj")
        .with(
            "measurement",
            "{command: ./eval.sh, timeout_seconds: 20, stability: {noise_threshold: 0.5}}",
        )
        .with(
            "scope",
            "{mutable: [src/, Cargo.toml, package.json, requirements.txt, pyproject.toml, go.mod], immutable: [eval.sh]}",
        )
        .extra(extra)
}

fn project(spec_extra: &str, hypotheses: &str, files: &[(&str, &str)]) -> TestRepo {
    let mut project = Project::scored("proj")
        .eval(EVAL)
        .file("README.md", "readme\n")
        .hypotheses(hypotheses);
    for (path, content) in files {
        project = project.file(path, content);
    }
    project.spec(spec(spec_extra)).build()
}

#[test]
fn scope_is_enforced() {
    let hyps = r#"
- description: edit the readme
  apply: "echo more >> README.md"
- description: edit the harness
  apply: "echo '# faster' >> eval.sh"
- description: edit the spec
  apply: "echo '# note' >> optimize.yaml"
- description: edit the hypotheses file
  apply: "echo '# note' >> hypotheses.yaml"
- description: touch the state dir
  apply: "mkdir -p .optimize/proj && echo x > .optimize/proj/x.txt && echo 11 > src/value.txt"
"#;
    let repo = project("execution: {max_concurrent: 5}\n", hyps, &[]);
    let before = repo.user_state();
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "proj");
    let out = outcomes(&log);
    assert_eq!(
        out[..4].iter().map(|(_, o)| o.as_str()).collect::<Vec<_>>(),
        ["error"; 4]
    );
    let msg = |i: usize| error_message(&log, i);
    assert!(
        msg(0).contains("README.md (outside scope.mutable)"),
        "{}",
        msg(0)
    );
    assert!(
        msg(1).contains("eval.sh (inside scope.immutable entry \"eval.sh\")"),
        "{}",
        msg(1)
    );
    assert!(
        msg(2).contains("optimize.yaml (always immutable"),
        "{}",
        msg(2)
    );
    assert!(
        msg(3).contains("hypotheses.yaml (always immutable"),
        "{}",
        msg(3)
    );
    assert_eq!(out[4].1, "error");
    assert!(
        msg(4).contains(".optimize/proj/x.txt (always immutable"),
        "{}",
        msg(4)
    );
    assert_eq!(
        repo.user_state(),
        before,
        "the user's checkout is untouched"
    );
    assert_eq!(repo.read("README.md"), "readme\n");
}

#[test]
fn dependencies_are_detected_in_every_manifest_kind() {
    let files = [
        (
            "Cargo.toml",
            "[package]\nname = \"p\"\n\n[dependencies]\nserde = \"1\"\n",
        ),
        (
            "package.json",
            "{\"name\": \"p\", \"dependencies\": {\"react\": \"18\"}}\n",
        ),
        ("requirements.txt", "flask==3\n"),
        (
            "pyproject.toml",
            "[project]\nname = \"p\"\ndependencies = [\n  \"numpy\",\n]\n",
        ),
        ("go.mod", "module example.com/p\n\ngo 1.22\n"),
        (
            "alt/Cargo.toml",
            "[package]\nname = \"p\"\n\n[dependencies]\nserde = \"1\"\nrayon = { version = \"1\" }\n",
        ),
        (
            "alt/package.json",
            "{\"name\": \"p\", \"dependencies\": {\"react\": \"18\", \"lodash\": \"4\"}}\n",
        ),
        (
            "alt/pyproject.toml",
            "[project]\nname = \"p\"\ndependencies = [\n  \"numpy\",\n  \"polars>=1\",\n]\n",
        ),
    ];
    let hyps = r#"
- description: add rayon
  category: a
  apply: "cp alt/Cargo.toml Cargo.toml && echo 11 > src/value.txt"
- description: add lodash
  category: b
  apply: "cp alt/package.json package.json && echo 12 > src/value.txt"
- description: add requests
  category: c
  apply: "echo 'requests>=2' >> requirements.txt && echo 13 > src/value.txt"
- description: add polars
  category: d
  apply: "cp alt/pyproject.toml pyproject.toml && echo 14 > src/value.txt"
- description: add x/sync
  category: e
  apply: "echo 'require golang.org/x/sync v0.7.0' >> go.mod && echo 15 > src/value.txt"
- description: add approved itertools
  category: f
  apply: "echo 'itertools==10' >> requirements.txt && echo 16 > src/value.txt"
- description: declares numba
  category: g
  required_deps: [numba]
  apply: "echo 99 > src/value.txt"
- description: declares approved itertools
  category: h
  required_deps: [itertools]
  apply: "echo 20 > src/value.txt"
"#;
    let repo = project(
        "dependencies: {approved: [itertools]}\nexecution: {max_concurrent: 6}\nmax_runner_up_merges_per_batch: 0\n",
        hyps,
        &files,
    );
    repo.run(&["optimize.yaml"])
        .expect_code(0)
        .stdout_has("approve with: optimize approve optimize.yaml");
    let log = log_yaml(repo.path(), "proj");
    let by_name = |h: &str| {
        log["experiments"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["hypothesis"] == h)
            .cloned()
            .unwrap_or_else(|| panic!("no entry for {h}"))
    };
    for (h, dep, manifest) in [
        ("add rayon", "rayon", "Cargo.toml"),
        ("add lodash", "lodash", "package.json"),
        ("add requests", "requests", "requirements.txt"),
        ("add polars", "polars", "pyproject.toml"),
        ("add x/sync", "golang.org/x/sync", "go.mod"),
    ] {
        let e = by_name(h);
        assert_eq!(e["outcome"], "deferred_needs_approval", "{h}: {e:?}");
        let reason = e["deferred_reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("{dep} (in {manifest})")),
            "{h}: {reason}"
        );
        assert!(
            e["experiment_commit"].is_string(),
            "the deferred commit is kept"
        );
        assert_eq!(
            e["deferred_deps"][0], dep,
            "{h}: the names are recorded as data"
        );
    }
    assert_ne!(
        by_name("add approved itertools")["outcome"],
        "deferred_needs_approval"
    );
    // Measured like any other (it joins the best after #"add approved
    // itertools", whose edit of src/value.txt it conflicts with).
    let approved = by_name("declares approved itertools");
    assert!(
        approved["metrics"]["score"].is_number(),
        "an approved dependency is measured: {approved:?}"
    );
    // A declared, unapproved dependency waits in the backlog with no entry.
    assert!(
        log["experiments"]
            .as_sequence()
            .unwrap()
            .iter()
            .all(|e| e["hypothesis"] != "declares numba")
    );
    let backlog = log["hypothesis_backlog"].as_sequence().unwrap();
    assert_eq!(backlog.len(), 1);
    assert_eq!(backlog[0]["description"], "declares numba");
    assert_eq!(backlog[0]["dep_status"], "needs_approval");
}

#[test]
fn patches_and_failing_applies() {
    let hyps = r#"
- description: patch the value
  patch: |
    --- a/src/value.txt
    +++ b/src/value.txt
    @@ -1 +1 @@
    -10
    +30
- description: a patch that does not apply
  patch: |
    --- a/src/value.txt
    +++ b/src/value.txt
    @@ -1 +1 @@
    -999
    +30
- description: an apply that fails
  apply: "echo 'cannot find sed script' >&2; exit 4"
- description: an apply that changes nothing
  apply: "true"
"#;
    let repo = project("", hyps, &[]);
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "proj");
    assert_eq!(
        outcomes(&log)
            .into_iter()
            .map(|(_, o)| o)
            .collect::<Vec<_>>(),
        ["kept", "error", "error", "error"],
        "{}",
        serde_yaml::to_string(&log).unwrap()
    );
    let msg = |i: usize| error_message(&log, i);
    assert!(msg(1).contains("the patch does not apply"), "{}", msg(1));
    assert!(
        msg(2).contains("the apply command exited with status 4: cannot find sed script"),
        "{}",
        msg(2)
    );
    assert!(msg(3).contains("left every file as it was"), "{}", msg(3));
    assert_eq!(
        repo.git(&["show", "optimize/proj:src/value.txt"]).trim(),
        "30"
    );
    // No git identity is configured in tests: commits fall back to a fixed author.
    assert_eq!(
        repo.git(&["log", "-1", "--format=%an <%ae>", "optimize/proj"])
            .trim(),
        "optimize <optimize@localhost>"
    );
}

#[test]
fn timeout_kills_grandchildren_of_the_measurement() {
    let marker = format!("optimize-loop-grandchild-{}", std::process::id());
    let eval = format!(
        "#!/bin/sh\nif [ -f src/slow ]; then (sh -c 'sleep 300; echo {marker}' &); sleep 300; fi\necho '{{\"score\": 1, \"ok\": 1, \"size\": 1}}'\n"
    );
    let hyps = "- description: go slow\n  apply: \"touch src/slow\"\n";
    let repo = project("", hyps, &[("eval.sh", &eval)]);
    repo.write(
        "optimize.yaml",
        &spec("")
            .with("measurement", "{command: ./eval.sh, timeout_seconds: 1}")
            .render(),
    );
    repo.commit_all("fast timeout");
    let start = Instant::now();
    repo.run(&["optimize.yaml"]).expect_code(0);
    assert!(start.elapsed() < Duration::from_secs(15));
    let log = log_yaml(repo.path(), "proj");
    assert_eq!(outcomes(&log)[0].1, "timeout");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        processes_with(&marker).is_empty(),
        "a grandchild survived the timeout"
    );
    assert!(processes_in(repo.path()).is_empty());
}

#[test]
fn a_200_mb_measurement_output_does_not_grow_memory() {
    let eval = "#!/bin/sh\nhead -c 200000000 /dev/zero | tr '\\0' 'x'\necho\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1, \\\"size\\\": 1}\"\n";
    let hyps = "- description: bigger\n  apply: \"echo 20 > src/value.txt\"\n";
    let repo = project("", hyps, &[("eval.sh", eval)]);
    let child = repo
        .command(&["optimize.yaml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak_kb = 0u64;
    let sampler = std::thread::spawn(move || {
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        peak_kb
    });
    let out = child.wait_with_output().unwrap();
    let peak_kb = sampler.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two measurements of 200 MB each went through the orchestrator.
    assert!(peak_kb > 0 && peak_kb < 64 * 1024, "peak RSS {peak_kb} kB");
    let log = log_yaml(repo.path(), "proj");
    assert_eq!(outcomes(&log)[0].1, "kept");
    let captured = std::fs::metadata(
        repo.state_dir("proj")
            .join("experiments/001/measure-1.stdout"),
    )
    .unwrap()
    .len();
    assert!(
        captured < 10 * 1024 * 1024,
        "the capture is bounded: {captured} bytes"
    );
    let text = std::fs::read(
        repo.state_dir("proj")
            .join("experiments/001/measure-1.stdout"),
    )
    .unwrap();
    let tail = String::from_utf8_lossy(&text[text.len() - 200..]).to_string();
    assert!(
        tail.contains("\"score\": 20"),
        "the end of the output is kept: {tail}"
    );
    assert!(String::from_utf8_lossy(&text).contains("bytes omitted]"));
}

/// Six ideas, each adding to the score through its own file.
fn many_hypotheses() -> String {
    let mut h = String::new();
    for (i, (cat, v)) in [("a", 2), ("b", 1), ("c", -1), ("d", 5), ("e", 5), ("f", 4)]
        .iter()
        .enumerate()
    {
        h += &format!(
            "- description: idea {i}\n  category: {cat}\n  files: [src/f{i}.txt]\n  apply: \"echo {v} > src/f{i}.txt\"\n"
        );
    }
    h
}

#[test]
fn serial_and_parallel_give_the_same_outcomes() {
    let extra = "max_runner_up_merges_per_batch: 2\n";
    let parallel = project(
        &format!("{extra}execution: {{mode: parallel, max_concurrent: 3}}\n"),
        &many_hypotheses(),
        &[],
    );
    let serial = project(
        &format!("{extra}execution: {{mode: serial, max_concurrent: 3}}\n"),
        &many_hypotheses(),
        &[],
    );
    parallel.run(&["optimize.yaml"]).expect_code(0);
    serial.run(&["optimize.yaml"]).expect_code(0);
    let (p, s) = (
        log_yaml(parallel.path(), "proj"),
        log_yaml(serial.path(), "proj"),
    );
    assert_eq!(
        outcomes(&p),
        outcomes(&s),
        "{}\n{}",
        serde_yaml::to_string(&p).unwrap(),
        serde_yaml::to_string(&s).unwrap()
    );
    assert_eq!(p["best"]["metrics"], s["best"]["metrics"]);
    assert_eq!(p["best"]["iteration"], s["best"]["iteration"]);
    // Each joins the best it would join in order: #5 on top of #4 loses
    // 100 and is reverted; #6 is rebased onto #4's best and kept.
    let o: Vec<String> = outcomes(&p).into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        o,
        [
            "kept",
            "runner_up_kept",
            "reverted",
            "runner_up_kept",
            "runner_up_reverted",
            "runner_up_kept"
        ]
    );
    assert_eq!(p["best"]["metrics"]["score"].as_f64(), Some(22.0));
    let learned = |i: usize| {
        p["experiments"][i]["learnings"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        learned(4).contains("the combination measured score -77"),
        "{}",
        learned(4)
    );
    assert!(learned(5).contains("kept on top"), "{}", learned(5));
}

#[test]
fn max_iterations_override_and_plateau_and_target() {
    let repo = project("", &many_hypotheses(), &[]);
    repo.run(&[
        "optimize.yaml",
        "--max-iterations",
        "2",
        "--max-concurrent",
        "1",
    ])
    .expect_code(0)
    .stdout_has("finished: max_iterations (2) reached");
    assert_eq!(outcomes(&log_yaml(repo.path(), "proj")).len(), 2);

    let worse = "- description: w1\n  apply: \"echo -1 > src/f0.txt\"\n- description: w2\n  apply: \"echo -2 > src/f1.txt\"\n- description: w3\n  apply: \"echo -3 > src/f2.txt\"\n";
    let repo = project(
        "stopping: {plateau_iterations: 2}\nexecution: {max_concurrent: 1}\n",
        worse,
        &[],
    );
    repo.run(&["optimize.yaml"])
        .expect_code(0)
        .stdout_has("no improvement in the last 2 experiments");
    assert_eq!(outcomes(&log_yaml(repo.path(), "proj")).len(), 2);

    let repo = project("execution: {max_concurrent: 1}\n", &many_hypotheses(), &[]);
    repo.write(
        "optimize.yaml",
        &spec("execution: {max_concurrent: 1}\n")
            .with(
                "metric",
                "{primary: {type: hard, name: score, direction: maximize, target: 11}, degenerate_gates: [{name: ok, check: \"== 1\"}]}",
            )
            .render(),
    );
    repo.commit_all("target");
    repo.run(&["optimize.yaml"])
        .expect_code(0)
        .stdout_has("finished: the target was reached");
    assert_eq!(outcomes(&log_yaml(repo.path(), "proj")).len(), 1);
}

#[test]
fn bad_inputs_to_run() {
    let repo = project("", "- description: x\n  apply: [not, a, string]\n", &[]);
    repo.run(&["optimize.yaml"])
        .expect_code(2)
        .stderr_has("hypotheses.yaml:2:10: [0].apply: expected a string");
    assert!(!repo.state_dir("proj").join("experiment-log.yaml").exists());

    let repo = project("", "- description: x\n  apply: \"true\"\n", &[]);
    repo.write("optimize.yaml", &spec("").without("hypotheses").render());
    repo.commit_all("llm default");
    repo.run(&["optimize.yaml"])
        .expect_code(2)
        .stderr_has("hypotheses.source is llm (the default), but no API key: set the environment variable OPENAI_API_KEY");

    let repo = project(
        "",
        "- description: x\n  apply: \"true\"\n",
        &[(
            "eval.sh",
            "#!/bin/sh\necho '{\"score\": 1, \"ok\": 0, \"size\": 1}'\n",
        )],
    );
    repo.run(&["optimize.yaml"])
        .expect_code(1)
        .stderr_has("the baseline fails its own gate: ok");
    repo.run(&["optimize.yaml", "--max-concurrent", "9"])
        .expect_code(2)
        .stderr_has("--max-concurrent must be between 1 and 6");
}

#[test]
fn repeat_mode_reports_each_run_and_aggregates() {
    let hyps = "- description: idea\n  apply: \"echo 3 > src/f0.txt\"\n";
    let repo = project("", hyps, &[]);
    let spec = spec("").with(
        "measurement",
        "{command: ./eval.sh, stability: {mode: repeat, repeat_count: 3, aggregation: median, noise_threshold: 0.5}}",
    );
    repo.write("optimize.yaml", &spec.render());
    repo.commit_all("repeat");
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(0)
        .stderr_has("#1 measuring 1 of 3")
        .stderr_has("#1 measuring 3 of 3");
    let log = log_yaml(repo.path(), "proj");
    assert_eq!(log["experiments"][0]["sample_count"], 3);
    assert_eq!(log["baseline"]["sample_count"], 3);
    assert!(
        repo.state_dir("proj")
            .join("experiments/001/measure-3.stdout")
            .exists()
    );
}
