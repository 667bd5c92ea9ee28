//! One experiment entry: the schema's fields and what the tool records beside them.

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub file: String,
    #[serde(default)]
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub iteration: u64,
    pub batch: u64,
    pub hypothesis: String,
    pub category: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Mapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates_passed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Mapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Mapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<Mapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_delta: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective_results: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_measurement: Option<super::NextMeasurement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learnings: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_with: Option<u64>,
    #[serde(flatten)]
    pub record: Recorded,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// What the tool records in an entry beside the schema's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// The experiment's own commit, kept on its `optimize-exp/` branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_commit: Option<String>,
    /// The best it was built on (and measured against): decided against a
    /// newer best, it is rebased onto it and measured again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Every model call made for this experiment (edits, learnings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred_deps: Vec<String>,
    /// Set once its dependencies were approved and it went back to the backlog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// An approved deferred experiment measured again: the original entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_from_iteration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
    /// A runner-up merged onto the new best: that combination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combined_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combined_metrics: Option<Mapping>,
    /// The rule-based learning when a model wrote `learnings`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templated_learnings: Option<String>,
    /// Every sample of every metric, in the order they were taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<std::collections::BTreeMap<String, Vec<f64>>>,
    /// The ladder's smoke check ran and passed (or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke_passed: Option<bool>,
    /// `method: statistical`: the interval of the primary's change against
    /// the incumbent, in the metric's units (candidate minus incumbent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_ci: Option<[f64; 2]>,
    /// `method: statistical`: the one-sided confidence the change exceeds
    /// the threshold, as reached when sampling stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// `execution.runner: slurm`: the batch jobs that measured it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slurm_jobs: Vec<String>,
    /// `method: statistical`: the statistical verdict (keep, futile, inconclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_verdict: Option<String>,
    /// A hash of the harness (`scope.immutable` and the files the measurement
    /// command names) it was measured with: the run's start commit's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_hash: Option<String>,
    /// Harness files found changed in its tree and restored before measuring.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub harness_restored: Vec<String>,
    /// `metric.criteria`: each criterion's result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<super::CriterionResult>,
    /// The weighted share of criteria that passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria_score: Option<f64>,
    /// `implementer.variants`: the variant whose implementation counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Every variant that implemented it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantRecord>,
    /// New files the implementer left outside its scope: kept in the
    /// experiment's `agent-files/`, never committed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_files: Vec<String>,
    /// An error's stage and decisive line (`implement: PermissionError: ...`):
    /// the same cause in a row means a broken environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_cause: Option<String>,
    /// Its hypothesis was given back to the backlog (a streak of the same
    /// failure stopped the run, or `optimize retry`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retried: bool,
    /// `optimize replay`: the experiment this one implemented again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<u64>,
    /// The held-out confirmation of a would-be keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<super::HoldoutRecord>,
    /// With `measurement.per_case`: each case's pass or fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<std::collections::BTreeMap<String, bool>>,
    /// What the evaluator printed as `feedback` (bounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// Cases the best passed and this experiment fails (with
    /// `measurement.per_case`; `None` when no cases were printed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regressions: Option<Vec<String>>,
}

impl Experiment {
    /// The dependencies a deferred entry waits on: its `deferred_deps`, or, in
    /// a log written without them, the names in its deferred_reason
    /// ("...: a (in x), b (in y)").
    pub fn deferred_deps(&self) -> Vec<String> {
        if !self.record.deferred_deps.is_empty() {
            return self.record.deferred_deps.clone();
        }
        let Some((_, list)) = self
            .deferred_reason
            .as_deref()
            .and_then(|r| r.rsplit_once(": "))
        else {
            return Vec::new();
        };
        list.split(", ")
            .filter_map(|part| part.split(" (in ").next())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// `#7 <hypothesis> (kept, <metric> +3)`: an entry on one line, the
    /// hypothesis cut at `width`, the metric named when given.
    pub fn headline(&self, width: usize, metric: Option<&str>) -> String {
        format!(
            "#{} {} ({}, {}{})",
            self.iteration,
            crate::text::one_line(&self.hypothesis, width),
            self.outcome,
            metric.map(|m| format!("{m} ")).unwrap_or_default(),
            self.primary_delta.as_deref().unwrap_or("?")
        )
    }

    pub fn new(
        iteration: u64,
        batch: u64,
        hypothesis: &str,
        category: &str,
        outcome: Outcome,
    ) -> Experiment {
        Experiment {
            iteration,
            batch,
            hypothesis: hypothesis.to_string(),
            category: category.to_string(),
            outcome,
            changes: Vec::new(),
            gates: None,
            gates_passed: None,
            diagnostics: None,
            metrics: None,
            judge: None,
            primary_delta: None,
            objective_results: None,
            sample_count: None,
            next_measurement: None,
            learnings: None,
            commit: None,
            deferred_reason: None,
            error_message: None,
            merged_with: None,
            record: Recorded::default(),
            extra: Mapping::new(),
        }
    }

    /// A metric by name from wherever this entry recorded it.
    /// The cases it regressed, as the morning's summaries say it: `none`,
    /// the case ids (at most `shown`), or `not recorded` when no cases were
    /// printed.
    pub fn regressions_text(&self, shown: usize) -> String {
        match self.record.regressions.as_deref() {
            None => "not recorded".into(),
            Some([]) => "none".into(),
            Some(ids) if ids.len() <= shown => ids.join(", "),
            Some(ids) => format!("{} and {} more", ids[..shown].join(", "), ids.len() - shown),
        }
    }

    pub fn metric(&self, name: &str) -> Option<f64> {
        [&self.metrics, &self.judge, &self.gates, &self.diagnostics]
            .into_iter()
            .flatten()
            .find_map(|m| metric_value(m, name))
    }
}

/// A number from a metrics mapping. The newer schema stores snapshots such as
/// `{aggregate: 1.2, samples: [...]}`; plain numbers are the seed schema's.
pub fn metric_value(map: &Mapping, name: &str) -> Option<f64> {
    value_number(map.get(name)?)
}

pub fn value_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Mapping(m) => ["aggregate", "value", "median", "mean"]
            .iter()
            .find_map(|k| m.get(*k).and_then(value_number)),
        Value::Tagged(t) => value_number(&t.value),
        _ => None,
    }
}
