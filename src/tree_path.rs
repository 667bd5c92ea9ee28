//! Paths inside a tree. The one rule: nothing outside `.optimize/`, the
//! tool's branches and its worktrees is ever written, moved or deleted. Every
//! path the spec or a command names (harness files, scope entries, shared
//! files) reaches the file system through [`resolve`], which maps it to a path
//! inside the tree or refuses it: absolute paths, `..`, and symlinks among its
//! parents that lead out of the tree.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutsideTree {
    #[error("\"{0}\" is an absolute path; only paths inside the tree are ours to touch")]
    Absolute(String),
    #[error("\"{0}\" leaves the tree through \"..\"")]
    ParentDir(String),
    #[error("\"{path}\" leads out of the tree through the symlink \"{link}\"")]
    Symlink { path: String, link: String },
    #[error("\"{0}\" is empty")]
    Empty(String),
}

/// `rel` joined onto `root`, when it names something inside `root`.
///
/// The last component itself is not followed: the path returned may be a
/// symlink, which callers replace or remove as a link (never through it).
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, OutsideTree> {
    let parts = normal_parts(rel)?;
    let mut path = root.to_path_buf();
    let last = parts.len().saturating_sub(1);
    let mut canonical_root: Option<PathBuf> = None;
    // Once a part does not exist, nothing under it can be a link.
    let mut exists = true;
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        if i == last || !exists {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            exists = false;
            continue;
        };
        if meta.file_type().is_symlink() {
            let root = canonical_root
                .get_or_insert_with(|| root.canonicalize().unwrap_or_else(|_| root.to_path_buf()));
            let inside = path
                .canonicalize()
                .is_ok_and(|target| target.starts_with(&*root));
            if !inside {
                return Err(OutsideTree::Symlink {
                    path: rel.to_string(),
                    link: parts[..=i].join("/"),
                });
            }
        }
    }
    Ok(path)
}

/// Whether `rel` is a relative path that stays inside whatever it is joined
/// onto (no absolute path, no `..`), without looking at the file system.
pub fn is_relative_inside(rel: &str) -> bool {
    normal_parts(rel).is_ok()
}

fn normal_parts(rel: &str) -> Result<Vec<String>, OutsideTree> {
    let mut parts = Vec::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err(OutsideTree::ParentDir(rel.to_string())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(OutsideTree::Absolute(rel.to_string()));
            }
        }
    }
    if parts.is_empty() {
        return Err(OutsideTree::Empty(rel.to_string()));
    }
    Ok(parts)
}

/// Removes `path` itself (a file, a symlink, a directory with its content),
/// never what a symlink points to.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_that_leave_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("inner")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("inner"), root.join("loop")).unwrap();

        assert_eq!(resolve(root, "a/b.txt").unwrap(), root.join("a/b.txt"));
        assert_eq!(resolve(root, "./a").unwrap(), root.join("a"));
        assert!(matches!(
            resolve(root, "/etc/passwd"),
            Err(OutsideTree::Absolute(_))
        ));
        assert!(matches!(
            resolve(root, "a/../../x"),
            Err(OutsideTree::ParentDir(_))
        ));
        assert!(matches!(resolve(root, "."), Err(OutsideTree::Empty(_))));
        let err = resolve(root, "out/file.py").unwrap_err();
        assert_eq!(
            err,
            OutsideTree::Symlink {
                path: "out/file.py".into(),
                link: "out".into()
            }
        );
        // A link that stays inside is followed; the last part is never.
        assert_eq!(resolve(root, "loop/x").unwrap(), root.join("loop/x"));
        assert_eq!(resolve(root, "out").unwrap(), root.join("out"));
    }

    #[test]
    fn remove_takes_the_link_not_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        remove(&link).unwrap();
        assert!(!link.exists());
        assert!(outside.path().join("keep").exists());
        remove(&dir.path().join("missing")).unwrap();
    }
}
