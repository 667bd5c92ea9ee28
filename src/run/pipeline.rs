//! The pipelined loop: implementers and measurements in their own slots, no
//! batch barrier. A free slot takes the next hypothesis at once; the model
//! is asked for more while experiments run; each experiment is appended as
//! it finishes and decided in order of iteration, against the best it would
//! join.
//!
//! Determinism: experiment `n` is built on the best as it stood once every
//! iteration up to `n - lag` was decided (`lag` = 2 × `execution.max_concurrent`
//! − 1), and decisions follow the order of iteration. Given the same
//! measurements, the run is the same whatever the timing, and a run killed
//! anywhere and resumed ends as an uninterrupted one; `execution.mode: serial`
//! (one experiment at a time) gives the outcomes of a parallel run.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::context::Ctx;
use super::experiment::{self, Job, Outcome, Verdict};
use super::proposals::Proposed;
use super::{BatchEnd, Loop, RunError, StopReason, fault};
use crate::events::{Event, Planned, Stage};
use crate::hypotheses;
use crate::spec::{HypothesisSource, Slots};

/// The experiments under way.
#[derive(Default)]
struct Work {
    tasks: JoinSet<Outcome>,
    running: HashMap<tokio::task::Id, Job>,
}

/// The moving parts of the pipeline.
struct Flight {
    work: Work,
    implement: Arc<Semaphore>,
    measure: Arc<Semaphore>,
    proposal: Option<tokio::task::JoinHandle<Option<Proposed>>>,
    stops: Vec<StopReason>,
}

impl Flight {
    fn new(slots: &Slots) -> Flight {
        Flight {
            work: Work::default(),
            implement: Arc::new(Semaphore::new(slots.implement)),
            measure: Arc::new(Semaphore::new(slots.measure)),
            proposal: None,
            stops: Vec::new(),
        }
    }

    fn spawn(&mut self, ctx: &Arc<Ctx>, job: Job) {
        let task = one_experiment(
            ctx.clone(),
            job.clone(),
            self.implement.clone(),
            self.measure.clone(),
        );
        let id = self.work.tasks.spawn(task).id();
        self.work.running.insert(id, job);
    }
}

impl Work {
    async fn next_outcome(&mut self, ctx: &Arc<Ctx>) -> Option<Outcome> {
        let done = self.tasks.join_next_with_id().await?;
        Some(match done {
            Ok((id, outcome)) => {
                self.running.remove(&id);
                outcome
            }
            Err(e) => {
                let job = self
                    .running
                    .remove(&e.id())
                    .expect("every task was recorded");
                experiment::panicked(ctx, job, e.into_panic()).await
            }
        })
    }
}

/// One experiment through its slots: implemented when an implement slot is
/// free, measured when a measurement slot is.
async fn one_experiment(
    ctx: Arc<Ctx>,
    job: Job,
    implement: Arc<Semaphore>,
    measure: Arc<Semaphore>,
) -> Outcome {
    if !job.variants.is_empty() {
        // Each variant takes slots of its own.
        return super::variant_runs::run_parallel(ctx, job, implement, measure).await;
    }
    let Some(implementing) = permit(&ctx, &implement).await else {
        return Outcome::new(job, Verdict::Interrupted);
    };
    let mut prepared = experiment::prepare(&ctx, job).await;
    drop(implementing);
    if prepared.ready {
        ctx.events.emit(Event::StageChanged {
            iteration: prepared.outcome.job.iteration,
            stage: Stage::WaitingForSlot,
        });
        let Some(_measuring) = permit(&ctx, &measure).await else {
            prepared.outcome.verdict = Verdict::Interrupted;
            return experiment::clean_up(&ctx, prepared).await;
        };
        prepared.slot_taken();
        experiment::measure(&ctx, &mut prepared).await;
    }
    experiment::clean_up(&ctx, prepared).await
}

pub(super) async fn permit(
    ctx: &Ctx,
    slots: &Arc<Semaphore>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    tokio::select! {
        p = slots.clone().acquire_owned() => p.ok(),
        _ = ctx.cancel.cancelled() => None,
    }
}

impl Loop {
    pub(super) async fn pipeline(&mut self) -> Result<StopReason, RunError> {
        let slots = Slots::of(&self.ctx.spec);
        let mut flight = Flight::new(&slots);
        // What an earlier session dispatched runs again on the same base.
        for job in self.unfinished_batch().unwrap_or_default() {
            flight.spawn(&self.ctx, job);
        }
        loop {
            if let Some(stop) = self.decide_ready().await? {
                flight.stops.push(stop);
            }
            self.read_inbox()?;
            if flight.stops.is_empty() && !self.ctx.cancel.is_cancelled() {
                self.dispatch_ready(&mut flight, &slots)?;
                self.request_hypotheses(&mut flight, &slots);
            }
            if flight.work.tasks.is_empty() && flight.proposal.is_none() {
                return Ok(self.final_stop(flight.stops));
            }
            self.wait_for_news(&mut flight).await?;
        }
    }

    /// Waits for an experiment to finish or the model to answer.
    async fn wait_for_news(&mut self, flight: &mut Flight) -> Result<(), RunError> {
        let ctx = self.ctx.clone();
        tokio::select! {
            Some(outcome) = flight.work.next_outcome(&ctx), if !flight.work.tasks.is_empty() => {
                if let Some(stop) = self.append(outcome)? {
                    flight.stops.push(stop);
                }
            }
            answer = async { flight.proposal.as_mut().expect("guarded").await }, if flight.proposal.is_some() => {
                flight.proposal = None;
                match answer {
                    Ok(Some(proposed)) => {
                        if let BatchEnd::Stop(stop) = self.proposed(proposed)? {
                            flight.stops.push(stop);
                        }
                    }
                    Ok(None) => flight.stops.push(StopReason::Interrupted),
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                }
            }
        }
        Ok(())
    }

    /// Decides every appended entry whose turn has come: the lowest pending
    /// iteration, once no lower one is still under way.
    async fn decide_ready(&mut self) -> Result<Option<StopReason>, RunError> {
        loop {
            let Some(next) = self
                .log
                .experiments
                .iter()
                .filter(|e| e.outcome.is_pending())
                .map(|e| e.iteration)
                .min()
            else {
                return Ok(None);
            };
            if self.undispatched_below(next) {
                return Ok(None);
            }
            if let BatchEnd::Stop(stop) = self.evaluate_one(next).await? {
                return Ok(Some(stop));
            }
        }
    }

    /// Whether an experiment dispatched before `iteration` has no entry yet.
    fn undispatched_below(&self, iteration: u64) -> bool {
        self.in_flight_members()
            .any(|m| m < iteration && self.entry(m).is_none())
    }

    fn in_flight_members(&self) -> impl Iterator<Item = u64> + '_ {
        self.log
            .run
            .in_flight
            .iter()
            .flat_map(|f| f.experiments.iter().map(|m| m.iteration))
    }

    /// The lowest iteration not decided yet (dispatched or pending).
    fn lowest_undecided(&self) -> Option<u64> {
        let pending = self
            .log
            .experiments
            .iter()
            .filter(|e| e.outcome.is_pending())
            .map(|e| e.iteration);
        let running = self
            .in_flight_members()
            .filter(|m| self.entry(*m).is_none());
        pending.chain(running).min()
    }

    /// The decisions experiment `n` waits for and is built on: those up to
    /// `n - lag`, or all before the run was continued.
    fn decided_before(&self, n: u64, slots: &Slots) -> u64 {
        let continued = self.log.run.continued_from.unwrap_or(1);
        n.saturating_sub(slots.lag).max(continued.saturating_sub(1))
    }

    fn next_dispatch_iteration(&self) -> u64 {
        let planned = self.in_flight_members().max().map_or(0, |m| m + 1);
        self.log.next_iteration().max(planned)
    }

    /// Starts experiments while a slot is free and the decisions their base
    /// depends on are made.
    fn dispatch_ready(&mut self, flight: &mut Flight, slots: &Slots) -> Result<(), RunError> {
        while flight.work.tasks.len() < slots.in_flight {
            let n = self.next_dispatch_iteration();
            let upto = self.decided_before(n, slots);
            if self.lowest_undecided().is_some_and(|u| u <= upto) {
                return Ok(());
            }
            if self.dispatch_stop(upto, slots).is_some() {
                return Ok(());
            }
            let Some(job) = self.next_job(n, upto, slots)? else {
                return Ok(());
            };
            self.plan_member(&job)?;
            fault("batch-planned");
            self.ctx.events.emit(Event::BatchStarted {
                batch: job.batch,
                experiments: vec![Planned {
                    iteration: job.iteration,
                    hypothesis: job.item.description.clone(),
                }],
            });
            flight.spawn(&self.ctx, job);
        }
        Ok(())
    }

    /// Why no further experiment may start, judged on the decisions up to
    /// `upto` (so that timing never changes it) and on what was dispatched.
    fn dispatch_stop(&self, upto: u64, slots: &Slots) -> Option<StopReason> {
        if self.ctx.cancel.is_cancelled() {
            return Some(StopReason::Interrupted);
        }
        let mut standing = crate::stop::Standing::of(
            &self.ctx.spec,
            &self.log,
            self.active_hours(),
            self.ctx.judge_budget.spent(),
        );
        standing.restrict_to(&self.log, upto);
        standing.experiments =
            self.log.experiments.len() as u64 + self.in_flight_members().count() as u64;
        standing.runnable = self.dispatchable(slots).len();
        standing
            .first_stop(&self.ctx.spec)
            .filter(|s| *s != StopReason::BacklogEmpty)
    }

    /// Runnable hypotheses not under way, in the order they would be taken.
    fn dispatchable(&self, slots: &Slots) -> Vec<usize> {
        let busy: Vec<&str> = self
            .log
            .run
            .in_flight
            .iter()
            .flat_map(|f| f.experiments.iter())
            .map(|m| m.hypothesis.as_str())
            .collect();
        let recent = self.recent_categories(slots.implement.saturating_sub(1));
        hypotheses::select_next(&self.log.hypothesis_backlog, &busy, &recent)
    }

    /// The categories of the last `n` experiments dispatched, newest first.
    fn recent_categories(&self, n: usize) -> Vec<String> {
        let mut by_iteration: Vec<(u64, String)> = self
            .log
            .experiments
            .iter()
            .map(|e| (e.iteration, e.category.clone()))
            .collect();
        for m in self
            .log
            .run
            .in_flight
            .iter()
            .flat_map(|f| f.experiments.iter())
        {
            if self.entry(m.iteration).is_none()
                && let Some(h) = self
                    .log
                    .hypothesis_backlog
                    .iter()
                    .find(|h| h.description == m.hypothesis)
            {
                by_iteration.push((m.iteration, h.category.clone()));
            }
        }
        by_iteration.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
        by_iteration.into_iter().take(n).map(|(_, c)| c).collect()
    }

    /// Experiment `n` on the best as of `upto`, in a free worktree slot.
    fn next_job(&self, n: u64, upto: u64, slots: &Slots) -> Result<Option<Job>, RunError> {
        let Some(&pick) = self.dispatchable(slots).first() else {
            return Ok(None);
        };
        let base = self.best_as_of(upto).ok_or(RunError::NoBestCommit)?;
        let taken: Vec<u32> = self
            .log
            .run
            .in_flight
            .iter()
            .flat_map(|f| f.experiments.iter())
            .filter(|m| self.entry(m.iteration).is_none())
            .map(|m| m.slot)
            .collect();
        let slot = (0..).find(|s| !taken.contains(s)).expect("a free slot");
        let best_snapshot = self.snapshot_of_base(base);
        let item = self.log.hypothesis_backlog[pick].clone();
        Ok(Some(Job {
            iteration: n,
            batch: self.batch_for(base),
            slot,
            variants: crate::variants::choose(&self.ctx.spec, &self.log, &item),
            item,
            base,
            best: self.ctx.rules.primary_value(&best_snapshot),
            best_snapshot,
        }))
    }

    /// Experiments built on the same best share a batch number.
    fn batch_for(&self, base: git2::Oid) -> u64 {
        let text = base.to_string();
        let newest =
            self.log
                .run
                .in_flight
                .iter()
                .flat_map(|f| f.experiments.iter())
                .filter_map(|m| Some((m.iteration, m.base.clone()?, m.batch?)))
                .chain(
                    self.log.experiments.iter().filter_map(|e| {
                        Some((e.iteration, e.record.base_commit.clone()?, e.batch))
                    }),
                )
                .max_by_key(|(i, ..)| *i);
        match newest {
            Some((_, b, batch)) if b == text => batch,
            Some((.., batch)) => batch + 1,
            None => self.log.next_batch(),
        }
    }

    /// Asks the model for hypotheses ahead of need, while experiments run.
    fn request_hypotheses(&mut self, flight: &mut Flight, slots: &Slots) {
        let spec = &self.ctx.spec;
        if flight.proposal.is_some()
            || self.model_exhausted
            || spec.hypotheses.source != HypothesisSource::Llm
            || self.dispatchable(slots).len() >= slots.implement * 2
        {
            return;
        }
        let upto = self.decided_before(self.next_dispatch_iteration(), slots);
        if self.dispatch_stop(upto, slots).is_some() {
            return;
        }
        if let Some(proposal) = self.proposal() {
            let cancel = self.ctx.cancel.clone();
            flight.proposal = Some(tokio::spawn(proposal.send(cancel)));
        }
    }

    /// Why the run stops once nothing is under way: what stopped it first
    /// in order of severity, else the first condition met.
    fn final_stop(&self, mut stops: Vec<StopReason>) -> StopReason {
        stops.sort_by_key(StopReason::severity);
        if let Some(stop) = stops.into_iter().next() {
            return stop;
        }
        self.stop_reason().unwrap_or(StopReason::BacklogEmpty)
    }
}
