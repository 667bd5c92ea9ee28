//! Held-out confirmation in the loop. Once a candidate's selection decision
//! would keep it (decide.mjs's `next_measurement: holdout`), the holdout is
//! measured on the best it would replace and on the candidate, interleaved
//! run by run, and the decision is taken again on that pair. It is measured
//! then and not before, so nothing is spent on candidates the selection
//! rejects, and its values are recorded on the entry alone: no prompt, digest
//! or learnings reads them.

use std::path::Path;
use std::sync::Arc;

use git2::Oid;

use super::context::Ctx;
use super::protocol::Failure;
use super::start::pooled_worktree;
use crate::decide::rules::{Decision, confirm_on_holdout};
use crate::decide::snapshot::of_measured;
use crate::events::{Event, Stage};
use crate::log::{HoldoutRecord, HoldoutVerdict};
use crate::measure::{self, Measured};
use crate::names;
use crate::spec::{MetricType, Spec};

/// A selection decision taken again on the held-out pair.
pub struct Confirmed {
    pub decision: Decision,
    pub record: HoldoutRecord,
}

/// One side of the pair: the best, or the candidate.
struct Side {
    name: &'static str,
    commit: Oid,
    tree: std::path::PathBuf,
    env: Vec<(String, String)>,
    measured: Measured,
}

/// Measures the holdout on `reference` (the best) and `candidate` and decides
/// `selected` again on that pair.
pub async fn confirm(
    ctx: &Arc<Ctx>,
    iteration: u64,
    reference: Oid,
    candidate: Oid,
    selected: Decision,
) -> Result<Confirmed, Failure> {
    ctx.events.emit(Event::StageChanged {
        iteration,
        stage: Stage::MeasuringHoldout,
    });
    let mut sides = [
        side(ctx, "reference", reference, iteration).await?,
        side(ctx, "candidate", candidate, iteration).await?,
    ];
    let spec = holdout_spec(&ctx.spec);
    let out_root = ctx.state.experiment_dir(iteration).join("holdout");
    let runs = ctx.spec.measurement.stability.runs();
    for run in 1..=runs {
        // ABBA: neither side always runs first.
        let order = if run % 2 == 1 { [0, 1] } else { [1, 0] };
        for i in order {
            let out_dir = out_root.join(sides[i].name);
            let m = measure_once(ctx, &spec, &sides[i], &out_dir, run).await?;
            sides[i]
                .measured
                .absorb(m, ctx.spec.measurement.stability.aggregation);
        }
    }
    for s in &mut sides {
        judge(ctx, s, &out_root.join(s.name)).await?;
    }
    let [reference_side, candidate_side] = &sides;
    let baseline = of_measured(&ctx.spec, &reference_side.measured);
    let held_out = of_measured(&ctx.spec, &candidate_side.measured);
    let pair = serde_json::json!({"baseline": baseline, "candidate": held_out});
    let decision = confirm_on_holdout(&ctx.rules, selected, Some(&pair));
    let check = decision.holdout.clone();
    let record = HoldoutRecord {
        reference_commit: reference.to_string(),
        candidate_commit: candidate.to_string(),
        baseline: to_yaml(&pair["baseline"]),
        candidate: to_yaml(&pair["candidate"]),
        agrees: check.as_ref().is_some_and(|c| c.agrees),
        decision: check
            .as_ref()
            .map_or(HoldoutVerdict::Error, |c| verdict_of(c.decision)),
        reason: check.and_then(|c| c.reason),
    };
    Ok(Confirmed { decision, record })
}

/// A recorded pair, as decide.mjs's `holdout` payload.
pub fn pair_of(record: &HoldoutRecord) -> serde_json::Value {
    let json = |v: &serde_yaml::Value| serde_json::to_value(v).unwrap_or_default();
    serde_json::json!({"baseline": json(&record.baseline), "candidate": json(&record.candidate)})
}

async fn side(
    ctx: &Arc<Ctx>,
    name: &'static str,
    commit: Oid,
    iteration: u64,
) -> Result<Side, Failure> {
    let label = names::slot_label(format!("holdout-{name}"));
    let wt = pooled_worktree(ctx, label, None, commit)
        .await
        .map_err(|e| Failure::Error(format!("cannot prepare the holdout's {name}: {e}")))?;
    Ok(Side {
        name,
        commit,
        env: wt.env(&ctx.repo_root, &ctx.spec, iteration, 0),
        tree: wt.path,
        measured: Measured::empty(),
    })
}

/// The spec with the holdout's command in the measurement's place (the
/// judge's confirmation sample needs the measurement's own output).
fn holdout_spec(spec: &Spec) -> Spec {
    let mut spec = spec.clone();
    if let Some(h) = spec.measurement.holdout.take() {
        spec.measurement.command = h.command;
        spec.measurement.timeout_seconds = h
            .timeout_seconds
            .unwrap_or(spec.measurement.timeout_seconds);
    }
    spec
}

async fn measure_once(
    ctx: &Ctx,
    spec: &Spec,
    side: &Side,
    out_dir: &Path,
    run: u32,
) -> Result<Measured, Failure> {
    let on_spawn = ctx.group_recorder();
    let label = format!("holdout-{}-{}", side.name, &side.commit.to_string()[..12]);
    let req = measure::Request {
        spec,
        tree: &side.tree,
        env: side.env.clone(),
        out_dir,
        on_spawn: &on_spawn,
        on_run: &|_| {},
        runs: 1,
        first_run: run,
        runner: &ctx.runner,
        label: &label,
        sandbox: crate::sandbox::rules_for(
            &ctx.spec,
            crate::sandbox::Kind::Measurement,
            &side.tree,
            &ctx.state,
            &label,
        ),
        harness: ctx.harness.get(),
    };
    let m = measure::measure(req, &ctx.cancel)
        .await
        .map_err(|f| match Failure::from(f) {
            Failure::Error(why) => Failure::Error(format!("the holdout's {}: {why}", side.name)),
            other => other,
        })?;
    ctx.count_measurements(m.samples.len());
    Ok(m)
}

/// A judge primary scores the held-out side with the confirmation sample.
async fn judge(ctx: &Ctx, side: &mut Side, out_dir: &Path) -> Result<(), Failure> {
    if ctx.spec.metric.primary.kind != MetricType::Judge {
        return Ok(());
    }
    let passed = crate::decide::all_passed(&crate::decide::evaluate_gates(
        &ctx.spec.metric.degenerate_gates,
        &side.measured.metrics,
    ));
    if !passed {
        return Ok(());
    }
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Failure::Error(format!("create {}: {e}", out_dir.display())))?;
    let transcript = out_dir.join("judge-transcript.jsonl");
    let seed = ctx
        .spec
        .metric
        .judge
        .as_ref()
        .and_then(|j| j.confirmation_seed);
    if let Some(scores) = ctx.judge_sample(&side.tree, &transcript, seed).await? {
        ctx.apply_scores(&mut side.measured.metrics, &scores);
    }
    Ok(())
}

fn to_yaml(v: &serde_json::Value) -> serde_yaml::Value {
    serde_yaml::to_value(v).unwrap_or_default()
}

fn verdict_of(v: crate::decide::rules::Verdict) -> HoldoutVerdict {
    use crate::decide::rules::Verdict;
    match v {
        Verdict::Keep | Verdict::Promising => HoldoutVerdict::Keep,
        Verdict::Revert => HoldoutVerdict::Revert,
        Verdict::Inconclusive | Verdict::Censored => HoldoutVerdict::Inconclusive,
        Verdict::Degenerate => HoldoutVerdict::Degenerate,
        Verdict::Error => HoldoutVerdict::Error,
    }
}
