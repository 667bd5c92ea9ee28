//! The bundled demo project (fixtures/demo), embedded in the binary.

use std::path::{Path, PathBuf};

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

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{} is not empty; give a new or empty directory", path.display())]
    NotEmpty { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the demo a git repository: {0}")]
    Git(#[from] git2::Error),
}

/// Writes the demo project into `dir` (which must be empty or absent) and
/// makes it a git repository with one commit.
pub fn create(dir: &Path) -> Result<(), DemoError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Write { path, source }
    };
    if dir.exists() && std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(DemoError::NotEmpty {
            path: dir.to_path_buf(),
        });
    }
    for (rel, content) in FILES {
        let path = dir.join(rel);
        let parent = path.parent().expect("files have a parent");
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        std::fs::write(&path, content).map_err(io(&path))?;
    }
    let git = DemoError::Git;
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
