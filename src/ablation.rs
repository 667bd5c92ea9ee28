//! Leave-one-out ablation: which kept changes carry the gain. Each change
//! is taken out of the best (reverted onto it) and applied alone on the
//! start commit; the best, the start and every variant are measured in turn
//! with the run's protocol, and each change gets a verdict.

use git2::Oid;

use crate::events::Events;
use crate::git::Repo;
use crate::kept_stack::{KeptChange, KeptStack};
use crate::log::{AblatedChange, AblationRecord, Effect, Verdict};
use crate::process::Cancel;
use crate::remeasure::{effect, measure_all};
use crate::spec::Spec;
use crate::state::StateDir;

#[derive(Debug, thiserror::Error)]
pub enum AblationError {
    #[error("nothing was kept, so there is no stack to take apart")]
    NothingKept,
    #[error(
        "the primary metric is a judge score; ablation measures hard metrics only (a judge would be paid to score every variant)"
    )]
    JudgePrimary,
    #[error(transparent)]
    Stack(#[from] crate::kept_stack::StackError),
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error(transparent)]
    Measure(#[from] crate::run::BaselineError),
}

/// The commits one change is measured in: the best without it (`None`
/// when later changes build on it) and it alone on the start.
struct Variants {
    without: Option<Oid>,
    alone: Option<Oid>,
}

pub async fn ablate(
    repo: &Repo,
    state: &StateDir,
    spec: &Spec,
    stack: &KeptStack,
    cancel: &Cancel,
    events: &Events,
) -> Result<AblationRecord, AblationError> {
    if stack.changes.is_empty() {
        return Err(AblationError::NothingKept);
    }
    if spec.metric.primary.kind == crate::spec::MetricType::Judge {
        return Err(AblationError::JudgePrimary);
    }
    let mut commits = vec![
        ("best".to_string(), stack.best),
        ("start".to_string(), stack.start),
    ];
    let mut variants = Vec::new();
    for (k, change) in stack.changes.iter().enumerate() {
        let message = |what: &str| format!("ablation: {what} {}", change.hypothesis);
        let v = Variants {
            without: repo.revert_onto(change.commit, stack.best, &message("without"))?,
            alone: repo.cherry_pick(change.commit, stack.start, &message("only"))?,
        };
        if let Some(c) = v.without {
            commits.push((format!("without-{k}"), c));
        }
        if let Some(c) = v.alone {
            commits.push((format!("alone-{k}"), c));
        }
        variants.push(v);
    }
    let measured = measure_all(repo, state, spec, &commits, cancel, events).await?;
    let by_label = |label: &str| measured.iter().find(|m| m.label == label);
    let (best, start) = (
        by_label("best").expect("measured"),
        by_label("start").expect("measured"),
    );
    let threshold = crate::decide::rules::Rules::of(spec)
        .thresholds
        .absolute(false);
    let changes = stack
        .changes
        .iter()
        .enumerate()
        .map(|(k, change)| {
            let removed = variants[k]
                .without
                .and_then(|_| by_label(&format!("without-{k}")))
                .and_then(|m| effect(spec, best, m));
            let alone = by_label(&format!("alone-{k}")).and_then(|m| effect(spec, start, m));
            ablated(
                change,
                alone,
                removed,
                variants[k].without.is_none(),
                threshold,
            )
        })
        .collect();
    Ok(AblationRecord {
        measured_at: crate::clock::now_iso(),
        best_commit: stack.best.to_string(),
        start_commit: stack.start.to_string(),
        best_value: best.primary,
        start_value: start.primary,
        threshold,
        changes,
    })
}

fn ablated(
    change: &KeptChange,
    alone: Option<Effect>,
    removed: Option<Effect>,
    entangled: bool,
    threshold: f64,
) -> AblatedChange {
    AblatedChange {
        iteration: change.iteration,
        hypothesis: change.hypothesis.clone(),
        commit: change.commit.to_string(),
        alone,
        removed,
        verdict: if entangled {
            Verdict::Entangled
        } else {
            verdict(alone.map(|e| e.delta), removed.map(|e| e.delta), threshold)
        },
    }
}

/// What taking a change out and applying it alone say of it: `removed` is
/// the stack without it against the stack (negative: it loses).
pub fn verdict(alone: Option<f64>, removed: Option<f64>, threshold: f64) -> Verdict {
    let removed = removed.unwrap_or(0.0);
    if removed < -threshold {
        if alone.is_some_and(|a| a > threshold) {
            Verdict::CarriesTheGain
        } else {
            Verdict::CarriesTheGainWithOthers
        }
    } else if removed > threshold {
        Verdict::HarmfulInTheStack
    } else {
        Verdict::Redundant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_alone_and_removed() {
        assert_eq!(verdict(Some(5.0), Some(-5.0), 0.5), Verdict::CarriesTheGain);
        assert_eq!(
            verdict(Some(0.0), Some(-10.0), 0.5),
            Verdict::CarriesTheGainWithOthers
        );
        assert_eq!(verdict(Some(5.0), Some(0.2), 0.5), Verdict::Redundant);
        assert_eq!(
            verdict(Some(5.0), Some(3.0), 0.5),
            Verdict::HarmfulInTheStack
        );
        assert_eq!(verdict(None, None, 0.5), Verdict::Redundant);
    }
}
