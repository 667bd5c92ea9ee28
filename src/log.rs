//! The experiment log (`experiment-log.yaml`): the single source of truth of a
//! run. Types follow the seed schema field for field and also accept the newer
//! ce-optimize schema; keys we do not know are kept in `extra` and written back.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_yaml::{Mapping, Value};

mod check;
mod run_state;
mod store;
mod timestamps;
mod variant_record;

pub use run_state::{InFlight, InFlightMember, Limits, RunMeta, Session, SessionKind, Timings};
pub use store::{Fnv, LogFile, redo_path};
pub use variant_record::VariantRecord;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read the experiment log {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: the experiment log is not valid: {message}\n(it was left untouched; fix it by hand or start anew with --fresh)", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("cannot write the experiment log {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}:{line}: the experiment log is cut short: it ends at line {line} without the line \"# end of experiment log\" that optimize writes last{}; it was left untouched\n{}",
        path.display(),
        if missing.is_empty() { String::new() } else { format!(" (missing: {missing})") },
        match backup {
            Some(b) => format!("the last complete save is kept in {}: check it, then copy it over the log (cp {} {}) and run again", b.display(), b.display(), path.display()),
            None => "no complete copy is kept beside it; restore it from a backup of your own, or start anew with --fresh".to_string(),
        }
    )]
    Truncated {
        path: PathBuf,
        line: usize,
        /// The top-level sections that never came.
        missing: String,
        /// The backup, when it is whole.
        backup: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExperimentLog {
    pub spec: String,
    pub run_id: String,
    pub started_at: String,
    #[serde(default)]
    pub baseline: Baseline,
    #[serde(default)]
    pub experiments: Vec<Experiment>,
    #[serde(default)]
    pub best: Best,
    #[serde(default)]
    pub hypothesis_backlog: Vec<BacklogItem>,
    #[serde(flatten)]
    pub run: RunMeta,
    #[serde(flatten)]
    pub extra: Mapping,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub gates: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Mapping>,
    #[serde(default)]
    pub diagnostics: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<Mapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<std::collections::BTreeMap<String, Vec<f64>>>,
    #[serde(flatten)]
    pub extra: Mapping,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Best {
    #[serde(default)]
    pub iteration: u64,
    #[serde(default)]
    pub metrics: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<Mapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_judge_cost_usd: Option<f64>,
    /// The commit the optimization branch points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Every sample of the best's metrics (with `method: statistical`,
    /// its re-measurements in later batches too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<std::collections::BTreeMap<String, Vec<f64>>>,
    #[serde(flatten)]
    pub extra: Mapping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    Medium,
    Low,
}

impl Priority {
    pub fn rank(self) -> u8 {
        match self {
            Priority::High => 0,
            Priority::Medium => 1,
            Priority::Low => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepStatus {
    Approved,
    NeedsApproval,
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacklogItem {
    pub description: String,
    #[serde(default = "uncategorized")]
    pub category: String,
    #[serde(default = "medium")]
    pub priority: Priority,
    #[serde(default = "not_applicable")]
    pub dep_status: DepStatus,
    #[serde(default)]
    pub required_deps: Vec<String>,
    /// Files the hypothesis expects to touch (used to keep a batch disjoint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// File hypotheses: a shell command run in the worktree...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<String>,
    /// ...or a unified diff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// An approved deferred experiment: its kept commit, measured again on
    /// the current best instead of being implemented again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_iteration: Option<u64>,
    #[serde(flatten)]
    pub extra: Mapping,
}

impl BacklogItem {
    /// A hypothesis for the model or an agent to implement: medium priority,
    /// no dependencies, files or command.
    pub fn new(description: &str, category: &str) -> BacklogItem {
        BacklogItem {
            description: description.to_string(),
            category: category.to_string(),
            priority: Priority::Medium,
            dep_status: DepStatus::NotApplicable,
            required_deps: Vec::new(),
            files: Vec::new(),
            apply: None,
            patch: None,
            from_commit: None,
            from_iteration: None,
            extra: Mapping::new(),
        }
    }
}

fn uncategorized() -> String {
    "uncategorized".into()
}
fn medium() -> Priority {
    Priority::Medium
}
fn not_applicable() -> DepStatus {
    DepStatus::NotApplicable
}

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
    pub next_measurement: Option<String>,
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
    pub criteria: Vec<crate::criteria::CriterionResult>,
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
}

impl Experiment {
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

impl Baseline {
    pub fn metric(&self, name: &str) -> Option<f64> {
        [
            self.metrics.as_ref(),
            self.judge.as_ref(),
            Some(&self.gates),
            Some(&self.diagnostics),
        ]
        .into_iter()
        .flatten()
        .find_map(|m| metric_value(m, name))
    }
}

impl Best {
    pub fn metric(&self, name: &str) -> Option<f64> {
        [Some(&self.metrics), self.judge.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|m| metric_value(m, name))
    }
}

/// What evaluating a batch may change: the entries from the first pending
/// one on, `best`, the backlog and the run's records. Copying only these (not
/// every earlier entry) keeps an evaluation's cost independent of the log's
/// length.
pub struct Checkpoint {
    from: usize,
    entries: Vec<Experiment>,
    best: Best,
    backlog: Vec<BacklogItem>,
    run: RunMeta,
    extra: Mapping,
}

impl ExperimentLog {
    pub fn checkpoint(&self) -> Checkpoint {
        let from = self
            .experiments
            .iter()
            .position(|e| e.outcome.is_pending())
            .unwrap_or(self.experiments.len());
        Checkpoint {
            from,
            entries: self.experiments[from..].to_vec(),
            best: self.best.clone(),
            backlog: self.hypothesis_backlog.clone(),
            run: self.run.clone(),
            extra: self.extra.clone(),
        }
    }

    /// Puts back what [`ExperimentLog::checkpoint`] copied.
    pub fn restore(&mut self, c: Checkpoint) {
        self.experiments.truncate(c.from);
        self.experiments.extend(c.entries);
        self.best = c.best;
        self.hypothesis_backlog = c.backlog;
        self.run = c.run;
        self.extra = c.extra;
    }

    /// Reads the log, finishing (in memory) a write a kill interrupted,
    /// around whatever a live run writes meanwhile.
    pub fn load(path: &Path) -> Result<ExperimentLog, LogError> {
        ExperimentLog::parse(&store::read(path, store::Reader::Observer)?, path)
    }

    /// Reads the log as the holder of the run lock, who may set a stale redo
    /// record aside.
    pub fn load_owned(path: &Path) -> Result<ExperimentLog, LogError> {
        ExperimentLog::parse(&store::read(path, store::Reader::Owner)?, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<ExperimentLog, LogError> {
        let log: ExperimentLog = serde_yaml::from_str(text).map_err(|e| {
            let message = e.to_string();
            // The position is already in front; drop serde_yaml's copy of it.
            let mut message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            if message == "repetition limit exceeded" {
                message = "the YAML expands its aliases beyond the reader's limit; refused (an alias bomb?)".into();
            }
            let mut at = e.location().map(|l| (l.line(), l.column()));
            // Fields of flattened records come without a place, or with
            // their record's: find the key itself.
            if let Some(key) = check::culprit(text) {
                if let Some((path, rest)) = message.split_once(": ")
                    && key.starts_with(path)
                {
                    message = rest.to_string();
                }
                at = crate::spec::position_of(text, &key)
                    .map(|p| (p.line, p.col))
                    .or(at);
                message = format!("{key}: {message}");
            }
            let (line, column) = at.unwrap_or((1, 1));
            LogError::Corrupt {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })?;
        check::check(&log, text, path)?;
        Ok(log)
    }

    /// Writes the whole log atomically: a reader sees the old file or the
    /// new one. (A run saves through [`LogFile`], which writes less.)
    pub fn save(&self, path: &Path) -> Result<(), LogError> {
        store::rewrite(path, &self.to_yaml())
    }

    /// Every dollar spent on models: the judge's and all other calls.
    pub fn total_cost_usd(&self) -> f64 {
        self.best.total_judge_cost_usd.unwrap_or(0.0) + self.run.total_llm_cost_usd.unwrap_or(0.0)
    }

    /// What the run delivers for a metric: the best's value once a change is
    /// kept; the baseline's while none is. The best is then the start commit
    /// itself, and its re-measurements beside candidates (often on busy
    /// cores) are a reference for decisions, not a result of the run.
    pub fn result(&self, name: &str) -> Option<f64> {
        if self.experiments.iter().any(|e| e.outcome.is_kept()) {
            self.best
                .metric(name)
                .or_else(|| self.baseline.metric(name))
        } else {
            self.baseline.metric(name)
        }
    }

    /// The newest decided entries that failed with one cause and were not
    /// given back yet, newest first, with that cause: a broken environment
    /// fails every experiment the same way.
    pub fn failure_streak(&self) -> (Vec<u64>, Option<String>) {
        let mut decided: Vec<&Experiment> = self
            .experiments
            .iter()
            .filter(|e| !e.outcome.is_pending())
            .collect();
        decided.sort_by_key(|e| e.iteration);
        let mut streak = Vec::new();
        let mut cause: Option<&String> = None;
        for e in decided.iter().rev() {
            let failed = matches!(e.outcome, Outcome::Error | Outcome::Timeout);
            let Some(c) = e
                .record
                .failure_cause
                .as_ref()
                .filter(|_| failed && !e.record.retried)
            else {
                break;
            };
            if cause.is_some_and(|first| first != c) {
                break;
            }
            cause = Some(c);
            streak.push(e.iteration);
        }
        (streak, cause.cloned())
    }

    /// Gives the hypotheses of entries `iterations` back to the front of the
    /// backlog, once each (the entries stay, marked `retried`); `originals`
    /// supplies what an entry does not keep (a file hypothesis's `apply` or
    /// `patch`). Returns the descriptions given back.
    pub fn give_back(&mut self, iterations: &[u64], originals: &[BacklogItem]) -> Vec<String> {
        let mut back = Vec::new();
        for e in self.experiments.iter_mut() {
            if !iterations.contains(&e.iteration) || e.record.retried {
                continue;
            }
            e.record.retried = true;
            let queued = self
                .hypothesis_backlog
                .iter()
                .any(|h| h.description == e.hypothesis);
            if queued
                || back
                    .iter()
                    .any(|b: &BacklogItem| b.description == e.hypothesis)
            {
                continue;
            }
            let item = originals
                .iter()
                .find(|h| h.description == e.hypothesis)
                .cloned()
                .unwrap_or_else(|| BacklogItem {
                    files: e.changes.iter().map(|c| c.file.clone()).collect(),
                    ..BacklogItem::new(&e.hypothesis, &e.category)
                });
            back.push(item);
        }
        let names = back.iter().map(|b| b.description.clone()).collect();
        back.append(&mut self.hypothesis_backlog);
        self.hypothesis_backlog = back;
        names
    }

    /// Experiments decided since the last keep (the plateau count).
    pub fn since_last_keep(&self) -> u64 {
        self.experiments
            .iter()
            .rev()
            .take_while(|e| !e.outcome.is_kept())
            .filter(|e| !e.outcome.is_pending())
            .count() as u64
    }

    /// Entries integrated onto the optimization branch, in order.
    pub fn kept(&self) -> impl Iterator<Item = &Experiment> {
        self.experiments.iter().filter(|e| e.outcome.is_kept())
    }

    pub fn next_iteration(&self) -> u64 {
        self.experiments
            .iter()
            .map(|e| e.iteration)
            .max()
            .unwrap_or(0)
            + 1
    }

    pub fn next_batch(&self) -> u64 {
        self.experiments.iter().map(|e| e.batch).max().unwrap_or(0) + 1
    }

    /// `kept 2, reverted 1, ...` for summaries.
    pub fn outcome_summary(&self) -> String {
        self.outcome_counts()
            .iter()
            .map(|(o, n)| format!("{o} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Counts per outcome, in the order of [`Outcome::KNOWN`], then unknown ones.
    pub fn outcome_counts(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for e in &self.experiments {
            match counts.iter_mut().find(|(o, _)| o == e.outcome.as_str()) {
                Some((_, n)) => *n += 1,
                None => counts.push((e.outcome.as_str().to_string(), 1)),
            }
        }
        let rank = |o: &str| {
            Outcome::KNOWN
                .iter()
                .position(|k| k.as_str() == o)
                .unwrap_or(usize::MAX)
        };
        counts.sort_by_key(|(o, _)| rank(o));
        counts
    }
}
