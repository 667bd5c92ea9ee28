//! The spec's `measurement` section: the command, stability, comparison, the ladder.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Measurement {
    pub command: String,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub output_format: OutputFormat,
    #[serde(default = "default_working_directory")]
    pub working_directory: String,
    #[serde(default)]
    pub stability: Stability,
    /// Ours: measurements that may run at once (see [`crate::spec::Slots`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Held-out confirmation of a would-be keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Holdout>,
    /// The command prints a `cases` map (case id -> pass/fail) beside its
    /// metrics, and each entry records the cases it regressed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_case: bool,
}

impl super::Spec {
    /// A would-be keep is confirmed on a held-out pair first: with
    /// `measurement.holdout`, or a judge primary whose `confirmation_seed`
    /// draws another sample than `sample_seed`.
    pub fn confirms_on_holdout(&self) -> bool {
        let judge_holdout = self.metric.primary.kind == super::MetricType::Judge
            && self
                .metric
                .judge
                .as_ref()
                .is_some_and(|j| j.confirmation_seed.is_some_and(|s| s != j.sample_seed));
        self.measurement.holdout.is_some() || judge_holdout
    }
}

/// A second measurement on cases the selection command never reads: it
/// confirms a keep, it never selects one.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Holdout {
    /// Prints the same metrics as `measurement.command` (the gates and the
    /// required objectives), measured on the held-out cases.
    pub command: String,
    /// Defaults to `measurement.timeout_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

fn default_timeout() -> u64 {
    600
}
fn default_working_directory() -> String {
    ".".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Stability {
    #[serde(default)]
    pub mode: StabilityMode,
    #[serde(default = "default_repeat_count")]
    pub repeat_count: u32,
    #[serde(default)]
    pub aggregation: Aggregation,
    #[serde(default = "default_noise_threshold")]
    pub noise_threshold: f64,
    #[serde(default)]
    pub comparison: Comparison,
    #[serde(default)]
    pub ladder: Option<Ladder>,
}

impl Default for Stability {
    fn default() -> Self {
        Stability {
            mode: StabilityMode::Stable,
            repeat_count: default_repeat_count(),
            aggregation: Aggregation::Median,
            noise_threshold: default_noise_threshold(),
            comparison: Comparison::default(),
            ladder: None,
        }
    }
}

impl Stability {
    /// How many runs the full protocol takes: the baseline's, and a
    /// candidate's in `stable` or `repeat` mode.
    pub fn runs(&self) -> u32 {
        match self.mode {
            StabilityMode::Repeat => self.repeat_count.max(1),
            StabilityMode::Ladder => self.confirmation_repeats(),
            StabilityMode::Stable => 1,
        }
    }

    /// The ladder's full protocol: `confirmation_repeats`, else `repeat_count`.
    pub fn confirmation_repeats(&self) -> u32 {
        self.ladder
            .as_ref()
            .and_then(|l| l.confirmation_repeats)
            .filter(|n| *n >= 1)
            .map(|n| n as u32)
            .unwrap_or(self.repeat_count.max(1))
    }

    /// The spec opted into ce-optimize's newer decision model (objectives,
    /// a ladder or an explicit comparison method), whose outcomes include
    /// `inconclusive`, `not_selected` and `censored`. Without it, the legacy
    /// rule and the seed schema's outcomes are kept.
    pub fn uses_newer_outcomes(&self, has_objectives: bool) -> bool {
        has_objectives || self.mode == StabilityMode::Ladder || self.comparison.method.is_some()
    }
}

/// `repeat_count` when a spec leaves it out.
pub const DEFAULT_REPEAT_COUNT: u32 = 5;

fn default_repeat_count() -> u32 {
    DEFAULT_REPEAT_COUNT
}
fn default_noise_threshold() -> f64 {
    0.02
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StabilityMode {
    #[default]
    Stable,
    Repeat,
    Ladder,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    #[default]
    Median,
    Mean,
    Min,
    Max,
}

impl Aggregation {
    pub fn apply(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        Some(match self {
            Aggregation::Mean => values.iter().sum::<f64>() / values.len() as f64,
            Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Aggregation::Median => median(values)?,
        })
    }
}

/// The middle value, or the mean of the two middle ones.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Comparison {
    /// Unset keeps the legacy absolute `noise_threshold` rule and outcomes.
    #[serde(default)]
    pub method: Option<ComparisonMethod>,
    #[serde(default)]
    pub relative_threshold: Option<f64>,
    /// Replaces `stability.noise_threshold` for the comparison (decide.mjs reads it).
    #[serde(default)]
    pub noise_threshold: Option<f64>,
    #[serde(default)]
    pub minimum_improvement: Option<f64>,
    /// `statistical`: the confidence a keep needs (default 0.95).
    #[serde(default)]
    pub confidence: Option<f64>,
    /// `statistical`: samples one candidate may take at most (default 24).
    #[serde(default)]
    pub max_samples: Option<u32>,
}

impl Comparison {
    pub fn method(&self) -> ComparisonMethod {
        self.method.unwrap_or_default()
    }

    pub fn confidence(&self) -> f64 {
        self.confidence.unwrap_or(0.95)
    }

    pub fn max_samples(&self) -> u32 {
        self.max_samples.unwrap_or(24)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComparisonMethod {
    #[default]
    Absolute,
    Relative,
    Paired,
    /// Ours: sequential Welch tests against the incumbent re-measured in
    /// each batch.
    Statistical,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Ladder {
    #[serde(default)]
    pub smoke_command: Option<String>,
    #[serde(default)]
    pub exploratory_pairs: Option<i64>,
    #[serde(default)]
    pub confirmation_repeats: Option<i64>,
    #[serde(default)]
    pub futility: Option<Futility>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Futility {
    #[serde(default)]
    pub worse_factor: Option<f64>,
    #[serde(default)]
    pub after_elapsed_seconds: Option<f64>,
}
