//! The held-out pair a would-be keep was confirmed on (ce-optimize's
//! `kind: holdout` pairing), as an entry records it.

use serde::{Deserialize, Serialize};

/// The holdout's verdict, as decide.mjs names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldoutVerdict {
    Keep,
    Revert,
    Inconclusive,
    Degenerate,
    Error,
}

impl HoldoutVerdict {
    /// Its name in the log (and in decide.mjs's record).
    pub fn as_str(self) -> &'static str {
        match self {
            HoldoutVerdict::Keep => "keep",
            HoldoutVerdict::Revert => "revert",
            HoldoutVerdict::Inconclusive => "inconclusive",
            HoldoutVerdict::Degenerate => "degenerate",
            HoldoutVerdict::Error => "error",
        }
    }
}

/// The held-out pair measured for a would-be keep and what it decided.
/// Read by the decision and the report only: never by a prompt, the digest
/// or the learnings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutRecord {
    /// The best the candidate would replace, measured beside it.
    pub reference_commit: String,
    /// The commit measured: the experiment's, or its combination with a
    /// newer best.
    pub candidate_commit: String,
    /// decide.mjs's snapshots of both on the held-out cases.
    pub baseline: serde_yaml::Value,
    pub candidate: serde_yaml::Value,
    /// The holdout is itself an eligible improvement.
    pub agrees: bool,
    pub decision: HoldoutVerdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
