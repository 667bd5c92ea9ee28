//! Dependency approvals given after a run (`optimize approve` / `deny`, or
//! the wrap-up prompt). They live in the state dir (`approvals.yaml`), never
//! in the user's spec, and are applied to the log's backlog.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use crate::deps::normalize;
use crate::log::{BacklogItem, DepStatus, ExperimentLog, Outcome, Priority};

#[derive(Debug, thiserror::Error)]
pub enum ApprovalsError {
    #[error("cannot read the approvals {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the approvals are not valid: {0}")]
    Corrupt(crate::spec::SpecIssue),
    #[error("cannot write the approvals {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approvals {
    #[serde(default)]
    pub approved: Vec<String>,
    #[serde(default)]
    pub denied: Vec<String>,
}

impl Approvals {
    pub fn load(path: &Path) -> Result<Approvals, ApprovalsError> {
        match crate::fsutil::read_text(path) {
            Ok(text) => crate::spec::parse_located(&text, path).map_err(ApprovalsError::Corrupt),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Approvals::default()),
            Err(source) => Err(ApprovalsError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), ApprovalsError> {
        let text = format!(
            "# Dependency approvals for this run, written by `optimize approve` / `optimize deny`.\n{}",
            serde_yaml::to_string(self).expect("approvals serialize")
        );
        crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|source| ApprovalsError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn approve(&mut self, dep: &str) {
        self.denied.retain(|d| normalize(d) != normalize(dep));
        if !self.is_approved(dep) {
            self.approved.push(dep.to_string());
        }
    }

    pub fn deny(&mut self, dep: &str) {
        self.approved.retain(|d| normalize(d) != normalize(dep));
        if !self.is_denied(dep) {
            self.denied.push(dep.to_string());
        }
    }

    pub fn is_approved(&self, dep: &str) -> bool {
        self.approved.iter().any(|d| normalize(d) == normalize(dep))
    }

    pub fn is_denied(&self, dep: &str) -> bool {
        self.denied.iter().any(|d| normalize(d) == normalize(dep))
    }
}

/// What applying approvals changed, for the user.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    pub runnable: Vec<String>,
    pub remeasure: Vec<String>,
    pub dropped: Vec<String>,
}

/// Makes the log agree with the approvals (idempotent): hypotheses whose
/// dependencies are all approved become runnable and go first; deferred
/// entries are queued to be measured from their kept commit; anything
/// waiting on a denied dependency is dropped.
pub fn apply(log: &mut ExperimentLog, approvals: &Approvals, spec_approved: &[String]) -> Applied {
    let ok = |d: &str| approvals.is_approved(d) || crate::hypotheses::is_approved(d, spec_approved);
    let mut applied = Applied::default();
    let mut front: Vec<BacklogItem> = Vec::new();
    let mut rest: Vec<BacklogItem> = Vec::new();
    let mut dropped: Vec<Value> = Vec::new();
    for mut h in std::mem::take(&mut log.hypothesis_backlog) {
        if h.dep_status == DepStatus::NeedsApproval {
            if let Some(d) = h.required_deps.iter().find(|d| approvals.is_denied(d)) {
                applied.dropped.push(h.description.clone());
                dropped.push(dropped_note(&h.description, d));
                continue;
            }
            if h.required_deps.iter().all(|d| ok(d)) {
                h.dep_status = DepStatus::Approved;
                applied.runnable.push(h.description.clone());
                front.push(h);
                continue;
            }
        }
        rest.push(h);
    }
    for e in log.experiments.iter_mut() {
        if e.outcome != Outcome::DeferredNeedsApproval || e.record.approval.is_some() {
            continue;
        }
        let deps = e.deferred_deps();
        if deps.is_empty() {
            continue;
        }
        if let Some(d) = deps.iter().find(|d| approvals.is_denied(d)) {
            e.record.approval = Some(format!("denied: {d}"));
            applied.dropped.push(e.hypothesis.clone());
            continue;
        }
        if !deps.iter().all(|d| ok(d)) {
            continue;
        }
        let Some(commit) = e.record.experiment_commit.clone() else {
            continue;
        };
        e.record.approval = Some("approved".into());
        applied.remeasure.push(e.hypothesis.clone());
        front.push(BacklogItem {
            description: e.hypothesis.clone(),
            category: e.category.clone(),
            priority: Priority::High,
            dep_status: DepStatus::Approved,
            required_deps: deps,
            files: e.changes.iter().map(|c| c.file.clone()).collect(),
            apply: None,
            patch: None,
            from_commit: Some(commit),
            from_iteration: Some(e.iteration),
            extra: Mapping::new(),
        });
    }
    front.extend(rest);
    log.hypothesis_backlog = front;
    if !dropped.is_empty() {
        let list = log
            .extra
            .entry("dropped_hypotheses".into())
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if let Value::Sequence(seq) = list {
            seq.extend(dropped);
        }
    }
    applied
}

fn dropped_note(description: &str, dep: &str) -> Value {
    let mut m = Mapping::new();
    m.insert("description".into(), Value::from(description));
    m.insert(
        "reason".into(),
        Value::from(format!("dependency {dep} was denied")),
    );
    Value::Mapping(m)
}
