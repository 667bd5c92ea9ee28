//! An experiment's outcome: the nine of the seed schema and the newer ones.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every outcome of both schemas. An outcome we do not know is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    Measured,
    Promising,
    Kept,
    NotSelected,
    Reverted,
    Inconclusive,
    Censored,
    Degenerate,
    Error,
    DeferredNeedsApproval,
    Timeout,
    RunnerUpKept,
    RunnerUpReverted,
    Other(String),
}

impl Outcome {
    pub const KNOWN: [Outcome; 13] = [
        Outcome::Measured,
        Outcome::Promising,
        Outcome::Kept,
        Outcome::NotSelected,
        Outcome::Reverted,
        Outcome::Inconclusive,
        Outcome::Censored,
        Outcome::Degenerate,
        Outcome::Error,
        Outcome::DeferredNeedsApproval,
        Outcome::Timeout,
        Outcome::RunnerUpKept,
        Outcome::RunnerUpReverted,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Outcome::Measured => "measured",
            Outcome::Promising => "promising",
            Outcome::Kept => "kept",
            Outcome::NotSelected => "not_selected",
            Outcome::Reverted => "reverted",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Censored => "censored",
            Outcome::Degenerate => "degenerate",
            Outcome::Error => "error",
            Outcome::DeferredNeedsApproval => "deferred_needs_approval",
            Outcome::Timeout => "timeout",
            Outcome::RunnerUpKept => "runner_up_kept",
            Outcome::RunnerUpReverted => "runner_up_reverted",
            Outcome::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Outcome {
        Outcome::KNOWN
            .iter()
            .find(|o| o.as_str() == s)
            .cloned()
            .unwrap_or_else(|| Outcome::Other(s.to_string()))
    }

    /// Waiting for batch evaluation (or ladder confirmation).
    pub fn is_pending(&self) -> bool {
        matches!(self, Outcome::Measured | Outcome::Promising)
    }

    /// Integrated onto the optimization branch.
    pub fn is_kept(&self) -> bool {
        matches!(self, Outcome::Kept | Outcome::RunnerUpKept)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Outcome::parse(&String::deserialize(d)?))
    }
}

/// The measurement a decision needs next (decide.mjs's `next_measurement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextMeasurement {
    None,
    Smoke,
    Exploratory,
    Confirm,
    AddSample,
    /// The selection pair would keep: the held-out pair confirms it.
    Holdout,
}
