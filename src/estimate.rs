//! `optimize validate`'s estimate of what a run's model calls cost: per
//! experiment, from the sizes of the prompts this spec and repository give
//! (about four characters a token) and the models' prices, and for the whole
//! run at `max_iterations`. Replies are assumed to be as long as they
//! usually are; the real figures are in the log as the run goes.

use std::path::Path;

use crate::log::{BacklogItem, ExperimentLog};
use crate::spec::{HypothesisSource, ImplementerKind, MetricType, Spec};

/// One kind of call: how many per experiment, and its tokens each.
struct Calls {
    what: &'static str,
    model: String,
    per_experiment: f64,
    input_tokens: u64,
    output_tokens: u64,
}

/// The estimate in words, or `None` when the spec makes no model calls.
pub fn estimate(spec: &Spec, repo_root: &Path) -> Option<String> {
    let calls = calls(spec, repo_root);
    if calls.is_empty() {
        return None;
    }
    let prices = crate::llm::prices(spec);
    let mut total = 0.0;
    let mut unknown: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for c in &calls {
        let cost = prices.get(&c.model).map(|(i, o)| {
            c.per_experiment * (c.input_tokens as f64 * i + c.output_tokens as f64 * o) / 1e6
        });
        match cost {
            Some(cost) => total += cost,
            None if !unknown.contains(&c.model) => unknown.push(c.model.clone()),
            None => {}
        }
        lines.push(format!(
            "  {}: {} call{} per experiment, ~{} tokens in, ~{} out ({}): {}",
            c.what,
            crate::text::fmt_num((c.per_experiment * 100.0).round() / 100.0),
            if c.per_experiment == 1.0 { "" } else { "s" },
            c.input_tokens,
            c.output_tokens,
            c.model,
            cost.map(crate::text::fmt_usd)
                .unwrap_or_else(|| "price unknown (set llm.prices)".into())
        ));
    }
    let iterations = spec.stopping.max_iterations;
    let mut text = format!(
        "model cost estimate: ~{} per experiment, ~{} for max_iterations {iterations}",
        crate::text::fmt_usd(total),
        crate::text::fmt_usd(total * iterations as f64)
    );
    if !unknown.is_empty() {
        text += &format!(" (not counting {})", unknown.join(", "));
    }
    match spec.budget.max_usd {
        Some(cap) => text += &format!("; budget.max_usd {}", crate::text::fmt_usd(cap)),
        None => text += "; no budget.max_usd set",
    }
    text += "\n";
    text += &lines.join("\n");
    Some(text)
}

fn calls(spec: &Spec, root: &Path) -> Vec<Calls> {
    let model = |role: Option<&String>| role.cloned().unwrap_or_else(|| spec.llm.model.clone());
    let tokens = |text: &str| (text.len() as u64).div_ceil(4);
    let mut out = Vec::new();
    let from_model = spec.hypotheses.source == HypothesisSource::Llm;
    if from_model {
        let count = (spec.execution.max_concurrent as usize * 2).max(4);
        let prompt =
            crate::llm::hypothesis_prompt(spec, &ExperimentLog::default(), "", root, count);
        out.push(Calls {
            what: "hypotheses",
            model: model(spec.hypotheses.model.as_ref()),
            per_experiment: 1.0 / f64::from(spec.execution.max_concurrent.max(1)),
            input_tokens: tokens(&prompt),
            output_tokens: 150 * count as u64,
        });
    }
    if from_model && spec.implementer.kind == ImplementerKind::Llm {
        let item = BacklogItem::new("an idea", "any");
        let prompt = crate::prompt::implement(spec, &item, None, root) + crate::prompt::EDIT_FORMAT;
        out.push(Calls {
            what: "edits",
            model: model(spec.implementer.model.as_ref()),
            per_experiment: 1.0,
            // The files a hypothesis names go in too, up to the prompt's cap.
            input_tokens: tokens(&prompt) + crate::prompt::TOTAL_FILE_BYTES as u64 / 8,
            output_tokens: 1500,
        });
        out.push(Calls {
            what: "learnings",
            model: model(spec.hypotheses.model.as_ref()),
            per_experiment: 1.0,
            input_tokens: 600,
            output_tokens: 100,
        });
    }
    if let (MetricType::Judge, Some(judge)) = (spec.metric.primary.kind, &spec.metric.judge) {
        let batches = judge.sample_size.div_ceil(judge.batch_size.max(1)) + judge.singleton_sample;
        let runs = spec.measurement.stability.runs();
        out.push(Calls {
            what: "judge",
            model: judge.model.clone(),
            per_experiment: f64::from(batches * runs),
            input_tokens: tokens(&judge.rubric) + 400 * u64::from(judge.batch_size),
            output_tokens: 60 * u64::from(judge.batch_size),
        });
    }
    out
}
