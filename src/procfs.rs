//! What `/proc` says of the processes on this machine.

/// A process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy)]
pub struct ProcStat {
    pub pid: u32,
    pub zombie: bool,
    pub ppid: u32,
    pub pgrp: u32,
}

/// Every process the kernel lists (one that ends while being read is left out).
pub fn processes() -> Vec<ProcStat> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
            let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = fields.next()?;
            Some(ProcStat {
                pid,
                zombie: state == "Z",
                ppid: fields.next()?.parse().ok()?,
                pgrp: fields.next()?.parse().ok()?,
            })
        })
        .collect()
}
