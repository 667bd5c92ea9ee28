//! Git through libgit2: repository discovery, worktrees, branches and commits.
//! The user's checkout, index and current branch are never touched.

use std::path::{Path, PathBuf};

use git2::{BranchType, DiffOptions, Oid, Repository, Signature};

pub use changes::WorktreeChanges;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{} is not inside a git repository (run from inside one, or pass --repo DIR)", path.display())]
    NotARepo { path: PathBuf },
    #[error(
        "git refuses the repository at {}: {message}\nif you trust it, mark it safe: git config --global --add safe.directory '{}'",
        path.display(),
        path.display()
    )]
    DubiousOwnership { path: PathBuf, message: String },
    #[error("the repository at {} has no working tree (bare repositories are not supported)", path.display())]
    Bare { path: PathBuf },
    #[error(
        "the repository has no commits yet; commit your project first so experiments have a start commit"
    )]
    NoCommits,
    #[error("git: {context}: {}", source.message())]
    Git {
        context: String,
        source: git2::Error,
    },
    #[error("git: {context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, GitError>;

/// Serializes this process's changes to the repository's refs and
/// worktrees. libgit2 checks other worktrees while adding one, and sees a
/// half-created neighbour as a conflict, so parallel experiments take turns
/// for their (short) git steps; their measurements still run in parallel.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Attaches what we were doing to a libgit2 error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, git2::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| GitError::Git {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| GitError::Io {
            context: what(),
            source,
        })
    }
}

pub struct Repo {
    pub repo: Repository,
    pub root: PathBuf,
}

impl Repo {
    /// The repository containing `start` (the user's main working tree, even
    /// when `start` is inside one of its linked worktrees).
    pub fn discover(start: &Path) -> Result<Repo> {
        let found = Repository::discover(start).map_err(|e| match e.code() {
            git2::ErrorCode::Owner => GitError::DubiousOwnership {
                path: start.to_path_buf(),
                message: e.message().to_string(),
            },
            _ => GitError::NotARepo {
                path: start.to_path_buf(),
            },
        })?;
        let repo = if found.is_worktree() {
            let common = found.commondir().to_path_buf();
            Repository::open(&common).context(|| format!("open {}", common.display()))?
        } else {
            found
        };
        let root = repo
            .workdir()
            .ok_or_else(|| GitError::Bare {
                path: repo.path().to_path_buf(),
            })?
            .to_path_buf();
        let root = root.canonicalize().unwrap_or(root);
        Ok(Repo { repo, root })
    }

    pub fn open(root: &Path) -> Result<Repo> {
        let repo = Repository::open(root).context(|| format!("open {}", root.display()))?;
        Ok(Repo {
            repo,
            root: root.to_path_buf(),
        })
    }

    pub fn head_commit(&self) -> Result<Oid> {
        let head = self.repo.head().map_err(|_| GitError::NoCommits)?;
        let commit = head.peel_to_commit().map_err(|_| GitError::NoCommits)?;
        Ok(commit.id())
    }

    pub fn branch_commit(&self, branch: &str) -> Result<Option<Oid>> {
        match self.repo.find_branch(branch, BranchType::Local) {
            Ok(b) => Ok(b.get().target()),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e).context(|| format!("read branch {branch}")),
        }
    }

    /// Points `branch` at `commit`, creating it if needed. Refuses to move
    /// the branch checked out in the user's working tree.
    pub fn set_branch(&self, branch: &str, commit: Oid) -> Result<()> {
        let target = self
            .repo
            .find_commit(commit)
            .context(|| format!("find commit {commit}"))?;
        self.repo
            .branch(branch, &target, true)
            .context(|| format!("set branch {branch} to {commit}"))?;
        Ok(())
    }

    /// Removes the `.lock` files a killed writer left beside the branches
    /// under `refs/heads/<prefix>` (git refuses to update a locked ref).
    /// Only for namespaces this process owns, under the run lock.
    pub fn remove_stale_ref_locks(&self, prefix: &str) -> Result<Vec<PathBuf>> {
        let dir = self.repo.commondir().join("refs/heads").join(prefix);
        let mut removed = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "lock") {
                    std::fs::remove_file(&path)
                        .context(|| format!("remove the stale lock {}", path.display()))?;
                    removed.push(path);
                }
            }
        }
        Ok(removed)
    }

    pub fn delete_branch(&self, branch: &str) -> Result<()> {
        match self.repo.find_branch(branch, BranchType::Local) {
            Ok(mut b) => b.delete().context(|| format!("delete branch {branch}")),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(()),
            Err(e) => Err(e).context(|| format!("find branch {branch}")),
        }
    }

    /// The repository's configured identity, or a fixed one on machines
    /// without a git identity, so commits never fail for lack of one.
    pub fn signature(&self) -> Signature<'static> {
        self.repo
            .signature()
            .or_else(|_| Signature::now("optimize", "optimize@localhost"))
            .expect("a fixed signature is always valid")
    }

    /// Commits everything in the worktree at `path` (additions, edits and
    /// deletions) on its checked-out branch, with `parent` as the parent;
    /// what changed is `walked` when the caller has already walked it.
    /// Returns `None` when nothing changed.
    /// `untracked_extras` (such as copied shared files) are never committed
    /// unless the parent already tracks them.
    pub fn commit_worktree(
        &self,
        path: &Path,
        message: &str,
        parent: Oid,
        untracked_extras: &[String],
        walked: Option<&changes::WorktreeChanges>,
    ) -> Result<Option<Oid>> {
        let wt = Repository::open(path).context(|| format!("open worktree {}", path.display()))?;
        let mut index = wt.index().context(|| "read worktree index".into())?;
        let walked_now = match walked {
            Some(_) => None,
            None => self.worktree_changes(path)?,
        };
        changes::stage(&mut index, walked.or(walked_now.as_ref()))?;
        let parent_commit = wt
            .find_commit(parent)
            .context(|| format!("find {parent}"))?;
        let parent_tree = parent_commit.tree().context(|| "read parent tree".into())?;
        for extra in untracked_extras {
            if parent_tree.get_path(Path::new(extra)).is_err() {
                index
                    .remove_all([extra.as_str()], None)
                    .context(|| format!("unstage {extra}"))?;
            }
        }
        index.write().context(|| "write worktree index".into())?;
        let tree_id = index.write_tree().context(|| "write tree".into())?;
        if parent_commit.tree_id() == tree_id {
            return Ok(None);
        }
        let tree = wt.find_tree(tree_id).context(|| "find tree".into())?;
        let sig = self.signature();
        let oid = wt
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent_commit])
            .context(|| "commit experiment".into())?;
        Ok(Some(oid))
    }

    /// Paths changed between two commits, with what happened to each
    /// (renames list both sides).
    pub fn changed_files(&self, from: Oid, to: Oid) -> Result<Vec<(String, &'static str)>> {
        let diff = self.diff(from, to)?;
        let mut files: Vec<(String, &'static str)> = Vec::new();
        for delta in diff.deltas() {
            let what = match delta.status() {
                git2::Delta::Added => "added",
                git2::Delta::Deleted => "deleted",
                git2::Delta::Renamed => "renamed",
                _ => "modified",
            };
            for file in [delta.old_file(), delta.new_file()] {
                if let Some(p) = file.path().and_then(Path::to_str)
                    && !files.iter().any(|(f, _)| f == p)
                {
                    files.push((p.to_string(), what));
                }
            }
        }
        Ok(files)
    }

    fn diff(&self, from: Oid, to: Oid) -> Result<git2::Diff<'_>> {
        let a = self
            .repo
            .find_commit(from)
            .context(|| format!("find {from}"))?;
        let b = self.repo.find_commit(to).context(|| format!("find {to}"))?;
        let (ta, tb) = (
            a.tree().context(|| "read tree".into())?,
            b.tree().context(|| "read tree".into())?,
        );
        let mut opts = DiffOptions::new();
        self.repo
            .diff_tree_to_tree(Some(&ta), Some(&tb), Some(&mut opts))
            .context(|| format!("diff {from}..{to}"))
    }

    /// The unified diff between two commits.
    pub fn diff_text(&self, from: Oid, to: Oid) -> Result<String> {
        let diff = self.diff(from, to)?;
        let mut out = Vec::new();
        diff.print(git2::DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                out.push(line.origin() as u8);
            }
            out.extend_from_slice(line.content());
            true
        })
        .context(|| "print diff".into())?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// A file's content at a commit, if it exists there as text.
    pub fn file_at(&self, commit: Oid, path: &str) -> Result<Option<String>> {
        let c = self
            .repo
            .find_commit(commit)
            .context(|| format!("find {commit}"))?;
        let tree = c.tree().context(|| "read tree".into())?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        let Ok(blob) = self.repo.find_blob(entry.id()) else {
            return Ok(None);
        };
        Ok(std::str::from_utf8(blob.content()).ok().map(str::to_string))
    }

    /// A commit on top of `parent` that adds (or replaces) `files`, each a
    /// path with `/` separators and its contents; on no branch yet.
    pub fn commit_files(&self, parent: Oid, files: &[(&str, &[u8])], message: &str) -> Result<Oid> {
        let base = self
            .repo
            .find_commit(parent)
            .context(|| format!("find {parent}"))?;
        let mut tree = base.tree().context(|| "read tree".into())?;
        for (path, contents) in files {
            let blob = self
                .repo
                .blob(contents)
                .context(|| format!("write {path}"))?;
            let parts: Vec<&str> = path.split('/').collect();
            let id = self.insert_blob(Some(&tree), &parts, blob)?;
            tree = self.repo.find_tree(id).context(|| "find tree".into())?;
        }
        let sig = self.signature();
        self.repo
            .commit(None, &sig, &sig, message, &tree, &[&base])
            .context(|| "commit files".into())
    }

    /// `tree` (or an empty one) with `blob` at `parts`, written.
    fn insert_blob(&self, tree: Option<&git2::Tree>, parts: &[&str], blob: Oid) -> Result<Oid> {
        let mut builder = self
            .repo
            .treebuilder(tree)
            .context(|| "build tree".into())?;
        match parts {
            [name] => {
                builder
                    .insert(name, blob, 0o100644)
                    .context(|| format!("add {name}"))?;
            }
            [dir, rest @ ..] => {
                let sub = tree
                    .and_then(|t| t.get_name(dir))
                    .and_then(|e| self.repo.find_tree(e.id()).ok());
                let id = self.insert_blob(sub.as_ref(), rest, blob)?;
                builder
                    .insert(dir, id, 0o040000)
                    .context(|| format!("add {dir}/"))?;
            }
            [] => {}
        }
        builder.write().context(|| "write tree".into())
    }

    /// Applies a unified diff to the worktree at `path`.
    pub fn apply_patch(path: &Path, patch: &str) -> Result<()> {
        let wt = Repository::open(path).context(|| format!("open worktree {}", path.display()))?;
        let diff =
            git2::Diff::from_buffer(patch.as_bytes()).context(|| "parse the patch".into())?;
        wt.apply(&diff, git2::ApplyLocation::WorkDir, None)
            .context(|| "apply the patch".into())
    }

    /// Local branches whose names start with `prefix`.
    pub fn branches_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for b in self
            .repo
            .branches(Some(BranchType::Local))
            .context(|| "list branches".into())?
        {
            let (b, _) = b.context(|| "read branch".into())?;
            if let Ok(Some(name)) = b.name()
                && name.starts_with(prefix)
            {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    pub fn parse_oid(s: &str) -> Option<Oid> {
        Oid::from_str(s).ok()
    }
}

mod changes;
mod stack;
mod worktrees;
