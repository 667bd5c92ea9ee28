//! The loop: baseline, batches, evaluation, stopping. The log is written by
//! the loop itself, synchronously, before it moves on; events only feed what
//! the user sees.
//!
//! One concept per file: [`session`] opens and closes a session of the run,
//! [`baseline`] measures the start commit (shared with `validate`),
//! [`batches`] plans and dispatches batches, [`experiment`] runs one,
//! [`record`] turns its verdict into a log entry, [`evaluate`] decides a
//! batch, [`journal`] keeps the batch in flight and reconciles on resume,
//! [`proposals`] asks the model for hypotheses and learnings.

mod baseline;
mod batches;
mod combination;
mod context;
mod evaluate;
mod experiment;
mod fault;
mod holdout;
mod implementation;
mod inbox;
mod journal;
mod lineage;
mod merge;
mod pipeline;
mod proposals;
pub(crate) mod protocol;
mod record;
mod replay;
mod sampling;
mod session;
mod shortcuts;
mod spec_change;
mod start;
mod variant_runs;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use git2::Oid;

use crate::events::{Event, Events};
use crate::git::{GitError, Repo};
use crate::hypotheses::HypothesesError;
use crate::log::{Experiment, ExperimentLog, LogError};
use crate::process::Cancel;
use crate::spec::LoadedSpec;
use crate::state::StateDir;

pub use baseline::{BaselineError, BaselineMeasurement, BaselineSite, measure_baseline};
pub use context::{preflight, runner_for};
pub use fault::fault;
pub use replay::{Replay, Replayed, replay};
pub use session::spec_hash;
pub use shortcuts::check_unjudged as check_shortcuts;

pub use crate::stop::{Standing, StopReason};
use context::Ctx;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Hypotheses(#[from] HypothesesError),
    #[error(transparent)]
    Approvals(#[from] crate::approvals::ApprovalsError),
    #[error("{0}")]
    Baseline(#[source] BaselineError),
    #[error("the baseline fails its own {}: {}; fix the project or the gate before starting a run", crate::text::plural(.0.len() as u64, "gate"), .0.join(", "))]
    BaselineGates(Vec<String>),
    #[error(
        "the harness rewards a shortcut: \"{description}\" {reason}; make the measurement catch it (a gate that fails, or a metric it cannot game) before optimizing against it"
    )]
    ShortcutRewarded { description: String, reason: String },
    #[error("the spec changed since this run started, and its recorded measurements no longer compare: {} changed; put {} back, or start anew with --fresh (the old run is archived)", .0.join(", "), if .0.len() == 1 { "it" } else { "them" })]
    SpecStale(Vec<String>),
    /// The spec needs the model (a model source, or a judge) and it cannot be used.
    #[error("{role}, but {source}")]
    ModelNeeded {
        role: &'static str,
        #[source]
        source: crate::llm::LlmError,
    },
    #[error(
        "branch {branch} already exists but {} has no log; run with --fresh to archive it and start anew",
        log.display()
    )]
    BranchExists { branch: String, log: PathBuf },
    #[error("the log's best has no commit; the log was edited or is not ours")]
    NoBestCommit,
    #[error("experiment #{iteration} has no experiment_commit in the log")]
    NoExperimentCommit { iteration: u64 },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The model server failed through its outage budget; resumable.
    #[error("{message}")]
    ModelOutage { message: String },
    /// A file of the run's own could not be written; resumable.
    #[error("{message}")]
    OurIo { message: String },
    /// The same failure experiment after experiment; resumable once fixed.
    #[error("{message}")]
    RepeatedFailure { message: String },
    #[error("the model failed: {source}")]
    Model {
        #[source]
        source: crate::llm::LlmError,
    },
    #[error("interrupted; run the same command again to resume")]
    Interrupted,
    /// `sandbox: required` on a kernel that cannot sandbox.
    #[error("{0}")]
    SandboxUnavailable(String),
    #[error("the run has no experiment #{iteration}")]
    NoExperiment { iteration: u64 },
    /// A replay the model's outage, a budget or Ctrl-C stopped.
    #[error("the replay stopped: {0}")]
    ReplayStopped(String),
}

pub struct Request<'a> {
    pub loaded: &'a LoadedSpec,
    pub repo_root: PathBuf,
    pub state: StateDir,
    pub events: Events,
    pub cancel: Cancel,
}

pub struct Finish {
    pub log: ExperimentLog,
    pub stop: StopReason,
    /// The run had already stopped before this session; nothing new ran.
    pub already_complete: bool,
}

/// Starts or resumes the run of a spec, and closes the session with why it
/// stopped, whatever the path.
pub async fn run(req: Request<'_>) -> Result<Finish, RunError> {
    let ctx = match Ctx::new(&req) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => return Err(failed(&req.events, e)),
    };
    let repo = match Repo::open(&req.repo_root) {
        Ok(repo) => repo,
        Err(e) => return Err(failed(&req.events, e.into())),
    };
    let resumed = req.state.log_path().exists();
    ctx.events.emit(Event::RunStarted {
        spec: ctx.spec.name.clone(),
        resumed,
    });
    let mut lp = match session::open(ctx, &repo, req.loaded, resumed).await {
        Ok(lp) => lp,
        Err(RunError::Interrupted) => {
            req.events.emit(Event::RunStopped {
                reason: StopReason::Interrupted,
            });
            return Err(RunError::Interrupted);
        }
        Err(e) => return Err(failed(&req.events, e)),
    };
    let driven = lp.drive(&repo, resumed).await;
    lp.close(driven)
}

fn failed(events: &Events, e: RunError) -> RunError {
    events.emit(Event::RunFailed {
        message: e.to_string(),
    });
    e
}

/// How a session's work ended.
enum Driven {
    Stopped(StopReason),
    /// The run had stopped before; this session found nothing to do.
    AlreadyComplete(StopReason),
}

/// How a batch ended: the loop goes on, or stops for a reason.
#[derive(Debug, PartialEq)]
enum BatchEnd {
    Done,
    Stop(StopReason),
}

/// A run in progress: its log, and the clock `max_hours` counts.
struct Loop {
    ctx: Arc<Ctx>,
    log: ExperimentLog,
    log_file: crate::log::LogFile,
    /// The model proposed nothing new last time it was asked.
    model_exhausted: bool,
    /// Earlier runs' learnings for the hypothesis prompt, read once.
    prior_learnings: Option<String>,
    session_start: Instant,
    prior_active: f64,
    /// Measurement runs of earlier sessions.
    prior_measurements: u64,
}

impl Loop {
    fn save(&mut self) -> Result<(), RunError> {
        if let Some(client) = &self.ctx.llm {
            let unknown = client.unknown_prices();
            if !unknown.is_empty() {
                self.log.run.cost_unknown_for_models = unknown;
            }
            let (_, tokens) = client.spend.totals();
            if tokens > 0 {
                self.log.run.total_tokens = Some(tokens);
            }
        }
        if self.ctx.spec.metric.primary.kind == crate::spec::MetricType::Judge {
            self.log.best.total_judge_cost_usd = Some(round6(self.ctx.judge_budget.spent()));
        }
        let active = self.prior_active + self.session_start.elapsed().as_secs_f64();
        self.log.run.active_seconds = Some((active * 10.0).round() / 10.0);
        self.log.run.measurements = Some(self.prior_measurements + self.ctx.measurements());
        self.log_file.save(&self.log)?;
        Ok(())
    }

    fn active_hours(&self) -> f64 {
        (self.prior_active + self.session_start.elapsed().as_secs_f64()) / 3600.0
    }

    fn best_commit(&self) -> Option<Oid> {
        self.log.best.commit.as_deref().and_then(Repo::parse_oid)
    }

    /// The current best as decide.mjs's snapshot.
    fn best_snapshot(&self) -> serde_json::Value {
        crate::decide::snapshot::of_best(&self.ctx.spec, &self.log.best)
    }

    fn best_value(&self) -> Option<f64> {
        self.log.best.metric(&self.ctx.spec.metric.primary.name)
    }

    fn entry(&self, iteration: u64) -> Option<&Experiment> {
        self.log
            .experiments
            .iter()
            .find(|e| e.iteration == iteration)
    }

    fn entry_mut(&mut self, iteration: u64) -> Option<&mut Experiment> {
        self.log
            .experiments
            .iter_mut()
            .find(|e| e.iteration == iteration)
    }

    fn add_cost(&mut self, cost: f64) {
        if cost > 0.0 {
            let total = self.log.run.total_llm_cost_usd.unwrap_or(0.0) + cost;
            self.log.run.total_llm_cost_usd = Some(round6(total));
        }
    }

    fn write_digest(&self) {
        let text = crate::digest::render(&self.log, &self.ctx.spec);
        fault("digest-write");
        if let Err(e) = crate::fsutil::write_atomic(&self.ctx.state.digest_path(), text.as_bytes())
        {
            self.ctx.events.emit(Event::warning(format!(
                "cannot write the strategy digest: {e}"
            )));
        }
    }

    fn stop_reason(&self) -> Option<StopReason> {
        if self.ctx.cancel.is_cancelled() {
            return Some(StopReason::Interrupted);
        }
        Standing::of(
            &self.ctx.spec,
            &self.log,
            self.active_hours(),
            self.ctx.judge_budget.spent(),
        )
        .first_stop(&self.ctx.spec)
    }
}

/// Dollars as the log records them.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
