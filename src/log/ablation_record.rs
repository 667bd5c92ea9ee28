//! Leave-one-out ablation of the kept stack (`optimize ablate`,
//! `wrapup.ablation`), as the log records it: each kept change's effect
//! alone on the start commit and when taken out of the best, and what that
//! says of it.

use serde::{Deserialize, Serialize};

/// How much better one measurement is than another on the primary metric
/// (positive: better, whatever the direction).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    pub delta: f64,
    /// 95% Welch interval of the delta, with two samples a side or more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The stack loses its gain without it, and it gains alone.
    CarriesTheGain,
    /// The stack loses its gain without it, though alone it gains nothing:
    /// it works together with the others.
    CarriesTheGainWithOthers,
    /// Taking it out changes nothing beyond the noise threshold.
    Redundant,
    /// The stack is better without it.
    HarmfulInTheStack,
    /// Later changes build on it; it cannot be taken out alone.
    Entangled,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::CarriesTheGain => "carries the gain",
            Verdict::CarriesTheGainWithOthers => "carries the gain only with the others",
            Verdict::Redundant => "redundant",
            Verdict::HarmfulInTheStack => "harmful in the stack",
            Verdict::Entangled => "entangled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblatedChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u64>,
    pub hypothesis: String,
    pub commit: String,
    /// The change alone on the start commit, against the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alone: Option<Effect>,
    /// The best without this change, against the best (negative: the stack
    /// loses that much without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Effect>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationRecord {
    pub measured_at: String,
    pub best_commit: String,
    pub start_commit: String,
    /// The primary metric of the best and of the start, measured with the
    /// changes, under the same conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_value: Option<f64>,
    /// The bar an effect must clear to count (the run's noise threshold).
    pub threshold: f64,
    pub changes: Vec<AblatedChange>,
}
