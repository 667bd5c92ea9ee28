//! `harness_validation` in the log: the shortcuts measured before the
//! baseline, and how the harness caught each.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HarnessCheck {
    pub checked_at: String,
    pub shortcuts: Vec<ShortcutResult>,
}

/// One shortcut applied to the start commit and measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShortcutResult {
    pub description: String,
    /// A gate failed, the measurement failed, or it scored worse than the
    /// baseline.
    pub caught: bool,
    /// How it was caught, or what it scored.
    pub reason: String,
    /// Its primary metric, when it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<f64>,
}
