//! Step 6: evaluate a batch. The best improving experiment is kept, file-
//! disjoint runner-ups are cherry-picked onto it and re-measured, and every
//! entry gets its outcome, primary_delta and learnings.

use serde_yaml::Value;

use super::{Loop, RunError, experiment, opt_branch, to_mapping};
use crate::decide::{self, Candidate};
use crate::events::Event;
use crate::git::Repo;
use crate::log::{Best, Outcome};
use crate::measure::MeasureFailure;
use crate::text::fmt_num;

impl Loop {
    pub(super) async fn evaluate(&mut self) -> Result<(), RunError> {
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
            self.log.extra.remove("in_flight");
            self.save()?;
            self.write_digest();
            return Ok(());
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
        let branch = opt_branch(&spec.name);
        let value_of = |lp: &Loop, it: u64| {
            lp.entry(it)
                .and_then(|e| e.metric(&primary))
                .unwrap_or(f64::NAN)
        };

        if let Some(k) = plan.kept {
            let commit = self.experiment_commit(k)?;
            repo.set_branch(&branch, commit)?;
            super::fault("branch-moved-before-log");
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
            self.ctx.reporter.report(&Event::Decided {
                iteration: k,
                outcome: Outcome::Kept,
                detail: format!("{primary} {}", decide::format_delta(value - best_before)),
            });
            self.ctx.reporter.report(&Event::NewBest {
                iteration: k,
                value,
            });
        }

        let mut stopped = false;
        for &r in &plan.runner_ups {
            let winner = plan.kept.expect("runner-ups only follow a kept experiment");
            if stopped || self.ctx.cancel.is_cancelled() {
                self.revert(r, "Improved alone, but an earlier runner-up combination in this batch was not better, so no further merges were tried; reverted.".into());
                continue;
            }
            let solo = value_of(self, r);
            let best_now = self.best_value().unwrap_or(f64::NAN);
            let onto = self
                .best_commit()
                .expect("a best commit exists after a keep");
            let pick = self.experiment_commit(r)?;
            let message =
                experiment::commit_message(&spec.name, &self.entry(r).expect("exists").hypothesis);
            super::fault("runner-up-cherry-pick");
            let Some(combined) = repo.cherry_pick(pick, onto, &message)? else {
                let e = self.entry_mut(r).expect("exists");
                e.outcome = Outcome::RunnerUpReverted;
                e.merged_with = Some(winner);
                e.learnings = Some(format!(
                    "Improved alone ({}), but its change conflicts with #{winner}; not merged.",
                    fmt_num(solo)
                ));
                self.report_decided(r, "conflicts with the new best".into());
                stopped = true;
                continue;
            };
            let label = format!("exp-{r:03}-combined");
            let combined_branch = format!("{}-combined", experiment::exp_branch(&spec.name, r));
            self.ctx.reporter.report(&Event::Stage {
                iteration: r,
                stage: "measuring the combination with the new best".into(),
            });
            let out_dir = self.ctx.state.experiment_dir(r).join("combined");
            let measured =
                experiment::measure_commit(&self.ctx, combined, label, combined_branch, r, out_dir)
                    .await;
            let verdict = match &measured {
                Err(MeasureFailure::Interrupted) => {
                    // Leave it measured: the next session evaluates it again.
                    return Err(RunError::Interrupted);
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
                    super::fault("branch-moved-before-log");
                    let m = measured.expect("verdict Ok implies measured");
                    let e = self.entry_mut(r).expect("exists");
                    e.outcome = Outcome::RunnerUpKept;
                    e.merged_with = Some(winner);
                    e.commit = Some(combined.to_string());
                    e.extra.insert(
                        "combined_metrics".into(),
                        Value::Mapping(to_mapping(&m.metrics)),
                    );
                    e.learnings = Some(format!(
                        "Improved alone ({}); combined with #{winner} it measured {primary} {} vs {} ({}); kept on top.",
                        fmt_num(solo),
                        fmt_num(value),
                        fmt_num(best_now),
                        decide::format_delta(value - best_now)
                    ));
                    self.set_best(r, to_mapping(&m.metrics), combined, None);
                    self.report_decided(r, format!("combined {primary} {}", fmt_num(value)));
                    self.ctx.reporter.report(&Event::NewBest {
                        iteration: r,
                        value,
                    });
                }
                Err(why) => {
                    let e = self.entry_mut(r).expect("exists");
                    e.outcome = Outcome::RunnerUpReverted;
                    e.merged_with = Some(winner);
                    e.extra
                        .insert("combined_commit".into(), Value::from(combined.to_string()));
                    if let Ok(m) = &measured {
                        e.extra.insert(
                            "combined_metrics".into(),
                            Value::Mapping(to_mapping(&m.metrics)),
                        );
                    }
                    e.learnings = Some(format!(
                        "Improved alone ({}), but {why}; not better, so it was reverted and no further merges were tried.",
                        fmt_num(solo)
                    ));
                    self.report_decided(r, why);
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
            self.revert(r, why);
        }
        // Pending entries without a primary value were not candidates.
        for i in pending {
            let e = &mut self.log.experiments[i];
            if e.outcome.is_pending() {
                e.outcome = Outcome::Reverted;
                e.learnings
                    .get_or_insert_with(|| format!("No usable {primary} in its output; reverted."));
            }
        }
        self.model_learnings(&batch_iterations).await;
        self.log.extra.remove("in_flight");
        super::fault("evaluated-before-save");
        self.save()?;
        self.write_digest();
        Ok(())
    }

    /// With a model in use, one short model-written learning per decided
    /// experiment; the templated learning stays when the model fails.
    async fn model_learnings(&mut self, iterations: &[u64]) {
        let Some(client) = self.ctx.llm.clone() else {
            return;
        };
        let spec = self.ctx.spec.clone();
        if spec.hypotheses.source != crate::spec::HypothesisSource::Llm {
            return;
        }
        let model = client.model_or_default(spec.hypotheses.model.as_ref());
        for &it in iterations {
            let Some(e) = self.entry(it) else { continue };
            let prompt = crate::prompt::fill(
                crate::prompt::LEARNING,
                &[
                    ("description", spec.description.trim().to_string()),
                    ("primary", spec.metric.primary.name.clone()),
                    ("direction", spec.metric.primary.direction.as_str().into()),
                    ("hypothesis", e.hypothesis.clone()),
                    ("outcome", e.outcome.to_string()),
                    (
                        "delta",
                        e.primary_delta.clone().unwrap_or_else(|| "no delta".into()),
                    ),
                    (
                        "facts",
                        e.learnings
                            .clone()
                            .or(e.error_message.clone())
                            .unwrap_or_default(),
                    ),
                ],
            );
            let messages = [serde_json::json!({"role": "user", "content": prompt})];
            let reply = tokio::select! {
                r = client.chat(&model, &messages) => r,
                _ = self.ctx.cancel.cancelled() => return,
            };
            let Ok(reply) = reply else { continue };
            self.add_cost(reply.cost_usd.unwrap_or(0.0));
            let line = crate::text::one_line(&reply.text, 240);
            if let Some(e) = self.entry_mut(it)
                && !line.is_empty()
            {
                if let Some(t) = e.learnings.take() {
                    e.extra.insert("templated_learnings".into(), Value::from(t));
                }
                e.learnings = Some(line);
            }
        }
    }

    fn revert(&mut self, iteration: u64, learnings: String) {
        if let Some(e) = self.entry_mut(iteration) {
            e.outcome = Outcome::Reverted;
            e.learnings = Some(learnings);
        }
        self.report_decided(iteration, "no improvement kept".into());
    }

    fn report_decided(&self, iteration: u64, detail: String) {
        if let Some(e) = self.entry(iteration) {
            self.ctx.reporter.report(&Event::Decided {
                iteration,
                outcome: e.outcome.clone(),
                detail,
            });
        }
    }

    fn set_best(
        &mut self,
        iteration: u64,
        metrics: serde_yaml::Mapping,
        commit: git2::Oid,
        judge: Option<serde_yaml::Mapping>,
    ) {
        let mut extra = self.log.best.extra.clone();
        extra.insert("commit".into(), Value::from(commit.to_string()));
        self.log.best = Best {
            iteration,
            metrics,
            judge: judge.or_else(|| self.log.best.judge.clone()),
            total_judge_cost_usd: self.log.best.total_judge_cost_usd,
            extra,
        };
    }

    pub(super) fn entry(&self, iteration: u64) -> Option<&crate::log::Experiment> {
        self.log
            .experiments
            .iter()
            .find(|e| e.iteration == iteration)
    }

    fn entry_mut(&mut self, iteration: u64) -> Option<&mut crate::log::Experiment> {
        self.log
            .experiments
            .iter_mut()
            .find(|e| e.iteration == iteration)
    }

    fn experiment_commit(&self, iteration: u64) -> Result<git2::Oid, RunError> {
        self.entry(iteration)
            .and_then(|e| e.extra_str("experiment_commit"))
            .and_then(Repo::parse_oid)
            .ok_or_else(|| {
                RunError::Conflict(format!(
                    "experiment #{iteration} has no experiment_commit in the log"
                ))
            })
    }
}
