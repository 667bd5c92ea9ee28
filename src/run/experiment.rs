//! One experiment: its slot's worktree moved onto its own branch from the
//! current best, the hypothesis implemented and committed, scope and
//! dependencies checked, then measured. The worktree stays in the pool.

use std::path::PathBuf;
use std::sync::Arc;

use git2::Oid;

use super::context::Ctx;
use super::fault;
use super::protocol::{self, Sampled};
use super::start::{adopted_change, pooled_worktree, start_commit};
use crate::git::Repo;
use crate::log::{BacklogItem, Timings};
use crate::names;
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
    /// The best when the batch was planned, as decide.mjs's snapshot.
    pub best_snapshot: serde_json::Value,
    /// `implementer.variants` that implement it (none: the implementer).
    pub variants: Vec<crate::spec::Variant>,
}

#[derive(Debug)]
pub enum Verdict {
    /// Measured as much as its decision needed; its gates passed.
    Measured(Box<Sampled>),
    /// A gate failed (no judge call).
    Degenerate(Box<Sampled>),
    /// The ladder's smoke check failed, so no timed run was spent.
    SmokeFailed(String),
    Error(String),
    Timeout(String),
    /// The reason, and the names of the unapproved dependencies.
    Deferred(String, Vec<String>),
    /// Stopped by Ctrl-C: nothing is recorded and the hypothesis stays in the
    /// backlog, to be run again on resume.
    Interrupted,
    /// The run must stop for this reason (the model server kept failing, a
    /// budget is spent, our own files cannot be written): like an
    /// interruption, nothing is recorded, and the run stops after this
    /// batch's other experiments.
    Halt(crate::stop::StopReason),
}

#[derive(Debug)]
pub struct Outcome {
    pub job: Job,
    pub commit: Option<Oid>,
    pub changes: Vec<(String, &'static str)>,
    pub verdict: Verdict,
    /// Seconds spent per phase: worktree, implement, commit (with scope and
    /// dependency checks), measure, cleanup.
    pub timings: Timings,
    /// Dollars spent on the model for this experiment.
    pub cost_usd: f64,
    /// Judge scores, when the primary is a judge score.
    pub judge: Option<crate::judge::Scores>,
    /// `method: statistical`: where its sequential test ended.
    pub stat: Option<crate::decide::stats::Look>,
    /// The hash of the harness it was measured with.
    pub harness_hash: Option<String>,
    /// Harness files that had to be restored before it was measured.
    pub harness_restored: Vec<String>,
    /// The batch jobs that measured it (`execution.runner: slurm`), however
    /// the measurement ended.
    pub jobs: Vec<String>,
    /// New files the implementer left outside its scope, kept aside in
    /// `agent-files/` and never committed.
    pub agent_files: Vec<String>,
    /// For an error: its stage and decisive line, to tell a broken
    /// environment (the same cause again and again) from bad ideas.
    pub cause: Option<String>,
    /// `metric.criteria`, checked after its measurement.
    pub criteria: Vec<crate::criteria::CriterionResult>,
    /// Tokens its implementation spent on the model.
    pub tokens: u64,
    /// With `implementer.variants`: the chosen one, and every one tried.
    pub variant: Option<String>,
    pub variants: Vec<crate::log::VariantRecord>,
}

/// Times the phases of one experiment.
pub(super) struct Phases {
    at: std::time::Instant,
}

impl Phases {
    pub(super) fn start() -> Phases {
        Phases {
            at: std::time::Instant::now(),
        }
    }

    /// Seconds since the last lap, to the millisecond.
    pub(super) fn lap(&mut self) -> Option<f64> {
        let now = std::time::Instant::now();
        let secs = (now - self.at).as_secs_f64();
        self.at = now;
        Some((secs * 1000.0).round() / 1000.0)
    }
}

pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        // Carried on to the experiment's task, whose panic becomes its entry.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl Outcome {
    pub fn new(job: Job, verdict: Verdict) -> Outcome {
        Outcome {
            job,
            commit: None,
            changes: Vec::new(),
            verdict,
            timings: Timings::default(),
            cost_usd: 0.0,
            judge: None,
            stat: None,
            harness_hash: None,
            harness_restored: Vec::new(),
            jobs: Vec::new(),
            agent_files: Vec::new(),
            cause: None,
            criteria: Vec::new(),
            tokens: 0,
            variant: None,
            variants: Vec::new(),
        }
    }
}

/// The outcome of an experiment whose task panicked (a bug): an `error`
/// entry, its worktree removed, and the run goes on.
pub async fn panicked(ctx: &Arc<Ctx>, job: Job, panic: Box<dyn std::any::Any + Send>) -> Outcome {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    // Whatever state it was left in, the next experiment gets a new one.
    let wt = Worktree::location(&ctx.state, &names::slot_label(job.slot));
    let root = ctx.repo_root.clone();
    let _ = tokio::task::spawn_blocking(move || {
        Repo::open(&root).and_then(|r| {
            let _git = crate::git::exclusive();
            r.forget_worktree(&wt.admin, &wt.path)
        })
    })
    .await;
    Outcome::new(
        job,
        Verdict::Error(format!(
            "the experiment stopped on an internal error (a bug in optimize; please report it): {message}"
        )),
    )
}

/// An experiment implemented, committed and checked in its slot's worktree,
/// to be measured next (when `ready`).
pub struct Prepared {
    pub outcome: Outcome,
    pub wt: Option<Arc<Worktree>>,
    pub out_dir: PathBuf,
    /// Its slot (`OPTIMIZE_SLOT`, the pool's worktree): the job's, or for
    /// a variant beside others, one of its own.
    slot: u32,
    /// What its measurement's temporary files and jobs are named by.
    label: String,
    /// Implemented and checked: measuring it is next.
    pub ready: bool,
    phases: Phases,
}

impl Prepared {
    /// The environment its measurement runs with.
    pub fn env(&self, ctx: &Ctx) -> Vec<(String, String)> {
        let job = &self.outcome.job;
        self.wt
            .as_ref()
            .map(|wt| wt.env(&ctx.repo_root, &ctx.spec, job.iteration, self.slot))
            .unwrap_or_default()
    }

    /// A measurement slot is its own: the time spent waiting for it is not
    /// measurement time.
    pub fn slot_taken(&mut self) {
        self.outcome.timings.queued_s = self.phases.lap();
    }

    /// Records how long its measurement took, and the harness it ran
    /// against (restored before every run of the command, checked after).
    pub fn measured(&mut self, ctx: &Ctx) {
        self.outcome.timings.measure_s = self.phases.lap();
        self.outcome.harness_hash = ctx.harness.get().map(|h| h.hash());
        self.outcome.jobs = ctx.runner.jobs_for(&self.label);
        if let Verdict::Measured(s) | Verdict::Degenerate(s) = &self.outcome.verdict {
            self.outcome.harness_restored = s.measured.harness_restored.clone();
        }
    }
}

/// One experiment from start to end: prepared, measured, cleaned up; with
/// variants, once per variant, the best counting.
pub async fn run(ctx: Arc<Ctx>, job: Job) -> Outcome {
    if !job.variants.is_empty() {
        return super::variant_runs::run(ctx, job).await;
    }
    attempt(&ctx, job, None).await
}

/// One implementation of the job (by `variant`, if any), measured.
pub(super) async fn attempt(
    ctx: &Arc<Ctx>,
    job: Job,
    variant: Option<&crate::spec::Variant>,
) -> Outcome {
    let slot = job.slot;
    let mut prepared = prepare_as(ctx, job, variant, slot).await;
    if prepared.ready {
        measure(ctx, &mut prepared).await;
    }
    clean_up(ctx, prepared).await
}

/// A worktree on the experiment's branch, the hypothesis implemented,
/// committed and checked against scope and dependencies.
pub async fn prepare(ctx: &Arc<Ctx>, job: Job) -> Prepared {
    let slot = job.slot;
    prepare_as(ctx, job, None, slot).await
}

/// [`prepare`], implemented by `variant` (on its own branch, with its own
/// output directory and measurement label) when given, in `slot`'s worktree.
pub(super) async fn prepare_as(
    ctx: &Arc<Ctx>,
    job: Job,
    variant: Option<&crate::spec::Variant>,
    slot: u32,
) -> Prepared {
    let (label, branch, out_dir) = names_of(ctx, &job, variant);
    let mut p = Prepared {
        outcome: Outcome::new(job.clone(), Verdict::Interrupted),
        wt: None,
        out_dir: out_dir.clone(),
        slot,
        label: label.clone(),
        ready: false,
        phases: Phases::start(),
    };
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        p.outcome.verdict = Verdict::Error(format!("cannot create {}: {e}", out_dir.display()));
        return p;
    }
    if let crate::runner::Runner::Slurm(slurm) = &ctx.runner
        && slurm.has_adopted(&label)
    {
        // A killed run's job still measures this worktree: take it as it is.
        let found = adopted_change(ctx, job.base, branch.clone()).await;
        match found {
            Ok((commit, changes)) => {
                p.outcome.commit = Some(commit);
                p.outcome.changes = changes;
                let slot = names::slot_label(slot);
                p.wt = Some(Arc::new(Worktree::location(&ctx.state, &slot)));
                p.ready = true;
            }
            Err(e) => {
                p.outcome.verdict = Verdict::Error(format!(
                    "cannot take over the earlier run's experiment: {e}"
                ));
            }
        }
        return p;
    }
    // An approved deferred experiment: its kept change, on top of the current best.
    let start = start_commit(ctx, &job).await;
    let created = match start {
        Ok(start) => {
            let slot = names::slot_label(slot);
            pooled_worktree(ctx, slot, Some(branch.clone()), start).await
        }
        Err(e) => Err(e),
    };
    let wt = match created {
        Ok(wt) => Arc::new(wt),
        Err(e) => {
            p.outcome.verdict =
                Verdict::Error(format!("cannot create the experiment's worktree: {e}"));
            return p;
        }
    };
    p.outcome.timings.worktree_s = p.phases.lap();
    p.wt = Some(wt.clone());
    fault("worktree-created");
    let spec = variant.map(|v| crate::variants::spec_for(&ctx.spec, v));
    p.ready = super::implementation::implement_and_check(
        ctx,
        spec.as_ref(),
        &wt,
        &out_dir,
        &mut p.outcome,
        &mut p.phases,
    )
    .await;
    p
}

/// An attempt's measurement label, branch and output directory: the
/// experiment's, or its variant's own.
fn names_of(
    ctx: &Ctx,
    job: &Job,
    variant: Option<&crate::spec::Variant>,
) -> (String, String, PathBuf) {
    let n = job.iteration;
    match variant {
        Some(v) => (
            format!("{}-{}", names::exp_label(n), v.name),
            names::variant_branch(&ctx.spec.name, n, &v.name),
            ctx.state
                .experiment_dir(n)
                .join(format!("variant-{}", v.name)),
        ),
        None => (
            names::exp_label(n),
            names::exp_branch(&ctx.spec.name, n),
            ctx.state.experiment_dir(n),
        ),
    }
}

/// Ends an experiment. Its worktree stays in the pool (cleaned when the
/// next experiment takes it over); its branch keeps its commit.
pub async fn clean_up(_ctx: &Arc<Ctx>, mut p: Prepared) -> Outcome {
    p.wt = None;
    p.outcome.timings.cleanup_s = p.phases.lap();
    p.outcome
}

/// Measures a prepared experiment as much as its decision needs, against
/// the run's own harness (restored first; changed by the measurement, it is
/// an error).
pub async fn measure(ctx: &Arc<Ctx>, p: &mut Prepared) {
    let Some(wt) = p.wt.clone() else { return };
    let site = protocol::Site {
        tree: &wt.path,
        env: p.env(ctx),
        out_dir: &p.out_dir,
        iteration: p.outcome.job.iteration,
        label: p.label.clone(),
        best: &p.outcome.job.best_snapshot,
    };
    p.outcome.verdict = match protocol::sample(ctx, site).await {
        Ok(sampled) => {
            fault("measured-before-append");
            p.outcome.judge = sampled.judged.clone();
            sampled.into()
        }
        Err(failure) => failure.into(),
    };
    check_criteria(ctx, p, &wt).await;
    p.measured(ctx);
}

/// `metric.criteria`, after a measurement that passed its gates: a failed
/// required criterion makes the experiment degenerate.
async fn check_criteria(ctx: &Arc<Ctx>, p: &mut Prepared, wt: &Worktree) {
    let criteria = &ctx.spec.metric.criteria;
    if criteria.is_empty() || !matches!(p.outcome.verdict, Verdict::Measured(_)) {
        return;
    }
    let on_spawn = ctx.group_recorder();
    let label = p.label.clone();
    let site = crate::criteria::Site {
        tree: &wt.path,
        out_dir: &p.out_dir,
        env: p.env(ctx),
        timeout: std::time::Duration::from_secs(ctx.spec.measurement.timeout_seconds),
        cancel: &ctx.cancel,
        on_spawn: &on_spawn,
        sandbox: crate::sandbox::rules_for(
            &ctx.spec,
            crate::sandbox::Kind::Measurement,
            &wt.path,
            &ctx.state,
            &label,
        ),
    };
    let results = crate::criteria::evaluate(criteria, &site).await;
    if ctx.cancel.is_cancelled() {
        p.outcome.verdict = Verdict::Interrupted;
        return;
    }
    if !crate::criteria::failed_required(&results).is_empty() {
        let verdict = std::mem::replace(&mut p.outcome.verdict, Verdict::Interrupted);
        if let Verdict::Measured(sampled) = verdict {
            p.outcome.verdict = Verdict::Degenerate(sampled);
        }
    }
    p.outcome.criteria = results;
}

impl From<Sampled> for Verdict {
    fn from(sampled: Sampled) -> Verdict {
        if sampled.gates_passed() {
            Verdict::Measured(Box::new(sampled))
        } else {
            Verdict::Degenerate(Box::new(sampled))
        }
    }
}

impl From<protocol::Failure> for Verdict {
    fn from(f: protocol::Failure) -> Verdict {
        match f {
            protocol::Failure::Interrupted => Verdict::Interrupted,
            protocol::Failure::Timeout(m) => Verdict::Timeout(m),
            protocol::Failure::Error(m) => Verdict::Error(m),
            protocol::Failure::Halt(why) => Verdict::Halt(why),
            protocol::Failure::SmokeFailed(m) => Verdict::SmokeFailed(m),
        }
    }
}
