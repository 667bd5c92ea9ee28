//! A runner-up merged onto the new best, measured as much as its decision
//! against that best needs (with `method: statistical`, beside the new best
//! re-measured in the same rounds).

use std::sync::Arc;

use git2::Oid;

use super::context::Ctx;
use super::experiment::Verdict;
use super::protocol::{self, Sampled};
use super::start::pooled_worktree;
use crate::events::{Event, Stage};
use crate::names;

/// Measures runner-up `iteration` cherry-picked onto the new best (as much
/// as its decision against `best` needs), in the pool's `slot-combined`
/// worktree on its `-combined` branch, which keeps the commit reachable afterwards.
pub async fn measure_combination(
    ctx: &Arc<Ctx>,
    commit: Oid,
    iteration: u64,
    best: &serde_json::Value,
    best_commit: Oid,
) -> Result<Sampled, protocol::Failure> {
    let branch = names::combined_branch(&ctx.spec.name, iteration);
    let out_dir = ctx.state.experiment_dir(iteration).join("combined");
    ctx.events.emit(Event::StageChanged {
        iteration,
        stage: Stage::MeasuringCombination,
    });
    let slot = names::slot_label("combined");
    let wt = pooled_worktree(ctx, slot, Some(branch), commit)
        .await
        .map_err(|e| {
            protocol::Failure::Error(format!("cannot create a worktree for the combination: {e}"))
        })?;
    let statistical = ctx.spec.measurement.stability.comparison.method()
        == crate::spec::ComparisonMethod::Statistical;
    if statistical {
        // Against the new best re-measured in the same rounds.
        let arm = super::sampling::Arm {
            iteration,
            label: names::combined_label(iteration),
            tree: wt.path.clone(),
            env: wt.env(&ctx.repo_root, &ctx.spec, iteration, 0),
            out_dir: out_dir.clone(),
        };
        let onto = best_commit;
        let label = format!("{}-combined", names::incumbent_label(iteration));
        match super::sampling::with_incumbent(ctx, onto, &label, std::slice::from_ref(&arm), &[])
            .await
        {
            Ok(rounds) => {
                let reference = super::sampling::incumbent_snapshot(ctx, &rounds.incumbent);
                let end = rounds.arms.into_iter().next().expect("one arm");
                match super::sampling::verdict(ctx, end, &reference).0 {
                    Verdict::Measured(s) | Verdict::Degenerate(s) => Ok(*s),
                    Verdict::Interrupted => Err(protocol::Failure::Interrupted),
                    Verdict::Timeout(m) => Err(protocol::Failure::Timeout(m)),
                    other => Err(protocol::Failure::Error(format!("{other:?}"))),
                }
            }
            Err(f) => Err(f),
        }
    } else {
        let site = protocol::Site {
            tree: &wt.path,
            env: wt.env(&ctx.repo_root, &ctx.spec, iteration, 0),
            out_dir: &out_dir,
            iteration,
            label: names::combined_label(iteration),
            best,
        };
        protocol::sample(ctx, site).await
    }
}
