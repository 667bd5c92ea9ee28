//! One success criterion's result (`metric.criteria`), as an entry records it.

use serde::{Deserialize, Serialize};

/// A criterion checked after an experiment's measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionResult {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    pub details: String,
}
