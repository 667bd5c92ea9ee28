//! An experiment's change: the hypothesis implemented in its worktree (or a
//! kept commit re-applied), new files outside the scope set aside, the
//! change committed, then checked for scope and new dependencies. Each step
//! returns what the next needs, or the verdict that ends the experiment.

use std::path::Path;
use std::sync::Arc;

use git2::Oid;

use super::context::Ctx;
use super::experiment::{Outcome, Phases, Verdict, blocking};
use crate::events::{Event, Stage};
use crate::git::Repo;
use crate::implement::{self, ImplementFailure};
use crate::names;
use crate::spec::Spec;
use crate::worktree::Worktree;

/// Why an experiment ends before its measurement: its verdict (none for an
/// interruption, left to the next run) and the failure's cause.
pub(super) struct Stop {
    verdict: Option<Verdict>,
    cause: Option<String>,
}

impl Stop {
    fn error(message: String, cause: Option<String>) -> Stop {
        Stop {
            verdict: Some(Verdict::Error(message)),
            cause,
        }
    }

    fn with(verdict: Verdict) -> Stop {
        Stop {
            verdict: Some(verdict),
            cause: None,
        }
    }
}

/// A committed change.
struct Committed {
    commit: Oid,
    changes: Vec<(String, &'static str)>,
    diff: String,
}

/// Implements the hypothesis, commits it, checks scope and dependencies;
/// true when the experiment is ready to be measured.
/// `variant_spec`: the spec as a variant sees it, for implementing.
pub(super) async fn implement_and_check(
    ctx: &Arc<Ctx>,
    variant_spec: Option<&Spec>,
    wt: &Arc<Worktree>,
    out_dir: &Path,
    outcome: &mut Outcome,
    phases: &mut Phases,
) -> bool {
    let spec = variant_spec.unwrap_or(&ctx.spec);
    let done = change(ctx, spec, wt, out_dir, outcome, phases).await;
    match done {
        Ok(()) => {
            outcome.timings.commit_s = phases.lap();
            true
        }
        Err(stop) => {
            outcome.cause = stop.cause;
            if let Some(verdict) = stop.verdict {
                outcome.verdict = verdict;
            }
            false
        }
    }
}

async fn change(
    ctx: &Arc<Ctx>,
    spec: &Spec,
    wt: &Arc<Worktree>,
    out_dir: &Path,
    outcome: &mut Outcome,
    phases: &mut Phases,
) -> Result<(), Stop> {
    let reused = outcome.job.item.from_commit.is_some();
    ctx.events.emit(Event::StageChanged {
        iteration: outcome.job.iteration,
        stage: if reused {
            Stage::Reapplying
        } else {
            Stage::Implementing
        },
    });
    if !reused {
        let implemented = implement(ctx, spec, wt, out_dir, outcome).await;
        // Also when it failed or timed out: the entry says how long it ran.
        outcome.timings.implement_s = phases.lap();
        let spent = implemented?;
        outcome.cost_usd = spent.usd;
        outcome.tokens = spent.tokens;
    } else {
        outcome.timings.implement_s = phases.lap();
    }
    let c = commit(ctx, spec, wt, out_dir, outcome, reused).await?;
    let _ = std::fs::write(out_dir.join("diff.patch"), &c.diff);
    outcome.commit = Some(c.commit);
    outcome.changes = c.changes.clone();
    let files: Vec<String> = c.changes.iter().map(|(f, _)| f.clone()).collect();
    check_scope(ctx, &files)?;
    check_dependencies(ctx, outcome.job.base, c.commit, files).await
}

/// The hypothesis implemented in the tree by its `apply`, `patch`, the
/// model or the agent.
async fn implement(
    ctx: &Arc<Ctx>,
    spec: &Spec,
    wt: &Worktree,
    out_dir: &Path,
    outcome: &Outcome,
) -> Result<implement::Spent, Stop> {
    let job = &outcome.job;
    let on_spawn = ctx.group_recorder();
    let site = implement::Site {
        tree: &wt.path,
        out_dir,
        env: wt.env(&ctx.repo_root, &ctx.spec, job.iteration, job.slot),
        cancel: &ctx.cancel,
        on_spawn: &on_spawn,
        llm: ctx.llm.as_deref(),
        always_immutable: &ctx.always_immutable,
        sandbox: crate::sandbox::rules_for(
            spec,
            crate::sandbox::Kind::Implementer,
            &wt.path,
            &ctx.state,
            &names::exp_label(job.iteration),
        ),
        state_dir: &ctx.state.dir,
    };
    implement::implement(&job.item, spec, site, job.best)
        .await
        .map_err(|failure| match failure {
            ImplementFailure::Interrupted => Stop {
                verdict: None,
                cause: None,
            },
            ImplementFailure::Budget(why) => {
                Stop::with(Verdict::Halt(crate::stop::StopReason::Budget(why)))
            }
            ImplementFailure::Outage(message) => {
                Stop::with(Verdict::Halt(crate::stop::StopReason::ModelOutage(message)))
            }
            ImplementFailure::Failed(message) => {
                let cause = crate::failure::cause("implement", &message);
                Stop::error(message, Some(cause))
            }
        })
}

/// New files outside the scope set aside, then the change committed on the
/// experiment's branch (a re-applied commit is already there).
async fn commit(
    ctx: &Arc<Ctx>,
    spec: &Spec,
    wt: &Arc<Worktree>,
    out_dir: &Path,
    outcome: &mut Outcome,
    reused: bool,
) -> Result<Committed, Stop> {
    let job = &outcome.job;
    let (ctx2, wt2, base) = (ctx.clone(), wt.clone(), job.base);
    let message = names::commit_message(&ctx.spec.name, &job.item.description);
    let shared = ctx.spec.parallel.shared_files.clone();
    let (scope_spec, out) = (ctx.spec.clone(), out_dir.to_path_buf());
    let committed = blocking(move || {
        let repo = Repo::open(&ctx2.repo_root)?;
        let _git = crate::git::exclusive();
        if reused {
            // The worktree already holds the re-applied commit.
            let head = git2::Repository::open(&wt2.path)
                .and_then(|r| r.head()?.peel_to_commit().map(|c| c.id()))
                .map_err(|source| crate::git::GitError::Git {
                    context: "read the worktree's commit".into(),
                    source,
                })?;
            return diffed(&repo, base, Some(head)).map(|c| (Vec::new(), c));
        }
        // One walk of the tree for the debris and the commit both.
        let walked = repo.worktree_changes(&wt2.path)?;
        let untracked = match &walked {
            Some(w) => w.untracked.clone(),
            None => repo.untracked_files(&wt2.path)?,
        };
        let aside = crate::debris::set_aside(
            &untracked,
            &wt2.path,
            &out,
            &scope_spec,
            &ctx2.always_immutable,
        )?;
        let walked = walked.map(|w| w.without(&aside));
        let commit = repo.commit_worktree(&wt2.path, &message, base, &shared, walked.as_ref())?;
        diffed(&repo, base, commit).map(|c| (aside, c))
    })
    .await;
    let (aside, committed) =
        committed.map_err(|e| Stop::error(format!("cannot commit the experiment: {e}"), None))?;
    outcome.agent_files = aside;
    committed.ok_or_else(|| {
        let agent_ran = outcome.job.item.apply.is_none()
            && outcome.job.item.patch.is_none()
            && spec.implementer.kind == crate::spec::ImplementerKind::Command;
        // An agent that fails this way prints the same thing each time.
        let cause = crate::failure::cause(
            "implement: changed nothing",
            &implement::output_tail(out_dir),
        );
        Stop::error(
            nothing_changed(agent_ran, out_dir, &outcome.agent_files),
            Some(cause),
        )
    })
}

fn diffed(
    repo: &Repo,
    base: Oid,
    commit: Option<Oid>,
) -> Result<Option<Committed>, crate::git::GitError> {
    let Some(commit) = commit else {
        return Ok(None);
    };
    Ok(Some(Committed {
        commit,
        changes: repo.changed_files(base, commit)?,
        diff: repo.diff_text(base, commit)?,
    }))
}

fn check_scope(ctx: &Ctx, files: &[String]) -> Result<(), Stop> {
    let violations = crate::scope::scope_violations(files, &ctx.spec, &ctx.always_immutable);
    if violations.is_empty() {
        return Ok(());
    }
    let list = violations.join(", ");
    // The files name the idea, not the environment.
    Err(Stop::error(
        format!("changed files outside its scope: {list}"),
        Some(format!("check: outside its scope: {list}")),
    ))
}

/// A new dependency that is not approved defers the experiment, its commit
/// kept for the approval.
async fn check_dependencies(
    ctx: &Arc<Ctx>,
    base: Oid,
    commit: Oid,
    files: Vec<String>,
) -> Result<(), Stop> {
    let ctx2 = ctx.clone();
    let deps = blocking(move || {
        let repo = Repo::open(&ctx2.repo_root)?;
        implement::unapproved_dependencies(&repo, base, commit, &files, &ctx2.approved)
    })
    .await
    .map_err(|e| Stop::error(format!("cannot read the changed manifests: {e}"), None))?;
    if deps.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = deps.iter().map(|(d, m)| format!("{d} (in {m})")).collect();
    let reason = format!(
        "adds {} not in dependencies.approved: {}",
        if deps.len() == 1 {
            "a dependency"
        } else {
            "dependencies"
        },
        named.join(", ")
    );
    Err(Stop::with(Verdict::Deferred(
        reason,
        deps.into_iter().map(|(d, _)| d).collect(),
    )))
}

/// Why an implementation that changed nothing is an error: for an agent,
/// the end of what it printed (an agent often exits 0 after failing).
fn nothing_changed(agent_ran: bool, out_dir: &Path, set_aside: &[String]) -> String {
    let mut why = "the hypothesis's change left every file as it was".to_string();
    if !set_aside.is_empty() {
        why += &format!(
            " (only new files outside the scope, kept aside: {})",
            set_aside.join(", ")
        );
    }
    if agent_ran {
        let tail = implement::output_tail(out_dir);
        if !tail.is_empty() {
            why += &format!("; the agent exited 0, and the end of its output was: {tail}");
        }
    }
    why
}
