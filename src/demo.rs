//! The bundled demo project (fixtures/demo), embedded in the binary.

use std::path::Path;

use git2::{IndexAddOption, Repository, Signature};

macro_rules! demo_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../fixtures/demo/", $path)))),*]
    };
}

/// Every file of the demo project, by path.
pub const FILES: &[(&str, &str)] = demo_files![
    "README.md",
    "optimize.yaml",
    "hypotheses.yaml",
    "measure.sh",
    "requirements.txt",
    "src/alloc.conf",
    "src/buffer.conf",
    "src/cache.conf",
    "src/checks.conf",
    "src/compress.conf",
    "src/prefetch.conf",
    "src/search.conf",
    "src/unroll.conf",
];

pub const SPEC: &str = "optimize.yaml";

/// Writes the demo project into `dir` (which must be empty or absent) and
/// makes it a git repository with one commit.
pub fn create(dir: &Path) -> Result<(), String> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} is not empty; give a new or empty directory",
            dir.display()
        ));
    }
    for (rel, content) in FILES {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("files have a parent"))
            .map_err(|e| e.to_string())?;
        std::fs::write(&path, content).map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    let git = |e: git2::Error| format!("git: {e}");
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = Repository::init_opts(dir, &opts).map_err(git)?;
    let mut index = repo.index().map_err(git)?;
    index
        .add_all(["*"], IndexAddOption::DEFAULT, None)
        .map_err(git)?;
    index.write().map_err(git)?;
    let tree = repo
        .find_tree(index.write_tree().map_err(git)?)
        .map_err(git)?;
    let sig = repo
        .signature()
        .or_else(|_| Signature::now("optimize demo", "demo@optimize.localhost"))
        .map_err(git)?;
    repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "The demo engine and its benchmark",
        &tree,
        &[],
    )
    .map_err(git)?;
    Ok(())
}
