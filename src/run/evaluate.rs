//! Step 6: evaluate a batch. The best improving experiment is kept, file-
//! disjoint runner-ups are cherry-picked onto it and re-measured, and every
//! entry gets its outcome, primary_delta and learnings.

use super::session::to_mapping;
use super::{BatchEnd, Loop, RunError, StopReason, experiment, fault};
use crate::decide::{self, Candidate};
use crate::events::Event;
use crate::git::Repo;
use crate::log::{Best, Outcome};
use crate::measure::MeasureFailure;
use crate::names;
use crate::text::fmt_num;

impl Loop {
    /// Decides the pending entries. Interrupted midway (during a runner-up's
    /// re-measurement), it leaves the log as it was, so the next session
    /// decides the batch again, exactly as an uninterrupted run would.
    pub(super) async fn evaluate(&mut self) -> Result<BatchEnd, RunError> {
        let before = self.log.clone();
        let mut decided = Vec::new();
        match self.decide_batch(&mut decided).await? {
            BatchEnd::Done => {}
            stop => {
                self.log = before;
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

    async fn decide_batch(&mut self, decided: &mut Vec<Event>) -> Result<BatchEnd, RunError> {
        let spec = self.ctx.spec.clone();
        let primary = spec.metric.primary.name.clone();
        let direction = spec.metric.primary.direction;
        let threshold = self.ctx.threshold();
        let best_before = self.best_value().unwrap_or(f64::NAN);
        let pending: Vec<usize> = (0..self.log.experiments.len())
            .filter(|&i| self.log.experiments[i].outcome.is_pending())
            .collect();
        let batch_iterations: Vec<u64> = pending
            .iter()
            .map(|&i| self.log.experiments[i].iteration)
            .collect();
        if pending.is_empty() {
            self.log.run.in_flight = None;
            return Ok(BatchEnd::Done);
        }
        let candidates: Vec<Candidate> = pending
            .iter()
            .filter_map(|&i| {
                let e = &self.log.experiments[i];
                Some(Candidate {
                    iteration: e.iteration,
                    value: e.metric(&primary)?,
                    files: e.changes.iter().map(|c| c.file.clone()).collect(),
                })
            })
            .collect();
        let plan = decide::plan_batch(
            best_before,
            direction,
            threshold,
            &candidates,
            spec.max_runner_up_merges_per_batch as usize,
        );
        let repo = Repo::open(&self.ctx.repo_root)?;
        let branch = names::opt_branch(&spec.name);
        let value_of = |lp: &Loop, it: u64| {
            lp.entry(it)
                .and_then(|e| e.metric(&primary))
                .unwrap_or(f64::NAN)
        };

        if let Some(k) = plan.kept {
            let commit = self.experiment_commit(k)?;
            repo.set_branch(&branch, commit)?;
            fault("branch-moved-before-log");
            let value = value_of(self, k);
            let e = self.entry_mut(k).expect("planned entries exist");
            e.outcome = Outcome::Kept;
            e.commit = Some(commit.to_string());
            e.learnings = Some(format!(
                "{primary} {} -> {} ({}): better than the best by more than the noise threshold {}; kept.",
                fmt_num(best_before),
                fmt_num(value),
                decide::format_delta(value - best_before),
                fmt_num(threshold)
            ));
            let metrics = e.metrics.clone().unwrap_or_default();
            let judge = e.judge.clone();
            self.set_best(k, metrics, commit, judge);
            decided.push(Event::ExperimentFinished {
                iteration: k,
                outcome: Outcome::Kept,
                detail: format!("{primary} {}", decide::format_delta(value - best_before)),
            });
            decided.push(Event::NewBest {
                iteration: k,
                value,
            });
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
            let solo = value_of(self, r);
            let best_now = self.best_value().unwrap_or(f64::NAN);
            let onto = self
                .best_commit()
                .expect("a best commit exists after a keep");
            let pick = self.experiment_commit(r)?;
            let message =
                names::commit_message(&spec.name, &self.entry(r).expect("exists").hypothesis);
            fault("runner-up-cherry-pick");
            let Some(combined) = repo.cherry_pick(pick, onto, &message)? else {
                let e = self.entry_mut(r).expect("exists");
                e.outcome = Outcome::RunnerUpReverted;
                e.merged_with = Some(winner);
                e.learnings = Some(format!(
                    "Improved alone ({}), but its change conflicts with #{winner}; not merged.",
                    fmt_num(solo)
                ));
                decided.push(self.finished(r, "conflicts with the new best".into()));
                stopped = true;
                continue;
            };
            let measured = experiment::measure_combination(&self.ctx, combined, r).await;
            let verdict = match &measured {
                Err(MeasureFailure::Interrupted) => {
                    return Ok(BatchEnd::Stop(StopReason::Interrupted));
                }
                Err(f) => Err(crate::text::one_line(&f.to_string(), 160)),
                Ok(m) => {
                    let gates = decide::evaluate_gates(&spec.metric.degenerate_gates, &m.metrics);
                    let value = m.metrics.get(&primary).copied().unwrap_or(f64::NAN);
                    if !decide::all_passed(&gates) {
                        Err("the combination fails a degenerate gate".to_string())
                    } else if decide::improves(direction, value, best_now, threshold) {
                        Ok(value)
                    } else {
                        Err(format!(
                            "the combination measured {primary} {} vs the new best {}",
                            fmt_num(value),
                            fmt_num(best_now)
                        ))
                    }
                }
            };
            match verdict {
                Ok(value) => {
                    repo.set_branch(&branch, combined)?;
                    fault("branch-moved-before-log");
                    let m = measured.expect("verdict Ok implies measured");
                    let e = self.entry_mut(r).expect("exists");
                    e.outcome = Outcome::RunnerUpKept;
                    e.merged_with = Some(winner);
                    e.commit = Some(combined.to_string());
                    e.record.combined_metrics = Some(to_mapping(&m.metrics));
                    e.learnings = Some(format!(
                        "Improved alone ({}); combined with #{winner} it measured {primary} {} vs {} ({}); kept on top.",
                        fmt_num(solo),
                        fmt_num(value),
                        fmt_num(best_now),
                        decide::format_delta(value - best_now)
                    ));
                    self.set_best(r, to_mapping(&m.metrics), combined, None);
                    decided
                        .push(self.finished(r, format!("combined {primary} {}", fmt_num(value))));
                    decided.push(Event::NewBest {
                        iteration: r,
                        value,
                    });
                }
                Err(why) => {
                    let e = self.entry_mut(r).expect("exists");
                    e.outcome = Outcome::RunnerUpReverted;
                    e.merged_with = Some(winner);
                    e.record.combined_commit = Some(combined.to_string());
                    if let Ok(m) = &measured {
                        e.record.combined_metrics = Some(to_mapping(&m.metrics));
                    }
                    e.learnings = Some(format!(
                        "Improved alone ({}), but {why}; not better, so it was reverted and no further merges were tried.",
                        fmt_num(solo)
                    ));
                    decided.push(self.finished(r, why));
                    stopped = true;
                }
            }
        }

        for &r in &plan.reverted {
            let value = value_of(self, r);
            let improvement = direction.improvement(value, best_before);
            let why = if value.is_nan() {
                format!("its output had no usable {primary}; reverted.")
            } else if decide::improves(direction, value, best_before, threshold) {
                "Improved alone, but it touches files already merged in this batch or the runner-up cap was reached; reverted.".to_string()
            } else if improvement > 0.0 {
                format!(
                    "{primary} {} vs best {} ({}): inside the noise threshold {}; reverted.",
                    fmt_num(value),
                    fmt_num(best_before),
                    decide::format_delta(value - best_before),
                    fmt_num(threshold)
                )
            } else {
                format!(
                    "{primary} {} vs best {} ({}): no better; reverted.",
                    fmt_num(value),
                    fmt_num(best_before),
                    decide::format_delta(value - best_before)
                )
            };
            self.revert(r, why, decided);
        }
        // Pending entries without a primary value were not candidates.
        for i in pending {
            let e = &mut self.log.experiments[i];
            if e.outcome.is_pending() {
                e.outcome = Outcome::Reverted;
                e.learnings
                    .get_or_insert_with(|| format!("No usable {primary} in its output; reverted."));
                let iteration = e.iteration;
                decided.push(self.finished(iteration, format!("no usable {primary}")));
            }
        }
        self.model_learnings(&batch_iterations).await;
        self.log.run.in_flight = None;
        Ok(BatchEnd::Done)
    }

    fn revert(&mut self, iteration: u64, learnings: String, decided: &mut Vec<Event>) {
        if let Some(e) = self.entry_mut(iteration) {
            e.outcome = Outcome::Reverted;
            e.learnings = Some(learnings);
        }
        decided.push(self.finished(iteration, "no improvement kept".into()));
    }

    /// The event of an entry's final outcome.
    fn finished(&self, iteration: u64, detail: String) -> Event {
        Event::ExperimentFinished {
            iteration,
            outcome: self
                .entry(iteration)
                .map(|e| e.outcome.clone())
                .unwrap_or(Outcome::Reverted),
            detail,
        }
    }

    fn set_best(
        &mut self,
        iteration: u64,
        metrics: serde_yaml::Mapping,
        commit: git2::Oid,
        judge: Option<serde_yaml::Mapping>,
    ) {
        self.log.best = Best {
            iteration,
            metrics,
            judge: judge.or_else(|| self.log.best.judge.clone()),
            total_judge_cost_usd: self.log.best.total_judge_cost_usd,
            commit: Some(commit.to_string()),
            extra: self.log.best.extra.clone(),
        };
    }

    fn experiment_commit(&self, iteration: u64) -> Result<git2::Oid, RunError> {
        self.entry(iteration)
            .and_then(|e| e.record.experiment_commit.as_deref())
            .and_then(Repo::parse_oid)
            .ok_or(RunError::NoExperimentCommit { iteration })
    }
}
