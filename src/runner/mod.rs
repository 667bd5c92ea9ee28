//! Where a measurement runs: "run this command so many times in that tree
//! and give back each run's output". `local` runs it as child process groups
//! here; `slurm` submits one batch job per measurement. A new place to run
//! (Kubernetes Jobs, Ray) is one more variant; the loop does not change.

pub mod jobs;
mod local;
pub mod slurm;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::process::{Cancel, Exit};

/// What a runner is asked to do.
pub struct Runs<'a> {
    pub command: &'a str,
    /// Where the command runs (the tree's measurement working directory).
    pub cwd: &'a Path,
    pub env: Vec<(String, String)>,
    /// Per run; queue wait never counts.
    pub timeout: Duration,
    /// Where `measure-N.stdout|stderr` go.
    pub out_dir: &'a Path,
    pub first_run: u32,
    pub runs: u32,
    /// A name for the work, unique in the run (`exp-003`, `baseline`).
    pub label: &'a str,
    pub on_spawn: &'a (dyn Fn(u32) + Sync),
    /// Told the number of each run as it starts, or where the work is.
    pub on_progress: &'a (dyn Fn(Progress) + Sync),
    /// For runs here (a Slurm job is not sandboxed).
    pub sandbox: Option<crate::sandbox::Rules>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Run(u32),
    /// Waiting in the scheduler's queue.
    Queued,
    /// Started on a node.
    RunningOn(String),
}

/// One run's result; the runs stop at the first that fails.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub run: u32,
    pub exit: Exit,
    pub elapsed: Duration,
    pub stdout_tail: Vec<u8>,
    pub stderr_tail: Vec<u8>,
}

/// What a runner gives back.
#[derive(Debug, Default)]
pub struct Ran {
    pub outputs: Vec<RunOutput>,
    pub jobs: Vec<String>,
    /// Time spent waiting for a node, not running.
    pub queued: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("{0}")]
    Spawn(String),
    /// The scheduler ended the job without the runs' results.
    #[error("{0}")]
    Lost(String),
    /// Our own files could not be written (the output's capture).
    #[error("{0}")]
    OurIo(String),
}

#[derive(Clone, Default)]
pub enum Runner {
    #[default]
    Local,
    Slurm(Arc<slurm::Slurm>),
}

impl Runner {
    /// Each run's output, the ids of the batch jobs that ran them, and how
    /// long they waited in a queue.
    pub async fn run(&self, runs: Runs<'_>, cancel: &Cancel) -> Result<Ran, RunnerError> {
        match self {
            Runner::Local => Ok(Ran {
                outputs: local::run(runs, cancel).await?,
                ..Ran::default()
            }),
            Runner::Slurm(s) => s.run(runs, cancel).await,
        }
    }

    /// The batch jobs that measured `label` in this session, however they
    /// ended (a timeout included): none for local measurements.
    pub fn jobs_for(&self, label: &str) -> Vec<String> {
        match self {
            Runner::Local => Vec::new(),
            Runner::Slurm(s) => s.jobs_for(label),
        }
    }
}
