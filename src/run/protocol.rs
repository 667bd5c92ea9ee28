//! How much to measure one candidate tree: the ladder's smoke check, then
//! samples until ce-optimize's decision needs no more (in `stable` and
//! `repeat` modes that is the full protocol at once; with a ladder one
//! exploratory sample, more only while the result is promising or
//! inconclusive), judging once the gates pass.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::context::Ctx;
use crate::decide::rules::{Decision, Next, decide_with};
use crate::decide::snapshot::{Extras, by_metric, snapshot};
use crate::decide::{self, GateResult};
use crate::events::{Event, Stage};
use crate::judge::{JudgeError, Scores};
use crate::measure::{self, MeasureFailure, Measured};
use crate::process::{Invocation, Unsuccessful};
use crate::runner::Progress;
use crate::spec::{MetricType, StabilityMode};

/// No candidate takes more samples than this, whatever a spec says.
const MAX_SAMPLES: usize = 1000;

/// Where a candidate is measured.
pub struct Site<'a> {
    pub tree: &'a Path,
    pub env: Vec<(String, String)>,
    pub out_dir: &'a Path,
    pub iteration: u64,
    /// The measurement's name in the run (`exp-003`, `exp-003-combined`).
    pub label: String,
    /// The current best, as decide.mjs's snapshot.
    pub best: &'a Value,
}

impl Site<'_> {
    /// The measurement sandbox for this tree, if the spec asks for one.
    fn sandbox(&self, ctx: &Ctx) -> Option<crate::sandbox::Rules> {
        crate::sandbox::rules_for(
            &ctx.spec,
            crate::sandbox::Kind::Measurement,
            self.tree,
            &ctx.state,
            &self.label,
        )
    }
}

/// A candidate measured as much as its decision needed.
#[derive(Debug, Clone)]
pub struct Sampled {
    pub measured: Measured,
    pub gates: Vec<GateResult>,
    pub judged: Option<Scores>,
    pub smoke_passed: Option<bool>,
    pub decision: Decision,
}

impl Sampled {
    pub fn gates_passed(&self) -> bool {
        decide::all_passed(&self.gates)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    #[error("interrupted")]
    Interrupted,
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Error(String),
    /// The run must stop: the model server failed through its outage
    /// budget while judging, a budget is spent, our own files cannot be
    /// written.
    #[error("{0}")]
    Halt(crate::stop::StopReason),
    /// The ladder's smoke check failed: degenerate, no timed run.
    #[error("{0}")]
    SmokeFailed(String),
}

impl From<MeasureFailure> for Failure {
    fn from(f: MeasureFailure) -> Failure {
        match f {
            MeasureFailure::Interrupted => Failure::Interrupted,
            MeasureFailure::OurIo { message } | MeasureFailure::Harness { message } => {
                Failure::Halt(crate::stop::StopReason::Io(message))
            }
            f @ MeasureFailure::Timeout { .. } => Failure::Timeout(f.to_string()),
            f => Failure::Error(f.to_string()),
        }
    }
}

impl From<JudgeError> for Failure {
    fn from(e: JudgeError) -> Failure {
        match e {
            JudgeError::Budget { .. } => Failure::Halt(crate::stop::StopReason::CostCap),
            JudgeError::Model(crate::llm::LlmError::Budget(why)) => {
                Failure::Halt(crate::stop::StopReason::Budget(why))
            }
            JudgeError::Model(e @ crate::llm::LlmError::Outage { .. }) => {
                Failure::Halt(crate::stop::StopReason::ModelOutage(e.to_string()))
            }
            e => Failure::Error(format!("judging failed: {e}")),
        }
    }
}

/// The runs a candidate takes at first, and at most, before deciding.
fn planned_runs(ctx: &Ctx) -> (u32, u32) {
    let stability = &ctx.spec.measurement.stability;
    match stability.mode {
        StabilityMode::Ladder => (1, stability.confirmation_repeats()),
        _ => (stability.runs(), stability.runs()),
    }
}

pub async fn sample(ctx: &Ctx, site: Site<'_>) -> Result<Sampled, Failure> {
    let spec = &ctx.spec;
    let stability = &spec.measurement.stability;
    let smoke_passed = match (&stability.ladder, stability.mode) {
        (Some(ladder), StabilityMode::Ladder) => match &ladder.smoke_command {
            Some(command) => {
                smoke(ctx, &site, command).await?;
                Some(true)
            }
            None => None,
        },
        _ => None,
    };
    let (first, planned) = planned_runs(ctx);
    let mut total = Measured::empty();
    let mut judged: Option<Scores> = None;
    let mut runs = first;
    loop {
        let m = measure_runs(ctx, &site, runs, total.samples.len() as u32 + 1, planned).await?;
        total.absorb(m, stability.aggregation);
        let gates = decide::evaluate_gates(&spec.metric.degenerate_gates, &total.metrics);
        if decide::all_passed(&gates) && spec.metric.primary.kind == MetricType::Judge {
            if judged.is_none() {
                ctx.events.emit(Event::StageChanged {
                    iteration: site.iteration,
                    stage: Stage::Judging,
                });
                let transcript = site.out_dir.join("judge-transcript.jsonl");
                judged = ctx.judge(site.tree, &transcript).await?;
            }
            if let Some(scores) = &judged {
                ctx.apply_scores(&mut total.metrics, scores);
            }
        }
        let extras = Extras {
            sample_count: Some(total.samples.len() as u64),
            smoke_passed,
            elapsed_seconds: Some(total.elapsed.as_secs_f64()),
            cases: total.cases.clone(),
        };
        let snap = snapshot(spec, &total.metrics, &by_metric(&total.samples), extras);
        let decision = decide_with(&ctx.rules, site.best, &snap);
        let done = !decide::all_passed(&gates)
            || decision.next_measurement == Next::None
            || total.samples.len() >= MAX_SAMPLES;
        if done {
            return Ok(Sampled {
                measured: total,
                gates,
                judged,
                smoke_passed,
                decision,
            });
        }
        runs = 1;
    }
}

/// `runs` more runs of the command in the candidate's tree, numbered from
/// `first_run`, each reported as it starts.
async fn measure_runs(
    ctx: &Ctx,
    site: &Site<'_>,
    runs: u32,
    first_run: u32,
    planned: u32,
) -> Result<Measured, Failure> {
    let on_spawn = ctx.group_recorder();
    let report_run = |progress: Progress| {
        ctx.events.emit(Event::StageChanged {
            iteration: site.iteration,
            stage: stage_of(progress, planned),
        })
    };
    let req = measure::Request {
        spec: &ctx.spec,
        tree: site.tree,
        env: site.env.clone(),
        out_dir: site.out_dir,
        on_spawn: &on_spawn,
        on_run: &report_run,
        runs,
        first_run,
        runner: &ctx.runner,
        label: &site.label,
        sandbox: site.sandbox(ctx),
        harness: ctx.harness.get(),
    };
    let m = measure::measure(req, &ctx.cancel).await?;
    ctx.count_measurements(m.samples.len());
    Ok(m)
}

/// What the progress line shows for where a measurement is.
pub fn stage_of(progress: Progress, planned: u32) -> Stage {
    match progress {
        Progress::Run(run) => Stage::Measuring {
            run,
            runs: planned.max(run),
        },
        Progress::Queued => Stage::Queued,
        Progress::RunningOn(node) => Stage::RunningOn { node },
    }
}

/// The ladder's smoke check: the command must exit 0 within the
/// measurement's timeout.
async fn smoke(ctx: &Ctx, site: &Site<'_>, command: &str) -> Result<(), Failure> {
    let spec = &ctx.spec;
    let inv = Invocation {
        what: "the smoke check",
        command,
        cwd: &site.tree.join(&spec.measurement.working_directory),
        env: site.env.clone(),
        timeout: Duration::from_secs(spec.measurement.timeout_seconds),
        stdout_path: site.out_dir.join("smoke.stdout"),
        stderr_path: site.out_dir.join("smoke.stderr"),
        stdin: None,
        sandbox: site.sandbox(ctx),
    };
    std::fs::create_dir_all(site.out_dir)
        .map_err(|e| Failure::Error(format!("create {}: {e}", site.out_dir.display())))?;
    let on_spawn = ctx.group_recorder();
    match crate::process::run_to_success(inv, &ctx.cancel, &on_spawn).await {
        Ok(()) => Ok(()),
        Err(Unsuccessful::Cancelled) => Err(Failure::Interrupted),
        Err(Unsuccessful::Spawn(e)) => {
            Err(Failure::Error(format!("cannot run the smoke check: {e}")))
        }
        Err(Unsuccessful::Failed(why)) => {
            Err(Failure::SmokeFailed(format!("the smoke check {why}")))
        }
    }
}
