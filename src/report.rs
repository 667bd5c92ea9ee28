//! report.md and progress.svg: what a user reads in the morning.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::git::Repo;
use crate::log::{ExperimentLog, Outcome, metric_value};
use crate::spec::Spec;
use crate::state::StateDir;
use crate::text::{fmt_num, fmt_usd, one_line};

mod ablation;
mod confirmation;

/// Lines of each kept change's diff shown in the report.
const DIFF_LINES: usize = 60;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Chart(#[from] crate::chart::ChartError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot commit the report on the branch: {0}")]
    Git(String),
}

pub struct Written {
    pub report: PathBuf,
    pub chart: PathBuf,
}

/// The report and its chart committed on top of the best commit, as
/// `optimize/<name>-report.md` and `optimize/<name>-progress.svg`, and the
/// optimization branch moved to that commit; its parent stays the best.
pub fn commit_on_branch(
    repo: &Repo,
    log: &ExperimentLog,
    spec: &Spec,
    written: &Written,
) -> Result<git2::Oid, ReportError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ReportError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    let chart_name = format!("{}-progress.svg", spec.name);
    let report = String::from_utf8_lossy(&read(&written.report)?)
        .replace("](progress.svg)", &format!("]({chart_name})"));
    let chart = read(&written.chart)?;
    let best = log
        .best
        .commit
        .as_deref()
        .and_then(Repo::parse_oid)
        .ok_or_else(|| ReportError::Git("the log names no best commit".into()))?;
    let report_path = format!("optimize/{}-report.md", spec.name);
    let chart_path = format!("optimize/{chart_name}");
    let files: [(&str, &[u8]); 2] = [(&report_path, report.as_bytes()), (&chart_path, &chart)];
    let message = format!("optimize({}): report of run {}", spec.name, log.run_id);
    let git = |e: crate::git::GitError| ReportError::Git(e.to_string());
    let commit = repo.commit_files(best, &files, &message).map_err(git)?;
    repo.set_branch(&crate::names::opt_branch(&spec.name), commit)
        .map_err(git)?;
    Ok(commit)
}

/// Writes both files into the state dir.
pub fn write(
    log: &ExperimentLog,
    spec: &Spec,
    spec_file: &Path,
    state: &StateDir,
    repo: Option<&Repo>,
) -> Result<Written, ReportError> {
    let write = |path: PathBuf, text: &str| {
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .map_err(|source| ReportError::Write { path, source })
    };
    write(state.chart_path(), &crate::chart::render(log, spec)?)?;
    write(state.report_path(), &render(log, spec, spec_file, repo))?;
    Ok(Written {
        report: state.report_path(),
        chart: state.chart_path(),
    })
}

/// Active hours and experiments per hour.
pub fn pace(log: &ExperimentLog) -> (f64, Option<f64>) {
    let hours = log.run.active_seconds.unwrap_or(0.0) / 3600.0;
    let rate = (hours > 0.0).then(|| log.experiments.len() as f64 / hours);
    (hours, rate)
}

pub fn render(log: &ExperimentLog, spec: &Spec, spec_file: &Path, repo: Option<&Repo>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# optimize report: {}\n", spec.name);
    let _ = writeln!(out, "{}\n", one_line(&spec.description, 300));
    summary(&mut out, log, spec);
    metrics_table(&mut out, log, spec);
    kept_changes(&mut out, log, spec, repo);
    render_intervals(&mut out, log, spec);
    confirmation::held_out(&mut out, log, spec);
    ablation::table(&mut out, log, spec);
    success_per_category(&mut out, log);
    failures(&mut out, log, spec);
    variants(&mut out, log, spec);
    cost_and_time(&mut out, log, spec);
    waiting_and_merging(&mut out, log, spec, spec_file);
    out
}

fn summary(out: &mut String, log: &ExperimentLog, spec: &Spec) {
    let primary = &spec.metric.primary.name;
    let num = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "?".into());
    let _ = writeln!(out, "## Summary\n");
    let (hours, rate) = pace(log);
    let base = log.baseline.metric(primary);
    let best = log.result(primary);
    let _ = writeln!(out, "- run `{}`, started {}", log.run_id, log.started_at);
    if let Some(stop) = &log.run.stopped_because {
        let _ = writeln!(out, "- stopped because {stop}");
    }
    let _ = writeln!(
        out,
        "- primary `{primary}` ({}): baseline {} -> best {} (iteration {})",
        spec.metric.primary.direction.as_str(),
        num(base),
        num(best),
        log.best.iteration
    );
    let _ = writeln!(
        out,
        "- {} experiments: {}",
        log.experiments.len(),
        log.outcome_summary()
    );
    let _ = writeln!(
        out,
        "- {:.2} active hours{}",
        hours,
        rate.map(|r| format!(", {r:.1} experiments per hour"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "\n![progress](progress.svg)\n");
}

fn metrics_table(out: &mut String, log: &ExperimentLog, spec: &Spec) {
    let num = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "?".into());
    let _ = writeln!(out, "## Metrics: baseline -> best\n");
    let _ = writeln!(out, "| metric | role | baseline | best | change |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let metrics = spec.metric_roles();
    for (name, role) in metrics {
        let b = log.baseline.metric(&name);
        let x = log.result(&name);
        let change = match (b, x) {
            (Some(b), Some(x)) => crate::decide::format_delta(x - b),
            _ => "?".into(),
        };
        let _ = writeln!(
            out,
            "| {name} | {role} | {} | {} | {change} |",
            num(b),
            num(x)
        );
    }
}

fn kept_changes(out: &mut String, log: &ExperimentLog, spec: &Spec, repo: Option<&Repo>) {
    let primary = &spec.metric.primary.name;
    let _ = writeln!(out, "\n## Kept changes, in order\n");
    let kept: Vec<_> = log.kept().collect();
    if kept.is_empty() {
        let _ = writeln!(out, "Nothing was kept.");
    }
    for e in kept {
        let _ = writeln!(out, "### {}\n", e.headline(120, Some(primary)));
        if let Some(l) = &e.learnings {
            let _ = writeln!(out, "{l}\n");
        }
        if let Some(line) = interval_line(e, spec) {
            let _ = writeln!(out, "{line}\n");
        }
        if spec.measurement.per_case {
            let _ = writeln!(out, "Per-case regressions: {}\n", e.regressions_text(50));
        }
        if let (Some(repo), Some(commit)) = (repo, e.commit.as_deref().and_then(Repo::parse_oid))
            && let Ok(c) = repo.repo.find_commit(commit)
            && let Ok(parent) = c.parent_id(0)
            && let Ok(diff) = repo.diff_text(parent, commit)
        {
            let lines: Vec<&str> = diff.lines().collect();
            let _ = writeln!(out, "```diff");
            for l in lines.iter().take(DIFF_LINES) {
                let _ = writeln!(out, "{l}");
            }
            if lines.len() > DIFF_LINES {
                let _ = writeln!(
                    out,
                    "... ({} more lines: git show {commit})",
                    lines.len() - DIFF_LINES
                );
            }
            let _ = writeln!(out, "```\n");
        }
    }
}

fn success_per_category(out: &mut String, log: &ExperimentLog) {
    let _ = writeln!(out, "## Success per category\n");
    let _ = writeln!(out, "| category | tried | kept | success |");
    let _ = writeln!(out, "|---|---|---|---|");
    let mut cats: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in &log.experiments {
        let c = cats.entry(e.category.as_str()).or_default();
        c.0 += 1;
        c.1 += usize::from(e.outcome.is_kept());
    }
    for (cat, (tried, kept)) in &cats {
        let _ = writeln!(
            out,
            "| {cat} | {tried} | {kept} | {:.0}% |",
            *kept as f64 * 100.0 / *tried as f64
        );
    }
}

fn failures(out: &mut String, log: &ExperimentLog, spec: &Spec) {
    let _ = writeln!(out, "\n## Failures, by reason\n");
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &log.experiments {
        let reason = match &e.outcome {
            Outcome::Degenerate => {
                let failed: Vec<String> = spec
                    .metric
                    .degenerate_gates
                    .iter()
                    .filter(|g| {
                        e.gates
                            .as_ref()
                            .and_then(|m| metric_value(m, &g.name))
                            .is_none_or(|v| !g.check.op.holds(v, g.check.threshold))
                    })
                    .map(|g| format!("{} {}", g.name, g.check))
                    .collect();
                format!("degenerate: failed gate {}", failed.join(", "))
            }
            Outcome::Timeout => "timeout: the measurement exceeded timeout_seconds".to_string(),
            Outcome::Error => {
                let msg = e.error_message.as_deref().unwrap_or("unknown");
                let kind = if msg.contains("outside its scope") {
                    "changed files outside its scope"
                } else if msg.contains("measurement command") || msg.contains("measurement output")
                {
                    "the measurement failed"
                } else if msg.contains("apply command") || msg.contains("patch") {
                    "the change could not be applied"
                } else {
                    "other error"
                };
                format!("error: {kind}")
            }
            Outcome::RunnerUpReverted => "runner-up combination not better".to_string(),
            _ => continue,
        };
        let detail = e
            .error_message
            .as_deref()
            .map(|m| format!(": {}", one_line(m, 140)))
            .unwrap_or_default();
        failures.entry(reason).or_default().push(format!(
            "#{} {}{detail}",
            e.iteration,
            one_line(&e.hypothesis, 80)
        ));
    }
    if failures.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for (reason, items) in &failures {
        let _ = writeln!(out, "- **{reason}** ({})", items.len());
        for i in items {
            let _ = writeln!(out, "  - {i}");
        }
    }
}

fn variants(out: &mut String, log: &ExperimentLog, spec: &Spec) {
    if !spec.implementer.variants.is_empty() {
        let _ = writeln!(out, "\n## Variants\n");
        let _ = writeln!(
            out,
            "How often each implementer variant's implementation was the one that counted, and what it cost (`implementer.selection: {}`).\n",
            match spec.implementer.selection {
                crate::spec::Selection::All => "all",
                crate::spec::Selection::Bandit => "bandit",
            }
        );
        for line in crate::variants::ranking_lines(spec, log) {
            let _ = writeln!(out, "- {line}");
        }
    }
}

fn cost_and_time(out: &mut String, log: &ExperimentLog, spec: &Spec) {
    let (hours, _) = pace(log);
    let _ = writeln!(out, "\n## Cost and time\n");
    let judge = log.best.total_judge_cost_usd;
    let other = log.run.total_llm_cost_usd;
    if judge.is_none() && other.is_none() {
        let _ = writeln!(out, "- model cost: none (no model was called)");
    } else {
        let _ = writeln!(
            out,
            "- model cost: {} in total (hypotheses, edits and learnings {}; judge {})",
            fmt_usd(log.total_cost_usd()),
            fmt_usd(other.unwrap_or(0.0)),
            fmt_usd(judge.unwrap_or(0.0))
        );
        if !log.run.cost_unknown_for_models.is_empty() {
            let _ = writeln!(
                out,
                "- cost unknown for models without a price: {}",
                log.run.cost_unknown_for_models.join(", ")
            );
        }
    }
    let _ = writeln!(out, "- active time: {:.2} hours", hours);
    if let Some(occupancy) = crate::occupancy::Occupancy::of(spec, log) {
        let _ = writeln!(out, "- slots: {occupancy}");
    }
    let timings: Vec<&crate::log::Timings> = log
        .experiments
        .iter()
        .filter_map(|e| e.record.timings.as_ref())
        .collect();
    let queued: f64 = timings.iter().filter_map(|t| t.queue_wait_s).sum();
    if timings.iter().any(|t| t.queue_wait_s.is_some()) {
        let measuring: f64 = timings.iter().filter_map(|t| t.measure_s).sum();
        let _ = writeln!(
            out,
            "- measurements (Slurm): {:.1} s running, {:.1} s waiting in the queue",
            (measuring - queued).max(0.0),
            queued
        );
    }
}

fn waiting_and_merging(out: &mut String, log: &ExperimentLog, spec: &Spec, spec_file: &Path) {
    let _ = writeln!(out, "\n## Waiting for dependency approval\n");
    match crate::wrapup::render_waiting(log, spec_file, true) {
        Some(waiting) => *out += &waiting,
        None => {
            let _ = writeln!(out, "Nothing is waiting.");
        }
    }

    let branch = crate::names::opt_branch(&spec.name);
    let _ = writeln!(out, "\n## Merging\n");
    let _ = writeln!(
        out,
        "The kept changes are one commit each on `{branch}`, on top of the start commit.\n\n```sh\ngit log --oneline {branch}     # review\ngit diff HEAD...{branch}       # everything at once\ngit merge {branch}             # take it\n```\n\nEvery other experiment's commit is on its `optimize-exp/{}/exp-NNN` branch (`git show` it).",
        spec.name
    );
}

/// `method: statistical`: the change with its interval and samples.
fn interval_line(e: &crate::log::Experiment, spec: &Spec) -> Option<String> {
    let [lo, hi] = e.record.primary_ci?;
    let level = spec.measurement.stability.comparison.confidence() * 100.0;
    Some(format!(
        "Change of {} {}, {level:.0}% interval [{}, {}], {} samples; confidence the gain clears the threshold: {:.1}%.",
        spec.metric.primary.name,
        e.primary_delta.as_deref().unwrap_or("?"),
        fmt_num((lo * 1e4).round() / 1e4),
        fmt_num((hi * 1e4).round() / 1e4),
        e.sample_count.unwrap_or(0),
        e.record.confidence.unwrap_or(0.0) * 100.0
    ))
}

/// Every experiment with an interval, and the noise the best's samples show.
fn render_intervals(out: &mut String, log: &ExperimentLog, spec: &Spec) {
    let with: Vec<&crate::log::Experiment> = log
        .experiments
        .iter()
        .filter(|e| e.record.primary_ci.is_some())
        .collect();
    if with.is_empty() {
        return;
    }
    let primary = &spec.metric.primary.name;
    let level = spec.measurement.stability.comparison.confidence() * 100.0;
    let _ = writeln!(out, "## Changes with their intervals\n");
    if let Some(noise) = best_noise(log, primary) {
        let _ = writeln!(
            out,
            "Noise of {primary} (the best's {} samples): sd {} ({:.2}%).\n",
            noise.runs,
            fmt_num((noise.sd * 1e4).round() / 1e4),
            noise.relative() * 100.0
        );
    }
    let _ = writeln!(
        out,
        "| # | hypothesis | outcome | change | {level:.0}% interval | samples | test |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for e in with {
        let [lo, hi] = e.record.primary_ci.unwrap_or([f64::NAN; 2]);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | [{}, {}] | {} | {} |",
            e.iteration,
            one_line(&e.hypothesis, 60).replace('|', "/"),
            e.outcome,
            e.primary_delta.as_deref().unwrap_or("?"),
            fmt_num((lo * 1e4).round() / 1e4),
            fmt_num((hi * 1e4).round() / 1e4),
            e.sample_count.unwrap_or(0),
            e.record.stat_verdict.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(out);
}

/// The spread of the best's samples of `metric` (two or more).
pub fn best_noise(log: &ExperimentLog, metric: &str) -> Option<crate::decide::stats::Noise> {
    let samples = log.best.samples.as_ref()?.get(metric)?;
    (samples.len() >= 2).then(|| crate::decide::stats::Noise::of(samples))
}
