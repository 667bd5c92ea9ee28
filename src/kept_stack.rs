//! The kept changes of a run as the branch holds them: one commit each on
//! top of the start commit, up to the best (the report commit above it is
//! not a change). What `finalize` groups and `ablate` takes apart.

use git2::Oid;

use crate::git::{GitError, Repo};
use crate::log::ExperimentLog;

/// One kept change: its commit on the branch and what the log says of it.
#[derive(Debug, Clone)]
pub struct KeptChange {
    pub commit: Oid,
    /// The experiment that kept it, when the log names this commit.
    pub iteration: Option<u64>,
    pub hypothesis: String,
    /// The paths its commit changes.
    pub files: Vec<String>,
    /// As the run measured it when it was kept.
    pub primary_delta: Option<String>,
    pub primary_ci: Option<[f64; 2]>,
}

/// The start commit and every kept change above it, oldest first.
pub struct KeptStack {
    pub start: Oid,
    pub best: Oid,
    pub changes: Vec<KeptChange>,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("the run has no {0} in its log yet; nothing was kept to work on")]
    Missing(&'static str),
    #[error(transparent)]
    Git(#[from] GitError),
}

impl KeptStack {
    pub fn of(repo: &Repo, log: &ExperimentLog) -> Result<KeptStack, StackError> {
        let oid = |s: Option<&String>| s.and_then(|s| Repo::parse_oid(s));
        let start = oid(log
            .run
            .start_commit
            .as_ref()
            .or(log.baseline.commit.as_ref()))
        .ok_or(StackError::Missing("start commit"))?;
        let mut best = oid(log.best.commit.as_ref()).ok_or(StackError::Missing("best commit"))?;
        // The wrap-up's report commit sits on the best while the run rests:
        // it is evidence, not a change.
        if log.run.report_commit.as_deref() == Some(best.to_string().as_str()) {
            best = repo.parent_of(best)?;
        }
        let mut changes = Vec::new();
        for commit in repo.first_parents_since(start, best)? {
            let text = commit.to_string();
            let entry = log
                .experiments
                .iter()
                .rev()
                .find(|e| e.commit.as_deref() == Some(text.as_str()) && e.outcome.is_kept());
            let parent = repo.parent_of(commit)?;
            let files = repo
                .changed_files(parent, commit)?
                .into_iter()
                .map(|(f, _)| f)
                .collect();
            let hypothesis = match entry {
                Some(e) => e.hypothesis.clone(),
                None => strip_prefix(&repo.subject(commit)?),
            };
            changes.push(KeptChange {
                commit,
                iteration: entry.map(|e| e.iteration),
                hypothesis,
                files,
                primary_delta: entry.and_then(|e| e.primary_delta.clone()),
                primary_ci: entry.and_then(|e| e.record.primary_ci),
            });
        }
        Ok(KeptStack {
            start,
            best,
            changes,
        })
    }
}

/// `optimize(name): hypothesis` to the hypothesis.
fn strip_prefix(subject: &str) -> String {
    match subject.split_once("): ") {
        Some((head, rest)) if head.starts_with("optimize(") => rest.to_string(),
        _ => subject.to_string(),
    }
}

impl KeptChange {
    /// `#7 "Cache the parsed input"`, or the commit when no entry names it.
    pub fn label(&self) -> String {
        match self.iteration {
            Some(n) => format!("#{n} \"{}\"", self.hypothesis),
            None => format!("{} \"{}\"", &self.commit.to_string()[..8], self.hypothesis),
        }
    }
}
