//! Spec types with the defaults of ce-optimize's schema.

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Spec {
    pub name: String,
    pub description: String,
    pub metric: Metric,
    pub measurement: Measurement,
    pub scope: Scope,
    #[serde(default)]
    pub execution: Execution,
    #[serde(default)]
    pub parallel: Parallel,
    #[serde(default)]
    pub dependencies: Dependencies,
    #[serde(default)]
    pub constraints: Vec<String>,
    #[serde(default)]
    pub stopping: Stopping,
    #[serde(default = "one")]
    pub max_runner_up_merges_per_batch: u32,
    #[serde(default)]
    pub hypotheses: Hypotheses,
    #[serde(default)]
    pub implementer: Implementer,
    #[serde(default)]
    pub llm: Llm,
    /// Ours: where measurements run when `execution.runner` is `slurm`.
    #[serde(default)]
    pub slurm: Option<SlurmSettings>,
    /// Ours: variables passed to child processes although they look secret.
    #[serde(default)]
    pub env: super::EnvSettings,
    /// Ours: the sandbox for implementers and measurements.
    #[serde(default)]
    pub sandbox: super::SandboxSettings,
    /// Ours: the cap on every model call of the run.
    #[serde(default)]
    pub budget: super::Budget,
    /// Degenerate changes the harness must catch before the run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_validation: Option<super::HarnessValidation>,
    #[serde(default)]
    pub wrapup: Wrapup,
}

/// `wrapup:`: what the end of a run leaves besides the log.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Wrapup {
    /// The report committed on the optimization branch as
    /// `optimize/<name>-report.md`, so the merged branch carries its evidence.
    #[serde(default = "yes")]
    pub commit_report: bool,
    /// Leave-one-out ablation of the kept stack at the end of a run that
    /// met its own stop condition (`optimize ablate` at any time).
    #[serde(default)]
    pub ablation: bool,
}

impl Default for Wrapup {
    fn default() -> Wrapup {
        Wrapup {
            commit_report: true,
            ablation: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// `slurm:` (our extension): how measurements are submitted as batch jobs.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SlurmSettings {
    #[serde(default)]
    pub partition: Option<String>,
    /// Passed to sbatch as given.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Shell lines run in the job before the measurement (`module load ...`).
    #[serde(default)]
    pub setup: Option<String>,
    /// One status query for all jobs per poll.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: f64,
}

fn default_poll_seconds() -> f64 {
    15.0
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            partition: None,
            sbatch_args: Vec::new(),
            setup: None,
            poll_seconds: default_poll_seconds(),
        }
    }
}

/// Where measurements run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    #[default]
    Local,
    Slurm,
}

/// What a slot's worktree is cleaned of between experiments. Tracked files
/// are always reset to the next experiment's commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Clean {
    /// Untracked files go; ignored ones (build outputs, caches) stay, so
    /// incremental builds carry over.
    #[default]
    Untracked,
    /// Ignored files go too: every experiment starts cold.
    Full,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Scope {
    pub mutable: Vec<String>,
    pub immutable: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Execution {
    #[serde(default)]
    pub mode: ExecutionMode,
    #[serde(default)]
    pub backend: Backend,
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: u32,
    #[serde(default)]
    pub codex_security: Option<String>,
    /// Ours: `local` (default) or `slurm` (measurements as batch jobs).
    #[serde(default)]
    pub runner: RunnerKind,
    /// Ours: what a reused worktree is cleaned of before its next experiment.
    #[serde(default)]
    pub clean: Clean,
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            mode: ExecutionMode::Parallel,
            backend: Backend::Worktree,
            max_concurrent: default_max_concurrent(),
            codex_security: None,
            runner: RunnerKind::Local,
            clean: Clean::Untracked,
        }
    }
}

fn default_max_concurrent() -> u32 {
    4
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionMode {
    #[default]
    Parallel,
    Serial,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Worktree,
    Codex,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Parallel {
    #[serde(default)]
    pub port_strategy: Option<PortStrategy>,
    #[serde(default)]
    pub port_env_var: Option<String>,
    #[serde(default)]
    pub port_base: Option<u32>,
    #[serde(default)]
    pub shared_files: Vec<String>,
    #[serde(default)]
    pub exclusive_resources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortStrategy {
    Parameterized,
    None,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Dependencies {
    #[serde(default)]
    pub approved: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Stopping {
    #[serde(default = "default_max_iterations")]
    pub max_iterations: u64,
    #[serde(default = "default_max_hours")]
    pub max_hours: f64,
    /// A calendar backstop from the run's start, whatever its sessions were
    /// (`max_hours` counts active time); no resume extends it.
    #[serde(default = "default_max_wall_hours")]
    pub max_wall_hours: f64,
    #[serde(default = "default_plateau")]
    pub plateau_iterations: u64,
    #[serde(default = "yes")]
    pub target_reached: bool,
    /// Experiments in a row failing with the same cause that stop the run
    /// (a broken environment), their hypotheses given back.
    #[serde(default = "default_max_consecutive_errors")]
    pub max_consecutive_errors: u32,
}

impl Default for Stopping {
    fn default() -> Self {
        Stopping {
            max_iterations: default_max_iterations(),
            max_hours: default_max_hours(),
            max_wall_hours: default_max_wall_hours(),
            plateau_iterations: default_plateau(),
            target_reached: true,
            max_consecutive_errors: default_max_consecutive_errors(),
        }
    }
}

fn default_max_consecutive_errors() -> u32 {
    5
}

fn default_max_iterations() -> u64 {
    100
}
fn default_max_hours() -> f64 {
    8.0
}
fn default_plateau() -> u64 {
    10
}

fn default_max_wall_hours() -> f64 {
    72.0
}
