//! Live progress: the status line (the batch, each experiment's stage with
//! its elapsed time, the slots in use, the best so far), redrawn every
//! second at the bottom of a terminal, under the scrolling event lines, and
//! kept in `status-line.txt` for `optimize serve` to show the same line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::events::{Event, Sink, Stamped, clock_of};
use crate::log::Outcome;
use crate::text::fmt_num;

/// What the status line is drawn from, fed by the events.
#[derive(Default)]
struct State {
    batch: Option<u64>,
    running: BTreeMap<u64, (crate::events::Stage, Instant)>,
    best: Option<f64>,
    done: bool,
}

impl State {
    fn accept(&mut self, event: &Event) {
        match event {
            Event::BatchStarted { batch, .. } => self.batch = Some(*batch),
            Event::StageChanged { iteration, stage } => {
                self.running
                    .insert(*iteration, (stage.clone(), Instant::now()));
            }
            Event::ExperimentMeasured { iteration, .. }
            | Event::ExperimentFinished { iteration, .. } => {
                self.running.remove(iteration);
            }
            Event::BaselineMeasured { value, .. } => self.best = *value,
            Event::NewBest { value, .. } => self.best = Some(*value),
            Event::RunStopped { .. } | Event::RunFailed { .. } | Event::ExitingNow => {
                self.done = true
            }
            _ => {}
        }
    }
}

/// Redraws the line every second with `draw` until the run is done.
fn tick(state: &Arc<Mutex<State>>, draw: impl Fn(&State) + Send + 'static) {
    let ticker = Arc::downgrade(state);
    std::thread::spawn(move || {
        while let Some(state) = ticker.upgrade() {
            if let Ok(s) = state.lock() {
                draw(&s);
                if s.done {
                    break;
                }
            }
            drop(state);
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}

pub struct TtyReporter {
    state: Arc<Mutex<State>>,
    color: bool,
}

impl TtyReporter {
    /// Colours unless NO_COLOR is set (https://no-color.org).
    pub fn new() -> TtyReporter {
        let state = Arc::new(Mutex::new(State::default()));
        tick(&state, |s| {
            if !s.done {
                draw_status(s)
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

fn status_line(s: &State, width: usize) -> String {
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
    line.chars().take(width).collect()
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

fn terminal_line(s: &State) -> String {
    status_line(s, terminal_width().saturating_sub(1))
}

fn draw_status(s: &State) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{}", terminal_line(s));
    let _ = err.flush();
}

impl Sink for TtyReporter {
    fn accept(&self, stamped: &Stamped) {
        let event = &stamped.event;
        let text = event.describe_with(&|o| self.paint(o));
        let Ok(mut s) = self.state.lock() else { return };
        s.accept(event);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "\r\x1b[2K[{}] {text}", clock_of(&stamped.time));
        if !s.done {
            let _ = write!(err, "{}", terminal_line(&s));
        }
        let _ = err.flush();
    }
}

/// The status line in a file of the state dir, rewritten every second
/// while it changes: what `optimize serve` shows as the terminal would.
pub struct StatusFile {
    state: Arc<Mutex<State>>,
}

/// Wide enough for every slot of a large run; the page wraps it.
const FILE_WIDTH: usize = 2000;

impl StatusFile {
    pub fn at(path: PathBuf) -> StatusFile {
        let state = Arc::new(Mutex::new(State::default()));
        let last = Mutex::new(String::new());
        tick(&state, move |s| {
            let line = if s.done {
                String::new()
            } else {
                status_line(s, FILE_WIDTH)
            };
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            if *last != line {
                // A glance for a page, not a record: a lost write only means
                // a stale line until the next second.
                let _ = crate::fsutil::write_atomic(&path, line.as_bytes());
                *last = line;
            }
        });
        StatusFile { state }
    }
}

impl Sink for StatusFile {
    fn accept(&self, stamped: &Stamped) {
        if let Ok(mut s) = self.state.lock() {
            s.accept(&stamped.event);
        }
    }
}
