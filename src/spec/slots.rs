//! How many experiments implement, measure and are under way at once: the
//! slots the pipelined loop runs, and what `status` and `report.md` count
//! their occupancy against.

use super::{ExecutionMode, Spec};

/// How many experiments implement, measure and are under way at once, and
/// how far behind the newest decisions an experiment's base may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    pub implement: usize,
    pub measure: usize,
    pub in_flight: usize,
    pub lag: u64,
}

impl Slots {
    pub fn of(spec: &Spec) -> Slots {
        let width = spec.execution.max_concurrent.max(1) as usize;
        let lag = (2 * width - 1) as u64;
        let serial = spec.execution.mode == ExecutionMode::Serial
            || !spec.parallel.exclusive_resources.is_empty();
        if serial {
            return Slots {
                implement: 1,
                measure: 1,
                in_flight: 1,
                lag,
            };
        }
        let measure = spec.measure_slots();
        Slots {
            implement: width,
            measure,
            in_flight: width.max(measure),
            lag,
        }
    }
}
