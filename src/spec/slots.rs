//! How many experiments implement, measure and are under way at once: the
//! slots the pipelined loop runs, and what `status` and `report.md` count
//! their occupancy against.

use super::{ExecutionMode, RunnerKind, Spec};

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
        let measure = measure_slots(spec, width);
        Slots {
            implement: width,
            measure,
            in_flight: width.max(measure),
            lag,
        }
    }
}

/// Measurements that may run at once: `measurement.max_concurrent`, else,
/// for a local runner, half the machine's cores (at least one, at most
/// `width`, the implement slots), so that timing benchmarks do not share a
/// core; for Slurm, `width`.
fn measure_slots(spec: &Spec, width: usize) -> usize {
    if let Some(n) = spec.measurement.max_concurrent {
        return n.max(1) as usize;
    }
    match spec.execution.runner {
        RunnerKind::Slurm => width,
        RunnerKind::Local => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / 2).clamp(1, width)
        }
    }
}
