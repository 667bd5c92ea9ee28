//! Commits measured again after a run (`finalize`, `ablate`): one at a
//! time, in the order given, each in its own detached worktree with the
//! run's own protocol (its number of runs, its gates), so they compare under
//! the same conditions; and the effect of one against another, with an
//! interval when both have samples enough.

use git2::Oid;
use serde::Serialize;

use crate::events::Events;
use crate::git::Repo;
use crate::log::Effect;
use crate::process::Cancel;
use crate::run::{BaselineError, BaselineSite, measure_baseline};
use crate::spec::Spec;
use crate::state::StateDir;

/// One commit as measured.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub label: String,
    pub commit: String,
    /// The primary metric, aggregated as the run aggregates.
    pub primary: Option<f64>,
    /// The primary metric of every run.
    pub samples: Vec<f64>,
    pub failed_gates: Vec<String>,
}

/// Measures each `(label, commit)` with the spec's protocol, in turn;
/// `starting` hears of each before it starts (its label, its place, of how many).
pub async fn measure_all(
    repo: &Repo,
    state: &StateDir,
    spec: &Spec,
    commits: &[(String, Oid)],
    cancel: &Cancel,
    events: &Events,
) -> Result<Vec<Measurement>, BaselineError> {
    let runner = crate::run::runner_for(spec, &repo.root, events, None);
    let primary = &spec.metric.primary.name;
    let mut out = Vec::new();
    for (k, (label, commit)) in commits.iter().enumerate() {
        // Minutes can pass per commit; the terminal says where it is.
        eprintln!("measuring {label} ({} of {})", k + 1, commits.len());
        let measured = measure_baseline(BaselineSite {
            repo,
            state,
            spec,
            commit: *commit,
            label: format!("remeasure-{label}"),
            out_dir: state.dir.join("remeasure").join(label),
            cancel,
            events,
            runs: spec.measurement.stability.runs(),
            runner: &runner,
            shortcut: None,
        })
        .await?;
        out.push(Measurement {
            label: label.clone(),
            commit: commit.to_string(),
            primary: measured.measured.metrics.get(primary).copied(),
            samples: crate::measure::values_of(&measured.measured.samples, primary),
            failed_gates: measured.failed_gates(),
        });
    }
    Ok(out)
}

/// How much better `candidate` is than `reference` (see [`Effect`]).
pub fn effect(spec: &Spec, reference: &Measurement, candidate: &Measurement) -> Option<Effect> {
    let direction = spec.metric.primary.direction;
    let delta = direction.improvement(candidate.primary?, reference.primary?);
    Some(Effect {
        delta,
        interval: welch_interval(&reference.samples, &candidate.samples).map(|(lo, hi)| {
            let (a, b) = (
                direction.improvement(lo, 0.0),
                direction.improvement(hi, 0.0),
            );
            [a.min(b), a.max(b)]
        }),
    })
}

/// The 95% interval of mean(candidate) - mean(reference).
fn welch_interval(reference: &[f64], candidate: &[f64]) -> Option<(f64, f64)> {
    use crate::decide::stats::{mean, variance};
    if reference.len() < 2 || candidate.len() < 2 {
        return None;
    }
    let (n1, n2) = (reference.len() as f64, candidate.len() as f64);
    let (v1, v2) = (variance(reference) / n1, variance(candidate) / n2);
    let se = (v1 + v2).sqrt();
    let diff = mean(candidate) - mean(reference);
    if se == 0.0 {
        return Some((diff, diff));
    }
    let df = (v1 + v2).powi(2) / (v1.powi(2) / (n1 - 1.0) + v2.powi(2) / (n2 - 1.0));
    let t = crate::decide::stats::t_quantile(0.975, df);
    Some((diff - t * se, diff + t * se))
}

/// The effect in the metric's own units: `-20 [-23, -17] (better)`.
pub fn describe(effect: &Effect, direction: crate::spec::Direction) -> String {
    use crate::spec::Direction;
    let to_metric = |v: f64| match direction {
        Direction::Maximize => v,
        Direction::Minimize => -v,
    };
    let sign = |v: f64| {
        let v = to_metric(v);
        if v >= 0.0 {
            format!("+{}", crate::text::fmt_num(v))
        } else {
            crate::text::fmt_num(v)
        }
    };
    let judged = if effect.delta > 0.0 {
        " (better)"
    } else if effect.delta < 0.0 {
        " (worse)"
    } else {
        ""
    };
    match effect.interval {
        Some([lo, hi]) => {
            let (a, b) = (to_metric(lo), to_metric(hi));
            let (lo, hi) = (a.min(b), a.max(b));
            let show = |v: f64| {
                if v >= 0.0 {
                    format!("+{}", crate::text::fmt_num(v))
                } else {
                    crate::text::fmt_num(v)
                }
            };
            format!(
                "{} [{}, {}]{judged}",
                sign(effect.delta),
                show(lo),
                show(hi)
            )
        }
        None => format!("{}{judged}", sign(effect.delta)),
    }
}
