//! The spec's `hypotheses`, `implementer` (agents, variants) and `llm` sections.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HypothesisSource {
    #[default]
    Llm,
    File,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Hypotheses {
    #[serde(default)]
    pub source: HypothesisSource,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImplementerKind {
    #[default]
    Llm,
    Command,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Implementer {
    #[serde(default)]
    pub kind: ImplementerKind,
    /// A coding agent's preset (`crate::agent`): its command line unless
    /// `command` is given, and its state, keys and debris either way.
    #[serde(default)]
    pub agent: Option<crate::agent::Agent>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default = "default_implementer_timeout")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub model: Option<String>,
    /// Variables the agent command gets from the orchestrator's environment
    /// although they look secret (an agent CLI's own key).
    #[serde(default)]
    pub env: Vec<String>,
    /// Sent with the model's edit requests when set.
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Ours: several implementers for each hypothesis; the best one counts.
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub selection: Selection,
    /// With `selection: bandit`: how many variants implement each hypothesis.
    #[serde(default = "two")]
    pub per_hypothesis: u32,
    /// Replaces prompts/implement.md (`optimize replay --prompt FILE`).
    #[serde(skip)]
    pub prompt_template: Option<String>,
}

fn two() -> u32 {
    2
}

/// One implementer of `implementer.variants`; what it leaves unset comes
/// from `implementer`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub kind: Option<ImplementerKind>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Replaces prompts/implement.md (set by `optimize replay --prompt`).
    #[serde(skip)]
    pub prompt_template: Option<String>,
}

/// Which variants implement a hypothesis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// Every variant implements every hypothesis.
    #[default]
    All,
    /// `per_hypothesis` variants per hypothesis, by kept rate per dollar.
    Bandit,
}

impl Spec {
    /// The coding agent of the implementer: its command's first word, else
    /// `implementer.agent` (a wrapper script around the agent).
    pub fn agent(&self) -> Option<crate::agent::Agent> {
        self.implementer
            .command
            .as_deref()
            .and_then(crate::agent::Agent::of_command)
            .or(self.implementer.agent)
    }

    /// What the agent's preset needs of this spec.
    pub fn agent_target(&self) -> crate::agent::Target<'_> {
        crate::agent::Target {
            model: self.implementer.model.as_deref(),
            default_model: &self.llm.model,
            base_url: &self.llm.base_url,
        }
    }
}

impl Default for Implementer {
    fn default() -> Self {
        Implementer {
            kind: ImplementerKind::Llm,
            agent: None,
            command: None,
            timeout_seconds: default_implementer_timeout(),
            model: None,
            env: Vec::new(),
            temperature: None,
            max_tokens: None,
            variants: Vec::new(),
            selection: Selection::All,
            per_hypothesis: two(),
            prompt_template: None,
        }
    }
}

fn default_implementer_timeout() -> u64 {
    900
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Llm {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default = "default_model")]
    pub model: String,
    #[serde(default = "default_api_key_env")]
    pub api_key_env: String,
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Seconds one request may take before it is retried.
    #[serde(default = "default_llm_timeout")]
    pub timeout_seconds: u64,
    /// How long the server may keep failing (429, 5xx, connection errors,
    /// timeouts) before the run stops, resumably.
    #[serde(default = "default_outage_minutes")]
    pub max_outage_minutes: f64,
}

impl Default for Llm {
    fn default() -> Self {
        Llm {
            base_url: default_base_url(),
            model: default_model(),
            api_key_env: default_api_key_env(),
            prices: BTreeMap::new(),
            timeout_seconds: default_llm_timeout(),
            max_outage_minutes: default_outage_minutes(),
        }
    }
}

fn default_llm_timeout() -> u64 {
    120
}
fn default_outage_minutes() -> f64 {
    30.0
}

fn default_base_url() -> String {
    "https://api.openai.com/v1".into()
}
fn default_model() -> String {
    "gpt-4.1".into()
}
fn default_api_key_env() -> String {
    "OPENAI_API_KEY".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}
