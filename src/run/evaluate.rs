//! Step 6: evaluate a batch. The best improving experiment is kept, file-
//! disjoint runner-ups are cherry-picked onto it and re-measured, and every
//! entry gets its outcome, primary_delta and learnings.

use super::holdout;
use super::merge::Merge;
use super::protocol::Failure;
use super::{BatchEnd, Loop, RunError, StopReason, fault};
use crate::decide::rules::{Decision, Next, Verdict, confirm_on_holdout, decide_with};
use crate::decide::{self, Candidate, snapshot, stats};
use crate::events::Event;
use crate::git::Repo;
use crate::log::{Best, Outcome};
use crate::names;
use crate::text::fmt_num;

/// What a batch's decision works with.
pub(super) struct Batch {
    pub(super) primary: String,
    pub(super) threshold: f64,
    /// The newer schema's outcomes (inconclusive, not_selected, ...).
    pub(super) newer: bool,
    pub(super) best_before: f64,
    /// Each pending entry's decision against the best.
    pub(super) decisions: Vec<(u64, Decision)>,
}

impl Batch {
    fn decision(&self, iteration: u64) -> Decision {
        self.decisions
            .iter()
            .find(|(i, _)| *i == iteration)
            .map(|(_, d)| d.clone())
            .expect("every pending entry was decided")
    }
}

impl Loop {
    /// Decides the pending entries. Interrupted midway (during a runner-up's
    /// re-measurement), it leaves the log as it was, so the next session
    /// decides the batch again, exactly as an uninterrupted run would.
    pub(super) async fn evaluate(&mut self) -> Result<BatchEnd, RunError> {
        self.evaluate_where(None).await
    }

    /// Decides pending entry `iteration` alone (the pipelined loop's step),
    /// as [`Loop::evaluate`] decides a batch.
    pub(super) async fn evaluate_one(&mut self, iteration: u64) -> Result<BatchEnd, RunError> {
        self.evaluate_where(Some(iteration)).await
    }

    async fn evaluate_where(&mut self, only: Option<u64>) -> Result<BatchEnd, RunError> {
        let before = self.log.checkpoint();
        let mut decided = Vec::new();
        match self.decide_batch(only, &mut decided).await? {
            BatchEnd::Done => {}
            stop => {
                self.log.restore(before);
                return Ok(stop);
            }
        }
        fault("evaluated-before-save");
        self.save()?;
        for event in decided {
            self.ctx.events.emit(event);
        }
        self.write_digest();
        Ok(BatchEnd::Done)
    }

    async fn decide_batch(
        &mut self,
        only: Option<u64>,
        decided: &mut Vec<Event>,
    ) -> Result<BatchEnd, RunError> {
        let Some(mut batch) = self.batch_decisions(only) else {
            if only.is_none() {
                self.log.run.in_flight = None;
            }
            return Ok(BatchEnd::Done);
        };
        if let Some(n) = only
            && self.built_on_older_best(n)
        {
            return self.decide_on_older_best(&batch, n, decided).await;
        }
        if let Some(stop) = self.confirm_holdouts(&mut batch).await? {
            return Ok(stop);
        }
        let pending: Vec<u64> = batch.decisions.iter().map(|(i, _)| *i).collect();
        let candidates = self.candidates(&batch);
        self.record_objectives(&batch);
        let merges = self.ctx.spec.max_runner_up_merges_per_batch as usize;
        let plan = decide::plan_batch(&candidates, merges);
        let repo = Repo::open(&self.ctx.repo_root)?;
        if let Some(k) = plan.kept {
            self.keep(&repo, &batch, k, decided)?;
        }
        let mut stopped = false;
        for &r in &plan.runner_ups {
            let winner = plan.kept.expect("runner-ups only follow a kept experiment");
            if self.ctx.cancel.is_cancelled() {
                return Ok(BatchEnd::Stop(StopReason::Interrupted));
            }
            if stopped {
                self.revert(r, "Improved alone, but an earlier runner-up combination in this batch was not better, so no further merges were tried; reverted.".into(), decided);
                continue;
            }
            match self
                .merge_runner_up(&repo, &batch, winner, r, decided)
                .await?
            {
                Merge::Kept => {}
                Merge::Stopped => stopped = true,
                Merge::Interrupted => return Ok(BatchEnd::Stop(StopReason::Interrupted)),
            }
        }
        for &r in &plan.not_kept {
            self.settle_not_kept(&batch, r, decided);
        }
        self.model_learnings(&pending).await;
        if only.is_none() {
            self.log.run.in_flight = None;
        }
        Ok(BatchEnd::Done)
    }

    /// The entry was built on a best that has been replaced since.
    fn built_on_older_best(&self, iteration: u64) -> bool {
        let base = self
            .entry(iteration)
            .and_then(|e| e.record.base_commit.as_deref())
            .and_then(Repo::parse_oid);
        base.is_some() && base != self.best_commit()
    }

    /// An entry built on an older best: improving on that best, it is
    /// rebased onto the best it would join and measured there (as runner-ups
    /// are); otherwise it is not kept.
    async fn decide_on_older_best(
        &mut self,
        batch: &Batch,
        n: u64,
        decided: &mut Vec<Event>,
    ) -> Result<BatchEnd, RunError> {
        self.record_objectives(batch);
        let d = batch.decision(n);
        // A would-be keep is confirmed on the holdout against the best it joins.
        if d.eligible && matches!(d.next_measurement, Next::None | Next::Holdout) {
            let repo = Repo::open(&self.ctx.repo_root)?;
            let joins = self.log.best.iteration;
            if let Merge::Interrupted = self
                .merge_runner_up(&repo, batch, joins, n, decided)
                .await?
            {
                return Ok(BatchEnd::Stop(StopReason::Interrupted));
            }
        } else {
            self.settle_not_kept(batch, n, decided);
        }
        self.model_learnings(&[n]).await;
        Ok(BatchEnd::Done)
    }

    /// Every would-be keep measured on the holdout beside the best, and
    /// decided again on that pair; `Some` when the run must stop.
    async fn confirm_holdouts(&mut self, batch: &mut Batch) -> Result<Option<BatchEnd>, RunError> {
        let Some(reference) = self.best_commit() else {
            return Ok(None);
        };
        let best = self.best_snapshot();
        for (iteration, d) in &mut batch.decisions {
            if d.next_measurement != Next::Holdout {
                continue;
            }
            let candidate = self.experiment_commit(*iteration)?;
            let selected = match self.entry(*iteration) {
                Some(e) => self.selection_decision(e, &best),
                None => continue,
            };
            match holdout::confirm(&self.ctx, *iteration, reference, candidate, selected).await {
                Ok(confirmed) => {
                    *d = confirmed.decision;
                    if let Some(e) = self.entry_mut(*iteration) {
                        e.record.holdout = Some(confirmed.record);
                    }
                }
                Err(Failure::Interrupted) => {
                    return Ok(Some(BatchEnd::Stop(StopReason::Interrupted)));
                }
                Err(Failure::Halt(why)) => return Ok(Some(BatchEnd::Stop(why))),
                Err(f) => {
                    d.decision = Verdict::Error;
                    d.eligible = false;
                    d.next_measurement = Next::None;
                    d.reason = format!("the holdout could not be measured: {f}");
                }
            }
        }
        Ok(None)
    }

    /// Each pending entry (or only `only`) decided against the best it was
    /// measured against; `None` when nothing is pending.
    fn batch_decisions(&self, only: Option<u64>) -> Option<Batch> {
        let spec = &self.ctx.spec;
        let current = snapshot::of_best(spec, &self.log.best);
        let decisions: Vec<(u64, Decision)> = self
            .log
            .experiments
            .iter()
            .filter(|e| e.outcome.is_pending() && only.is_none_or(|n| n == e.iteration))
            .map(|e| {
                let base = e.record.base_commit.as_deref().and_then(Repo::parse_oid);
                let against = match base {
                    Some(b) if Some(b) != self.best_commit() => self.snapshot_of_base(b),
                    _ => current.clone(),
                };
                (e.iteration, self.entry_decision(e, &against))
            })
            .collect();
        if decisions.is_empty() {
            return None;
        }
        Some(Batch {
            primary: spec.metric.primary.name.clone(),
            threshold: self.ctx.threshold(),
            newer: spec
                .measurement
                .stability
                .uses_newer_outcomes(!spec.metric.objectives.is_empty())
                || spec.confirms_on_holdout(),
            best_before: self.best_value().unwrap_or(f64::NAN),
            decisions,
        })
    }

    fn candidates(&self, batch: &Batch) -> Vec<Candidate> {
        batch
            .decisions
            .iter()
            .map(|(it, d)| Candidate {
                iteration: *it,
                eligible: d.eligible && d.next_measurement == Next::None,
                rank: d.rank_score,
                files: self
                    .entry(*it)
                    .map(|e| e.changes.iter().map(|c| c.file.clone()).collect())
                    .unwrap_or_default(),
            })
            .collect()
    }

    fn record_objectives(&mut self, batch: &Batch) {
        let reference_cases = self.log.best.cases.is_some();
        for (it, d) in &batch.decisions {
            if let Some(e) = self.entry_mut(*it) {
                e.objective_results = serde_json::to_value(d)
                    .ok()
                    .and_then(|v| serde_yaml::to_value(&v["comparisons"]).ok());
                e.next_measurement = Some(Next::None);
                // Recorded only when both sides printed their cases.
                e.record.regressions =
                    (e.record.cases.is_some() && reference_cases).then(|| d.regressions.clone());
            }
        }
    }

    pub(super) fn value_of(&self, iteration: u64) -> f64 {
        self.entry(iteration)
            .and_then(|e| e.metric(&self.ctx.spec.metric.primary.name))
            .unwrap_or(f64::NAN)
    }

    /// The batch's winner: the branch moves to it, then the log says so.
    fn keep(
        &mut self,
        repo: &Repo,
        batch: &Batch,
        k: u64,
        decided: &mut Vec<Event>,
    ) -> Result<(), RunError> {
        let branch = names::opt_branch(&self.ctx.spec.name);
        let commit = self.experiment_commit(k)?;
        repo.set_branch(&branch, commit)?;
        fault("branch-moved-before-log");
        let value = self.value_of(k);
        let why = if batch.newer {
            format!("{}; kept.", batch.decision(k).reason)
        } else {
            format!(
                "better than the best by more than the noise threshold {}; kept.",
                fmt_num(batch.threshold)
            )
        };
        let (reference, delta) = self.delta_of(k, batch.best_before);
        let e = self.entry_mut(k).expect("planned entries exist");
        e.outcome = Outcome::Kept;
        e.commit = Some(commit.to_string());
        e.learnings = Some(format!(
            "{} {} -> {} ({delta}): {why}",
            batch.primary,
            fmt_num(reference),
            fmt_num(value),
        ));
        let metrics = e.metrics.clone().unwrap_or_default();
        let judge = e.judge.clone();
        let samples = e.record.samples.clone();
        let cases = e.record.cases.clone();
        self.set_best(k, metrics, commit, judge, samples, cases);
        decided.push(Event::ExperimentFinished {
            iteration: k,
            outcome: Outcome::Kept,
            detail: format!("{} {delta}", batch.primary),
        });
        decided.push(Event::NewBest {
            iteration: k,
            value,
        });
        Ok(())
    }

    fn settle_not_kept(&mut self, batch: &Batch, r: u64, decided: &mut Vec<Event>) {
        let d = batch.decision(r);
        let value = self.value_of(r);
        let (reference, delta) = self.delta_of(r, batch.best_before);
        let versus = format!(
            "{} {} vs best {} ({delta})",
            batch.primary,
            fmt_num(value),
            fmt_num(reference),
        );
        let (outcome, why) = match d.decision {
            _ if d.eligible => (
                if batch.newer { Outcome::NotSelected } else { Outcome::Reverted },
                "Improved alone, but it touches files already merged in this batch or the runner-up cap was reached; not integrated.".to_string(),
            ),
            Verdict::Inconclusive | Verdict::Promising => (
                if batch.newer { Outcome::Inconclusive } else { Outcome::Reverted },
                if batch.newer {
                    format!("{versus}: {}; not kept.", d.reason)
                } else {
                    format!("{versus}: inside the noise threshold {}; reverted.", fmt_num(batch.threshold))
                },
            ),
            Verdict::Censored => (
                Outcome::Censored,
                format!("{versus}: {}; censored.", d.reason),
            ),
            // Only a holdout makes a measured entry degenerate here.
            Verdict::Degenerate => (
                Outcome::Degenerate,
                format!("{versus}: {}; not kept.", d.reason),
            ),
            Verdict::Error if value.is_nan() || batch.newer => (
                if batch.newer { Outcome::Error } else { Outcome::Reverted },
                format!("{}; not kept.", d.reason),
            ),
            _ if batch.newer => (Outcome::Reverted, format!("{versus}: {}; reverted.", d.reason)),
            _ => (Outcome::Reverted, format!("{versus}: no better; reverted.")),
        };
        let detail = if batch.newer {
            d.reason.clone()
        } else {
            "not kept".into()
        };
        self.settle(r, outcome, why, detail, decided);
    }

    /// An entry's change, as everything shows it: its `primary_delta`
    /// (against the best it was measured against, recorded with it), and
    /// that best; `best` for an entry that recorded none.
    fn delta_of(&self, iteration: u64, best: f64) -> (f64, String) {
        let e = self.entry(iteration).expect("decided entries exist");
        let value = e
            .metric(&self.ctx.spec.metric.primary.name)
            .unwrap_or(f64::NAN);
        match e
            .primary_delta
            .as_deref()
            .and_then(|d| d.parse::<f64>().ok())
        {
            Some(d) => (value - d, e.primary_delta.clone().unwrap_or_default()),
            None => (best, decide::format_delta(value - best)),
        }
    }

    /// An entry decided against the best it was measured against, confirmed
    /// on its held-out pair when the spec takes one.
    fn entry_decision(&self, e: &crate::log::Experiment, best: &serde_json::Value) -> Decision {
        let d = self.selection_decision(e, best);
        let pair = e.record.holdout.as_ref().map(holdout::pair_of);
        confirm_on_holdout(&self.ctx.rules, d, pair.as_ref())
    }

    /// An entry decided on the selection measurements alone.
    fn selection_decision(&self, e: &crate::log::Experiment, best: &serde_json::Value) -> Decision {
        let d = decide_with(
            &self.ctx.rules,
            best,
            &snapshot::of_entry(&self.ctx.spec, e),
        );
        // method: statistical decided the primary with its sequential test.
        match e
            .record
            .stat_verdict
            .as_deref()
            .and_then(|v| v.parse().ok())
        {
            Some(verdict) => stats::with_statistics(d, &self.ctx.spec.metric.primary.name, verdict),
            None => d,
        }
    }

    pub(super) fn settle(
        &mut self,
        iteration: u64,
        outcome: Outcome,
        learnings: String,
        detail: String,
        decided: &mut Vec<Event>,
    ) {
        if let Some(e) = self.entry_mut(iteration) {
            e.outcome = outcome;
            e.learnings = Some(learnings);
        }
        decided.push(self.finished(iteration, detail));
    }

    fn revert(&mut self, iteration: u64, learnings: String, decided: &mut Vec<Event>) {
        self.settle(
            iteration,
            Outcome::Reverted,
            learnings,
            "no improvement kept".into(),
            decided,
        );
    }

    /// The event of an entry's final outcome.
    pub(super) fn finished(&self, iteration: u64, detail: String) -> Event {
        Event::ExperimentFinished {
            iteration,
            outcome: self
                .entry(iteration)
                .map(|e| e.outcome.clone())
                .unwrap_or(Outcome::Reverted),
            detail,
        }
    }

    pub(super) fn set_best(
        &mut self,
        iteration: u64,
        metrics: serde_yaml::Mapping,
        commit: git2::Oid,
        judge: Option<serde_yaml::Mapping>,
        samples: Option<crate::decide::snapshot::Samples>,
        cases: Option<crate::measure::Cases>,
    ) {
        self.log.best = Best {
            iteration,
            metrics,
            judge: judge.or_else(|| self.log.best.judge.clone()),
            total_judge_cost_usd: self.log.best.total_judge_cost_usd,
            commit: Some(commit.to_string()),
            samples,
            cases,
            extra: self.log.best.extra.clone(),
        };
    }

    pub(super) fn experiment_commit(&self, iteration: u64) -> Result<git2::Oid, RunError> {
        self.entry(iteration)
            .and_then(|e| e.record.experiment_commit.as_deref())
            .and_then(Repo::parse_oid)
            .ok_or(RunError::NoExperimentCommit { iteration })
    }
}
