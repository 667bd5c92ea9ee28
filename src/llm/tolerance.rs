//! Where a SEARCH block lands when the model did not copy the lines exactly.
//! An exact, unique match is used as it is. Failing that, a unique match of
//! the same lines that differ only in whitespace or indentation is accepted
//! (and said so); when the file's lines are the SEARCH lines shifted by one
//! common indentation, the REPLACE lines get the same shift. Otherwise the
//! refusal shows the closest region of the file (by `similar`'s ratio), so
//! the model's second try can copy it.

use similar::TextDiff;

/// The outcome of looking for a SEARCH text in a file.
#[derive(Debug, PartialEq)]
pub enum Found {
    /// The byte range to replace, the REPLACE text to put there, and a note
    /// when the match was not exact.
    At {
        range: std::ops::Range<usize>,
        replace: String,
        note: Option<String>,
    },
    /// Matches in this many places.
    Ambiguous(usize),
    /// No match; the closest region of the file (first line, 1-based, and
    /// its text), if any.
    Missing(Option<(usize, String)>),
}

pub fn locate(text: &str, search: &str, replace: &str, tolerant: bool) -> Found {
    match text.matches(search).count() {
        1 => {
            let start = text.find(search).expect("counted once");
            return Found::At {
                range: start..start + search.len(),
                replace: replace.to_string(),
                note: None,
            };
        }
        0 => {}
        n => return Found::Ambiguous(n),
    }
    if !tolerant {
        return Found::Missing(None);
    }
    let lines = line_spans(text);
    let wanted: Vec<&str> = search.lines().collect();
    if wanted.is_empty() || wanted.len() > lines.len() {
        return Found::Missing(None);
    }
    let normal = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let wanted_normal: Vec<String> = wanted.iter().map(|l| normal(l)).collect();
    let windows: Vec<usize> = (0..=lines.len() - wanted.len())
        .filter(|&i| {
            (0..wanted.len()).all(|k| normal(&text[lines[i + k].clone()]) == wanted_normal[k])
        })
        .collect();
    match windows.as_slice() {
        [i] => {
            let first = lines[*i].start;
            let last = &lines[i + wanted.len() - 1];
            // Through the last line's newline, when the SEARCH had one.
            let end = if search.ends_with('\n') {
                (last.end + 1).min(text.len())
            } else {
                last.end
            };
            let found: Vec<&str> = (0..wanted.len())
                .map(|k| &text[lines[i + k].clone()])
                .collect();
            let (replace, how) = match common_shift(&found, &wanted) {
                Some(Shift::Add(prefix)) if !prefix.is_empty() => (
                    shift(replace, |l| format!("{prefix}{l}")),
                    "with the file's indentation (the REPLACE lines were indented to match)",
                ),
                Some(Shift::Remove(prefix)) if !prefix.is_empty() => (
                    shift(replace, |l| {
                        l.strip_prefix(prefix.as_str()).unwrap_or(l).to_string()
                    }),
                    "with the file's indentation (the REPLACE lines were outdented to match)",
                ),
                _ => match reindent(&found, &wanted, replace) {
                    Some(replace) => (
                        replace,
                        "with the file's indentation characters (the REPLACE lines were re-indented to match)",
                    ),
                    None => (replace.to_string(), "ignoring differences in whitespace"),
                },
            };
            Found::At {
                range: first..end,
                replace,
                note: Some(format!(
                    "the SEARCH text matched lines {}-{} only {how}",
                    i + 1,
                    i + wanted.len()
                )),
            }
        }
        [] => Found::Missing(closest(text, &lines, search, wanted.len())),
        many => Found::Ambiguous(many.len()),
    }
}

/// Byte ranges of each line, without its newline.
fn line_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let body = body.strip_suffix('\r').unwrap_or(body);
        spans.push(start..start + body.len());
        start += line.len();
    }
    spans
}

/// How the file's lines are indented against the SEARCH lines.
#[derive(Debug, PartialEq)]
enum Shift {
    /// Every file line has this in front of its SEARCH line.
    Add(String),
    /// Every SEARCH line has this in front of its file line.
    Remove(String),
}

/// One indentation difference shared by every non-blank line, if there is.
fn common_shift(found: &[&str], wanted: &[&str]) -> Option<Shift> {
    let mut shift: Option<Shift> = None;
    for (f, w) in found.iter().zip(wanted) {
        if w.trim().is_empty() {
            continue;
        }
        let indent = |s: &str| s[..s.len() - s.trim_start().len()].to_string();
        let (fi, wi) = (indent(f), indent(w));
        if f.trim() != w.trim() {
            return None;
        }
        let this = if let Some(extra) = fi.strip_prefix(wi.as_str()) {
            Shift::Add(extra.to_string())
        } else if let Some(extra) = wi.strip_prefix(fi.as_str()) {
            Shift::Remove(extra.to_string())
        } else {
            return None;
        };
        match &shift {
            None => shift = Some(this),
            Some(existing) if *existing == this => {}
            Some(_) => return None,
        }
    }
    shift
}

/// REPLACE with each line's indentation written as the file writes it
/// (tabs for spaces, say), learnt from the matched lines: an indentation the
/// SEARCH used maps to the file's; one it did not use, made of a unit that
/// did map (one tab), maps unit by unit. `None` when it cannot tell.
fn reindent(found: &[&str], wanted: &[&str], replace: &str) -> Option<String> {
    let indent = |s: &str| s[..s.len() - s.trim_start().len()].to_string();
    let mut map: Vec<(String, String)> = Vec::new();
    for (f, w) in found.iter().zip(wanted) {
        if w.trim().is_empty() {
            continue;
        }
        let (wi, fi) = (indent(w), indent(f));
        match map.iter().find(|(k, _)| *k == wi) {
            Some((_, v)) if *v != fi => return None,
            Some(_) => {}
            None => map.push((wi, fi)),
        }
    }
    if map.iter().all(|(k, v)| k == v) {
        // The indentation already agrees; only other whitespace differed.
        return None;
    }
    let mapped = |ri: &str| -> Option<String> {
        if let Some((_, v)) = map.iter().find(|(k, _)| k == ri) {
            return Some(v.clone());
        }
        map.iter().find_map(|(unit, v)| {
            if unit.is_empty()
                || !ri.len().is_multiple_of(unit.len())
                || ri != unit.repeat(ri.len() / unit.len())
            {
                return None;
            }
            Some(v.repeat(ri.len() / unit.len()))
        })
    };
    let mut out = String::new();
    for line in replace.split_inclusive('\n') {
        if line.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        let ri = indent(line);
        out.push_str(&mapped(&ri)?);
        out.push_str(line.trim_start());
    }
    Some(out)
}

/// Applies `f` to every non-blank line of `text`.
fn shift(text: &str, f: impl Fn(&str) -> String) -> String {
    text.split_inclusive('\n')
        .map(|l| {
            if l.trim().is_empty() {
                l.to_string()
            } else {
                f(l)
            }
        })
        .collect()
}

/// The window of `height` lines most like `search`.
fn closest(
    text: &str,
    lines: &[std::ops::Range<usize>],
    search: &str,
    height: usize,
) -> Option<(usize, String)> {
    let mut best: Option<(f32, usize)> = None;
    for i in 0..=lines.len().saturating_sub(height) {
        let window = &text[lines[i].start..lines[(i + height).min(lines.len()) - 1].end];
        let ratio = TextDiff::from_chars(window, search.trim_end_matches('\n')).ratio();
        if best.is_none_or(|(r, _)| ratio > r) {
            best = Some((ratio, i));
        }
    }
    let (ratio, i) = best?;
    if ratio < 0.5 {
        return None;
    }
    let window = &text[lines[i].start..lines[(i + height).min(lines.len()) - 1].end];
    Some((i + 1, window.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "fn main() {\n    let x = 1;\n    if x > 0 {\n        run(x);\n    }\n}\n";

    #[test]
    fn exact_matches_are_used_as_they_are() {
        let f = locate(FILE, "    let x = 1;\n", "    let x = 2;\n", true);
        assert!(matches!(f, Found::At { note: None, .. }));
    }

    #[test]
    fn a_search_without_its_indentation_lands_and_the_replace_is_shifted() {
        let search = "if x > 0 {\n    run(x);\n}\n";
        let replace = "if x > 1 {\n    run(x);\n}\n";
        let Found::At {
            range,
            replace,
            note,
        } = locate(FILE, search, replace, true)
        else {
            panic!("no match");
        };
        let mut out = FILE.to_string();
        out.replace_range(range, &replace);
        assert_eq!(
            out,
            "fn main() {\n    let x = 1;\n    if x > 1 {\n        run(x);\n    }\n}\n"
        );
        assert!(note.unwrap().contains("indentation"));
        assert_eq!(locate(FILE, search, "", false), Found::Missing(None));
    }

    #[test]
    fn other_whitespace_differences_are_tolerated() {
        let Found::At { note, .. } =
            locate(FILE, "    let  x =  1;   \n", "    let x = 2;\n", true)
        else {
            panic!("no match");
        };
        assert!(note.unwrap().contains("whitespace"));
    }

    #[test]
    fn a_miss_shows_the_closest_region() {
        match locate(FILE, "    if x >= 0 {\n        run(y);\n", "", true) {
            Found::Missing(Some((line, region))) => {
                assert_eq!(line, 3);
                assert!(region.contains("run(x)"));
            }
            other => panic!("{other:?}"),
        }
    }
}
