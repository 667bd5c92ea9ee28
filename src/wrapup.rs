//! The wrap-up summary: counts per outcome, baseline -> final for every
//! metric, key improvements, deferred hypotheses and how to approve them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::log::{DepStatus, ExperimentLog, Outcome};
use crate::spec::Spec;
use crate::text::{fmt_num, one_line};

/// Dependencies that hypotheses wait on, each with who waits and why.
pub fn waiting_on_dependencies(log: &ExperimentLog) -> BTreeMap<String, Vec<String>> {
    let mut by_dep: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in &log.hypothesis_backlog {
        if h.dep_status == DepStatus::NeedsApproval {
            for d in &h.required_deps {
                by_dep.entry(d.clone()).or_default().push(format!(
                    "\"{}\" (declared, in the backlog)",
                    one_line(&h.description, 80)
                ));
            }
        }
    }
    for e in &log.experiments {
        // Once approved (or denied) it waits no more: it is queued or dropped.
        if e.outcome == Outcome::DeferredNeedsApproval
            && e.record.approval.is_none()
            && let Some(reason) = &e.deferred_reason
        {
            for dep in e.deferred_deps() {
                by_dep.entry(dep).or_default().push(format!(
                    "#{} \"{}\" ({reason})",
                    e.iteration,
                    one_line(&e.hypothesis, 80)
                ));
            }
        }
    }
    by_dep
}

/// The hypotheses waiting on each dependency and the command that approves
/// them, as plain text (wrap-up) or markdown (report); `None` when nothing
/// waits.
pub fn render_waiting(log: &ExperimentLog, spec_file: &Path, markdown: bool) -> Option<String> {
    let waiting = waiting_on_dependencies(log);
    if waiting.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (dep, who) in &waiting {
        let _ = writeln!(
            out,
            "{}",
            if markdown {
                format!("- `{dep}`:")
            } else {
                format!("  {dep}:")
            }
        );
        for w in who {
            let _ = writeln!(out, "{}{w}", if markdown { "  - " } else { "    " });
        }
    }
    let deps: Vec<&str> = waiting.keys().map(String::as_str).collect();
    let command = format!(
        "optimize approve {} {}",
        spec_file.display(),
        deps.join(" ")
    );
    if markdown {
        let _ = writeln!(
            out,
            "\nApprove with `{command}` (or deny with `optimize deny ...`), then run `optimize {}` to measure them first.",
            spec_file.display()
        );
    } else {
        let _ = writeln!(out, "  approve with: {command}");
    }
    Some(out)
}

pub fn render(log: &ExperimentLog, spec: &Spec, spec_file: &Path, stop: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n== optimize: {} finished: {stop}", spec.name);
    let _ = writeln!(
        out,
        "experiments: {} ({})",
        log.experiments.len(),
        log.outcome_summary()
    );

    let _ = writeln!(out, "metrics (baseline -> final):");
    let mut names: Vec<String> = spec.metric_roles().into_iter().map(|(n, _)| n).collect();
    names.dedup();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    for name in &names {
        let base = log.baseline.metric(name);
        let best = log.result(name);
        let num = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "?".into());
        let mut line = format!("  {name:<width$}  {} -> {}", num(base), num(best));
        if let (Some(b), Some(x)) = (base, best) {
            line += &format!("  ({})", crate::decide::format_delta(x - b));
        }
        if name == &spec.metric.primary.name {
            line += "  (primary)";
        }
        let _ = writeln!(out, "{line}");
    }
    if let Some(cost) = log.best.total_judge_cost_usd {
        let _ = writeln!(out, "judge cost: {}", crate::text::fmt_usd(cost));
    }
    if let Some(cost) = log.run.total_llm_cost_usd {
        let _ = writeln!(
            out,
            "model cost (hypotheses, edits, learnings): {}",
            crate::text::fmt_usd(cost)
        );
    }
    let kept: Vec<_> = log
        .experiments
        .iter()
        .filter(|e| e.outcome.is_kept())
        .collect();
    if !kept.is_empty() {
        let _ = writeln!(
            out,
            "key improvements (in order, on branch {}):",
            crate::names::opt_branch(&spec.name)
        );
        for e in kept {
            let _ = writeln!(out, "  {}", e.headline(80, Some(&spec.metric.primary.name)));
            if spec.measurement.per_case {
                let _ = writeln!(out, "    per-case regressions: {}", e.regressions_text(8));
            }
        }
    }
    if let Some(waiting) = render_waiting(log, spec_file, false) {
        let _ = writeln!(out, "waiting for dependency approval:");
        out += &waiting;
    }
    let runnable = log
        .hypothesis_backlog
        .iter()
        .filter(|h| h.dep_status != DepStatus::NeedsApproval)
        .count();
    if runnable > 0 {
        let _ = writeln!(out, "backlog: {runnable} runnable hypotheses left");
    }
    out
}
