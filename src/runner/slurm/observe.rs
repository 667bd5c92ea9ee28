//! What Slurm (squeue, sacct) and a job's own files say of a job: its
//! state, and its results, read back from the files its script wrote.

use std::path::{Path, PathBuf};

use super::*;

pub(super) fn done_path(dir: &Path) -> PathBuf {
    dir.join("done")
}

/// `id -> (state, node)` of the jobs squeue still lists.
pub(super) async fn squeue(ids: &[String]) -> Result<HashMap<String, (String, String)>, String> {
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
pub(super) async fn sacct_state(id: &str) -> Option<String> {
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
pub(super) fn read_outputs(r: &Runs<'_>, dir: &Path) -> Vec<RunOutput> {
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

pub(super) fn tail(path: &Path) -> Vec<u8> {
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
