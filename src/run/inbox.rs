//! The requests another terminal left for the run (`optimize add`,
//! `optimize steer`), applied to the log between experiments; the stop
//! requests are the signal handler's (`signals.rs`).

use super::{Loop, RunError};
use crate::events::Event;
use crate::log::Guidance;
use crate::steering::{self, Request};

impl Loop {
    /// Applies every waiting request, saves the log, then removes their
    /// files (a crash between the two applies a request twice, never loses
    /// one; an added hypothesis already known is not added again).
    pub(super) fn read_inbox(&mut self) -> Result<(), RunError> {
        let pending = steering::pending(&self.ctx.state.dir, false);
        if pending.is_empty() {
            return Ok(());
        }
        let mut applied = Vec::new();
        for p in pending {
            match p.request {
                Ok(request) => {
                    let said = self.apply_request(request);
                    self.ctx.events.emit(Event::Steered { message: said });
                    applied.push(p.file);
                }
                Err(e) => {
                    let aside = steering::set_aside(&p.file);
                    self.ctx.events.emit(Event::warning(format!(
                        "{} is not a request ({e}); set aside as {}",
                        p.file.display(),
                        aside.display()
                    )));
                }
            }
        }
        self.save()?;
        for file in applied {
            let _ = std::fs::remove_file(file);
        }
        Ok(())
    }

    /// What one request changes, said in a line.
    fn apply_request(&mut self, request: Request) -> String {
        match request {
            Request::Add { hypotheses } => {
                let known = self.known_hypotheses();
                let (new, old): (Vec<_>, Vec<_>) = hypotheses
                    .into_iter()
                    .partition(|h| !known.contains(&h.description));
                let added: Vec<String> = new
                    .iter()
                    .map(|h| format!("\"{}\"", h.description))
                    .collect();
                // Ahead of the model's: the person asked for them now.
                for (i, h) in new.into_iter().enumerate() {
                    self.log.hypothesis_backlog.insert(i, h);
                }
                let mut said = format!(
                    "added to the backlog: {}",
                    if added.is_empty() {
                        "nothing new".into()
                    } else {
                        added.join(", ")
                    }
                );
                if !old.is_empty() {
                    said += &format!(
                        " ({} already tried or queued)",
                        crate::text::count(old.len() as u64, "hypothesis", "hypotheses")
                    );
                }
                said
            }
            Request::Steer { text } => {
                let said = format!("guidance for the next hypothesis requests: \"{text}\"");
                self.log.run.steering.push(Guidance {
                    text,
                    given_at: crate::clock::now_iso(),
                });
                said
            }
            Request::ClearGuidance => {
                let n = std::mem::take(&mut self.log.run.steering).len();
                format!(
                    "guidance cleared ({} withdrawn)",
                    crate::text::count(n as u64, "piece", "pieces")
                )
            }
            Request::Stop { .. } => "stop requests are the signal handler's".into(),
        }
    }
}
