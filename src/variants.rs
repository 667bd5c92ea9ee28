//! `implementer.variants`: several implementers (models, temperatures,
//! agents) for each hypothesis the model or an agent implements. Each
//! variant's implementation is measured; the experiment is its best variant
//! that passed gates and criteria. `selection: all` runs every variant;
//! `bandit` runs `per_hypothesis` of them, chosen by kept rate per dollar
//! with an exploration bonus (untried variants first), from what the log
//! says of earlier experiments.

use crate::log::{BacklogItem, ExperimentLog};
use crate::spec::{ImplementerKind, Selection, Spec, Variant};

/// The spec as `variant` sees it: its implementer settings over the spec's.
pub fn spec_for(spec: &Spec, variant: &Variant) -> Spec {
    let mut s = spec.clone();
    let imp = &mut s.implementer;
    if let Some(kind) = variant.kind {
        imp.kind = kind;
    }
    if variant.model.is_some() {
        imp.model = variant.model.clone();
    }
    if variant.command.is_some() {
        imp.command = variant.command.clone();
    }
    if variant.temperature.is_some() {
        imp.temperature = variant.temperature;
    }
    if variant.max_tokens.is_some() {
        imp.max_tokens = variant.max_tokens;
    }
    if variant.prompt_template.is_some() {
        imp.prompt_template = variant.prompt_template.clone();
    }
    s
}

/// What a variant is, for the record: its model or its command.
pub fn describe(spec: &Spec, variant: &Variant) -> (Option<String>, Option<String>) {
    let s = spec_for(spec, variant);
    match s.implementer.kind {
        ImplementerKind::Command => (None, s.implementer.command),
        ImplementerKind::Llm => (
            Some(s.implementer.model.unwrap_or_else(|| s.llm.model.clone())),
            None,
        ),
    }
}

/// The variants that implement `item` (none for an `apply`/`patch`
/// hypothesis or a re-measured kept commit, which need no implementer).
pub fn choose(spec: &Spec, log: &ExperimentLog, item: &BacklogItem) -> Vec<Variant> {
    let all = &spec.implementer.variants;
    if all.is_empty() || item.apply.is_some() || item.patch.is_some() || item.from_commit.is_some()
    {
        return Vec::new();
    }
    match spec.implementer.selection {
        Selection::All => all.clone(),
        Selection::Bandit => {
            let k = (spec.implementer.per_hypothesis as usize).clamp(1, all.len());
            let stats: Vec<Stats> = all.iter().map(|v| Stats::of(log, &v.name)).collect();
            let tried: u64 = stats.iter().map(|s| s.tried).sum();
            let mean_cost = {
                let costs: Vec<f64> = stats.iter().filter_map(Stats::cost_per_try).collect();
                if costs.is_empty() {
                    1.0
                } else {
                    costs.iter().sum::<f64>() / costs.len() as f64
                }
            };
            let mut order: Vec<(f64, usize)> = stats
                .iter()
                .enumerate()
                .map(|(i, s)| (s.score(tried, mean_cost), i))
                .collect();
            // Highest score first; ties keep the spec's order.
            order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            order
                .into_iter()
                .take(k)
                .map(|(_, i)| all[i].clone())
                .collect()
        }
    }
}

/// A variant's record over the log: tried, chosen and kept, and its cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub name: String,
    pub tried: u64,
    pub chosen: u64,
    pub kept: u64,
    pub cost_usd: f64,
    /// Sum of the primary deltas of its kept experiments.
    pub kept_delta: f64,
}

impl Stats {
    pub fn of(log: &ExperimentLog, name: &str) -> Stats {
        let mut s = Stats {
            name: name.to_string(),
            ..Stats::default()
        };
        for e in &log.experiments {
            let Some(r) = e.record.variants.iter().find(|r| r.name == name) else {
                continue;
            };
            s.tried += 1;
            s.cost_usd += r.llm_cost_usd;
            if e.record.variant.as_deref() == Some(name) {
                s.chosen += 1;
                if e.outcome.is_kept() {
                    s.kept += 1;
                    s.kept_delta += e
                        .primary_delta
                        .as_deref()
                        .and_then(|d| d.parse::<f64>().ok())
                        .unwrap_or(0.0);
                }
            }
        }
        s
    }

    fn cost_per_try(&self) -> Option<f64> {
        (self.tried > 0 && self.cost_usd > 0.0).then(|| self.cost_usd / self.tried as f64)
    }

    /// Kept rate (Laplace-smoothed) plus an exploration bonus, per dollar
    /// relative to the variants' mean; untried variants come first.
    fn score(&self, total_tried: u64, mean_cost: f64) -> f64 {
        if self.tried == 0 {
            return f64::INFINITY;
        }
        let n = self.tried as f64;
        let rate = (self.kept as f64 + 1.0) / (n + 2.0);
        let bonus = (2.0 * ((total_tried as f64) + 1.0).ln() / n).sqrt() * 0.5;
        let relative_cost = self.cost_per_try().unwrap_or(mean_cost) / mean_cost;
        (rate + bonus) / relative_cost.max(0.05)
    }

    /// Dollars per kept hypothesis, when any was kept.
    pub fn cost_per_kept(&self) -> Option<f64> {
        (self.kept > 0).then(|| self.cost_usd / self.kept as f64)
    }

    pub fn mean_kept_delta(&self) -> Option<f64> {
        (self.kept > 0).then(|| self.kept_delta / self.kept as f64)
    }
}

/// Every variant of the spec with its record, most kept first.
pub fn ranking(spec: &Spec, log: &ExperimentLog) -> Vec<Stats> {
    let mut all: Vec<Stats> = spec
        .implementer
        .variants
        .iter()
        .map(|v| Stats::of(log, &v.name))
        .collect();
    all.sort_by(|a, b| b.kept.cmp(&a.kept).then(b.chosen.cmp(&a.chosen)));
    all
}

/// `name: chosen 3 of 5, kept 2, mean delta -4, $0.12 ($0.06 per kept)`.
pub fn ranking_lines(spec: &Spec, log: &ExperimentLog) -> Vec<String> {
    ranking(spec, log)
        .iter()
        .map(|s| {
            format!(
                "{}: chosen {} of {} tried, kept {}{}, {}{}",
                s.name,
                s.chosen,
                s.tried,
                s.kept,
                s.mean_kept_delta()
                    .map(|d| format!(", mean kept delta {}", crate::text::fmt_num(d)))
                    .unwrap_or_default(),
                crate::text::fmt_usd(s.cost_usd),
                s.cost_per_kept()
                    .map(|c| format!(" ({} per kept)", crate::text::fmt_usd(c)))
                    .unwrap_or_default()
            )
        })
        .collect()
}
