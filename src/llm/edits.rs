//! The model's edit format: search/replace blocks, each preceded by the file's
//! path on its own line (an empty SEARCH creates the file). Every block is
//! checked before anything is written: the path stays inside the worktree
//! (no `..`, no absolute path, no symlink leading out), inside scope.mutable
//! and outside the immutable paths, and each SEARCH matches exactly once.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::implement::covers;
use crate::spec::Spec;

#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub path: String,
    pub search: String,
    pub replace: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EditError(pub String);

const SEARCH: &str = "<<<<<<< SEARCH";
const DIVIDER: &str = "=======";
const REPLACE: &str = ">>>>>>> REPLACE";

/// The blocks of a reply, in order.
pub fn parse_edits(reply: &str) -> Result<Vec<Edit>, EditError> {
    let lines: Vec<&str> = reply.lines().collect();
    let mut edits = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != SEARCH {
            i += 1;
            continue;
        }
        let path = (0..i)
            .rev()
            .map(|j| lines[j].trim())
            .find(|l| !l.is_empty() && !l.starts_with("```"))
            .map(|l| l.trim_matches('`').to_string())
            .ok_or_else(|| {
                EditError(format!(
                    "the block at line {} has no file path before it",
                    i + 1
                ))
            })?;
        let divider = (i + 1..lines.len())
            .find(|&j| lines[j].trim_end() == DIVIDER)
            .ok_or_else(|| EditError(format!("the block for {path} has no {DIVIDER} line")))?;
        let end = (divider + 1..lines.len())
            .find(|&j| lines[j].trim_end() == REPLACE)
            .ok_or_else(|| EditError(format!("the block for {path} has no {REPLACE} line")))?;
        let join = |from: usize, to: usize| {
            let mut s = lines[from..to].join("\n");
            if to > from {
                s.push('\n');
            }
            s
        };
        edits.push(Edit {
            path,
            search: join(i + 1, divider),
            replace: join(divider + 1, end),
        });
        i = end + 1;
    }
    if edits.is_empty() {
        return Err(EditError(format!(
            "the reply holds no edit blocks; each edit is the file's path on its own line, then {SEARCH}, the old lines, {DIVIDER}, the new lines, {REPLACE}"
        )));
    }
    Ok(edits)
}

/// Where `rel` lands inside `tree`, refusing anything that would leave it.
fn resolve(tree: &Path, rel: &str) -> Result<PathBuf, EditError> {
    let p = Path::new(rel);
    if p.is_absolute() {
        return Err(EditError(format!(
            "{rel}: absolute paths are not allowed; give a path relative to the repository root"
        )));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(EditError(format!("{rel}: \"..\" is not allowed in paths")));
    }
    let root = tree
        .canonicalize()
        .map_err(|e| EditError(format!("{}: {e}", tree.display())))?;
    // The deepest existing ancestor (or the file itself) must resolve inside the tree.
    let mut probe = tree.join(p);
    loop {
        if probe.symlink_metadata().is_ok() {
            let real = probe
                .canonicalize()
                .map_err(|_| EditError(format!("{rel}: leads through a broken symlink")))?;
            if !real.starts_with(&root) {
                return Err(EditError(format!(
                    "{rel}: leads outside the worktree through a symlink"
                )));
            }
            break;
        }
        if !probe.pop() {
            break;
        }
    }
    Ok(tree.join(p))
}

/// Checks every edit against the tree and the scope, then writes them all;
/// on any problem nothing is written. Returns the files changed.
pub fn apply_edits(
    tree: &Path,
    edits: &[Edit],
    spec: &Spec,
    always_immutable: &[String],
) -> Result<Vec<String>, EditError> {
    let mut contents: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    for e in edits {
        let rel = e.path.trim_start_matches("./").to_string();
        let path = resolve(tree, &rel)?;
        if let Some(entry) = spec
            .scope
            .immutable
            .iter()
            .chain(always_immutable)
            .find(|x| covers(x, &rel))
        {
            return Err(EditError(format!(
                "{rel}: inside the immutable path \"{entry}\"; it must not change"
            )));
        }
        if !spec.scope.mutable.iter().any(|m| covers(m, &rel)) {
            return Err(EditError(format!(
                "{rel}: outside scope.mutable ({})",
                spec.scope.mutable.join(", ")
            )));
        }
        let current = match contents.get(&rel) {
            Some((_, text)) => Some(text.clone()),
            None => std::fs::read_to_string(&path).ok(),
        };
        let updated = match (current, e.search.is_empty()) {
            (None, true) => e.replace.clone(),
            (Some(_), true) if !contents.contains_key(&rel) => {
                return Err(EditError(format!(
                    "{rel}: exists already; an empty SEARCH only creates new files"
                )));
            }
            (Some(text), true) => text + &e.replace,
            (None, false) => return Err(EditError(format!("{rel}: no such file"))),
            (Some(text), false) => match text.matches(e.search.as_str()).count() {
                1 => text.replacen(e.search.as_str(), &e.replace, 1),
                0 => {
                    return Err(EditError(format!(
                        "{rel}: the SEARCH text was not found; copy the lines exactly as they are in the file"
                    )));
                }
                n => {
                    return Err(EditError(format!(
                        "{rel}: the SEARCH text matches {n} places; include more lines so it matches exactly one"
                    )));
                }
            },
        };
        contents.insert(rel, (path, updated));
    }
    for (rel, (path, text)) in &contents {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| EditError(format!("{rel}: {e}")))?;
        }
        std::fs::write(path, text).map_err(|e| EditError(format!("{rel}: {e}")))?;
    }
    Ok(contents.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_with_paths_and_fences() {
        let reply = "Here:\n```\nsrc/a.txt\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n```\nsrc/b.txt\n<<<<<<< SEARCH\n=======\ncreated\n>>>>>>> REPLACE\n";
        let e = parse_edits(reply).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[0],
            Edit {
                path: "src/a.txt".into(),
                search: "old\n".into(),
                replace: "new\n".into()
            }
        );
        assert_eq!(e[1].search, "");
    }

    #[test]
    fn no_blocks_is_an_error() {
        assert!(parse_edits("I would change the cache").is_err());
    }
}
