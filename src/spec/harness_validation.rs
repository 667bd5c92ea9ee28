//! `harness_validation:`: degenerate changes the harness must catch before a
//! run trusts it (ce-optimize's harness validation).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct HarnessValidation {
    /// Each applied alone to the start commit and measured: it must fail a
    /// gate or score worse than the baseline.
    #[serde(default)]
    pub shortcuts: Vec<Shortcut>,
}

/// A change that games the metric instead of improving it: print a
/// constant, return empty output, copy the expected answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Shortcut {
    pub description: String,
    /// A shell command run in the start commit's worktree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<String>,
    /// A unified diff against the start commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}
