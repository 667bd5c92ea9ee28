//! The report's word on whether the gains hold beyond the cases they were
//! selected on: the held-out confirmations, and the per-case regressions.

use std::fmt::Write;

use crate::decide::rules::Rules;
use crate::log::{ExperimentLog, HoldoutRecord};
use crate::spec::Spec;
use crate::text::fmt_num;

pub(super) fn held_out(out: &mut String, log: &ExperimentLog, spec: &Spec) {
    let _ = writeln!(out, "\n## Held-out confirmation\n");
    if !spec.confirms_on_holdout() {
        let _ = writeln!(
            out,
            "No holdout was configured: every gain above was selected and is reported on the same \
             cases. `measurement.holdout.command` (or, for a judge, `metric.judge.confirmation_seed`) \
             confirms a keep on cases the selection never reads."
        );
        return;
    }
    let how = match &spec.measurement.holdout {
        Some(h) => format!("`{}`", h.command),
        None => "the judge's confirmation sample".to_string(),
    };
    let _ = writeln!(
        out,
        "Each would-be keep was measured on the holdout ({how}) beside the best it would replace, \
         and kept only when that pair agreed.\n"
    );
    let confirmed: Vec<_> = log
        .experiments
        .iter()
        .filter_map(|e| e.record.holdout.as_ref().map(|h| (e, h)))
        .collect();
    if confirmed.is_empty() {
        let _ = writeln!(out, "No experiment reached the holdout.");
        return;
    }
    let rules = Rules::of(spec);
    let primary = &spec.metric.primary.name;
    let _ = writeln!(
        out,
        "| # | hypothesis | outcome | holdout `{primary}`: best -> candidate | holdout verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (e, h) in confirmed {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            e.iteration,
            crate::text::one_line(&e.hypothesis, 60).replace('|', "\\|"),
            e.outcome.as_str(),
            values(&rules, h),
            verdict(h),
        );
    }
    let _ = writeln!(out);
}

fn values(rules: &Rules, h: &HoldoutRecord) -> String {
    let value = |v: &serde_yaml::Value| {
        serde_json::to_value(v)
            .ok()
            .and_then(|json| rules.primary_value(&json))
            .map_or("?".to_string(), fmt_num)
    };
    format!("{} -> {}", value(&h.baseline), value(&h.candidate))
}

fn verdict(h: &HoldoutRecord) -> String {
    match (h.agrees, &h.reason) {
        (true, _) => "confirmed".into(),
        (false, Some(reason)) => format!("{}: {reason}", h.decision.as_str()),
        (false, None) => h.decision.as_str().into(),
    }
}
