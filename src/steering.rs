//! Requests to a run from another terminal (`optimize add`, `steer`,
//! `stop`): each one a file in `.optimize/<name>/inbox/`, written
//! atomically. Only the run applies them to its log, between experiments
//! (or the next start does, when none is running), so the log keeps one
//! writer.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::log::BacklogItem;

/// One request, as its file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Hypotheses for the backlog, ahead of the model's.
    Add { hypotheses: Vec<BacklogItem> },
    /// Guidance for every following hypothesis request.
    Steer { text: String },
    /// The guidance given so far is withdrawn.
    ClearGuidance,
    /// As Ctrl-C in the run's terminal; `now` as a second one.
    Stop { now: bool },
}

impl Request {
    fn kind(&self) -> &'static str {
        match self {
            Request::Add { .. } => "add",
            Request::Steer { .. } | Request::ClearGuidance => "steer",
            Request::Stop { .. } => "stop",
        }
    }
}

/// A request read from the inbox, or why its file could not be read.
pub struct Pending {
    pub file: PathBuf,
    pub request: Result<Request, String>,
}

pub fn inbox(state_dir: &Path) -> PathBuf {
    state_dir.join("inbox")
}

/// Leaves `request` for the run; the file it went to.
pub fn send(state_dir: &Path, request: &Request) -> std::io::Result<PathBuf> {
    let dir = inbox(state_dir);
    std::fs::create_dir_all(&dir)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let path = dir.join(format!(
        "{stamp:020}-{}-{}.yaml",
        std::process::id(),
        request.kind()
    ));
    let text = serde_yaml::to_string(request).expect("a request serializes");
    crate::fsutil::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Every request waiting, oldest first (stop requests too, when
/// `with_stops`); files that are not requests come back as errors to report
/// and set aside.
pub fn pending(state_dir: &Path, with_stops: bool) -> Vec<Pending> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(inbox(state_dir))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let request = crate::fsutil::read_text(&file)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_yaml::from_str::<Request>(&t).map_err(|e| e.to_string()));
            Pending { file, request }
        })
        .filter(|p| with_stops || !matches!(p.request, Ok(Request::Stop { .. })))
        .collect()
}

/// A stop request waiting, taken out of the inbox: whether it asks for now.
pub fn take_stop(state_dir: &Path) -> Option<bool> {
    let mut found = None;
    for p in pending(state_dir, true) {
        if let Ok(Request::Stop { now }) = p.request {
            let _ = std::fs::remove_file(&p.file);
            found = Some(found.unwrap_or(false) || now);
        }
    }
    found
}

/// A file that is not a request is renamed `*.rejected`, kept for the
/// person who wrote it and never read again.
pub fn set_aside(file: &Path) -> PathBuf {
    let aside = file.with_extension("rejected");
    let _ = std::fs::rename(file, &aside);
    aside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_come_back_in_the_order_sent_and_stops_apart() {
        let dir = tempfile::tempdir().unwrap();
        send(
            dir.path(),
            &Request::Steer {
                text: "focus".into(),
            },
        )
        .unwrap();
        send(dir.path(), &Request::Stop { now: false }).unwrap();
        send(dir.path(), &Request::ClearGuidance).unwrap();
        std::fs::write(inbox(dir.path()).join("zzz.yaml"), "request: [").unwrap();
        let all: Vec<_> = pending(dir.path(), false)
            .into_iter()
            .map(|p| p.request)
            .collect();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all[0],
            Ok(Request::Steer {
                text: "focus".into()
            })
        );
        assert_eq!(all[1], Ok(Request::ClearGuidance));
        assert!(all[2].is_err());
        assert_eq!(take_stop(dir.path()), Some(false));
        assert_eq!(take_stop(dir.path()), None, "taken once");
    }
}
