//! One experiment: a worktree on its own branch from the current best,
//! the hypothesis implemented and committed, scope and dependencies checked,
//! then measured. The worktree is removed whatever happens.

use std::path::PathBuf;
use std::sync::Arc;

use git2::Oid;

use super::Ctx;
use crate::decide::{self, GateResult};
use crate::events::Event;
use crate::git::Repo;
use crate::implement::{self, ImplementFailure};
use crate::log::BacklogItem;
use crate::measure::{self, MeasureFailure, Measured};
use crate::worktree::Worktree;

#[derive(Debug, Clone)]
pub struct Job {
    pub iteration: u64,
    pub batch: u64,
    pub slot: u32,
    pub item: BacklogItem,
    pub base: Oid,
    /// The primary's best value when the batch was planned (for prompts).
    pub best: Option<f64>,
}

#[derive(Debug)]
pub enum Verdict {
    Measured(Measured, Vec<GateResult>),
    Degenerate(Measured, Vec<GateResult>),
    Error(String),
    Timeout(String),
    /// The reason, and the names of the unapproved dependencies.
    Deferred(String, Vec<String>),
    /// Stopped by Ctrl-C: nothing is recorded and the hypothesis stays in the
    /// backlog, to be run again on resume.
    Interrupted,
    /// The model server kept failing; like an interruption, nothing is
    /// recorded, and the run stops after this batch's other experiments.
    Outage(String),
    /// The judge budget is spent: not recorded, and the run stops.
    BudgetSpent(String),
}

#[derive(Debug)]
pub struct Outcome {
    pub job: Job,
    pub commit: Option<Oid>,
    pub changes: Vec<(String, &'static str)>,
    pub verdict: Verdict,
    /// Seconds spent per phase, in order: worktree, implement, commit (with
    /// scope and dependency checks), measure, cleanup.
    pub timings: Vec<(&'static str, f64)>,
    /// Dollars spent on the model for this experiment.
    pub cost_usd: f64,
    /// Judge scores, when the primary is a judge score.
    pub judge: Option<crate::judge::Scores>,
}

/// Times the phases of one experiment.
struct Phases {
    at: std::time::Instant,
}

impl Phases {
    fn lap(&mut self, outcome: &mut Outcome, phase: &'static str) {
        let now = std::time::Instant::now();
        outcome.timings.push((phase, (now - self.at).as_secs_f64()));
        self.at = now;
    }
}

pub fn exp_branch(name: &str, iteration: u64) -> String {
    format!("optimize-exp/{name}/exp-{iteration:03}")
}

pub fn commit_message(name: &str, hypothesis: &str) -> String {
    format!(
        "optimize({name}): {}",
        crate::text::one_line(hypothesis, 200)
    )
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a blocking git task panicked")
}

pub async fn run(ctx: Arc<Ctx>, job: Job) -> Outcome {
    let label = format!("exp-{:03}", job.iteration);
    let branch = exp_branch(&ctx.spec.name, job.iteration);
    let out_dir = ctx.state.experiment_dir(job.iteration);
    let mut outcome = Outcome {
        job: job.clone(),
        commit: None,
        changes: Vec::new(),
        verdict: Verdict::Interrupted,
        timings: Vec::new(),
        cost_usd: 0.0,
        judge: None,
    };
    let mut phases = Phases {
        at: std::time::Instant::now(),
    };
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        outcome.verdict = Verdict::Error(format!("cannot create {}: {e}", out_dir.display()));
        return outcome;
    }
    // An approved deferred experiment: its kept change, on top of the current best.
    let from_commit = job
        .item
        .extra
        .get("from_commit")
        .and_then(|v| v.as_str())
        .and_then(Repo::parse_oid);
    let created = {
        let ctx = ctx.clone();
        let base = job.base;
        let message = commit_message(&ctx.spec.name, &job.item.description);
        blocking(move || {
            let repo = Repo::open(&ctx.repo_root)?;
            let start = match from_commit {
                None => base,
                Some(kept) => {
                    let _git = crate::git::exclusive();
                    repo.cherry_pick(kept, base, &message)?.ok_or_else(|| {
                        crate::git::GitError::Io {
                            context: format!("re-apply the kept commit {kept}"),
                            source: std::io::Error::other(
                                "it no longer applies cleanly on the current best",
                            ),
                        }
                    })?
                }
            };
            let wt = Worktree::create(&repo, &ctx.state, &label, &branch, start)?;
            wt.copy_shared_files(&ctx.repo_root, &ctx.spec)?;
            Ok::<_, crate::git::GitError>(wt)
        })
        .await
    };
    let wt = match created {
        Ok(wt) => Arc::new(wt),
        Err(e) => {
            outcome.verdict =
                Verdict::Error(format!("cannot create the experiment's worktree: {e}"));
            return outcome;
        }
    };
    phases.lap(&mut outcome, "worktree_s");
    super::fault("worktree-created");
    inside(&ctx, &wt, out_dir, &mut outcome, &mut phases).await;
    let ctx2 = ctx.clone();
    let wt2 = wt.clone();
    let removed = blocking(move || Repo::open(&ctx2.repo_root).and_then(|r| wt2.remove(&r))).await;
    if let Err(e) = removed {
        ctx.reporter.report(&Event::Note(format!(
            "warning: could not remove {}: {e}",
            wt.path.display()
        )));
    }
    phases.lap(&mut outcome, "cleanup_s");
    outcome
}

async fn inside(
    ctx: &Arc<Ctx>,
    wt: &Arc<Worktree>,
    out_dir: PathBuf,
    outcome: &mut Outcome,
    phases: &mut Phases,
) {
    let job = outcome.job.clone();
    let job = &job;
    let spec = &ctx.spec;
    let env = wt.env(&ctx.repo_root, spec, job.iteration, job.slot);
    ctx.reporter.report(&Event::Stage {
        iteration: job.iteration,
        stage: if job.item.extra.contains_key("from_commit") {
            "re-applying its kept commit".into()
        } else {
            "implementing".into()
        },
    });
    let on_spawn = ctx.group_recorder();
    let reused = job.item.extra.contains_key("from_commit");
    let implemented = if reused {
        Ok(0.0)
    } else {
        implement::implement(
            &job.item,
            spec,
            implement::Site {
                tree: &wt.path,
                out_dir: &out_dir,
                env: env.clone(),
                cancel: &ctx.cancel,
                on_spawn: &on_spawn,
                llm: ctx.llm.as_deref(),
                always_immutable: &ctx.always_immutable,
            },
            job.best,
        )
        .await
    };
    match implemented {
        Ok(cost) => outcome.cost_usd = cost,
        Err(ImplementFailure::Interrupted) => return,
        Err(ImplementFailure::Outage(message)) => {
            outcome.verdict = Verdict::Outage(message);
            return;
        }
        Err(ImplementFailure::Failed(message)) => {
            outcome.verdict = Verdict::Error(message);
            return;
        }
    }
    phases.lap(outcome, "implement_s");

    let committed = {
        let ctx = ctx.clone();
        let wt = wt.clone();
        let base = job.base;
        let message = commit_message(&spec.name, &job.item.description);
        let shared = spec.parallel.shared_files.clone();
        blocking(move || {
            let repo = Repo::open(&ctx.repo_root)?;
            let _git = crate::git::exclusive();
            let commit = if reused {
                // The worktree already holds the re-applied commit.
                let head = git2::Repository::open(&wt.path)
                    .and_then(|r| r.head()?.peel_to_commit().map(|c| c.id()))
                    .map_err(|source| crate::git::GitError::Git {
                        context: "read the worktree's commit".into(),
                        source,
                    })?;
                Some(head)
            } else {
                repo.commit_worktree(&wt.path, &message, base, &shared)?
            };
            let Some(commit) = commit else {
                return Ok(None);
            };
            let changes = repo.changed_files(base, commit)?;
            let diff = repo.diff_text(base, commit)?;
            Ok::<_, crate::git::GitError>(Some((commit, changes, diff)))
        })
        .await
    };
    let (commit, changes, diff) = match committed {
        Ok(Some(c)) => c,
        Ok(None) => {
            outcome.verdict =
                Verdict::Error("the hypothesis's change left every file as it was".into());
            return;
        }
        Err(e) => {
            outcome.verdict = Verdict::Error(format!("cannot commit the experiment: {e}"));
            return;
        }
    };
    let _ = std::fs::write(out_dir.join("diff.patch"), &diff);
    outcome.commit = Some(commit);
    outcome.changes = changes.clone();
    let files: Vec<String> = changes.iter().map(|(f, _)| f.clone()).collect();

    let violations = implement::scope_violations(&files, spec, &ctx.always_immutable);
    if !violations.is_empty() {
        outcome.verdict = Verdict::Error(format!(
            "changed files outside its scope: {}",
            violations.join(", ")
        ));
        return;
    }
    let deps = {
        let ctx = ctx.clone();
        let base = job.base;
        let files = files.clone();
        blocking(move || {
            let repo = Repo::open(&ctx.repo_root)?;
            implement::unapproved_dependencies(&repo, base, commit, &files, &ctx.approved)
        })
        .await
    };
    match deps {
        Ok(deps) if !deps.is_empty() => {
            let named: Vec<String> = deps.iter().map(|(d, m)| format!("{d} (in {m})")).collect();
            outcome.verdict = Verdict::Deferred(
                format!(
                    "adds {} not in dependencies.approved: {}",
                    if deps.len() == 1 {
                        "a dependency"
                    } else {
                        "dependencies"
                    },
                    named.join(", ")
                ),
                deps.into_iter().map(|(d, _)| d).collect(),
            );
            return;
        }
        Ok(_) => {}
        Err(e) => {
            outcome.verdict = Verdict::Error(format!("cannot read the changed manifests: {e}"));
            return;
        }
    }

    phases.lap(outcome, "commit_s");
    let runs = spec.measurement.stability.runs();
    let report_run = |run: u32| {
        ctx.reporter.report(&Event::Stage {
            iteration: job.iteration,
            stage: if runs > 1 {
                format!("measuring {run} of {runs}")
            } else {
                "measuring".into()
            },
        })
    };
    let req = measure::Request {
        spec,
        tree: &wt.path,
        env,
        out_dir: &out_dir,
        on_spawn: &on_spawn,
        on_run: &report_run,
    };
    outcome.verdict = match measure::measure(req, &ctx.cancel).await {
        Err(MeasureFailure::Interrupted) => Verdict::Interrupted,
        Err(f @ MeasureFailure::Timeout { .. }) => Verdict::Timeout(f.to_string()),
        Err(f) => Verdict::Error(f.to_string()),
        Ok(mut m) => {
            super::fault("measured-before-append");
            let gates = decide::evaluate_gates(&spec.metric.degenerate_gates, &m.metrics);
            if !decide::all_passed(&gates) {
                Verdict::Degenerate(m, gates)
            } else {
                match ctx
                    .judge_into(&wt.path, &mut m, &out_dir.join("judge-transcript.jsonl"))
                    .await
                {
                    Ok(scores) => {
                        outcome.judge = scores;
                        Verdict::Measured(m, gates)
                    }
                    Err(e @ crate::judge::JudgeError::Budget { .. }) => {
                        Verdict::BudgetSpent(e.to_string())
                    }
                    Err(crate::judge::JudgeError::Model(
                        e @ crate::llm::LlmError::Outage { .. },
                    )) => Verdict::Outage(e.to_string()),
                    Err(e) => Verdict::Error(format!("judging failed: {e}")),
                }
            }
        }
    };
    phases.lap(outcome, "measure_s");
}

/// Measures an existing commit (a runner-up combination) in a temporary
/// worktree on `branch`, which keeps the commit reachable afterwards.
pub async fn measure_commit(
    ctx: &Arc<Ctx>,
    commit: Oid,
    label: String,
    branch: String,
    iteration: u64,
    out_dir: PathBuf,
) -> Result<Measured, MeasureFailure> {
    let created = {
        let ctx = ctx.clone();
        let label = label.clone();
        blocking(move || {
            let repo = Repo::open(&ctx.repo_root)?;
            let wt = Worktree::create(&repo, &ctx.state, &label, &branch, commit)?;
            wt.copy_shared_files(&ctx.repo_root, &ctx.spec)?;
            Ok::<_, crate::git::GitError>(wt)
        })
        .await
    };
    let wt = created.map_err(|e| MeasureFailure::Spawn {
        message: format!("cannot create a worktree for the combination: {e}"),
    })?;
    let on_spawn = ctx.group_recorder();
    let req = measure::Request {
        spec: &ctx.spec,
        tree: &wt.path,
        env: wt.env(&ctx.repo_root, &ctx.spec, iteration, 0),
        out_dir: &out_dir,
        on_spawn: &on_spawn,
        on_run: &|_| {},
    };
    let mut result = measure::measure(req, &ctx.cancel).await;
    if let Ok(m) = &mut result
        && let Err(e) = ctx
            .judge_into(&wt.path, m, &out_dir.join("judge-transcript.jsonl"))
            .await
    {
        result = Err(MeasureFailure::Spawn {
            message: format!("judging the combination failed: {e}"),
        });
    }
    let ctx2 = ctx.clone();
    let _ = blocking(move || Repo::open(&ctx2.repo_root).and_then(|r| wt.remove(&r))).await;
    result
}
