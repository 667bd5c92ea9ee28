//! Saving the experiment log at a cost that does not grow with the log.
//!
//! The file is laid out as the log always was: the head (`spec`, `run_id`,
//! `started_at`, `baseline`), then `experiments:`, then the trailer (`best`,
//! `hypothesis_backlog` and the run's own records). Entries that are decided
//! and older than the newest batch never change again, so they are *sealed*:
//! their bytes stay where they are. A save rewrites only what follows them
//! (the open batch's entries and the trailer), in place.
//!
//! That in-place write is made atomic by a redo record beside the log
//! (`experiment-log.redo`): the offset, a hash of the bytes before it, and the
//! bytes to write there, itself written atomically (temp, fsync, rename, fsync
//! of the directory) before the log is touched. Whoever reads the log next
//! (the run on resume, `status`, `report`) finishes an interrupted write from
//! it, so a kill or a power cut at any point leaves the log as it was before
//! the save or as it is after it. A clean finish removes the record.
//!
//! A redo record finishes only the write it was made for: it carries both
//! the bytes it replaces and the bytes it writes, and applies only when the
//! file is exactly some point of that write (not begun, torn anywhere, padded
//! but not yet truncated). A log changed since (a hand edit) wins; the record
//! is set aside as `experiment-log.redo.stale` with a warning.
//!
//! The file begins with [`HEAD_MARK`] and its last line is [`END_MARK`], so a
//! log cut short at any byte is told from a whole one (a log of another tool,
//! without the first, is taken as whole). After every save the same bytes go
//! to `experiment-log.backup.yaml`, the last complete save, to recover from.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml::Mapping;

use super::{
    BacklogItem, Baseline, Best, Experiment, ExperimentLog, LogError, RunMeta, timestamps,
};
use crate::fsutil;

const REDO_MAGIC_V1: &str = "optimize experiment-log redo v1";
const REDO_MAGIC: &str = "optimize experiment-log redo v2";
/// The first line of every log this tool writes.
pub const HEAD_MARK: &str =
    "# experiment log written by optimize; its last line is \"# end of experiment log\"\n";
/// The last line of every log this tool writes: written last, so its absence
/// means the file was cut short.
pub const END_MARK: &str = "# end of experiment log\n";
const EMPTY_EXPERIMENTS: &str = "experiments: []\n";
const EXPERIMENTS_KEY: &str = "experiments:\n";

/// FNV-1a, 64 bits: cheap to extend as sealed bytes are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn of(bytes: &[u8]) -> Fnv {
        Fnv::default().extend(bytes)
    }

    pub fn extend(mut self, bytes: &[u8]) -> Fnv {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

#[derive(Serialize)]
struct Head<'a> {
    spec: &'a str,
    run_id: &'a str,
    started_at: &'a str,
    baseline: &'a Baseline,
    #[serde(skip_serializing_if = "Option::is_none")]
    harness_validation: &'a Option<super::HarnessCheck>,
}

#[derive(Serialize)]
struct Trailer<'a> {
    best: &'a Best,
    hypothesis_backlog: &'a [BacklogItem],
    #[serde(flatten)]
    run: &'a RunMeta,
    #[serde(flatten)]
    extra: &'a Mapping,
}

fn yaml<T: Serialize>(value: &T) -> String {
    let text = serde_yaml::to_string(value).expect("the experiment log always serializes");
    timestamps::quote(&text)
}

impl ExperimentLog {
    fn render_head(&self) -> String {
        yaml(&Head {
            spec: &self.spec,
            run_id: &self.run_id,
            started_at: &self.started_at,
            baseline: &self.baseline,
            harness_validation: &self.harness_validation,
        })
    }

    fn render_trailer(&self) -> String {
        yaml(&Trailer {
            best: &self.best,
            hypothesis_backlog: &self.hypothesis_backlog,
            run: &self.run,
            extra: &self.extra,
        })
    }

    /// The log as YAML, in parts: the same text a whole-struct
    /// serialization gives (tested), so the file's format does not depend
    /// on how it was saved.
    pub fn to_yaml(&self) -> String {
        let mut text = String::from(HEAD_MARK);
        text.push_str(&self.render_head());
        if self.experiments.is_empty() {
            text.push_str(EMPTY_EXPERIMENTS);
        } else {
            text.push_str(EXPERIMENTS_KEY);
            for e in &self.experiments {
                text.push_str(&render_entry(e));
            }
        }
        text.push_str(&self.render_trailer());
        text.push_str(END_MARK);
        text
    }
}

/// One entry as an item of the top-level `experiments:` sequence.
fn render_entry(entry: &Experiment) -> String {
    yaml(&[entry])
}

/// Entries that will not change again: the leading run of decided entries,
/// short of the newest batch (its runner-ups may still be merged).
fn sealable(log: &ExperimentLog) -> usize {
    let newest = log.experiments.iter().map(|e| e.batch).max().unwrap_or(0);
    // An experiment under way is inserted by iteration when it finishes.
    let first_under_way = log
        .run
        .in_flight
        .iter()
        .flat_map(|f| f.experiments.iter().map(|m| m.iteration))
        .min()
        .unwrap_or(u64::MAX);
    log.experiments
        .iter()
        .take_while(|e| {
            !e.outcome.is_pending() && e.batch < newest && e.iteration < first_under_way
        })
        .count()
}

/// What this writer last put on disk.
struct Written {
    head: String,
    /// Entries whose bytes are final.
    sealed: usize,
    /// Bytes before the first unsealed entry (head, key, sealed entries).
    sealed_len: usize,
    sealed_hash: Fnv,
    len: usize,
    /// The file's bytes from `sealed_len` on, as written.
    tail: String,
    /// The backup's length when it holds the same bytes, else `None`.
    backup_len: Option<usize>,
    /// The sealed entries as written, to catch (in tests) code that changes
    /// one after it was sealed.
    #[cfg(debug_assertions)]
    sealed_entries: Vec<Experiment>,
}

/// The run's writer of its log: whole the first time, then only what
/// follows the sealed entries.
pub struct LogFile {
    path: PathBuf,
    written: Option<Written>,
}

impl LogFile {
    pub fn new(path: PathBuf) -> LogFile {
        LogFile {
            path,
            written: None,
        }
    }

    pub fn save(&mut self, log: &ExperimentLog) -> Result<(), LogError> {
        let head = log.render_head();
        let in_place = match self.written.take() {
            Some(w) if w.head == head && w.sealed <= sealable(log) => {
                #[cfg(debug_assertions)]
                debug_assert!(
                    log.experiments[..w.sealed] == w.sealed_entries[..],
                    "a sealed log entry was changed after it was written: {:?}",
                    log.experiments[..w.sealed]
                        .iter()
                        .zip(&w.sealed_entries)
                        .find(|(a, b)| a != b)
                        .map(|(a, b)| (
                            serde_yaml::to_string(a).ok(),
                            serde_yaml::to_string(b).ok()
                        ))
                );
                Some(w)
            }
            _ => None,
        };
        let written = match in_place {
            Some(w) => self.write_tail(log, w)?,
            None => self.write_whole(log, head)?,
        };
        self.written = Some(written);
        Ok(())
    }

    /// The next save writes the whole log: an entry that was sealed changed
    /// (a hypothesis given back marks its entry).
    pub fn reseal(&mut self) {
        self.written = None;
    }

    /// The end of a run: nothing is left to finish, so the redo goes.
    pub fn close(&mut self) -> Result<(), LogError> {
        if self.written.is_some() {
            remove_durably(&redo_path(&self.path)).map_err(|source| LogError::Write {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn write_whole(&self, log: &ExperimentLog, head: String) -> Result<Written, LogError> {
        let sealed = sealable(log);
        let mut text = String::from(HEAD_MARK);
        text.push_str(&head);
        let mut sealed_len = text.len();
        if log.experiments.is_empty() {
            text.push_str(EMPTY_EXPERIMENTS);
        } else {
            text.push_str(EXPERIMENTS_KEY);
            for (i, e) in log.experiments.iter().enumerate() {
                text.push_str(&render_entry(e));
                if i + 1 == sealed {
                    sealed_len = text.len();
                }
            }
        }
        text.push_str(&log.render_trailer());
        text.push_str(END_MARK);
        rewrite(&self.path, &text)?;
        Ok(Written {
            head,
            sealed,
            sealed_len,
            sealed_hash: Fnv::of(&text.as_bytes()[..sealed_len]),
            len: text.len(),
            tail: text[sealed_len..].to_string(),
            backup_len: Some(text.len()),
            #[cfg(debug_assertions)]
            sealed_entries: log.experiments[..sealed].to_vec(),
        })
    }

    fn write_tail(&self, log: &ExperimentLog, mut w: Written) -> Result<Written, LogError> {
        let sealed = sealable(log);
        let mut tail = String::new();
        let mut newly_sealed = 0;
        if w.sealed == 0 {
            if log.experiments.is_empty() {
                tail.push_str(EMPTY_EXPERIMENTS);
            } else {
                tail.push_str(EXPERIMENTS_KEY);
            }
        }
        for (i, e) in log.experiments.iter().enumerate().skip(w.sealed) {
            tail.push_str(&render_entry(e));
            if i + 1 == sealed {
                newly_sealed = tail.len();
            }
        }
        tail.push_str(&log.render_trailer());
        tail.push_str(END_MARK);
        let redo = Redo {
            offset: w.sealed_len,
            prefix: w.sealed_hash.hex(),
            tail,
            old: Some(std::mem::take(&mut w.tail)),
        };
        let write_err = |source| LogError::Write {
            path: self.path.clone(),
            source,
        };
        fsutil::write_atomic(&redo_path(&self.path), redo.render().as_bytes())
            .map_err(write_err)?;
        let new_len = w.sealed_len + redo.tail.len();
        write_in_place(
            &self.path,
            w.sealed_len,
            &redo.tail,
            (w.len.max(new_len), new_len),
            true,
        )
        .map_err(write_err)?;
        // The same bytes to the backup, unsynced: the log is the truth, the
        // backup only what to recover from if something else damages it.
        let backup = backup_path(&self.path);
        w.backup_len = match w.backup_len {
            Some(len) => write_in_place(
                &backup,
                w.sealed_len,
                &redo.tail,
                (len.max(new_len), new_len),
                false,
            )
            .ok(),
            // Out of step (it could not be written, or was removed): whole again.
            None => std::fs::copy(&self.path, &backup).ok().map(drop),
        }
        .map(|()| new_len);
        #[cfg(debug_assertions)]
        w.sealed_entries
            .extend_from_slice(&log.experiments[w.sealed..sealed]);
        w.sealed_hash = w.sealed_hash.extend(&redo.tail.as_bytes()[..newly_sealed]);
        w.sealed_len += newly_sealed;
        w.sealed = sealed.max(w.sealed);
        w.len = new_len;
        w.tail = redo.tail[newly_sealed..].to_string();
        Ok(w)
    }
}

/// Writes `tail` at `offset` in one call, padded with newlines to `span`
/// bytes so the file stays valid YAML even if it is killed before the
/// truncation to `len`; then syncs it when `sync` (the backup goes unsynced).
fn write_in_place(
    path: &Path,
    offset: usize,
    tail: &str,
    (span, len): (usize, usize),
    sync: bool,
) -> io::Result<()> {
    let file = write_padded(path, offset, tail, span, len)?;
    if sync { file.sync_data() } else { Ok(()) }
}

fn write_padded(
    path: &Path,
    offset: usize,
    tail: &str,
    span: usize,
    len: usize,
) -> io::Result<std::fs::File> {
    let file = OpenOptions::new().write(true).open(path)?;
    let mut bytes = Vec::with_capacity(span - offset);
    bytes.extend_from_slice(tail.as_bytes());
    bytes.resize(span - offset, b'\n');
    file.write_all_at(&bytes, offset as u64)?;
    file.set_len(len as u64)?;
    Ok(file)
}

mod redo;

pub use redo::{Reader, backup_path, read, redo_path, rewrite};
use redo::{Redo, remove_durably};

#[cfg(test)]
mod tests;
