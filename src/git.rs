//! Git through libgit2: repository discovery, worktrees, branches and commits.
//! The user's checkout, index and current branch are never touched.

use std::path::{Path, PathBuf};

use git2::{BranchType, Oid, Repository, WorktreePruneOptions};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{} is not inside a git repository (run from inside one, or pass --repo DIR)", path.display())]
    NotARepo { path: PathBuf },
    #[error("the repository at {} has no working tree (bare repositories are not supported)", path.display())]
    Bare { path: PathBuf },
    #[error(
        "the repository has no commits yet; commit your project first so experiments have a start commit"
    )]
    NoCommits,
    #[error("git: {context}: {source}")]
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
        let found = Repository::discover(start).map_err(|_| GitError::NotARepo {
            path: start.to_path_buf(),
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

    pub fn delete_branch(&self, branch: &str) -> Result<()> {
        match self.repo.find_branch(branch, BranchType::Local) {
            Ok(mut b) => b.delete().context(|| format!("delete branch {branch}")),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(()),
            Err(e) => Err(e).context(|| format!("find branch {branch}")),
        }
    }

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

    /// Removes a linked worktree's files and its administrative entry.
    /// Safe to call for a worktree that is already gone.
    pub fn forget_worktree(&self, admin: &str, path: &Path) -> Result<()> {
        if path.exists() {
            std::fs::remove_dir_all(path).context(|| format!("remove {}", path.display()))?;
        }
        if let Ok(wt) = self.repo.find_worktree(admin) {
            let mut opts = WorktreePruneOptions::new();
            opts.valid(true).locked(true).working_tree(true);
            wt.prune(Some(&mut opts))
                .context(|| format!("prune worktree {admin}"))?;
        }
        Ok(())
    }

    /// Names of linked worktrees whose admin name starts with `prefix`.
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
        Ok(out)
    }
}
