//! The model's edit format: search/replace blocks, each preceded by the file's
//! path on its own line (an empty SEARCH creates the file). Every block is
//! checked before anything is written: the path stays inside the worktree
//! (no `..`, no absolute path, no symlink leading out), inside scope.mutable
//! and outside the immutable paths, and each SEARCH matches exactly one
//! place (exactly, or failing that up to whitespace: see `tolerance`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::scope::covers;
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
/// The path a line before a block names, without the Markdown a model wraps
/// it in: `` `src/a.rs` ``, `**src/a.rs**`, `*src/a.rs*`, `__src/a.rs__`, a
/// trailing colon.
fn path_of_line(line: &str) -> String {
    let mut p = line.trim();
    loop {
        let before = p;
        p = p.trim_end_matches(':').trim();
        for wrap in ["**", "__", "`", "*", "_"] {
            if let Some(inner) = p.strip_prefix(wrap).and_then(|r| r.strip_suffix(wrap)) {
                p = inner.trim();
            }
        }
        if p == before {
            return p.to_string();
        }
    }
}

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
            .map(path_of_line)
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

/// What applying a reply's edits did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Applied {
    pub files: Vec<String>,
    /// SEARCH texts that matched only up to whitespace, said so.
    pub notes: Vec<String>,
}

/// Checks every edit against the tree and the scope, then writes them all;
/// on any problem nothing is written.
pub fn apply_edits(
    tree: &Path,
    edits: &[Edit],
    spec: &Spec,
    always_immutable: &[String],
) -> Result<Applied, EditError> {
    apply_edits_with(tree, edits, spec, always_immutable, true)
}

/// [`apply_edits`], with SEARCH texts matched exactly only when `tolerant`
/// is false (for measuring what the tolerance buys).
pub fn apply_edits_with(
    tree: &Path,
    edits: &[Edit],
    spec: &Spec,
    always_immutable: &[String],
    tolerant: bool,
) -> Result<Applied, EditError> {
    let mut notes = Vec::new();
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
            (Some(text), false) => replaced(&rel, text, e, tolerant, &mut notes)?,
        };
        contents.insert(rel, (path, updated));
    }
    for (rel, (path, text)) in &contents {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| EditError(format!("{rel}: {e}")))?;
        }
        std::fs::write(path, text).map_err(|e| EditError(format!("{rel}: {e}")))?;
    }
    Ok(Applied {
        files: contents.into_keys().collect(),
        notes,
    })
}

/// `text` with the edit's SEARCH replaced (up to whitespace when
/// `tolerant`), or why not: with the closest region to copy from.
fn replaced(
    rel: &str,
    text: String,
    e: &Edit,
    tolerant: bool,
    notes: &mut Vec<String>,
) -> Result<String, EditError> {
    match super::tolerance::locate(&text, &e.search, &e.replace, tolerant) {
        super::tolerance::Found::At {
            range,
            replace,
            note,
        } => {
            notes.extend(note.map(|n| format!("{rel}: {n}")));
            let mut text = text;
            text.replace_range(range, &replace);
            Ok(text)
        }
        super::tolerance::Found::Missing(closest) => Err(EditError(match closest {
            Some((line, region)) => format!(
                "{rel}: the SEARCH text was not found; the closest region is at line {line}:\n{region}\ncopy the lines exactly as they are in the file"
            ),
            None => format!(
                "{rel}: the SEARCH text was not found; copy the lines exactly as they are in the file"
            ),
        })),
        super::tolerance::Found::Ambiguous(n) => Err(EditError(format!(
            "{rel}: the SEARCH text matches {n} places; include more lines so it matches exactly one"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_wrapped_in_markdown_are_read_as_the_path() {
        for line in [
            "**src/params.py**",
            "`src/params.py`",
            "*src/params.py*",
            "__src/params.py__",
            "**`src/params.py`**:",
            "src/params.py:",
        ] {
            let reply = format!("{line}\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n");
            assert_eq!(
                parse_edits(&reply).unwrap()[0].path,
                "src/params.py",
                "{line}"
            );
        }
        // A path with underscores inside stays whole.
        assert_eq!(super::path_of_line("src/my_mod_x.py"), "src/my_mod_x.py");
    }

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
