//! Decisions from numbers alone: gates, comparisons, batch evaluation. No I/O.

pub mod rules;
pub mod snapshot;
pub mod stats;

use crate::measure::Metrics;
use crate::spec::{Direction, Gate, GateCheck};

#[derive(Debug, Clone, PartialEq)]
pub struct GateResult {
    pub name: String,
    pub check: GateCheck,
    pub value: Option<f64>,
    pub passed: bool,
}

/// Every gate against the metrics; a missing or NaN value fails its gate.
pub fn evaluate_gates(gates: &[Gate], metrics: &Metrics) -> Vec<GateResult> {
    gates
        .iter()
        .map(|g| {
            let value = metrics.get(&g.name).copied();
            GateResult {
                name: g.name.clone(),
                check: g.check,
                value,
                passed: value
                    .is_some_and(|v| !v.is_nan() && g.check.op.holds(v, g.check.threshold)),
            }
        })
        .collect()
}

pub fn all_passed(results: &[GateResult]) -> bool {
    results.iter().all(|r| r.passed)
}

/// Whether `candidate` beats `reference` by more than `threshold`.
pub fn improves(direction: Direction, candidate: f64, reference: f64, threshold: f64) -> bool {
    !candidate.is_nan() && direction.improvement(candidate, reference) > threshold
}

/// The change in a metric, signed as in the log: `+0.7`, `-0.3`.
pub fn format_delta(delta: f64) -> String {
    // Rounded to a millionth, where that cannot overflow.
    let rounded = if delta.abs() < 1e9 {
        (delta * 1e6).round() / 1e6
    } else {
        delta
    };
    let text = crate::text::fmt_num(rounded.abs());
    if rounded < 0.0 {
        format!("-{text}")
    } else {
        format!("+{text}")
    }
}

/// A measured experiment, as the batch's decision sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub iteration: u64,
    /// Improves a required objective beyond the threshold and violates none.
    pub eligible: bool,
    /// decide's `rank_score`: the primary's relative gain when it moved.
    pub rank: f64,
    pub files: Vec<String>,
}

/// What to do with a batch's measured experiments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchPlan {
    /// The best-ranked eligible experiment: its commit becomes the new best.
    pub kept: Option<u64>,
    /// Eligible, file-disjoint experiments to cherry-pick onto the new best
    /// in this order, stopping at the first combination that is not better.
    pub runner_ups: Vec<u64>,
    /// Everything else, in iteration order.
    pub not_kept: Vec<u64>,
}

/// Step 6 of the loop: the best-ranked eligible experiment is kept; up to
/// `max_runner_ups` other eligible ones that touch none of the files already
/// merged are tried as runner-ups.
pub fn plan_batch(candidates: &[Candidate], max_runner_ups: usize) -> BatchPlan {
    let mut eligible: Vec<&Candidate> = candidates.iter().filter(|c| c.eligible).collect();
    eligible.sort_by(|a, b| {
        b.rank
            .total_cmp(&a.rank)
            .then(a.iteration.cmp(&b.iteration))
    });
    let mut plan = BatchPlan::default();
    let mut merged_files: Vec<&str> = Vec::new();
    if let Some(winner) = eligible.first() {
        plan.kept = Some(winner.iteration);
        merged_files.extend(winner.files.iter().map(String::as_str));
        for c in &eligible[1..] {
            let disjoint = c.files.iter().all(|f| !merged_files.contains(&f.as_str()));
            if disjoint && plan.runner_ups.len() < max_runner_ups {
                plan.runner_ups.push(c.iteration);
                merged_files.extend(c.files.iter().map(String::as_str));
            }
        }
    }
    let mut rest: Vec<u64> = candidates
        .iter()
        .map(|c| c.iteration)
        .filter(|i| plan.kept != Some(*i) && !plan.runner_ups.contains(i))
        .collect();
    rest.sort();
    plan.not_kept = rest;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A candidate measured `value` against a best of 100 (minimize unless
    /// said), eligible when it beats it by more than 0.5.
    fn cand(iteration: u64, value: f64, files: &[&str]) -> Candidate {
        cand_dir(iteration, value, files, Direction::Minimize, 100.0, 0.5)
    }

    fn cand_dir(
        iteration: u64,
        value: f64,
        files: &[&str],
        direction: Direction,
        best: f64,
        threshold: f64,
    ) -> Candidate {
        Candidate {
            iteration,
            eligible: improves(direction, value, best, threshold),
            rank: direction.improvement(value, best) / best,
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn keeps_the_best_improvement_beyond_noise() {
        let c = [
            cand(1, 95.0, &["a"]),
            cand(2, 80.0, &["b"]),
            cand(3, 99.99, &["c"]),
        ];
        let plan = plan_batch(&c, 0);
        assert_eq!(plan.kept, Some(2));
        assert_eq!(plan.not_kept, vec![1, 3]);
    }

    #[test]
    fn noise_is_not_a_win() {
        let c = [cand_dir(1, 100.4, &["a"], Direction::Maximize, 100.0, 0.5)];
        let plan = plan_batch(&c, 1);
        assert_eq!(
            plan,
            BatchPlan {
                kept: None,
                runner_ups: vec![],
                not_kept: vec![1]
            }
        );
    }

    #[test]
    fn runner_ups_are_file_disjoint_and_capped() {
        let c = [
            cand(1, 80.0, &["a"]),
            cand(2, 85.0, &["a", "b"]),
            cand(3, 90.0, &["c"]),
            cand(4, 92.0, &["d"]),
            cand(5, 101.0, &["e"]),
        ];
        let plan = plan_batch(&c, 1);
        assert_eq!(plan.kept, Some(1));
        assert_eq!(plan.runner_ups, vec![3]);
        assert_eq!(plan.not_kept, vec![2, 4, 5]);
        let plan = plan_batch(&c, 5);
        assert_eq!(plan.runner_ups, vec![3, 4]);
    }

    #[test]
    fn ties_go_to_the_earlier_iteration() {
        let c = [
            cand_dir(7, 2.0, &["a"], Direction::Maximize, 1.0, 0.0),
            cand_dir(6, 2.0, &["b"], Direction::Maximize, 1.0, 0.0),
        ];
        assert_eq!(plan_batch(&c, 0).kept, Some(6));
    }

    #[test]
    fn deltas_are_signed() {
        assert_eq!(format_delta(0.7), "+0.7");
        assert_eq!(format_delta(-0.30000000001), "-0.3");
        assert_eq!(format_delta(0.0), "+0");
    }

    fn gate(name: &str, check: &str) -> Gate {
        Gate {
            name: name.into(),
            check: GateCheck::parse(check).unwrap(),
            description: None,
        }
    }

    #[test]
    fn gates_pass_and_fail() {
        let gates = [
            gate("ok", "== 1"),
            gate("err", "<= 0.1"),
            gate("absent", ">= 0"),
        ];
        let m = Metrics::from([("ok".into(), 1.0), ("err".into(), 0.2)]);
        let r = evaluate_gates(&gates, &m);
        assert_eq!(
            r.iter().map(|g| g.passed).collect::<Vec<_>>(),
            [true, false, false]
        );
        assert!(!all_passed(&r));
    }

    #[test]
    fn every_operator() {
        for (check, value, expect) in [
            (">= 1", 1.0, true),
            ("> 1", 1.0, false),
            ("<= 1", 1.0, true),
            ("< 1", 0.5, true),
            ("== 0", 0.0, true),
            ("!= 0", 0.0, false),
        ] {
            let c = GateCheck::parse(check).unwrap();
            assert_eq!(c.op.holds(value, c.threshold), expect, "{check} on {value}");
        }
    }

    #[test]
    fn nan_fails_every_gate() {
        let r = evaluate_gates(
            &[gate("x", "!= 0")],
            &Metrics::from([("x".into(), f64::NAN)]),
        );
        assert!(!r[0].passed);
    }
}
