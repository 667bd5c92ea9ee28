//! Running a shell command in its own process group: a timeout or a
//! cancellation kills the whole group (SIGTERM, a grace period, SIGKILL), and
//! output streams to files, bounded, never held whole in memory.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::watch;

/// Bytes of each stream kept at the start of its capture file.
const HEAD_BYTES: u64 = 8 * 1024 * 1024;
/// Bytes of each stream kept from its end (in the file and in memory).
const TAIL_BYTES: usize = 1024 * 1024;
/// Between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// A cancellation signal shared by everything a run started.
#[derive(Clone)]
pub struct Cancel(watch::Receiver<bool>);

pub struct CancelHandle(watch::Sender<bool>);

impl Cancel {
    pub fn new() -> (CancelHandle, Cancel) {
        let (tx, rx) = watch::channel(false);
        (CancelHandle(tx), Cancel(rx))
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn cancelled(&self) {
        let mut rx = self.0.clone();
        // An error means the sender is gone: nobody can cancel any more.
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl CancelHandle {
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

pub struct Invocation<'a> {
    /// What the command is, as messages name it (`the measurement`).
    pub what: &'static str,
    pub command: &'a str,
    pub cwd: &'a Path,
    /// Set on top of the orchestrator's environment without its secrets
    /// (see [`crate::child_env`]).
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    pub stdin: Option<Vec<u8>>,
    /// Landlock rules for the command and everything it starts.
    pub sandbox: Option<crate::sandbox::Rules>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut,
    Cancelled,
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with status {c}"),
            Exit::Signal(s) => write!(f, "was killed by signal {s}"),
            Exit::TimedOut => write!(f, "timed out"),
            Exit::Cancelled => write!(f, "was interrupted"),
        }
    }
}

#[derive(Debug)]
pub struct Finished {
    pub exit: Exit,
    pub elapsed: Duration,
    pub stdout_tail: Vec<u8>,
    pub stderr_tail: Vec<u8>,
    pub stdout_bytes: u64,
    /// Our own failure to keep the output (a full disk): the path and the
    /// OS error. The command itself may have done fine.
    pub capture_error: Option<String>,
}

/// In the environment of every command run here (not of Slurm jobs).
pub const CONTAINED: &str = "OPTIMIZE_CONTAINED=1";

/// The child process for `inv`: under the containment shim (this binary),
/// which ends whatever the command started, even in another session (see
/// `crate::contain`), in its own process group, with the environment
/// without secrets, dying with the orchestrator.
fn command(inv: &Invocation<'_>) -> io::Result<Command> {
    let mut env = inv.env.clone();
    if let Some(tmp) = inv.sandbox.as_ref().and_then(|r| r.tmp.as_ref()) {
        std::fs::create_dir_all(tmp).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot create the temporary directory {}: {e}",
                    tmp.display()
                ),
            )
        })?;
        for var in ["TMPDIR", "TMP", "TEMP"] {
            env.push((var.into(), tmp.display().to_string()));
        }
    }
    let shim = shim_path();
    let mut cmd = match &shim {
        Some(exe) => {
            let mut cmd = Command::new(exe);
            cmd.args(crate::contain::args(inv.sandbox.as_ref(), inv.command));
            cmd
        }
        None if inv.sandbox.is_some() => {
            return Err(io::Error::other(
                "cannot find the optimize executable to run a sandboxed command",
            ));
        }
        None => {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(inv.command);
            cmd
        }
    };
    let (contained, on) = CONTAINED.split_once('=').expect("a NAME=value marker");
    cmd.current_dir(inv.cwd)
        .env_clear()
        .envs(crate::child_env::inherited())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(contained, on)
        .stdin(if inv.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The shim ends its command's processes when told to (SIGTERM); a bare
    // shell is killed.
    let death_signal = if shim.is_some() {
        libc::SIGTERM
    } else {
        libc::SIGKILL
    };
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe; the closure touches no memory of the parent.
    unsafe {
        // The direct child dies with the orchestrator, however it dies; the
        // rest of its group is found and ended on resume (see `leftovers`).
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, death_signal);
            Ok(())
        });
    }
    Ok(cmd)
}

/// Runs `sh -c <command>` to completion, timeout or cancellation.
pub async fn run(
    inv: Invocation<'_>,
    cancel: &Cancel,
    on_spawn: &(dyn Fn(u32) + Sync),
) -> io::Result<Finished> {
    let start = Instant::now();
    let mut cmd = command(&inv)?;
    let mut child = cmd.spawn()?;
    let pgid = child.id().unwrap_or(0);
    on_spawn(pgid);
    let guard = GroupGuard::new(pgid as i32, inv.what);

    if let (Some(input), Some(mut pipe)) = (inv.stdin, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = pipe.write_all(&input).await;
        });
    }
    let out = tokio::spawn(capture(
        child.stdout.take().expect("piped"),
        inv.stdout_path,
    ));
    let err = tokio::spawn(capture(
        child.stderr.take().expect("piped"),
        inv.stderr_path,
    ));

    let exit = tokio::select! {
        status = child.wait() => {
            let status = status?;
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(c), _) => Exit::Code(c),
                (None, Some(s)) => Exit::Signal(s),
                _ => Exit::Code(-1),
            }
        }
        _ = tokio::time::sleep(inv.timeout) => {
            terminate(&mut child, pgid as i32).await;
            Exit::TimedOut
        }
        _ = cancel.cancelled() => {
            terminate(&mut child, pgid as i32).await;
            Exit::Cancelled
        }
    };
    // Whatever the leader left running in its group goes with it.
    drop(guard);
    let (stdout_tail, stdout_bytes, out_error) = join_capture(out).await;
    let (stderr_tail, _, err_error) = join_capture(err).await;
    Ok(Finished {
        exit,
        elapsed: start.elapsed(),
        stdout_tail,
        stderr_tail,
        stdout_bytes,
        capture_error: out_error.or(err_error),
    })
}

/// This executable, which doubles as the containment shim; `None` if it
/// cannot be found (the command then runs under a bare shell).
fn shim_path() -> Option<PathBuf> {
    static PATH: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    PATH.get_or_init(|| std::env::current_exe().ok().filter(|p| p.is_file()))
        .clone()
}

/// SIGKILLs the group when dropped, so no path out of `run` (including a
/// dropped future) leaves a process of it behind. While it lives, the group
/// is among [`kill_every_group`]'s.
struct GroupGuard(i32);

/// The process groups of commands running now, with what each is.
static LIVE_GROUPS: std::sync::Mutex<Vec<(i32, &'static str)>> = std::sync::Mutex::new(Vec::new());

fn live_groups() -> std::sync::MutexGuard<'static, Vec<(i32, &'static str)>> {
    LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// What was running when the run was interrupted, for its message.
static STOPPED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

impl GroupGuard {
    fn new(pgid: i32, what: &'static str) -> GroupGuard {
        live_groups().push((pgid, what));
        GroupGuard(pgid)
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0, libc::SIGKILL);
        live_groups().retain(|(g, _)| *g != self.0);
    }
}

/// SIGKILLs the group of every command running now: what exiting at once
/// (a second Ctrl-C) does first, so that no command outlives the exit.
pub fn kill_every_group() {
    for (pgid, _) in live_groups().iter() {
        kill_group(*pgid, libc::SIGKILL);
    }
}

/// Notes what is running as the run is interrupted.
pub fn note_interrupted() {
    let mut stopped = STOPPED.lock().unwrap_or_else(|p| p.into_inner());
    for (_, what) in live_groups().iter() {
        if !stopped.contains(what) {
            stopped.push(what);
        }
    }
}

/// What was running when the run was interrupted (`the agent`, `the
/// measurement`), in words; empty when nothing was.
pub fn interrupted_commands() -> String {
    let stopped = STOPPED.lock().unwrap_or_else(|p| p.into_inner());
    match stopped.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

pub fn kill_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: killpg has no memory-safety preconditions; ESRCH is fine.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// Whether any process of the group is still alive.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pgid > 1 && unsafe { libc::killpg(pgid, 0) } == 0
}

async fn terminate(child: &mut tokio::process::Child, pgid: i32) {
    kill_group(pgid, libc::SIGTERM);
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        kill_group(pgid, libc::SIGKILL);
        let _ = child.wait().await;
    }
}

async fn join_capture(task: tokio::task::JoinHandle<Captured>) -> Captured {
    // A process that left the group (setsid) may still hold the pipe open.
    match tokio::time::timeout(Duration::from_secs(5), task).await {
        Ok(Ok(r)) => r,
        _ => (Vec::new(), 0, None),
    }
}

/// A stream's tail, its size, and our failure to keep it in its file.
type Captured = (Vec<u8>, u64, Option<String>);

/// Streams a pipe into `path`: its first [`HEAD_BYTES`], then (if more came)
/// a marker and its last [`TAIL_BYTES`]. Returns the tail and the total size.
/// The pipe is read to its end even when the file cannot be written, so the
/// command is never blocked and its tail still read; the failure is
/// returned beside them.
async fn capture(mut pipe: impl AsyncRead + Unpin, path: PathBuf) -> Captured {
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| (e, "create"));
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::with_capacity(TAIL_BYTES);
    let mut total: u64 = 0;
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if total < HEAD_BYTES
            && let Ok(f) = &mut file
        {
            let take = ((HEAD_BYTES - total) as usize).min(n);
            if let Err(e) = f.write_all(&chunk[..take]).await {
                file = Err((e, "write"));
            }
        }
        total += n as u64;
        tail.extend_from_slice(chunk);
        if tail.len() > 2 * TAIL_BYTES {
            tail.drain(..tail.len() - TAIL_BYTES);
        }
    }
    if tail.len() > TAIL_BYTES {
        tail.drain(..tail.len() - TAIL_BYTES);
    }
    let finished = match file {
        Ok(mut f) => finish_capture(&mut f, &tail, total)
            .await
            .map_err(|e| (e, "write")),
        Err(e) => Err(e),
    };
    let error = finished
        .err()
        .map(|(e, what)| format!("cannot {what} {}: {e}", path.display()));
    (tail, total, error)
}

async fn finish_capture(file: &mut tokio::fs::File, tail: &[u8], total: u64) -> io::Result<()> {
    if total > HEAD_BYTES {
        let tail_start = total - tail.len() as u64;
        let skip = HEAD_BYTES.saturating_sub(tail_start) as usize;
        let omitted = tail_start.saturating_sub(HEAD_BYTES);
        file.write_all(format!("\n[optimize: {omitted} bytes omitted]\n").as_bytes())
            .await?;
        file.write_all(&tail[skip..]).await?;
    }
    file.flush().await
}

/// The last few lines of some output, for error messages.
/// How a command that had to exit 0 did not.
#[derive(Debug)]
pub enum Unsuccessful {
    /// The run's cancellation stopped it.
    Cancelled,
    /// It could not be started.
    Spawn(io::Error),
    /// It ran and failed: "`command` exited with status 3; end of its
    /// stderr: ...".
    Failed(String),
}

/// Runs `inv` and requires it to exit 0 (a check or a preparation step, whose
/// output matters only when it fails).
pub async fn run_to_success(
    inv: Invocation<'_>,
    cancel: &Cancel,
    on_spawn: &(dyn Fn(u32) + Sync),
) -> Result<(), Unsuccessful> {
    let command = inv.command.to_string();
    let finished = run(inv, cancel, on_spawn)
        .await
        .map_err(Unsuccessful::Spawn)?;
    match finished.exit {
        Exit::Cancelled => Err(Unsuccessful::Cancelled),
        e if e.success() => Ok(()),
        e => Err(Unsuccessful::Failed(format!(
            "`{command}` {e}{}",
            match tail_lines(&finished.stderr_tail, 5) {
                t if t.is_empty() => String::new(),
                t => format!("; end of its stderr:\n{t}"),
            }
        ))),
    }
}

pub fn tail_lines(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.trim_end().lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}
