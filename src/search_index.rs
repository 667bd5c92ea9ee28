//! `optimize search`'s index: every experiment of every run in the
//! repository in a SQLite full-text table (`.optimize/search.sqlite`, FTS5
//! over hypothesis, category and learnings). It is derived from the logs,
//! which stay the single source of truth: a fingerprint of the logs (path,
//! size, modification time) is stored with it, and any change rebuilds it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::history::RunOnRecord;
use crate::log::Fnv;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search index {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("search for something: the text is empty")]
    Empty,
}

/// One experiment that matched.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub spec: String,
    pub run_id: String,
    pub archived: bool,
    pub iteration: u64,
    pub outcome: String,
    pub delta: Option<String>,
    pub hypothesis: String,
    pub category: String,
    pub learnings: Option<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS experiments USING fts5(
    hypothesis, category, learnings,
    spec UNINDEXED, run_id UNINDEXED, archived UNINDEXED,
    iteration UNINDEXED, outcome UNINDEXED, delta UNINDEXED
);";

/// The logs' fingerprint: changes whenever any log is written.
fn fingerprint(runs: &[RunOnRecord]) -> String {
    let mut h = Fnv::default();
    for r in runs {
        let path = r.dir.join("experiment-log.yaml");
        let meta = std::fs::metadata(&path).ok();
        let stamp = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h = h
            .extend(path.as_os_str().as_encoded_bytes())
            .extend(&meta.map(|m| m.len()).unwrap_or(0).to_le_bytes())
            .extend(&stamp.to_le_bytes());
    }
    h.hex()
}

/// Experiments of `runs` whose hypothesis, category or learnings contain
/// every word of `text` (a word matches as a prefix), best matches first.
pub fn search(repo_root: &Path, runs: &[RunOnRecord], text: &str) -> Result<Vec<Hit>, SearchError> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        return Err(SearchError::Empty);
    }
    let path = repo_root.join(".optimize").join("search.sqlite");
    let err = |source| SearchError::Sqlite {
        path: path.clone(),
        source,
    };
    let mut db = if repo_root.join(".optimize").is_dir() {
        Connection::open(&path).map_err(err)?
    } else {
        Connection::open_in_memory().map_err(err)?
    };
    db.execute_batch(SCHEMA).map_err(err)?;
    let wanted = fingerprint(runs);
    let stored: Option<String> = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'fingerprint'",
            [],
            |r| r.get(0),
        )
        .ok();
    if stored.as_deref() != Some(wanted.as_str()) {
        rebuild(&mut db, runs, &wanted).map_err(err)?;
    }
    let mut query = db
        .prepare(
            "SELECT spec, run_id, archived, iteration, outcome, delta, hypothesis, category, learnings
             FROM experiments WHERE experiments MATCH ?1 ORDER BY rank",
        )
        .map_err(err)?;
    let hits = query
        .query_map(params![words.join(" ")], |r| {
            Ok(Hit {
                spec: r.get(0)?,
                run_id: r.get(1)?,
                archived: r.get::<_, i64>(2)? != 0,
                iteration: r.get::<_, i64>(3)? as u64,
                outcome: r.get(4)?,
                delta: r.get(5)?,
                hypothesis: r.get(6)?,
                category: r.get(7)?,
                learnings: r.get(8)?,
            })
        })
        .map_err(err)?
        .collect::<Result<Vec<Hit>, _>>()
        .map_err(err)?;
    Ok(hits)
}

fn rebuild(db: &mut Connection, runs: &[RunOnRecord], fingerprint: &str) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    tx.execute("DELETE FROM experiments", [])?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO experiments (hypothesis, category, learnings, spec, run_id, archived, iteration, outcome, delta)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for r in runs {
            for e in &r.log.experiments {
                insert.execute(params![
                    e.hypothesis,
                    e.category,
                    e.learnings,
                    r.spec,
                    r.log.run_id,
                    r.archived as i64,
                    e.iteration as i64,
                    e.outcome.as_str(),
                    e.primary_delta,
                ])?;
            }
        }
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('fingerprint', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![fingerprint],
    )?;
    tx.commit()
}
