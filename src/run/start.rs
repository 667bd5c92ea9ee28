//! Where an experiment starts: its slot's worktree from the pool, at the
//! best (or, for an approved deferred experiment, at its kept change
//! re-applied on the best), or a killed run's worktree a batch job still
//! measures.

use std::sync::Arc;

use git2::Oid;

use super::context::Ctx;
use super::experiment::{Job, blocking};
use crate::git::Repo;
use crate::names;
use crate::worktree::Worktree;

/// The commit and changes of a branch a killed run's job still measures.
pub(super) async fn adopted_change(
    ctx: &Arc<Ctx>,
    base: Oid,
    branch: String,
) -> Result<(Oid, Vec<(String, &'static str)>), crate::git::GitError> {
    let ctx2 = ctx.clone();
    let branch2 = branch;
    blocking(move || {
        let repo = Repo::open(&ctx2.repo_root)?;
        let commit = repo
            .branch_commit(&branch2)?
            .ok_or_else(|| crate::git::GitError::Io {
                context: format!("find branch {branch2}"),
                source: std::io::Error::other("it is gone"),
            })?;
        let changes = repo.changed_files(base, commit)?;
        Ok::<_, crate::git::GitError>((commit, changes))
    })
    .await
}

/// Where an experiment starts: the best, or, for an approved deferred
/// experiment, its kept change re-applied on top of the best.
pub(super) async fn start_commit(ctx: &Arc<Ctx>, job: &Job) -> Result<Oid, crate::git::GitError> {
    let from_commit = job.item.from_commit.as_deref().and_then(Repo::parse_oid);
    match from_commit {
        None => Ok(job.base),
        Some(kept) => {
            let ctx = ctx.clone();
            let base = job.base;
            let message = names::commit_message(&ctx.spec.name, &job.item.description);
            blocking(move || {
                let repo = Repo::open(&ctx.repo_root)?;
                let _git = crate::git::exclusive();
                repo.cherry_pick(kept, base, &message)?
                    .ok_or_else(|| crate::git::GitError::Io {
                        context: format!("re-apply the kept commit {kept}"),
                        source: std::io::Error::other(
                            "it no longer applies cleanly on the current best",
                        ),
                    })
            })
            .await
        }
    }
}

/// The pool's worktree `label` at `commit`, on `branch` (created or reset)
/// or detached, with the spec's shared files copied in. It stays in the pool
/// afterwards, for the next experiment to reuse.
pub(super) async fn pooled_worktree(
    ctx: &Arc<Ctx>,
    label: String,
    branch: Option<String>,
    commit: Oid,
) -> Result<Worktree, crate::git::GitError> {
    let ctx = ctx.clone();
    blocking(move || {
        let repo = Repo::open(&ctx.repo_root)?;
        let clean = ctx.spec.execution.clean;
        let wt = Worktree::pooled(&repo, &ctx.state, &label, branch.as_deref(), commit, clean)?;
        wt.copy_shared_files(&ctx.repo_root, &ctx.spec)?;
        Ok(wt)
    })
    .await
}
