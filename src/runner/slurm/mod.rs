//! Measurements as Slurm batch jobs. Worktrees stay where they are (the
//! repository must be on a file system the compute nodes see); each
//! measurement is one job (`sbatch --parsable`, `--no-requeue`, `--time` as
//! a backstop) whose script runs the command `runs` times, enforcing
//! `timeout_seconds` per run itself by killing the run's process group,
//! writes each run's stdout, stderr and exit status to files, and a result
//! file atomically when done. The job gets an explicit environment
//! (`--export=NONE`), never the orchestrator's with its API keys.
//!
//! One `squeue` call per poll tracks every job of the run; a job Slurm has
//! already forgotten is judged by its result file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::Notify;

mod adopt;
mod observe;
mod script;

use super::jobs::{JobBook, JobRecord};
use super::{Progress, RunOutput, RunnerError, Runs};
use crate::events::{Event, Events};
use crate::process::{Cancel, Exit};
use crate::spec::SlurmSettings;
use observe::{done_path, read_outputs, sacct_state, squeue};
use script::job_script;

/// Bytes of a run's stdout and stderr read back.
const TAIL_BYTES: u64 = 1024 * 1024;

pub struct Slurm {
    settings: SlurmSettings,
    /// Every job name of this run starts with it.
    prefix: String,
    events: Events,
    jobs: Mutex<HashMap<String, Seen>>,
    changed: Notify,
    polling: AtomicBool,
    cancelled: AtomicBool,
    book: JobBook,
    /// Jobs of a killed run this session waits for instead of submitting
    /// again, by label.
    adopted: Mutex<Vec<JobRecord>>,
}

/// What the last poll said of a job.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    /// `PENDING`, `RUNNING`, ... ; empty when squeue does not list it.
    state: String,
    node: String,
    polls: u32,
    /// squeue has listed it at least once.
    listed: bool,
    /// Polls in a row that did not list it.
    absent: u32,
}

/// Polls a job may go unlisted before it is taken for gone: a controller
/// can list a job some time after sbatch accepted it.
const LAG_POLLS: u32 = 3;

impl Seen {
    /// squeue says it ended, or no longer (or never, past the lag) lists it.
    fn gone(&self) -> bool {
        if self.state.is_empty() {
            self.polls > 0 && (self.listed || self.absent >= LAG_POLLS)
        } else {
            is_final(&self.state)
        }
    }
}

impl Slurm {
    /// See [`crate::runner::Runner::jobs_for`].
    pub fn jobs_for(&self, label: &str) -> Vec<String> {
        self.book.ids_for(label)
    }

    /// `prefix` names this run's jobs (`optimize-<spec>-<repo hash>`).
    /// `book`: where the run's jobs are mirrored for `status`.
    pub fn new(
        settings: SlurmSettings,
        prefix: String,
        events: Events,
        book: Option<PathBuf>,
    ) -> Slurm {
        Slurm {
            adopted: Mutex::new(Vec::new()),
            book: JobBook::new(book),
            settings,
            prefix,
            events,
            jobs: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            polling: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
        }
    }

    pub async fn run(
        self: &std::sync::Arc<Self>,
        r: Runs<'_>,
        cancel: &Cancel,
    ) -> Result<super::Ran, RunnerError> {
        let mut attempt = 1;
        let mut jobs = Vec::new();
        let submitted = std::time::Instant::now();
        let mut adopted = self.take_adopted(r.label, r.first_run);
        loop {
            let (id, dir) = match adopted.take() {
                Some(found) => found,
                None => self.submit(&r, attempt).await?,
            };
            jobs.push(id.clone());
            self.ensure_polling(cancel.clone());
            match self.wait(&r, &id, &dir, cancel).await? {
                Ended::Outputs(outputs) => {
                    // What the runs did not account for was spent waiting.
                    let ran: Duration = outputs.iter().map(|o| o.elapsed).sum();
                    let queued = submitted.elapsed().saturating_sub(ran);
                    return Ok(super::Ran {
                        outputs,
                        jobs,
                        queued,
                    });
                }
                Ended::Retry(why) if attempt == 1 => {
                    self.events.emit(Event::warning(format!(
                        "slurm job {id} ({}) ended with {why}; submitting it again",
                        r.label
                    )));
                    attempt += 1;
                }
                Ended::Retry(why) => {
                    return Err(RunnerError::Lost(format!(
                        "slurm job {id} ended with {why}, twice"
                    )));
                }
            }
        }
    }

    /// Submits one job; its files go to a directory of its own, so a job a
    /// killed run left behind can never write into this one's.
    async fn submit(&self, r: &Runs<'_>, attempt: u32) -> Result<(String, PathBuf), RunnerError> {
        static SUBMITTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = r.out_dir.join(format!(
            "slurm-{}-{}-{}-{attempt}",
            r.first_run,
            std::process::id(),
            SUBMITTED.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| RunnerError::Spawn(format!("create {}: {e}", dir.display())))?;
        let done = done_path(&dir);
        let script_path = dir.join("job.sh");
        std::fs::write(&script_path, job_script(r, &dir, &self.settings, &done))
            .map_err(|e| RunnerError::Spawn(format!("write {}: {e}", script_path.display())))?;
        let minutes = (r.timeout.as_secs() * u64::from(r.runs) + 60).div_ceil(60) + 1;
        let name = format!("{}-{}", self.prefix, r.label);
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--job-name={name}"))
            .arg(format!("--chdir={}", r.cwd.display()))
            .arg(format!("--output={}", dir.join("slurm-%j.out").display()))
            .arg("--no-requeue")
            .arg("--export=NONE")
            .arg(format!("--time={minutes}"));
        if let Some(p) = &self.settings.partition {
            cmd.arg(format!("--partition={p}"));
        }
        cmd.args(&self.settings.sbatch_args).arg(&script_path);
        self.book.intent(&name, r.label, &dir, r.first_run);
        // A busy controller times out or asks to come back later: try again.
        let mut wait = Duration::from_secs(1);
        let id = loop {
            let out = cmd
                .output()
                .await
                .map_err(|e| RunnerError::Spawn(format!("cannot run sbatch: {e}")))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let id = text.trim().split(';').next().unwrap_or("").to_string();
            if out.status.success() && !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
                break id;
            }
            let why = crate::text::one_line(&String::from_utf8_lossy(&out.stderr), 300);
            if !transient(&why) || wait > Duration::from_secs(16) {
                self.book.submitted(&name, None);
                return Err(RunnerError::Spawn(format!("sbatch refused the job: {why}")));
            }
            self.events.emit(Event::warning(format!(
                "sbatch failed ({why}); trying again in {}s",
                wait.as_secs()
            )));
            tokio::time::sleep(wait).await;
            wait *= 2;
        };
        self.book.submitted(&name, Some(&id));
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), Seen::default());
        (r.on_progress)(Progress::Queued);
        Ok((id, dir))
    }

    async fn wait(
        &self,
        r: &Runs<'_>,
        id: &str,
        dir: &Path,
        cancel: &Cancel,
    ) -> Result<Ended, RunnerError> {
        let done = done_path(dir);
        let mut announced = false;
        loop {
            let notified = self.changed.notified();
            if done.exists() {
                self.forget(id);
                return Ok(Ended::Outputs(read_outputs(r, dir)));
            }
            let seen = self.seen(id);
            if !announced && seen.state == "RUNNING" {
                announced = true;
                (r.on_progress)(Progress::RunningOn(seen.node.clone()));
            }
            if seen.gone() {
                // The result file decides; give a shared file system a moment.
                tokio::time::sleep(Duration::from_millis(500)).await;
                if done.exists() {
                    continue;
                }
                self.forget(id);
                return self.ended_without_result(r, dir, id, &seen.state).await;
            }
            tokio::select! {
                _ = notified => {}
                _ = cancel.cancelled() => {
                    self.cancel_all().await;
                    return Ok(Ended::Outputs(vec![RunOutput {
                        run: r.first_run,
                        exit: Exit::Cancelled,
                        elapsed: Duration::ZERO,
                        stdout_tail: Vec::new(),
                        stderr_tail: Vec::new(),
                    }]));
                }
            }
        }
    }

    /// A job gone or ended without its result file: its state decides.
    async fn ended_without_result(
        &self,
        r: &Runs<'_>,
        dir: &Path,
        id: &str,
        last: &str,
    ) -> Result<Ended, RunnerError> {
        let state = match last {
            "" => sacct_state(id).await.unwrap_or_default(),
            s => s.to_string(),
        };
        let base = state.split_whitespace().next().unwrap_or("");
        match base {
            "TIMEOUT" | "DEADLINE" => {
                let mut outputs = read_outputs(r, dir);
                let run = r.first_run + outputs.len() as u32;
                outputs.push(RunOutput {
                    run,
                    exit: Exit::TimedOut,
                    elapsed: r.timeout,
                    stdout_tail: Vec::new(),
                    stderr_tail: Vec::new(),
                });
                Ok(Ended::Outputs(outputs))
            }
            "NODE_FAIL" | "BOOT_FAIL" | "PREEMPTED" => Ok(Ended::Retry(base.to_string())),
            "OUT_OF_MEMORY" => Err(RunnerError::Lost(format!(
                "slurm job {id} ran out of memory (raise --mem in slurm.sbatch_args)"
            ))),
            "CANCELLED" => Err(RunnerError::Lost(format!(
                "slurm job {id} was cancelled outside this run"
            ))),
            "" => Err(RunnerError::Lost(format!(
                "slurm job {id} ended without writing its result (see {})",
                dir.join(format!("slurm-{id}.out")).display()
            ))),
            other => Err(RunnerError::Lost(format!(
                "slurm job {id} ended {other} without writing its result (see {})",
                dir.join(format!("slurm-{id}.out")).display()
            ))),
        }
    }

    fn seen(&self, id: &str) -> Seen {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    fn forget(&self, id: &str) {
        self.book.finished(id);
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    fn live_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// One poller for the whole run: one squeue call for every job.
    fn ensure_polling(self: &std::sync::Arc<Self>, cancel: Cancel) {
        if self.polling.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        let every = Duration::from_secs_f64(self.settings.poll_seconds.max(0.2));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = cancel.cancelled() => {
                        me.cancel_all().await;
                        me.changed.notify_waiters();
                        return;
                    }
                }
                let ids = me.live_ids();
                if ids.is_empty() {
                    continue;
                }
                match squeue(&ids).await {
                    Ok(listed) => {
                        let mut jobs = me.jobs.lock().unwrap_or_else(|p| p.into_inner());
                        for (id, seen) in jobs.iter_mut() {
                            let now = listed.get(id).cloned().unwrap_or_default();
                            me.book.observed(id, &now.0, &now.1);
                            if now.0.is_empty() {
                                seen.absent += 1;
                            } else {
                                seen.listed = true;
                                seen.absent = 0;
                            }
                            seen.state = now.0;
                            seen.node = now.1;
                            seen.polls += 1;
                        }
                    }
                    Err(e) => me
                        .events
                        .emit(Event::warning(format!("squeue failed, asking again: {e}"))),
                }
                me.changed.notify_waiters();
            }
        });
    }
}

enum Ended {
    Outputs(Vec<RunOutput>),
    /// The node failed or the job was preempted: worth one more attempt.
    Retry(String),
}

/// Errors of a busy or briefly unreachable controller.
fn transient(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    [
        "timed out",
        "temporarily unavailable",
        "try again",
        "connection refused",
        "slurm_persist_conn",
        "unable to contact",
    ]
    .iter()
    .any(|m| s.contains(m))
}

fn is_final(state: &str) -> bool {
    !matches!(
        state,
        "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING" | "SUSPENDED" | "RESIZING"
    )
}
