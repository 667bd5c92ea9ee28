//! What an implementer leaves in the worktree outside its scope: new files
//! neither in `scope.mutable` nor in an immutable path (an agent's chat
//! history, its caches). They are never committed: each is moved to the
//! experiment's `agent-files/` and named in its entry. New files inside the
//! scope are the change; new files inside immutable paths stay, to be
//! refused by the scope check as before.

use std::path::Path;

use crate::git::GitError;
use crate::scope::covers;
use crate::spec::Spec;

/// Moves the `untracked` files of `tree` that are outside the scope into
/// `out_dir/agent-files/`; returns their paths, relative to the tree.
pub fn set_aside(
    untracked: &[String],
    tree: &Path,
    out_dir: &Path,
    spec: &Spec,
    always_immutable: &[String],
) -> Result<Vec<String>, GitError> {
    let kept = out_dir.join("agent-files");
    let mut moved = Vec::new();
    for rel in untracked.iter().cloned() {
        let in_scope = spec.scope.mutable.iter().any(|e| covers(e, &rel));
        let immutable = spec
            .scope
            .immutable
            .iter()
            .chain(always_immutable)
            .any(|e| covers(e, &rel));
        let shared = spec.parallel.shared_files.iter().any(|e| covers(e, &rel));
        if in_scope || immutable || shared {
            continue;
        }
        let Ok(from) = crate::tree_path::resolve(tree, &rel) else {
            continue;
        };
        let to = kept.join(&rel);
        let io = |e: std::io::Error| GitError::Io {
            context: format!("set aside {rel}"),
            source: e,
        };
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        if std::fs::rename(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(io)?;
            crate::tree_path::remove(&from).map_err(io)?;
        }
        moved.push(rel);
    }
    remove_empty_dirs(tree, &moved);
    Ok(moved)
}

/// Directories the moved files leave empty (`.aider.tags.cache.v4/`).
fn remove_empty_dirs(tree: &Path, moved: &[String]) {
    for rel in moved {
        let mut dir = Path::new(rel).parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            if std::fs::remove_dir(tree.join(d)).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
}
