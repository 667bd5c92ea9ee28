//! The state dir `<repo>/.optimize/<name>/` and the run lock.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::clock;

#[derive(Debug, Clone)]
pub struct StateDir {
    pub repo_root: PathBuf,
    pub name: String,
    pub dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another run of \"{name}\" holds the lock ({holder}); wait for it to finish or stop it (kill -INT {pid})", pid = holder.pid.map(|p| p.to_string()).unwrap_or_else(|| "<pid>".into()))]
    Held { name: String, holder: Holder },
    #[error("cannot take the run lock {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// Who holds the lock, as it wrote itself into the lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub host: Option<String>,
    pub since: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => write!(f, "pid unknown")?,
        }
        if let Some(host) = &self.host {
            write!(f, " on {host}")?;
        }
        if let Some(since) = &self.since {
            write!(f, ", since {since}")?;
        }
        Ok(())
    }
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        Holder {
            pid: field("pid=").and_then(|p| p.parse().ok()),
            host: field("host="),
            since: field("since="),
        }
    }
}

impl StateDir {
    pub fn new(repo_root: &Path, name: &str) -> StateDir {
        StateDir {
            repo_root: repo_root.to_path_buf(),
            name: name.to_string(),
            dir: repo_root.join(".optimize").join(name),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.repo_root.join(".optimize")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("experiment-log.yaml")
    }
    pub fn spec_path(&self) -> PathBuf {
        self.dir.join("spec.yaml")
    }
    pub fn digest_path(&self) -> PathBuf {
        self.dir.join("strategy-digest.md")
    }
    /// Judged items of this run, by content (see [`crate::judge::JudgeCache`]).
    pub fn judge_cache_path(&self) -> PathBuf {
        self.dir.join("judge-cache.yaml")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }
    /// A sandboxed command's private temporary directory (`TMPDIR`).
    pub fn tmp_dir(&self, label: &str) -> PathBuf {
        self.dir.join("tmp").join(label)
    }

    pub fn worktrees_dir(&self) -> PathBuf {
        self.dir.join("worktrees")
    }
    pub fn experiment_dir(&self, iteration: u64) -> PathBuf {
        self.dir.join("experiments").join(format!("{iteration:03}"))
    }
    /// Process groups started by runs, for ending leftovers on resume.
    pub fn processes_path(&self) -> PathBuf {
        self.dir.join("processes")
    }
    /// `OPTIMIZE_STATE_DIR=<dir>`, set for every command a run starts.
    pub fn process_marker(&self) -> String {
        format!("OPTIMIZE_STATE_DIR={}", self.dir.display())
    }
    pub fn approvals_path(&self) -> PathBuf {
        self.dir.join("approvals.yaml")
    }
    pub fn report_path(&self) -> PathBuf {
        self.dir.join("report.md")
    }
    /// `optimize report --html`: the dashboard's views in one file.
    pub fn html_report_path(&self) -> PathBuf {
        self.dir.join("report.html")
    }
    pub fn chart_path(&self) -> PathBuf {
        self.dir.join("progress.svg")
    }
    /// The run's Slurm jobs as they stand (`execution.runner: slurm`).
    pub fn slurm_jobs_path(&self) -> PathBuf {
        self.dir.join("slurm-jobs.yaml")
    }
    /// The live status line of a running run, as its terminal shows it.
    pub fn status_line_path(&self) -> PathBuf {
        self.dir.join("status-line.txt")
    }
    /// Every event of the run, one JSON object a line.
    pub fn events_path(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    /// Creates the state dir, and `.optimize/.gitignore` so that nothing the
    /// tool writes shows up in the user's `git status`.
    pub fn ensure(&self) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let ignore = self.root().join(".gitignore");
        if !ignore.exists() {
            crate::fsutil::write_atomic(
                &ignore,
                b"# written by optimize: run state, never committed\n*\n",
            )?;
        }
        Ok(())
    }

    /// Takes the exclusive run lock. The OS releases it when the process
    /// dies, however it dies, so a lock left by a killed run never blocks.
    pub fn lock(&self) -> Result<RunLock, LockError> {
        self.ensure().map_err(|source| LockError::Io {
            path: self.lock_path(),
            source,
        })?;
        let path = self.lock_path();
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    name: self.name.clone(),
                    holder: read_holder(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let me = format!(
            "pid={}\nhost={}\nsince={}\n",
            std::process::id(),
            hostname(),
            clock::now_iso()
        );
        file.set_len(0).map_err(io_err)?;
        file.write_all(me.as_bytes()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(RunLock { _file: file })
    }

    /// Who holds the run lock right now, if anyone.
    pub fn lock_holder(&self) -> Option<Holder> {
        let mut file = File::open(self.lock_path()).ok()?;
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                None
            }
            Err(TryLockError::WouldBlock) => Some(read_holder(&mut file)),
            Err(TryLockError::Error(_)) => None,
        }
    }
}

fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    Holder::parse(&text)
}

pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Held for the whole run; dropping it (or dying) releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}
