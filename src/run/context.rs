//! What every experiment of a run shares: the spec, where things live, the
//! model client, the judge's budget, and the events they report through.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Request, RunError};
use crate::decide::rules::Rules;
use crate::events::Events;
use crate::judge::{JudgeBudget, JudgeError, Scores};
use crate::llm::LlmClient;
use crate::measure::{Measured, Metrics};
use crate::process::Cancel;
use crate::runner::Runner;
use crate::runner::slurm::Slurm;
use crate::spec::{HypothesisSource, MetricType, RunnerKind, Spec};
use crate::state::StateDir;

pub(crate) struct Ctx {
    pub spec: Spec,
    pub repo_root: PathBuf,
    pub state: StateDir,
    pub cancel: Cancel,
    pub events: Events,
    /// Paths no experiment may change, whatever the scope says.
    pub always_immutable: Vec<String>,
    /// The spec's approved dependencies plus those approved after a run.
    pub approved: Vec<String>,
    /// The model client, when the spec uses one (and a key is available).
    pub llm: Option<Arc<LlmClient>>,
    pub judge_budget: JudgeBudget,
    pub judge_cache: crate::judge::JudgeCache,
    /// `hypotheses.file`, relative to the spec.
    pub hypotheses_file: Option<PathBuf>,
    /// The spec's decision rules (decide.mjs's, on the spec as loaded).
    pub rules: Rules,
    /// Runs of the measurement command in this session.
    measurements: AtomicU64,
    /// Where measurements run.
    pub runner: Runner,
    /// The harness as the run's start commit holds it (set once the
    /// session knows that commit).
    pub harness: std::sync::OnceLock<crate::harness::Harness>,
}

/// The model client, when the spec can have one; an error when the spec
/// needs one for sure and cannot have it. Only a model source or a judge
/// needs the model for sure; a file of `apply` hypotheses never calls it.
fn model_for(spec: &crate::spec::Spec) -> Result<Option<LlmClient>, RunError> {
    match LlmClient::from_spec(spec) {
        Ok(c) => Ok(Some(c)),
        Err(source) if spec.hypotheses.source == HypothesisSource::Llm => {
            Err(RunError::ModelNeeded {
                role: "hypotheses.source is llm (the default)",
                source,
            })
        }
        Err(source) if spec.metric.primary.kind == MetricType::Judge => {
            Err(RunError::ModelNeeded {
                role: "metric.primary.type is judge, so the judge model is needed",
                source,
            })
        }
        Err(_) => Ok(None),
    }
}

/// What a run checks before its first measurement, for `validate` and
/// `plan` to check too: the model it needs, and the hypotheses file.
pub fn preflight(loaded: &crate::spec::LoadedSpec) -> Result<(), RunError> {
    model_for(&loaded.spec)?;
    if let Some(file) = &loaded.spec.hypotheses.file {
        crate::hypotheses::load_file(&loaded.dir().join(file), &loaded.spec.dependencies.approved)?;
    }
    Ok(())
}

impl Ctx {
    pub fn new(req: &Request<'_>) -> Result<Ctx, RunError> {
        let spec = req.loaded.spec.clone();
        let llm = model_for(&spec)?.map(|c| Arc::new(c.with_events(req.events.clone())));
        let hypotheses_file = spec
            .hypotheses
            .file
            .as_ref()
            .map(|f| req.loaded.dir().join(f));
        let extra: Vec<&Path> = hypotheses_file.iter().map(PathBuf::as_path).collect();
        let always_immutable = crate::scope::always_immutable(
            &spec,
            &req.repo_root,
            &req.repo_root,
            &req.loaded.file,
            &extra,
        );
        let approvals = crate::approvals::Approvals::load(&req.state.approvals_path())?;
        let mut approved = spec.dependencies.approved.clone();
        approved.extend(approvals.approved.iter().cloned());
        let cap = spec
            .metric
            .judge
            .as_ref()
            .and_then(|j| j.max_total_cost_usd);
        for note in crate::sandbox::check(&spec).map_err(RunError::SandboxUnavailable)? {
            req.events.emit(crate::events::Event::warning(note));
        }
        if spec.sandbox.measurement != crate::spec::SandboxMode::Off
            && spec.execution.runner == RunnerKind::Slurm
        {
            req.events.emit(crate::events::Event::warning(
                "sandbox.measurement applies to measurements run here; Slurm jobs run unsandboxed",
            ));
        }
        let runner = runner_for(
            &spec,
            &req.repo_root,
            &req.events,
            Some(req.state.slurm_jobs_path()),
        );
        Ok(Ctx {
            harness: std::sync::OnceLock::new(),
            runner,
            rules: crate::decide::snapshot::rules_for(&spec),
            measurements: AtomicU64::new(0),
            approved,
            llm,
            judge_budget: JudgeBudget::new(cap, 0.0),
            judge_cache: judge_cache(&req.state),
            hypotheses_file,
            spec,
            repo_root: req.repo_root.clone(),
            state: req.state.clone(),
            cancel: req.cancel.clone(),
            events: req.events.clone(),
            always_immutable,
        })
    }

    /// When the primary is a judge score: judges the tree's items.
    pub async fn judge(
        &self,
        tree: &Path,
        transcript: &Path,
    ) -> Result<Option<Scores>, JudgeError> {
        self.judge_sample(tree, transcript, None).await
    }

    /// Judges a measured tree with the sample `seed` draws (the spec's
    /// `sample_seed` when `None`).
    pub async fn judge_sample(
        &self,
        tree: &Path,
        transcript: &Path,
        seed: Option<u64>,
    ) -> Result<Option<Scores>, JudgeError> {
        let spec = &self.spec;
        let (MetricType::Judge, Some(judge), Some(client)) =
            (spec.metric.primary.kind, &spec.metric.judge, &self.llm)
        else {
            return Ok(None);
        };
        let items = tree
            .join(&spec.measurement.working_directory)
            .join(&judge.items_file);
        let mut judge = judge.clone();
        judge.sample_seed = seed.unwrap_or(judge.sample_seed);
        let cache = &self.judge_cache;
        crate::judge::judge_tree(
            client,
            &judge,
            &items,
            transcript,
            &self.judge_budget,
            cache,
        )
        .await
        .map(Some)
    }

    /// Adds judge scores to the metrics (under the scoring names and the
    /// primary's name), so every comparison reads them like hard metrics.
    pub fn apply_scores(&self, metrics: &mut Metrics, scores: &Scores) {
        for (k, v) in &scores.fields {
            metrics.insert(k.clone(), *v);
        }
        if let Some(judge) = &self.spec.metric.judge
            && let Some(v) = scores.fields.get(&judge.scoring.primary)
        {
            metrics.insert(self.spec.metric.primary.name.clone(), *v);
        }
    }

    /// Judges a measured tree in place (the baseline's).
    pub async fn judge_into(
        &self,
        tree: &Path,
        m: &mut Measured,
        transcript: &Path,
    ) -> Result<Option<Scores>, JudgeError> {
        let scores = self.judge(tree, transcript).await?;
        if let Some(s) = &scores {
            self.apply_scores(&mut m.metrics, s);
        }
        Ok(scores)
    }

    pub fn count_measurements(&self, runs: usize) {
        self.measurements.fetch_add(runs as u64, Ordering::Relaxed);
    }

    /// Runs of the measurement command in this session so far.
    pub fn measurements(&self) -> u64 {
        self.measurements.load(Ordering::Relaxed)
    }

    /// The absolute comparison threshold, as the decision rules read it
    /// (`minimum_improvement` for judges).
    pub fn threshold(&self) -> f64 {
        self.rules
            .thresholds
            .absolute(self.spec.metric.primary.kind == MetricType::Judge)
    }

    /// Records each process group a command of this run starts, so a
    /// later run can end the ones a killed run left behind.
    pub fn group_recorder(&self) -> impl Fn(u32) + Sync + use<> {
        group_recorder(&self.state)
    }
}

pub fn group_recorder(state: &StateDir) -> impl Fn(u32) + Sync + use<> {
    let registry = state.processes_path();
    move |pgid| crate::leftovers::record(&registry, pgid)
}

/// The spec's runner; Slurm jobs are named after the spec and repository.
pub fn runner_for(spec: &Spec, repo_root: &Path, events: &Events, book: Option<PathBuf>) -> Runner {
    match spec.execution.runner {
        RunnerKind::Local => Runner::Local,
        RunnerKind::Slurm => {
            let repo = crate::run::spec_hash(&repo_root.display().to_string());
            let prefix = format!("optimize-{}-{}", spec.name, &repo[..8]);
            Runner::Slurm(Arc::new(Slurm::new(
                spec.slurm.clone().unwrap_or_default(),
                prefix,
                events.clone(),
                book,
            )))
        }
    }
}

/// The run's judge cache: a resumed run's, or a new one (a file left by a
/// run whose log was never written is not this run's).
fn judge_cache(state: &StateDir) -> crate::judge::JudgeCache {
    let path = state.judge_cache_path();
    if !state.log_path().exists() {
        let _ = std::fs::remove_file(&path);
    }
    crate::judge::JudgeCache::open(&path)
}
