//! The cases of paired comparison, samples and their aggregation.

use serde_json::{Value, json};

use super::*;

fn paired_spec() -> Value {
    hard_spec(
        json!({"comparison": {"method": "paired", "relative_threshold": 0.05, "noise_threshold": 10}}),
    )
}

#[test]
fn paired_comparison_without_sample_ranges_is_inconclusive() {
    let r = run(
        &paired_spec(),
        &json!({"gates": {"suite_passed": 1}, "diagnostics": {"wall_seconds": 100}}),
        &json!({"gates": {"suite_passed": 1}, "diagnostics": {"wall_seconds": 90}}),
    );
    assert_eq!(r.decision, Verdict::Inconclusive);
    assert!(!r.eligible);
}

#[test]
fn paired_comparison_of_a_scalar_snapshot_still_flags_a_clear_regression() {
    let r = run(
        &paired_spec(),
        &json!({"gates": {"suite_passed": 1}, "diagnostics": {"wall_seconds": 100}}),
        &json!({"gates": {"suite_passed": 1}, "diagnostics": {"wall_seconds": 150}}),
    );
    assert_eq!(r.decision, Verdict::Revert);
    assert!(!r.eligible);
    assert_eq!(names(&r.violated_objectives), ["wall_seconds"]);
}

#[test]
fn a_sampled_paired_win_does_not_keep_when_a_required_scalar_objective_regresses() {
    let spec = hard_spec(json!({
        "primary": {"name": "local_wall_seconds", "direction": "minimize", "type": "hard"},
        "objectives": [
            {"name": "local_wall_seconds", "direction": "minimize", "role": "required"},
            {"name": "ci_critical_path_seconds", "direction": "minimize", "role": "required"},
        ],
        "comparison": {"method": "paired", "relative_threshold": 0.05, "noise_threshold": 10},
    }));
    let r = run(
        &spec,
        &json!({"gates": {"suite_passed": 1}, "diagnostics": {"local_wall_seconds": 100},
            "metrics": {"ci_critical_path_seconds": {"aggregate": 120, "samples": [118, 120, 122]}}}),
        &json!({"gates": {"suite_passed": 1}, "diagnostics": {"local_wall_seconds": 150},
            "metrics": {"ci_critical_path_seconds": {"aggregate": 80, "samples": [78, 80, 82]}}}),
    );
    assert!(!r.eligible);
    assert_eq!(r.decision, Verdict::Revert);
    assert_eq!(names(&r.improved_objectives), ["ci_critical_path_seconds"]);
    assert_eq!(names(&r.violated_objectives), ["local_wall_seconds"]);
}

#[test]
fn persisted_samples_override_a_contradicting_aggregate() {
    let spec = hard_spec(json!({"comparison": {"method": "absolute", "noise_threshold": 1}}));
    let candidate = json!({"gates": {"suite_passed": 1},
        "metrics": {"wall_seconds": {"aggregate": 80, "samples": [120, 120, 120, 120, 120]}}, "sample_count": 5});
    let r = run(&spec, &snapshot(100.0), &candidate);
    assert_eq!(r.decision, Verdict::Revert);
    assert!(!r.eligible);
}

#[test]
fn sample_only_bundles_use_the_configured_aggregation_not_always_the_median() {
    let spec = hard_spec(
        json!({"aggregation": "mean", "comparison": {"method": "absolute", "noise_threshold": 1}}),
    );
    let r = run(
        &spec,
        &json!({"gates": {"suite_passed": 1}, "metrics": {"wall_seconds": {"samples": [0, 100, 100]}}}),
        &json!({"gates": {"suite_passed": 1}, "metrics": {"wall_seconds": {"samples": [80, 80, 80]}}}),
    );
    assert_eq!(r.decision, Verdict::Revert);
    assert!(!r.eligible);
}

#[test]
fn paired_comparison_is_inconclusive_when_sample_ranges_overlap() {
    let objective = Objective {
        name: "wall".into(),
        direction: Direction::Minimize,
        judge: false,
        target: None,
        max_regression: None,
    };
    let result = compare_objective(
        &objective,
        &Bundle {
            aggregate: Some(BASELINE_WALL),
            samples: vec![368.915, 372.869, 504.309],
        },
        &Bundle {
            aggregate: Some(360.0),
            samples: vec![355.0, 380.0],
        },
        &Thresholds {
            method: Method::Paired,
            noise_threshold: 10.0,
            relative_threshold: 0.05,
            minimum_improvement: None,
        },
    );
    assert_eq!(result.verdict, ObjectiveVerdict::Inconclusive);
}

// cost-aware measurement ladder

fn ladder_spec(ladder: Value, extra: Value) -> Value {
    let mut spec = hard_spec(json!({
        "stability_mode": "ladder",
        "ladder": ladder,
        "comparison": {"method": "relative", "relative_threshold": 0.05, "noise_threshold": 10},
    }));
    merge(&mut spec, extra);
    spec
}

fn standard_ladder() -> Value {
    ladder_spec(
        json!({"smoke_command": "python tools/eval/measure.py --smoke", "exploratory_pairs": 1,
            "confirmation_repeats": 5, "futility": {"worse_factor": 1.2}}),
        json!({}),
    )
}

fn smoked(wall: f64, sample_count: Value) -> Value {
    snapshot_with(
        wall,
        json!({"smoke_passed": true, "sample_count": sample_count}),
    )
}

#[test]
fn a_failed_smoke_test_is_degenerate_before_any_timed_run() {
    let r = run(
        &standard_ladder(),
        &snapshot(BASELINE_WALL),
        &snapshot_with(1.0, json!({"smoke_passed": false})),
    );
    assert_eq!(r.decision, Verdict::Degenerate);
    assert_eq!(r.next_measurement, Next::None);
    assert!(r.reason.contains("smoke"));
}

#[test]
fn the_first_much_worse_sample_is_censored_instead_of_spending_the_five_run_protocol() {
    let r = run(
        &standard_ladder(),
        &snapshot(BASELINE_WALL),
        &smoked(OBSERVED[0], json!(1)),
    );
    assert_eq!(r.decision, Verdict::Censored);
    assert_eq!(r.next_measurement, Next::None);
}

#[test]
fn multiplicative_futility_does_not_reverse_the_bound_on_a_negative_baseline() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 1, "confirmation_repeats": 5, "futility": {"worse_factor": 1.2}}),
        json!({
            "primary": {"name": "score", "direction": "maximize", "type": "hard"},
            "comparison": {"method": "relative", "relative_threshold": 0.1, "noise_threshold": 10},
        }),
    );
    let r = run(
        &spec,
        &snapshot_with(-100.0, json!({"metrics": {"score": bundle(-100.0)}})),
        &json!({"gates": {"suite_passed": 1}, "metrics": {"score": bundle(-95.0)}, "smoke_passed": true, "sample_count": 1}),
    );
    assert_ne!(r.decision, Verdict::Censored);
    assert!(!r.eligible);
}

#[test]
fn a_configured_futility_object_applies_the_documented_worse_factor_default() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 1, "confirmation_repeats": 5, "futility": {}}),
        json!({}),
    );
    let r = run(
        &spec,
        &snapshot(BASELINE_WALL),
        &smoked(BASELINE_WALL * 1.3, json!(1)),
    );
    assert_eq!(r.decision, Verdict::Censored);
    assert_eq!(r.next_measurement, Next::None);
}

#[test]
fn elapsed_time_futility_does_not_censor_an_eligible_required_objective_win() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 1, "confirmation_repeats": 5,
            "futility": {"worse_factor": 1.2, "after_elapsed_seconds": 415}}),
        json!({
            "primary": {"name": "local_wall_seconds", "direction": "minimize", "type": "hard"},
            "objectives": [
                {"name": "local_wall_seconds", "direction": "minimize", "role": "required"},
                {"name": "ci_critical_path_seconds", "direction": "minimize", "role": "required"},
            ],
        }),
    );
    let five = |x: f64| json!({"aggregate": x, "samples": [x, x, x, x, x]});
    let mut candidate = two_metrics(five(BASELINE_WALL + 1.0), five(80.0));
    merge(
        &mut candidate,
        json!({"smoke_passed": true, "sample_count": 5, "elapsed_seconds": 415}),
    );
    let r = run(
        &spec,
        &two_metrics(bundle(BASELINE_WALL), bundle(120.0)),
        &candidate,
    );
    assert!(r.eligible);
    assert_eq!(r.decision, Verdict::Keep);
    assert_eq!(names(&r.improved_objectives), ["ci_critical_path_seconds"]);
}

#[test]
fn an_elapsed_time_futility_bound_censors_an_already_noncompetitive_live_run() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 1, "confirmation_repeats": 5,
            "futility": {"worse_factor": 1.2, "after_elapsed_seconds": 415}}),
        json!({}),
    );
    let candidate = snapshot_with(
        420.0,
        json!({"smoke_passed": true, "sample_count": 1, "elapsed_seconds": 415}),
    );
    let r = run(&spec, &snapshot(BASELINE_WALL), &candidate);
    assert_eq!(r.decision, Verdict::Censored);
}

#[test]
fn a_first_sample_with_exploratory_pairs_above_1_asks_for_another_exploratory_sample() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 2, "confirmation_repeats": 5, "futility": {"worse_factor": 1.2}}),
        json!({}),
    );
    let r = run(&spec, &snapshot(BASELINE_WALL), &smoked(300.0, json!(1)));
    assert_eq!(r.decision, Verdict::Promising);
    assert_eq!(r.next_measurement, Next::Exploratory);
}

#[test]
fn a_promising_first_pair_asks_for_confirmation_instead_of_keeping_on_one_sample() {
    let r = run(
        &standard_ladder(),
        &snapshot(BASELINE_WALL),
        &smoked(300.0, json!(1)),
    );
    assert_eq!(r.decision, Verdict::Promising);
    assert!(r.eligible);
    assert_eq!(r.next_measurement, Next::Confirm);
}

#[test]
fn an_inconclusive_first_pair_asks_for_one_more_sample_not_the_full_protocol() {
    let r = run(
        &standard_ladder(),
        &snapshot(BASELINE_WALL),
        &smoked(BASELINE_WALL * 0.98, json!(1)),
    );
    assert_eq!(r.decision, Verdict::Inconclusive);
    assert_eq!(r.next_measurement, Next::AddSample);
}

#[test]
fn an_inconclusive_extra_sample_is_terminal_before_the_confirmation_budget() {
    let wall = BASELINE_WALL * 0.98;
    let candidate = json!({"gates": {"suite_passed": 1},
        "metrics": {"wall_seconds": {"aggregate": wall, "samples": [wall, wall]}},
        "sample_count": 2, "smoke_passed": true});
    let r = run(&standard_ladder(), &snapshot(BASELINE_WALL), &candidate);
    assert_eq!(r.decision, Verdict::Inconclusive);
    assert_eq!(r.next_measurement, Next::None);
    assert!(!r.eligible);
}

fn three_samples(samples: Value, count: u64) -> Value {
    json!({"gates": {"suite_passed": 1},
        "metrics": {"wall_seconds": {"aggregate": 300, "samples": samples}},
        "sample_count": count, "smoke_passed": true})
}

#[test]
fn confirmation_samples_default_to_repeat_count_when_confirmation_repeats_is_omitted() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 1, "futility": {"worse_factor": 1.2}}),
        json!({"repeat_count": 3}),
    );
    let r = run(
        &spec,
        &snapshot(BASELINE_WALL),
        &three_samples(json!([298, 300, 301]), 3),
    );
    assert_eq!(r.decision, Verdict::Keep);
    assert_eq!(r.next_measurement, Next::None);
}

#[test]
fn confirmation_repeats_of_0_does_not_keep_on_the_first_favorable_sample() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 1, "confirmation_repeats": 0}),
        json!({}),
    );
    let r = run(&spec, &snapshot(BASELINE_WALL), &smoked(300.0, json!(1)));
    assert_eq!(r.decision, Verdict::Promising);
    assert_ne!(r.next_measurement, Next::None);
}

#[test]
fn confirmation_repeats_below_exploratory_pairs_still_finishes_the_exploratory_stage() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 3, "confirmation_repeats": 2}),
        json!({}),
    );
    let r = run(
        &spec,
        &snapshot(BASELINE_WALL),
        &three_samples(json!([298, 300]), 2),
    );
    assert_eq!(r.decision, Verdict::Promising);
    assert_eq!(r.next_measurement, Next::Exploratory);
}

#[test]
fn a_declared_sample_count_larger_than_the_sample_array_does_not_skip_confirmation() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 1, "confirmation_repeats": 5}),
        json!({}),
    );
    let r = run(&spec, &snapshot(BASELINE_WALL), &smoked(300.0, json!(5)));
    assert_eq!(r.decision, Verdict::Promising);
    assert_ne!(r.next_measurement, Next::None);
}

#[test]
fn a_nonnumeric_sample_count_does_not_skip_confirmation() {
    let spec = ladder_spec(
        json!({"smoke_command": "x", "exploratory_pairs": 1, "confirmation_repeats": 5}),
        json!({}),
    );
    let r = run(
        &spec,
        &snapshot(BASELINE_WALL),
        &smoked(300.0, json!("bad")),
    );
    assert_eq!(r.decision, Verdict::Promising);
    assert_ne!(r.next_measurement, Next::None);
}

#[test]
fn a_confirmed_promising_candidate_becomes_a_keep_after_the_full_protocol() {
    let r = run(
        &standard_ladder(),
        &snapshot(BASELINE_WALL),
        &three_samples(json!([298, 300, 301, 299, 302]), 5),
    );
    assert_eq!(r.decision, Verdict::Keep);
    assert_eq!(r.next_measurement, Next::None);
}

// judge minimum as a comparison floor

fn scores(x: f64) -> Value {
    json!({"gates": {"suite_passed": 1}, "metrics": {"mean_score": bundle(x)}})
}

#[test]
fn a_relative_judge_gain_below_minimum_improvement_is_not_a_keep() {
    let spec = hard_spec(json!({
        "primary": {"name": "mean_score", "direction": "maximize", "type": "judge"},
        "comparison": {"method": "relative", "relative_threshold": 0.05},
        "minimum_improvement": 0.3,
    }));
    let below = run(&spec, &scores(4.0), &scores(4.25));
    assert_eq!(below.decision, Verdict::Inconclusive);
    assert!(!below.eligible);
    let above = run(&spec, &scores(4.0), &scores(4.4));
    assert_eq!(above.decision, Verdict::Keep);
    assert!(above.eligible);
}

#[test]
fn a_listed_judge_primary_keeps_the_judge_floor_instead_of_inheriting_hard() {
    let spec = json!({"metric": {
        "primary": {"name": "mean_score", "direction": "maximize", "type": "judge"},
        "objectives": [{"name": "mean_score", "direction": "maximize", "role": "required", "type": "hard"}],
        "judge": {"scoring": {"primary": "mean_score"}},
        "degenerate_gates": [{"name": "suite_passed", "check": "== 1"}],
    }});
    let r = run(&spec, &scores(4.0), &scores(4.1));
    assert_eq!(r.decision, Verdict::Inconclusive);
    assert!(!r.eligible);
}

#[test]
fn canonical_log_snapshots_keep_a_hard_primary_stored_under_diagnostics() {
    let r = run(
        &hard_spec(json!({})),
        &json!({"gates": {"suite_passed": 1}, "diagnostics": {"wall_seconds": 10}}),
        &json!({"gates": {"suite_passed": 1}, "diagnostics": {"wall_seconds": 9.97}}),
    );
    assert_eq!(r.decision, Verdict::Keep);
    assert!(r.eligible);
    assert_eq!(names(&r.improved_objectives), ["wall_seconds"]);
}

#[test]
fn canonical_log_snapshots_keep_a_judge_win_stored_under_judge_not_metrics() {
    let spec = json!({"metric": {
        "primary": {"name": "mean_score", "direction": "maximize", "type": "judge"},
        "judge": {"scoring": {"primary": "mean_score"}, "minimum_improvement": 0.3},
        "degenerate_gates": [{"name": "result_count", "check": ">= 5"}],
    }});
    let r = run(
        &spec,
        &json!({"gates": {"result_count": 10}, "judge": {"mean_score": 4.0}}),
        &json!({"gates": {"result_count": 10}, "judge": {"mean_score": 4.5}}),
    );
    assert_eq!(r.decision, Verdict::Keep);
    assert!(r.eligible);
    assert_eq!(names(&r.improved_objectives), ["mean_score"]);
}

#[test]
fn an_omitted_judge_minimum_improvement_defaults_to_0_3() {
    let spec = json!({"metric": {
        "primary": {"name": "mean_score", "direction": "maximize", "type": "judge"},
        "judge": {"scoring": {"primary": "mean_score"}},
        "degenerate_gates": [{"name": "suite_passed", "check": "== 1"}],
    }});
    let below = run(&spec, &scores(4.0), &scores(4.1));
    assert_eq!(below.decision, Verdict::Inconclusive);
    assert!(!below.eligible);
    let above = run(&spec, &scores(4.0), &scores(4.4));
    assert_eq!(above.decision, Verdict::Keep);
    assert!(above.eligible);
}

// the record, as decide.mjs prints it

#[test]
fn the_record_prints_like_decide_mjs() {
    let r = run(&hard_spec(json!({})), &snapshot(10.0), &snapshot(9.97));
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["decision"], "keep");
    assert_eq!(v["next_measurement"], "none");
    assert_eq!(v["comparisons"]["wall_seconds"]["verdict"], "improved");
    // Full precision, as JavaScript computes it.
    assert_eq!(v["primary_delta"].as_f64(), Some(10.0 - 9.97));
    // Whole numbers print without a fraction, as JSON.stringify does.
    let whole = run(&hard_spec(json!({})), &snapshot(10.0), &snapshot(8.0));
    let text = serde_json::to_string(&whole).unwrap();
    assert!(text.contains("\"primary_delta\":2,"), "{text}");
}
