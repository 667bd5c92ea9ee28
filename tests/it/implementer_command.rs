//! `implementer.kind: command`: a coding agent (here a script standing in for
//! `codex exec -` or `claude -p`) gets the filled prompt on stdin and in
//! OPTIMIZE_PROMPT_FILE, runs in the worktree with its own timeout and
//! process group, and its change is checked and measured like any other.

use crate::common;
use std::time::{Duration, Instant};

use common::{TestRepo, error_message, log_yaml, outcomes, processes_with};

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
    let repo = TestRepo::new(&[
        ("eval.sh", EVAL),
        ("src/value.txt", "10\n"),
        ("agent/fake-agent.sh", AGENT),
    ]);
    repo.write(
        "optimize.yaml",
        &format!(
            r#"name: agent
description: make the value bigger
metric:
  primary: {{type: hard, name: score, direction: maximize}}
  degenerate_gates: [{{name: ok, check: "== 1"}}]
measurement: {{command: ./eval.sh}}
scope: {{mutable: [src/], immutable: [eval.sh, agent/]}}
constraints: ["Keep src/value.txt a single integer"]
hypotheses: {{source: file, file: hypotheses.yaml}}
implementer:
  kind: command
  command: "sh $OPTIMIZE_REPO_ROOT/agent/fake-agent.sh"
  timeout_seconds: {timeout}
execution: {{max_concurrent: 4}}
"#
        ),
    );
    repo.write(
        "hypotheses.yaml",
        "- description: Raise the value\n  category: a\n  files: [src/value.txt]\n- description: Cheat by editing the harness\n  category: b\n- description: Think forever\n  category: c\n- description: Refuse politely\n  category: d\n",
    );
    repo.commit_all("agent project");
    repo
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
