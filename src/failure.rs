//! What a failed command's output says in one line: the decisive line (the
//! last line of a traceback, else the last line that looks like an error,
//! whole), and, when that line is a permission error on a path the sandbox
//! kept read-only, the `sandbox.writable` entry that would allow it. The
//! same line, with its stage, is the cause that tells a broken environment
//! (the same failure experiment after experiment) from bad ideas.

use std::path::{Path, PathBuf};

/// The one line of `output` that says why it failed, if any line does.
pub fn decisive_line(output: &str) -> Option<String> {
    let clean = strip_ansi(output);
    let lines: Vec<&str> = clean
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if let Some(start) = lines
        .iter()
        .rposition(|l| l.starts_with("Traceback (most recent call last)"))
    {
        // The exception line is the last one that is not indented.
        if let Some(line) = lines[start + 1..]
            .iter()
            .rev()
            .find(|l| !l.starts_with(' '))
        {
            return Some(line.trim().to_string());
        }
    }
    lines
        .iter()
        .rev()
        .find(|l| looks_like_an_error(l))
        .or(lines.last())
        .map(|l| l.trim().to_string())
}

fn looks_like_an_error(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    [
        "error",
        "fatal",
        "denied",
        "failed",
        "exception",
        "panicked",
        "not permitted",
        "read-only file system",
        "no such file",
        "eacces",
        "eperm",
        "enoent",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// For a permission error on a path no sandbox rule lets the command write:
/// what to say, naming the `sandbox.writable` entry that would allow it.
pub fn sandbox_hint(line: &str, writable: &[PathBuf]) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    let refused = [
        "permission denied",
        "eacces",
        "eperm",
        "not permitted",
        "read-only file system",
    ]
    .iter()
    .any(|w| lower.contains(w));
    if !refused {
        return None;
    }
    let path = quoted_path(line)?;
    if writable.iter().any(|w| path.starts_with(w)) {
        return None;
    }
    let entry = writable_entry(&path);
    Some(format!(
        "the sandbox refused the write to {}; add \"{entry}\" to sandbox.writable to allow it",
        path.display()
    ))
}

/// The first absolute path in the line, quoted or after a colon.
fn quoted_path(line: &str) -> Option<PathBuf> {
    for quote in ['\'', '"', '`'] {
        let mut parts = line.split(quote);
        parts.next();
        while let Some(inside) = parts.next() {
            if inside.starts_with('/') {
                return Some(PathBuf::from(inside));
            }
            parts.next();
        }
    }
    line.split_whitespace()
        .map(|w| w.trim_matches(|c: char| c == ',' || c == ':' || c == '(' || c == ')'))
        .find(|w| w.starts_with('/') && w.len() > 1)
        .map(PathBuf::from)
}

/// `~/.aider` for `$HOME/.aider/caches/x`; the directory itself elsewhere.
fn writable_entry(path: &Path) -> String {
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from)
        && let Ok(rest) = path.strip_prefix(&home)
        && let Some(first) = rest.components().next()
    {
        return format!("~/{}", first.as_os_str().to_string_lossy());
    }
    match path.parent() {
        Some(p) if p != Path::new("/") => p.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// A failure's cause for comparing experiments: its stage and its
/// decisive line, without what names the experiment (iterations, paths of
/// its own files), so the same breakage reads the same every time.
pub fn cause(stage: &str, message: &str) -> String {
    let line = decisive_line(message).unwrap_or_default();
    let mut out = String::with_capacity(line.len());
    let mut digits = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !digits {
                out.push('N');
            }
            digits = true;
        } else {
            digits = false;
            out.push(c);
        }
    }
    format!("{stage}: {out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_of_a_traceback_decides() {
        let stderr = "Warning: something\nTraceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n    os.makedirs(p)\n  File \"os.py\", line 225, in makedirs\nPermissionError: [Errno 13] Permission denied: '/home/me/.aider'\n";
        assert_eq!(
            decisive_line(stderr).as_deref(),
            Some("PermissionError: [Errno 13] Permission denied: '/home/me/.aider'")
        );
        let plain = "starting\nerror: could not open config\nbye\n";
        assert_eq!(
            decisive_line(plain).as_deref(),
            Some("error: could not open config")
        );
        assert_eq!(decisive_line("just text\nlast\n").as_deref(), Some("last"));
        assert_eq!(decisive_line("\n\n"), None);
        assert_eq!(
            decisive_line("\u{1b}[31mError: bad\u{1b}[0m\n").as_deref(),
            Some("Error: bad")
        );
    }

    #[test]
    fn a_refused_write_outside_the_writable_paths_names_the_entry() {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let line = format!("PermissionError: [Errno 13] Permission denied: '{home}/.aider/caches'");
        let hint = sandbox_hint(&line, &[PathBuf::from("/tmp/wt")]).unwrap();
        assert!(
            hint.contains("add \"~/.aider\" to sandbox.writable"),
            "{hint}"
        );
        assert!(sandbox_hint(&line, &[PathBuf::from(&home)]).is_none());
        assert!(sandbox_hint("error: no such thing", &[]).is_none());
        let node = "Error: EACCES: permission denied, mkdir '/opt/data/x'";
        assert!(sandbox_hint(node, &[]).unwrap().contains("\"/opt/data\""));
    }

    #[test]
    fn causes_ignore_what_names_the_experiment() {
        assert_eq!(
            cause("implement", "agent exited with code 1: error: run 7 failed"),
            cause(
                "implement",
                "agent exited with code 1: error: run 12 failed"
            )
        );
        assert_ne!(cause("implement", "error: a"), cause("measure", "error: a"));
    }
}
