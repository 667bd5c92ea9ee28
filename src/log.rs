//! The experiment log (`experiment-log.yaml`): the single source of truth of a
//! run. Types follow the seed schema field for field and also accept the newer
//! ce-optimize schema; keys we do not know are kept in `extra` and written back.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::Mapping;

mod ablation_record;
mod backlog;
mod check;
mod criterion_record;
mod entry;
mod harness_check;
mod holdout_record;
mod outcome;
mod run_state;
mod store;
mod timestamps;
mod variant_record;

pub use ablation_record::{AblatedChange, AblationRecord, Effect, Verdict};
pub use backlog::*;
pub use criterion_record::CriterionResult;
pub use entry::*;
pub use harness_check::{HarnessCheck, ShortcutResult};
pub use holdout_record::{HoldoutRecord, HoldoutVerdict};
pub use outcome::*;
pub use run_state::{
    Guidance, InFlight, InFlightMember, Limits, RunMeta, Session, SessionKind, Timings,
};
pub use store::{Fnv, LogFile, redo_path};
pub use variant_record::{AttemptOutcome, VariantRecord};

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
    /// The shortcuts the harness was checked against before the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_validation: Option<HarnessCheck>,
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
    /// With `measurement.per_case`: each case's pass or fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<std::collections::BTreeMap<String, bool>>,
    /// What the evaluator printed as `feedback` (bounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
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
    /// The reference of the next experiments' per-case regressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<std::collections::BTreeMap<String, bool>>,
    #[serde(flatten)]
    pub extra: Mapping,
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
    /// The last wrap-up's report commit stops being the best: the best is
    /// the measured commit under it again (for the next experiments, or the
    /// next wrap-up's report).
    pub fn set_report_aside(&mut self, repo: &crate::git::Repo) {
        let Some(report) = self.run.report_commit.take() else {
            return;
        };
        if self.best.commit.as_deref() != Some(report.as_str()) {
            return;
        }
        let parent = crate::git::Repo::parse_oid(&report)
            .and_then(|oid| repo.repo.find_commit(oid).ok())
            .and_then(|c| c.parent_id(0).ok());
        if let Some(parent) = parent {
            self.best.commit = Some(parent.to_string());
        }
    }

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
        self.failure_streak_upto(u64::MAX)
    }

    /// [`ExperimentLog::failure_streak`] among the entries up to iteration `upto`.
    pub fn failure_streak_upto(&self, upto: u64) -> (Vec<u64>, Option<String>) {
        let mut decided: Vec<&Experiment> = self
            .experiments
            .iter()
            .filter(|e| !e.outcome.is_pending() && e.iteration <= upto)
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
        self.since_last_keep_upto(u64::MAX)
    }

    /// [`ExperimentLog::since_last_keep`] among the entries up to iteration `upto`.
    pub fn since_last_keep_upto(&self, upto: u64) -> u64 {
        self.experiments
            .iter()
            .filter(|e| e.iteration <= upto)
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
