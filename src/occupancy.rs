//! How busy the slots were: each kind's busy time, summed from the phases
//! every experiment records, against its capacity (its slots × the run's
//! active time). What a run leaves idle is experiments it could have run.

use std::fmt;

use serde::Serialize;

use crate::log::{ExperimentLog, Timings};
use crate::spec::{Slots, Spec};

/// One kind of slot over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlotUse {
    pub slots: usize,
    pub busy_s: f64,
    pub idle_s: f64,
    /// Busy time over capacity, 0 to 1.
    pub utilization: f64,
}

impl SlotUse {
    fn new(slots: usize, busy_s: f64, active_s: f64) -> SlotUse {
        let capacity = slots as f64 * active_s;
        // Phases are timed apart from the session's clock and combinations
        // are measured beside the slots, so busy time may pass capacity by a
        // little: it is capped.
        let busy_s = busy_s.min(capacity);
        SlotUse {
            slots,
            busy_s,
            idle_s: capacity - busy_s,
            utilization: if capacity > 0.0 {
                busy_s / capacity
            } else {
                0.0
            },
        }
    }
}

/// Both kinds over the run's active time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Occupancy {
    pub active_s: f64,
    /// Workspace, implementer and commit: what holds an implement slot.
    pub implement: SlotUse,
    /// Measurement runs, runner-up combinations included.
    pub measure: SlotUse,
    /// Busy over capacity, both kinds together.
    pub utilization: f64,
}

impl Occupancy {
    /// `None` before the run has spent any time.
    pub fn of(spec: &Spec, log: &ExperimentLog) -> Option<Occupancy> {
        let active_s = log.run.active_seconds.filter(|s| *s > 0.0)?;
        let slots = Slots::of(spec);
        let timings = || {
            log.experiments
                .iter()
                .filter_map(|e| e.record.timings.as_ref())
        };
        let implementing: f64 = timings().map(implementing_s).sum();
        let measuring: f64 = timings().map(measuring_s).sum();
        let implement = SlotUse::new(slots.implement, implementing, active_s);
        let measure = SlotUse::new(slots.measure, measuring, active_s);
        let capacity = (slots.implement + slots.measure) as f64 * active_s;
        Some(Occupancy {
            active_s,
            implement,
            measure,
            utilization: (implement.busy_s + measure.busy_s) / capacity,
        })
    }
}

fn implementing_s(t: &Timings) -> f64 {
    [t.worktree_s, t.implement_s, t.commit_s]
        .iter()
        .flatten()
        .sum()
}

fn measuring_s(t: &Timings) -> f64 {
    t.measure_s.unwrap_or(0.0) + t.combine_s.unwrap_or(0.0)
}

impl fmt::Display for SlotUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}, {:.0}% busy ({} idle)",
            self.slots,
            crate::text::plural(self.slots as u64, "slot"),
            self.utilization * 100.0,
            crate::text::fmt_duration(self.idle_s)
        )
    }
}

impl fmt::Display for Occupancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "implement {}; measure {}; utilization {:.0}%",
            self.implement,
            self.measure,
            self.utilization * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_is_capped_at_capacity_and_idle_is_the_rest() {
        let u = SlotUse::new(2, 30.0, 20.0);
        assert_eq!((u.busy_s, u.idle_s, u.utilization), (30.0, 10.0, 0.75));
        let over = SlotUse::new(1, 25.0, 20.0);
        assert_eq!(
            (over.busy_s, over.idle_s, over.utilization),
            (20.0, 0.0, 1.0)
        );
    }
}
