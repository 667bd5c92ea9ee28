//! An experiment implemented by several variants (`implementer.variants`):
//! each variant's implementation, on its own branch from the same base in
//! the slot's worktree, is measured in turn; the experiment is the best one
//! that passed its gates and criteria (or, when none did, the first), its
//! branch pointing at that variant's commit, and every attempt recorded.

use std::sync::Arc;

use super::context::Ctx;
use super::experiment::{self, Job, Outcome, Verdict, blocking};
use crate::git::Repo;
use crate::log::VariantRecord;
use crate::names;
use crate::variants::describe;

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
    let records: Vec<VariantRecord> = tried.iter().map(|(v, o)| record(&ctx, v, o)).collect();
    let cost: f64 = tried.iter().map(|(_, o)| o.cost_usd).sum();
    let tokens: u64 = tried.iter().map(|(_, o)| o.tokens).sum();
    let winner = best(&ctx, &tried);
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
    let (outcome, metrics, error) = match &o.verdict {
        Verdict::Measured(s) => ("measured", s.measured.metrics.clone(), None),
        Verdict::Degenerate(s) => ("degenerate", s.measured.metrics.clone(), None),
        Verdict::SmokeFailed(m) => ("degenerate", Default::default(), Some(m.clone())),
        Verdict::Error(m) => ("error", Default::default(), Some(m.clone())),
        Verdict::Timeout(m) => ("timeout", Default::default(), Some(m.clone())),
        Verdict::Deferred(m, _) => (
            "deferred_needs_approval",
            Default::default(),
            Some(m.clone()),
        ),
        Verdict::Interrupted | Verdict::Halt(_) => ("interrupted", Default::default(), None),
    };
    VariantRecord {
        name: v.name.clone(),
        model,
        command,
        temperature: crate::variants::spec_for(&ctx.spec, v)
            .implementer
            .temperature,
        outcome: outcome.into(),
        metrics: metrics.into_iter().collect(),
        llm_cost_usd: (o.cost_usd * 1e6).round() / 1e6,
        tokens: o.tokens,
        commit: o.commit.map(|c| c.to_string()),
        error,
    }
}
