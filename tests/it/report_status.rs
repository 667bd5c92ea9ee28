//! The morning after: report.md and progress.svg, the status JSON, run
//! metadata, and --fresh.

use crate::common;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, isolate, new_demo, optimize_in};

fn finished_demo() -> (tempfile::TempDir, std::path::PathBuf) {
    let (home, dir) = new_demo();
    optimize_in(&dir, &["optimize.yaml", "--quiet"])
        .expect_code(0)
        .stdout_has("report: .optimize/demo/report.md and .optimize/demo/progress.svg");
    (home, dir)
}

/// Well-formed XML: every tag closed in order, attributes quoted.
fn assert_well_formed_xml(text: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap().to_string());
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
}

#[test]
fn report_has_every_section_and_the_chart_one_mark_per_measured_experiment() {
    let (_home, dir) = finished_demo();
    optimize_in(&dir, &["report", "optimize.yaml"])
        .expect_code(0)
        .stdout_has(".optimize/demo/report.md")
        .stdout_has(".optimize/demo/progress.svg");
    let md = std::fs::read_to_string(dir.join(".optimize/demo/report.md")).unwrap();
    for needle in [
        "# optimize report: demo",
        "## Summary",
        "primary `runtime_ms` (minimize): baseline 100 -> best 66 (iteration 5)",
        "| runtime_ms | primary | 100 | 66 | -34 |",
        "| memory_mb | diagnostic | 64 | 64 | +0 |",
        "### #1 Cache parsed inputs between rounds (kept, runtime_ms -20)",
        "### #2 Unroll the inner loop four times (runner_up_kept, runtime_ms -8)",
        "+enabled=1",
        "| caching | 1 | 1 | 100% |",
        "**degenerate: failed gate correct == 1** (1)",
        "**error: changed files outside its scope** (1)",
        "**error: the measurement failed** (1)",
        "**timeout: the measurement exceeded timeout_seconds** (1)",
        "**runner-up combination not better** (1)",
        "## Cost and time",
        "- slots: implement 4 slots, ",
        "`fastjson`:",
        "`numpy`:",
        "optimize approve optimize.yaml fastjson numpy",
        "git merge optimize/demo",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle:?}:\n{md}");
    }
    let svg = std::fs::read_to_string(dir.join(".optimize/demo/progress.svg")).unwrap();
    assert_well_formed_xml(&svg);
    // Measured experiments: everything with a runtime (kept, runner-ups, degenerate, reverted).
    let log = optimize::log::ExperimentLog::load(&dir.join(".optimize/demo/experiment-log.yaml"))
        .unwrap();
    let measured = log
        .experiments
        .iter()
        .filter(|e| e.metric("runtime_ms").is_some())
        .count();
    assert_eq!(measured, 6);
    assert_eq!(
        svg.matches("<circle").count() - legend_marks(&svg),
        measured
    );
    assert!(svg.contains("best so far") && svg.contains("baseline"));
}

/// Legend entries are drawn with radius 4; data points with radius 5.
fn legend_marks(svg: &str) -> usize {
    svg.match_indices("<circle")
        .filter(|(i, _)| svg[*i..].split('>').next().unwrap().contains("r=\"4\""))
        .count()
}

#[test]
fn status_json_is_complete() {
    let (_home, dir) = finished_demo();
    let run = optimize_in(&dir, &["status", "optimize.yaml", "--json"]);
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["running"], false);
    assert_eq!(v["primary"]["baseline"], 100.0);
    assert_eq!(v["primary"]["best"], 66.0);
    assert_eq!(
        v["metrics"][1],
        serde_json::json!({"name": "correct", "role": "gate", "baseline": 1.0, "best": 1.0})
    );
    assert_eq!(v["outcomes"]["kept"], 1);
    assert_eq!(v["outcomes"]["runner_up_kept"], 2);
    assert_eq!(v["outcomes"]["deferred_needs_approval"], 1);
    assert_eq!(v["backlog_needs_approval"], 1);
    assert!(v["elapsed_hours"].as_f64().unwrap() > 0.0);
    assert!(v["experiments_per_hour"].as_f64().unwrap() > 0.0);
    assert_eq!(v["cost_usd"], 0.0);
    let stop = &v["stop_conditions"];
    assert_eq!(
        stop["max_iterations"],
        serde_json::json!({"limit": 20, "current": 10, "met": false, "text": "10 of 20 experiments"})
    );
    assert_eq!(stop["plateau_iterations"]["current"], 5);
    assert_eq!(stop["backlog"]["met"], true);
    assert_eq!(
        v["stopped_because"],
        "no runnable hypotheses are left in the backlog"
    );
    let occupancy = &v["occupancy"];
    for kind in ["implement", "measure"] {
        let k = &occupancy[kind];
        let (busy, idle) = (k["busy_s"].as_f64().unwrap(), k["idle_s"].as_f64().unwrap());
        let capacity = k["slots"].as_f64().unwrap() * occupancy["active_s"].as_f64().unwrap();
        assert!(busy > 0.0 && idle >= 0.0, "{kind}: {k}");
        assert!((busy + idle - capacity).abs() < 1e-6, "{kind}: {k}");
        assert!((k["utilization"].as_f64().unwrap() - busy / capacity).abs() < 1e-9);
    }
    let u = occupancy["utilization"].as_f64().unwrap();
    assert!(u > 0.0 && u <= 1.0, "{occupancy}");
    optimize_in(&dir, &["status", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("  slots: implement ")
        .stdout_has("% busy (")
        .stdout_has("stop conditions:")
        .stdout_has("max_iterations: 10 of 20 experiments")
        .stdout_has("memory_mb (diagnostic): 64 -> 64");
}

#[test]
fn run_metadata_records_sessions() {
    let (_home, dir) = finished_demo();
    // The keys as any YAML reader sees them, at the log's top level.
    let text = std::fs::read_to_string(dir.join(".optimize/demo/experiment-log.yaml")).unwrap();
    let log: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for key in [
        "tool_version",
        "start_commit",
        "host",
        "spec_hash",
        "ended_at",
        "sessions",
        "active_seconds",
        "stopped_because",
    ] {
        assert!(log.get(key).is_some(), "log lacks {key}");
    }
    assert!(log.get("in_flight").is_none(), "no batch is left in flight");
    let sessions = log["sessions"].as_sequence().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["kind"], "start");
    assert!(sessions[0]["ended_at"].is_string());
    assert_eq!(
        sessions[0]["stopped_because"],
        "no runnable hypotheses are left in the backlog"
    );
    assert_eq!(sessions[0]["limits"]["max_iterations"], 20);
    assert!(log["best"]["commit"].is_string());
    // Timestamps are quoted, so YAML 1.1 readers (PyYAML) read strings too.
    for key in ["started_at", "ended_at"] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key}: '20"))),
            "{key} is not quoted in:\n{text}"
        );
    }
    assert!(
        text.contains("  timestamp: '20"),
        "baseline.timestamp is quoted"
    );
    assert!(
        text.contains("- started_at: '20"),
        "sessions[].started_at is quoted"
    );
    assert!(dir.join(".optimize/demo/optimize.log").exists());
}

#[test]
fn fresh_archives_the_old_run_and_starts_anew() {
    let (_home, dir) = finished_demo();
    let old_head = {
        let mut c = Command::new("git");
        c.args(["rev-parse", "optimize/demo"]).current_dir(&dir);
        isolate(&mut c, &dir);
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    optimize_in(
        &dir,
        &[
            "run",
            "optimize.yaml",
            "--fresh",
            "--quiet",
            "--max-iterations",
            "2",
        ],
    )
    .expect_code(0)
    .stderr_has("archived the previous run to .optimize/.archive/demo/");
    let mut c = Command::new("git");
    c.args(["branch", "--list", "optimize-archive/*"])
        .current_dir(&dir);
    isolate(&mut c, &dir);
    let branches = String::from_utf8(c.output().unwrap().stdout).unwrap();
    assert_eq!(branches.lines().count(), 1, "{branches}");
    let archived = branches.trim().trim_start_matches("* ").to_string();
    let mut c = Command::new("git");
    c.args(["rev-parse", &archived]).current_dir(&dir);
    isolate(&mut c, &dir);
    assert_eq!(
        String::from_utf8(c.output().unwrap().stdout).unwrap(),
        old_head
    );
    let archive = std::fs::read_dir(dir.join(".optimize/.archive/demo"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let old = optimize::log::ExperimentLog::load(&archive.join("experiment-log.yaml")).unwrap();
    assert_eq!(old.experiments.len(), 10);
    let new = optimize::log::ExperimentLog::load(&dir.join(".optimize/demo/experiment-log.yaml"))
        .unwrap();
    assert_eq!(new.experiments.len(), 2);
    assert_ne!(new.run_id, old.run_id);
}

fn run_on_pty(dir: &Path, no_color: bool) -> String {
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("{BIN} optimize.yaml"), "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    isolate(&mut cmd, dir);
    if !no_color {
        cmd.env_remove("NO_COLOR");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn live_progress_on_a_terminal() {
    let home = tempfile::tempdir().unwrap();
    let (a, b) = (home.path().join("a"), home.path().join("b"));
    optimize::demo::create(&a).unwrap();
    optimize::demo::create(&b).unwrap();
    let colored = run_on_pty(&a, false);
    assert!(
        colored.contains("batch 2 | #"),
        "a status line with the batch and stages: {colored}"
    );
    assert!(colored.contains("implementing 0s") || colored.contains("measuring 0s"));
    assert!(
        colored.contains(" implementing |") || colored.contains(" measuring |"),
        "the slots in use: {colored}"
    );
    // The final best (66) stands while the last experiments run; the
    // bests before it may last less than a redraw.
    assert!(
        colored.contains("| best 66"),
        "best so far in the status line: {colored}"
    );
    assert!(
        colored.contains("\x1b[32mkept\x1b[0m"),
        "outcomes are coloured"
    );
    let plain = run_on_pty(&b, true);
    assert!(!plain.contains("\x1b[32m"), "NO_COLOR turns colours off");
    assert!(plain.contains("batch 2 | #"));
}

#[test]
fn the_wrap_up_commits_the_report_on_the_branch_unless_told_not_to() {
    for commit_report in [true, false] {
        let repo = common::Project::scored("evidence")
            .spec_extra(&format!(
                "execution: {{mode: serial, max_concurrent: 1}}\nwrapup: {{commit_report: {commit_report}}}\n"
            ))
            .applies([("raise", "echo 12 > src/value.txt")])
            .build();
        repo.run(&["optimize.yaml"]).expect_code(0);
        let log = common::log_yaml(repo.path(), "evidence");
        let head = repo.git(&["rev-parse", "optimize/evidence"]);
        assert_eq!(
            head.trim(),
            log["best"]["commit"].as_str().unwrap(),
            "the branch head is best"
        );
        let kept = log["experiments"][0]["commit"]
            .as_str()
            .unwrap()
            .to_string();
        let shown = std::process::Command::new("git")
            .args(["show", "optimize/evidence:optimize/evidence-report.md"])
            .current_dir(repo.path())
            .output()
            .unwrap();
        if commit_report {
            assert!(String::from_utf8_lossy(&shown.stdout).contains("# optimize report: evidence"));
            assert_eq!(repo.git(&["rev-parse", "optimize/evidence^"]).trim(), kept);
            assert_eq!(log["report_commit"].as_str(), Some(head.trim()));
        } else {
            assert!(!shown.status.success(), "no report on the branch");
            assert_eq!(head.trim(), kept);
        }
    }
}

/// A serial run of `name` that stops after the first of two hypotheses
/// (a keep, then a note that changes nothing).
fn two_step_run(name: &str) -> common::TestRepo {
    common::Project::scored(name)
        .spec_extra("execution: {mode: serial, max_concurrent: 1}\nstopping: {max_iterations: 1}\n")
        .applies([
            ("raise", "echo 12 > src/value.txt"),
            ("note", "echo n > src/note.txt"),
        ])
        .build()
}

#[test]
fn a_resumed_run_builds_on_the_measured_best_not_on_its_report() {
    let repo = two_step_run("resumed");
    repo.run(&["optimize.yaml"]).expect_code(0);
    repo.run(&["optimize.yaml", "--max-iterations", "2"])
        .expect_code(0);
    let log = common::log_yaml(repo.path(), "resumed");
    let first = log["experiments"][0]["commit"].as_str().unwrap();
    assert_eq!(log["experiments"][1]["base_commit"].as_str(), Some(first));
    let history = repo.git(&["log", "--format=%s", "optimize/resumed"]);
    let reports = history
        .lines()
        .filter(|l| l.contains("report of run"))
        .count();
    assert_eq!(reports, 1, "{history}");
    assert!(
        history.lines().next().unwrap().contains("report of run"),
        "{history}"
    );
}

#[test]
fn a_resume_refuses_a_spec_that_makes_the_measurements_stale_and_takes_new_caps() {
    let repo = two_step_run("changes");
    repo.run(&["optimize.yaml"]).expect_code(0);
    let spec = std::fs::read_to_string(repo.path().join("optimize.yaml")).unwrap();
    let log = common::log_yaml(repo.path(), "changes");
    assert_eq!(log["spec_sha256"].as_str().map(str::len), Some(64));

    repo.write(
        "optimize.yaml",
        &spec.replace("command: ./eval.sh", "command: ./eval.sh --fast"),
    );
    repo.run(&["optimize.yaml"]).expect_code(2).stderr_has(
        "the spec changed since this run started, and its recorded measurements no longer compare: measurement.command changed; put it back, or start anew with --fresh",
    );

    repo.write(
        "optimize.yaml",
        &spec.replace("max_iterations: 1", "max_iterations: 2"),
    );
    repo.run(&["optimize.yaml"])
        .expect_code(0)
        .stderr_has("the spec changed since this run started: stopping.max_iterations; the recorded measurements stay valid");
    let log = common::log_yaml(repo.path(), "changes");
    assert_eq!(log["experiments"].as_sequence().unwrap().len(), 2);
}

#[test]
fn max_wall_hours_counts_from_the_start_and_no_resume_extends_it() {
    let repo = two_step_run("wall");
    repo.run(&["optimize.yaml"]).expect_code(0);
    // The run started years ago.
    let path = repo.path().join(".optimize/wall/experiment-log.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let started = text
        .lines()
        .find(|l| l.starts_with("started_at:"))
        .unwrap()
        .to_string();
    std::fs::write(
        &path,
        text.replace(&started, "started_at: '2020-01-01T00:00:00Z'"),
    )
    .unwrap();
    repo.run(&["optimize.yaml", "--max-iterations", "5"])
        .expect_code(0)
        .stdout_has("max_wall_hours (72) reached");
    let log = common::log_yaml(repo.path(), "wall");
    assert_eq!(
        log["experiments"].as_sequence().unwrap().len(),
        1,
        "nothing more ran"
    );
}
