//! The stop conditions: where a run stands against each, for the loop (which
//! stops at the first one met) and for `status` (which shows them all).

use crate::hypotheses;
use crate::log::ExperimentLog;
use crate::spec::{MetricType, Spec};

/// Why the loop stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    TargetReached,
    MaxIterations(u64),
    MaxHours(f64),
    Plateau(u64),
    BacklogEmpty,
    Interrupted,
    CostCap,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::TargetReached => write!(f, "the target was reached"),
            StopReason::MaxIterations(n) => write!(f, "max_iterations ({n}) reached"),
            StopReason::MaxHours(h) => write!(f, "max_hours ({h}) reached"),
            StopReason::Plateau(n) => write!(
                f,
                "no improvement in the last {n} experiments (plateau_iterations)"
            ),
            StopReason::BacklogEmpty => write!(f, "no runnable hypotheses are left in the backlog"),
            StopReason::Interrupted => write!(f, "interrupted"),
            StopReason::CostCap => {
                write!(f, "the judge budget (judge.max_total_cost_usd) is spent")
            }
        }
    }
}

/// Where a run stands, in the quantities the stop conditions compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub experiments: u64,
    pub active_hours: f64,
    pub since_last_keep: u64,
    pub best: Option<f64>,
    pub runnable: usize,
    pub judge_spent: f64,
}

impl Standing {
    pub fn of(spec: &Spec, log: &ExperimentLog, active_hours: f64, judge_spent: f64) -> Standing {
        Standing {
            experiments: log.experiments.len() as u64,
            active_hours,
            since_last_keep: log.since_last_keep(),
            best: log.best.metric(&spec.metric.primary.name),
            runnable: log
                .hypothesis_backlog
                .iter()
                .filter(|h| hypotheses::runnable(h))
                .count(),
            judge_spent,
        }
    }

    pub fn target_met(&self, spec: &Spec) -> bool {
        spec.stopping.target_reached
            && matches!((spec.metric.primary.target, self.best),
                (Some(t), Some(b)) if spec.metric.primary.direction.improvement(b, t) >= 0.0)
    }

    pub fn cost_cap_met(&self, spec: &Spec) -> bool {
        spec.metric.primary.kind == MetricType::Judge
            && spec
                .metric
                .judge
                .as_ref()
                .and_then(|j| j.max_total_cost_usd)
                .is_some_and(|cap| self.judge_spent >= cap)
    }

    pub fn max_iterations_met(&self, spec: &Spec) -> bool {
        self.experiments >= spec.stopping.max_iterations
    }

    pub fn max_hours_met(&self, spec: &Spec) -> bool {
        self.active_hours >= spec.stopping.max_hours
    }

    pub fn plateau_met(&self, spec: &Spec) -> bool {
        self.since_last_keep >= spec.stopping.plateau_iterations
    }

    pub fn backlog_empty(&self) -> bool {
        self.runnable == 0
    }

    /// The first condition met, in the order the loop checks them.
    pub fn first_stop(&self, spec: &Spec) -> Option<StopReason> {
        let s = &spec.stopping;
        if self.target_met(spec) {
            Some(StopReason::TargetReached)
        } else if self.cost_cap_met(spec) {
            Some(StopReason::CostCap)
        } else if self.max_iterations_met(spec) {
            Some(StopReason::MaxIterations(s.max_iterations))
        } else if self.max_hours_met(spec) {
            Some(StopReason::MaxHours(s.max_hours))
        } else if self.plateau_met(spec) {
            Some(StopReason::Plateau(s.plateau_iterations))
        } else if self.backlog_empty() {
            Some(StopReason::BacklogEmpty)
        } else {
            None
        }
    }
}
