//! Step 1: the start commit measured with the full stability protocol, in a
//! detached worktree that is always removed. One implementation for the run
//! and for `optimize validate`.

use std::path::PathBuf;

use git2::Oid;

use super::context::{Ctx, group_recorder};
use crate::decide::{self, GateResult};
use crate::events::{Event, Events};
use crate::git::{GitError, Repo};
use crate::judge::{JudgeError, Scores};
use crate::measure::{self, MeasureFailure, Measured};
use crate::process::Cancel;
use crate::spec::Spec;
use crate::state::StateDir;
use crate::worktree::Worktree;

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot prepare a worktree for the baseline: {0}")]
    Worktree(#[from] GitError),
    #[error("the baseline measurement failed: {failure}")]
    Measure {
        failure: MeasureFailure,
        /// Where the command's output is.
        out_dir: PathBuf,
    },
    #[error("judging the baseline failed: {0}")]
    Judge(#[source] JudgeError),
    #[error("interrupted while measuring the baseline")]
    Interrupted,
    /// A `harness_validation` shortcut that cannot be applied.
    #[error("harness_validation shortcut \"{description}\" cannot be applied: {why}")]
    Shortcut { description: String, why: String },
}

/// Where and how to measure the baseline.
#[derive(Clone)]
pub struct BaselineSite<'a> {
    pub repo: &'a Repo,
    pub state: &'a StateDir,
    pub spec: &'a Spec,
    pub commit: Oid,
    /// The worktree's label under the state dir.
    pub label: String,
    pub out_dir: PathBuf,
    pub cancel: &'a Cancel,
    pub events: &'a Events,
    /// Runs of the measurement command (the full protocol for a run).
    pub runs: u32,
    pub runner: &'a crate::runner::Runner,
    /// Measured with this shortcut applied (harness validation), not as
    /// committed.
    pub shortcut: Option<&'a crate::spec::Shortcut>,
}

#[derive(Debug, Clone)]
pub struct BaselineMeasurement {
    pub measured: Measured,
    pub gates: Vec<GateResult>,
    /// Judge scores, when the primary is a judge score and it was judged.
    pub judged: Option<Scores>,
}

impl BaselineMeasurement {
    pub fn failed_gates(&self) -> Vec<String> {
        self.gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| g.name.clone())
            .collect()
    }
}

/// Measures the baseline without judging it (what `validate` does).
pub async fn measure_baseline(
    site: BaselineSite<'_>,
) -> Result<BaselineMeasurement, BaselineError> {
    measure_with(site, None).await
}

/// Measures the baseline; with a run's context, a judge primary is judged
/// once the gates pass.
pub(super) async fn measure_with(
    site: BaselineSite<'_>,
    judge: Option<&Ctx>,
) -> Result<BaselineMeasurement, BaselineError> {
    let spec = site.spec;
    if site.shortcut.is_none() {
        site.events.emit(Event::BaselineStarted {
            commit: site.commit.to_string(),
            runs: site.runs,
        });
    }
    let wt = Worktree::create_detached(site.repo, site.state, &site.label, site.commit)?;
    let result = match site.shortcut {
        Some(s) => match super::shortcuts::apply(&site, &wt, s).await {
            Ok(()) => measure_in(&site, &wt, judge).await,
            Err(e) => Err(e),
        },
        None => measure_in(&site, &wt, judge).await,
    };
    let removed = wt.remove(site.repo);
    let measurement = result?;
    removed?;
    if site.shortcut.is_some() {
        return Ok(measurement);
    }
    site.events.emit(Event::BaselineMeasured {
        primary: spec.metric.primary.name.clone(),
        value: measurement
            .measured
            .metrics
            .get(&spec.metric.primary.name)
            .copied(),
    });
    Ok(measurement)
}

async fn measure_in(
    site: &BaselineSite<'_>,
    wt: &Worktree,
    judge: Option<&Ctx>,
) -> Result<BaselineMeasurement, BaselineError> {
    let spec = site.spec;
    wt.copy_shared_files(&site.repo.root, spec)?;
    let on_spawn = group_recorder(site.state);
    let harness = crate::harness::Harness::for_spec(site.repo, site.commit, spec)?;
    let req = measure::Request {
        spec,
        tree: &wt.path,
        env: wt.env(&site.repo.root, spec, 0, 0),
        out_dir: &site.out_dir,
        on_spawn: &on_spawn,
        on_run: &|_| {},
        runs: site.runs,
        first_run: 1,
        runner: site.runner,
        label: &site.label,
        sandbox: crate::sandbox::rules_for(
            spec,
            crate::sandbox::Kind::Measurement,
            &wt.path,
            site.state,
            &site.label,
        ),
        harness: Some(&harness),
    };
    let mut measured = match measure::measure(req, site.cancel).await {
        Ok(m) => m,
        Err(MeasureFailure::Interrupted) => return Err(BaselineError::Interrupted),
        Err(failure) => {
            return Err(BaselineError::Measure {
                failure,
                out_dir: site.out_dir.clone(),
            });
        }
    };
    let gates = decide::evaluate_gates(&spec.metric.degenerate_gates, &measured.metrics);
    let judged = match judge {
        Some(ctx) if decide::all_passed(&gates) => ctx
            .judge_into(
                &wt.path,
                &mut measured,
                &site.out_dir.join("judge-transcript.jsonl"),
            )
            .await
            .map_err(BaselineError::Judge)?,
        _ => None,
    };
    Ok(BaselineMeasurement {
        measured,
        gates,
        judged,
    })
}
