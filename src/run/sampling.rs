//! `comparison.method: statistical`: a batch's candidates and the incumbent
//! (the current best) measured in rounds, interleaved, so that drift and
//! machine state fall on both sides of every comparison. Each round measures
//! the incumbent once and every undecided candidate once, at most
//! `measurement.max_concurrent` at a time, the incumbent first in odd rounds
//! and last in even ones (ABBA), so neither side always runs on a warm or a
//! busy machine; after each round every candidate is looked at with
//! [`crate::decide::stats::look_paired`] (its samples, and its differences
//! from the incumbent round by round), and sampling stops for it once that
//! decides.

use std::path::PathBuf;
use std::sync::Arc;

use super::context::Ctx;
use super::protocol::Failure;
use super::start::pooled_worktree;
use crate::decide::stats::{self, Look, Plan, StatVerdict};
use crate::decide::{self, snapshot};
use crate::events::{Event, Stage};
use crate::measure::{self, MeasureFailure, Measured, Metrics};
use crate::spec::{Direction, Slots};

/// A tree to sample.
#[derive(Debug, Clone)]
pub struct Arm {
    pub iteration: u64,
    /// The measurement's name in the run (`exp-003`, `incumbent-003`).
    pub label: String,
    pub tree: PathBuf,
    pub env: Vec<(String, String)>,
    pub out_dir: PathBuf,
}

/// How sampling ended for one candidate.
#[derive(Debug)]
pub enum ArmEnd {
    Decided {
        measured: Measured,
        look: Look,
    },
    /// A gate failed on its samples so far.
    Degenerate {
        measured: Measured,
    },
    Failed(Failure),
}

/// The rounds of one batch.
#[derive(Debug)]
pub struct Rounds {
    pub arms: Vec<ArmEnd>,
    /// The incumbent's samples taken in these rounds.
    pub incumbent: Vec<Metrics>,
}

struct Open {
    measured: Measured,
    /// The primary minus the incumbent's, one per round both were measured.
    differences: Vec<f64>,
    end: Option<ArmEnd>,
}

/// Samples the incumbent and `arms` in rounds until every arm is decided;
/// `history` holds the primary's earlier samples of the incumbent's tree,
/// which Welch's test pools with this batch's. Fails whole when the
/// incumbent cannot be measured or the run is interrupted.
pub async fn rounds(
    ctx: &Arc<Ctx>,
    incumbent: &Arm,
    arms: &[Arm],
    history: &[f64],
) -> Result<Rounds, Failure> {
    let spec = &ctx.spec;
    let aggregation = spec.measurement.stability.aggregation;
    let at_once = Slots::of(spec).measure;
    let primary = &spec.metric.primary.name;
    let max_samples = spec.measurement.stability.comparison.max_samples() as usize;
    let mut incumbent_samples: Vec<Metrics> = Vec::new();
    let mut state: Vec<Open> = arms
        .iter()
        .map(|_| Open {
            measured: Measured::empty(),
            differences: Vec::new(),
            end: None,
        })
        .collect();
    let mut round: u32 = 0;
    while state.iter().any(|s| s.end.is_none()) {
        round += 1;
        let wanted = round_wanted(ctx, incumbent, arms, &state, round, max_samples as u32);
        let mut this_round: Vec<(usize, f64)> = Vec::new();
        let mut incumbent_now = None;
        for (who, result) in measure_round(ctx, wanted, at_once).await {
            match (who, result) {
                (_, Err(MeasureFailure::Interrupted)) => return Err(Failure::Interrupted),
                (None, Err(f)) => {
                    return Err(match Failure::from(f) {
                        halt @ Failure::Halt(_) => halt,
                        f => Failure::Error(format!("the incumbent's re-measurement failed: {f}")),
                    });
                }
                (None, Ok(m)) => {
                    incumbent_now = m.samples.first().and_then(|s| s.get(primary).copied());
                    incumbent_samples.extend(m.samples);
                }
                (Some(i), Err(f)) => state[i].end = Some(ArmEnd::Failed(f.into())),
                (Some(i), Ok(m)) => {
                    if let Some(v) = m.samples.first().and_then(|s| s.get(primary).copied()) {
                        this_round.push((i, v));
                    }
                    state[i].measured.absorb(m, aggregation);
                }
            }
        }
        if let Some(incumbent) = incumbent_now {
            for (i, v) in this_round {
                state[i].differences.push(v - incumbent);
            }
        }
        look_at(ctx, &mut state, history, &incumbent_samples, arms.len());
    }
    Ok(Rounds {
        arms: state
            .into_iter()
            .map(|s| s.end.expect("every arm ended"))
            .collect(),
        incumbent: incumbent_samples,
    })
}

/// One round's measurements: the incumbent and every undecided arm, in
/// reversed order every other round (ABBA), so a drift within the round
/// falls on both sides of the comparison alike.
fn round_wanted(
    ctx: &Ctx,
    incumbent: &Arm,
    arms: &[Arm],
    state: &[Open],
    round: u32,
    max_samples: u32,
) -> Vec<(Option<usize>, Arm, u32)> {
    let mut wanted: Vec<(Option<usize>, Arm, u32)> = vec![(None, incumbent.clone(), round)];
    for (i, arm) in arms.iter().enumerate() {
        if state[i].end.is_none() {
            let run = state[i].measured.samples.len() as u32 + 1;
            ctx.events.emit(Event::StageChanged {
                iteration: arm.iteration,
                stage: Stage::Measuring {
                    run,
                    runs: max_samples,
                },
            });
            wanted.push((Some(i), arm.clone(), run));
        }
    }
    if round.is_multiple_of(2) {
        wanted.reverse();
    }
    wanted
}

/// After a round: each undecided arm looked at against the incumbent's
/// samples; it ends when a gate fails, the test decides, or samples run out.
fn look_at(ctx: &Ctx, state: &mut [Open], history: &[f64], incumbent: &[Metrics], compared: usize) {
    let spec = &ctx.spec;
    let primary = &spec.metric.primary.name;
    let max_samples = spec.measurement.stability.comparison.max_samples() as usize;
    let reference: Vec<f64> = history
        .iter()
        .copied()
        .chain(crate::measure::values_of(incumbent, primary))
        .collect();
    for s in state.iter_mut().filter(|s| s.end.is_none()) {
        let measured = s.measured.clone();
        let gates = decide::evaluate_gates(&spec.metric.degenerate_gates, &measured.metrics);
        if !decide::all_passed(&gates) {
            s.end = Some(ArmEnd::Degenerate { measured });
            continue;
        }
        let values = measured.values_of(primary);
        let plan = plan(ctx, &reference, compared);
        let look = stats::look_paired(&plan, &reference, &values, &s.differences);
        if look.verdict != StatVerdict::Open || values.len() >= max_samples {
            s.end = Some(ArmEnd::Decided { measured, look });
        }
    }
}

/// The test's settings for this spec and batch.
fn plan(ctx: &Ctx, incumbent: &[f64], compared: usize) -> Plan {
    let spec = &ctx.spec;
    let stability = &spec.measurement.stability;
    let comparison = &stability.comparison;
    let scale = stats::mean(incumbent).abs().max(f64::MIN_POSITIVE);
    let threshold = match comparison.relative_threshold {
        Some(relative) => relative,
        None => ctx.threshold() / scale,
    };
    Plan {
        minimize: spec.metric.primary.direction == Direction::Minimize,
        threshold,
        confidence: comparison.confidence(),
        max_samples: comparison.max_samples() as usize,
        compared,
    }
}

type Measurement = (Option<usize>, Result<Measured, MeasureFailure>);

/// One sample of each tree, in the order given, `at_once` at a time.
async fn measure_round(
    ctx: &Arc<Ctx>,
    wanted: Vec<(Option<usize>, Arm, u32)>,
    at_once: usize,
) -> Vec<Measurement> {
    let mut out = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for (who, arm, run) in wanted {
        if set.len() >= at_once.max(1) {
            out.push(joined(set.join_next().await));
        }
        let ctx = ctx.clone();
        set.spawn(async move { (who, measure_once(ctx, arm, run).await) });
    }
    while let Some(done) = set.join_next().await {
        out.push(joined(Some(done)));
    }
    out
}

fn joined(done: Option<Result<Measurement, tokio::task::JoinError>>) -> Measurement {
    match done.expect("a measurement was running") {
        Ok(m) => m,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

async fn measure_once(ctx: Arc<Ctx>, arm: Arm, run: u32) -> Result<Measured, MeasureFailure> {
    let on_spawn = ctx.group_recorder();
    let req = measure::Request {
        spec: &ctx.spec,
        tree: &arm.tree,
        env: arm.env.clone(),
        out_dir: &arm.out_dir,
        on_spawn: &on_spawn,
        on_run: &|_| {},
        runs: 1,
        first_run: run,
        runner: &ctx.runner,
        label: &arm.label,
        harness: ctx.harness.get(),
        sandbox: crate::sandbox::rules_for(
            &ctx.spec,
            crate::sandbox::Kind::Measurement,
            &arm.tree,
            &ctx.state,
            &arm.label,
        ),
    };
    let m = measure::measure(req, &ctx.cancel).await?;
    ctx.count_measurements(m.samples.len());
    Ok(m)
}

/// The incumbent's samples of this batch as decide.mjs's snapshot.
pub fn incumbent_snapshot(ctx: &Ctx, samples: &[Metrics]) -> serde_json::Value {
    let metrics = measure::aggregate(samples, ctx.spec.measurement.stability.aggregation);
    snapshot::snapshot(
        &ctx.spec,
        &metrics,
        &snapshot::by_metric(samples),
        snapshot::Extras::default(),
    )
}

/// Samples `arms` beside the incumbent at `base`, in the pool's detached
/// `slot-incumbent` worktree (`history`: see [`rounds`]).
pub async fn with_incumbent(
    ctx: &Arc<Ctx>,
    base: git2::Oid,
    label: &str,
    arms: &[Arm],
    history: &[f64],
) -> Result<Rounds, Failure> {
    let wt = pooled_worktree(ctx, crate::names::slot_label("incumbent"), None, base)
        .await
        .map_err(|e| Failure::Error(format!("cannot prepare the incumbent: {e}")))?;
    let incumbent = Arm {
        iteration: arms.first().map_or(0, |a| a.iteration),
        label: label.to_string(),
        tree: wt.path.clone(),
        env: wt.env(&ctx.repo_root, &ctx.spec, 0, 0),
        out_dir: ctx.state.dir.join("incumbent").join(label),
    };
    rounds(ctx, &incumbent, arms, history).await
}

/// An arm's end as the experiment's verdict, with where its test ended; the
/// other objectives are decided against the incumbent's samples of these
/// rounds.
pub fn verdict(
    ctx: &Ctx,
    end: ArmEnd,
    incumbent: &serde_json::Value,
) -> (crate::run::experiment::Verdict, Option<Look>) {
    use crate::run::experiment::Verdict;
    let sampled = |measured: Measured, look: Option<StatVerdict>| {
        let gates = decide::evaluate_gates(&ctx.spec.metric.degenerate_gates, &measured.metrics);
        let snap = snapshot::of_measured(&ctx.spec, &measured);
        let decision = decide::rules::decide_with(&ctx.rules, incumbent, &snap);
        let decision = match look {
            Some(look) => stats::with_statistics(decision, &ctx.spec.metric.primary.name, look),
            None => decision,
        };
        super::protocol::Sampled {
            measured,
            gates,
            judged: None,
            smoke_passed: None,
            decision,
        }
    };
    match end {
        ArmEnd::Decided { measured, look } => {
            (sampled(measured, Some(look.verdict)).into(), Some(look))
        }
        ArmEnd::Degenerate { measured } => {
            (Verdict::Degenerate(Box::new(sampled(measured, None))), None)
        }
        ArmEnd::Failed(f) => (f.into(), None),
    }
}
