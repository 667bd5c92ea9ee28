//! Linked worktrees: added on a branch or detached, reused (only what
//! differs is written), and forgotten with whatever is left of them.

use std::path::Path;

use git2::{Oid, Repository, WorktreePruneOptions};

use super::{Context, Repo, Result};

impl Repo {
    /// Adds a linked worktree at `path` with `branch` (created or reset to
    /// `commit`) checked out. `admin` names it under `.git/worktrees/`.
    pub fn add_worktree(&self, admin: &str, path: &Path, branch: &str, commit: Oid) -> Result<()> {
        self.forget_worktree(admin, path)?;
        self.set_branch(branch, commit)?;
        let reference = self
            .repo
            .find_reference(&format!("refs/heads/{branch}"))
            .context(|| format!("find branch {branch}"))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).context(|| format!("create {}", parent.display()))?;
        }
        let mut opts = git2::WorktreeAddOptions::new();
        opts.reference(Some(&reference));
        self.repo
            .worktree(admin, path, Some(&opts))
            .context(|| format!("add worktree {}", path.display()))?;
        Ok(())
    }

    /// Adds a worktree whose HEAD is detached at `commit`; no branch remains.
    pub fn add_detached_worktree(&self, admin: &str, path: &Path, commit: Oid) -> Result<()> {
        let temp_branch = format!("optimize-tmp/{admin}");
        self.add_worktree(admin, path, &temp_branch, commit)?;
        let wt = Repository::open(path).context(|| format!("open worktree {}", path.display()))?;
        wt.set_head_detached(commit)
            .context(|| format!("detach HEAD in {}", path.display()))?;
        self.delete_branch(&temp_branch)
    }

    /// Moves the linked worktree at `path` onto `branch` (created or reset
    /// to `commit`), or detached at `commit`, writing only what differs from
    /// what it holds: tracked files are made to match `commit` whatever was
    /// done to them, untracked files are removed, and ignored files too when
    /// `remove_ignored`.
    pub fn reuse_worktree(
        &self,
        admin: &str,
        path: &Path,
        branch: Option<&str>,
        commit: Oid,
        remove_ignored: bool,
    ) -> Result<()> {
        // A process killed while writing leaves these; the pool's worktrees
        // are this run's alone (it holds the run lock).
        let admin_dir = self.repo.commondir().join("worktrees").join(admin);
        for lock in ["index.lock", "HEAD.lock"] {
            let _ = std::fs::remove_file(admin_dir.join(lock));
        }
        let wt = self.detach_worktree_head(path)?;
        if let Some(branch) = branch {
            self.set_branch(branch, commit)?;
        }
        let target = wt
            .find_commit(commit)
            .context(|| format!("find commit {commit}"))?;
        // Only what differs is written; anything unexpected on the way
        // (a name that is not UTF-8, a status that cannot be read) and the
        // whole tree is checked out as before.
        if reset_what_differs(&wt, path, &target, remove_ignored).is_err() {
            let mut checkout = git2::build::CheckoutBuilder::new();
            checkout
                .force()
                .remove_untracked(true)
                .remove_ignored(remove_ignored);
            wt.checkout_tree(target.as_object(), Some(&mut checkout))
                .context(|| format!("check out {commit} in {}", path.display()))?;
        }
        match branch {
            Some(branch) => wt
                .set_head(&format!("refs/heads/{branch}"))
                .context(|| format!("check out {branch} in {}", path.display())),
            None => wt
                .set_head_detached(commit)
                .context(|| format!("detach HEAD in {}", path.display())),
        }
    }

    /// Detaches the HEAD of the linked worktree at `path` where it is, so
    /// its branch can be moved or deleted.
    pub fn detach_worktree_head(&self, path: &Path) -> Result<Repository> {
        let wt = Repository::open(path).context(|| format!("open worktree {}", path.display()))?;
        let current = wt
            .head()
            .and_then(|h| h.peel_to_commit())
            .map(|c| c.id())
            .context(|| format!("read HEAD of {}", path.display()))?;
        wt.set_head_detached(current)
            .context(|| format!("detach HEAD in {}", path.display()))?;
        Ok(wt)
    }

    /// Removes a linked worktree's files and its administrative entry.
    /// Safe to call for a worktree that is already gone.
    pub fn forget_worktree(&self, admin: &str, path: &Path) -> Result<()> {
        // Whatever is in its place (a directory, a file, a link) goes.
        crate::tree_path::remove(path).context(|| format!("remove {}", path.display()))?;
        if let Ok(wt) = self.repo.find_worktree(admin) {
            let mut opts = WorktreePruneOptions::new();
            opts.valid(true).locked(true).working_tree(true);
            wt.prune(Some(&mut opts))
                .context(|| format!("prune worktree {admin}"))?;
        }
        // A worktree add killed halfway leaves its admin directory without
        // the files that make libgit2 see it; a later add would fail on it.
        let admin_dir = self.repo.commondir().join("worktrees").join(admin);
        if admin_dir.exists() {
            std::fs::remove_dir_all(&admin_dir)
                .context(|| format!("remove {}", admin_dir.display()))?;
        }
        Ok(())
    }

    /// Names of linked worktrees whose admin name starts with `prefix`.
    /// Linked worktrees whose admin name starts with `prefix`, including
    /// the half-made ones a killed `worktree add` left behind.
    pub fn worktrees_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let names = self.repo.worktrees().context(|| "list worktrees".into())?;
        let mut out = Vec::new();
        for i in 0..names.len() {
            if let Ok(Some(name)) = names.get(i)
                && name.starts_with(prefix)
            {
                out.push(name.to_string());
            }
        }
        let admin_root = self.repo.commondir().join("worktrees");
        for entry in std::fs::read_dir(&admin_root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(out)
    }
}

/// Makes the worktree at `path` hold `target`, touching only the paths that
/// differ: those its status walk reports (edited, deleted, staged) and those
/// that differ between its HEAD and `target`; untracked files (and ignored
/// ones when `remove_ignored`) are removed.
fn reset_what_differs(
    wt: &Repository,
    path: &Path,
    target: &git2::Commit<'_>,
    remove_ignored: bool,
) -> std::result::Result<(), ()> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(remove_ignored)
        .recurse_ignored_dirs(false)
        .exclude_submodules(true);
    let statuses = wt.statuses(Some(&mut opts)).map_err(|_| ())?;
    let head = wt.head().and_then(|h| h.peel_to_tree()).map_err(|_| ())?;
    let tree = target.tree().map_err(|_| ())?;
    let mut differing: Vec<String> = Vec::new();
    let mut strays: Vec<String> = Vec::new();
    for entry in statuses.iter() {
        let p = entry.path().map_err(|_| ())?.to_string();
        if entry
            .status()
            .intersects(git2::Status::WT_NEW | git2::Status::IGNORED)
        {
            // Untracked yet part of the target: the index does not know the
            // tree (a worktree killed while it was made); only a whole
            // checkout puts that right.
            if tree.get_path(Path::new(p.trim_end_matches('/'))).is_ok() {
                return Err(());
            }
            strays.push(p);
        } else {
            differing.push(p);
        }
    }
    let diff = wt
        .diff_tree_to_tree(Some(&head), Some(&tree), None)
        .map_err(|_| ())?;
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(p) = file.path() {
                differing.push(p.to_str().ok_or(())?.to_string());
            }
        }
    }
    for stray in &strays {
        let at = path.join(stray.trim_end_matches('/'));
        let removed = if at.is_dir() && !at.is_symlink() {
            std::fs::remove_dir_all(&at)
        } else {
            std::fs::remove_file(&at)
        };
        removed.or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(())
            }
        })?;
    }
    if differing.is_empty() {
        return Ok(());
    }
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force().disable_pathspec_match(true);
    for p in &differing {
        checkout.path(p);
    }
    wt.checkout_tree(target.as_object(), Some(&mut checkout))
        .map_err(|_| ())
}
