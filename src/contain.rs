//! The containment shim: every command a run starts (measurement, `apply`,
//! agent, smoke) runs as `optimize __contain [sandbox rules] -- <command>`.
//! The shim makes itself a child subreaper, so a process that leaves the
//! command's process group or session (`setsid`, a daemonizing double fork)
//! is still its descendant; applies the sandbox rules, if any, to itself;
//! then runs `sh -c <command>` and, when that ends (normally, or because the
//! shim got SIGTERM from a timeout, a Ctrl-C or the orchestrator's death),
//! ends every descendant left: SIGTERM, a grace period, SIGKILL, all reaped.
//! It exits as the command did.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::sandbox::Rules;

/// The hidden first argument that makes `optimize` the shim.
pub const ARG: &str = "__contain";

/// Between SIGTERM and SIGKILL for what the command left behind; shorter
/// than the orchestrator's own grace for the shim.
const GRACE: Duration = Duration::from_millis(1500);

static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_terminate(_: libc::c_int) {
    TERMINATE.store(true, Ordering::SeqCst);
}

/// The shim's arguments: sandbox rules, `--`, the shell command.
pub fn args(rules: Option<&Rules>, command: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![ARG.into()];
    if let Some(rules) = rules {
        args.push("--sandbox".into());
        args.extend(rules.to_args().into_iter().map(OsString::from));
    }
    args.push("--".into());
    args.push(command.into());
    args
}

fn parse(args: &[OsString]) -> Result<(Option<Rules>, OsString), String> {
    let mut rules: Option<Rules> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let sandbox = || Rules {
            writable: Vec::new(),
            network: true,
            required: false,
            tmp: None,
        };
        match arg.to_str() {
            Some("--") => {
                let command = it.next().ok_or("no command after --")?.clone();
                return Ok((rules, command));
            }
            Some("--sandbox") => rules = Some(rules.unwrap_or_else(sandbox)),
            Some("--write") => {
                let path = it.next().ok_or("--write needs a path")?;
                rules
                    .get_or_insert_with(sandbox)
                    .writable
                    .push(PathBuf::from(path));
            }
            Some("--no-network") => rules.get_or_insert_with(sandbox).network = false,
            Some("--required") => rules.get_or_insert_with(sandbox).required = true,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Err("no command".into())
}

/// `optimize __contain ...`: runs the command contained; returns the exit
/// status to exit with.
pub fn main(args: &[OsString]) -> i32 {
    let (rules, command) = match parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("optimize {ARG}: {e}");
            return 125;
        }
    };
    #[cfg(target_os = "linux")]
    // SAFETY: plain prctl and sigaction calls on this single-threaded process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
        // Without SA_RESTART, so a signal interrupts the wait below.
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_terminate as extern "C" fn(libc::c_int) as usize;
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    if let Some(rules) = &rules
        && let Err(e) = crate::sandbox::apply(rules)
    {
        eprintln!("optimize: {e}");
        return 126;
    }
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c").arg(&command);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            sh.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    let child = match sh.spawn() {
        Ok(child) => child.id() as i32,
        Err(e) => {
            eprintln!("optimize: cannot start sh: {e}");
            return 127;
        }
    };
    let status = wait_for(child);
    end_descendants();
    match status {
        Some(s) if libc::WIFEXITED(s) => libc::WEXITSTATUS(s),
        Some(s) if libc::WIFSIGNALED(s) => {
            let signal = libc::WTERMSIG(s);
            // Dies of the same signal, so the orchestrator sees what happened.
            // SAFETY: resetting a disposition and signalling oneself.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::kill(libc::getpid(), signal);
            }
            128 + signal
        }
        _ => 128 + libc::SIGTERM,
    }
}

/// Reaps children (orphans included) until `child` ends; on SIGTERM, ends
/// everything first. Returns `child`'s wait status.
fn wait_for(child: i32) -> Option<i32> {
    loop {
        if TERMINATE.load(Ordering::SeqCst) {
            end_descendants();
        }
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == child {
            return Some(status);
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            return None;
        }
    }
}

/// SIGTERM to every descendant, SIGKILL to whatever is left after
/// [`GRACE`], everything reaped.
fn end_descendants() {
    let start = Instant::now();
    let mut signal = libc::SIGTERM;
    let mut signalled = false;
    loop {
        reap_exited();
        let alive = descendants();
        if alive.is_empty() {
            return;
        }
        if !signalled || (signal == libc::SIGTERM && start.elapsed() >= GRACE) {
            if signalled {
                signal = libc::SIGKILL;
            }
            for pid in &alive {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe {
                    libc::kill(*pid, signal);
                }
            }
            signalled = true;
        }
        if start.elapsed() > GRACE * 4 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn reap_exited() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}

/// Live (not zombie) descendants of this process, read from /proc.
fn descendants() -> Vec<i32> {
    let me = std::process::id() as i32;
    let table: Vec<(i32, i32)> = crate::procfs::processes()
        .into_iter()
        .filter(|p| !p.zombie)
        .map(|p| (p.pid as i32, p.ppid as i32))
        .collect();
    let mut found = vec![me];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            table
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}
