//! The shape of `src/` as ARCHITECTURE.md draws it, checked on every test
//! run: no file over 500 lines, no function over 80, and no import cycle
//! between the top-level modules (a lower layer never imports an upper one).
//!
//! Counting: a file's lines as `wc -l` counts them; a function from the line
//! of its `fn` to the line of its closing brace, test functions included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

fn sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from(SRC)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn rel(path: &Path) -> String {
    path.strip_prefix(SRC).unwrap().display().to_string()
}

#[test]
fn no_file_is_over_500_lines() {
    let long: Vec<String> = sources()
        .iter()
        .map(|p| (rel(p), std::fs::read_to_string(p).unwrap().lines().count()))
        .filter(|(_, n)| *n > 500)
        .map(|(p, n)| format!("{p}: {n}"))
        .collect();
    assert!(long.is_empty(), "files over 500 lines: {long:?}");
}

/// `(file, function, first line, lines)` of every function with a body.
fn functions() -> Vec<(String, String, usize, usize)> {
    let mut out = Vec::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(name) = fn_name(line) else { continue };
            let (mut depth, mut started) = (0i64, false);
            for (j, l) in lines.iter().enumerate().skip(i) {
                for c in code_of(l).chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            started = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if !started && code_of(l).trim_end().ends_with(';') {
                    break;
                }
                if started && depth <= 0 {
                    out.push((rel(&path), name.clone(), i + 1, j - i + 1));
                    break;
                }
            }
        }
    }
    out
}

/// The name of the function a line declares, if it declares one.
fn fn_name(line: &str) -> Option<String> {
    let code = code_of(line);
    let mut words = code.split_whitespace().peekable();
    while let Some(w) = words.peek() {
        if w.starts_with("pub") || matches!(*w, "async" | "const" | "unsafe" | "extern" | "\"C\"") {
            words.next();
        } else {
            break;
        }
    }
    let rest = words.collect::<Vec<_>>().join(" ");
    let name = rest.strip_prefix("fn ")?;
    let end = name.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(name[..end].to_string())
}

/// A line without its string literals and comment (braces in them do not count).
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '\'' if chars.peek().is_some_and(|n| *n == '{' || *n == '}') => {
                chars.next();
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn no_function_is_over_80_lines() {
    let long: Vec<String> = functions()
        .into_iter()
        .filter(|(.., n)| *n > 80)
        .map(|(f, name, at, n)| format!("{f}:{at} {name}: {n}"))
        .collect();
    assert!(long.is_empty(), "functions over 80 lines: {long:#?}");
}

/// Which top-level modules each top-level module uses (`crate::x`), outside
/// its tests.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in sources() {
        let r = rel(&path);
        let top = r
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if matches!(top.as_str(), "lib" | "main") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .map(|l| code_of(l) + "\n")
            .collect();
        let uses = graph.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let used = &rest[..end];
            if !used.is_empty() && used != top {
                uses.insert(used.to_string());
            }
        }
    }
    graph
}

#[test]
fn no_import_cycle_between_modules() {
    let graph = imports();
    // From each module, a depth-first walk of its imports.
    let mut cycles = Vec::new();
    let names: Vec<&String> = graph.keys().collect();
    for start in &names {
        // A path back to `start` through its imports is a cycle.
        let mut stack = vec![(start.to_string(), vec![start.to_string()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if next == *start {
                    cycles.push(format!("{} -> {next}", path.join(" -> ")));
                } else if graph.contains_key(next) && seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn the_counters_count() {
    assert_eq!(
        fn_name("    pub(super) async fn run(x: u8) {"),
        Some("run".into())
    );
    assert_eq!(fn_name("fn main() {}"), Some("main".into()));
    assert_eq!(fn_name("let f = |x| x; // fn not"), None);
    assert_eq!(code_of(r#"let s = "{"; // }"#), "let s = ; ");
}
