//! The rules of our extensions: variants, hypotheses, implementer, llm, sandbox, budget.

use super::*;

pub(super) fn check_variants(spec: &Spec, f: &mut Findings) {
    let imp = &spec.implementer;
    let mut names = HashSet::new();
    for (i, v) in imp.variants.iter().enumerate() {
        let at = |key: &str| format!("implementer.variants[{i}].{key}");
        if !is_kebab(&v.name) {
            f.error(
                at("name"),
                format!(
                    "\"{}\" is not lowercase kebab-case (it names branches)",
                    v.name
                ),
            );
        } else if !names.insert(v.name.as_str()) {
            f.error(
                at("name"),
                format!("variant \"{}\" is listed twice", v.name),
            );
        }
        let kind = v.kind.unwrap_or(imp.kind);
        let command = v.command.as_ref().or(imp.command.as_ref());
        if kind == ImplementerKind::Command && command.is_none_or(|c| c.trim().is_empty()) {
            f.error(at("command"), "is required for a variant of kind command");
        }
        if v.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            f.error(at("temperature"), "must be between 0 and 2");
        }
    }
    if !imp.variants.is_empty() {
        if imp.per_hypothesis == 0 {
            f.error("implementer.per_hypothesis", "must be at least 1");
        }
        if spec.measurement.stability.comparison.method() == ComparisonMethod::Statistical {
            f.error(
                "implementer.variants",
                "is not supported yet with comparison.method: statistical",
            );
        }
    }
}

pub(super) fn check_extensions(spec: &Spec, f: &mut Findings) {
    let h = &spec.hypotheses;
    if h.source == HypothesisSource::File && h.file.is_none() {
        f.error(
            "hypotheses.file",
            "is required when hypotheses.source is file (a YAML list of hypotheses, relative to the spec)",
        );
    }
    if spec.implementer.kind == ImplementerKind::Command
        && spec
            .implementer
            .command
            .as_deref()
            .is_none_or(|c| c.trim().is_empty())
    {
        f.error(
            "implementer.command",
            "is required when implementer.kind is command (it receives the prompt on stdin)",
        );
    }
    for (key, seconds) in [
        (
            "implementer.timeout_seconds",
            spec.implementer.timeout_seconds,
        ),
        ("llm.timeout_seconds", spec.llm.timeout_seconds),
    ] {
        if seconds == 0 {
            f.error(key, "must be at least 1");
        } else if seconds > MAX_TIMEOUT {
            f.error(
                key,
                format!("{seconds} is more than a week ({MAX_TIMEOUT} s)"),
            );
        }
    }
    let outage = spec.llm.max_outage_minutes;
    if !(0.0..=(MAX_TIMEOUT / 60) as f64).contains(&outage) {
        f.error(
            "llm.max_outage_minutes",
            format!(
                "{outage} must be between 0 and {} (a week)",
                MAX_TIMEOUT / 60
            ),
        );
    }
    check_variants(spec, f);
    if !(spec.llm.base_url.starts_with("http://") || spec.llm.base_url.starts_with("https://")) {
        f.error(
            "llm.base_url",
            format!(
                "\"{}\" must start with http:// or https://",
                spec.llm.base_url
            ),
        );
    }
    if spec.llm.api_key_env.trim().is_empty() {
        f.error("llm.api_key_env", "must name an environment variable");
    }
    for (model, price) in &spec.llm.prices {
        if price.input_per_mtok < 0.0 || price.output_per_mtok < 0.0 {
            f.error(format!("llm.prices.{model}"), "prices must not be negative");
        }
    }
}
