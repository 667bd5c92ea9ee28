//! `optimize status`: best vs baseline, outcomes, backlog, lock holder.

use std::path::Path;

use serde_json::{Value, json};

use crate::cli::StatusArgs;
use crate::commands::{Workspace, display_path, fmt_num};
use crate::error::CliError;
use crate::log::{DepStatus, ExperimentLog};
use crate::run::Standing;
use crate::runner::jobs::{JobBook, JobRecord};
use crate::spec::{Direction, LoadedSpec};

pub fn run(repo_arg: Option<&Path>, args: &StatusArgs) -> Result<(), CliError> {
    // Status reads what is there; it does not hold the spec to today's rules.
    let loaded = LoadedSpec::parse_file(&args.spec)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    let log_path = ws.state.log_path();
    let holder = ws.state.lock_holder();
    let log = if log_path.exists() {
        Some(ExperimentLog::load(&log_path)?)
    } else {
        None
    };
    let mut report = Status::new(&loaded, log.as_ref(), holder.as_ref(), &log_path);
    // Jobs only mean something while a run holds the lock.
    if holder.is_some() {
        add_jobs(&mut report, &JobBook::load(&ws.state.slurm_jobs_path()));
    }
    add_steering(
        &mut report,
        log.as_ref(),
        &crate::steering::pending(&ws.state.dir, true),
    );
    if args.json {
        crate::commands::print_json(&report.json);
    } else {
        crate::out!("{}", report.text);
    }
    Ok(())
}

/// What `optimize status --json` prints for a run: the page of
/// `optimize serve` shows the same.
pub(super) fn json_of_run(
    loaded: &LoadedSpec,
    log: Option<&ExperimentLog>,
    holder: Option<&crate::state::Holder>,
    log_path: &Path,
) -> Value {
    Status::new(loaded, log, holder, log_path).json
}

struct Status {
    json: Value,
    text: String,
}

impl Status {
    fn new(
        loaded: &LoadedSpec,
        log: Option<&ExperimentLog>,
        holder: Option<&crate::state::Holder>,
        log_path: &Path,
    ) -> Status {
        let spec = &in_force(&loaded.spec, log);
        let lock_json = holder.map(|h| json!({"pid": h.pid, "host": h.host, "since": h.since}));
        let running_line = match holder {
            Some(h) => format!("running ({h})"),
            None => "no run holds the lock".to_string(),
        };
        let Some(log) = log else {
            return Status {
                json: json!({
                    "spec": spec.name,
                    "started": false,
                    "log": log_path.display().to_string(),
                    "running": holder.is_some(),
                    "lock_holder": lock_json,
                }),
                text: format!(
                    "{}: not started (no log at {})\n  {running_line}\n  start it with: optimize {}\n",
                    spec.name,
                    display_path(log_path),
                    loaded.file.display()
                ),
            };
        };
        let f = Figures::of(spec, log);
        let json = json_of(spec, log, &f, log_path, holder.is_some(), lock_json);
        let text = text_of(spec, log, &f, &running_line);
        Status { json, text }
    }
}

/// What both views show of a started run.
struct Figures {
    baseline: Option<f64>,
    best: Option<f64>,
    delta: Option<f64>,
    improvement: Option<f64>,
    direction: &'static str,
    outcomes: Vec<(String, usize)>,
    needs_approval: usize,
    hours: f64,
    rate: Option<f64>,
    names: Vec<(String, &'static str)>,
    stop: Value,
}

impl Figures {
    fn of(spec: &crate::spec::Spec, log: &ExperimentLog) -> Figures {
        let primary = &spec.metric.primary;
        let baseline = log.baseline.metric(&primary.name).or(primary.baseline);
        let best = log.result(&primary.name);
        let delta = match (baseline, best) {
            (Some(b), Some(x)) => Some(x - b),
            _ => None,
        };
        let improvement = match (baseline, best) {
            (Some(b), Some(x)) => Some(primary.direction.improvement(x, b)),
            _ => None,
        };
        let direction = match primary.direction {
            Direction::Maximize => "maximize",
            Direction::Minimize => "minimize",
        };
        let outcomes = log.outcome_counts();
        let needs_approval = log
            .hypothesis_backlog
            .iter()
            .filter(|h| h.dep_status == DepStatus::NeedsApproval)
            .count();
        let (hours, rate) = crate::report::pace(log);
        let names = spec.metric_roles();
        let stop = stop_conditions(spec, log, hours);
        Figures {
            baseline,
            best,
            delta,
            improvement,
            direction,
            outcomes,
            needs_approval,
            hours,
            rate,
            names,
            stop,
        }
    }
}

fn json_of(
    spec: &crate::spec::Spec,
    log: &ExperimentLog,
    f: &Figures,
    log_path: &Path,
    running: bool,
    lock_json: Option<Value>,
) -> Value {
    let primary = &spec.metric.primary;
    let (baseline, best, delta, improvement, direction) =
        (f.baseline, f.best, f.delta, f.improvement, f.direction);
    let (needs_approval, hours, rate, names, stop) =
        (f.needs_approval, f.hours, f.rate, &f.names, &f.stop);
    let outcome_json: serde_json::Map<String, Value> = f
        .outcomes
        .iter()
        .map(|(o, n)| (o.clone(), json!(n)))
        .collect();
    let metrics: Vec<Value> = names
        .iter()
        .map(|(n, role)| {
            json!({
                "name": n,
                "role": role,
                "baseline": log.baseline.metric(n),
                "best": log.result(n),
            })
        })
        .collect();
    json!({
        "schema": 1,
        "spec": spec.name,
        "started": true,
        "metrics": metrics,
        "elapsed_hours": (hours * 1000.0).round() / 1000.0,
        "experiments_per_hour": rate.map(|r| (r * 10.0).round() / 10.0),
        "cost_usd": log.total_cost_usd(),
        "measurements": log.run.measurements,
        "occupancy": crate::occupancy::Occupancy::of(spec, log),
        "noise": crate::report::best_noise(log, &primary.name).map(|n| json!({
            "metric": primary.name, "samples": n.runs, "sd": n.sd, "relative_sd": n.relative(),
        })),
        "stop_conditions": stop,
        "stopped_because": log.run.stopped_because,
        "run_id": log.run_id,
        "started_at": log.started_at,
        "log": log_path.display().to_string(),
        "running": running,
        "lock_holder": lock_json,
        "primary": {
            "name": primary.name,
            "direction": direction,
            "baseline": baseline,
            "best": best,
            "best_iteration": log.best.iteration,
            "delta": delta,
            "improvement": improvement,
        },
        "experiments": log.experiments.len(),
        "outcomes": outcome_json,
        "backlog": log.hypothesis_backlog.len(),
        "backlog_needs_approval": needs_approval,
        "steering": log.run.steering,
        "total_judge_cost_usd": log.best.total_judge_cost_usd,
        "variants": crate::variants::ranking(spec, log).iter().map(|s| json!({
            "name": s.name, "tried": s.tried, "chosen": s.chosen, "kept": s.kept,
            "mean_kept_delta": s.mean_kept_delta(), "cost_usd": s.cost_usd,
            "cost_per_kept_usd": s.cost_per_kept(),
        })).collect::<Vec<_>>(),
    })
}

fn text_of(
    spec: &crate::spec::Spec,
    log: &ExperimentLog,
    f: &Figures,
    running_line: &str,
) -> String {
    let primary = &spec.metric.primary;
    let (baseline, best, delta, direction) = (f.baseline, f.best, f.delta, f.direction);
    let (outcomes, needs_approval, hours, rate, names, stop) = (
        &f.outcomes,
        f.needs_approval,
        f.hours,
        f.rate,
        &f.names,
        &f.stop,
    );
    let num = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "?".into());
    let mut text = format!(
        "{} (run {}, started {})\n",
        spec.name, log.run_id, log.started_at
    );
    text += &format!("  {running_line}\n");
    text += &format!(
        "  {} ({direction}): baseline {} -> best {} at iteration {}",
        primary.name,
        num(baseline),
        num(best),
        log.best.iteration
    );
    if let (Some(d), Some(b)) = (delta, baseline) {
        let sign = if d >= 0.0 { "+" } else { "" };
        text += &format!(" ({sign}{}", fmt_num(d));
        if b != 0.0 {
            text += &format!(", {sign}{:.1}%", d / b.abs() * 100.0);
        }
        text += ")";
    }
    text += "\n";
    let counts: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {n}")).collect();
    text += &format!(
        "  experiments: {}{}\n",
        log.experiments.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        }
    );
    text += &format!("  backlog: {} hypotheses", log.hypothesis_backlog.len());
    if needs_approval > 0 {
        text += &format!(" ({needs_approval} waiting for dependency approval)");
    }
    text += "\n";
    if let Some(n) = crate::report::best_noise(log, &primary.name) {
        text += &format!(
            "  noise: {} sd {} ({:.2}%) over the best's {} samples\n",
            primary.name,
            fmt_num((n.sd * 1e4).round() / 1e4),
            n.relative() * 100.0,
            n.runs
        );
    }
    text += &format!(
        "  cost: {}; active time {:.2} h{}\n",
        crate::text::fmt_usd(log.total_cost_usd()),
        hours,
        rate.map(|r| format!(", {r:.1} experiments/hour"))
            .unwrap_or_default()
    );
    if let Some(occupancy) = crate::occupancy::Occupancy::of(spec, log) {
        text += &format!("  slots: {occupancy}\n");
    }
    text += &other_lines(spec, log, names, stop);
    text
}

/// The other metrics, the variants, the stop conditions.
fn other_lines(
    spec: &crate::spec::Spec,
    log: &ExperimentLog,
    names: &[(String, &'static str)],
    stop: &Value,
) -> String {
    let num = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "?".into());
    let mut text = String::new();
    for (n, role) in names.iter().skip(1) {
        text += &format!(
            "  {n} ({role}): {} -> {}\n",
            num(log.baseline.metric(n)),
            num(log.result(n))
        );
    }
    if !spec.implementer.variants.is_empty() {
        text += "  variants:\n";
        for line in crate::variants::ranking_lines(spec, log) {
            text += &format!("    {line}\n");
        }
    }
    text += "  stop conditions:\n";
    for (name, c) in stop.as_object().into_iter().flatten() {
        text += &format!("    {name}: {}\n", c["text"].as_str().unwrap_or(""));
    }
    text
}

/// Each stop condition, its limit, where the run stands, and whether it holds.
fn stop_conditions(spec: &crate::spec::Spec, log: &ExperimentLog, hours: f64) -> Value {
    let s = &spec.stopping;
    let at = Standing::of(
        spec,
        log,
        hours,
        log.best.total_judge_cost_usd.unwrap_or(0.0),
    );
    let (n, since_kept, runnable, best) =
        (at.experiments, at.since_last_keep, at.runnable, at.best);
    let target = spec.metric.primary.target;
    json!({
        "max_iterations": {"limit": s.max_iterations, "current": n, "met": at.max_iterations_met(spec),
            "text": format!("{n} of {} experiments", s.max_iterations)},
        "max_hours": {"limit": s.max_hours, "current": (hours * 1000.0).round() / 1000.0, "met": at.max_hours_met(spec),
            "text": format!("{hours:.2} of {} hours", s.max_hours)},
        "max_wall_hours": {"limit": s.max_wall_hours, "current": (at.wall_hours * 1000.0).round() / 1000.0, "met": at.max_wall_hours_met(spec),
            "text": format!("{:.2} of {} calendar hours since the run started", at.wall_hours, s.max_wall_hours)},
        "plateau_iterations": {"limit": s.plateau_iterations, "current": since_kept, "met": at.plateau_met(spec),
            "text": format!("{since_kept} of {} experiments since the last keep", s.plateau_iterations)},
        "target_reached": {"enabled": s.target_reached, "target": target, "best": best, "met": at.target_met(spec),
            "targets": at.targets.iter().map(|(name, t, b, _)| json!({"name": name, "target": t, "best": b})).collect::<Vec<_>>(),
            "text": if at.targets.is_empty() {
                "no target set".to_string()
            } else {
                at.targets
                    .iter()
                    .map(|(name, t, b, _)| format!("{name} target {} (best {})", fmt_num(*t), b.map(fmt_num).unwrap_or_else(|| "?".into())))
                    .collect::<Vec<_>>()
                    .join(", ")
            }},
        "backlog": {"runnable": runnable, "met": at.backlog_empty(),
            "text": format!("{runnable} runnable hypotheses left")},
        "budget": {"max_usd": spec.budget.max_usd, "max_tokens": spec.budget.max_tokens,
            "spent_usd": at.spent.0, "tokens": at.spent.1, "met": at.budget_reached(spec).is_some(),
            "text": budget_text(spec, at.spent)},
    })
}

/// `$1.20 of $20 (budget.max_usd), 51234 of 5000000 tokens`.
fn budget_text(spec: &crate::spec::Spec, (usd, tokens): (f64, u64)) -> String {
    let money = match spec.budget.max_usd {
        Some(max) => format!(
            "{} of {} (budget.max_usd)",
            crate::text::fmt_usd(usd),
            crate::text::fmt_usd(max)
        ),
        None => format!("{} spent, no budget.max_usd", crate::text::fmt_usd(usd)),
    };
    match spec.budget.max_tokens {
        Some(max) => format!("{money}, {tokens} of {max} tokens (budget.max_tokens)"),
        None => format!("{money}, {tokens} tokens"),
    }
}

/// The spec with the limits the run's latest session ran under (command-line
/// overrides such as `--max-iterations` included).
fn in_force(spec: &crate::spec::Spec, log: Option<&ExperimentLog>) -> crate::spec::Spec {
    let mut spec = spec.clone();
    if let Some(limits) = log.and_then(|l| l.run.limits_in_force()) {
        spec.stopping.max_iterations = limits.max_iterations;
        spec.stopping.max_hours = limits.max_hours;
        spec.execution.max_concurrent = limits.max_concurrent;
    }
    spec
}

/// The guidance in force, and the requests from `optimize add`/`steer`/
/// `stop` the run has not read yet.
fn add_steering(
    report: &mut Status,
    log: Option<&ExperimentLog>,
    waiting: &[crate::steering::Pending],
) {
    for g in log.iter().flat_map(|l| &l.run.steering) {
        report.text += &format!(
            "  guidance (optimize steer, since {}): {}\n",
            g.given_at, g.text
        );
    }
    if waiting.is_empty() {
        return;
    }
    let described: Vec<String> = waiting
        .iter()
        .map(|p| match &p.request {
            Ok(crate::steering::Request::Add { hypotheses }) => format!(
                "add {}",
                crate::text::count(hypotheses.len() as u64, "hypothesis", "hypotheses")
            ),
            Ok(crate::steering::Request::Steer { text }) => format!("steer \"{text}\""),
            Ok(crate::steering::Request::ClearGuidance) => "steer --clear".into(),
            Ok(crate::steering::Request::Stop { now }) => {
                if *now {
                    "stop --now".into()
                } else {
                    "stop".into()
                }
            }
            Err(e) => format!("unreadable ({e})"),
        })
        .collect();
    report.text += &format!("  not read by the run yet: {}\n", described.join("; "));
    report.json["inbox"] = json!(described);
}

/// The run's Slurm jobs with how long each has waited (and run).
fn add_jobs(report: &mut Status, jobs: &[JobRecord]) {
    if jobs.is_empty() {
        return;
    }
    let now = crate::clock::unix_now();
    let mut lines = Vec::new();
    let mut list = Vec::new();
    for j in jobs {
        let waited = j.started_at.unwrap_or(now) - j.submitted_at;
        let running = j.started_at.map(|s| now - s);
        let id = j.id.as_deref().unwrap_or("?");
        lines.push(match running {
            Some(r) => format!(
                "    {id} {}: running on {} for {r}s (waited {waited}s)",
                j.label, j.node
            ),
            None => format!(
                "    {id} {}: {} for {waited}s",
                j.label,
                j.state.to_lowercase()
            ),
        });
        list.push(json!({
            "id": j.id, "label": j.label, "state": j.state, "node": j.node,
            "waited_seconds": waited, "running_seconds": running,
        }));
    }
    report.text += &format!("  slurm jobs:\n{}\n", lines.join("\n"));
    if let Some(obj) = report.json.as_object_mut() {
        obj.insert("slurm_jobs".into(), Value::Array(list));
    }
}
