//! `optimize replay`: an experiment's hypothesis implemented again from the
//! base it was first built on, with another model, variant or temperature,
//! measured like any experiment and appended as a new entry (`replay_of`).
//! A replay never moves the best: the entry is `not_selected`, and its
//! learning says whether it would have been kept and how to keep it.

use std::sync::Arc;

use super::context::Ctx;
use super::experiment::{self, Job};
use super::record::{self, Recording};
use super::{Request, RunError};
use crate::git::Repo;
use crate::log::{BacklogItem, Experiment, ExperimentLog, LogFile, Outcome};
use crate::names;

/// How the replay differs from the original.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub iteration: u64,
    pub variant: Option<crate::spec::Variant>,
}

/// The original entry and the replay's, as appended.
pub struct Replayed {
    pub original: Experiment,
    pub replay: Experiment,
}

/// The base an experiment was first built on: its commit's parent.
fn base_of(repo: &Repo, original: &Experiment) -> Result<git2::Oid, RunError> {
    let iteration = original.iteration;
    let commit = original
        .record
        .experiment_commit
        .as_deref()
        .and_then(Repo::parse_oid)
        .ok_or(RunError::NoExperimentCommit { iteration })?;
    Ok(repo
        .repo
        .find_commit(commit)
        .and_then(|c| c.parent_id(0))
        .map_err(|source| crate::git::GitError::Git {
            context: format!("find the base of #{iteration}"),
            source,
        })?)
}

pub async fn replay(req: Request<'_>, how: Replay) -> Result<Replayed, RunError> {
    let ctx = Arc::new(Ctx::new(&req)?);
    let repo = Repo::open(&req.repo_root)?;
    let log_path = req.state.log_path();
    let mut log = ExperimentLog::load_owned(&log_path)?;
    let original = log
        .experiments
        .iter()
        .find(|e| e.iteration == how.iteration)
        .cloned()
        .ok_or(RunError::NoExperiment {
            iteration: how.iteration,
        })?;
    let base = base_of(&repo, &original)?;
    super::session::know_harness(&ctx, &log, &repo)?;
    let best = log.best.metric(&ctx.spec.metric.primary.name);
    let job = Job {
        iteration: log.next_iteration(),
        batch: log.next_batch(),
        slot: 0,
        item: BacklogItem {
            files: original.changes.iter().map(|c| c.file.clone()).collect(),
            ..BacklogItem::new(&original.hypothesis, &original.category)
        },
        base,
        best,
        best_snapshot: crate::decide::snapshot::of_best(&ctx.spec, &log.best),
        variants: Vec::new(),
    };
    let outcome = experiment::attempt(&ctx, job, how.variant.as_ref()).await;
    // The pool and temporary directories go, as at a session's end.
    super::session::remove_pool(&ctx);
    let mut entry = match record::entry(&ctx.spec, &outcome, best) {
        Recording::Append { entry, .. } => *entry,
        Recording::Stop(reason) => return Err(RunError::ReplayStopped(reason.to_string())),
    };
    entry.record.replay_of = Some(how.iteration);
    if let Some(v) = &how.variant {
        entry.record.variant = Some(v.name.clone());
    }
    // Decided as the run decides: the same rules, against the best.
    let improves = entry.outcome == Outcome::Measured
        && crate::decide::rules::decide_with(
            &ctx.rules,
            &crate::decide::snapshot::of_best(&ctx.spec, &log.best),
            &crate::decide::snapshot::of_entry(&ctx.spec, &entry),
        )
        .eligible;
    if entry.outcome == Outcome::Measured {
        entry.outcome = Outcome::NotSelected;
        entry.learnings = Some(format!(
            "Replay of #{}: {}; a replay never moves the best{}.",
            how.iteration,
            if improves {
                "it beats the best by more than the noise threshold"
            } else {
                "it does not beat the best"
            },
            match &entry.record.experiment_commit {
                Some(c) if improves => format!(
                    "; to keep it, cherry-pick {c} onto {} (or add the hypothesis back to the backlog)",
                    names::opt_branch(&ctx.spec.name)
                ),
                _ => String::new(),
            }
        ));
    }
    log.experiments.push(entry.clone());
    if outcome.cost_usd > 0.0 {
        let total = log.run.total_llm_cost_usd.unwrap_or(0.0) + outcome.cost_usd;
        log.run.total_llm_cost_usd = Some((total * 1e6).round() / 1e6);
    }
    let mut file = LogFile::new(log_path);
    file.save(&log)?;
    file.close()?;
    Ok(Replayed {
        original,
        replay: entry,
    })
}
