//! `implementer.kind: command`: a coding agent (here a script standing in for
//! `codex exec -` or `claude -p`) gets the filled prompt on stdin and in
//! OPTIMIZE_PROMPT_FILE, runs in the worktree with its own timeout and
//! process group, and its change is checked and measured like any other.

use crate::common;
use std::time::{Duration, Instant};

use common::{Project, SpecYaml, TestRepo, error_message, log_yaml, outcomes, processes_with};

const EVAL: &str = "#!/bin/sh\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1}\"\n";

/// The agent: reads its prompt, proves stdin and the prompt file agree, then
/// acts on the hypothesis text.
const AGENT: &str = r#"#!/bin/sh
prompt=$(cat)
[ "$prompt" = "$(cat "$OPTIMIZE_PROMPT_FILE")" ] || { echo "stdin and OPTIMIZE_PROMPT_FILE differ" >&2; exit 9; }
case "$prompt" in
  *"Raise the value"*) echo 42 > src/value.txt ;;
  *"Cheat"*) echo 'echo "{\"score\": 1000, \"ok\": 1}"' > eval.sh ;;
  *"Think forever"*) (sh -c "sleep 300; echo $MARKER" &); sleep 300 ;;
  *"Refuse"*) echo "cannot do this without a GPU" >&2; exit 3 ;;
esac
"#;

fn project(timeout: u64) -> TestRepo {
    let spec = agent_spec("agent").extra(&format!(
        "constraints: [\"Keep src/value.txt a single integer\"]\nimplementer:\n  kind: command\n  command: \"sh $OPTIMIZE_REPO_ROOT/agent/fake-agent.sh\"\n  timeout_seconds: {timeout}\nexecution: {{max_concurrent: 4}}\n"
    ));
    Project::scored("agent")
        .eval(EVAL)
        .file("agent/fake-agent.sh", AGENT)
        .hypotheses("- description: Raise the value\n  category: a\n  files: [src/value.txt]\n- description: Cheat by editing the harness\n  category: b\n- description: Think forever\n  category: c\n- description: Refuse politely\n  category: d\n")
        .spec(spec)
        .build()
}

/// A spec whose agent lives in `agent/`, out of its reach.
fn agent_spec(name: &str) -> SpecYaml {
    SpecYaml::scored(name)
        .with("description", "make the value bigger")
        .with("measurement", "{command: ./eval.sh}")
        .with("scope", "{mutable: [src/], immutable: [eval.sh, agent/]}")
}

#[test]
fn an_agent_command_implements_hypotheses() {
    let marker = format!("optimize-agent-grandchild-{}", std::process::id());
    let repo = project(2);
    let start = Instant::now();
    let run = common::Run::from(
        repo.command(&["optimize.yaml", "--quiet"])
            .env("MARKER", &marker)
            .output()
            .unwrap(),
    );
    run.expect_code(0);
    assert!(start.elapsed() < Duration::from_secs(30));
    let log = log_yaml(repo.path(), "agent");
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
    assert!(
        msg(1).contains("eval.sh (inside scope.immutable entry \"eval.sh\")"),
        "{}",
        msg(1)
    );
    assert!(
        msg(2).contains("implementer.command timed out after 2s"),
        "{}",
        msg(2)
    );
    assert!(
        msg(3).contains("implementer.command exited with status 3: cannot do this without a GPU"),
        "{}",
        msg(3)
    );
    assert_eq!(
        repo.git(&["show", "optimize/agent:src/value.txt"]).trim(),
        "42"
    );
    assert!(
        repo.git(&["show", "optimize/agent:eval.sh"])
            .contains("cat src/value.txt"),
        "the harness is untouched"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        processes_with(&marker).is_empty(),
        "the agent's process group was killed at the timeout"
    );

    // The prompt was kept with the experiment, with the rules and the named file.
    let prompt =
        std::fs::read_to_string(repo.state_dir("agent").join("experiments/001/prompt.md")).unwrap();
    for needle in [
        "Raise the value",
        "Primary metric: `score` (maximize). Current best: 10.",
        "You may change only files under: `src/`",
        "You must not change: `eval.sh`, `agent/`",
        "  - Keep src/value.txt a single integer",
        "## src/value.txt\n```\n10\n",
    ] {
        assert!(
            prompt.contains(needle),
            "prompt lacks {needle:?}:\n{prompt}"
        );
    }
}

#[test]
fn without_apply_patch_or_agent_the_hypothesis_is_an_error_not_a_guess() {
    let repo = project(5);
    let spec = repo
        .read("optimize.yaml")
        .replace("  kind: command\n", "  kind: llm\n");
    repo.write("optimize.yaml", &spec);
    repo.write("hypotheses.yaml", "- description: Raise the value\n");
    repo.commit_all("llm implementer");
    repo.run(&["optimize.yaml", "--quiet"]).expect_code(0);
    let log = log_yaml(repo.path(), "agent");
    assert_eq!(outcomes(&log)[0].1, "error");
    assert!(
        log["experiments"][0]["error_message"]
            .as_str()
            .unwrap()
            .contains("set implementer.kind: command")
    );
}

/// A project whose agent is `agent` (a shell script), with `hypotheses`.
fn broken_project(agent: &str, hypotheses: usize, extra: &str) -> TestRepo {
    let spec = agent_spec("broken").extra(&format!(
        "implementer: {{kind: command, command: \"sh $OPTIMIZE_REPO_ROOT/agent/agent.sh\"}}\nexecution: {{mode: serial, max_concurrent: 1}}\nstopping: {{plateau_iterations: 100}}\n{extra}"
    ));
    let hyps: String = (1..=hypotheses)
        .map(|i| format!("- description: idea {i}\n  category: c{i}\n"))
        .collect();
    Project::scored("broken")
        .eval(EVAL)
        .file("agent/agent.sh", agent)
        .hypotheses(&hyps)
        .spec(spec)
        .build()
}

/// The decisive line of a failure, whole, with the kept stderr's path; a
/// write the sandbox refused names the sandbox.writable entry to add.
#[test]
fn a_failure_says_its_decisive_line_and_the_sandbox_entry_that_would_allow_it() {
    let agent =
        "#!/bin/sh\npython3 -c \"import os; os.makedirs(os.path.expanduser('~/.mytool/cache'))\"\n";
    let repo = broken_project(agent, 1, "");
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(0);
    let message = error_message(&log_yaml(repo.path(), "broken"), 0);
    assert!(
        message.contains("PermissionError: [Errno 13] Permission denied:"),
        "{message}"
    );
    assert!(
        message.contains("add \"~/.mytool\" to sandbox.writable to allow it"),
        "{message}"
    );
    assert!(
        message.contains("experiments/001/implement.stderr"),
        "{message}"
    );
    run.stderr_has("PermissionError: [Errno 13] Permission denied");
    // With the entry, the directory is made beforehand and the write allowed.
    let repo = broken_project(
        &agent.replace("makedirs(", "makedirs(exist_ok=True, name="),
        1,
        "sandbox: {writable: [\"~/.mytool\"]}\n",
    );
    repo.run(&["optimize.yaml"]).expect_code(0);
    let message = error_message(&log_yaml(repo.path(), "broken"), 0);
    assert!(message.contains("left every file as it was"), "{message}");
    assert!(repo.path().join(".mytool/cache").is_dir());
}

/// An agent that exits 0 having changed nothing (an authentication error it
/// only printed) gets the end of its output in the entry; five such failures
/// in a row stop the run, give the hypotheses back, and `retry` re-queues.
#[test]
fn a_broken_environment_stops_the_run_and_gives_the_hypotheses_back() {
    let agent = "#!/bin/sh\necho 'Model openai/gpt-4.1 is not available.'\necho 'litellm.AuthenticationError: Incorrect API key provided' >&2\nexit 0\n";
    let repo = broken_project(agent, 8, "");
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(1)
        .stderr_has("5 experiments in a row failed the same way")
        .stderr_has("their hypotheses are back in the backlog");
    let log = log_yaml(repo.path(), "broken");
    let got = outcomes(&log);
    assert_eq!(got.len(), 5, "{got:?}");
    let message = error_message(&log, 0);
    assert!(
        message.contains("the agent exited 0, and the end of its output was: Model openai/gpt-4.1 is not available."),
        "{message}"
    );
    let backlog: Vec<&str> = log["hypothesis_backlog"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|h| h["description"].as_str().unwrap())
        .collect();
    assert_eq!(backlog.len(), 8, "{backlog:?}");
    assert_eq!(backlog[0], "idea 1");
    // Fixed: the given-back hypotheses are implemented again.
    repo.write(
        "agent/agent.sh",
        "#!/bin/sh\necho $(($(cat src/value.txt) + 1)) > src/value.txt\n",
    );
    repo.commit_all("fixed agent");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let log = log_yaml(repo.path(), "broken");
    let got = outcomes(&log);
    assert_eq!(got.len(), 13, "{got:?}");
    assert!(got[5..].iter().all(|(_, o)| o != "error"), "{got:?}");
    // retry: errored experiments of the run go back once.
    repo.run(&["retry", "optimize.yaml", "--errors"])
        .expect_code(0)
        .stdout_has("nothing to retry");
    repo.run(&["retry", "optimize.yaml", "6"])
        .expect_code(2)
        .stderr_has("not an error or a timeout");
}

#[test]
fn retry_requeues_errored_hypotheses_with_their_apply_command() {
    let repo = broken_project("#!/bin/sh\nexit 0\n", 0, "");
    let spec = repo.read("optimize.yaml").replace(
        "stopping: {plateau_iterations: 100}",
        "stopping: {plateau_iterations: 100, max_consecutive_errors: 0}",
    );
    repo.write("optimize.yaml", &spec);
    repo.write(
        "hypotheses.yaml",
        "- description: fails once\n  apply: \"test -f $OPTIMIZE_REPO_ROOT/ready && echo 12 > src/value.txt || exit 4\"\n",
    );
    repo.commit_all("hyps");
    repo.run(&["optimize.yaml"]).expect_code(0);
    assert_eq!(outcomes(&log_yaml(repo.path(), "broken"))[0].1, "error");
    repo.run(&["retry", "optimize.yaml", "--errors"])
        .expect_code(0)
        .stdout_has("back in the backlog: \"fails once\"");
    repo.write("ready", "");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let got = outcomes(&log_yaml(repo.path(), "broken"));
    assert_eq!(
        got[1],
        ("fails once".to_string(), "kept".to_string()),
        "{got:?}"
    );
}
