//! The rules of ce-optimize's newest decide.mjs (held-out confirmation,
//! per-case regressions, paired sample counts) and the corrections to older
//! rules it carries; each case was checked against decide.mjs itself.

use serde_json::{Value, json};

use super::*;

fn judged(extra: Value) -> Value {
    let mut spec = json!({
        "metric": {
            "primary": {"name": "quality", "direction": "maximize", "type": "judge"},
            "judge": {"minimum_improvement": 0.3},
        },
    });
    merge(&mut spec, extra);
    spec
}

fn hold(spec: &Value, baseline: &Value, candidate: &Value, holdout: Value) -> Decision {
    decided(json!({"spec": spec, "baseline": baseline, "candidate": candidate, "holdout": holdout}))
}

fn holdout_spec() -> Value {
    hard_spec(json!({"measurement": {"holdout": {"command": "./holdout.sh"}}}))
}

#[test]
fn a_judge_score_is_read_from_the_judge_container_first() {
    let spec = judged(json!({}));
    let baseline = json!({"judge": {"quality": 3.0}, "metrics": {"quality": 9.0}});
    let candidate = json!({"judge": {"quality": 4.0}, "metrics": {"quality": 1.0}});
    let d = run(&spec, &baseline, &candidate);
    assert_eq!(d.decision, Verdict::Keep, "{}", d.reason);
    assert_eq!(d.primary_delta, Some(1.0));
}

#[test]
fn a_hard_metric_is_still_read_from_metrics_first() {
    let spec = hard_spec(json!({}));
    let baseline = json!({"gates": {"suite_passed": 1}, "metrics": {"wall_seconds": 10.0}, "judge": {"wall_seconds": 1.0}});
    let candidate = json!({"gates": {"suite_passed": 1}, "metrics": {"wall_seconds": 5.0}, "judge": {"wall_seconds": 50.0}});
    assert_eq!(run(&spec, &baseline, &candidate).primary_delta, Some(5.0));
}

#[test]
fn paired_judge_scores_without_samples_are_compared_against_the_judge_floor() {
    let spec = judged(json!({"comparison": {"method": "paired"}}));
    let baseline = json!({"judge": {"quality": 3.0}});
    let better = run(&spec, &baseline, &json!({"judge": {"quality": 3.5}}));
    assert_eq!(better.decision, Verdict::Keep, "{}", better.reason);
    let within = run(&spec, &baseline, &json!({"judge": {"quality": 3.2}}));
    assert_eq!(within.decision, Verdict::Inconclusive);
}

#[test]
fn paired_candidate_samples_beyond_the_baseline_are_an_error_naming_the_counts() {
    let spec = hard_spec(json!({"comparison": {"method": "paired", "relative_threshold": 0.01}}));
    let baseline = snapshot_with(
        10.0,
        json!({"metrics": {"wall_seconds": {"samples": [10.0, 10.0]}}}),
    );
    let candidate = snapshot_with(
        5.0,
        json!({"metrics": {"wall_seconds": {"samples": [5.0, 5.0, 5.0]}}}),
    );
    let d = run(&spec, &baseline, &candidate);
    assert_eq!(d.decision, Verdict::Error);
    assert_eq!(
        d.reason,
        "insufficient paired baseline samples: wall_seconds (2 observed, 3 required)"
    );
}

#[test]
fn a_paired_baseline_on_the_ladder_must_cover_the_confirmation_samples() {
    let spec = hard_spec(json!({
        "comparison": {"method": "paired", "relative_threshold": 0.01},
        "stability_mode": "ladder",
        "ladder": {"confirmation_repeats": 4},
    }));
    let baseline = snapshot_with(
        10.0,
        json!({"metrics": {"wall_seconds": {"samples": [10.0, 10.0]}}}),
    );
    let candidate = snapshot_with(
        5.0,
        json!({"metrics": {"wall_seconds": {"samples": [5.0]}}}),
    );
    let d = run(&spec, &baseline, &candidate);
    assert_eq!(
        d.reason,
        "insufficient paired baseline samples: wall_seconds (2 observed, 4 required)"
    );
}

#[test]
fn futility_waits_while_an_objective_is_inside_its_threshold() {
    let spec = hard_spec(json!({
        "stability_mode": "ladder",
        "ladder": {"futility": {"after_elapsed_seconds": 10}},
    }));
    // Slower, but inside the 0.02 s threshold: still contending.
    let d = run(
        &spec,
        &snapshot(100.0),
        &snapshot_with(100.01, json!({"elapsed_seconds": 60})),
    );
    assert_eq!(d.decision, Verdict::Inconclusive, "{}", d.reason);
}

#[test]
fn an_elapsed_bound_of_zero_is_no_bound() {
    let spec = hard_spec(json!({
        "stability_mode": "ladder",
        "ladder": {"futility": {"after_elapsed_seconds": 0, "worse_factor": 10}},
    }));
    let d = run(
        &spec,
        &snapshot(100.0),
        &snapshot_with(150.0, json!({"elapsed_seconds": 60})),
    );
    assert_eq!(d.decision, Verdict::Revert, "{}", d.reason);
}

#[test]
fn an_inconclusive_ladder_asks_for_no_more_samples_than_confirmation_takes() {
    let spec = hard_spec(json!({
        "stability_mode": "ladder",
        "ladder": {"exploratory_pairs": 2, "confirmation_repeats": 2},
    }));
    let two = json!({"metrics": {"wall_seconds": {"samples": [100.01, 100.01]}}});
    let d = run(&spec, &snapshot(100.0), &snapshot_with(100.01, two));
    assert_eq!(
        (d.decision, d.next_measurement),
        (Verdict::Inconclusive, Next::None)
    );
}

#[test]
fn confirmation_waits_for_every_required_objectives_samples() {
    let spec = hard_spec(json!({
        "objectives": [{"name": "memory", "direction": "minimize"}],
        "stability_mode": "ladder",
        "ladder": {"confirmation_repeats": 3},
    }));
    let baseline = snapshot_with(
        100.0,
        json!({"metrics": {"wall_seconds": 100.0, "memory": 10.0}}),
    );
    let candidate = snapshot_with(
        50.0,
        json!({"metrics": {"wall_seconds": {"samples": [50.0, 50.0, 50.0]}, "memory": {"samples": [10.0]}}}),
    );
    let d = run(&spec, &baseline, &candidate);
    assert_eq!(
        (d.decision, d.next_measurement),
        (Verdict::Promising, Next::Confirm)
    );
}

#[test]
fn a_would_be_keep_waits_for_the_holdout_pair() {
    let d = run(&holdout_spec(), &snapshot(100.0), &snapshot(50.0));
    assert_eq!(
        (d.decision, d.next_measurement),
        (Verdict::Promising, Next::Holdout)
    );
    assert_eq!(
        d.reason,
        "selection comparison would keep; held-out confirmation still missing"
    );
}

#[test]
fn a_holdout_that_agrees_keeps() {
    let pair = json!({"baseline": snapshot(100.0), "candidate": snapshot(60.0)});
    let d = hold(&holdout_spec(), &snapshot(100.0), &snapshot(50.0), pair);
    assert_eq!(d.decision, Verdict::Keep);
    assert!(d.eligible);
    let check = d.holdout.expect("the holdout's verdict");
    assert!(check.agrees && check.reason.is_none());
    assert_eq!(names(&check.improved_objectives), ["wall_seconds"]);
}

#[test]
fn a_holdout_that_does_not_agree_withholds_the_keep() {
    let spec = holdout_spec();
    let (base, cand) = (snapshot(100.0), snapshot(50.0));
    let cases = [
        (
            snapshot(100.01),
            Verdict::Inconclusive,
            "holdout did not confirm the selection gain",
        ),
        (
            snapshot(150.0),
            Verdict::Revert,
            "holdout regressed wall_seconds",
        ),
        (
            json!({"gates": {"suite_passed": 0}, "metrics": {"wall_seconds": 50.0}}),
            Verdict::Degenerate,
            "holdout degenerate gate failed: suite_passed",
        ),
        (
            json!({"gates": {"suite_passed": 1}}),
            Verdict::Error,
            "holdout missing required metric: wall_seconds",
        ),
    ];
    for (held_out, verdict, reason) in cases {
        let pair = json!({"baseline": snapshot(100.0), "candidate": held_out});
        let d = hold(&spec, &base, &cand, pair);
        assert_eq!((d.decision, d.reason.as_str()), (verdict, reason));
        assert!(!d.eligible);
        assert!(!d.holdout.unwrap().agrees);
    }
}

#[test]
fn a_judge_confirmation_seed_other_than_the_sample_seed_configures_a_holdout() {
    let spec = judged(json!({"metric": {
        "primary": {"name": "quality", "direction": "maximize", "type": "judge"},
        "judge": {"confirmation_seed": 7},
    }}));
    let d = run(
        &spec,
        &json!({"judge": {"quality": 3.0}}),
        &json!({"judge": {"quality": 4.0}}),
    );
    assert_eq!(d.next_measurement, Next::Holdout);
    let same = judged(json!({"metric": {
        "primary": {"name": "quality", "direction": "maximize", "type": "judge"},
        "judge": {"confirmation_seed": 42},
    }}));
    let d = run(
        &same,
        &json!({"judge": {"quality": 3.0}}),
        &json!({"judge": {"quality": 4.0}}),
    );
    assert_eq!(d.decision, Verdict::Keep);
}

#[test]
fn regressions_are_the_cases_the_best_passed_and_the_candidate_fails() {
    let baseline = snapshot_with(
        100.0,
        json!({"cases": {"b": "pass", "a": true, "c": 1, "d": false}}),
    );
    let candidate = snapshot_with(
        50.0,
        json!({"cases": {"a": "fail", "b": 0, "c": "1", "d": false}}),
    );
    let d = run(&hard_spec(json!({})), &baseline, &candidate);
    assert_eq!(names(&d.regressions), ["a", "b"]);
    assert_eq!(
        d.decision,
        Verdict::Keep,
        "regressions are reported, not decided on"
    );
    assert!(
        run(&hard_spec(json!({})), &snapshot(100.0), &candidate)
            .regressions
            .is_empty()
    );
}
