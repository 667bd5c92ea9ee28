//! The rules of a validated spec, read from its types. `Rules::from_spec`
//! reads the same rules from decide.mjs's JSON (for `optimize decide`); a
//! test holds the two equal on every spec the repository ships.

use super::*;
use crate::spec::{self, MetricType, Spec, StabilityMode};

/// Where the judge's floor applies when the spec names none.
const JUDGE_FLOOR: f64 = 0.3;

impl Rules {
    pub fn of(spec: &Spec) -> Rules {
        let stability = &spec.measurement.stability;
        let comparison = &stability.comparison;
        let judge = spec.metric.judge.as_ref();
        let uses_judge = spec.metric.primary.kind == MetricType::Judge || judge.is_some();
        let non_negative = |v: Option<f64>| v.filter(|n| n.is_finite() && *n >= 0.0);
        let method = match comparison.method() {
            spec::ComparisonMethod::Relative => Method::Relative,
            spec::ComparisonMethod::Paired => Method::Paired,
            spec::ComparisonMethod::Absolute | spec::ComparisonMethod::Statistical => {
                Method::Absolute
            }
        };
        let thresholds = Thresholds {
            method,
            noise_threshold: non_negative(comparison.noise_threshold)
                .or(non_negative(Some(stability.noise_threshold)))
                .unwrap_or(0.02),
            relative_threshold: non_negative(comparison.relative_threshold).unwrap_or(0.05),
            minimum_improvement: non_negative(comparison.minimum_improvement)
                .or(non_negative(judge.map(|j| j.minimum_improvement)))
                .or(uses_judge.then_some(JUDGE_FLOOR)),
        };
        let (primary, required) = typed_objectives(&spec.metric);
        Rules {
            primary,
            required,
            gates: spec
                .metric
                .degenerate_gates
                .iter()
                .map(|g| (g.name.clone(), g.check.to_string()))
                .collect(),
            thresholds,
            ladder: typed_ladder(stability),
            aggregation: stability.aggregation,
            holdout: spec.confirms_on_holdout(),
        }
    }
}

fn typed_ladder(stability: &spec::Stability) -> Ladder {
    let ladder = stability.ladder.as_ref();
    let whole = |v: Option<i64>| v.filter(|n| *n >= 1).map(|n| n as u64);
    let exploratory_pairs = whole(ladder.and_then(|l| l.exploratory_pairs)).unwrap_or(1);
    let confirmation = ladder
        .and_then(|l| l.confirmation_repeats)
        .or(Some(i64::from(stability.repeat_count)));
    Ladder {
        enabled: stability.mode == StabilityMode::Ladder,
        has_smoke: ladder
            .and_then(|l| l.smoke_command.as_deref())
            .is_some_and(|c| !c.is_empty()),
        exploratory_pairs,
        exploratory_raw: ladder
            .and_then(|l| l.exploratory_pairs)
            .map_or(1.0, |n| n as f64),
        confirmation_repeats: whole(confirmation).unwrap_or(5).max(exploratory_pairs),
        futility: ladder.and_then(|l| l.futility.as_ref()).map(|f| Futility {
            worse_factor: Some(f.worse_factor.unwrap_or(1.2)).filter(|w| w.is_finite()),
            after_elapsed_seconds: f.after_elapsed_seconds.filter(|s| s.is_finite()),
        }),
    }
}

fn typed_regression(r: &spec::MaxRegression) -> MaxRegression {
    MaxRegression {
        relative: r.kind == "relative",
        value: Some(r.value).filter(|v| v.is_finite()),
    }
}

/// The primary first (always required), then the other required objectives.
fn typed_objectives(metric: &spec::Metric) -> (Option<Objective>, Vec<Objective>) {
    let primary = &metric.primary;
    let listed: Vec<Objective> = metric
        .objectives
        .iter()
        .filter(|o| o.role.as_deref() != Some("secondary"))
        .map(|o| Objective {
            name: o.name.clone(),
            direction: o.direction,
            judge: o.kind == Some(MetricType::Judge),
            target: o.target.filter(|t| t.is_finite()),
            max_regression: o.max_regression.as_ref().map(typed_regression),
        })
        .collect();
    if primary.name.is_empty() {
        return (None, listed);
    }
    let listed_primary = listed.iter().find(|o| o.name == primary.name);
    let first = Objective {
        name: primary.name.clone(),
        direction: primary.direction,
        judge: primary.kind == MetricType::Judge,
        target: primary
            .target
            .filter(|t| t.is_finite())
            .or(listed_primary.and_then(|o| o.target)),
        max_regression: listed_primary.and_then(|o| o.max_regression.clone()),
    };
    let mut required = vec![first.clone()];
    required.extend(listed.into_iter().filter(|o| o.name != primary.name));
    (Some(first), required)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::LoadedSpec;

    fn both(text: &str) -> (Rules, Rules) {
        let spec = LoadedSpec::parse_str(text, Path::new("spec.yaml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .spec;
        let json = serde_json::to_value(&spec).unwrap();
        (Rules::of(&spec), Rules::from_spec(&json))
    }

    const BASE: &str = "name: n\ndescription: d\nmeasurement:\n  command: m\nscope:\n  mutable: [src/]\n  immutable: [m]\n";

    #[test]
    fn the_typed_rules_are_the_rules_decide_mjs_reads_from_every_shipped_spec() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut seen = 0;
        for dir in ["anchors", "noisy", "expensive", "demo", "specs", "logs"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "yaml") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let Ok(loaded) = LoadedSpec::parse_str(&text, &path) else {
                    continue;
                };
                let json = serde_json::to_value(&loaded.spec).unwrap();
                assert_eq!(Rules::of(&loaded.spec), Rules::from_spec(&json), "{path:?}");
                seen += 1;
            }
        }
        assert!(seen >= 8, "only {seen} specs parsed");
    }

    #[test]
    fn the_typed_rules_match_on_every_decision_setting() {
        let metrics = [
            "metric:\n  primary: {type: hard, name: t, direction: minimize}\n  degenerate_gates: []\n",
            "metric:\n  primary: {type: judge, name: s, direction: maximize}\n  judge: {rubric: r, scoring: {primary: s}, minimum_improvement: 0.7}\n  degenerate_gates: []\n",
            "metric:\n  primary: {type: hard, name: t, direction: maximize, target: 9}\n  degenerate_gates: [{name: ok, check: '>= 1'}, {name: e, check: '< 0.5'}]\n  objectives:\n    - {name: t, direction: maximize, max_regression: {type: relative, value: 0.1}}\n    - {name: mem, direction: minimize, target: 3, max_regression: {type: absolute, value: 2}}\n    - {name: side, direction: minimize, role: secondary}\n",
        ];
        let stabilities = [
            "",
            "    noise_threshold: 0.3\n",
            "    mode: repeat\n    repeat_count: 7\n    aggregation: mean\n",
            "    comparison: {method: relative, relative_threshold: 0.08}\n",
            "    comparison: {method: paired, noise_threshold: 0.01, minimum_improvement: 0.2}\n",
            "    comparison: {method: statistical, confidence: 0.9}\n",
            "    mode: ladder\n    ladder: {smoke_command: s, exploratory_pairs: 2, confirmation_repeats: 6, futility: {worse_factor: 1.5, after_elapsed_seconds: 30}}\n",
            "    mode: ladder\n    repeat_count: 3\n    ladder: {exploratory_pairs: 4, futility: {}}\n",
        ];
        for metric in metrics {
            for stability in stabilities {
                let text = format!("{BASE}{metric}").replace(
                    "  command: m\n",
                    &format!("  command: m\n  stability:\n    mode: stable\n{stability}"),
                );
                let text = text.replace("    mode: stable\n    mode:", "    mode:");
                let (typed, read) = both(&text);
                assert_eq!(typed, read, "{text}");
            }
        }
    }
}
