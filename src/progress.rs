//! Live progress on a terminal: the event lines scroll, and one status line
//! at the bottom shows the batch, each experiment's stage with its elapsed
//! time, and the best so far, redrawn every second.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::events::{Event, Sink, Stamped, clock_of};
use crate::log::Outcome;
use crate::text::fmt_num;

#[derive(Default)]
struct State {
    batch: Option<u64>,
    running: BTreeMap<u64, (crate::events::Stage, Instant)>,
    best: Option<f64>,
    done: bool,
}

pub struct TtyReporter {
    state: Arc<Mutex<State>>,
    color: bool,
}

impl TtyReporter {
    /// Colours unless NO_COLOR is set (https://no-color.org).
    pub fn new() -> TtyReporter {
        let state = Arc::new(Mutex::new(State::default()));
        let ticker = Arc::downgrade(&state);
        std::thread::spawn(move || {
            while let Some(state) = ticker.upgrade() {
                if let Ok(s) = state.lock() {
                    if s.done {
                        break;
                    }
                    draw_status(&s);
                }
                drop(state);
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        TtyReporter {
            state,
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn paint(&self, outcome: &Outcome) -> String {
        let text = outcome.as_str();
        if !self.color {
            return text.to_string();
        }
        let code = match outcome {
            Outcome::Kept | Outcome::RunnerUpKept => "32",
            Outcome::Error | Outcome::Timeout => "31",
            Outcome::Degenerate | Outcome::DeferredNeedsApproval => "33",
            _ => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

impl Default for TtyReporter {
    fn default() -> Self {
        TtyReporter::new()
    }
}

fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            return ws.ws_col as usize;
        }
    }
    100
}

fn status_line(s: &State) -> String {
    let mut parts = Vec::new();
    if let Some(b) = s.batch {
        parts.push(format!("batch {b}"));
    }
    for (iteration, (stage, since)) in &s.running {
        parts.push(format!(
            "#{iteration} {stage} {}s",
            since.elapsed().as_secs()
        ));
    }
    if let Some(occupied) = occupied(s) {
        parts.push(occupied);
    }
    if let Some(best) = s.best {
        parts.push(format!("best {}", fmt_num(best)));
    }
    let line = parts.join(" | ");
    line.chars()
        .take(terminal_width().saturating_sub(1))
        .collect()
}

/// The slots in use now: how many experiments implement, measure and wait
/// for a measurement slot.
fn occupied(s: &State) -> Option<String> {
    use crate::events::Stage;
    let (mut implementing, mut measuring, mut waiting) = (0, 0, 0);
    for (stage, _) in s.running.values() {
        match stage {
            Stage::Implementing | Stage::Reapplying => implementing += 1,
            Stage::WaitingForSlot => waiting += 1,
            Stage::Measuring { .. }
            | Stage::Judging
            | Stage::MeasuringCombination
            | Stage::MeasuringHoldout
            | Stage::Queued
            | Stage::RunningOn { .. } => measuring += 1,
        }
    }
    let parts: Vec<String> = [
        (implementing, "implementing"),
        (measuring, "measuring"),
        (waiting, "waiting"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn draw_status(s: &State) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{}", status_line(s));
    let _ = err.flush();
}

impl Sink for TtyReporter {
    fn accept(&self, stamped: &Stamped) {
        let event = &stamped.event;
        let text = event.describe_with(&|o| self.paint(o));
        let Ok(mut s) = self.state.lock() else { return };
        match event {
            Event::BatchStarted { batch, .. } => s.batch = Some(*batch),
            Event::StageChanged { iteration, stage } => {
                s.running
                    .insert(*iteration, (stage.clone(), Instant::now()));
            }
            Event::ExperimentMeasured { iteration, .. }
            | Event::ExperimentFinished { iteration, .. } => {
                s.running.remove(iteration);
            }
            Event::BaselineMeasured { value, .. } => s.best = *value,
            Event::NewBest { value, .. } => s.best = Some(*value),
            Event::RunStopped { .. } | Event::RunFailed { .. } | Event::ExitingNow => s.done = true,
            _ => {}
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "\r\x1b[2K[{}] {text}", clock_of(&stamped.time));
        if !s.done {
            let _ = write!(err, "{}", status_line(&s));
        }
        let _ = err.flush();
    }
}
