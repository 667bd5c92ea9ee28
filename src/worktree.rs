//! An experiment's working tree: a linked git worktree under the state dir,
//! with the spec's shared files copied in and the environment its commands get.

use std::path::{Path, PathBuf};

use git2::Oid;

use crate::git::{Context, GitError, Repo, Result};
use crate::spec::{Clean, Spec};
use crate::state::StateDir;

#[derive(Debug, Clone)]
pub struct Worktree {
    /// Name under `.git/worktrees/`, unique per spec and experiment.
    pub admin: String,
    pub path: PathBuf,
    pub branch: Option<String>,
}

impl Worktree {
    /// `label` is `exp-007` for experiments, `validate-<pid>` for validate.
    pub fn location(state: &StateDir, label: &str) -> Worktree {
        Worktree {
            admin: crate::names::worktree_admin(&state.name, label),
            path: state.worktrees_dir().join(label),
            branch: None,
        }
    }

    /// A worktree with a detached HEAD; it leaves no branch behind.
    pub fn create_detached(
        repo: &Repo,
        state: &StateDir,
        label: &str,
        commit: Oid,
    ) -> Result<Worktree> {
        let wt = Worktree::location(state, label);
        let _git = crate::git::exclusive();
        repo.add_detached_worktree(&wt.admin, &wt.path, commit)?;
        Ok(wt)
    }

    /// The pool's worktree `label` (see [`crate::names::slot_label`]) on
    /// `branch` at `commit`, or detached: the one a previous experiment left
    /// moved there (only the files that differ are written), or a new one
    /// when there is none or it cannot be reused.
    pub fn pooled(
        repo: &Repo,
        state: &StateDir,
        label: &str,
        branch: Option<&str>,
        commit: Oid,
        clean: Clean,
    ) -> Result<Worktree> {
        let mut wt = Worktree::location(state, label);
        wt.branch = branch.map(str::to_string);
        let _git = crate::git::exclusive();
        if wt.path.join(".git").is_file() && repo.repo.find_worktree(&wt.admin).is_ok() {
            match repo.reuse_worktree(&wt.admin, &wt.path, branch, commit, clean == Clean::Full) {
                Ok(()) => return Ok(wt),
                Err(e) => tracing::warn!("rebuilding {}: {e}", wt.path.display()),
            }
        }
        match branch {
            Some(b) => repo.add_worktree(&wt.admin, &wt.path, b, commit)?,
            None => repo.add_detached_worktree(&wt.admin, &wt.path, commit)?,
        }
        Ok(wt)
    }

    /// Removes every worktree of the pool (at the end of a run).
    pub fn remove_pool(repo: &Repo, state: &StateDir) -> Result<()> {
        Worktree::remove_labelled(repo, state, |label| {
            label.starts_with(crate::names::SLOT_PREFIX)
        })
    }

    /// Removes the spec's worktrees whose label is `wanted`.
    pub fn remove_labelled(
        repo: &Repo,
        state: &StateDir,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let own = crate::names::worktree_admin_prefix(&state.name);
        for admin in repo.worktrees_with_prefix(&own)? {
            let label = admin.trim_start_matches(&own);
            if wanted(label) {
                Worktree::location(state, label).remove(repo)?;
            }
        }
        Ok(())
    }

    pub fn remove(&self, repo: &Repo) -> Result<()> {
        let _git = crate::git::exclusive();
        repo.forget_worktree(&self.admin, &self.path)
    }

    /// Copies `parallel.shared_files` from the user's checkout (files the
    /// measurement needs that git does not track, such as databases).
    pub fn copy_shared_files(&self, repo_root: &Path, spec: &Spec) -> Result<()> {
        for rel in &spec.parallel.shared_files {
            let from = repo_root.join(rel);
            let to = crate::tree_path::resolve(&self.path, rel).map_err(|e| GitError::Io {
                context: format!("copy parallel.shared_files entry \"{rel}\""),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
            })?;
            crate::tree_path::remove(&to).context(|| format!("replace {}", to.display()))?;
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .context(|| format!("create {}", parent.display()))?;
            }
            if from.is_dir() {
                copy_dir(&from, &to)?;
            } else {
                std::fs::copy(&from, &to).context(|| {
                    format!(
                        "copy parallel.shared_files entry \"{rel}\" from {}",
                        from.display()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The OPTIMIZE_* variables, the spec's port variable and `env.pass`
    /// for commands run in this tree. `slot` is the experiment's place in its batch.
    pub fn env(
        &self,
        repo_root: &Path,
        spec: &Spec,
        iteration: u64,
        slot: u32,
    ) -> Vec<(String, String)> {
        let mut env = vec![
            ("OPTIMIZE_SPEC_NAME".to_string(), spec.name.clone()),
            (
                "OPTIMIZE_REPO_ROOT".to_string(),
                repo_root.display().to_string(),
            ),
            (
                "OPTIMIZE_WORKTREE".to_string(),
                self.path.display().to_string(),
            ),
            ("OPTIMIZE_ITERATION".to_string(), iteration.to_string()),
            ("OPTIMIZE_SLOT".to_string(), slot.to_string()),
        ];
        // worktrees/<label> sits in the state dir; the marker lets a later
        // run recognise processes this run left behind.
        if let Some(state_dir) = self.path.parent().and_then(Path::parent) {
            env.push((
                "OPTIMIZE_STATE_DIR".to_string(),
                state_dir.display().to_string(),
            ));
        }
        if let (Some(var), Some(base)) = (&spec.parallel.port_env_var, spec.parallel.port_base) {
            env.push((var.clone(), (base + slot).to_string()));
        }
        env.extend(crate::child_env::passed(&spec.env.pass));
        env
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).context(|| format!("create {}", to.display()))?;
    for entry in std::fs::read_dir(from).context(|| format!("read {}", from.display()))? {
        let entry = entry.context(|| format!("read {}", from.display()))?;
        let target = to.join(entry.file_name());
        // The copy goes into the tree, never through a link the tree holds.
        crate::tree_path::remove(&target).context(|| format!("replace {}", target.display()))?;
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .context(|| format!("copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}
