//! The scope of an experiment: which files it may change (`scope.mutable`),
//! which never (`scope.immutable`, the spec, the hypotheses file, the
//! measurement harness, `.optimize/`), and the violations of a change.

use std::path::Path;

use crate::spec::Spec;

fn normalize(path: &str) -> String {
    path.trim()
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_string()
}

/// Whether `file` is `entry` or inside the directory `entry`.
pub fn covers(entry: &str, file: &str) -> bool {
    let entry = normalize(entry);
    entry.is_empty() || entry == "." || file == entry || file.starts_with(&format!("{entry}/"))
}

/// Files a run must never let an experiment change, beyond scope.immutable:
/// the state dir, the spec and hypothesis files, and the measurement harness
/// (files named in measurement.command that exist in the tree).
pub fn always_immutable(
    spec: &Spec,
    repo_root: &Path,
    tree: &Path,
    spec_file: &Path,
    extra_files: &[&Path],
) -> Vec<String> {
    let mut out = vec![".optimize".to_string()];
    for file in std::iter::once(spec_file).chain(extra_files.iter().copied()) {
        let abs = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        if let Ok(rel) = abs.strip_prefix(repo_root) {
            out.push(rel.display().to_string());
        }
    }
    for rel in harness_files(spec, tree) {
        if !out.contains(&rel) {
            out.push(rel);
        }
    }
    out
}

/// Files named in `measurement.command` that exist in `tree`, relative to
/// its root.
pub fn harness_files(spec: &Spec, tree: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let wd = Path::new(&spec.measurement.working_directory);
    for token in spec.measurement.command.split_whitespace() {
        let token = token.trim_matches(|c| c == '"' || c == '\'');
        if token.starts_with('-') || token.contains('=') {
            continue;
        }
        let rel = wd.join(token);
        // An interpreter or script outside the tree (`/home/me/venv/bin/python`,
        // `../tools/run.sh`) is the user's, never part of the harness we restore.
        let Ok(abs) = crate::tree_path::resolve(tree, &rel.to_string_lossy()) else {
            continue;
        };
        if abs.is_file() {
            let rel = normalize(&rel.display().to_string().replace("/./", "/"));
            if !out.contains(&rel) {
                out.push(rel);
            }
        }
    }
    out
}

/// Every changed file outside scope.mutable or inside an immutable path.
pub fn scope_violations(files: &[String], spec: &Spec, always: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for f in files {
        if let Some(entry) = spec
            .scope
            .immutable
            .iter()
            .chain(always)
            .find(|e| covers(e, f))
        {
            let why = if spec.scope.immutable.contains(entry) {
                format!("inside scope.immutable entry \"{entry}\"")
            } else {
                "always immutable (the spec, the hypotheses file, the measurement harness or .optimize/)".to_string()
            };
            problems.push(format!("{f} ({why})"));
        } else if !spec.scope.mutable.iter().any(|e| covers(e, f)) {
            problems.push(format!("{f} (outside scope.mutable)"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn directory_and_file_entries() {
        assert!(covers("src/", "src/a.rs"));
        assert!(covers("src", "src/a/b.rs"));
        assert!(!covers("src", "srcx/a.rs"));
        assert!(covers("./eval.sh", "eval.sh"));
        assert!(!covers("eval.sh", "eval.sh.bak"));
    }
}
