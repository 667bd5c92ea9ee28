//! The bests a run has had, read back from the log: which commit was the
//! best once iteration `k` was decided, and what it measured. The pipelined
//! loop builds experiment `n` on the best as of `n - lag`, and decides an
//! experiment built on an older best against what that best measured.

use git2::Oid;
use serde_json::Value;

use super::Loop;
use crate::decide::snapshot::{self, Extras};
use crate::git::Repo;
use crate::log::{Experiment, Outcome};

impl Loop {
    /// The best's commit once every iteration up to `upto` was decided.
    pub(super) fn best_as_of(&self, upto: u64) -> Option<Oid> {
        let kept = self
            .log
            .experiments
            .iter()
            .filter(|e| e.iteration <= upto && e.outcome.is_kept())
            .filter_map(|e| Some((e, e.commit.as_deref().and_then(Repo::parse_oid)?)))
            .next_back();
        match kept {
            Some((_, commit)) => Some(commit),
            None => self
                .log
                .baseline
                .commit
                .as_deref()
                .and_then(Repo::parse_oid)
                .or_else(|| self.best_commit()),
        }
    }

    /// What the best at `commit` measured, as decide.mjs's snapshot: the
    /// current best's record when it still is the best (with every
    /// re-measurement), else the entry that made it the best, else the baseline.
    pub(super) fn snapshot_of_base(&self, commit: Oid) -> Value {
        if self.best_commit() == Some(commit) {
            return self.best_snapshot();
        }
        let text = commit.to_string();
        let maker = self
            .log
            .experiments
            .iter()
            .rev()
            .find(|e| e.outcome.is_kept() && e.commit.as_deref() == Some(text.as_str()));
        match maker {
            Some(e) => self.kept_snapshot(e),
            None => {
                let b = &self.log.baseline;
                let mut metrics = b
                    .metrics
                    .as_ref()
                    .map(snapshot::mapping_metrics)
                    .unwrap_or_default();
                for section in [&b.gates, &b.diagnostics] {
                    for (k, v) in snapshot::mapping_metrics(section) {
                        metrics.entry(k).or_insert(v);
                    }
                }
                let samples = b.samples.clone().unwrap_or_default();
                snapshot::snapshot(&self.ctx.spec, &metrics, &samples, Extras::default())
            }
        }
    }

    /// A kept entry as the best it made: a runner-up's combination measured
    /// on top of the best it joined, any other as measured.
    fn kept_snapshot(&self, e: &Experiment) -> Value {
        match (&e.outcome, &e.record.combined_metrics) {
            (Outcome::RunnerUpKept, Some(combined)) => {
                let metrics = snapshot::mapping_metrics(combined);
                snapshot::snapshot(
                    &self.ctx.spec,
                    &metrics,
                    &Default::default(),
                    Extras::default(),
                )
            }
            _ => snapshot::of_entry(&self.ctx.spec, e),
        }
    }
}
