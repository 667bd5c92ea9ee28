//! What a run reports as it goes: typed, timestamped events, fanned out to
//! every sink (the terminal, `optimize.log`, `events.jsonl`, tests). The
//! loop writes the experiment log itself; events only feed what people and
//! dashboards see.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::log::Outcome;
use crate::stop::StopReason;
use crate::text::{fmt_num, one_line};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        spec: String,
        resumed: bool,
    },
    /// Process groups a killed run left behind were ended.
    LeftoversEnded {
        process_groups: usize,
    },
    BaselineStarted {
        commit: String,
        runs: u32,
    },
    BaselineMeasured {
        primary: String,
        value: Option<f64>,
    },
    HypothesesRequested {
        model: String,
    },
    HypothesesProposed {
        count: usize,
    },
    BatchStarted {
        batch: u64,
        experiments: Vec<Planned>,
    },
    StageChanged {
        iteration: u64,
        #[serde(flatten)]
        stage: Stage,
    },
    /// Appended to the log as `measured`; its final outcome comes with
    /// [`Event::ExperimentFinished`] after the batch is evaluated.
    ExperimentMeasured {
        iteration: u64,
        primary: String,
        value: Option<f64>,
    },
    /// An experiment's final outcome, once per experiment.
    ExperimentFinished {
        iteration: u64,
        outcome: Outcome,
        detail: String,
    },
    NewBest {
        iteration: u64,
        value: f64,
    },
    /// A `harness_validation` shortcut measured before the baseline.
    ShortcutChecked {
        description: String,
        caught: bool,
        reason: String,
    },
    PriceUnknown {
        model: String,
    },
    Warning {
        message: String,
    },
    /// A request from another terminal (`optimize add`, `steer`) was
    /// applied to the run.
    Steered {
        message: String,
    },
    /// A signal asked the run to stop; the running commands are being ended.
    Interrupted {
        signal: String,
    },
    /// A second signal: the process exits at once.
    ExitingNow,
    RunStopped {
        #[serde(flatten)]
        reason: StopReason,
    },
    RunFailed {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub iteration: u64,
    pub hypothesis: String,
}

/// Where an experiment is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Implementing,
    /// An approved deferred experiment: its kept commit on the current best.
    Reapplying,
    Measuring {
        run: u32,
        runs: u32,
    },
    Judging,
    MeasuringCombination,
    /// A would-be keep measured on the held-out cases, beside the best.
    MeasuringHoldout,
    /// Implemented, waiting for a measurement slot.
    WaitingForSlot,
    /// Waiting in the scheduler's queue (`execution.runner: slurm`).
    Queued,
    RunningOn {
        node: String,
    },
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Implementing => f.write_str("implementing"),
            Stage::Reapplying => f.write_str("re-applying its kept commit"),
            Stage::Measuring { runs: 1, .. } => f.write_str("measuring"),
            Stage::Measuring { run, runs } => write!(f, "measuring {run} of {runs}"),
            Stage::Judging => f.write_str("judging"),
            Stage::MeasuringCombination => {
                f.write_str("measuring the combination with the new best")
            }
            Stage::MeasuringHoldout => f.write_str("confirming on the holdout"),
            Stage::WaitingForSlot => f.write_str("waiting for a measurement slot"),
            Stage::Queued => f.write_str("queued"),
            Stage::RunningOn { node } => write!(f, "running on {node}"),
        }
    }
}

impl Event {
    pub fn warning(message: impl Into<String>) -> Event {
        Event::Warning {
            message: message.into(),
        }
    }

    /// One line, as the terminal and `optimize.log` show it; `paint` styles
    /// an outcome's name.
    pub fn describe_with(&self, paint: &dyn Fn(&Outcome) -> String) -> String {
        match self {
            Event::RunStarted { spec, resumed } => format!(
                "{} run \"{spec}\"",
                if *resumed { "resuming" } else { "starting" }
            ),
            Event::LeftoversEnded { process_groups } => format!(
                "ended {process_groups} {} left running by an earlier run",
                crate::text::plural(*process_groups as u64, "process group")
            ),
            Event::BaselineStarted { commit, runs } => format!(
                "measuring the baseline at {} ({runs} {})",
                &commit[..10.min(commit.len())],
                crate::text::plural(u64::from(*runs), "run")
            ),
            Event::BaselineMeasured { primary, value } => format!(
                "baseline {primary} = {}",
                value.map(fmt_num).unwrap_or_else(|| "(judged)".into())
            ),
            Event::HypothesesRequested { model } => format!("asking {model} for hypotheses"),
            Event::HypothesesProposed { count } => {
                format!("the model proposed {count} new hypotheses")
            }
            Event::BatchStarted { batch, experiments } => {
                let list: Vec<String> = experiments
                    .iter()
                    .map(|p| format!("#{} {}", p.iteration, one_line(&p.hypothesis, 60)))
                    .collect();
                format!("batch {batch}: {}", list.join("; "))
            }
            Event::StageChanged { iteration, stage } => format!("  #{iteration} {stage}"),
            Event::ExperimentMeasured {
                iteration,
                primary,
                value,
            } => format!(
                "  #{iteration} measured: {primary} = {}",
                value.map(fmt_num).unwrap_or_else(|| "?".into())
            ),
            Event::ExperimentFinished {
                iteration,
                outcome,
                detail,
            } => format!("  #{iteration} -> {}: {detail}", paint(outcome)),
            Event::NewBest { iteration, value } => {
                format!("new best {} (from #{iteration})", fmt_num(*value))
            }
            Event::ShortcutChecked {
                description,
                caught,
                reason,
            } => format!(
                "harness check \"{description}\": {} ({reason})",
                if *caught { "caught" } else { "REWARDED" }
            ),
            Event::PriceUnknown { model } => format!(
                "note: the price of model \"{model}\" is unknown, so its cost is reported as unknown; set llm.prices.{model}"
            ),
            Event::Warning { message } => format!("warning: {message}"),
            Event::Steered { message } => format!("from another terminal: {message}"),
            Event::Interrupted { signal } => {
                format!("{signal}: stopping the running commands (interrupt again to exit at once)")
            }
            Event::ExitingNow => "exiting at once".into(),
            Event::RunStopped { reason } => format!("stopping: {reason}"),
            Event::RunFailed { message } => format!("the run failed: {message}"),
        }
    }

    pub fn describe(&self) -> String {
        self.describe_with(&|o| o.to_string())
    }
}

/// An event with the moment it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stamped {
    /// ISO 8601, UTC.
    pub time: String,
    #[serde(flatten)]
    pub event: Event,
}

/// Something that shows or stores events.
pub trait Sink: Send + Sync {
    fn accept(&self, event: &Stamped);
}

/// The one fan-out every part of a run emits through.
#[derive(Clone, Default)]
pub struct Events {
    sinks: Arc<Vec<Arc<dyn Sink>>>,
}

impl Events {
    pub fn new(sinks: Vec<Arc<dyn Sink>>) -> Events {
        Events {
            sinks: Arc::new(sinks),
        }
    }

    /// Emits nowhere (for library callers that do not watch).
    pub fn none() -> Events {
        Events::default()
    }

    pub fn emit(&self, event: Event) {
        let stamped = Stamped {
            time: crate::clock::now_iso_millis(),
            event,
        };
        for sink in self.sinks.iter() {
            sink.accept(&stamped);
        }
    }
}

/// Timestamped plain lines on stderr (when not on a terminal); nothing
/// with `--quiet`.
pub struct PlainReporter {
    out: Mutex<()>,
}

impl PlainReporter {
    pub fn new() -> PlainReporter {
        PlainReporter {
            out: Mutex::new(()),
        }
    }
}

impl Default for PlainReporter {
    fn default() -> Self {
        PlainReporter::new()
    }
}

impl Sink for PlainReporter {
    fn accept(&self, e: &Stamped) {
        let _guard = self.out.lock();
        let _ = writeln!(
            std::io::stderr(),
            "[{}] {}",
            clock_of(&e.time),
            e.event.describe()
        );
    }
}

/// `HH:MM:SS` of an ISO 8601 time.
pub fn clock_of(time: &str) -> &str {
    time.get(11..19).unwrap_or(time)
}

/// `optimize.log`: every event through `tracing`, whatever the terminal shows.
pub struct TracingSink;

impl Sink for TracingSink {
    fn accept(&self, e: &Stamped) {
        match &e.event {
            Event::Warning { .. } | Event::RunFailed { .. } => {
                tracing::warn!("{}", e.event.describe())
            }
            _ => tracing::info!("{}", e.event.describe()),
        }
    }
}

/// `events.jsonl`: one JSON object a line (`time`, `event`, the event's
/// fields and `text`, the line the terminal shows), for dashboards and
/// `tail -f | jq`.
pub struct JsonLines {
    file: Mutex<File>,
}

impl JsonLines {
    pub fn append_to(path: &Path) -> std::io::Result<JsonLines> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(JsonLines {
            file: Mutex::new(file),
        })
    }
}

impl Sink for JsonLines {
    fn accept(&self, e: &Stamped) {
        // The line as the terminal shows it rides along, so a page never
        // needs a second copy of `describe`.
        let (Ok(mut line), Ok(text)) = (
            serde_json::to_string(e),
            serde_json::to_string(&e.event.describe()),
        ) else {
            return;
        };
        // Last, after the fields in their usual order.
        if line.pop() == Some('}') {
            line.push_str(",\"text\":");
            line.push_str(&text);
            line.push('}');
        }
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line, so concurrent readers never see half a line.
        let _ = f.write_all(line.as_bytes());
    }
}

/// Keeps every event, for tests and embedders that check the stream.
#[derive(Default)]
pub struct Recorder {
    seen: Mutex<Vec<Stamped>>,
}

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|s| s.event.clone())
            .collect()
    }
}

impl Sink for Recorder {
    fn accept(&self, e: &Stamped) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_flat_with_time_and_snake_case_name() {
        let e = Stamped {
            time: "2026-01-02T03:04:05.678Z".into(),
            event: Event::ExperimentFinished {
                iteration: 3,
                outcome: Outcome::Kept,
                detail: "runtime_ms -20".into(),
            },
        };
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "experiment_finished");
        assert_eq!(v["time"], "2026-01-02T03:04:05.678Z");
        assert_eq!(v["iteration"], 3);
        assert_eq!(v["outcome"], "kept");

        let stage = serde_json::to_value(Event::StageChanged {
            iteration: 2,
            stage: Stage::Measuring { run: 1, runs: 5 },
        })
        .unwrap();
        assert_eq!(stage["event"], "stage_changed");
        assert_eq!(stage["stage"], "measuring");
        assert_eq!(stage["runs"], 5);

        let stop = serde_json::to_value(Event::RunStopped {
            reason: StopReason::MaxIterations(20),
        })
        .unwrap();
        assert_eq!(stop["event"], "run_stopped");
        assert_eq!(stop["reason"], "max_iterations");
        assert_eq!(stop["message"], "max_iterations (20) reached");
        let unit = serde_json::to_value(Event::ExitingNow).unwrap();
        assert_eq!(unit["event"], "exiting_now");
    }

    #[test]
    fn the_recorder_sees_what_every_sink_sees() {
        let rec = Arc::new(Recorder::default());
        let events = Events::new(vec![rec.clone(), Arc::new(TracingSink)]);
        events.emit(Event::HypothesesProposed { count: 2 });
        events.emit(Event::warning("disk almost full"));
        assert_eq!(
            rec.events(),
            [
                Event::HypothesesProposed { count: 2 },
                Event::warning("disk almost full")
            ]
        );
    }

    #[test]
    fn painting_touches_only_the_outcome() {
        let e = Event::ExperimentFinished {
            iteration: 1,
            outcome: Outcome::Reverted,
            detail: "reverted because kept elsewhere".into(),
        };
        let line = e.describe_with(&|o| format!("<{o}>"));
        assert_eq!(line, "  #1 -> <reverted>: reverted because kept elsewhere");
    }
}
