//! A worktree's changes from one status walk (tracked files edited or
//! deleted, new files, not ignored ones), shared by the scan for what an
//! agent left outside its scope and by the commit, so an experiment pays
//! for one walk of its tree, not three.

use std::path::Path;

use git2::{IndexAddOption, Repository, Status};

use super::{Context, Repo, Result};

/// What one status walk found.
#[derive(Debug, Clone, Default)]
pub struct WorktreeChanges {
    /// Every changed path, and whether it is still there (else: deleted).
    pub changed: Vec<(String, bool)>,
    /// The new files among them, each file itself, inside new directories too.
    pub untracked: Vec<String>,
}

impl WorktreeChanges {
    /// The same without `gone`: files moved out of the tree since the walk.
    pub fn without(mut self, gone: &[String]) -> WorktreeChanges {
        self.changed.retain(|(p, _)| !gone.contains(p));
        self.untracked.retain(|p| !gone.contains(p));
        self
    }
}

impl Repo {
    /// The changes of the worktree at `path`; `None` when a name in it is not
    /// UTF-8 (then only libgit2's whole-tree steps name it right).
    pub fn worktree_changes(&self, path: &Path) -> Result<Option<WorktreeChanges>> {
        let wt = Repository::open(path).context(|| format!("open worktree {}", path.display()))?;
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(true);
        let statuses = wt
            .statuses(Some(&mut opts))
            .context(|| format!("read the status of {}", path.display()))?;
        let mut changes = WorktreeChanges::default();
        for entry in statuses.iter() {
            let Ok(p) = entry.path() else {
                return Ok(None);
            };
            let status = entry.status();
            if status.contains(Status::WT_NEW) {
                changes.untracked.push(p.to_string());
            }
            if status.contains(Status::WT_DELETED) {
                changes.changed.push((p.to_string(), false));
            } else if status.intersects(
                Status::WT_NEW | Status::WT_MODIFIED | Status::WT_TYPECHANGE | Status::WT_RENAMED,
            ) {
                changes.changed.push((p.to_string(), true));
            }
        }
        Ok(Some(changes))
    }

    /// Untracked files in the worktree at `path` (not ignored ones), each
    /// file itself, inside new directories too.
    pub fn untracked_files(&self, path: &Path) -> Result<Vec<String>> {
        let wt = Repository::open(path).context(|| format!("open worktree {}", path.display()))?;
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        let statuses = wt
            .statuses(Some(&mut opts))
            .context(|| format!("read the status of {}", path.display()))?;
        Ok(statuses
            .iter()
            .filter(|s| s.status().contains(Status::WT_NEW))
            .filter_map(|s| s.path().ok().map(str::to_string))
            .collect())
    }
}

/// Stages `changes` path by path, so the cost follows what changed rather
/// than the tree's size; without them, libgit2's whole-tree steps.
pub(super) fn stage(index: &mut git2::Index, changes: Option<&WorktreeChanges>) -> Result<()> {
    let Some(changes) = changes else {
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .context(|| "stage changes".into())?;
        return index
            .update_all(["*"], None)
            .context(|| "stage deletions".into());
    };
    for (p, present) in &changes.changed {
        if *present {
            index
                .add_path(Path::new(p))
                .context(|| format!("stage {p}"))?;
        } else {
            index
                .remove_path(Path::new(p))
                .context(|| format!("stage the deletion of {p}"))?;
        }
    }
    Ok(())
}
