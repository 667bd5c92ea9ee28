//! `optimize validate`: the spec's checks, then the baseline measured
//! `repeat_count` times (or the full protocol) in a temporary worktree that is
//! always removed, with the noise those runs show.

use std::path::Path;
use std::sync::Arc;

use crate::cli::ValidateArgs;
use crate::commands::{Workspace, display_path, fmt_num, runtime};
use crate::decide;
use crate::decide::stats::Noise;
use crate::error::CliError;
use crate::events::{Events, PlainReporter, TracingSink};
use crate::process::Cancel;
use crate::run::{BaselineError, BaselineSite, measure_baseline};
use crate::spec::{Aggregation, ComparisonMethod, LoadedSpec, MetricType, StabilityMode};
use crate::{names, signals};

mod concurrency;
mod shortcuts;
use concurrency::{all_of, report_concurrency};
use shortcuts::report_shortcuts;

/// An agent command implementer as it will run: its command line, the
/// environment names it gets (and whether they are set), the paths the
/// sandbox lets it write.
fn implementer_summary(spec: &crate::spec::Spec) -> Option<String> {
    let command = spec.implementer.command.as_deref()?;
    if spec.implementer.kind != crate::spec::ImplementerKind::Command {
        return None;
    }
    let agent = spec.agent();
    let mut text = format!(
        "implementer: {}\n  command: {command}\n",
        agent.map_or("a command".to_string(), |a| format!(
            "{} (preset)",
            a.name()
        ))
    );
    let state = Path::new(".optimize").join(&spec.name);
    let preset = agent.map(|a| a.preset(&spec.agent_target(), &state));
    let mut names: Vec<String> = spec.implementer.env.clone();
    if let Some(p) = &preset {
        names.extend(p.key_names());
    }
    if !names.is_empty() {
        let listed: Vec<String> = names
            .iter()
            .map(|n| {
                let set = std::env::var_os(n).is_some_and(|v| !v.is_empty());
                format!("{n} ({})", if set { "set" } else { "not set" })
            })
            .collect();
        text += &format!("  keys passed: {}\n", listed.join(", "));
    }
    if let Some(p) = &preset
        && !p.env.is_empty()
    {
        let set: Vec<&str> = p.env.iter().map(|(k, _)| k.as_str()).collect();
        text += &format!("  environment set: {}\n", set.join(", "));
    }
    let sandboxed = !matches!(spec.sandbox.implementer, crate::spec::SandboxMode::Off);
    if sandboxed {
        let mut writable = vec![
            "its worktree".to_string(),
            "a private TMPDIR under .optimize/".into(),
        ];
        let extra = spec
            .sandbox
            .writable
            .iter()
            .map(|w| crate::sandbox::writable_path(w))
            .chain(
                preset
                    .iter()
                    .flat_map(|p| p.state.iter().map(|s| crate::agent::expand_home(s))),
            );
        for path in extra {
            let note = if path.exists() {
                ""
            } else {
                " (created before it runs)"
            };
            writable.push(format!("{}{note}", path.display()));
        }
        text += &format!(
            "  sandbox ({}) writable: {}\n",
            format!("{:?}", spec.sandbox.implementer).to_lowercase(),
            writable.join(", ")
        );
    } else {
        text += "  sandbox: off\n";
    }
    if let Some(p) = &preset
        && !p.debris.is_empty()
    {
        text += &format!(
            "  leaves {} in the worktree: kept aside in experiments/NNN/agent-files/, never committed\n",
            p.debris
        );
    }
    Some(text.trim_end().to_string())
}

pub fn run(repo_arg: Option<&Path>, args: &ValidateArgs) -> Result<(), CliError> {
    let loaded = check(repo_arg, args)?;
    if args.no_measure {
        return Ok(());
    }
    let spec = &loaded.spec;
    let ws = Workspace::open(repo_arg, &loaded)?;
    let head = ws.repo.head_commit()?;
    ws.state.ensure().map_err(|e| {
        CliError::failure(format!("cannot create {}", ws.state.dir.display())).caused_by(e)
    })?;
    // Enough runs to see the noise: the full protocol, and at least repeat_count.
    let runs = spec
        .measurement
        .stability
        .runs()
        .max(spec.measurement.stability.repeat_count)
        .max(2);
    crate::outln!(
        "measuring the baseline at {} ({runs} {}{}) ...",
        &head.to_string()[..10],
        crate::text::plural(u64::from(runs), "run"),
        if runs > 1 {
            format!(", {:?}", spec.measurement.stability.aggregation).to_lowercase()
        } else {
            String::new()
        }
    );
    if spec.execution.runner == crate::spec::RunnerKind::Slurm {
        check_slurm(&ws.repo.root)?;
    }
    let out_dir = ws.state.dir.join("validate");
    let measured = measure(&ws, &loaded, head, runs, &out_dir)?;
    show_metrics_and_gates(&loaded, &measured, runs, &out_dir)?;
    report_noise(&loaded, &measured);
    report_concurrency(&ws, &loaded, head, runs, &out_dir, &measured)?;
    report_shortcuts(&ws, &loaded, head, &out_dir, &measured)?;
    crate::outln!(
        "baseline ok: every gate passes; the worktree was removed and nothing else changed"
    );
    Ok(())
}

/// Everything checkable without measuring: the spec, what a run needs
/// before its baseline, the sandbox; then the implementer and cost.
fn check(repo_arg: Option<&Path>, args: &ValidateArgs) -> Result<LoadedSpec, CliError> {
    let mut loaded = LoadedSpec::parse_file(&args.spec)?;
    let checked = loaded.validate();
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    checked?;
    let spec = &loaded.spec;
    crate::outln!(
        "{}: valid spec \"{}\" ({} {} {})",
        args.spec.display(),
        spec.name,
        match spec.metric.primary.direction {
            crate::spec::Direction::Maximize => "maximize",
            crate::spec::Direction::Minimize => "minimize",
        },
        match spec.metric.primary.kind {
            MetricType::Hard => "hard metric",
            MetricType::Judge => "judge score",
        },
        spec.metric.primary.name
    );
    crate::child_env::protect([spec.llm.api_key_env.clone()]);
    crate::run::preflight(&loaded)?;
    for note in crate::sandbox::check(spec).map_err(CliError::usage)? {
        eprintln!("warning: {note}");
    }
    if let Some(text) = implementer_summary(spec) {
        crate::outln!("{text}");
    }
    let start = repo_arg.unwrap_or_else(|| Path::new("."));
    if let Ok(repo) = crate::git::Repo::discover(start)
        && let Some(estimate) = crate::estimate::estimate(spec, &repo.root)
    {
        crate::outln!("{estimate}");
    }

    Ok(loaded)
}

/// The baseline measured `runs` times in a worktree that is always removed.
fn measure(
    ws: &Workspace,
    loaded: &LoadedSpec,
    head: git2::Oid,
    runs: u32,
    out_dir: &Path,
) -> Result<crate::measure::Measured, CliError> {
    let mut all = measure_at_once(ws, loaded, head, runs, 1, out_dir)?;
    Ok(all.remove(0))
}

/// `copies` baseline measurements of `runs` runs each, all at once, each in
/// its own worktree (one copy: the baseline alone).
fn measure_at_once(
    ws: &Workspace,
    loaded: &LoadedSpec,
    head: git2::Oid,
    runs: u32,
    copies: usize,
    out_dir: &Path,
) -> Result<Vec<crate::measure::Measured>, CliError> {
    let spec = &loaded.spec;
    let runner = crate::run::runner_for(spec, &ws.repo.root, &Events::none(), None);
    let events = Events::new(vec![Arc::new(TracingSink)]);
    let rt = runtime()?;
    let measurements = rt.block_on(async {
        let (handle, cancel) = Cancel::new();
        let signal_events = Events::new(vec![Arc::new(PlainReporter::new())]);
        signals::install(handle, signal_events, None)
            .map_err(|e| CliError::failure("cannot listen for signals").caused_by(e))?;
        let sites = (0..copies).map(|copy| {
            let label = names::validate_label(std::process::id());
            BaselineSite {
                repo: &ws.repo,
                state: &ws.state,
                spec,
                commit: head,
                label: if copies == 1 {
                    label
                } else {
                    format!("{label}-{copy}")
                },
                out_dir: if copies == 1 {
                    out_dir.to_path_buf()
                } else {
                    out_dir.join(format!("at-once-{copy}"))
                },
                cancel: &cancel,
                events: &events,
                runs,
                runner: &runner,
                shortcut: None,
            }
        });
        Ok::<_, CliError>(all_of(sites.map(measure_baseline).collect()).await)
    })?;
    measurements
        .into_iter()
        .map(|measurement| match measurement {
            Ok(m) => Ok(m.measured),
            Err(BaselineError::Interrupted) => Err(CliError::interrupted(
                "validate was interrupted; the baseline worktree was removed",
            )),
            Err(BaselineError::Measure { failure, out_dir }) => {
                Err(
                    CliError::failure(format!("baseline measurement failed: {failure}")).hint(
                        format!("the command's output is in {}", display_path(&out_dir)),
                    ),
                )
            }
            Err(e) => Err(CliError::from(crate::run::RunError::Baseline(e))),
        })
        .collect()
}

/// Each metric with its role, then each gate: pass or FAIL (a failed gate
/// is an error: a run would stop there).
fn show_metrics_and_gates(
    loaded: &LoadedSpec,
    measured: &crate::measure::Measured,
    runs: u32,
    out_dir: &Path,
) -> Result<(), CliError> {
    let spec = &loaded.spec;
    crate::outln!("metrics ({:.1}s):", measured.elapsed.as_secs_f64());
    // `optimize plan` estimates a run's time from this.
    let summary = serde_json::json!({
        "seconds_per_run": measured.elapsed.as_secs_f64() / f64::from(runs.max(1)),
        "runs": runs,
        "measured_at": crate::clock::now_iso(),
    });
    let _ = crate::fsutil::write_atomic(
        &out_dir.join("summary.json"),
        summary.to_string().as_bytes(),
    );
    let width = measured.metrics.keys().map(String::len).max().unwrap_or(0);
    let values: Vec<String> = measured.metrics.values().map(|v| fmt_num(*v)).collect();
    let vwidth = values.iter().map(String::len).max().unwrap_or(0);
    for ((name, _), value) in measured.metrics.iter().zip(&values) {
        let role = role_of(loaded, name);
        let role = if role.is_empty() {
            String::new()
        } else {
            format!("  ({role})")
        };
        crate::outln!("  {name:<width$}  {value:>vwidth$}{role}");
    }
    if spec.metric.primary.kind == MetricType::Judge {
        crate::outln!(
            "  {} is a judge score: it is measured by the judge model during a run, not by validate",
            spec.metric.primary.name
        );
    }
    let gates = decide::evaluate_gates(&spec.metric.degenerate_gates, &measured.metrics);
    crate::outln!("gates:");
    let width = gates.iter().map(|g| g.name.len()).max().unwrap_or(0);
    for g in &gates {
        crate::outln!(
            "  {}  {:<width$}  {} {}",
            if g.passed { "pass" } else { "FAIL" },
            g.name,
            g.value.map(fmt_num).unwrap_or_else(|| "missing".into()),
            g.check
        );
    }
    let failed: Vec<&str> = gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| g.name.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(CliError::failure(format!(
            "the baseline fails its own {}: {}; a run would stop here",
            crate::text::plural(failed.len() as u64, "gate"),
            failed.join(", ")
        ))
        .hint("fix the project or the gate's check before starting a run"));
    }
    Ok(())
}

/// The primary's spread over the runs, what the configured protocol can
/// tell apart, and a warning when its threshold sits inside the noise.
fn report_noise(loaded: &LoadedSpec, measured: &crate::measure::Measured) {
    let spec = &loaded.spec;
    let primary = &spec.metric.primary.name;
    if spec.metric.primary.kind != MetricType::Hard {
        return;
    }
    let values = measured.values_of(primary);
    if values.len() < 2 {
        return;
    }
    let noise = Noise::of(&values);
    let stability = &spec.measurement.stability;
    let comparison = &stability.comparison;
    let per_side = match (comparison.method(), stability.mode) {
        (ComparisonMethod::Statistical, _) => comparison.max_samples(),
        (_, StabilityMode::Ladder) => stability.confirmation_repeats(),
        _ => stability.runs(),
    } as usize;
    let median = stability.aggregation == Aggregation::Median;
    crate::outln!(
        "noise ({} runs): {primary} sd {} ({:.2}% of {})",
        noise.runs,
        fmt_num(noise.sd),
        noise.relative() * 100.0,
        fmt_num(noise.mean)
    );
    let detectable = noise.detectable(per_side, median);
    crate::outln!(
        "  the configured protocol ({per_side} {} a side) reliably detects changes of {} ({:.2}%) or more",
        crate::text::plural(per_side as u64, "run"),
        fmt_num(detectable),
        detectable / noise.mean.abs().max(f64::MIN_POSITIVE) * 100.0
    );
    // The thresholds the run's decisions will use.
    let thresholds = crate::decide::snapshot::rules_for(spec).thresholds;
    let (threshold, key) = match comparison.method() {
        ComparisonMethod::Statistical => return,
        ComparisonMethod::Relative | ComparisonMethod::Paired => (
            thresholds.relative_threshold * noise.mean.abs(),
            "comparison.relative_threshold",
        ),
        ComparisonMethod::Absolute => (thresholds.absolute(false), "noise_threshold"),
    };
    let false_keeps = noise.false_keep_rate(threshold, per_side, median);
    if false_keeps > 0.01 {
        eprintln!(
            "warning: {key} ({}) sits inside the noise: a change that does nothing clears it in about {:.0}% of comparisons",
            fmt_num(threshold),
            false_keeps * 100.0
        );
        eprintln!(
            "hint: use measurement.stability.comparison.method: statistical (samples until the change is clear, against the best re-measured beside it), or raise {key} to at least {}",
            fmt_num(noise.of_difference(per_side, median) * 2.33)
        );
    }
}

fn role_of(loaded: &LoadedSpec, name: &str) -> String {
    let spec = &loaded.spec;
    let mut roles = Vec::new();
    if spec.metric.primary.kind == MetricType::Hard && spec.metric.primary.name == name {
        roles.push(format!("primary, {:?}", spec.metric.primary.direction).to_lowercase());
    }
    if spec.metric.degenerate_gates.iter().any(|g| g.name == name) {
        roles.push("gate".to_string());
    }
    if spec.metric.diagnostics.iter().any(|d| d.name == name) {
        roles.push("diagnostic".to_string());
    }
    roles.join(", ")
}

/// What can be checked from here before jobs go to Slurm: its client
/// commands, and a reminder that the nodes must see the repository.
fn check_slurm(repo_root: &Path) -> Result<(), CliError> {
    for tool in ["sbatch", "squeue", "scancel"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        if !found {
            return Err(CliError::usage(format!(
                "execution.runner is slurm, but `{tool}` is not on PATH"
            ))
            .hint("install the Slurm client (Debian: slurm-client) or run where it is installed"));
        }
    }
    crate::outln!(
        "slurm: jobs run in this repository's worktrees ({}): the compute nodes must see it at the same path (a shared file system)",
        repo_root.display()
    );
    Ok(())
}
