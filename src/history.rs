//! Every run on record in a repository, read from the logs (which stay the
//! single source of truth): the current run of each spec under
//! `.optimize/<name>/` and the runs `--fresh` archived under
//! `.optimize/.archive/<name>/<stamp>/`. `.optimize/index.csv` lists them,
//! one row per run, rewritten whenever a run ends or `optimize runs` looks.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::log::{ExperimentLog, LogError};
use crate::spec::{Direction, LoadedSpec};

/// One run: where it lives and its log.
pub struct RunOnRecord {
    pub spec: String,
    /// The run's state directory (current or archived).
    pub dir: PathBuf,
    pub archived: bool,
    pub log: ExperimentLog,
    /// The primary metric, from the spec copy the run kept.
    pub primary: Option<(String, Direction)>,
}

/// A run as `optimize runs` and `index.csv` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub spec: String,
    pub run_id: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: String,
    pub experiments: usize,
    pub kept: usize,
    pub primary: PrimarySummary,
    pub cost_usd: f64,
    pub archived: bool,
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrimarySummary {
    pub name: Option<String>,
    pub baseline: Option<f64>,
    pub best: Option<f64>,
}

/// Every run under `<repo>/.optimize`, oldest first; logs that cannot be
/// read come back as errors beside them, so one bad log hides nothing else.
pub fn discover(repo_root: &Path) -> (Vec<RunOnRecord>, Vec<LogError>) {
    let root = repo_root.join(".optimize");
    let mut dirs: Vec<(String, PathBuf, bool)> = Vec::new();
    for entry in read_dirs(&root) {
        let name = file_name(&entry);
        if !name.starts_with('.') {
            dirs.push((name, entry, false));
        }
    }
    for spec_dir in read_dirs(&root.join(".archive")) {
        let name = file_name(&spec_dir);
        for run in read_dirs(&spec_dir) {
            dirs.push((name.clone(), run, true));
        }
    }
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    for (spec, dir, archived) in dirs {
        let path = dir.join("experiment-log.yaml");
        if !path.is_file() {
            continue;
        }
        match ExperimentLog::load(&path) {
            Ok(log) => {
                let primary = LoadedSpec::parse_file(&dir.join("spec.yaml"))
                    .ok()
                    .map(|l| {
                        let p = &l.spec.metric.primary;
                        (p.name.clone(), p.direction)
                    });
                runs.push(RunOnRecord {
                    spec,
                    dir,
                    archived,
                    log,
                    primary,
                });
            }
            Err(e) => errors.push(e),
        }
    }
    runs.sort_by(|a, b| a.log.started_at.cmp(&b.log.started_at));
    (runs, errors)
}

fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The stop reasons after which a run has more to do (resumable).
const UNFINISHED: [&str; 5] = [
    "interrupted",
    "failed",
    "the model server is down",
    "the budget is spent",
    "the judge budget",
];

impl RunOnRecord {
    pub fn primary_name(&self) -> Option<&str> {
        self.primary.as_ref().map(|(n, _)| n.as_str())
    }

    /// `running`, `stopped: <why>` (resumable) or `complete: <why>`.
    pub fn status(&self) -> String {
        if !self.archived && lock_held(&self.dir) {
            return "running".into();
        }
        match &self.log.run.stopped_because {
            None => "stopped: killed before it recorded why".into(),
            Some(why) if UNFINISHED.iter().any(|u| why.starts_with(u)) => {
                format!("stopped: {why}")
            }
            Some(why) => format!("complete: {why}"),
        }
    }

    pub fn summary(&self) -> Summary {
        let log = &self.log;
        let name = self.primary_name().map(str::to_string);
        Summary {
            spec: self.spec.clone(),
            run_id: log.run_id.clone(),
            started_at: log.started_at.clone(),
            ended_at: log.run.ended_at.clone(),
            status: self.status(),
            experiments: log.experiments.len(),
            kept: log.kept().count(),
            primary: PrimarySummary {
                baseline: name.as_deref().and_then(|n| log.baseline.metric(n)),
                best: name.as_deref().and_then(|n| log.result(n)),
                name,
            },
            cost_usd: (log.total_cost_usd() * 1e6).round() / 1e6,
            archived: self.archived,
            path: self.dir.join("experiment-log.yaml").display().to_string(),
        }
    }
}

/// Whether a run (other than this process, which may be ending one) holds
/// the lock in `dir`, without taking it.
fn lock_held(dir: &Path) -> bool {
    let Some(name) = dir.file_name() else {
        return false;
    };
    let Some(repo_root) = dir.parent().and_then(Path::parent) else {
        return false;
    };
    crate::state::StateDir::new(repo_root, &name.to_string_lossy())
        .lock_holder()
        .is_some_and(|h| h.pid != Some(std::process::id()))
}

const INDEX_HEADER: &str = "spec,run_id,started_at,ended_at,status,experiments,kept,primary,baseline,best,cost_usd,archived,path";

/// `index.csv`: one row per run, as [`Summary`].
fn index_csv(summaries: &[Summary]) -> String {
    let mut out = String::from(INDEX_HEADER);
    out.push('\n');
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for s in summaries {
        let fields = [
            s.spec.clone(),
            s.run_id.clone(),
            s.started_at.clone(),
            s.ended_at.clone().unwrap_or_default(),
            s.status.clone(),
            s.experiments.to_string(),
            s.kept.to_string(),
            s.primary.name.clone().unwrap_or_default(),
            num(s.primary.baseline),
            num(s.primary.best),
            s.cost_usd.to_string(),
            s.archived.to_string(),
            s.path.clone(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

/// Every run's summary, with the logs that cannot be read.
pub fn summaries(repo_root: &Path) -> (Vec<Summary>, Vec<LogError>) {
    let (runs, errors) = discover(repo_root);
    (runs.iter().map(RunOnRecord::summary).collect(), errors)
}

/// Rewrites `<repo>/.optimize/index.csv` (when there is a `.optimize/`).
pub fn write_index(repo_root: &Path, summaries: &[Summary]) -> std::io::Result<()> {
    let root = repo_root.join(".optimize");
    if root.is_dir() {
        crate::fsutil::write_atomic(&root.join("index.csv"), index_csv(summaries).as_bytes())?;
    }
    Ok(())
}

/// Learnings of earlier runs in this repository (every run but the one in
/// `current_dir`),
/// the most relevant to `spec` first (words shared with its description and
/// scope, the same spec, a keep), at most `limit` lines of bounded length:
/// what the hypothesis prompt tells the model so a new run does not repeat
/// what already failed.
pub fn prior_learnings(
    repo_root: &Path,
    current_dir: &Path,
    spec: &crate::spec::Spec,
    limit: usize,
) -> Vec<String> {
    let words = |text: &str| -> std::collections::BTreeSet<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 3)
            .map(str::to_lowercase)
            .collect()
    };
    let context = words(&format!(
        "{} {} {}",
        spec.description,
        spec.metric.primary.name,
        spec.scope.mutable.join(" ")
    ));
    let (runs, _) = discover(repo_root);
    let mut scored: Vec<(usize, String)> = Vec::new();
    for run in runs.iter().filter(|r| r.dir != current_dir) {
        for e in &run.log.experiments {
            let Some(learnings) = &e.learnings else {
                continue;
            };
            let mut score = words(&format!("{} {} {learnings}", e.hypothesis, e.category))
                .intersection(&context)
                .count();
            if run.spec == spec.name {
                score += 3;
            }
            if e.outcome.is_kept() {
                score += 2;
            }
            let line = format!(
                "- [{} {}] {} -> {}: {}",
                run.spec,
                run.log.run_id,
                crate::text::one_line(&e.hypothesis, 120),
                e.outcome,
                crate::text::one_line(learnings, 160)
            );
            scored.push((score, line));
        }
    }
    // Stable: among equals, the most recent runs' learnings first.
    scored.reverse();
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    scored.into_iter().take(limit).map(|(_, l)| l).collect()
}

/// The run of `spec` named by `run_id` (a prefix is enough when it names
/// one run); `None` picks the current run.
pub fn find<'a>(
    runs: &'a [RunOnRecord],
    spec: &str,
    run_id: Option<&str>,
) -> Result<&'a RunOnRecord, String> {
    let of_spec: Vec<&RunOnRecord> = runs.iter().filter(|r| r.spec == spec).collect();
    if of_spec.is_empty() {
        return Err(format!("no run of \"{spec}\" is on record"));
    }
    let Some(id) = run_id else {
        return of_spec
            .iter()
            .find(|r| !r.archived)
            .or(of_spec.last())
            .copied()
            .ok_or_else(|| format!("no run of \"{spec}\" is on record"));
    };
    // An exact id wins over the ids it is a prefix of (`T1200Z` and `T1200Z-2`).
    let exact: Vec<&&RunOnRecord> = of_spec.iter().filter(|r| r.log.run_id == id).collect();
    let matching: Vec<&&RunOnRecord> = if exact.is_empty() {
        of_spec
            .iter()
            .filter(|r| r.log.run_id.starts_with(id))
            .collect()
    } else {
        exact
    };
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "\"{spec}\" has no run {id}; its runs: {}",
            of_spec
                .iter()
                .map(|r| r.log.run_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Err(format!("{id} names more than one run of \"{spec}\"")),
    }
}
