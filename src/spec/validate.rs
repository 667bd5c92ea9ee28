//! The validation rules of ce-optimize's spec schema, plus ours, plus a plain
//! "not supported yet" for every field whose behaviour is not built.

use std::collections::HashSet;

use super::*;

pub struct Finding {
    pub path: String,
    pub message: String,
    pub warning: bool,
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Finding {
            path: path.into(),
            message: message.into(),
            warning: false,
        });
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Finding {
            path: path.into(),
            message: message.into(),
            warning: true,
        });
    }

    fn unsupported(&mut self, path: impl Into<String>, what: &str) {
        self.error(
            path,
            format!("{what} is not supported yet; remove it or use a supported setting"),
        );
    }
}

pub fn check(spec: &Spec) -> Vec<Finding> {
    let mut f = Findings::default();
    check_name(spec, &mut f);
    check_metric(spec, &mut f);
    check_measurement(spec, &mut f);
    check_scope(spec, &mut f);
    check_execution(spec, &mut f);
    check_extensions(spec, &mut f);
    f.0
}

fn is_kebab(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// The longest spec name: it names a directory and branches
/// (`optimize-exp/<name>/exp-NNN-v-<variant>`), which most file systems
/// limit to 255 bytes a component.
const MAX_NAME: usize = 100;

/// The longest timeout a command may have (a week): beyond it a timer
/// cannot be armed (and no measurement is meant to take longer).
const MAX_TIMEOUT: u64 = 7 * 24 * 3600;

/// The most runs of the measurement command one measurement may ask for.
pub const MAX_RUNS: u32 = 1000;

fn check_name(spec: &Spec, f: &mut Findings) {
    if spec.name.len() > MAX_NAME {
        f.error(
            "name",
            format!(
                "is {} bytes long; at most {MAX_NAME} (it names the state directory and the branches)",
                spec.name.len()
            ),
        );
    } else if !is_kebab(&spec.name) {
        f.error(
            "name",
            format!(
                "\"{}\" is not lowercase kebab-case (letters a-z, digits and single hyphens, e.g. \"improve-build-latency\")",
                spec.name
            ),
        );
    }
    if spec.description.trim().is_empty() {
        f.error("description", "must not be empty");
    }
}

fn check_metric(spec: &Spec, f: &mut Findings) {
    let metric = &spec.metric;
    if metric.primary.name.trim().is_empty() {
        f.error("metric.primary.name", "must not be empty");
    }
    if metric.primary.baseline.is_some() {
        f.warn(
            "metric.primary.baseline",
            "is filled automatically by the baseline measurement; the value here is ignored",
        );
    }
    if metric.degenerate_gates.is_empty() {
        f.error("metric.degenerate_gates", "must have at least one gate");
    }
    let mut seen = HashSet::new();
    for (i, gate) in metric.degenerate_gates.iter().enumerate() {
        if gate.name.trim().is_empty() {
            f.error(
                format!("metric.degenerate_gates[{i}].name"),
                "must not be empty",
            );
        }
        if gate.name == metric.primary.name {
            f.error(
                format!("metric.degenerate_gates[{i}].name"),
                format!(
                    "gate \"{}\" has the primary metric's name; a gate checks another key of the output",
                    gate.name
                ),
            );
        }
        if !seen.insert(gate.name.as_str()) {
            f.warn(
                format!("metric.degenerate_gates[{i}].name"),
                format!(
                    "gate \"{}\" is listed twice; both checks must pass",
                    gate.name
                ),
            );
        }
    }
    for (i, d) in metric.diagnostics.iter().enumerate() {
        if d.name.trim().is_empty() {
            f.error(format!("metric.diagnostics[{i}].name"), "must not be empty");
        }
    }
    check_objectives(metric, f);
    let mut names = HashSet::new();
    for (i, c) in metric.criteria.iter().enumerate() {
        let at = |key: &str| format!("metric.criteria[{i}].{key}");
        if c.name.trim().is_empty() {
            f.error(at("name"), "must not be empty");
        } else if !names.insert(c.name.as_str()) {
            f.error(
                at("name"),
                format!("criterion \"{}\" is listed twice", c.name),
            );
        }
        if c.target.trim().is_empty() {
            f.error(at("target"), "must not be empty");
        }
        if !c.weight.is_finite() || c.weight < 0.0 {
            f.error(at("weight"), "must be a number of at least 0");
        }
    }
    match (metric.primary.kind, &metric.judge) {
        (MetricType::Judge, None) => f.error(
            "metric.judge",
            "is required when metric.primary.type is judge (with rubric and scoring)",
        ),
        (MetricType::Judge, Some(judge)) => check_judge(spec, judge, f),
        (MetricType::Hard, Some(_)) => f.warn(
            "metric.judge",
            "is ignored because metric.primary.type is hard",
        ),
        (MetricType::Hard, None) => {}
    }
}

fn check_judge(spec: &Spec, judge: &Judge, f: &mut Findings) {
    let p = "metric.judge";
    if judge.rubric.trim().is_empty() {
        f.error(format!("{p}.rubric"), "must not be empty");
    }
    if judge.scoring.primary.trim().is_empty() {
        f.error(format!("{p}.scoring.primary"), "must not be empty");
    }
    if judge.scoring.primary != spec.metric.primary.name {
        f.warn(
            format!("{p}.scoring.primary"),
            format!(
                "is \"{}\" but metric.primary.name is \"{}\"; the judge's \"{}\" field is optimized",
                judge.scoring.primary, spec.metric.primary.name, judge.scoring.primary
            ),
        );
    }
    if judge.sample_size == 0 {
        f.error(format!("{p}.sample_size"), "must be at least 1");
    }
    if judge.batch_size == 0 {
        f.error(format!("{p}.batch_size"), "must be at least 1");
    }
    if judge.singleton_sample > 0
        && judge
            .singleton_rubric
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        f.error(
            format!("{p}.singleton_rubric"),
            "is required when singleton_sample is greater than 0",
        );
    }
    if let Some(strata) = &judge.stratification {
        let total: u32 = strata.iter().map(|s| s.count).sum();
        if total != judge.sample_size {
            f.warn(
                format!("{p}.stratification"),
                format!(
                    "bucket counts add up to {total}, not sample_size {}; the bucket counts are used",
                    judge.sample_size
                ),
            );
        }
    }
    match judge.max_total_cost_usd {
        None => f.warn(
            format!("{p}.max_total_cost_usd"),
            "is null: judge spend is uncapped; make sure you approve of that",
        ),
        Some(c) if c < 0.0 => f.error(format!("{p}.max_total_cost_usd"), "must not be negative"),
        Some(_) => {}
    }
    if judge.minimum_improvement < 0.0 {
        f.error(format!("{p}.minimum_improvement"), "must not be negative");
    }
}

fn check_measurement(spec: &Spec, f: &mut Findings) {
    let m = &spec.measurement;
    if m.command.trim().is_empty() {
        f.error("measurement.command", "must be a non-empty shell command");
    }
    if m.timeout_seconds == 0 {
        f.error("measurement.timeout_seconds", "must be at least 1");
    } else if m.timeout_seconds > MAX_TIMEOUT {
        f.error(
            "measurement.timeout_seconds",
            format!(
                "{} is more than a week ({MAX_TIMEOUT} s)",
                m.timeout_seconds
            ),
        );
    }
    check_relative_path("measurement.working_directory", &m.working_directory, f);
    let s = &m.stability;
    if s.mode == StabilityMode::Repeat && s.repeat_count == 0 {
        f.error("measurement.stability.repeat_count", "must be at least 1");
    }
    if s.repeat_count > MAX_RUNS {
        f.error(
            "measurement.stability.repeat_count",
            format!(
                "{} is more than {MAX_RUNS} runs a measurement",
                s.repeat_count
            ),
        );
    } else if s.mode == StabilityMode::Stable && s.repeat_count != DEFAULT_REPEAT_COUNT {
        f.warn(
            "measurement.stability.repeat_count",
            "is ignored with mode: stable (one run a measurement); use mode: repeat to take it",
        );
    }
    if s.noise_threshold < 0.0 {
        f.error(
            "measurement.stability.noise_threshold",
            "must not be negative",
        );
    }
    let c = &s.comparison;
    let method = c.method();
    if s.mode == StabilityMode::Ladder {
        if let Some(ladder) = &s.ladder {
            let confirm = ladder
                .confirmation_repeats
                .unwrap_or(i64::from(s.repeat_count));
            let pairs = ladder.exploratory_pairs.unwrap_or(1);
            if pairs < 1 {
                f.error(
                    "measurement.stability.ladder.exploratory_pairs",
                    "must be a positive integer",
                );
            }
            if confirm < 1 || confirm < pairs {
                f.error(
                    "measurement.stability.ladder.confirmation_repeats",
                    "must be a positive integer at least as large as exploratory_pairs",
                );
            }
            if let Some(after) = ladder
                .futility
                .as_ref()
                .and_then(|fu| fu.after_elapsed_seconds)
                && after <= 0.0
            {
                f.error(
                    "measurement.stability.ladder.futility.after_elapsed_seconds",
                    "must be a positive number",
                );
            }
            if let Some(factor) = ladder.futility.as_ref().and_then(|fu| fu.worse_factor)
                && factor <= 1.0
            {
                f.warn(
                    "measurement.stability.ladder.futility.worse_factor",
                    "is at most 1, so the futility bound never applies",
                );
            }
        }
        if c.method.is_none() {
            f.warn(
                "measurement.stability.comparison.method",
                "is unset with mode: ladder, so the absolute noise_threshold decides; relative or paired usually suits a ladder",
            );
        }
        if method == ComparisonMethod::Statistical {
            f.error(
                "measurement.stability.comparison.method",
                "statistical sampling decides how many samples each candidate takes, so it does not combine with mode: ladder; use one of them",
            );
        }
    } else if s.ladder.is_some() {
        f.warn(
            "measurement.stability.ladder",
            "is ignored unless measurement.stability.mode is ladder",
        );
    }
    for (key, value) in [
        ("relative_threshold", c.relative_threshold),
        ("noise_threshold", c.noise_threshold),
        ("minimum_improvement", c.minimum_improvement),
    ] {
        if value.is_some_and(|v| v < 0.0) {
            f.error(
                format!("measurement.stability.comparison.{key}"),
                "must not be negative",
            );
        }
    }
    if let Some(confidence) = c.confidence
        && !(0.5..1.0).contains(&confidence)
    {
        f.error(
            "measurement.stability.comparison.confidence",
            "must be at least 0.5 and below 1 (for example 0.95)",
        );
    }
    if let Some(n) = c.max_samples
        && !(3..=1000).contains(&n)
    {
        f.error(
            "measurement.stability.comparison.max_samples",
            "must be between 3 and 1000",
        );
    }
    if method == ComparisonMethod::Statistical && spec.metric.primary.kind == MetricType::Judge {
        f.error(
            "measurement.stability.comparison.method",
            "statistical sampling needs a hard primary metric: a judge score is judged once per experiment, not sampled",
        );
    }
    if method != ComparisonMethod::Statistical {
        for (key, set) in [
            ("confidence", c.confidence.is_some()),
            ("max_samples", c.max_samples.is_some()),
        ] {
            if set {
                f.warn(
                    format!("measurement.stability.comparison.{key}"),
                    "applies to method: statistical only, so it is ignored",
                );
            }
        }
    }
}

/// `metric.objectives`: extra hard targets, required or secondary.
fn check_objectives(metric: &crate::spec::Metric, f: &mut Findings) {
    let mut seen = HashSet::new();
    for (i, o) in metric.objectives.iter().enumerate() {
        let at = |k: &str| format!("metric.objectives[{i}].{k}");
        if o.name.trim().is_empty() {
            f.error(at("name"), "must not be empty");
        }
        if !seen.insert(o.name.as_str()) {
            f.error(
                at("name"),
                format!("objective \"{}\" is listed twice", o.name),
            );
        }
        match o.role.as_deref() {
            None | Some("required") | Some("secondary") => {}
            Some(other) => f.error(
                at("role"),
                format!("unknown role \"{other}\"; expected required or secondary"),
            ),
        }
        if o.kind == Some(MetricType::Judge) && o.name != metric.primary.name {
            f.error(
                at("type"),
                "must be hard: additional objectives come from the measurement command",
            );
        }
        if o.name == metric.primary.name && o.direction != metric.primary.direction {
            f.error(
                at("direction"),
                "differs from metric.primary.direction for the same metric",
            );
        }
        if let Some(mr) = &o.max_regression {
            if mr.kind != "relative" && mr.kind != "absolute" {
                f.error(
                    at("max_regression.type"),
                    format!(
                        "unknown type \"{}\"; expected relative or absolute",
                        mr.kind
                    ),
                );
            }
            if mr.value < 0.0 {
                f.warn(
                    at("max_regression.value"),
                    "is negative, so it is ignored and a comparison-threshold regression is the violation",
                );
            }
        }
    }
}

fn check_relative_path(key: &str, path: &str, f: &mut Findings) {
    let p = std::path::Path::new(path);
    if p.is_absolute() {
        f.error(
            key,
            format!("\"{path}\" must be relative to the repository root"),
        );
    } else if p.components().any(|c| c == std::path::Component::ParentDir) {
        f.error(
            key,
            format!("\"{path}\" must stay inside the repository (no \"..\")"),
        );
    }
}

fn check_scope(spec: &Spec, f: &mut Findings) {
    if spec.scope.mutable.is_empty() {
        f.error("scope.mutable", "must have at least one entry");
    }
    if spec.scope.immutable.is_empty() {
        f.error(
            "scope.immutable",
            "must have at least one entry (list the measurement harness here)",
        );
    }
    for (list, entries) in [
        ("mutable", &spec.scope.mutable),
        ("immutable", &spec.scope.immutable),
    ] {
        for (i, entry) in entries.iter().enumerate() {
            let key = format!("scope.{list}[{i}]");
            if entry.trim().is_empty() {
                f.error(key, "must not be empty");
            } else {
                check_relative_path(&key, entry, f);
            }
        }
    }
    for (i, entry) in spec.parallel.shared_files.iter().enumerate() {
        check_relative_path(&format!("parallel.shared_files[{i}]"), entry, f);
    }
}

fn check_execution(spec: &Spec, f: &mut Findings) {
    let e = &spec.execution;
    if e.max_concurrent < 1 {
        f.error("execution.max_concurrent", "must be at least 1");
    }
    if e.backend == Backend::Worktree && e.max_concurrent > 6 {
        f.error(
            "execution.max_concurrent",
            format!(
                "is {} but must not exceed 6 with the worktree backend",
                e.max_concurrent
            ),
        );
    }
    match (&e.runner, &spec.slurm) {
        (RunnerKind::Slurm, Some(slurm)) => {
            if slurm.poll_seconds <= 0.0 || slurm.poll_seconds > 3600.0 {
                f.error(
                    "slurm.poll_seconds",
                    "must be a positive number of seconds, at most 3600",
                );
            } else if slurm.poll_seconds < 5.0 {
                f.warn(
                    "slurm.poll_seconds",
                    "is below 5: every poll queries the scheduler, which busy clusters discourage",
                );
            }
        }
        (RunnerKind::Local, Some(_)) => {
            f.warn("slurm", "is ignored unless execution.runner is slurm")
        }
        _ => {}
    }
    if e.backend == Backend::Codex {
        f.unsupported("execution.backend", "the codex backend");
    }
    if e.codex_security.is_some() {
        f.unsupported(
            "execution.codex_security",
            "codex_security (it applies to the codex backend)",
        );
    }
    if !spec.parallel.exclusive_resources.is_empty() && e.mode != ExecutionMode::Serial {
        f.warn(
            "parallel.exclusive_resources",
            "is set, so experiments run one at a time even though execution.mode is parallel",
        );
    }
    let p = &spec.parallel;
    if p.port_strategy == Some(PortStrategy::Parameterized)
        && (p.port_env_var.is_none() || p.port_base.is_none())
    {
        f.error(
            "parallel.port_strategy",
            "is parameterized, so parallel.port_env_var and parallel.port_base must both be set",
        );
    }
    if p.port_env_var.is_some() != p.port_base.is_some() {
        f.error(
            if p.port_env_var.is_some() {
                "parallel.port_env_var"
            } else {
                "parallel.port_base"
            },
            "parallel.port_env_var and parallel.port_base must be set together",
        );
    }
    let s = &spec.stopping;
    if s.max_iterations == 0 {
        f.error("stopping.max_iterations", "must be at least 1");
    }
    if s.max_hours.is_nan() || s.max_hours <= 0.0 {
        f.error("stopping.max_hours", "must be a positive number of hours");
    }
    if s.plateau_iterations == 0 {
        f.error("stopping.plateau_iterations", "must be at least 1");
    }
}

fn check_variants(spec: &Spec, f: &mut Findings) {
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

fn check_extensions(spec: &Spec, f: &mut Findings) {
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

#[cfg(test)]
mod tests {
    use super::is_kebab;

    #[test]
    fn kebab_names() {
        assert!(is_kebab("improve-build-latency"));
        assert!(is_kebab("a1"));
        assert!(!is_kebab("Improve"));
        assert!(!is_kebab("a--b"));
        assert!(!is_kebab("-a"));
        assert!(!is_kebab("a_b"));
    }
}
