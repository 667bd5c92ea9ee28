//! Steps 3 to 7: batches until a stop condition is met. Each batch is
//! planned (written to the log), dispatched (in parallel unless the spec asks
//! for serial runs), each experiment appended as it finishes, then evaluated.

use std::collections::HashMap;

use super::experiment::{self, Job, Verdict};
use super::protocol::Failure;
use super::record::{self, Recording};
use super::sampling;
use super::{BatchEnd, Loop, RunError, StopReason, fault};
use crate::events::{Event, Planned};
use crate::hypotheses;
use crate::names;
use crate::spec::{ComparisonMethod, ExecutionMode, HypothesisSource};

impl Loop {
    pub(super) async fn iterate(&mut self) -> Result<StopReason, RunError> {
        if self.ctx.spec.measurement.stability.comparison.method() != ComparisonMethod::Statistical
        {
            return self.pipeline().await;
        }
        // A batch an earlier session started: finish it with the same members,
        // iterations and base commit, so the result equals an uninterrupted run's.
        let resumed = if let Some(jobs) = self.unfinished_batch() {
            self.run_batch(jobs).await?
        } else if self.log.experiments.iter().any(|e| e.outcome.is_pending()) {
            self.evaluate().await?
        } else {
            BatchEnd::Done
        };
        if let BatchEnd::Stop(reason) = resumed {
            return Ok(reason);
        }
        loop {
            self.read_inbox()?;
            if matches!(self.stop_reason(), None | Some(StopReason::BacklogEmpty))
                && self.wants_hypotheses()
                && let BatchEnd::Stop(reason) = self.propose().await?
            {
                return Ok(reason);
            }
            if let Some(stop) = self.stop_reason() {
                return Ok(stop);
            }
            let jobs = self.plan_batch()?;
            self.plan_in_flight(&jobs)?;
            fault("batch-planned");
            if let BatchEnd::Stop(reason) = self.run_batch(jobs).await? {
                return Ok(reason);
            }
        }
    }

    /// Whether to ask the model for more hypotheses now.
    pub(super) fn wants_hypotheses(&self) -> bool {
        let spec = &self.ctx.spec;
        let runnable = self
            .log
            .hypothesis_backlog
            .iter()
            .filter(|h| hypotheses::runnable(h))
            .count();
        spec.hypotheses.source == HypothesisSource::Llm
            && !self.model_exhausted
            && runnable < spec.execution.max_concurrent as usize
    }

    /// The next batch: up to `max_concurrent` hypotheses from the current best.
    fn plan_batch(&self) -> Result<Vec<Job>, RunError> {
        let spec = &self.ctx.spec;
        let done = self.log.experiments.len() as u64;
        let remaining = spec.stopping.max_iterations.saturating_sub(done);
        let width = (spec.execution.max_concurrent as u64).min(remaining) as usize;
        let chosen = hypotheses::select_batch(&self.log.hypothesis_backlog, width);
        let base = self.best_commit().ok_or(RunError::NoBestCommit)?;
        let batch = self.log.next_batch();
        let first = self.log.next_iteration();
        let (best, best_snapshot) = (self.best_value(), self.best_snapshot());
        Ok(chosen
            .iter()
            .enumerate()
            .map(|(slot, &i)| Job {
                iteration: first + slot as u64,
                batch,
                slot: slot as u32,
                item: self.log.hypothesis_backlog[i].clone(),
                base,
                best,
                best_snapshot: best_snapshot.clone(),
                variants: crate::variants::choose(spec, &self.log, &self.log.hypothesis_backlog[i]),
            })
            .collect())
    }

    async fn run_batch(&mut self, jobs: Vec<Job>) -> Result<BatchEnd, RunError> {
        match self.dispatch(jobs).await? {
            BatchEnd::Done => self.evaluate().await,
            stop => Ok(stop),
        }
    }

    /// Runs the batch's experiments and appends each as it finishes. An
    /// experiment whose task panics becomes its own `error` entry.
    async fn dispatch(&mut self, jobs: Vec<Job>) -> Result<BatchEnd, RunError> {
        let Some(first) = jobs.first() else {
            return Ok(BatchEnd::Done);
        };
        self.ctx.events.emit(Event::BatchStarted {
            batch: first.batch,
            experiments: jobs
                .iter()
                .map(|j| Planned {
                    iteration: j.iteration,
                    hypothesis: j.item.description.clone(),
                })
                .collect(),
        });
        let spec = &self.ctx.spec;
        let serial = spec.execution.mode == ExecutionMode::Serial
            || !spec.parallel.exclusive_resources.is_empty();
        let mut stops = Vec::new();
        if spec.measurement.stability.comparison.method() == ComparisonMethod::Statistical {
            let base = first.base;
            for outcome in self.run_statistical(jobs, base).await? {
                stops.extend(self.append(outcome)?);
            }
        } else if serial {
            for job in jobs {
                if self.ctx.cancel.is_cancelled() {
                    break;
                }
                let task = tokio::spawn(experiment::run(self.ctx.clone(), job.clone()));
                let outcome = match task.await {
                    Ok(outcome) => outcome,
                    Err(e) => experiment::panicked(&self.ctx, job, e.into_panic()).await,
                };
                stops.extend(self.append(outcome)?);
            }
        } else {
            let mut set = tokio::task::JoinSet::new();
            let mut running = HashMap::new();
            for job in jobs {
                let id = set
                    .spawn(experiment::run(self.ctx.clone(), job.clone()))
                    .id();
                running.insert(id, job);
            }
            while let Some(done) = set.join_next_with_id().await {
                let outcome = match done {
                    Ok((_, outcome)) => outcome,
                    Err(e) => {
                        let job = running.remove(&e.id()).expect("every task was recorded");
                        experiment::panicked(&self.ctx, job, e.into_panic()).await
                    }
                };
                stops.extend(self.append(outcome)?);
            }
        }
        // An outage or a spent budget stops the run before a Ctrl-C does:
        // it says what the user must fix.
        stops.sort_by_key(StopReason::severity);
        if let Some(stop) = stops.into_iter().next() {
            return Ok(BatchEnd::Stop(stop));
        }
        if self.ctx.cancel.is_cancelled() {
            return Ok(BatchEnd::Stop(StopReason::Interrupted));
        }
        Ok(BatchEnd::Done)
    }

    /// `method: statistical`: every experiment implemented (in parallel),
    /// then the ready ones sampled in rounds beside the incumbent; the
    /// incumbent's new samples refine the best's recorded value.
    async fn run_statistical(
        &mut self,
        jobs: Vec<Job>,
        base: git2::Oid,
    ) -> Result<Vec<experiment::Outcome>, RunError> {
        let mut set = tokio::task::JoinSet::new();
        let mut running = HashMap::new();
        for job in jobs {
            let ctx = self.ctx.clone();
            let id = set
                .spawn({
                    let job = job.clone();
                    async move { experiment::prepare(&ctx, job).await }
                })
                .id();
            running.insert(id, job);
        }
        let mut prepared = Vec::new();
        let mut outcomes = Vec::new();
        while let Some(done) = set.join_next_with_id().await {
            match done {
                Ok((_, p)) => prepared.push(p),
                Err(e) => {
                    let job = running.remove(&e.id()).expect("every task was recorded");
                    outcomes.push(experiment::panicked(&self.ctx, job, e.into_panic()).await);
                }
            }
        }
        prepared.sort_by_key(|p| p.outcome.job.iteration);
        let ready: Vec<usize> = (0..prepared.len()).filter(|&i| prepared[i].ready).collect();
        if !ready.is_empty() && !self.ctx.cancel.is_cancelled() {
            let arms: Vec<sampling::Arm> = ready
                .iter()
                .map(|&i| {
                    let p = &prepared[i];
                    sampling::Arm {
                        iteration: p.outcome.job.iteration,
                        label: names::exp_label(p.outcome.job.iteration),
                        tree: p.wt.as_ref().expect("ready means a worktree").path.clone(),
                        env: p.env(&self.ctx),
                        out_dir: p.out_dir.clone(),
                    }
                })
                .collect();
            let label = names::incumbent_label(arms[0].iteration);
            let history = self.incumbent_history(base);
            match sampling::with_incumbent(&self.ctx, base, &label, &arms, &history).await {
                Ok(rounds) => {
                    let reference = sampling::incumbent_snapshot(&self.ctx, &rounds.incumbent);
                    for (&i, end) in ready.iter().zip(rounds.arms) {
                        let p = &mut prepared[i];
                        let (verdict, stat) = sampling::verdict(&self.ctx, end, &reference);
                        p.outcome.verdict = verdict;
                        p.outcome.stat = stat;
                        p.measured(&self.ctx);
                    }
                    self.absorb_incumbent(&rounds.incumbent)?;
                }
                Err(failure) => {
                    for &i in &ready {
                        let p = &mut prepared[i];
                        // The incumbent failed, not the candidates.
                        p.outcome.verdict = match &failure {
                            Failure::Interrupted => Verdict::Interrupted,
                            Failure::Halt(why) => Verdict::Halt(why.clone()),
                            f => Verdict::Error(f.to_string()),
                        };
                        p.measured(&self.ctx);
                    }
                }
            }
        }
        for p in prepared {
            outcomes.push(experiment::clean_up(&self.ctx, p).await);
        }
        outcomes.sort_by_key(|o| o.job.iteration);
        Ok(outcomes)
    }

    /// The primary's latest samples of the best at `base` (as many as a
    /// candidate may take), for the statistical test to pool.
    fn incumbent_history(&self, base: git2::Oid) -> Vec<f64> {
        let best = &self.log.best;
        if best.commit.as_deref() != Some(base.to_string().as_str()) {
            return Vec::new();
        }
        let max = self.ctx.spec.measurement.stability.comparison.max_samples() as usize;
        let values = best
            .samples
            .as_ref()
            .and_then(|s| s.get(&self.ctx.spec.metric.primary.name))
            .map_or(&[][..], |v| v.as_slice());
        values[values.len().saturating_sub(max)..].to_vec()
    }

    /// Adds the incumbent's re-measurements to the best's samples and
    /// re-estimates its recorded metrics from all of them.
    fn absorb_incumbent(&mut self, samples: &[crate::measure::Metrics]) -> Result<(), RunError> {
        if samples.is_empty() {
            return Ok(());
        }
        let aggregation = self.ctx.spec.measurement.stability.aggregation;
        let all = self.log.best.samples.get_or_insert_with(Default::default);
        for (name, values) in crate::decide::snapshot::by_metric(samples) {
            all.entry(name).or_default().extend(values);
        }
        for (name, values) in all.iter() {
            if let Some(v) = aggregation.apply(values) {
                self.log.best.metrics.insert(
                    serde_yaml::Value::from(name.as_str()),
                    serde_yaml::Value::from(v),
                );
            }
        }
        self.save()
    }

    /// Appends an experiment's entry and takes its hypothesis off the
    /// backlog, in one atomic write; or says why the run must stop.
    pub(super) fn append(
        &mut self,
        outcome: experiment::Outcome,
    ) -> Result<Option<StopReason>, RunError> {
        let (entry, event) = match record::entry(&self.ctx.spec, &outcome, outcome.job.best) {
            Recording::Stop(reason) => return Ok(Some(reason)),
            Recording::Append { entry, event } => (entry, event),
        };
        let at = self
            .log
            .experiments
            .iter()
            .position(|x| x.iteration > entry.iteration)
            .unwrap_or(self.log.experiments.len());
        self.log.experiments.insert(at, *entry);
        self.unplan_member(outcome.job.iteration);
        self.add_cost(outcome.cost_usd);
        let description = &outcome.job.item.description;
        if let Some(i) = self
            .log
            .hypothesis_backlog
            .iter()
            .position(|h| &h.description == description)
        {
            self.log.hypothesis_backlog.remove(i);
        }
        self.save()?;
        fault("appended-before-evaluation");
        self.ctx.events.emit(event);
        Ok(None)
    }
}
