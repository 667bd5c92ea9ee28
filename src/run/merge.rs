//! A runner-up merged onto the batch's new best: cherry-picked, measured
//! there, kept on top when the combination beats the new best.

use super::evaluate::Batch;
use super::session::to_mapping;
use super::{Loop, RunError, combination, fault, protocol};
use crate::decide::{self, snapshot};
use crate::events::Event;
use crate::git::Repo;
use crate::log::Outcome;
use crate::names;
use crate::text::fmt_num;

/// A runner-up cherry-picked onto the new best, as measured.
struct Combination {
    winner: u64,
    combined: git2::Oid,
    /// The runner-up's value alone, the new best's, the combination's.
    solo: f64,
    best_now: f64,
    value: f64,
}

/// How a runner-up's merge ended.
pub(super) enum Merge {
    Kept,
    /// Not better (or in conflict): no further merges this batch.
    Stopped,
    Interrupted,
}

impl Loop {
    /// Runner-up `r` cherry-picked onto the new best and measured there.
    pub(super) async fn merge_runner_up(
        &mut self,
        repo: &Repo,
        batch: &Batch,
        winner: u64,
        r: u64,
        decided: &mut Vec<Event>,
    ) -> Result<Merge, RunError> {
        let branch = names::opt_branch(&self.ctx.spec.name);
        let solo = self.value_of(r);
        let best_now = self.best_value().unwrap_or(f64::NAN);
        let onto = self
            .best_commit()
            .expect("a best commit exists after a keep");
        let pick = self.experiment_commit(r)?;
        let message = names::commit_message(
            &self.ctx.spec.name,
            &self.entry(r).expect("exists").hypothesis,
        );
        fault("runner-up-cherry-pick");
        let Some(combined) = repo.cherry_pick(pick, onto, &message)? else {
            self.runner_up_conflicts(winner, r, solo, decided);
            return Ok(Merge::Stopped);
        };
        let new_best = snapshot::of_best(&self.ctx.spec, &self.log.best);
        let mut phases = super::experiment::Phases::start();
        let measured =
            combination::measure_combination(&self.ctx, combined, r, &new_best, onto).await;
        if let Some(e) = self.entry_mut(r) {
            e.record
                .timings
                .get_or_insert_with(Default::default)
                .combine_s = phases.lap();
        }
        if let Err(protocol::Failure::Interrupted) = &measured {
            return Ok(Merge::Interrupted);
        }
        let mut verdict = combination_verdict(&batch.primary, &measured, best_now);
        if let (Ok(_), Ok(m)) = (&verdict, &measured)
            && let Some(held_out) = self.confirm_combination(r, onto, combined, m).await
        {
            match held_out {
                Err(protocol::Failure::Interrupted) => return Ok(Merge::Interrupted),
                Err(f) => verdict = Err(format!("the holdout could not be measured: {f}")),
                Ok(Some(why)) => verdict = Err(why),
                Ok(None) => {}
            }
        }
        match verdict {
            Ok(value) => {
                repo.set_branch(&branch, combined)?;
                fault("branch-moved-before-log");
                let m = measured.expect("verdict Ok implies measured");
                let combination = Combination {
                    winner,
                    combined,
                    solo,
                    best_now,
                    value,
                };
                self.combination_kept(batch, r, &combination, &m, decided);
                Ok(Merge::Kept)
            }
            Err(why) => {
                let e = self.entry_mut(r).expect("exists");
                e.outcome = Outcome::RunnerUpReverted;
                e.merged_with = Some(winner);
                e.record.combined_commit = Some(combined.to_string());
                if let Ok(m) = &measured {
                    e.record.combined_metrics = Some(to_mapping(&m.measured.metrics));
                }
                e.learnings = Some(format!(
                    "Improved alone ({}), but {why}; not better, so it was reverted.",
                    fmt_num(solo)
                ));
                decided.push(self.finished(r, why));
                Ok(Merge::Stopped)
            }
        }
    }

    /// A combination the selection would keep, confirmed on the holdout
    /// against the best it joins (`None` without a holdout): why it does
    /// not hold there, if it does not.
    async fn confirm_combination(
        &mut self,
        r: u64,
        onto: git2::Oid,
        combined: git2::Oid,
        m: &protocol::Sampled,
    ) -> Option<Result<Option<String>, protocol::Failure>> {
        if !self.ctx.rules.holdout {
            return None;
        }
        let confirmed =
            match super::holdout::confirm(&self.ctx, r, onto, combined, m.decision.clone()).await {
                Ok(c) => c,
                Err(f) => return Some(Err(f)),
            };
        let why = (!confirmed.decision.eligible)
            .then(|| format!("on the holdout, {}", confirmed.decision.reason));
        if let Some(e) = self.entry_mut(r) {
            e.record.holdout = Some(confirmed.record);
        }
        Some(Ok(why))
    }

    /// A runner-up whose change does not apply on the new best.
    fn runner_up_conflicts(&mut self, winner: u64, r: u64, solo: f64, decided: &mut Vec<Event>) {
        self.settle(
            r,
            Outcome::RunnerUpReverted,
            format!(
                "Improved alone ({}), but its change conflicts with #{winner}; not merged.",
                fmt_num(solo)
            ),
            "conflicts with the new best".into(),
            decided,
        );
        if let Some(e) = self.entry_mut(r) {
            e.merged_with = Some(winner);
        }
    }

    /// A runner-up whose combination with the new best beats it: the log
    /// follows the branch, already moved.
    fn combination_kept(
        &mut self,
        batch: &Batch,
        r: u64,
        c: &Combination,
        m: &protocol::Sampled,
        decided: &mut Vec<Event>,
    ) {
        let metrics = to_mapping(&m.measured.metrics);
        let samples = Some(snapshot::by_metric(&m.measured.samples));
        let e = self.entry_mut(r).expect("exists");
        e.outcome = Outcome::RunnerUpKept;
        e.merged_with = Some(c.winner);
        e.commit = Some(c.combined.to_string());
        e.record.combined_metrics = Some(metrics.clone());
        e.learnings = Some(format!(
            "Improved alone ({}); combined with #{} it measured {} {} vs {} ({}); kept on top.",
            fmt_num(c.solo),
            c.winner,
            batch.primary,
            fmt_num(c.value),
            fmt_num(c.best_now),
            decide::format_delta(c.value - c.best_now)
        ));
        self.set_best(
            r,
            metrics,
            c.combined,
            None,
            samples,
            m.measured.cases.clone(),
        );
        decided.push(self.finished(
            r,
            format!("combined {} {}", batch.primary, fmt_num(c.value)),
        ));
        decided.push(Event::NewBest {
            iteration: r,
            value: c.value,
        });
    }
}

/// Whether a measured combination beats the new best: its value, or why not.
fn combination_verdict(
    primary: &str,
    measured: &Result<protocol::Sampled, protocol::Failure>,
    best_now: f64,
) -> Result<f64, String> {
    match measured {
        Err(f) => Err(crate::text::one_line(&f.to_string(), 160)),
        Ok(m) => {
            let value = m.measured.metrics.get(primary).copied().unwrap_or(f64::NAN);
            if !m.gates_passed() {
                Err("the combination fails a degenerate gate".to_string())
            } else if m.decision.eligible {
                Ok(value)
            } else {
                Err(format!(
                    "the combination measured {primary} {} vs the new best {} ({})",
                    fmt_num(value),
                    fmt_num(best_now),
                    m.decision.reason
                ))
            }
        }
    }
}
