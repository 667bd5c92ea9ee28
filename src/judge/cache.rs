//! The judge cache, `judge-cache.yaml` beside the log: an item already
//! judged in this run under this rubric reuses its scores and feedback, so
//! identical output is scored (and paid for) once. It belongs to the run: a
//! resume reads it, a fresh run starts without it (`--fresh` archives it
//! with the log).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One judged item's result: what a judge's reply gives for it, and what
/// the cache keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemScore {
    pub scores: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    items: BTreeMap<String, ItemScore>,
}

/// The run's cache, shared by every experiment.
#[derive(Debug, Default)]
pub struct JudgeCache {
    path: Option<PathBuf>,
    file: Mutex<File>,
}

impl JudgeCache {
    /// The cache at `path`; unreadable or corrupt, it starts empty (it only
    /// saves calls, and is rebuilt as items are judged again).
    pub fn open(path: &Path) -> JudgeCache {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => serde_yaml::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!("{} is unreadable ({e}); judging anew", path.display());
                File::default()
            }),
            Err(_) => File::default(),
        };
        JudgeCache {
            path: Some(path.to_path_buf()),
            file: Mutex::new(file),
        }
    }

    pub fn get(&self, key: &str) -> Option<ItemScore> {
        self.lock().items.get(key).cloned()
    }

    /// Adds results and writes the file (atomically; a failed write only
    /// costs calls later).
    pub fn put(&self, results: impl IntoIterator<Item = (String, ItemScore)>) {
        let mut file = self.lock();
        file.items.extend(results);
        let Some(path) = &self.path else { return };
        let text = serde_yaml::to_string(&*file).unwrap_or_default();
        if let Err(e) = crate::fsutil::write_atomic(path, text.as_bytes()) {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An item's key: its content under this rubric and these fields.
pub fn key(rubric: &str, fields: &[String], item: &Value) -> String {
    let hash = crate::log::Fnv::of(rubric.as_bytes())
        .extend(&[0])
        .extend(fields.join(",").as_bytes())
        .extend(&[0])
        .extend(item.to_string().as_bytes());
    format!("fnv1a64:{}", hash.hex())
}
