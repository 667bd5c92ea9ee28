//! The live part of a run page: server-sent events tailing the run's
//! `events.jsonl`, its status line and its log, polled four times a second
//! without a lock (a run appends whole lines and replaces its log by
//! rename, so a reader never sees half of either).

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use axum::response::sse::Event;

const POLL: Duration = Duration::from_millis(250);
/// A page opened late shows this many of the latest events.
const BACKLOG_LINES: usize = 200;

/// Where one page's stream stands in the files it follows.
pub struct Tail {
    events: PathBuf,
    log: PathBuf,
    status_line: PathBuf,
    /// The events file as last read: its identity and the end of the last
    /// whole line sent.
    file_id: Option<(u64, u64)>,
    offset: u64,
    log_stamp: Option<(SystemTime, u64)>,
    status: Option<String>,
    running: Box<dyn Fn() -> bool + Send>,
    queue: VecDeque<Event>,
    first: bool,
}

impl Tail {
    /// `resume_at` is the `Last-Event-ID` of a page reconnecting: the byte
    /// offset it had read to.
    pub fn new(
        dir: PathBuf,
        resume_at: Option<u64>,
        running: Box<dyn Fn() -> bool + Send>,
    ) -> Tail {
        Tail {
            events: dir.join("events.jsonl"),
            log: dir.join("experiment-log.yaml"),
            status_line: dir.join("status-line.txt"),
            file_id: None,
            offset: resume_at.unwrap_or(0),
            log_stamp: None,
            status: None,
            running,
            queue: VecDeque::new(),
            first: resume_at.is_none(),
        }
    }

    /// The next event for the page, waiting for one as long as it takes.
    pub async fn next(mut self) -> Option<(Result<Event, std::convert::Infallible>, Tail)> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some((Ok(event), self));
            }
            self.poll();
            if self.queue.is_empty() {
                tokio::time::sleep(POLL).await;
            }
        }
    }

    fn poll(&mut self) {
        self.read_events();
        let stamp = std::fs::metadata(&self.log)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp != self.log_stamp {
            if self.log_stamp.is_some() {
                self.queue
                    .push_back(Event::default().event("log").data("changed"));
            }
            self.log_stamp = stamp;
        }
        let status = if (self.running)() {
            std::fs::read_to_string(&self.status_line).unwrap_or_default()
        } else {
            String::new()
        };
        if self.status.as_ref() != Some(&status) {
            self.queue.push_back(
                Event::default()
                    .event("status")
                    .data(status.replace('\n', " ")),
            );
            self.status = Some(status);
        }
    }

    fn read_events(&mut self) {
        let Ok(mut file) = std::fs::File::open(&self.events) else {
            return;
        };
        let Ok(meta) = file.metadata() else { return };
        let id = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        // Another file under the name (a `--fresh` archived the run), or a
        // shorter one: the page starts over from its beginning.
        if self.file_id.is_some_and(|known| known != id) || meta.len() < self.offset {
            self.offset = 0;
            self.first = true;
            self.queue.push_back(
                Event::default()
                    .event("reset")
                    .data("events.jsonl was replaced"),
            );
        }
        self.file_id = Some(id);
        if meta.len() == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut text = Vec::new();
        if file.read_to_end(&mut text).is_err() {
            return;
        }
        let Some(end) = text.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let mut lines: Vec<(u64, &[u8])> = Vec::new();
        let mut start = 0;
        for (i, b) in text[..=end].iter().enumerate() {
            if *b == b'\n' {
                lines.push((self.offset + i as u64 + 1, &text[start..i]));
                start = i + 1;
            }
        }
        if std::mem::take(&mut self.first) && lines.len() > BACKLOG_LINES {
            lines.drain(..lines.len() - BACKLOG_LINES);
        }
        for (read_to, line) in lines {
            let line = String::from_utf8_lossy(line);
            if !line.trim().is_empty() {
                self.queue.push_back(
                    Event::default()
                        .event("event")
                        .id(read_to.to_string())
                        .data(&*line),
                );
            }
        }
        self.offset += end as u64 + 1;
    }
}
