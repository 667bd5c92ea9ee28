//! A single-node Slurm on localhost for one test: a private munged, then
//! slurmctld and slurmd started directly (no systemd) with their own ports,
//! state and logs in a temporary directory. Dropping it stops the daemons it
//! started, and only those.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (are the Debian packages slurmctld slurmd slurm-client munge installed?)"))
}

impl Cluster {
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let out = run(Command::new("munged").args([
            "--force",
            &format!("--socket={}", d.join("munge.sock").display()),
            &format!("--pid-file={}", d.join("munged.pid").display()),
            &format!("--seed-file={}", d.join("munged.seed").display()),
            &format!("--log-file={}", d.join("log/munged.log").display()),
        ]));
        assert!(out.status.success(), "munged: {out:?}");
        // Ports of our own, so clusters of tests running side by side never meet.
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let base = 20000 + (std::process::id() % 2000) * 10 + n * 2;
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let conf = d.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=optimizetest
SlurmctldHost=localhost
SlurmctldPort={ctld}
SlurmdPort={slurmd}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=2
KillWait=2
SchedulerParameters=sched_interval=1
NodeName=localhost NodeHostname=localhost CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
",
                ctld = base,
                slurmd = base + 1,
                sock = d.join("munge.sock").display(),
                d = d.display(),
            ),
        )
        .unwrap();
        let cluster = Cluster { dir, conf };
        let out = run(Command::new("slurmctld").arg("-f").arg(&cluster.conf));
        assert!(out.status.success(), "slurmctld: {out:?}");
        let out = run(Command::new("slurmd")
            .args(["-N", "localhost", "-f"])
            .arg(&cluster.conf));
        assert!(out.status.success(), "slurmd: {out:?}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = cluster
                .command("sinfo")
                .args(["-h", "-o", "%T"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&state.stdout).trim() == "idle" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the test cluster never became idle: {}",
                cluster.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        cluster
    }

    /// A Slurm client command talking to this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }

    /// Job ids in the queue.
    pub fn queue(&self) -> Vec<String> {
        let out = self
            .command("squeue")
            .args(["-h", "-o", "%i"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Waits until the queue is empty; panics with what is left.
    pub fn wait_empty(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.queue().is_empty() {
            assert!(
                Instant::now() < deadline,
                "jobs left in the queue: {:?}",
                self.queue()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn logs(&self) -> String {
        let log = |name: &str| {
            std::fs::read_to_string(self.dir.path().join("log").join(name)).unwrap_or_default()
        };
        format!(
            "--- slurmctld\n{}\n--- slurmd\n{}",
            log("slurmctld.log"),
            log("slurmd.log")
        )
    }
}

fn stop(pid_file: &Path) {
    if let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    {
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.dir.path();
        stop(&d.join("slurmd.pid"));
        stop(&d.join("slurmctld.pid"));
        stop(&d.join("munged.pid"));
    }
}
