//! Safe to leave alone with a model: secrets stay out of child processes,
//! no process outlives its command (even after `setsid`), and a sandboxed
//! agent can write only in its worktree.

use crate::common;
use std::time::{Duration, Instant};

use common::{TestRepo, log_yaml, outcomes, processes_with};

fn spec(extra: &str) -> String {
    format!(
        r#"name: safe
description: safety
metric:
  primary: {{type: hard, name: score, direction: maximize}}
  degenerate_gates: [{{name: ok, check: "== 1"}}]
measurement: {{command: ./eval.sh, timeout_seconds: 3}}
scope: {{mutable: [src/], immutable: [eval.sh, agent.sh]}}
execution: {{mode: serial, max_concurrent: 1}}
stopping: {{plateau_iterations: 100}}
max_runner_up_merges_per_batch: 0
hypotheses: {{source: file, file: hypotheses.yaml}}
{extra}"#
    )
}

fn project(eval: &str, extra: &str, hypotheses: &str) -> TestRepo {
    let repo = TestRepo::new(&[("eval.sh", eval), ("src/value.txt", "10\n")]);
    repo.write("optimize.yaml", &spec(extra));
    repo.write("hypotheses.yaml", hypotheses);
    repo.commit_all("spec");
    repo
}

const SECRETS: [(&str, &str); 3] = [
    ("OPENAI_API_KEY", "sk-never-seen-1"),
    ("MY_SERVICE_TOKEN", "tok-never-seen-2"),
    ("CUSTOM_LLM_CRED", "cred-never-seen-3"),
];

#[test]
fn measurements_and_apply_commands_never_see_secrets() {
    let eval =
        "#!/bin/sh\nenv >&2\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1}\"\n";
    let repo = project(
        eval,
        "llm: {api_key_env: CUSTOM_LLM_CRED}\nenv: {pass: [PASS_ME_TOKEN]}\n",
        "- description: dump the environment\n  apply: \"env > src/env.txt && echo 11 > src/value.txt\"\n",
    );
    let mut cmd = repo.command(&["optimize.yaml"]);
    for (k, v) in SECRETS {
        cmd.env(k, v);
    }
    cmd.env("PASS_ME_TOKEN", "tok-passed-4")
        .env("TOKENIZERS_PARALLELISM", "false");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let state = repo.state_dir("safe");
    let mut seen = vec![repo.git(&["show", "optimize-exp/safe/exp-001:src/env.txt"])];
    for dir in [state.join("baseline"), state.join("experiments/001")] {
        let stderr = dir.join("measure-1.stderr");
        seen.push(
            std::fs::read_to_string(&stderr)
                .unwrap_or_else(|e| panic!("{}: {e}", stderr.display())),
        );
    }
    for env in &seen {
        for (name, value) in SECRETS {
            assert!(!env.contains(value), "{name} reached a child:\n{env}");
        }
        assert!(
            env.contains("PASS_ME_TOKEN=tok-passed-4"),
            "env.pass: {env}"
        );
        assert!(env.contains("TOKENIZERS_PARALLELISM=false"), "{env}");
        assert!(env.contains("PATH="), "{env}");
    }
}

/// Escapes tagged by how long they sleep, so they can be found afterwards.
const ESCAPING_EVAL: &str = r#"#!/bin/sh
mode=$(cat src/mode.txt)
if [ "$mode" = exit ]; then
    setsid sh -c 'sleep 3011' > /dev/null 2>&1 &
elif [ "$mode" = hang ]; then
    setsid sh -c 'sleep 3012' > /dev/null 2>&1 &
    sleep 100
fi
echo "{\"score\": $(cat src/value.txt), \"ok\": 1}"
"#;

#[test]
fn processes_that_left_with_setsid_are_ended_with_their_command() {
    let repo = TestRepo::new(&[
        ("eval.sh", ESCAPING_EVAL),
        ("src/value.txt", "10\n"),
        ("src/mode.txt", "none\n"),
    ]);
    repo.write("optimize.yaml", &spec(""));
    repo.write(
        "hypotheses.yaml",
        r#"
- description: escape and exit
  apply: "echo exit > src/mode.txt && echo 11 > src/value.txt"
- description: escape and hang
  apply: "echo hang > src/mode.txt && echo 12 > src/value.txt"
- description: escape from the apply command
  apply: "setsid sh -c 'sleep 3013' > /dev/null 2>&1 & echo none > src/mode.txt && echo 13 > src/value.txt"
"#,
    );
    repo.commit_all("spec");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "safe");
    let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["kept", "timeout", "kept"]);
    // The run has exited: nothing it started may still be running.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left: Vec<u32> = ["sleep 3011", "sleep 3012", "sleep 3013"]
            .iter()
            .flat_map(|m| processes_with(m))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still running: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The agent tries to write outside its worktree and reports each attempt
/// in a file of its worktree, which is committed with its change.
const AGENT: &str = r#"#!/bin/sh
try() { if (echo x > "$1") 2>/dev/null; then echo "$2 written"; else echo "$2 refused"; fi; }
{
    try "$OPTIMIZE_REPO_ROOT/outside.txt" checkout
    try "$HOME/home.txt" home
    try "/tmp/optimize-sandbox-test-$$.txt" tmp
    try "$TMPDIR/scratch.txt" private-tmp
} > src/attempts.txt
env > src/agent-env.txt
echo 11 > src/value.txt
"#;

#[test]
fn a_sandboxed_agent_writes_only_in_its_worktree() {
    if let Err(why) = optimize::sandbox::kernel_abi() {
        eprintln!("skipped: {why}");
        return;
    }
    let eval = "#!/bin/sh\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1}\"\n";
    let repo = TestRepo::new(&[
        ("eval.sh", eval),
        ("agent.sh", AGENT),
        ("src/value.txt", "10\n"),
    ]);
    repo.write(
        "optimize.yaml",
        &spec(&format!(
            "implementer: {{kind: command, command: \"{}/agent.sh\", env: [AGENT_API_KEY]}}\nsandbox: {{implementer: required}}\n",
            repo.path().display()
        )),
    );
    repo.write("hypotheses.yaml", "- description: raise the value\n");
    repo.commit_all("spec");
    let home = tempfile::tempdir().unwrap();
    let out = repo
        .command(&["optimize.yaml"])
        .env("HOME", home.path())
        .env("AGENT_API_KEY", "agent-key-5")
        .env("OPENAI_API_KEY", "sk-never-seen-6")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = log_yaml(repo.path(), "safe");
    assert_eq!(outcomes(&log)[0].1, "kept");
    let attempts = repo.git(&["show", "optimize/safe:src/attempts.txt"]);
    for line in [
        "checkout refused",
        "home refused",
        "tmp refused",
        "private-tmp written",
    ] {
        assert!(attempts.contains(line), "{line}: {attempts}");
    }
    // The agent gets its own key (implementer.env), and no other secret.
    let env = repo.git(&["show", "optimize/safe:src/agent-env.txt"]);
    assert!(env.contains("AGENT_API_KEY=agent-key-5"), "{env}");
    assert!(!env.contains("sk-never-seen-6"), "{env}");
    assert!(!repo.path().join("outside.txt").exists());
    assert!(!home.path().join("home.txt").exists());
    assert_eq!(
        repo.git(&["show", "optimize/safe:src/value.txt"]).trim(),
        "11"
    );
}

#[test]
fn a_required_sandbox_on_an_unsupported_kernel_is_refused_up_front() {
    if optimize::sandbox::kernel_abi().is_ok() {
        // Only checkable on a kernel without Landlock.
        return;
    }
    let repo = project(
        "#!/bin/sh\necho '{\"score\": 1, \"ok\": 1}'\n",
        "sandbox: {measurement: required}\n",
        "[]\n",
    );
    repo.run(&["optimize.yaml"])
        .expect_code(2)
        .stderr_has("sandbox.measurement is required");
}

const TAMPERING_EVAL: &str = r#"#!/bin/sh
if [ "$(cat src/mode.txt)" = tamper ]; then echo '# tampered' >> eval.sh; fi
planted=0; [ -f bench/override.local ] && planted=1
echo "{\"score\": $(cat src/value.txt), \"ok\": 1, \"planted\": $planted}"
"#;

#[test]
fn the_harness_is_restored_before_each_measurement_and_changing_it_is_an_error() {
    let log = harness_run("");
    let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["kept", "error", "kept"]);
}

/// Every way a run measures checks the harness: statistical rounds (with the
/// incumbent re-measured beside), the ladder's steps, runner-up combinations.
#[test]
fn harness_integrity_holds_for_statistical_rounds_and_the_ladder() {
    for stability in [
        "measurement: {command: ./eval.sh, timeout_seconds: 3, stability: {mode: repeat, repeat_count: 3, comparison: {method: statistical, max_samples: 4}}}",
        "measurement: {command: ./eval.sh, timeout_seconds: 3, stability: {mode: ladder, repeat_count: 2, ladder: {confirmation_repeats: 2}}}",
    ] {
        let log = harness_run(stability);
        let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
        assert_eq!(got[1], "error", "{stability}: {got:?}");
        assert_ne!(got[0], "error", "{stability}: {got:?}");
        assert_ne!(got[2], "error", "{stability}: {got:?}");
    }
}

/// Three experiments: one plants an ignored file in the harness, one's
/// measurement tampers with the harness, one measures after that. Checks
/// what every method must record and returns the log.
fn harness_run(measurement: &str) -> serde_yaml::Value {
    let repo = TestRepo::new(&[
        ("eval.sh", TAMPERING_EVAL),
        ("bench/data.txt", "data\n"),
        (".gitignore", "*.local\n"),
        ("src/value.txt", "10\n"),
        ("src/mode.txt", "none\n"),
    ]);
    let mut spec = spec("").replace(
        "immutable: [eval.sh, agent.sh]",
        "immutable: [eval.sh, bench/]",
    );
    if !measurement.is_empty() {
        spec = spec.replace(
            "measurement: {command: ./eval.sh, timeout_seconds: 3}",
            measurement,
        );
    }
    repo.write(
        "optimize.yaml",
        &spec.replace(
            "degenerate_gates: [{name: ok, check: \"== 1\"}]",
            "degenerate_gates: [{name: ok, check: \"== 1\"}]\n  diagnostics: [{name: planted}]",
        ),
    );
    repo.write(
        "hypotheses.yaml",
        r#"
- description: plant an ignored file in the harness
  apply: "echo 11 > src/value.txt && echo x > bench/override.local"
- description: tamper with the harness while measuring
  apply: "echo tamper > src/mode.txt && echo 12 > src/value.txt"
- description: measure after the tampering
  apply: "echo none > src/mode.txt && echo 13 > src/value.txt"
"#,
    );
    repo.commit_all("spec");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "safe");
    let entries = log["experiments"].as_sequence().unwrap();
    assert_eq!(entries.len(), 3, "{measurement}");
    assert_eq!(
        entries[0]["diagnostics"]["planted"].as_f64(),
        Some(0.0),
        "{measurement}"
    );
    assert_eq!(
        entries[0]["harness_restored"][0].as_str(),
        Some("bench/override.local"),
        "{measurement}"
    );
    let message = entries[1]["error_message"].as_str().unwrap();
    assert!(
        message.contains("changed its own harness: eval.sh"),
        "{measurement}: {message}"
    );
    // The same slot's next measurement ran the original harness again (the
    // pool's reset of tracked files already undid the tampering).
    assert_eq!(repo.git(&["show", "optimize/safe:eval.sh"]), TAMPERING_EVAL);
    let hashes: Vec<&str> = entries
        .iter()
        .map(|e| {
            e["harness_hash"]
                .as_str()
                .unwrap_or_else(|| panic!("{measurement}: no harness_hash in {e:?}"))
        })
        .collect();
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    log
}

#[test]
fn kill_9_of_the_run_still_ends_what_its_commands_started() {
    let eval = "#!/bin/sh\nsetsid sh -c 'sleep 3014' > /dev/null 2>&1 &\ntouch \"$OPTIMIZE_STATE_DIR/started\"\nsleep 100\n";
    let repo = project(eval, "", "[]\n");
    let mut child = repo.command(&["optimize.yaml"]).spawn().unwrap();
    let started = repo.state_dir("safe").join("started");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the baseline never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    while processes_with("sleep 3014").is_empty() {
        assert!(Instant::now() < deadline, "the escape never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with("sleep 3014").is_empty() {
        assert!(Instant::now() < deadline, "the escape outlived the run");
        std::thread::sleep(Duration::from_millis(50));
    }
}
