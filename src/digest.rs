//! strategy-digest.md: a bounded summary of the run, derived from the log,
//! that new hypotheses are generated from (never the whole log).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::log::{DepStatus, ExperimentLog, Outcome};
use crate::spec::Spec;
use crate::text::one_line;

/// How many learnings, kept changes and categories the digest shows, so its
/// size does not grow with the run.
const LEARNINGS: usize = 10;
const KEPT: usize = 5;
const CATEGORIES: usize = 20;

pub fn render(log: &ExperimentLog, spec: &Spec) -> String {
    let mut out = String::new();
    let primary = &spec.metric.primary.name;
    let _ = writeln!(out, "# Strategy digest: {}\n", spec.name);
    let _ = writeln!(out, "{}\n", one_line(&spec.description, 200));
    let baseline = log.baseline.metric(primary);
    let best = log.best.metric(primary);
    let num = |v: Option<f64>| v.map(crate::text::fmt_num).unwrap_or_else(|| "?".into());
    let _ = writeln!(
        out,
        "Primary `{primary}` ({:?}): baseline {} -> best {} (iteration {}), after {} experiments.\n",
        spec.metric.primary.direction,
        num(baseline),
        num(best),
        log.best.iteration,
        log.experiments.len()
    );

    let tried = categories(&mut out, log);
    kept_changes(&mut out, log);
    frontier(&mut out, log, &tried);
    key_learnings(&mut out, log);
    themes::failure_themes(&mut out, log);
    out
}

mod themes;

/// Each category tried with its counts per outcome; returns the categories.
fn categories<'a>(out: &mut String, log: &'a ExperimentLog) -> Vec<&'a str> {
    let mut by_category: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for e in &log.experiments {
        *by_category
            .entry(e.category.as_str())
            .or_default()
            .entry(e.outcome.as_str().to_string())
            .or_default() += 1;
    }
    let _ = writeln!(out, "## Categories tried\n");
    if by_category.is_empty() {
        let _ = writeln!(out, "None yet.\n");
    }
    let mut ranked: Vec<_> = by_category.iter().collect();
    ranked.sort_by_key(|(_, o)| std::cmp::Reverse(o.values().sum::<usize>()));
    if ranked.len() > CATEGORIES {
        let _ = writeln!(
            out,
            "({} less tried categories not shown)",
            ranked.len() - CATEGORIES
        );
    }
    for (cat, outcomes) in ranked.into_iter().take(CATEGORIES) {
        let counts: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {n}")).collect();
        let _ = writeln!(out, "- {cat}: {}", counts.join(", "));
    }

    by_category.keys().copied().collect()
}

fn kept_changes(out: &mut String, log: &ExperimentLog) {
    let _ = writeln!(out, "\n## Kept\n");
    let kept: Vec<_> = log.kept().collect();
    if kept.is_empty() {
        let _ = writeln!(out, "Nothing kept yet.");
    }
    if kept.len() > KEPT {
        let _ = writeln!(
            out,
            "({} earlier kept changes not shown)",
            kept.len() - KEPT
        );
    }
    for e in kept.iter().skip(kept.len().saturating_sub(KEPT)) {
        let _ = writeln!(out, "- {}", e.headline(100, None));
    }
}

fn frontier(out: &mut String, log: &ExperimentLog, tried: &[&str]) {
    let _ = writeln!(out, "\n## Frontier\n");
    let mut untried: Vec<&str> = log
        .hypothesis_backlog
        .iter()
        .map(|h| h.category.as_str())
        .filter(|c| !tried.contains(c))
        .collect();
    untried.sort_unstable();
    untried.dedup();
    untried.truncate(CATEGORIES);
    let _ = writeln!(
        out,
        "Categories not tried yet: {}",
        if untried.is_empty() {
            "none".to_string()
        } else {
            untried.join(", ")
        }
    );
    let _ = writeln!(out, "Backlog ({}):", log.hypothesis_backlog.len());
    for h in log.hypothesis_backlog.iter().take(20) {
        let wait = if h.dep_status == DepStatus::NeedsApproval {
            format!(" (waits for approval of {})", h.required_deps.join(", "))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "- [{:?}] {}: {}{wait}",
            h.priority,
            h.category,
            one_line(&h.description, 100)
        );
    }
    if log.hypothesis_backlog.len() > 20 {
        let _ = writeln!(out, "- ... and {} more", log.hypothesis_backlog.len() - 20);
    }
}

fn key_learnings(out: &mut String, log: &ExperimentLog) {
    let _ = writeln!(out, "\n## Key learnings\n");
    let learnings: Vec<_> = log
        .experiments
        .iter()
        .rev()
        .filter(|e| e.outcome != Outcome::Measured)
        .filter_map(|e| e.learnings.as_ref().map(|l| (e.iteration, l)))
        .take(LEARNINGS)
        .collect();
    if learnings.is_empty() {
        let _ = writeln!(out, "None yet.");
    }
    for (i, l) in learnings.into_iter().rev() {
        let _ = writeln!(out, "- #{i}: {}", one_line(l, 200));
    }
}
