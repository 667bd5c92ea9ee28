//! Harness integrity: what a measurement runs against is exactly what the
//! run started with. The harness is `scope.immutable` plus the files named
//! in `measurement.command`. Before a measurement, every file under those
//! paths in the tree is made what the run's start commit holds (changed
//! files restored, files the commit lacks removed, ignored ones included);
//! after it, a harness file changed or removed means the measurement changed
//! its own harness, and the experiment is an `error`.

use std::collections::BTreeMap;
use std::path::Path;

use std::os::unix::ffi::OsStrExt;

use git2::{ObjectType, Oid, TreeWalkMode, TreeWalkResult};

use crate::git::{Context, GitError, Repo, Result};
use crate::log::Fnv;

pub struct Harness {
    /// Relative to the tree's root, as the spec names them.
    paths: Vec<String>,
    /// Every file of the start commit under `paths`, with its blob and mode.
    expected: BTreeMap<String, (Oid, i32)>,
    start: Oid,
    repo_root: std::path::PathBuf,
}

impl Harness {
    /// The harness of `spec` (`scope.immutable` and the files its
    /// measurement command names) as `start` holds it.
    pub fn for_spec(repo: &Repo, start: Oid, spec: &crate::spec::Spec) -> Result<Harness> {
        let mut paths = spec.scope.immutable.clone();
        for file in crate::scope::harness_files(spec, &repo.root) {
            if !paths.contains(&file) {
                paths.push(file);
            }
        }
        Harness::new(repo, start, paths)
    }

    pub fn new(repo: &Repo, start: Oid, paths: Vec<String>) -> Result<Harness> {
        let commit = repo
            .repo
            .find_commit(start)
            .context(|| format!("find the start commit {start}"))?;
        let tree = commit.tree().context(|| "read the start tree".into())?;
        let mut expected = BTreeMap::new();
        // A harness path that is not inside the tree (a command's absolute
        // interpreter path) is not ours to check, restore or remove.
        let paths: Vec<String> = paths
            .into_iter()
            .filter(|p| crate::tree_path::is_relative_inside(p))
            .collect();
        for path in &paths {
            let Ok(entry) = tree.get_path(Path::new(path.trim_end_matches('/'))) else {
                continue;
            };
            match entry.kind() {
                Some(ObjectType::Blob) => {
                    expected.insert(
                        path.trim_end_matches('/').to_string(),
                        (entry.id(), entry.filemode()),
                    );
                }
                Some(ObjectType::Tree) => {
                    let sub = repo
                        .repo
                        .find_tree(entry.id())
                        .context(|| format!("read {path} in the start commit"))?;
                    let root = path.trim_end_matches('/');
                    sub.walk(TreeWalkMode::PreOrder, |dir, e| {
                        if e.kind() == Some(ObjectType::Blob) {
                            let name = e.name().unwrap_or_default();
                            expected.insert(format!("{root}/{dir}{name}"), (e.id(), e.filemode()));
                        }
                        TreeWalkResult::Ok
                    })
                    .context(|| format!("walk {path} in the start commit"))?;
                }
                _ => {}
            }
        }
        Ok(Harness {
            paths,
            expected,
            start,
            repo_root: repo.root.clone(),
        })
    }

    /// A hash of the harness as the start commit holds it (what every
    /// measurement runs against), for the log.
    pub fn hash(&self) -> String {
        let mut h = Fnv::default();
        for (path, (oid, _)) in &self.expected {
            h = h.extend(path.as_bytes()).extend(oid.as_bytes());
        }
        h.hex()
    }

    /// Makes the tree's harness the start commit's; returns what had to be
    /// restored or removed.
    pub fn restore(&self, tree: &Path) -> Result<Vec<String>> {
        let changed = self.differences(tree, true)?;
        if changed.is_empty() {
            return Ok(changed);
        }
        let repo = Repo::open(&self.repo_root)?;
        for path in &changed {
            let file = crate::tree_path::resolve(tree, path).map_err(|e| GitError::Io {
                context: format!("restore the harness file {path}"),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
            })?;
            // Never through a link or into a directory left in the way.
            crate::tree_path::remove(&file).context(|| format!("remove {}", file.display()))?;
            let Some((oid, mode)) = self.expected.get(path) else {
                continue;
            };
            let blob = repo
                .repo
                .find_blob(*oid)
                .context(|| format!("read {path} from {}", self.start))?;
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .context(|| format!("create {}", parent.display()))?;
            }
            if *mode == i32::from(git2::FileMode::Link) {
                let target = std::ffi::OsStr::from_bytes(blob.content());
                std::os::unix::fs::symlink(target, &file)
            } else {
                std::fs::write(&file, blob.content())
            }
            .context(|| format!("restore {}", file.display()))?;
        }
        Ok(changed)
    }

    /// The harness files a measurement changed or removed. Files it added
    /// (outputs, caches, a judge's items) do not count: the next restore
    /// removes them before anything else is measured.
    pub fn changed_by_measurement(&self, tree: &Path) -> Result<Vec<String>> {
        self.differences(tree, false)
    }

    /// Files under the harness paths that differ from the start commit:
    /// changed or missing, and extra ones when `extras`.
    fn differences(&self, tree: &Path, extras: bool) -> Result<Vec<String>> {
        let mut found: BTreeMap<String, Oid> = BTreeMap::new();
        for path in &self.paths {
            // Under a link that leads out of the tree there is nothing of ours.
            if crate::tree_path::resolve(tree, path).is_ok() {
                collect(tree, Path::new(path.trim_end_matches('/')), &mut found)?;
            }
        }
        let mut out = Vec::new();
        for (path, (oid, _)) in &self.expected {
            if found.get(path) != Some(oid) {
                out.push(path.clone());
            }
        }
        for path in found.keys() {
            if extras && !self.expected.contains_key(path) {
                out.push(path.clone());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Every file under `rel` in `tree`, with its blob id.
fn collect(tree: &Path, rel: &Path, found: &mut BTreeMap<String, Oid>) -> Result<()> {
    let abs = tree.join(rel);
    let Ok(meta) = std::fs::symlink_metadata(&abs) else {
        return Ok(());
    };
    if meta.is_dir() {
        for entry in std::fs::read_dir(&abs).context(|| format!("read {}", abs.display()))? {
            let entry = entry.context(|| format!("read {}", abs.display()))?;
            collect(tree, &rel.join(entry.file_name()), found)?;
        }
    } else {
        let oid = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&abs).context(|| format!("read {}", abs.display()))?;
            Oid::hash_object(ObjectType::Blob, target.as_os_str().as_encoded_bytes())
        } else {
            Oid::hash_file(ObjectType::Blob, &abs)
        }
        .context(|| format!("hash {}", abs.display()))?;
        found.insert(rel.display().to_string(), oid);
    }
    Ok(())
}
