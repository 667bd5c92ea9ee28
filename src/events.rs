//! What the loop reports as it goes. The loop writes the log itself; events
//! only feed what the user sees (the terminal reporter, tests).

use std::io::Write;
use std::sync::Mutex;

use crate::log::Outcome;

#[derive(Debug, Clone)]
pub enum Event {
    Started {
        name: String,
        resumed: bool,
    },
    BaselineStarted {
        commit: String,
        runs: u32,
    },
    BaselineMeasured {
        primary: String,
        value: Option<f64>,
    },
    BatchStarted {
        batch: u64,
        experiments: Vec<(u64, String)>,
    },
    Stage {
        iteration: u64,
        stage: String,
    },
    Recorded {
        iteration: u64,
        outcome: Outcome,
        detail: String,
    },
    Decided {
        iteration: u64,
        outcome: Outcome,
        detail: String,
    },
    NewBest {
        iteration: u64,
        value: f64,
    },
    Note(String),
    Stopped {
        reason: String,
    },
}

pub trait Reporter: Send + Sync {
    fn report(&self, event: &Event);
}

/// Timestamped plain lines on stderr (the default when not on a TTY).
pub struct PlainReporter {
    quiet: bool,
    out: Mutex<()>,
}

impl PlainReporter {
    pub fn new(quiet: bool) -> PlainReporter {
        PlainReporter {
            quiet,
            out: Mutex::new(()),
        }
    }

    fn line(&self, text: &str) {
        let _guard = self.out.lock();
        let now = crate::clock::now_iso();
        let _ = writeln!(std::io::stderr(), "[{}] {text}", &now[11..19]);
    }
}

impl Reporter for PlainReporter {
    fn report(&self, event: &Event) {
        let text = describe(event);
        tracing::info!("{text}");
        if !self.quiet {
            self.line(&text);
        }
    }
}

/// One line for an event, as the terminal and optimize.log show it.
pub fn describe(event: &Event) -> String {
    match event {
        Event::Started { name, resumed } => {
            format!(
                "{} run \"{name}\"",
                if *resumed { "resuming" } else { "starting" }
            )
        }
        Event::BaselineStarted { commit, runs } => {
            format!(
                "measuring the baseline at {} ({runs} run{})",
                &commit[..10.min(commit.len())],
                if *runs == 1 { "" } else { "s" }
            )
        }
        Event::BaselineMeasured { primary, value } => format!(
            "baseline {primary} = {}",
            value
                .map(crate::text::fmt_num)
                .unwrap_or_else(|| "(judged)".into())
        ),
        Event::BatchStarted { batch, experiments } => {
            let list: Vec<String> = experiments
                .iter()
                .map(|(i, d)| format!("#{i} {}", crate::text::one_line(d, 60)))
                .collect();
            format!("batch {batch}: {}", list.join("; "))
        }
        Event::Stage { iteration, stage } => format!("  #{iteration} {stage}"),
        Event::Recorded {
            iteration,
            outcome,
            detail,
        } => format!("  #{iteration} {outcome}: {detail}"),
        Event::Decided {
            iteration,
            outcome,
            detail,
        } => format!("  #{iteration} -> {outcome}: {detail}"),
        Event::NewBest { iteration, value } => {
            format!(
                "new best {} (from #{iteration})",
                crate::text::fmt_num(*value)
            )
        }
        Event::Note(text) => text.clone(),
        Event::Stopped { reason } => format!("stopping: {reason}"),
    }
}
