//! Turning a hypothesis into a change inside its worktree (an `apply`
//! command or a `patch`), and checking the change: scope and dependencies.

use std::path::Path;
use std::time::Duration;

use git2::Oid;

use crate::deps;
use crate::git::Repo;
use crate::hypotheses::is_approved;
use crate::log::BacklogItem;
use crate::process::{self, Cancel, Exit, Invocation};
use crate::spec::Spec;

/// What an implementation spent on the model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    pub usd: f64,
    pub tokens: u64,
}

/// Why an implementation produced no usable change.
#[derive(Debug, Clone, PartialEq)]
pub enum ImplementFailure {
    Failed(String),
    Interrupted,
    /// The model server kept failing: the run stops, resumably.
    Outage(String),
    /// `budget:` is reached: the run stops, resumably.
    Budget(String),
}

/// Where an implementation runs: the worktree, where its output goes, the
/// environment, and what stops it.
pub struct Site<'a> {
    pub tree: &'a Path,
    pub out_dir: &'a Path,
    pub env: Vec<(String, String)>,
    pub cancel: &'a Cancel,
    pub on_spawn: &'a (dyn Fn(u32) + Sync),
    /// The model client, for the built-in editor.
    pub llm: Option<&'a crate::llm::LlmClient>,
    pub always_immutable: &'a [String],
    /// For `apply` and agent commands.
    pub sandbox: Option<crate::sandbox::Rules>,
    /// The run's state dir (an agent preset's configuration goes there).
    pub state_dir: &'a Path,
}

/// Runs the hypothesis's `apply` command, or applies its `patch`, or (for a
/// hypothesis with neither) runs the `implementer.command` agent, in the tree.
pub async fn implement(
    item: &BacklogItem,
    spec: &Spec,
    site: Site<'_>,
    best: Option<f64>,
) -> Result<Spent, ImplementFailure> {
    if item.apply.is_none() && item.patch.is_none() {
        match (&spec.implementer.kind, &spec.implementer.command, site.llm) {
            (crate::spec::ImplementerKind::Command, Some(command), _) => {
                return run_agent(command, item, spec, site, best)
                    .await
                    .map(|()| Spent::default());
            }
            (crate::spec::ImplementerKind::Llm, _, Some(client)) => {
                return model_editor(client, item, spec, &site, best).await;
            }
            _ => {}
        }
    }
    let Site {
        tree,
        out_dir,
        env,
        cancel,
        on_spawn,
        sandbox,
        ..
    } = site;
    if let Some(command) = &item.apply {
        let shell = Shell {
            what: "the apply command",
            noun: "the apply command",
            command,
            tree,
            out_dir,
            env,
            stdin: None,
            sandbox,
        };
        return run_shell(shell, spec, cancel, on_spawn)
            .await
            .map(|()| Spent::default());
    }
    if let Some(patch) = &item.patch {
        std::fs::write(out_dir.join("hypothesis.patch"), patch).ok();
        return Repo::apply_patch(tree, &crate::patch::with_git_headers(patch))
            .map(|()| Spent::default())
            .map_err(|e| ImplementFailure::Failed(format!("the patch does not apply: {e}")));
    }
    Err(ImplementFailure::Failed(
        "this hypothesis has neither `apply` nor `patch`, and no implementer can take it: set \
         implementer.kind: command with an agent command, or give the model an API key (llm.api_key_env)"
            .into(),
    ))
}

/// The implementer command (a coding agent): the filled prompt on stdin and
/// in `OPTIMIZE_PROMPT_FILE`, its own timeout, its own process group.
async fn run_agent(
    command: &str,
    item: &BacklogItem,
    spec: &Spec,
    site: Site<'_>,
    best: Option<f64>,
) -> Result<(), ImplementFailure> {
    let Site {
        tree,
        out_dir,
        mut env,
        cancel,
        on_spawn,
        sandbox,
        state_dir,
        ..
    } = site;
    let prompt = crate::prompt::implement(spec, item, best, tree);
    let preset = spec
        .agent()
        .map(|a| a.preset(&spec.agent_target(), state_dir));
    let prompt_file = out_dir.join("prompt.md");
    std::fs::write(&prompt_file, &prompt).map_err(|e| {
        ImplementFailure::Failed(format!("cannot write {}: {e}", prompt_file.display()))
    })?;
    env.push((
        "OPTIMIZE_PROMPT_FILE".into(),
        prompt_file.display().to_string(),
    ));
    // An agent CLI needs its own key; only the ones the spec (or the
    // agent's preset) names.
    env.extend(crate::child_env::passed(&spec.implementer.env));
    if let Some(preset) = &preset {
        preset.prepare(state_dir).map_err(|e| {
            ImplementFailure::Failed(format!("cannot prepare {}: {e}", preset.agent.name()))
        })?;
        env.extend(preset.env.iter().cloned());
        env.extend(crate::child_env::passed(&preset.key_names()));
    }
    let shell = Shell {
        what: "implementer.command",
        noun: "the agent (implementer.command)",
        command,
        tree,
        out_dir,
        env,
        stdin: Some(prompt.into_bytes()),
        sandbox,
    };
    run_shell(shell, spec, cancel, on_spawn).await
}

/// A shell command that implements a hypothesis in the worktree.
struct Shell<'a> {
    /// How errors name it.
    what: &'static str,
    /// What it is, in a sentence (`the agent`).
    noun: &'static str,
    command: &'a str,
    tree: &'a Path,
    out_dir: &'a Path,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    sandbox: Option<crate::sandbox::Rules>,
}

/// Runs it with `implementer.timeout_seconds` in its own process group;
/// output goes to `implement.stdout|stderr`, a failure names the exit and
/// the end of stderr.
async fn run_shell(
    shell: Shell<'_>,
    spec: &Spec,
    cancel: &Cancel,
    on_spawn: &(dyn Fn(u32) + Sync),
) -> Result<(), ImplementFailure> {
    let what = shell.what;
    let writable = shell
        .sandbox
        .as_ref()
        .map(|r| r.writable.clone())
        .unwrap_or_default();
    let stderr_path = shell.out_dir.join("implement.stderr");
    let inv = Invocation {
        what: shell.noun,
        command: shell.command,
        cwd: shell.tree,
        env: shell.env,
        timeout: Duration::from_secs(spec.implementer.timeout_seconds),
        stdout_path: shell.out_dir.join("implement.stdout"),
        stderr_path: shell.out_dir.join("implement.stderr"),
        stdin: shell.stdin,
        sandbox: shell.sandbox,
    };
    let done = process::run(inv, cancel, on_spawn)
        .await
        .map_err(|e| ImplementFailure::Failed(format!("cannot start {what}: {e}")))?;
    match done.exit {
        Exit::Code(0) => Ok(()),
        Exit::Cancelled => Err(ImplementFailure::Interrupted),
        Exit::TimedOut => Err(ImplementFailure::Failed(format!(
            "{what} timed out after {}s (implementer.timeout_seconds); its process group was killed",
            spec.implementer.timeout_seconds
        ))),
        exit => {
            let stderr = String::from_utf8_lossy(&done.stderr_tail);
            let stdout = String::from_utf8_lossy(&done.stdout_tail);
            let line = crate::failure::decisive_line(&stderr)
                .or_else(|| crate::failure::decisive_line(&stdout));
            let mut message = format!("{what} {exit}");
            if let Some(line) = &line {
                message += &format!(": {line}");
                if let Some(hint) = crate::failure::sandbox_hint(line, &writable) {
                    message += &format!(" ({hint})");
                }
            }
            message += &format!(" (its stderr: {})", stderr_path.display());
            Err(ImplementFailure::Failed(message))
        }
    }
}

/// The last lines an implementer printed (stdout, else stderr), on one
/// line, for an entry whose implementation changed nothing.
pub fn output_tail(out_dir: &Path) -> String {
    for name in ["implement.stdout", "implement.stderr"] {
        let text = std::fs::read(out_dir.join(name)).unwrap_or_default();
        let tail = process::tail_lines(&text, 5);
        if !tail.trim().is_empty() {
            let joined = tail.lines().map(str::trim).collect::<Vec<_>>().join(" | ");
            return crate::text::one_line(&joined, 400);
        }
    }
    String::new()
}

/// The built-in editor: the model gets the implementation prompt and the
/// edit format, and its search/replace blocks are checked before anything is
/// written; refused edits are sent back once with the reason. Returns the cost.
async fn model_editor(
    client: &crate::llm::LlmClient,
    item: &BacklogItem,
    spec: &Spec,
    site: &Site<'_>,
    best: Option<f64>,
) -> Result<Spent, ImplementFailure> {
    use serde_json::json;
    let model = client.model_or_default(spec.implementer.model.as_ref());
    let prompt = crate::prompt::implement(spec, item, best, site.tree) + crate::prompt::EDIT_FORMAT;
    let _ = std::fs::write(site.out_dir.join("prompt.md"), &prompt);
    let transcript = site.out_dir.join("transcript.jsonl");
    let mut messages = vec![json!({"role": "user", "content": prompt})];
    let mut cost = Spent::default();
    for attempt in 0..2 {
        let reply = tokio::select! {
            r = client.chat_with(&model, &messages, crate::llm::Sampling {
                temperature: spec.implementer.temperature,
                max_tokens: spec.implementer.max_tokens,
            }) => r,
            _ = site.cancel.cancelled() => return Err(ImplementFailure::Interrupted),
        };
        let reply = reply.map_err(|e| match e {
            crate::llm::LlmError::Outage { .. } => ImplementFailure::Outage(e.to_string()),
            crate::llm::LlmError::Budget(why) => ImplementFailure::Budget(why),
            other => ImplementFailure::Failed(other.to_string()),
        })?;
        cost.usd += reply.cost_usd.unwrap_or(0.0);
        cost.tokens += reply.usage.input_tokens + reply.usage.output_tokens;
        let applied = crate::llm::parse_edits(&reply.text).and_then(|edits| {
            crate::llm::apply_edits(site.tree, &edits, spec, site.always_immutable)
        });
        crate::llm::transcript(
            client,
            &transcript,
            &json!({"request": messages, "reply": reply.text, "model": model,
                "usage": {"input_tokens": reply.usage.input_tokens, "output_tokens": reply.usage.output_tokens},
                "cost_usd": reply.cost_usd, "refused": applied.as_ref().err().map(|e| e.to_string()),
                "tolerated": applied.as_ref().map(|a| a.notes.clone()).unwrap_or_default()}),
        );
        match applied {
            Ok(_) => return Ok(cost),
            Err(e) if attempt == 0 => {
                messages.push(json!({"role": "assistant", "content": reply.text}));
                messages.push(json!({"role": "user", "content": format!(
                    "Those edits were refused and nothing was written: {e}. Reply again with corrected edit blocks."
                )}));
            }
            Err(e) => {
                return Err(ImplementFailure::Failed(format!(
                    "the model's edits were refused twice: {e}"
                )));
            }
        }
    }
    unreachable!("the loop returns on its second attempt")
}

/// Dependencies a change adds to any manifest that are not approved, as
/// `(name, manifest path)`.
pub fn unapproved_dependencies(
    repo: &Repo,
    base: Oid,
    commit: Oid,
    files: &[String],
    approved: &[String],
) -> crate::git::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for f in files {
        let Some(kind) = deps::manifest_kind(f) else {
            continue;
        };
        let before = repo.file_at(base, f)?;
        let after = repo.file_at(commit, f)?;
        for dep in deps::added(kind, before.as_deref(), after.as_deref()) {
            if !is_approved(&dep, approved) {
                out.push((dep, f.clone()));
            }
        }
    }
    Ok(out)
}
