//! Harness integrity: what a measurement runs against is exactly what the
//! run started with. The harness is `scope.immutable` plus the files named
//! in `measurement.command`. Before a measurement, every file under those
//! paths in the tree is made what the run's start commit holds (changed
//! files restored, files the commit lacks removed, ignored ones included);
//! after it, a harness file changed or removed means the measurement changed
//! its own harness, and the experiment is an `error`.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{ObjectType, Oid, TreeWalkMode, TreeWalkResult};

use crate::git::{Context, Repo, Result};
use crate::log::Fnv;

pub struct Harness {
    /// Relative to the tree's root, as the spec names them.
    paths: Vec<String>,
    /// Every file of the start commit under `paths`, with its blob.
    expected: BTreeMap<String, Oid>,
    start: Oid,
}

impl Harness {
    pub fn new(repo: &Repo, start: Oid, paths: Vec<String>) -> Result<Harness> {
        let commit = repo
            .repo
            .find_commit(start)
            .context(|| format!("find the start commit {start}"))?;
        let tree = commit.tree().context(|| "read the start tree".into())?;
        let mut expected = BTreeMap::new();
        for path in &paths {
            let Ok(entry) = tree.get_path(Path::new(path.trim_end_matches('/'))) else {
                continue;
            };
            match entry.kind() {
                Some(ObjectType::Blob) => {
                    expected.insert(path.trim_end_matches('/').to_string(), entry.id());
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
                            expected.insert(format!("{root}/{dir}{name}"), e.id());
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
        })
    }

    /// A hash of the harness as the start commit holds it (what every
    /// measurement runs against), for the log.
    pub fn hash(&self) -> String {
        let mut h = Fnv::default();
        for (path, oid) in &self.expected {
            h = h.extend(path.as_bytes()).extend(oid.as_bytes());
        }
        h.hex()
    }

    /// Makes the tree's harness the start commit's; returns what had to be
    /// restored or removed.
    pub fn restore(&self, repo: &Repo, tree: &Path) -> Result<Vec<String>> {
        let changed = self.differences(tree, true)?;
        for path in &changed {
            let file = tree.join(path);
            match self.expected.get(path) {
                Some(oid) => {
                    let blob = repo
                        .repo
                        .find_blob(*oid)
                        .context(|| format!("read {path} from {}", self.start))?;
                    if let Some(parent) = file.parent() {
                        std::fs::create_dir_all(parent)
                            .context(|| format!("create {}", parent.display()))?;
                    }
                    if file.is_dir() {
                        std::fs::remove_dir_all(&file)
                            .context(|| format!("remove {}", file.display()))?;
                    }
                    std::fs::write(&file, blob.content())
                        .context(|| format!("restore {}", file.display()))?;
                }
                None => {
                    std::fs::remove_file(&file)
                        .or_else(|_| std::fs::remove_dir_all(&file))
                        .context(|| format!("remove {}", file.display()))?;
                }
            }
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
            collect(tree, Path::new(path.trim_end_matches('/')), &mut found)?;
        }
        let mut out = Vec::new();
        for (path, oid) in &self.expected {
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
