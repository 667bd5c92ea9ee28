//! The report's table of what each kept change carries (leave-one-out
//! ablation), when one was measured.

use std::fmt::Write;

use crate::log::{Effect, ExperimentLog};
use crate::spec::Spec;

pub(super) fn table(out: &mut String, log: &ExperimentLog, spec: &Spec) {
    let Some(a) = &log.run.ablation else {
        if log
            .experiments
            .iter()
            .filter(|e| e.outcome.is_kept())
            .count()
            > 1
        {
            let _ = writeln!(
                out,
                "\n## What each kept change carries\n\nGains measured one after another are not always additive: \
                 `optimize ablate <spec>` (or `wrapup.ablation: true`) measures each kept change alone and \
                 taken out of the stack."
            );
        }
        return;
    };
    let primary = &spec.metric.primary.name;
    let num = |v: Option<f64>| v.map(crate::text::fmt_num).unwrap_or_else(|| "?".into());
    let _ = writeln!(
        out,
        "\n## What each kept change carries\n\nLeave-one-out ablation of {}, measured {}: the best \
         ({primary} {}) and the start ({}) measured again beside each change alone on the start and \
         the best without it; an effect counts beyond {}.\n",
        &a.best_commit[..a.best_commit.len().min(8)],
        a.measured_at,
        num(a.best_value),
        num(a.start_value),
        crate::text::fmt_num(a.threshold),
    );
    let _ = writeln!(
        out,
        "| change | effect alone | effect when removed from the stack | verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let direction = spec.metric.primary.direction;
    let effect = |e: &Option<Effect>| {
        e.as_ref()
            .map(|e| crate::remeasure::describe(e, direction))
            .unwrap_or_else(|| "-".into())
    };
    for c in &a.changes {
        let name = match c.iteration {
            Some(n) => format!("#{n} {}", c.hypothesis),
            None => c.hypothesis.clone(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            name.replace('|', "\\|"),
            effect(&c.alone),
            effect(&c.removed),
            c.verdict.as_str()
        );
    }
}
