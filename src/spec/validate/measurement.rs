//! The rules of the `measurement` section: the command, stability, comparison, the ladder.

use super::*;

pub(super) fn check_measurement(spec: &Spec, f: &mut Findings) {
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
    check_stability(&m.stability, f);
    check_ladder(&m.stability, f);
    check_comparison(spec, f);
    check_holdout(spec, f);
    check_shortcuts(spec, f);
}

/// No run measures more shortcuts than this before its baseline.
const MAX_SHORTCUTS: usize = 20;

fn check_shortcuts(spec: &Spec, f: &mut Findings) {
    let Some(v) = &spec.harness_validation else {
        return;
    };
    if v.shortcuts.len() > MAX_SHORTCUTS {
        f.error(
            "harness_validation.shortcuts",
            format!(
                "{} shortcuts is more than {MAX_SHORTCUTS}: each is measured with the full protocol before the baseline",
                v.shortcuts.len()
            ),
        );
    }
    for (i, s) in v.shortcuts.iter().enumerate() {
        let key = format!("harness_validation.shortcuts[{i}]");
        if s.description.trim().is_empty() {
            f.error(
                format!("{key}.description"),
                "must say what the shortcut does",
            );
        }
        let given = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.trim().is_empty());
        match (given(&s.apply), given(&s.patch)) {
            (true, true) => f.error(key, "has both apply and patch; give one"),
            (false, false) => f.error(
                key,
                "needs apply (a shell command) or patch (a unified diff)",
            ),
            _ => {}
        }
    }
}

fn check_holdout(spec: &Spec, f: &mut Findings) {
    if let Some(h) = &spec.measurement.holdout {
        if h.command.trim().is_empty() {
            f.error(
                "measurement.holdout.command",
                "must be a non-empty shell command",
            );
        } else if h.command.trim() == spec.measurement.command.trim() {
            f.warn(
                "measurement.holdout.command",
                "is measurement.command itself: a holdout must measure cases the selection never reads",
            );
        }
        match h.timeout_seconds {
            Some(0) => f.error("measurement.holdout.timeout_seconds", "must be at least 1"),
            Some(t) if t > MAX_TIMEOUT => f.error(
                "measurement.holdout.timeout_seconds",
                format!("{t} is more than a week ({MAX_TIMEOUT} s)"),
            ),
            _ => {}
        }
    }
    if let Some(j) = &spec.metric.judge
        && j.confirmation_seed == Some(j.sample_seed)
    {
        f.warn(
            "metric.judge.confirmation_seed",
            "is sample_seed itself: the confirmation would judge the selection's own sample, so no holdout is taken",
        );
    }
}

fn check_stability(s: &Stability, f: &mut Findings) {
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
}

fn check_ladder(s: &Stability, f: &mut Findings) {
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
}

fn check_comparison(spec: &Spec, f: &mut Findings) {
    let c = &spec.measurement.stability.comparison;
    let method = c.method();
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
