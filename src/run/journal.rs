//! Crash safety: the batch in flight is written before any of it starts, a
//! resume finishes it with the same members, iterations and base commit, and
//! the repository is made to agree with the log.

use super::experiment::Job;
use super::{Loop, RunError};
use crate::git::Repo;
use crate::log::{InFlight, InFlightMember, Outcome};
use crate::names;
use crate::worktree::Worktree;

impl Loop {
    /// Writes the batch about to run into the log (`in_flight`), before any
    /// of it starts; the hypotheses stay in the backlog until appended.
    pub(super) fn plan_in_flight(&mut self, jobs: &[Job]) -> Result<(), RunError> {
        let Some(first) = jobs.first() else {
            return Ok(());
        };
        self.log.run.in_flight = Some(InFlight {
            batch: first.batch,
            base: first.base.to_string(),
            experiments: jobs
                .iter()
                .map(|j| InFlightMember {
                    iteration: j.iteration,
                    slot: j.slot,
                    hypothesis: j.item.description.clone(),
                    base: None,
                    batch: None,
                })
                .collect(),
            extra: Default::default(),
        });
        self.save()
    }

    /// Adds one dispatched experiment to `in_flight`, before it starts.
    pub(super) fn plan_member(&mut self, job: &Job) -> Result<(), RunError> {
        let member = InFlightMember {
            iteration: job.iteration,
            slot: job.slot,
            hypothesis: job.item.description.clone(),
            base: Some(job.base.to_string()),
            batch: Some(job.batch),
        };
        match &mut self.log.run.in_flight {
            Some(plan) => {
                plan.batch = job.batch;
                plan.base = job.base.to_string();
                plan.experiments.push(member);
            }
            None => {
                self.log.run.in_flight = Some(InFlight {
                    batch: job.batch,
                    base: job.base.to_string(),
                    experiments: vec![member],
                    extra: Default::default(),
                })
            }
        }
        self.save()
    }

    /// Takes an appended experiment off `in_flight` (saved with its entry).
    pub(super) fn unplan_member(&mut self, iteration: u64) {
        if let Some(plan) = &mut self.log.run.in_flight {
            plan.experiments.retain(|m| m.iteration != iteration);
            if plan.experiments.is_empty() {
                self.log.run.in_flight = None;
            }
        }
    }

    /// The members of `in_flight` that have no entry yet, each on the base
    /// it was dispatched on.
    pub(super) fn unfinished_batch(&self) -> Option<Vec<Job>> {
        let plan = self.log.run.in_flight.as_ref()?;
        let shared = Repo::parse_oid(&plan.base)?;
        let jobs = plan
            .experiments
            .iter()
            .filter(|m| self.entry(m.iteration).is_none())
            // A hypothesis removed from the backlog by hand is not run.
            .filter_map(|m| {
                let item = self
                    .log
                    .hypothesis_backlog
                    .iter()
                    .find(|h| h.description == m.hypothesis)?;
                let base = m
                    .base
                    .as_deref()
                    .and_then(Repo::parse_oid)
                    .unwrap_or(shared);
                let best_snapshot = self.snapshot_of_base(base);
                Some(Job {
                    iteration: m.iteration,
                    batch: m.batch.unwrap_or(plan.batch),
                    slot: m.slot,
                    variants: crate::variants::choose(&self.ctx.spec, &self.log, item),
                    item: item.clone(),
                    base,
                    best: self.ctx.rules.primary_value(&best_snapshot),
                    best_snapshot,
                })
            })
            .collect();
        Some(jobs)
    }

    /// Makes the branch agree with `best`, removes stray worktrees, and
    /// deletes the branches of work that never reached the log.
    /// `keep`: labels whose worktree and branch a job of the killed run is
    /// still measuring (adopted on Slurm).
    pub(super) fn reconcile(&mut self, repo: &Repo, keep: &[String]) -> Result<(), RunError> {
        self.log.set_report_aside(repo);
        let name = &self.ctx.spec.name;
        let branch = names::opt_branch(name);
        // A run killed while writing one of its branches leaves the ref's
        // lock file, and git then refuses to touch that branch.
        for stale in repo.remove_stale_ref_locks(&names::exp_branches_root(name))? {
            tracing::info!("removed the stale ref lock {}", stale.display());
        }
        let own = repo
            .repo
            .commondir()
            .join("refs/heads")
            .join(format!("{branch}.lock"));
        if own.is_file() {
            std::fs::remove_file(&own).map_err(|source| RunError::Io { path: own, source })?;
        }
        if let Some(best) = self.best_commit()
            && repo.branch_commit(&branch)? != Some(best)
        {
            repo.set_branch(&branch, best)?;
        }
        let prefix = names::worktree_admin_prefix(name);
        for admin in repo.worktrees_with_prefix(&prefix)? {
            let label = admin.trim_start_matches(&prefix).to_string();
            // A concurrent `optimize validate` owns its own worktree.
            if label.starts_with(names::VALIDATE_PREFIX) || keep.contains(&label) {
                continue;
            }
            let wt = Worktree::location(&self.ctx.state, &label);
            // The pool's worktrees are repaired when next used; detached, so
            // the branches of lost work below can go.
            if label.starts_with(names::SLOT_PREFIX)
                && wt.path.join(".git").is_file()
                && repo.detach_worktree_head(&wt.path).is_ok()
            {
                continue;
            }
            repo.forget_worktree(&wt.admin, &wt.path)?;
        }
        let _git = crate::git::exclusive();
        for b in repo.branches_with_prefix(&names::exp_branch_prefix(name))? {
            let Some((iteration, combined)) = names::parse_exp_branch(name, &b) else {
                continue;
            };
            // Combinations are kept only for the runner-ups that were tried.
            let wanted = match self.entry(iteration) {
                None => !combined && keep.contains(&names::exp_label(iteration)),
                Some(e) if combined => {
                    matches!(e.outcome, Outcome::RunnerUpKept | Outcome::RunnerUpReverted)
                }
                Some(_) => true,
            };
            if !wanted {
                repo.delete_branch(&b)?;
            }
        }
        Ok(())
    }
}
