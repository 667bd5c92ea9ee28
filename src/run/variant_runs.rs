//! An experiment implemented by several variants (`implementer.variants`):
//! each variant's implementation, on its own branch from the same base, is
//! measured; the experiment is the best one that passed its gates and
//! criteria (or, when none did, the first), its branch pointing at that
//! variant's commit, and every attempt recorded. In the pipelined loop each
//! variant takes slots of its own, as any experiment would; the batch loop
//! runs them in turn in the job's slot.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::context::Ctx;
use super::experiment::{self, Job, Outcome, Verdict, blocking};
use crate::events::{Event, Stage};
use crate::git::Repo;
use crate::log::VariantRecord;
use crate::names;
use crate::variants::describe;

/// The variants in turn, in the job's slot.
pub async fn run(ctx: Arc<Ctx>, job: Job) -> Outcome {
    let mut tried: Vec<(crate::spec::Variant, Outcome)> = Vec::new();
    for v in job.variants.clone() {
        let outcome = experiment::attempt(&ctx, job.clone(), Some(&v)).await;
        // Stopped (Ctrl-C, outage, budget): the experiment runs again whole.
        if matches!(outcome.verdict, Verdict::Interrupted | Verdict::Halt(_)) {
            return outcome;
        }
        tried.push((v, outcome));
    }
    choose(&ctx, &job, tried).await
}

/// The variants at once, each through an implement slot and then a
/// measurement slot of its own, as separate experiments would. Variant `k`
/// uses slot `job.slot + k × in_flight`: a worktree and `OPTIMIZE_SLOT` no
/// other experiment in flight has.
pub async fn run_parallel(
    ctx: Arc<Ctx>,
    job: Job,
    implement: Arc<Semaphore>,
    measure: Arc<Semaphore>,
) -> Outcome {
    let in_flight = crate::spec::Slots::of(&ctx.spec).in_flight as u32;
    let attempts = job.variants.iter().enumerate().map(|(k, v)| {
        let slot = job.slot + k as u32 * in_flight;
        one_variant(&ctx, job.clone(), v, slot, &implement, &measure)
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let mut tried = Vec::new();
    for (v, outcome) in job.variants.iter().cloned().zip(outcomes) {
        // Stopped (Ctrl-C, outage, budget): the experiment runs again whole.
        if matches!(outcome.verdict, Verdict::Interrupted | Verdict::Halt(_)) {
            return outcome;
        }
        tried.push((v, outcome));
    }
    choose(&ctx, &job, tried).await
}

async fn one_variant(
    ctx: &Arc<Ctx>,
    job: Job,
    variant: &crate::spec::Variant,
    slot: u32,
    implement: &Arc<Semaphore>,
    measure: &Arc<Semaphore>,
) -> Outcome {
    let Some(implementing) = super::pipeline::permit(ctx, implement).await else {
        return Outcome::new(job, Verdict::Interrupted);
    };
    let iteration = job.iteration;
    let mut prepared = experiment::prepare_as(ctx, job, Some(variant), slot).await;
    drop(implementing);
    if prepared.ready {
        ctx.events.emit(Event::StageChanged {
            iteration,
            stage: Stage::WaitingForSlot,
        });
        let Some(_measuring) = super::pipeline::permit(ctx, measure).await else {
            prepared.outcome.verdict = Verdict::Interrupted;
            return experiment::clean_up(ctx, prepared).await;
        };
        prepared.slot_taken();
        experiment::measure(ctx, &mut prepared).await;
    }
    experiment::clean_up(ctx, prepared).await
}

/// The experiment's outcome from its variants' attempts: the best one, with
/// every attempt recorded and their costs summed.
async fn choose(
    ctx: &Arc<Ctx>,
    job: &Job,
    mut tried: Vec<(crate::spec::Variant, Outcome)>,
) -> Outcome {
    let records: Vec<VariantRecord> = tried.iter().map(|(v, o)| record(ctx, v, o)).collect();
    let cost: f64 = tried.iter().map(|(_, o)| o.cost_usd).sum();
    let tokens: u64 = tried.iter().map(|(_, o)| o.tokens).sum();
    let winner = best(ctx, &tried);
    let (variant, mut outcome) = tried.swap_remove(winner);
    outcome.cost_usd = cost;
    outcome.tokens = tokens;
    outcome.variant = Some(variant.name.clone());
    outcome.variants = records;
    // The experiment's own branch holds the chosen implementation.
    if let Some(commit) = outcome.commit {
        let (root, branch) = (
            ctx.repo_root.clone(),
            names::exp_branch(&ctx.spec.name, job.iteration),
        );
        let moved = blocking(move || {
            let repo = Repo::open(&root)?;
            let _git = crate::git::exclusive();
            repo.set_branch(&branch, commit)
        })
        .await;
        if let Err(e) = moved {
            outcome.verdict = Verdict::Error(format!(
                "cannot point the experiment's branch at variant {}'s commit: {e}",
                variant.name
            ));
        }
    }
    outcome
}

/// The index of the best measured attempt by the primary metric, else 0.
fn best(ctx: &Ctx, tried: &[(crate::spec::Variant, Outcome)]) -> usize {
    let primary = &ctx.spec.metric.primary;
    let value = |o: &Outcome| match &o.verdict {
        Verdict::Measured(s) => s.measured.metrics.get(&primary.name).copied(),
        _ => None,
    };
    let mut best: Option<(usize, f64)> = None;
    for (i, (_, o)) in tried.iter().enumerate() {
        let Some(v) = value(o) else { continue };
        if best.is_none_or(|(_, b)| primary.direction.improvement(v, b) > 0.0) {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i)
}

fn record(ctx: &Ctx, v: &crate::spec::Variant, o: &Outcome) -> VariantRecord {
    let (model, command) = describe(&ctx.spec, v);
    use crate::log::AttemptOutcome as A;
    let (outcome, metrics, error) = match &o.verdict {
        Verdict::Measured(s) => (A::Measured, s.measured.metrics.clone(), None),
        Verdict::Degenerate(s) => (A::Degenerate, s.measured.metrics.clone(), None),
        Verdict::SmokeFailed(m) => (A::Degenerate, Default::default(), Some(m.clone())),
        Verdict::Error(m) => (A::Error, Default::default(), Some(m.clone())),
        Verdict::Timeout(m) => (A::Timeout, Default::default(), Some(m.clone())),
        Verdict::Deferred(m, _) => (
            A::DeferredNeedsApproval,
            Default::default(),
            Some(m.clone()),
        ),
        Verdict::Interrupted | Verdict::Halt(_) => (A::Interrupted, Default::default(), None),
    };
    VariantRecord {
        name: v.name.clone(),
        model,
        command,
        temperature: crate::variants::spec_for(&ctx.spec, v)
            .implementer
            .temperature,
        outcome,
        metrics: metrics.into_iter().collect(),
        llm_cost_usd: (o.cost_usd * 1e6).round() / 1e6,
        tokens: o.tokens,
        commit: o.commit.map(|c| c.to_string()),
        error,
    }
}
