//! The stop conditions: where a run stands against each, for the loop (which
//! stops at the first one met) and for `status` (which shows them all).

use crate::hypotheses;
use crate::log::ExperimentLog;
use crate::spec::{MetricType, Spec};

/// Why a session of a run stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    TargetReached,
    MaxIterations(u64),
    MaxHours(f64),
    /// `stopping.max_wall_hours` since the run started, across sessions.
    MaxWallHours(f64),
    Plateau(u64),
    BacklogEmpty,
    Interrupted,
    CostCap,
    /// `budget.max_usd` or `budget.max_tokens` is reached; resumable with a
    /// higher cap.
    Budget(String),
    /// The model server failed through its outage budget; resumable.
    ModelOutage(String),
    /// A file of the run's own could not be written (a full disk): nothing
    /// is blamed on the user's command, and the run resumes once it can.
    Io(String),
    /// An error ended the session; what was recorded stays.
    Failed(String),
    /// `stopping.max_consecutive_errors` experiments in a row failed with
    /// the same cause; their hypotheses are back in the backlog.
    RepeatedFailure {
        count: usize,
        cause: String,
    },
}

impl StopReason {
    /// Which reason a session reports when several come at once: what the
    /// user must fix first (a full disk, an outage, a spent budget) before
    /// a Ctrl-C or a limit.
    pub fn severity(&self) -> u8 {
        match self {
            StopReason::Failed(_) => 0,
            StopReason::Io(_) | StopReason::RepeatedFailure { .. } => 1,
            StopReason::ModelOutage(_) => 2,
            StopReason::CostCap | StopReason::Budget(_) => 3,
            StopReason::Interrupted => 4,
            _ => 5,
        }
    }

    /// A stable snake_case name, for `events.jsonl` and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            StopReason::TargetReached => "target_reached",
            StopReason::MaxIterations(_) => "max_iterations",
            StopReason::MaxHours(_) => "max_hours",
            StopReason::MaxWallHours(_) => "max_wall_hours",
            StopReason::Plateau(_) => "plateau",
            StopReason::BacklogEmpty => "backlog_empty",
            StopReason::Interrupted => "interrupted",
            StopReason::CostCap => "cost_cap",
            StopReason::Budget(_) => "budget",
            StopReason::ModelOutage(_) => "model_outage",
            StopReason::Io(_) => "io_failure",
            StopReason::Failed(_) => "failed",
            StopReason::RepeatedFailure { .. } => "repeated_failure",
        }
    }
}

impl StopReason {
    /// The run met one of its own stop conditions (not an interruption, an
    /// outage, a budget or a failure): a later session continues from a
    /// finished run.
    pub fn is_run_condition(&self) -> bool {
        matches!(
            self,
            StopReason::TargetReached
                | StopReason::MaxIterations(_)
                | StopReason::MaxHours(_)
                | StopReason::MaxWallHours(_)
                | StopReason::Plateau(_)
                | StopReason::BacklogEmpty
                | StopReason::CostCap
        )
    }
}

impl serde::Serialize for StopReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("reason", self.code())?;
        map.serialize_entry("message", &self.to_string())?;
        map.end()
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::TargetReached => write!(f, "the target was reached"),
            StopReason::MaxIterations(n) => write!(f, "max_iterations ({n}) reached"),
            StopReason::MaxHours(h) => write!(f, "max_hours ({h}) reached"),
            StopReason::MaxWallHours(h) => write!(
                f,
                "max_wall_hours ({h}) reached: that long has passed since the run started, and no resume extends it"
            ),
            StopReason::Plateau(n) => write!(
                f,
                "no improvement in the last {n} experiments (plateau_iterations)"
            ),
            StopReason::BacklogEmpty => write!(f, "no runnable hypotheses are left in the backlog"),
            StopReason::Interrupted => write!(f, "interrupted"),
            StopReason::CostCap => {
                write!(f, "the judge budget (judge.max_total_cost_usd) is spent")
            }
            StopReason::Budget(why) => write!(f, "{why}; raise the cap and run again to continue"),
            StopReason::ModelOutage(message) => write!(f, "the model server is down: {message}"),
            StopReason::Io(message) => write!(
                f,
                "{message}; nothing was blamed on the experiment, which runs again once the run is resumed"
            ),
            StopReason::Failed(message) => write!(f, "failed: {message}"),
            StopReason::RepeatedFailure { count, cause } => write!(
                f,
                "{count} experiments in a row failed the same way ({cause}); their hypotheses are back in the backlog: fix the cause, then run again"
            ),
        }
    }
}

/// Where a run stands, in the quantities the stop conditions compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub experiments: u64,
    pub active_hours: f64,
    /// Calendar hours since the run started.
    pub wall_hours: f64,
    pub since_last_keep: u64,
    pub best: Option<f64>,
    /// Every required objective that declares a target: (name, target, best value).
    pub targets: Vec<(String, f64, Option<f64>, crate::spec::Direction)>,
    pub runnable: usize,
    /// Runnable hypotheses whose dependencies the user approved: they are
    /// measured whatever the plateau says.
    pub granted: usize,
    /// The newest run of failures with one cause: its length and cause.
    pub failures: (usize, Option<String>),
    pub judge_spent: f64,
    /// Every model call of the run: dollars and tokens.
    pub spent: (f64, u64),
}

impl Standing {
    pub fn of(spec: &Spec, log: &ExperimentLog, active_hours: f64, judge_spent: f64) -> Standing {
        Standing {
            experiments: log.experiments.len() as u64,
            active_hours,
            wall_hours: crate::clock::unix_from_iso(&log.started_at).map_or(0.0, |start| {
                (crate::clock::unix_now() - start).max(0) as f64 / 3600.0
            }),
            since_last_keep: log.since_last_keep(),
            best: log.best.metric(&spec.metric.primary.name),
            targets: spec
                .required_objectives()
                .into_iter()
                .filter_map(|o| {
                    let target = o.target?;
                    Some((
                        o.name.clone(),
                        target,
                        log.best.metric(&o.name),
                        o.direction,
                    ))
                })
                .collect(),
            runnable: log
                .hypothesis_backlog
                .iter()
                .filter(|h| hypotheses::runnable(h))
                .count(),
            granted: log
                .hypothesis_backlog
                .iter()
                .filter(|h| hypotheses::runnable(h) && hypotheses::granted(h))
                .count(),
            failures: {
                let (streak, cause) = log.failure_streak();
                (streak.len(), cause)
            },
            judge_spent,
            spent: (log.total_cost_usd(), log.run.total_tokens.unwrap_or(0)),
        }
    }

    /// What the decisions up to iteration `upto` say, for the loop to judge
    /// a dispatch by decisions that timing cannot change.
    pub fn restrict_to(&mut self, log: &ExperimentLog, upto: u64) {
        self.since_last_keep = log.since_last_keep_upto(upto);
        let (streak, cause) = log.failure_streak_upto(upto);
        self.failures = (streak.len(), cause);
    }

    /// Why `budget:` stops the run, if it does.
    pub fn budget_reached(&self, spec: &Spec) -> Option<String> {
        crate::budget::exceeded(&spec.budget, self.spent)
    }

    /// Every declared required target is met by the best (with
    /// `metric.objectives`, not only the primary's).
    pub fn target_met(&self, spec: &Spec) -> bool {
        spec.stopping.target_reached
            && !self.targets.is_empty()
            && self.targets.iter().all(|(_, target, best, direction)| {
                best.is_some_and(|b| direction.improvement(b, *target) >= 0.0)
            })
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

    pub fn max_wall_hours_met(&self, spec: &Spec) -> bool {
        self.wall_hours >= spec.stopping.max_wall_hours
    }

    pub fn plateau_met(&self, spec: &Spec) -> bool {
        self.since_last_keep >= spec.stopping.plateau_iterations && self.granted == 0
    }

    pub fn backlog_empty(&self) -> bool {
        self.runnable == 0
    }

    /// The first condition met, in the order the loop checks them.
    pub fn first_stop(&self, spec: &Spec) -> Option<StopReason> {
        let s = &spec.stopping;
        if self.target_met(spec) {
            Some(StopReason::TargetReached)
        } else if let Some(why) = self.budget_reached(spec) {
            Some(StopReason::Budget(why))
        } else if self.cost_cap_met(spec) {
            Some(StopReason::CostCap)
        } else if let Some(cause) = self.failures.1.as_ref().filter(|_| {
            s.max_consecutive_errors > 0 && self.failures.0 >= s.max_consecutive_errors as usize
        }) {
            Some(StopReason::RepeatedFailure {
                count: self.failures.0,
                cause: cause.clone(),
            })
        } else if self.max_iterations_met(spec) {
            Some(StopReason::MaxIterations(s.max_iterations))
        } else if self.max_hours_met(spec) {
            Some(StopReason::MaxHours(s.max_hours))
        } else if self.max_wall_hours_met(spec) {
            Some(StopReason::MaxWallHours(s.max_wall_hours))
        } else if self.plateau_met(spec) {
            Some(StopReason::Plateau(s.plateau_iterations))
        } else if self.backlog_empty() {
            Some(StopReason::BacklogEmpty)
        } else {
            None
        }
    }
}
