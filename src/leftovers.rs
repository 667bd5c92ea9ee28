//! Process groups a run started, recorded in a file so that a later run can
//! end the ones a killed run left behind.

use std::io::Write;
use std::path::Path;

pub fn record(registry: &Path, pgid: u32) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(registry)
    {
        let _ = writeln!(f, "{pgid}");
    }
}

/// Kills every recorded group that is still alive and really ours: one
/// of its processes carries `marker` (`OPTIMIZE_STATE_DIR=...`) in its
/// environment, so a reused pid of someone else's is never touched.
/// Returns the groups killed, and empties the registry.
pub fn end_all(registry: &Path, marker: &str) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(registry) else {
        return Vec::new();
    };
    let mut killed = Vec::new();
    for pgid in text.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        if killed.contains(&pgid) || !crate::process::group_alive(pgid as i32) {
            continue;
        }
        if members(pgid).iter().any(|pid| has_marker(*pid, marker)) {
            crate::process::kill_group(pgid as i32, libc::SIGKILL);
            killed.push(pgid);
        }
    }
    // Processes that left their group (setsid) and outlived their shim
    // (SIGKILLed with the run) still carry the marker; a Slurm job's
    // processes carry it too but not CONTAINED, and are left to the
    // Slurm runner (a resume may adopt them).
    let me = std::process::id();
    for pid in crate::procfs::processes().into_iter().map(|p| p.pid) {
        if pid != me && has_marker(pid, marker) && has_marker(pid, crate::process::CONTAINED) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            killed.push(pid);
        }
    }
    let _ = std::fs::write(registry, "");
    killed
}

fn members(pgid: u32) -> Vec<u32> {
    crate::procfs::processes()
        .into_iter()
        .filter(|p| p.pgrp == pgid)
        .map(|p| p.pid)
        .collect()
}

fn has_marker(pid: u32, marker: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()))
        .unwrap_or(false)
}
