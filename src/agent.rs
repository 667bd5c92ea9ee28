//! Presets for the coding agents people bring as implementers: aider, Codex,
//! Claude Code, opencode and Gemini CLI. Each knows the agent's
//! non-interactive command line (the prompt on stdin or from
//! `OPTIMIZE_PROMPT_FILE`, no confirmations, no commits of its own, no
//! update checks or telemetry), how it takes `implementer.model` and
//! `llm.base_url`, the state it writes under `HOME` (writable under the
//! sandbox), the environment names that carry its key, and the files it
//! leaves in the worktree. `implementer.agent` picks one; a spec's own
//! `implementer.command` replaces the command line and keeps the rest, and a
//! command whose first word is one of these agents gets the same defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a preset needs to know of the spec: the models and the server.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `implementer.model`, when set.
    pub model: Option<&'a str>,
    /// `llm.model`.
    pub default_model: &'a str,
    /// `llm.base_url`.
    pub base_url: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    Aider,
    Codex,
    Claude,
    Opencode,
    Gemini,
}

/// What an agent needs around its command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub agent: Agent,
    /// Paths under `HOME` (as `~/...`) it writes: created before it runs and
    /// writable under the sandbox.
    pub state: Vec<&'static str>,
    /// Environment names that carry its key; those set are passed to it.
    pub keys: Vec<&'static str>,
    /// Variables it gets (telemetry off, the server, its config).
    pub env: Vec<(String, String)>,
    /// What it leaves in the worktree (kept aside, never committed).
    pub debris: &'static str,
}

/// The default OpenAI endpoint: an agent whose own default it is needs no
/// base URL.
const OPENAI: &str = "https://api.openai.com/v1";

impl Agent {
    pub const ALL: [Agent; 5] = [
        Agent::Aider,
        Agent::Codex,
        Agent::Claude,
        Agent::Opencode,
        Agent::Gemini,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Agent::Aider => "aider",
            Agent::Codex => "codex",
            Agent::Claude => "claude",
            Agent::Opencode => "opencode",
            Agent::Gemini => "gemini",
        }
    }

    /// The agent a command runs: its first word (after `env` and its
    /// assignments), by file name.
    pub fn of_command(command: &str) -> Option<Agent> {
        let mut words = command.split_whitespace();
        let mut first = words.next()?;
        if Path::new(first).file_name().is_some_and(|n| n == "env") {
            first = words.find(|w| !w.contains('=') && !w.starts_with('-'))?;
        }
        let name = Path::new(first).file_name()?.to_str()?;
        Agent::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The non-interactive command line for `spec`'s model and server.
    pub fn command(self, t: &Target<'_>) -> String {
        let model = t.model;
        let base = t.base_url.trim_end_matches('/');
        match self {
            Agent::Aider => {
                let model = model.unwrap_or(t.default_model);
                let model = if model.contains('/') {
                    model.to_string()
                } else {
                    format!("openai/{model}")
                };
                format!(
                    "aider --model {model} --openai-api-base {base} --edit-format diff --yes-always \
                     --no-git --no-auto-commits --no-check-update --analytics-disable --no-pretty \
                     --no-stream --no-show-model-warnings --no-fancy-input \
                     --message-file \"$OPTIMIZE_PROMPT_FILE\""
                )
            }
            Agent::Codex => {
                let model = model.unwrap_or(t.default_model);
                format!(
                    "codex exec -c model_provider=optimize -c model={model} \
                     -c model_providers.optimize.name=optimize \
                     -c model_providers.optimize.base_url={base} \
                     -c model_providers.optimize.env_key=OPENAI_API_KEY \
                     -c model_providers.optimize.wire_api=responses \
                     -c analytics.enabled=false -c check_for_update_on_startup=false \
                     --disable plugins --disable remote_plugin \
                     --dangerously-bypass-approvals-and-sandbox --skip-git-repo-check \
                     --ephemeral --color never -"
                )
            }
            Agent::Claude => {
                let model = model.map(|m| format!(" --model {m}")).unwrap_or_default();
                format!("claude -p --permission-mode acceptEdits{model} --output-format text")
            }
            Agent::Opencode => "opencode run --pure".to_string(),
            Agent::Gemini => {
                let model = model.unwrap_or("gemini-2.5-flash");
                format!("gemini --approval-mode yolo -m {model} -o text")
            }
        }
    }

    /// Everything but the command line, for a run whose state dir is `state`.
    pub fn preset(self, t: &Target<'_>, state: &Path) -> Preset {
        let base = t.base_url.trim_end_matches('/').to_string();
        let own_server = base != OPENAI;
        // Anthropic's and Google's clients add their own `/v1...` paths.
        let root = base.strip_suffix("/v1").unwrap_or(&base).to_string();
        let set = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        match self {
            Agent::Aider => Preset {
                agent: self,
                state: vec!["~/.aider"],
                keys: vec!["OPENAI_API_KEY", "AIDER_OPENAI_API_KEY"],
                env: set(&[("LITELLM_LOCAL_MODEL_COST_MAP", "True")]),
                debris: ".aider*",
            },
            Agent::Codex => Preset {
                agent: self,
                state: vec!["~/.codex"],
                keys: vec!["OPENAI_API_KEY"],
                env: home_default("CODEX_HOME", ".codex"),
                debris: "",
            },
            Agent::Claude => {
                let mut env = set(&[
                    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
                    ("DISABLE_AUTOUPDATER", "1"),
                    ("DISABLE_TELEMETRY", "1"),
                    ("DISABLE_ERROR_REPORTING", "1"),
                ]);
                // Its state (and .claude.json) in one directory, not in HOME itself.
                env.extend(home_default("CLAUDE_CONFIG_DIR", ".claude"));
                if own_server {
                    env.push(("ANTHROPIC_BASE_URL".into(), root));
                }
                Preset {
                    agent: self,
                    state: vec!["~/.claude"],
                    keys: vec!["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"],
                    env,
                    debris: "",
                }
            }
            Agent::Opencode => opencode(t),
            Agent::Gemini => {
                let mut env = set(&[
                    ("GEMINI_CLI_TRUST_WORKSPACE", "true"),
                    ("GEMINI_TELEMETRY_ENABLED", "false"),
                ]);
                env.push((
                    "GEMINI_CLI_SYSTEM_SETTINGS_PATH".into(),
                    gemini_settings_path(state).display().to_string(),
                ));
                if own_server {
                    env.push(("GOOGLE_GEMINI_BASE_URL".into(), root));
                }
                Preset {
                    agent: self,
                    state: vec!["~/.gemini"],
                    keys: vec!["GEMINI_API_KEY", "GOOGLE_API_KEY"],
                    env,
                    debris: "",
                }
            }
        }
    }
}

/// opencode: the server as an OpenAI-compatible provider in
/// `OPENCODE_CONFIG_CONTENT`, edits allowed, updates and sharing off.
fn opencode(t: &Target<'_>) -> Preset {
    let base = t.base_url.trim_end_matches('/');
    let set = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let model = t.model.unwrap_or(t.default_model).to_string();
    let config = serde_json::json!({
        "model": format!("optimize/{model}"),
        "small_model": format!("optimize/{model}"),
        "autoupdate": false,
        "share": "disabled",
        "permission": {"edit": "allow", "bash": "allow", "webfetch": "deny"},
        "provider": {"optimize": {
            "npm": "@ai-sdk/openai-compatible",
            "options": {"baseURL": base, "apiKey": "{env:OPENAI_API_KEY}"},
            "models": {model: {"tool_call": true}},
        }},
    });
    let mut env = set(&[
        ("OPENCODE_DISABLE_AUTOUPDATE", "1"),
        ("OPENCODE_DISABLE_MODELS_FETCH", "1"),
        ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1"),
        ("OPENCODE_DISABLE_DEFAULT_PLUGINS", "1"),
        ("OPENCODE_DISABLE_SHARE", "1"),
        ("OPENCODE_DISABLE_CLAUDE_CODE", "1"),
    ]);
    env.push(("OPENCODE_CONFIG_CONTENT".into(), config.to_string()));
    Preset {
        agent: Agent::Opencode,
        state: vec![
            "~/.local/share/opencode",
            "~/.local/state/opencode",
            "~/.config/opencode",
            "~/.cache/opencode",
        ],
        keys: vec!["OPENAI_API_KEY"],
        env,
        debris: "",
    }
}

/// `name=$HOME/<dir>` unless the user set `name` already.
fn home_default(name: &str, dir: &str) -> Vec<(String, String)> {
    match (std::env::var_os(name), home()) {
        (None, Some(home)) => vec![(name.into(), home.join(dir).display().to_string())],
        _ => Vec::new(),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// `~/x` under `HOME`; other paths as they are.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// Gemini CLI reads its auth choice from a settings file; ours lives in the
/// state dir (`agents/gemini-settings.json`), never in the user's HOME.
pub fn gemini_settings_path(state: &Path) -> PathBuf {
    state.join("agents").join("gemini-settings.json")
}

const GEMINI_SETTINGS: &str = r#"{
  "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false}
}
"#;

impl Preset {
    /// Before the agent runs: its state directories exist (Codex refuses to
    /// start without its home; the sandbox can only open what exists) and
    /// its configuration files are written in the state dir.
    pub fn prepare(&self, state: &Path) -> std::io::Result<()> {
        for dir in &self.state {
            let path = expand_home(dir);
            std::fs::create_dir_all(&path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
            })?;
        }
        if self.agent == Agent::Gemini {
            let path = gemini_settings_path(state);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::fsutil::write_atomic(&path, GEMINI_SETTINGS.as_bytes())?;
        }
        Ok(())
    }

    /// The key variables it gets, set or not.
    pub fn key_names(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Agent;

    #[test]
    fn the_first_word_names_the_agent() {
        assert_eq!(Agent::of_command("aider --yes"), Some(Agent::Aider));
        assert_eq!(
            Agent::of_command("/opt/bin/codex exec -"),
            Some(Agent::Codex)
        );
        assert_eq!(
            Agent::of_command("env FOO=1 claude -p"),
            Some(Agent::Claude)
        );
        assert_eq!(Agent::of_command("./agent.sh"), None);
        assert_eq!(Agent::of_command(""), None);
    }
}
