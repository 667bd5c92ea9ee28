//! The redo record that makes an in-place save atomic, the reading of the
//! log that finishes (or sets aside) it, the check that a log is whole, and
//! the backup of the last complete save.

use std::io;
use std::path::{Path, PathBuf};

use super::*;

/// The redo record's path beside the log: `experiment-log.redo`.
pub fn redo_path(log_path: &Path) -> PathBuf {
    log_path.with_extension("redo")
}

/// A write in place that may not have finished: `tail` belongs at `offset`,
/// after bytes that hash to `prefix`, where the file held `old`.
pub(super) struct Redo {
    pub(super) offset: usize,
    pub(super) prefix: String,
    pub(super) tail: String,
    /// What the file held from `offset` before the write; `None` for a
    /// record of the first format, which did not keep it.
    pub(super) old: Option<String>,
}

impl Redo {
    pub(super) fn render(&self) -> String {
        let old = self.old.as_deref().unwrap_or_default();
        format!(
            "{REDO_MAGIC}\noffset: {}\nprefix_fnv: {}\ntail_len: {}\ntail_fnv: {}\nold_len: {}\nold_fnv: {}\n\n{}{old}",
            self.offset,
            self.prefix,
            self.tail.len(),
            Fnv::of(self.tail.as_bytes()).hex(),
            old.len(),
            Fnv::of(old.as_bytes()).hex(),
            self.tail,
        )
    }

    /// The record, or why it cannot be trusted.
    pub(super) fn parse(text: &str) -> Result<Redo, &'static str> {
        let damaged = "the record itself is damaged";
        let (header, body) = text.split_once("\n\n").ok_or(damaged)?;
        let mut fields = header.lines();
        let magic = fields.next().ok_or(damaged)?;
        let mut field = |name: &str| {
            fields
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(": "))
                .map(str::to_string)
                .ok_or(damaged)
        };
        let offset = field("offset")?.parse().map_err(|_| damaged)?;
        let prefix = field("prefix_fnv")?;
        if magic == REDO_MAGIC_V1 {
            return Ok(Redo {
                offset,
                prefix,
                tail: body.to_string(),
                old: None,
            });
        }
        if magic != REDO_MAGIC {
            return Err(damaged);
        }
        let number = |v: String| v.parse::<usize>().map_err(|_| damaged);
        let tail_len = number(field("tail_len")?)?;
        let tail_fnv = field("tail_fnv")?;
        let old_len = number(field("old_len")?)?;
        let old_fnv = field("old_fnv")?;
        if body.len() != tail_len.saturating_add(old_len) || !body.is_char_boundary(tail_len) {
            return Err(damaged);
        }
        let (tail, old) = body.split_at(tail_len);
        if Fnv::of(tail.as_bytes()).hex() != tail_fnv || Fnv::of(old.as_bytes()).hex() != old_fnv {
            return Err(damaged);
        }
        Ok(Redo {
            offset,
            prefix,
            tail: tail.to_string(),
            old: Some(old.to_string()),
        })
    }

    /// The log as the write meant it, when `text` is the file at some point
    /// of exactly that write; `None` when the file is something else.
    pub(super) fn finish(&self, text: &str) -> Option<String> {
        let prefix = text.get(..self.offset)?;
        if Fnv::of(prefix.as_bytes()).hex() != self.prefix {
            return None;
        }
        let now = &text.as_bytes()[self.offset..];
        let new = self.tail.as_bytes();
        let Some(old) = self.old.as_deref().map(str::as_bytes) else {
            return Some(format!("{prefix}{}", self.tail));
        };
        // The write puts the new bytes, padded with newlines to the old
        // length, over the old ones in one call, then truncates.
        let mut padded = new.to_vec();
        padded.resize(new.len().max(old.len()), b'\n');
        let written = now.iter().zip(&padded).take_while(|(a, b)| a == b).count();
        let rest_is_old = if written < old.len() {
            now[written..] == old[written..]
        } else {
            now.len() == written
        };
        // A file shorter than both (a power cut after the truncation, before
        // the data reached the disk) is a point of the write too.
        let cut_in_new = written == now.len();
        (now == new || rest_is_old || cut_in_new).then(|| format!("{prefix}{}", self.tail))
    }
}

/// Who reads the log: the process that holds the run lock (and may put a
/// stale redo record aside) or anyone else (who reads around a live run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Owner,
    Observer,
}

/// The log's text, with an interrupted in-place write finished (in memory)
/// from its redo record, checked to be whole.
pub fn read(path: &Path, reader: Reader) -> Result<String, LogError> {
    let read_err = |source| LogError::Read {
        path: path.to_path_buf(),
        source,
    };
    let redo_file = redo_path(path);
    // A live run may write between the two reads; an observer reads again
    // until the pair agrees.
    let attempts = if reader == Reader::Owner { 1 } else { 5 };
    let mut verdict = Ok(String::new());
    for attempt in 0..attempts {
        let text = crate::fsutil::read_text(path).map_err(read_err)?;
        let redo = match std::fs::read_to_string(&redo_file) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return whole(path, text),
            Err(e) => return Err(read_err(e)),
        };
        verdict = match Redo::parse(&redo) {
            Ok(redo) => match redo.finish(&text) {
                Some(finished) => return whole(path, finished),
                None => Err((text, "the log changed since it was made")),
            },
            Err(why) => Err((text, why)),
        };
        if attempt + 1 < attempts {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let Err((text, why)) = verdict else {
        unreachable!("every attempt either returned or failed")
    };
    let aside = redo_file.with_extension("redo.stale");
    if reader == Reader::Owner {
        std::fs::rename(&redo_file, &aside).map_err(read_err)?;
        eprintln!(
            "warning: {} was not applied ({why}); the log as it is wins, and the record was set aside as {}",
            redo_file.display(),
            aside.display()
        );
    }
    whole(path, text)
}

/// `text` if it is a whole log: one of ours ends with [`END_MARK`].
pub(super) fn whole(path: &Path, text: String) -> Result<String, LogError> {
    let ours = text.starts_with(HEAD_MARK)
        || (!text.is_empty() && text.len() < HEAD_MARK.len() && HEAD_MARK.starts_with(&text));
    let ended = text.lines().any(|l| l.trim_end() == END_MARK.trim_end());
    if !ours || ended {
        return Ok(text);
    }
    let present: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with([' ', '-', '#']))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k))
        .collect();
    let missing: Vec<&str> = ["experiments", "best", "hypothesis_backlog", "sessions"]
        .into_iter()
        .filter(|k| !present.contains(k))
        .collect();
    let backup = backup_path(path);
    let backup_whole = std::fs::read_to_string(&backup)
        .ok()
        .is_some_and(|b| b.lines().any(|l| l.trim_end() == END_MARK.trim_end()));
    Err(LogError::Truncated {
        path: path.to_path_buf(),
        line: text.lines().count().max(1),
        missing: missing.join(", "),
        backup: backup_whole.then_some(backup),
    })
}

/// Where the last complete save is kept: `experiment-log.backup.yaml`.
pub fn backup_path(log_path: &Path) -> PathBuf {
    log_path.with_extension("backup.yaml")
}

/// Replaces the whole log atomically, then its backup. A redo record left
/// by an interrupted write no longer matches the new file, so it goes after
/// the new file is in place (until then it still finishes the old one).
pub fn rewrite(path: &Path, text: &str) -> Result<(), LogError> {
    let write_err = |source| LogError::Write {
        path: path.to_path_buf(),
        source,
    };
    fsutil::write_atomic(path, text.as_bytes()).map_err(write_err)?;
    remove_durably(&redo_path(path)).map_err(write_err)?;
    // The backup is a convenience, never the truth: a failure to write it
    // only leaves it behind.
    let _ = std::fs::write(backup_path(path), text.as_bytes());
    Ok(())
}

pub(super) fn remove_durably(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    fsutil::sync_parent(path)
}
