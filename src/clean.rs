//! `optimize clean`: the experiment branches a spec's runs no longer need.
//! A branch goes when its experiment was decided against (reverted, error,
//! timeout, degenerate, a combination that was not better, inconclusive,
//! censored, not selected), in the current run and in archived ones. Never a
//! kept commit, the best, a deferred experiment's commit (kept for its
//! approval), an undecided one, a branch no log accounts for, or an
//! archived run's optimization branch.

use std::collections::BTreeMap;
use std::path::Path;

use crate::git::{GitError, Repo};
use crate::history::RunOnRecord;
use crate::log::{ExperimentLog, Outcome};
use crate::names;

/// One branch to prune, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prunable {
    pub branch: String,
    pub iteration: u64,
    pub outcome: String,
}

/// Branches of `spec`'s runs that can go: the current run's (`log`) and
/// every archived run's (`archived`, by their archive stamp).
pub fn prunable(
    repo: &Repo,
    spec: &str,
    log: Option<&ExperimentLog>,
    archived: &[RunOnRecord],
) -> Result<Vec<Prunable>, GitError> {
    let mut found = Vec::new();
    let keep_commits: Vec<String> = log
        .into_iter()
        .chain(archived.iter().map(|r| &r.log))
        .flat_map(protected_commits)
        .collect();
    let mut runs: Vec<(String, &ExperimentLog)> = Vec::new();
    if let Some(log) = log {
        runs.push((names::exp_branches_root(spec), log));
    }
    for r in archived {
        if let Some(stamp) = r.dir.file_name().and_then(|s| s.to_str()) {
            // Branches keep the stamp without the `-2` of a second archive.
            let stamp = stamp.split('-').next().unwrap_or(stamp);
            runs.push((names::archive_exp_branch(spec, stamp, ""), &r.log));
        }
    }
    for (prefix, log) in runs {
        let outcomes: BTreeMap<u64, Outcome> = log
            .experiments
            .iter()
            .map(|e| (e.iteration, e.outcome.clone()))
            .collect();
        for branch in repo.branches_with_prefix(&prefix)? {
            let rest = &branch[prefix.len()..];
            let Some(iteration) = iteration_of(rest) else {
                continue;
            };
            let Some(outcome) = outcomes.get(&iteration) else {
                continue;
            };
            let commit = repo.branch_commit(&branch)?.map(|c| c.to_string());
            if decided_against(outcome) && commit.is_none_or(|c| !keep_commits.contains(&c)) {
                found.push(Prunable {
                    branch,
                    iteration,
                    outcome: outcome.to_string(),
                });
            }
        }
    }
    Ok(found)
}

/// Deletes the branches; the commits stay in git's object store until it
/// collects them.
pub fn prune(repo: &Repo, branches: &[Prunable]) -> Result<(), GitError> {
    let _git = crate::git::exclusive();
    for p in branches {
        repo.delete_branch(&p.branch)?;
    }
    Ok(())
}

/// `exp-007`, `exp-007-combined`, `exp-007-v-fast` → 7.
fn iteration_of(rest: &str) -> Option<u64> {
    let digits = rest.strip_prefix("exp-")?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

fn decided_against(o: &Outcome) -> bool {
    matches!(
        o,
        Outcome::Reverted
            | Outcome::RunnerUpReverted
            | Outcome::Error
            | Outcome::Timeout
            | Outcome::Degenerate
            | Outcome::Inconclusive
            | Outcome::Censored
            | Outcome::NotSelected
    )
}

/// Commits a branch must never be deleted under: the best, every kept one,
/// every deferred one.
fn protected_commits(log: &ExperimentLog) -> Vec<String> {
    let mut out: Vec<String> = log.best.commit.iter().cloned().collect();
    for e in &log.experiments {
        if e.outcome.is_kept() || e.outcome == Outcome::DeferredNeedsApproval {
            out.extend(e.commit.iter().cloned());
            out.extend(e.record.experiment_commit.iter().cloned());
        }
    }
    out
}

/// Archived runs of `spec` found under `repo_root`.
pub fn archived_runs(repo_root: &Path, spec: &str) -> Vec<RunOnRecord> {
    let (runs, _) = crate::history::discover(repo_root);
    runs.into_iter()
        .filter(|r| r.archived && r.spec == spec)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn branch_names_give_their_iteration() {
        assert_eq!(super::iteration_of("exp-007"), Some(7));
        assert_eq!(super::iteration_of("exp-012-combined"), Some(12));
        assert_eq!(super::iteration_of("exp-003-v-fast"), Some(3));
        assert_eq!(super::iteration_of("other"), None);
    }
}
