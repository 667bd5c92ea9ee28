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

mod script;

use super::jobs::{JobBook, JobRecord};
use super::{Progress, RunOutput, RunnerError, Runs};
use crate::events::{Event, Events};
use crate::process::{Cancel, Exit};
use crate::spec::SlurmSettings;
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

    /// Cancels every job of the run with one scancel; says their ids when
    /// that fails.
    pub async fn cancel_all(&self) {
        if self.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        let ids = self.live_ids();
        if ids.is_empty() {
            return;
        }
        let ok = Command::new("scancel")
            .args(&ids)
            .output()
            .await
            .is_ok_and(|o| o.status.success());
        if !ok {
            self.events.emit(Event::warning(format!(
                "could not cancel slurm jobs {}; cancel them with: scancel {}",
                ids.join(", "),
                ids.join(" ")
            )));
        }
    }

    /// The adopted job for this measurement, if any: its id and directory.
    fn take_adopted(&self, label: &str, first_run: u32) -> Option<(String, PathBuf)> {
        let mut adopted = self.adopted.lock().unwrap_or_else(|p| p.into_inner());
        let at = adopted
            .iter()
            .position(|j| j.label == label && j.first_run == first_run)?;
        let record = adopted.remove(at);
        let id = record.id.clone()?;
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), Seen::default());
        Some((id, PathBuf::from(&record.dir)))
    }

    /// Whether a job of a killed run measures `label` and was adopted.
    pub fn has_adopted(&self, label: &str) -> bool {
        self.adopted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|j| j.label == label)
    }

    /// After a kill: keeps the jobs of `labels` that are still queued or
    /// running, or finished with their result, to wait for them instead of
    /// measuring again; cancels every other job of this spec and repository.
    /// Returns (adopted, cancelled) job ids.
    pub async fn adopt_or_cancel(
        &self,
        book: &Path,
        labels: &[String],
    ) -> (Vec<String>, Vec<String>) {
        let records = JobBook::load(book);
        let ids: Vec<String> = records.iter().filter_map(|r| r.id.clone()).collect();
        let live = if ids.is_empty() {
            HashMap::new()
        } else {
            squeue(&ids).await.unwrap_or_default()
        };
        let mut kept = Vec::new();
        for r in records {
            let Some(id) = r.id.clone() else { continue };
            let running = live.get(&id).is_some_and(|(state, _)| !is_final(state));
            let finished = done_path(Path::new(&r.dir)).exists();
            if labels.contains(&r.label) && (running || finished) {
                kept.push(id);
                self.book.adopt(r.clone());
                self.adopted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(r);
            }
        }
        let cancelled = self.cancel_leftovers_except(&kept).await;
        (kept, cancelled)
    }

    /// Cancels the jobs a killed run of this spec left in the queue, but
    /// `keep`, and waits until they are gone.
    async fn cancel_leftovers_except(&self, keep: &[String]) -> Vec<String> {
        let Ok(out) = Command::new("squeue")
            .args(["-h", "-o", "%i|%j"])
            .output()
            .await
        else {
            return Vec::new();
        };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('|'))
            .filter(|(_, name)| name.starts_with(&format!("{}-", self.prefix)))
            .map(|(id, _)| id.trim().to_string())
            .filter(|id| !keep.contains(id))
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("scancel").args(&ids).output().await;
            // Until they are gone, nothing of this run starts beside them.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                match squeue(&ids).await {
                    Ok(left) if left.values().all(|(state, _)| is_final(state)) => break,
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
        ids
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

fn done_path(dir: &Path) -> PathBuf {
    dir.join("done")
}

/// `id -> (state, node)` of the jobs squeue still lists.
async fn squeue(ids: &[String]) -> Result<HashMap<String, (String, String)>, String> {
    let out = Command::new("squeue")
        .args(["-h", "-o", "%i|%T|%N", "-j", &ids.join(",")])
        .output()
        .await
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !stderr.contains("Invalid job id") {
        return Err(crate::text::one_line(&stderr, 200));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split('|');
            let id = parts.next()?.trim().to_string();
            let state = parts.next()?.trim().to_string();
            let node = parts.next().unwrap_or("").trim().to_string();
            Some((id, (state, node)))
        })
        .collect())
}

/// The job's final state from accounting, when the cluster keeps it.
async fn sacct_state(id: &str) -> Option<String> {
    let out = Command::new("sacct")
        .args(["-n", "-P", "-X", "-o", "State", "-j", id])
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The runs' results as the job wrote them into `dir`.
fn read_outputs(r: &Runs<'_>, dir: &Path) -> Vec<RunOutput> {
    let mut outputs = Vec::new();
    for run in r.first_run..r.first_run + r.runs {
        let Ok(status) = std::fs::read_to_string(dir.join(format!("measure-{run}.exit"))) else {
            break;
        };
        let mut parts = status.split_whitespace();
        let code = parts.next().unwrap_or("1");
        let millis: u64 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
        let exit = match code {
            "timeout" => Exit::TimedOut,
            c => match c.parse::<i32>() {
                Ok(n) if n > 128 => Exit::Signal(n - 128),
                Ok(n) => Exit::Code(n),
                Err(_) => Exit::Code(1),
            },
        };
        let failed = !exit.success();
        outputs.push(RunOutput {
            run,
            exit,
            elapsed: Duration::from_millis(millis),
            stdout_tail: tail(&dir.join(format!("measure-{run}.stdout"))),
            stderr_tail: tail(&dir.join(format!("measure-{run}.stderr"))),
        });
        if failed {
            break;
        }
    }
    outputs
}

fn tail(path: &Path) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    buf
}
