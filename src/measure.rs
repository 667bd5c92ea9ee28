//! One measurement of a tree: the spec's command run so many times in
//! `measurement.working_directory` by the spec's runner (here, or as a Slurm
//! job), metrics read from the JSON object each run printed, aggregated
//! across runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::process::{self, Cancel, Exit};
use crate::runner::{Progress, Runner, RunnerError, Runs};
use crate::spec::{MetricType, Spec};

pub type Metrics = BTreeMap<String, f64>;

/// Each case's pass (`true`) or fail, as a `measurement.per_case` harness
/// prints them under `cases`.
pub type Cases = BTreeMap<String, bool>;

#[derive(Debug, Clone)]
pub struct Measured {
    /// Aggregated over the runs with `measurement.stability.aggregation`.
    pub metrics: Metrics,
    pub samples: Vec<Metrics>,
    pub elapsed: Duration,
    /// The batch jobs that ran it (`execution.runner: slurm`).
    pub jobs: Vec<String>,
    /// Time its jobs waited in the scheduler's queue.
    pub queued: Duration,
    /// Harness files that had to be put back before it ran.
    pub harness_restored: Vec<String>,
    /// With `measurement.per_case`: each case printed, passed only when it
    /// passed in every run that printed it.
    pub cases: Option<Cases>,
    /// What the evaluator said beside its metrics (`feedback`), from the
    /// last run that printed it.
    pub feedback: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MeasureFailure {
    Timeout {
        seconds: u64,
        run: u32,
    },
    Crashed {
        exit: String,
        run: u32,
        stderr_tail: String,
    },
    NoJson {
        run: u32,
        stdout_tail: String,
    },
    MissingKeys {
        run: u32,
        missing: Vec<String>,
        present: Vec<String>,
    },
    NotANumber {
        run: u32,
        key: String,
        value: String,
    },
    /// `NaN`, `Infinity` or a number beyond ±1.8e308 (JSON has none of them,
    /// but Python's `json.dumps` prints the first two).
    NonFinite {
        run: u32,
        key: String,
        value: String,
    },
    /// The same key twice in the object: which one was meant is unknown.
    DuplicateKey {
        run: u32,
        key: String,
    },
    Spawn {
        message: String,
    },
    /// The runner lost the measurement (a batch job ended without results).
    Lost {
        message: String,
    },
    /// The measurement changed or removed files of its own harness.
    HarnessChanged {
        files: Vec<String>,
    },
    /// The harness could not be restored or checked (an I/O failure of ours).
    Harness {
        message: String,
    },
    /// A file of ours could not be written (the output's capture, a full
    /// disk): not the command's fault.
    OurIo {
        message: String,
    },
    Interrupted,
}

impl std::fmt::Display for MeasureFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MeasureFailure::Timeout { seconds, run } => write!(
                f,
                "the measurement command timed out after {seconds}s (run {run}); its whole process group was killed"
            ),
            MeasureFailure::Crashed {
                exit,
                run,
                stderr_tail,
            } => {
                write!(f, "the measurement command {exit} (run {run})")?;
                if !stderr_tail.is_empty() {
                    write!(f, "; end of its stderr:\n{stderr_tail}")?;
                }
                Ok(())
            }
            MeasureFailure::NoJson { run, stdout_tail } => {
                write!(
                    f,
                    "the measurement command printed no JSON object on stdout (run {run})"
                )?;
                if stdout_tail.is_empty() {
                    write!(f, "; its stdout was empty")
                } else {
                    write!(f, "; end of its stdout:\n{stdout_tail}")
                }
            }
            MeasureFailure::MissingKeys {
                run,
                missing,
                present,
            } => write!(
                f,
                "the measurement output lacks {} {} (run {run}); it has: {}",
                crate::text::plural(missing.len() as u64, "key"),
                missing
                    .iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
                if present.is_empty() {
                    "no keys".to_string()
                } else {
                    present.join(", ")
                }
            ),
            MeasureFailure::NotANumber { run, key, value } => write!(
                f,
                "the measurement output's \"{key}\" is {value}, not a number (run {run})"
            ),
            MeasureFailure::NonFinite { run, key, value } => write!(
                f,
                "the measurement output's \"{key}\" is {value}, not a finite number (run {run})"
            ),
            MeasureFailure::DuplicateKey { run, key } => write!(
                f,
                "the measurement output has \"{key}\" more than once (run {run}); print each metric once"
            ),
            MeasureFailure::Spawn { message } => {
                write!(f, "cannot start the measurement command: {message}")
            }
            MeasureFailure::Lost { message } => write!(f, "the measurement was lost: {message}"),
            MeasureFailure::HarnessChanged { files } => write!(
                f,
                "the measurement changed its own harness: {} (restored before the next measurement)",
                files.join(", ")
            ),
            MeasureFailure::Harness { message } | MeasureFailure::OurIo { message } => {
                write!(f, "{message}")
            }
            MeasureFailure::Interrupted => write!(f, "the measurement was interrupted"),
        }
    }
}

/// The keys every measurement output must contain.
pub fn required_keys(spec: &Spec) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut add = |k: &str| {
        if !keys.iter().any(|x| x == k) {
            keys.push(k.to_string());
        }
    };
    if spec.metric.primary.kind == MetricType::Hard {
        add(&spec.metric.primary.name);
    }
    for o in spec.required_objectives() {
        if o.name != spec.metric.primary.name {
            add(&o.name);
        }
    }
    for g in &spec.metric.degenerate_gates {
        add(&g.name);
    }
    for d in &spec.metric.diagnostics {
        add(&d.name);
    }
    keys
}

pub struct Request<'a> {
    pub spec: &'a Spec,
    /// The tree to measure (a worktree root); the command runs in its
    /// `measurement.working_directory`.
    pub tree: &'a Path,
    pub env: Vec<(String, String)>,
    /// Where `measure-N.stdout` and `measure-N.stderr` go.
    pub out_dir: &'a Path,
    pub on_spawn: &'a (dyn Fn(u32) + Sync),
    /// Told the number (1-based) of each run as it starts, or where the
    /// measurement is (queued, running on a node).
    pub on_run: &'a (dyn Fn(Progress) + Sync),
    /// How many runs, numbered from `first_run` (files, `OPTIMIZE_RUN`).
    pub runs: u32,
    pub first_run: u32,
    /// Where it runs.
    pub runner: &'a Runner,
    /// A name for the measurement, unique in the run (`exp-003`, `baseline`).
    pub label: &'a str,
    pub sandbox: Option<crate::sandbox::Rules>,
    /// The run's harness: made the start commit's before the command runs,
    /// checked after (every measurement of a run passes it).
    pub harness: Option<&'a crate::harness::Harness>,
}

pub async fn measure(req: Request<'_>, cancel: &Cancel) -> Result<Measured, MeasureFailure> {
    let spec = req.spec;
    let cwd = req.tree.join(&spec.measurement.working_directory);
    if !cwd.is_dir() {
        return Err(MeasureFailure::Spawn {
            message: format!(
                "measurement.working_directory \"{}\" does not exist in the tree",
                spec.measurement.working_directory
            ),
        });
    }
    std::fs::create_dir_all(req.out_dir).map_err(|e| MeasureFailure::Spawn {
        message: format!("create {}: {e}", req.out_dir.display()),
    })?;
    let runs = Runs {
        command: &spec.measurement.command,
        cwd: &cwd,
        env: req.env.clone(),
        timeout: Duration::from_secs(spec.measurement.timeout_seconds),
        out_dir: req.out_dir,
        first_run: req.first_run,
        runs: req.runs,
        label: req.label,
        on_spawn: req.on_spawn,
        on_progress: req.on_run,
        sandbox: req.sandbox.clone(),
    };
    let harness_restored = match req.harness {
        Some(h) => h.restore(req.tree).map_err(|e| MeasureFailure::Harness {
            message: format!("cannot restore the harness: {e}"),
        })?,
        None => Vec::new(),
    };
    let ran = req.runner.run(runs, cancel).await.map_err(|e| match e {
        RunnerError::Spawn(message) => MeasureFailure::Spawn { message },
        RunnerError::Lost(message) => MeasureFailure::Lost { message },
        RunnerError::OurIo(message) => MeasureFailure::OurIo { message },
    })?;
    if let Some(h) = req.harness {
        let changed = h
            .changed_by_measurement(req.tree)
            .map_err(|e| MeasureFailure::Harness {
                message: format!("cannot check the harness: {e}"),
            })?;
        if !changed.is_empty() {
            return Err(MeasureFailure::HarnessChanged { files: changed });
        }
    }
    let elapsed = ran.outputs.iter().map(|o| o.elapsed).sum();
    let (samples, printed) = samples_of(spec, &ran.outputs)?;
    if samples.len() < req.runs as usize {
        return Err(MeasureFailure::Lost {
            message: format!(
                "only {} of {} runs reported a result",
                samples.len(),
                req.runs
            ),
        });
    }
    let metrics = aggregate(&samples, spec.measurement.stability.aggregation);
    Ok(Measured {
        metrics,
        samples,
        elapsed,
        jobs: ran.jobs,
        queued: ran.queued,
        harness_restored,
        cases: printed.cases,
        feedback: printed.feedback,
    })
}

/// What the runs printed beside their metrics.
#[derive(Default)]
struct Beside {
    cases: Option<Cases>,
    feedback: Option<String>,
}

/// Each run's metrics, or the first run's failure: a timeout, a crash, no
/// JSON object, a key printed twice, a missing or unreadable key.
fn samples_of(
    spec: &Spec,
    outputs: &[crate::runner::RunOutput],
) -> Result<(Vec<Metrics>, Beside), MeasureFailure> {
    let required = required_keys(spec);
    let mut samples = Vec::new();
    let mut beside = Beside::default();
    for out in outputs {
        let run = out.run;
        match out.exit {
            Exit::TimedOut => {
                return Err(MeasureFailure::Timeout {
                    seconds: spec.measurement.timeout_seconds,
                    run,
                });
            }
            Exit::Cancelled => return Err(MeasureFailure::Interrupted),
            e if !e.success() => {
                return Err(MeasureFailure::Crashed {
                    exit: e.to_string(),
                    run,
                    stderr_tail: process::tail_lines(&out.stderr_tail, 10),
                });
            }
            _ => {}
        }
        let object =
            extract_json_object(&out.stdout_tail).ok_or_else(|| MeasureFailure::NoJson {
                run,
                stdout_tail: process::tail_lines(&out.stdout_tail, 5),
            })?;
        if let Some(key) = object.duplicate {
            return Err(MeasureFailure::DuplicateKey { run, key });
        }
        samples.push(read_metrics(&object.map, &required, run)?);
        if spec.measurement.per_case {
            beside.cases = merge_cases(beside.cases.take(), read_cases(&object.map));
        }
        beside.feedback = read_feedback(&object.map).or(beside.feedback.take());
    }
    Ok((samples, beside))
}

impl Measured {
    /// Nothing measured yet.
    pub fn empty() -> Measured {
        Measured {
            metrics: Metrics::new(),
            samples: Vec::new(),
            elapsed: Duration::ZERO,
            jobs: Vec::new(),
            queued: Duration::ZERO,
            harness_restored: Vec::new(),
            cases: None,
            feedback: None,
        }
    }

    /// One metric's value in each run that printed it, in run order.
    pub fn values_of(&self, key: &str) -> Vec<f64> {
        values_of(&self.samples, key)
    }

    /// Adds the runs of `more`; the aggregate is taken again over all of them.
    pub fn absorb(&mut self, more: Measured, how: crate::spec::Aggregation) {
        self.samples.extend(more.samples);
        self.elapsed += more.elapsed;
        self.jobs.extend(more.jobs);
        self.queued += more.queued;
        for file in more.harness_restored {
            if !self.harness_restored.contains(&file) {
                self.harness_restored.push(file);
            }
        }
        self.cases = merge_cases(self.cases.take(), more.cases);
        self.feedback = more.feedback.or(self.feedback.take());
        self.metrics = aggregate(&self.samples, how);
    }
}

/// One metric's value in each sample that has it, in order.
pub fn values_of(samples: &[Metrics], key: &str) -> Vec<f64> {
    samples.iter().filter_map(|s| s.get(key).copied()).collect()
}

/// Every key present in all samples, aggregated.
pub fn aggregate(samples: &[Metrics], how: crate::spec::Aggregation) -> Metrics {
    let Some(first) = samples.first() else {
        return Metrics::new();
    };
    first
        .keys()
        .filter_map(|k| {
            let values = values_of(samples, k);
            (values.len() == samples.len())
                .then(|| (k.clone(), how.apply(&values).unwrap_or(f64::NAN)))
        })
        .collect()
}

mod output;

pub use output::{Printed, case_passed, extract_json_object};
use output::{merge_cases, read_cases, read_feedback, read_metrics};
