//! ce-optimize's own cases for decide.mjs (tests/skills/ce-optimize-decide.test.ts),
//! ported one for one: the same payloads must give the same decisions.

use serde_json::{Value, json};

use super::*;

const BASELINE_WALL: f64 = 372.869;
const OBSERVED: [f64; 4] = [722.742, 513.811, 494.657, 924.515];

fn hard_spec(overrides: Value) -> Value {
    let mut spec = json!({
        "primary": {"name": "wall_seconds", "direction": "minimize", "type": "hard"},
        "degenerate_gates": [{"name": "suite_passed", "check": "== 1"}],
        "comparison": {"method": "absolute", "noise_threshold": 0.02},
    });
    merge(&mut spec, overrides);
    spec
}

fn snapshot(wall: f64) -> Value {
    json!({
        "gates": {"suite_passed": 1},
        "metrics": {"wall_seconds": {"aggregate": wall, "samples": [wall]}},
        "sample_count": 1,
    })
}

fn snapshot_with(wall: f64, extras: Value) -> Value {
    let mut s = snapshot(wall);
    merge(&mut s, extras);
    s
}

/// `{...a, ...b}`: b's keys replace a's, one level deep.
fn merge(a: &mut Value, b: Value) {
    if let (Value::Object(a), Value::Object(b)) = (a, b) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}

fn run(spec: &Value, baseline: &Value, candidate: &Value) -> Decision {
    decided(json!({"spec": spec, "baseline": baseline, "candidate": candidate}))
}

/// Decides a payload; with `DECIDE_DUMP=DIR` also writes it there, for
/// `bench/decide_parity.sh` to decide with decide.mjs too.
fn decided(payload: Value) -> Decision {
    if let Ok(dir) = std::env::var("DECIDE_DUMP") {
        let text = payload.to_string();
        let name = format!("{}.json", crate::log::Fnv::of(text.as_bytes()).hex());
        std::fs::write(std::path::Path::new(&dir).join(name), text)
            .expect("DECIDE_DUMP is writable");
    }
    decide(&payload)
}

fn names(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn gate(value: Value, check: &str) -> bool {
    gate_passes(Some(&value), check).unwrap()
}

// ce-optimize decide helpers

#[test]
fn median_matches_the_configured_aggregation_for_odd_and_even_samples() {
    assert_eq!(median(&[504.309, 368.915, 372.869]), Some(372.869));
    assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), Some(2.5));
}

#[test]
fn gate_operators_match_the_spec_schema() {
    assert!(gate(json!(1), "== 1"));
    assert!(!gate(json!(0.95), ">= 1.0"));
    assert!(gate(json!(0), "<= 0"));
    assert!(gate(json!(1), "!= 0"));
    assert!(!gate(json!("not-a-number"), "!= 0"));
    assert!(!gate(Value::Null, "!= 0"));
}

// legacy single-primary absolute comparison

#[test]
fn a_delta_inside_noise_threshold_is_inconclusive_not_a_keep() {
    let r = run(&hard_spec(json!({})), &snapshot(10.0), &snapshot(9.99));
    assert_eq!(r.decision, Verdict::Inconclusive);
    assert!(!r.eligible);
    assert_eq!(r.next_measurement, Next::None);
}

#[test]
fn an_improvement_above_noise_threshold_is_a_keep() {
    let r = run(&hard_spec(json!({})), &snapshot(10.0), &snapshot(9.97));
    assert_eq!(r.decision, Verdict::Keep);
    assert!(r.eligible);
    assert_eq!(names(&r.improved_objectives), ["wall_seconds"]);
}

#[test]
fn a_clear_regression_is_a_revert() {
    let r = run(&hard_spec(json!({})), &snapshot(10.0), &snapshot(10.05));
    assert_eq!(r.decision, Verdict::Revert);
    assert!(!r.eligible);
    assert_eq!(names(&r.violated_objectives), ["wall_seconds"]);
}

#[test]
fn a_failed_degenerate_gate_is_degenerate_even_if_the_primary_improved() {
    let candidate = json!({"gates": {"suite_passed": 0}, "metrics": {"wall_seconds": {"aggregate": 1, "samples": [1]}}});
    let r = run(&hard_spec(json!({})), &snapshot(10.0), &candidate);
    assert_eq!(r.decision, Verdict::Degenerate);
    assert!(!r.eligible);
}

#[test]
fn a_non_finite_gate_value_fails_not_equal_instead_of_passing_as_nan() {
    let spec = hard_spec(json!({"degenerate_gates": [{"name": "valid", "check": "!= 0"}]}));
    let candidate = json!({"gates": {"valid": "not-a-number"}, "metrics": {"wall_seconds": {"aggregate": 1, "samples": [1]}}});
    let r = run(
        &spec,
        &snapshot_with(10.0, json!({"gates": {"valid": 1}})),
        &candidate,
    );
    assert_eq!(r.decision, Verdict::Degenerate);
    assert!(!r.eligible);
    assert!(r.violated_objectives.contains(&"valid".to_string()));
}

#[test]
fn a_canonical_nested_spec_keeps_a_clear_primary_improvement() {
    let spec = json!({
        "metric": {
            "primary": {"name": "wall_seconds", "direction": "minimize", "type": "hard"},
            "degenerate_gates": [{"name": "suite_passed", "check": "== 1"}],
        },
        "measurement": {"stability": {"mode": "stable", "noise_threshold": 0.02, "comparison": {"method": "absolute"}}},
    });
    let r = run(&spec, &snapshot(10.0), &snapshot(9.97));
    assert_eq!(r.decision, Verdict::Keep);
    assert!(r.eligible);
    assert_eq!(names(&r.improved_objectives), ["wall_seconds"]);
}

fn two_metrics(local: Value, ci: Value) -> Value {
    json!({"gates": {"suite_passed": 1}, "metrics": {"local_wall_seconds": local, "ci_critical_path_seconds": ci}})
}

fn bundle(x: f64) -> Value {
    json!({"aggregate": x, "samples": [x]})
}

#[test]
fn a_nested_spec_with_required_objectives_keeps_a_ci_only_win() {
    let spec = json!({
        "metric": {
            "primary": {"name": "local_wall_seconds", "direction": "minimize", "type": "hard"},
            "objectives": [{"name": "ci_critical_path_seconds", "direction": "minimize", "role": "required"}],
            "degenerate_gates": [{"name": "suite_passed", "check": "== 1"}],
        },
        "measurement": {"stability": {"comparison": {"method": "relative", "relative_threshold": 0.05}}},
    });
    let r = run(
        &spec,
        &two_metrics(bundle(100.0), bundle(120.0)),
        &two_metrics(bundle(101.0), bundle(80.0)),
    );
    assert_eq!(r.decision, Verdict::Keep);
    assert_eq!(names(&r.improved_objectives), ["ci_critical_path_seconds"]);
}

#[test]
fn a_payload_with_no_primary_is_an_error_not_an_empty_required_inconclusive() {
    let spec = json!({"degenerate_gates": [{"name": "suite_passed", "check": "== 1"}]});
    let r = run(&spec, &snapshot(10.0), &snapshot(1.0));
    assert_eq!(r.decision, Verdict::Error);
    assert!(!r.eligible);
    assert!(r.reason.contains("primary"));
}

#[test]
fn the_declared_stability_noise_threshold_is_the_absolute_bar_when_comparison_omits_it() {
    let spec = hard_spec(json!({
        "comparison": {"method": "absolute"},
        "measurement": {"stability": {"noise_threshold": 0.05}},
    }));
    let inside = run(&spec, &snapshot(10.0), &snapshot(9.97));
    assert_eq!(inside.decision, Verdict::Inconclusive);
    assert!(!inside.eligible);
    let above = run(&spec, &snapshot(10.0), &snapshot(9.94));
    assert_eq!(above.decision, Verdict::Keep);
}

#[test]
fn a_non_finite_required_aggregate_is_an_error_not_an_eligible_keep() {
    let spec = hard_spec(json!({
        "primary": {"name": "local_wall_seconds", "direction": "minimize", "type": "hard"},
        "objectives": [{"name": "ci_critical_path_seconds", "direction": "minimize", "role": "required"}],
    }));
    let r = run(
        &spec,
        &two_metrics(bundle(100.0), bundle(120.0)),
        &two_metrics(
            json!({"aggregate": "bad", "samples": ["bad"]}),
            bundle(80.0),
        ),
    );
    assert_eq!(r.decision, Verdict::Error);
    assert!(!r.eligible);
    assert!(r.reason.contains("local_wall_seconds"));
}

// multi-objective acceptance

fn three_objective_spec() -> Value {
    hard_spec(json!({
        "primary": {"name": "local_wall_seconds", "direction": "minimize", "type": "hard", "target": 300},
        "objectives": [
            {"name": "local_wall_seconds", "direction": "minimize", "role": "required", "target": 300},
            {"name": "ci_critical_path_seconds", "direction": "minimize", "role": "required", "target": 90},
            {"name": "runner_minutes", "direction": "minimize", "role": "required", "target": 40},
        ],
        "comparison": {"method": "relative", "relative_threshold": 0.05, "noise_threshold": 10},
    }))
}

fn three(local: f64, ci: f64, runner: f64) -> Value {
    json!({"gates": {"suite_passed": 1}, "metrics": {
        "local_wall_seconds": bundle(local),
        "ci_critical_path_seconds": bundle(ci),
        "runner_minutes": bundle(runner),
    }})
}

#[test]
fn a_ci_only_win_that_does_not_regress_the_other_required_objectives_is_eligible() {
    let r = run(
        &three_objective_spec(),
        &three(BASELINE_WALL, 120.0, 50.0),
        &three(370.0, 80.0, 49.0),
    );
    assert!(r.eligible);
    assert_eq!(r.decision, Verdict::Keep);
    assert_eq!(names(&r.improved_objectives), ["ci_critical_path_seconds"]);
    assert!(r.violated_objectives.is_empty());
    assert!(r.rank_score > 0.0);
}

#[test]
fn rank_score_stays_unit_invariant_when_the_primarys_unit_is_scaled() {
    let ranked = |scale: f64, primary_moved: bool| {
        let spec = hard_spec(json!({
            "primary": {"name": "wall", "direction": "minimize", "type": "hard"},
            "objectives": [
                {"name": "wall", "direction": "minimize", "role": "required"},
                {"name": "ci", "direction": "minimize", "role": "required"},
            ],
        }));
        let snap = |wall: f64, ci: f64| json!({"gates": {"suite_passed": 1}, "metrics": {"wall": bundle(wall), "ci": bundle(ci)}});
        let baseline = snap(scale, 100.0);
        let candidate = if primary_moved {
            snap(0.9 * scale, 100.0)
        } else {
            snap(scale, 50.0)
        };
        run(&spec, &baseline, &candidate).rank_score
    };
    let winner = |scale| ranked(scale, true) >= ranked(scale, false);
    assert_eq!(winner(1.0), winner(1000.0));
    assert!((ranked(1.0, true) - ranked(1000.0, true)).abs() < 1e-9);
    assert!((ranked(1.0, false) - ranked(1000.0, false)).abs() < 1e-9);
    assert!((ranked(1.0, true) - 0.1).abs() < 1e-9);
    assert!((ranked(1.0, false) - 0.5).abs() < 1e-9);
}

#[test]
fn a_ci_win_that_regresses_local_wall_beyond_the_threshold_is_not_eligible() {
    let r = run(
        &three_objective_spec(),
        &three(BASELINE_WALL, 120.0, 50.0),
        &three(494.657, 80.0, 49.0),
    );
    assert!(!r.eligible);
    assert_eq!(r.decision, Verdict::Revert);
    assert!(
        r.violated_objectives
            .contains(&"local_wall_seconds".to_string())
    );
}

#[test]
fn the_primary_remains_required_when_objectives_omit_it() {
    let spec = hard_spec(json!({
        "primary": {"name": "local_wall_seconds", "direction": "minimize", "type": "hard"},
        "objectives": [{"name": "ci_critical_path_seconds", "direction": "minimize", "role": "required"}],
        "comparison": {"method": "relative", "relative_threshold": 0.05, "noise_threshold": 10},
    }));
    let r = run(
        &spec,
        &two_metrics(bundle(100.0), bundle(120.0)),
        &two_metrics(bundle(150.0), bundle(80.0)),
    );
    assert!(!r.eligible);
    assert_eq!(r.decision, Verdict::Revert);
    assert!(
        r.violated_objectives
            .contains(&"local_wall_seconds".to_string())
    );
    assert_eq!(names(&r.improved_objectives), ["ci_critical_path_seconds"]);
}

fn local_only_spec(max_regression: f64, with_ci: bool) -> Value {
    let mut objectives = vec![json!({
        "name": "local_wall_seconds", "direction": "minimize", "role": "required",
        "max_regression": {"type": "relative", "value": max_regression},
    })];
    if with_ci {
        objectives.push(json!({"name": "ci_critical_path_seconds", "direction": "minimize", "role": "required"}));
    }
    hard_spec(json!({
        "primary": {"name": "local_wall_seconds", "direction": "minimize", "type": "hard"},
        "objectives": objectives,
        "comparison": {"method": "relative", "relative_threshold": 0.05, "noise_threshold": 10},
    }))
}

#[test]
fn a_tolerated_regression_with_no_compensating_gain_is_a_revert_not_inconclusive() {
    let local = |x: f64| snapshot_with(x, json!({"metrics": {"local_wall_seconds": bundle(x)}}));
    let r = run(&local_only_spec(0.1, false), &local(100.0), &local(107.0));
    assert!(!r.eligible);
    assert_eq!(r.decision, Verdict::Revert);
    assert!(r.violated_objectives.is_empty());
    assert_eq!(
        r.comparison("local_wall_seconds").unwrap().verdict,
        ObjectiveVerdict::Regressed
    );
}

#[test]
fn a_negative_max_regression_bound_does_not_turn_an_unchanged_objective_into_a_violation() {
    let r = run(
        &local_only_spec(-0.1, true),
        &two_metrics(bundle(100.0), bundle(120.0)),
        &two_metrics(bundle(100.0), bundle(80.0)),
    );
    assert!(r.eligible);
    assert_eq!(r.decision, Verdict::Keep);
    assert!(r.violated_objectives.is_empty());
    assert_eq!(names(&r.improved_objectives), ["ci_critical_path_seconds"]);
}

#[test]
fn a_looser_max_regression_is_the_violation_bound_not_the_comparison_threshold() {
    let r = run(
        &local_only_spec(0.1, true),
        &two_metrics(bundle(100.0), bundle(120.0)),
        &two_metrics(bundle(107.0), bundle(80.0)),
    );
    assert!(r.eligible);
    assert_eq!(r.decision, Verdict::Keep);
    assert!(r.violated_objectives.is_empty());
    assert_eq!(names(&r.improved_objectives), ["ci_critical_path_seconds"]);
}

#[test]
fn target_reached_requires_every_declared_required_target_not_only_the_primary() {
    let base = three(BASELINE_WALL, 120.0, 50.0);
    let almost = run(&three_objective_spec(), &base, &three(280.0, 80.0, 45.0));
    assert!(almost.eligible);
    assert!(!almost.target_reached);
    let done = run(&three_objective_spec(), &base, &three(280.0, 80.0, 38.0));
    assert!(done.target_reached);
}

#[test]
fn a_listed_primary_target_does_not_replace_the_canonical_primary_target() {
    let spec = hard_spec(json!({
        "primary": {"name": "local_wall_seconds", "direction": "minimize", "type": "hard", "target": 300},
        "objectives": [{"name": "local_wall_seconds", "direction": "minimize", "role": "required", "target": 400}],
    }));
    let local = |x: f64| snapshot_with(x, json!({"metrics": {"local_wall_seconds": bundle(x)}}));
    let r = run(&spec, &local(500.0), &local(350.0));
    assert!(r.eligible);
    assert!(!r.target_reached);
}

// noise-aware comparison from the observed suite run

fn noisy_spec() -> Value {
    hard_spec(
        json!({"comparison": {"method": "relative", "relative_threshold": 0.05, "noise_threshold": 10}}),
    )
}

fn noisy_baseline() -> Value {
    snapshot_with(
        BASELINE_WALL,
        json!({"metrics": {"wall_seconds": {"aggregate": BASELINE_WALL, "samples": [368.915, 372.869, 375.1, 380.2, 504.309]}}}),
    )
}

#[test]
fn each_screened_experiment_is_a_revert_or_censor_not_a_keep() {
    for wall in OBSERVED {
        let r = run(&noisy_spec(), &noisy_baseline(), &snapshot(wall));
        assert!(!r.eligible);
        assert!(matches!(r.decision, Verdict::Revert | Verdict::Censored));
    }
}

#[test]
fn a_2_percent_improvement_against_a_5_percent_relative_threshold_is_inconclusive() {
    let r = run(
        &noisy_spec(),
        &noisy_baseline(),
        &snapshot(BASELINE_WALL * 0.98),
    );
    assert_eq!(r.decision, Verdict::Inconclusive);
    assert!(!r.eligible);
}

#[test]
fn a_negative_relative_threshold_is_rejected_instead_of_turning_a_tie_into_a_keep() {
    let spec =
        hard_spec(json!({"comparison": {"method": "relative", "relative_threshold": -0.05}}));
    let r = run(&spec, &snapshot(10.0), &snapshot(10.0));
    assert!(!r.eligible);
    assert_eq!(r.decision, Verdict::Inconclusive);
}

#[test]
fn a_zero_baseline_does_not_mix_relative_and_absolute_units() {
    let spec = hard_spec(
        json!({"comparison": {"method": "relative", "relative_threshold": 0.05, "noise_threshold": 0.02}}),
    );
    let at_unit = run(&spec, &snapshot(0.0), &snapshot(0.01));
    let scaled = run(&spec, &snapshot(0.0), &snapshot(10.0));
    assert_eq!(at_unit.decision, Verdict::Inconclusive);
    assert_eq!(scaled.decision, at_unit.decision);
    assert!(!at_unit.eligible && !scaled.eligible);
    assert_eq!(at_unit.rank_score, scaled.rank_score);
}

mod newest;
mod paired;
