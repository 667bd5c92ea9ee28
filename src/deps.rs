//! New dependencies added by a change, read from the manifests of the common
//! ecosystems: Cargo.toml, package.json, requirements*.txt, pyproject.toml,
//! go.mod. Line-based on purpose: a manifest half-edited by an experiment
//! must still be read, and the names are all we need.

use std::collections::BTreeSet;

/// Whether `path` is a manifest we read, and which kind.
pub fn manifest_kind(path: &str) -> Option<Manifest> {
    let file = path.rsplit('/').next().unwrap_or(path);
    match file {
        "Cargo.toml" => Some(Manifest::Cargo),
        "package.json" => Some(Manifest::Npm),
        "pyproject.toml" => Some(Manifest::Pyproject),
        "go.mod" => Some(Manifest::GoMod),
        f if f.starts_with("requirements") && f.ends_with(".txt") => Some(Manifest::Requirements),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manifest {
    Cargo,
    Npm,
    Requirements,
    Pyproject,
    GoMod,
}

/// Dependency names declared in a manifest's text.
pub fn declared(kind: Manifest, text: &str) -> BTreeSet<String> {
    match kind {
        Manifest::Cargo => cargo(text),
        Manifest::Npm => npm(text),
        Manifest::Requirements => text.lines().filter_map(requirement_name).collect(),
        Manifest::Pyproject => pyproject(text),
        Manifest::GoMod => go_mod(text),
    }
}

/// Names in `after` that are not in `before`.
pub fn added(kind: Manifest, before: Option<&str>, after: Option<&str>) -> Vec<String> {
    let old = before.map(|t| declared(kind, t)).unwrap_or_default();
    let new = after.map(|t| declared(kind, t)).unwrap_or_default();
    new.difference(&old).cloned().collect()
}

/// Normalized for comparison with `dependencies.approved`.
pub fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

fn strip_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or("").trim()
}

fn section(line: &str) -> Option<&str> {
    let l = line.trim();
    (l.starts_with('[') && l.ends_with(']'))
        .then(|| l.trim_matches(|c| c == '[' || c == ']').trim())
}

fn cargo(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = strip_comment(line);
        if let Some(sec) = section(line) {
            let last = sec.rsplit('.').next().unwrap_or(sec);
            let is_table = ["dependencies", "dev-dependencies", "build-dependencies"]
                .iter()
                .any(|d| sec.contains(&format!("{d}.")) && !sec.ends_with(d));
            if is_table {
                // [dependencies.serde]
                out.insert(normalize(last));
                in_deps = false;
            } else {
                in_deps =
                    ["dependencies", "dev-dependencies", "build-dependencies"].contains(&last);
            }
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            let name = name.trim().trim_matches('"');
            if !name.is_empty() {
                out.insert(normalize(name));
            }
        }
    }
    out
}

fn npm(text: &str) -> BTreeSet<String> {
    let Ok(serde_json::Value::Object(root)) = serde_json::from_str::<serde_json::Value>(text)
    else {
        return BTreeSet::new();
    };
    [
        "dependencies",
        "devDependencies",
        "peerDependencies",
        "optionalDependencies",
    ]
    .iter()
    .filter_map(|k| root.get(*k).and_then(|v| v.as_object()))
    .flat_map(|m| m.keys().map(|k| k.to_ascii_lowercase()))
    .collect()
}

fn requirement_name(line: &str) -> Option<String> {
    let line = strip_comment(line);
    if line.is_empty() || line.starts_with('-') {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(line.len());
    let name = &line[..end];
    (!name.is_empty()).then(|| normalize(name))
}

fn pyproject(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut current = "";
    let mut in_array = false;
    for raw in text.lines() {
        let line = strip_comment(raw);
        if let Some(sec) = section(line) {
            current = sec;
            in_array = false;
            continue;
        }
        let poetry = current.starts_with("tool.poetry") && current.ends_with("dependencies");
        if poetry {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim().trim_matches('"');
                if !name.is_empty() && name != "python" {
                    out.insert(normalize(name));
                }
            }
            continue;
        }
        let project = current == "project"
            || current == "project.optional-dependencies"
            || current == "dependency-groups";
        if !project {
            continue;
        }
        let mut rest = line;
        if !in_array {
            match line.split_once('=') {
                Some((key, value)) if value.trim_start().starts_with('[') => {
                    let key = key.trim();
                    if current == "project" && key != "dependencies" {
                        continue;
                    }
                    in_array = true;
                    rest = value;
                }
                _ => continue,
            }
        }
        for quoted in rest
            .split('"')
            .skip(1)
            .step_by(2)
            .chain(rest.split('\'').skip(1).step_by(2))
        {
            if let Some(name) = requirement_name(quoted) {
                out.insert(name);
            }
        }
        if rest.contains(']') {
            in_array = false;
        }
    }
    out
}

fn go_mod(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_block = false;
    for raw in text.lines() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if in_block {
            if line.starts_with(')') {
                in_block = false;
            } else if let Some(module) = line.split_whitespace().next() {
                out.insert(module.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("require") {
            let rest = rest.trim();
            if rest.starts_with('(') {
                in_block = true;
            } else if let Some(module) = rest.split_whitespace().next() {
                out.insert(module.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_sections_and_tables() {
        let before = "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\n";
        let after = "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\nrayon = { version = \"1\" }\n[dev-dependencies]\nproptest = \"1\"\n[dependencies.tokio]\nversion = \"1\"\n[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n";
        assert_eq!(
            added(Manifest::Cargo, Some(before), Some(after)),
            ["libc", "proptest", "rayon", "tokio"]
        );
    }

    #[test]
    fn package_json() {
        let before = r#"{"dependencies": {"react": "18"}}"#;
        let after = r#"{"dependencies": {"react": "18", "lodash": "4"}, "devDependencies": {"vitest": "1"}}"#;
        assert_eq!(
            added(Manifest::Npm, Some(before), Some(after)),
            ["lodash", "vitest"]
        );
    }

    #[test]
    fn requirements() {
        let after = "numpy==1.26\n# comment\nscikit_learn>=1.0 ; python_version > '3.8'\n-r base.txt\nrequests[socks]\n";
        assert_eq!(
            added(Manifest::Requirements, Some("numpy\n"), Some(after)),
            ["requests", "scikit-learn"]
        );
        assert_eq!(
            manifest_kind("deps/requirements-dev.txt"),
            Some(Manifest::Requirements)
        );
    }

    #[test]
    fn pyproject_pep621_and_poetry() {
        let before = "[project]\nname = \"x\"\ndependencies = [\n  \"numpy>=1\",\n]\n";
        let after = "[project]\nname = \"x\"\ndependencies = [\n  \"numpy>=1\",\n  \"polars\",\n]\n[project.optional-dependencies]\nfast = [\"orjson\"]\n[tool.poetry.dependencies]\npython = \"^3.11\"\nhttpx = \"*\"\n";
        assert_eq!(
            added(Manifest::Pyproject, Some(before), Some(after)),
            ["httpx", "orjson", "polars"]
        );
    }

    #[test]
    fn go_mod_requires() {
        let before = "module m\n\ngo 1.22\n\nrequire github.com/a/b v1.0.0\n";
        let after = "module m\n\ngo 1.22\n\nrequire github.com/a/b v1.0.0\nrequire (\n\tgolang.org/x/sync v0.7.0 // indirect\n)\n";
        assert_eq!(
            added(Manifest::GoMod, Some(before), Some(after)),
            ["golang.org/x/sync"]
        );
    }

    #[test]
    fn new_manifest_counts_everything() {
        assert_eq!(
            added(Manifest::Requirements, None, Some("flask\n")),
            ["flask"]
        );
    }
}
