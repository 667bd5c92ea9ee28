//! The backlog: hypotheses from a file, their dependency status, and the
//! choice of the next batch.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::deps;
use crate::log::{BacklogItem, DepStatus, Priority};
use crate::spec::{SpecIssue, parse_located};

#[derive(Debug, thiserror::Error)]
pub enum HypothesesError {
    #[error("cannot read the hypotheses file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(SpecIssue),
}

/// One entry of a hypotheses file.
#[derive(Debug, Clone, Deserialize)]
struct FileEntry {
    description: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    required_deps: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    apply: Option<String>,
    #[serde(default)]
    patch: Option<String>,
}

/// Reads a hypotheses file: a YAML list of entries, or `{hypotheses: [...]}`.
pub fn load_file(path: &Path, approved: &[String]) -> Result<Vec<BacklogItem>, HypothesesError> {
    let text = crate::fsutil::read_text(path).map_err(|source| HypothesesError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let wrapped = text.lines().any(|l| l.starts_with("hypotheses:"));
    let entries = if wrapped {
        #[derive(Deserialize)]
        struct Wrapped {
            hypotheses: Vec<FileEntry>,
        }
        parse_located::<Wrapped>(&text, path)
            .map_err(HypothesesError::Invalid)?
            .hypotheses
    } else {
        parse_located::<Vec<FileEntry>>(&text, path).map_err(HypothesesError::Invalid)?
    };
    let mut items = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let at = |message: String| {
            let key = if wrapped {
                format!("hypotheses[{i}]")
            } else {
                format!("[{i}]")
            };
            HypothesesError::Invalid(SpecIssue {
                file: path.to_path_buf(),
                pos: crate::spec::position_of(&text, &key)
                    .unwrap_or(crate::spec::Pos { line: 1, col: 1 }),
                path: key,
                message,
            })
        };
        if e.description.trim().is_empty() {
            return Err(at("description must not be empty".into()));
        }
        if e.apply.is_some() && e.patch.is_some() {
            return Err(at(format!(
                "\"{}\" has both apply and patch; give one",
                e.description
            )));
        }
        if items
            .iter()
            .any(|h: &BacklogItem| h.description == e.description)
        {
            return Err(at(format!("\"{}\" is listed twice", e.description)));
        }
        items.push(BacklogItem {
            dep_status: dep_status(&e.required_deps, approved),
            description: e.description,
            category: e.category.unwrap_or_else(|| "uncategorized".into()),
            priority: e.priority.unwrap_or(Priority::Medium),
            required_deps: e.required_deps,
            files: e.files,
            apply: e.apply,
            patch: e.patch,
            from_commit: None,
            from_iteration: None,
            extra: Default::default(),
        });
    }
    Ok(items)
}

pub fn is_approved(dep: &str, approved: &[String]) -> bool {
    approved
        .iter()
        .any(|a| deps::normalize(a) == deps::normalize(dep))
}

pub fn dep_status(required: &[String], approved: &[String]) -> DepStatus {
    if required.is_empty() {
        DepStatus::NotApplicable
    } else if required.iter().all(|d| is_approved(d, approved)) {
        DepStatus::Approved
    } else {
        DepStatus::NeedsApproval
    }
}

pub fn runnable(item: &BacklogItem) -> bool {
    item.dep_status != DepStatus::NeedsApproval
}

/// A hypothesis that waited on dependencies someone approved (or one to be
/// measured again from its kept commit): owed a measurement.
pub fn granted(item: &BacklogItem) -> bool {
    item.dep_status == DepStatus::Approved
        && (!item.required_deps.is_empty() || item.from_commit.is_some())
}

/// Indices of up to `n` runnable items: high priority first, diverse across
/// categories, preferring items whose expected files do not overlap. Ties
/// keep backlog order, so the choice is deterministic.
/// The runnable hypotheses not `busy` (under way), in the order the
/// pipelined loop takes them: high priority first, and among equals one of a
/// category none of the `recent` experiments had.
pub fn select_next(backlog: &[BacklogItem], busy: &[&str], recent: &[String]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..backlog.len())
        .filter(|&i| runnable(&backlog[i]) && !busy.contains(&backlog[i].description.as_str()))
        .collect();
    order.sort_by_key(|&i| {
        let item = &backlog[i];
        (item.priority.rank(), recent.contains(&item.category))
    });
    order
}

pub fn select_batch(backlog: &[BacklogItem], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..backlog.len())
        .filter(|&i| runnable(&backlog[i]))
        .collect();
    order.sort_by_key(|&i| backlog[i].priority.rank());
    let mut chosen: Vec<usize> = Vec::new();
    let overlaps = |a: &BacklogItem, b: &BacklogItem| a.files.iter().any(|f| b.files.contains(f));
    // Pass 1: new category and disjoint files. Pass 2: disjoint files. Pass 3: anything.
    for pass in 0..3 {
        for &i in &order {
            if chosen.len() >= n {
                return chosen;
            }
            if chosen.contains(&i) {
                continue;
            }
            let item = &backlog[i];
            let new_category = chosen.iter().all(|&c| backlog[c].category != item.category);
            let disjoint = chosen.iter().all(|&c| !overlaps(&backlog[c], item));
            let ok = match pass {
                0 => new_category && disjoint,
                1 => disjoint,
                _ => true,
            };
            if ok {
                chosen.push(i);
            }
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(desc: &str, cat: &str, prio: Priority, files: &[&str]) -> BacklogItem {
        BacklogItem {
            description: desc.into(),
            category: cat.into(),
            priority: prio,
            dep_status: DepStatus::NotApplicable,
            required_deps: vec![],
            files: files.iter().map(|f| f.to_string()).collect(),
            apply: None,
            patch: None,
            from_commit: None,
            from_iteration: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn diverse_high_priority_disjoint_first() {
        let b = vec![
            item("a", "cache", Priority::Low, &["x"]),
            item("b", "cache", Priority::High, &["x"]),
            item("c", "cache", Priority::High, &["y"]),
            item("d", "io", Priority::Medium, &["x"]),
            item("e", "cpu", Priority::Medium, &["z"]),
        ];
        assert_eq!(select_batch(&b, 3), vec![1, 4, 2]);
        assert_eq!(select_batch(&b, 5), vec![1, 4, 2, 3, 0]);
    }

    #[test]
    fn needs_approval_is_never_selected() {
        let mut b = vec![item("a", "x", Priority::High, &[])];
        b[0].dep_status = DepStatus::NeedsApproval;
        assert!(select_batch(&b, 4).is_empty());
    }

    #[test]
    fn dep_status_follows_approvals() {
        assert_eq!(dep_status(&[], &[]), DepStatus::NotApplicable);
        assert_eq!(
            dep_status(&["Serde_Json".into()], &["serde-json".into()]),
            DepStatus::Approved
        );
        assert_eq!(dep_status(&["numpy".into()], &[]), DepStatus::NeedsApproval);
    }
}
