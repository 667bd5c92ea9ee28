//! The agent presets with the real programs (aider from PyPI; Codex,
//! opencode, Gemini CLI and Claude Code from npm), each in a run with
//! `implementer.agent: <name>` and the default sandbox, against a scripted
//! server that speaks the agent's own API and drives its edit tool: the edit
//! is committed, measured and kept; none of the agent's debris is committed;
//! the server sees only the key named for the agent. `.ci/run` installs the
//! programs under /opt/optimize-agents (or `OPTIMIZE_AGENTS`); a test is
//! skipped, saying why, only when its program is not there.

use std::path::{Path, PathBuf};

use crate::common::agent_server::{AgentServer, Change};
use crate::common::{TestRepo, log_yaml, outcomes};

/// Where `.ci/run` installs the agents.
fn agents_root() -> PathBuf {
    std::env::var_os("OPTIMIZE_AGENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/optimize-agents"))
}

/// The directory holding the agent's executable, if it is installed.
fn program_dir(name: &str) -> Option<PathBuf> {
    let root = agents_root();
    let candidates = [
        root.join("aider-venv/bin"),
        root.join("npm/node_modules/.bin"),
    ];
    candidates.into_iter().find(|d| d.join(name).is_file())
}

/// Secrets in the orchestrator's environment: each agent may see its own
/// key only.
const KEYS: [(&str, &str); 4] = [
    ("OPENAI_API_KEY", "sk-openai-key"),
    ("ANTHROPIC_API_KEY", "sk-ant-key"),
    ("GEMINI_API_KEY", "gm-gemini-key"),
    ("MY_SERVICE_TOKEN", "tok-service"),
];

struct AgentRun {
    repo: TestRepo,
    server: AgentServer,
    _home: tempfile::TempDir,
}

/// A run with `implementer.agent: <agent>` whose one hypothesis the agent
/// implements (10 -> 11 in src/value.txt).
fn run_agent(agent: &str, extra: &str) -> Option<AgentRun> {
    let Some(bin) = program_dir(agent) else {
        eprintln!(
            "skipped: {agent} is not installed under {} (bash .ci/run installs it)",
            agents_root().display()
        );
        return None;
    };
    // Gemini CLI skips settings under a world-writable directory (/tmp).
    let repo = TestRepo::new_in(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        &[
            (
                "eval.sh",
                "#!/bin/sh\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1}\"\n",
            ),
            ("src/value.txt", "10\n"),
        ],
    );
    let tree = repo.state_dir("agent").join("worktrees/slot-0");
    let server = AgentServer::start(Change {
        file: "src/value.txt".into(),
        tree,
        old: "10".into(),
        new: "11".into(),
    });
    repo.write(
        "optimize.yaml",
        &format!(
            r#"name: agent
description: raise the value
metric:
  primary: {{type: hard, name: score, direction: maximize}}
  degenerate_gates: [{{name: ok, check: "== 1"}}]
measurement: {{command: ./eval.sh, timeout_seconds: 30}}
scope: {{mutable: [src/], immutable: [eval.sh]}}
execution: {{mode: serial, max_concurrent: 1}}
hypotheses: {{source: file, file: hypotheses.yaml}}
implementer: {{agent: {agent}, timeout_seconds: 240{extra}}}
llm: {{base_url: "{}"}}
"#,
            server.url
        ),
    );
    repo.write(
        "hypotheses.yaml",
        "- description: Change src/value.txt from 10 to 11\n  files: [src/value.txt]\n",
    );
    repo.commit_all("spec");
    let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut cmd = repo.command(&["optimize.yaml"]);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path).env("HOME", home.path());
    for (k, v) in KEYS {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let run = crate::common::Run::from(out);
    let state = repo.state_dir("agent");
    let stderr =
        std::fs::read_to_string(state.join("experiments/001/implement.stderr")).unwrap_or_default();
    run.expect_code(0);
    let log = log_yaml(repo.path(), "agent");
    assert_eq!(
        outcomes(&log),
        [(
            "Change src/value.txt from 10 to 11".to_string(),
            "kept".to_string()
        )],
        "{agent}: {}\n--- the agent's stderr\n{stderr}",
        run.stderr
    );
    // The kept change itself (the branch head is the wrap-up's report on top).
    let kept = log["experiments"][0]["commit"].as_str().unwrap();
    let committed = repo.git(&["show", "--name-only", "--format=", kept]);
    assert_eq!(committed.trim(), "src/value.txt", "{agent} committed more");
    let under_report = repo.git(&["rev-parse", "optimize/agent^"]);
    assert_eq!(
        under_report.trim(),
        kept,
        "the report sits on the kept change"
    );
    Some(AgentRun {
        repo,
        server,
        _home: home,
    })
}

/// The server saw exactly this key and no other secret.
fn only_key(run: &AgentRun, key: &str) {
    let seen = run.server.credentials();
    assert!(!seen.is_empty(), "the agent never called the server");
    assert!(seen.iter().all(|c| c == key), "credentials seen: {seen:?}");
}

#[test]
fn aider() {
    let Some(run) = run_agent("aider", ", model: gpt-4.1") else {
        return;
    };
    only_key(&run, "sk-openai-key");
    let log = log_yaml(run.repo.path(), "agent");
    let kept: Vec<&str> = log["experiments"][0]["agent_files"]
        .as_sequence()
        .expect("aider's chat history was set aside")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(kept.iter().any(|f| f.starts_with(".aider")), "{kept:?}");
    let aside = run
        .repo
        .state_dir("agent")
        .join("experiments/001/agent-files");
    assert!(aside.join(".aider.chat.history.md").is_file());
}

#[test]
fn codex() {
    let Some(run) = run_agent("codex", ", model: gpt-5.5") else {
        return;
    };
    only_key(&run, "sk-openai-key");
}

#[test]
fn claude() {
    let Some(run) = run_agent("claude", ", model: claude-sonnet-4-5") else {
        return;
    };
    only_key(&run, "sk-ant-key");
}

#[test]
fn opencode() {
    let Some(run) = run_agent("opencode", ", model: gpt-4.1") else {
        return;
    };
    only_key(&run, "sk-openai-key");
}

#[test]
fn gemini() {
    let Some(run) = run_agent("gemini", ", model: gemini-2.5-flash") else {
        return;
    };
    only_key(&run, "gm-gemini-key");
}
