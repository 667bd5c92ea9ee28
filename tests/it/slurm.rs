//! Measurements as Slurm batch jobs on a real single-node Slurm started by
//! each test: the same outcomes as a local run, a timeout enforced inside
//! the job, Ctrl-C and kill -9 leaving nothing queued, a job Slurm has
//! already forgotten judged by its result file.

use crate::common;
use crate::common::slurm_cluster as cluster;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster::Cluster;
use common::{BIN, Run, TestRepo, isolate, log_yaml, new_demo, outcomes};

fn optimize(dir: &Path, cluster: &Cluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    isolate(&mut cmd, dir);
    cmd.env("SLURM_CONF", &cluster.conf);
    cmd
}

fn on_slurm(spec: &str, poll: f64) -> String {
    let mut s = spec.replacen("execution:\n", "execution:\n  runner: slurm\n", 1);
    if !s.contains("runner: slurm") {
        s += "execution:\n  runner: slurm\n";
    }
    s + &format!("slurm:\n  poll_seconds: {poll}\n")
}

#[test]
fn a_run_on_slurm_ends_like_a_local_run_and_leaves_nothing_queued() {
    let cluster = Cluster::start();
    let (_a, local) = new_demo();
    let (_b, remote) = new_demo();
    let spec = std::fs::read_to_string(remote.join("optimize.yaml")).unwrap();
    std::fs::write(remote.join("optimize.yaml"), on_slurm(&spec, 1.0)).unwrap();
    Run::from(
        optimize(&local, &cluster, &["optimize.yaml", "--quiet"])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    let run = Run::from(
        optimize(&remote, &cluster, &["optimize.yaml", "--quiet"])
            .output()
            .unwrap(),
    );
    run.expect_code(0);
    let here = outcomes(&log_yaml(&local, "demo"));
    let there = outcomes(&log_yaml(&remote, "demo"));
    assert_eq!(here, there, "{}", cluster.logs());
    // The exhaustive search timed out inside its job, after 3 s, not Slurm's limit.
    let log = log_yaml(&remote, "demo");
    let timed_out = log["experiments"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["outcome"] == "timeout")
        .unwrap();
    assert!(
        timed_out["error_message"]
            .as_str()
            .unwrap()
            .contains("timed out after 3s")
    );
    // Its job is named, so its logs can be found.
    assert_eq!(
        timed_out["slurm_jobs"].as_sequence().map(Vec::len),
        Some(1),
        "{timed_out:?}"
    );
    let report = std::fs::read_to_string(remote.join(".optimize/demo/report.md")).unwrap();
    assert!(report.contains("s waiting in the queue"), "{report}");
    let events = std::fs::read_to_string(remote.join(".optimize/demo/events.jsonl")).unwrap();
    assert!(events.contains("\"stage\":\"queued\""));
    assert!(events.contains("\"stage\":\"running_on\",\"node\":\"localhost\""));
    cluster.wait_empty(Duration::from_secs(10));
}

/// A measurement that says it started, then runs while `<holds>/hold`
/// exists. (Jobs get an explicit environment, so the path is in the script.)
fn slow_project(poll: f64) -> (TestRepo, tempfile::TempDir) {
    held_project(poll, "true")
}

/// `slow_project` whose measurement holds only when `when` (a shell test) is true.
fn held_project(poll: f64, when: &str) -> (TestRepo, tempfile::TempDir) {
    let holds = tempfile::tempdir().unwrap();
    let h = holds.path().display();
    let slow = format!(
        "#!/bin/sh\nif {when}; then touch '{h}/started'; while [ -f '{h}/hold' ]; do sleep 0.2; done; fi\necho '{{\"score\": 1, \"ok\": 1, \"size\": 1}}'\n"
    );
    let repo = TestRepo::new(&[("eval.sh", &slow), ("src/a.txt", "a\n")]);
    let spec = common::hard_spec(
        "queued",
        "./eval.sh",
        "hypotheses: {source: file, file: h.yaml}\n",
    );
    repo.write("optimize.yaml", &on_slurm(&spec, poll));
    repo.write(
        "h.yaml",
        "- description: one\n  apply: \"echo b > src/a.txt\"\n- description: two\n  apply: \"echo c > src/b.txt\"\n",
    );
    repo.commit_all("slow project");
    (repo, holds)
}

fn wait_for(path: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ctrl_c_cancels_every_job_and_kill_9_leftovers_are_cancelled_on_resume() {
    let cluster = Cluster::start();
    let (repo, holds) = slow_project(1.0);
    let hold = holds.path().join("hold");
    let started = holds.path().join("started");
    std::fs::write(&hold, "").unwrap();

    // The baseline's job holds: once it runs, Ctrl-C cancels every job.
    let mut child = optimize(repo.path(), &cluster, &["optimize.yaml", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&started, Duration::from_secs(60));
    assert!(!cluster.queue().is_empty());
    // status shows the run's job while it runs (within a poll or two).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = Run::from(
            optimize(repo.path(), &cluster, &["status", "optimize.yaml"])
                .output()
                .unwrap(),
        );
        if status.stdout.contains("baseline: running on localhost") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status shows no running job:\n{}",
            status.stdout
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let start = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "took {:?}",
        start.elapsed()
    );
    cluster.wait_empty(Duration::from_secs(15));

    // kill -9 with a job running: the resume cancels it, then finishes.
    std::fs::remove_file(&started).unwrap();
    let mut child = optimize(repo.path(), &cluster, &["optimize.yaml", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&started, Duration::from_secs(60));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !cluster.queue().is_empty(),
        "the killed run's job is still queued"
    );
    std::fs::remove_file(&hold).unwrap();
    let resumed = Run::from(
        optimize(repo.path(), &cluster, &["optimize.yaml", "--quiet"])
            .output()
            .unwrap(),
    );
    resumed.expect_code(0);
    cluster.wait_empty(Duration::from_secs(15));
    let log = log_yaml(repo.path(), "queued");
    assert_eq!(outcomes(&log).len(), 2);
}

#[test]
fn a_job_slurm_has_already_forgotten_is_judged_by_its_result_file() {
    let cluster = Cluster::start();
    // Polling every 6 s: a quick job is done and purged (MinJobAge=2)
    // before squeue is ever asked about it.
    let (repo, _holds) = slow_project(6.0);
    Run::from(
        optimize(repo.path(), &cluster, &["optimize.yaml", "--quiet"])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    let log = log_yaml(repo.path(), "queued");
    assert_eq!(
        outcomes(&log),
        [
            ("one".to_string(), "reverted".to_string()),
            ("two".to_string(), "reverted".to_string())
        ]
    );
    cluster.wait_empty(Duration::from_secs(10));
}

/// Puts wrappers of `sbatch` and `squeue` first on PATH; each gets the call
/// count in `$n` and runs `body` before the real tool.
fn wrap_tools(dir: &Path, body: &str) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["sbatch", "squeue"] {
        let real = String::from_utf8(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let counter = dir.join(format!("{tool}.calls"));
        let wrapper = format!(
            "#!/bin/sh\nn=$(cat '{c}' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '{c}'\ntool={tool}\n{body}\nexec {real} \"$@\"\n",
            c = counter.display(),
            real = real.trim()
        );
        let path = bin.join(tool);
        std::fs::write(&path, wrapper).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `sbatch` and `squeue` that fail now and then, as a busy controller does:
/// the run retries and ends as it would have, each entry naming its jobs.
#[test]
fn transient_scheduler_errors_are_retried() {
    let cluster = Cluster::start();
    let (repo, holds) = slow_project(1.0);
    // Every other call fails the way a timed-out controller does.
    let path = wrap_tools(
        holds.path(),
        "if [ $((n % 2)) = 1 ]; then echo \"$tool: error: Socket timed out on send/recv operation\" >&2; exit 1; fi",
    );
    let run = Run::from(
        optimize(repo.path(), &cluster, &["optimize.yaml"])
            .env("PATH", path)
            .output()
            .unwrap(),
    );
    run.expect_code(0).stderr_has("trying again");
    let log = log_yaml(repo.path(), "queued");
    assert_eq!(outcomes(&log).len(), 2);
    for e in log["experiments"].as_sequence().unwrap() {
        assert_eq!(e["slurm_jobs"].as_sequence().unwrap().len(), 1, "{e:?}");
    }
    cluster.wait_empty(Duration::from_secs(10));
}

/// A controller that lists a new job only after a while: the job is not
/// taken for gone while it has never been listed.
#[test]
fn a_job_listed_late_is_waited_for() {
    let cluster = Cluster::start();
    let (repo, holds) = slow_project(1.0);
    std::fs::write(holds.path().join("hold"), "").unwrap();
    // squeue lists nothing for its first two calls after each sbatch.
    let path = wrap_tools(
        holds.path(),
        &format!(
            "if [ $tool = sbatch ]; then rm -f '{lag}'; fi\nif [ $tool = squeue ] && [ ! -f '{lag}.2' ]; then if [ -f '{lag}' ]; then touch '{lag}.2'; else touch '{lag}'; fi; exit 0; fi",
            lag = holds.path().join("lag").display()
        ),
    );
    let mut child = optimize(repo.path(), &cluster, &["optimize.yaml", "--quiet"])
        .env("PATH", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&holds.path().join("started"), Duration::from_secs(60));
    // Past the lag, with the job still running: then it may finish.
    std::thread::sleep(Duration::from_secs(4));
    std::fs::remove_file(holds.path().join("hold")).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", cluster.logs());
    let log = log_yaml(repo.path(), "queued");
    assert_eq!(outcomes(&log).len(), 2);
    cluster.wait_empty(Duration::from_secs(10));
}

/// kill -9 while experiments' jobs run: the resume waits for those very
/// jobs instead of submitting them again, and their entries name them.
#[test]
fn a_resume_reattaches_to_jobs_still_running() {
    let cluster = Cluster::start();
    // The baseline runs freely; experiments hold while `hold` exists.
    let (repo, holds) = held_project(1.0, "[ \"$OPTIMIZE_ITERATION\" != 0 ]");
    let hold = holds.path().join("hold");
    std::fs::write(&hold, "").unwrap();
    let mut child = optimize(repo.path(), &cluster, &["optimize.yaml", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&holds.path().join("started"), Duration::from_secs(60));
    // Both experiments are submitted (their jobs may still be starting).
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.queue().len() < 2 {
        assert!(Instant::now() < deadline, "queue: {:?}", cluster.queue());
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut before = cluster.queue();
    before.sort();
    child.kill().unwrap();
    child.wait().unwrap();

    let resumed = optimize(repo.path(), &cluster, &["optimize.yaml", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        {
            let mut q = cluster.queue();
            q.sort();
            q
        },
        before,
        "the resume submitted nothing new and cancelled nothing"
    );
    std::fs::remove_file(&hold).unwrap();
    let out = resumed.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = log_yaml(repo.path(), "queued");
    let mut jobs: Vec<String> = log["experiments"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|e| e["slurm_jobs"].as_sequence().unwrap().clone())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    jobs.sort();
    assert_eq!(
        jobs, before,
        "each entry names the job that ran before the kill"
    );
    cluster.wait_empty(Duration::from_secs(10));
}
