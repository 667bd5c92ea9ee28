//! Decisions from numbers alone: gates, comparisons, batch evaluation. No I/O.

use crate::measure::Metrics;
use crate::spec::{Gate, GateCheck};

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

#[cfg(test)]
mod tests {
    use super::*;

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
