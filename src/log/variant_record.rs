//! One variant's attempt at an experiment (`implementer.variants`), as its
//! entry records it.

use serde::{Deserialize, Serialize};

/// One variant's attempt at an experiment, as its entry records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// How this variant's attempt ended.
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
    #[serde(default)]
    pub llm_cost_usd: f64,
    #[serde(default)]
    pub tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How one variant's attempt ended, before the experiment is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Measured with its gates passed: a candidate for the experiment.
    Measured,
    /// A gate (or the smoke check) failed.
    Degenerate,
    Error,
    Timeout,
    /// It added a dependency that waits for approval.
    DeferredNeedsApproval,
    /// Stopped by Ctrl-C, an outage or a budget.
    Interrupted,
}
