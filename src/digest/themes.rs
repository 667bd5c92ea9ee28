//! The digest's "Failure themes": what keeps going wrong on the current best,
//! from the judge's feedback on its sampled items (or its failing cases with
//! `measurement.per_case`), grouped, each with a count and one example. Only
//! the selection's items: the holdout's never reach the digest.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::log::ExperimentLog;
use crate::text::one_line;

/// Themes shown, so the digest stays bounded.
const THEMES: usize = 6;

/// Words that say nothing of what is wrong.
const FILLER: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "of", "to", "and", "or", "in", "it", "its", "this",
    "that", "for", "on", "with", "be", "as", "at", "by", "but", "item", "answer", "output",
];

struct Theme {
    count: usize,
    example: String,
}

pub(super) fn failure_themes(out: &mut String, log: &ExperimentLog) {
    let mut themes: BTreeMap<String, Theme> = BTreeMap::new();
    for (key, example) in judged(log).chain(failing_cases(log)) {
        themes
            .entry(key)
            .and_modify(|t| t.count += 1)
            .or_insert(Theme { count: 1, example });
    }
    let mut recurring: Vec<(String, Theme)> =
        themes.into_iter().filter(|(_, t)| t.count >= 2).collect();
    if recurring.is_empty() {
        return;
    }
    recurring.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    let _ = writeln!(out, "\n## Failure themes\n");
    let _ = writeln!(
        out,
        "Recurring on the current best (propose at most one hypothesis per theme):"
    );
    for (_, t) in recurring.iter().take(THEMES) {
        let _ = writeln!(out, "- {} times, e.g. {}", t.count, t.example);
    }
}

/// Each judged item's feedback on the best: (theme key, example).
fn judged(log: &ExperimentLog) -> impl Iterator<Item = (String, String)> + '_ {
    let items = log
        .best
        .judge
        .as_ref()
        .and_then(|j| j.get("items"))
        .and_then(|v| v.as_sequence())
        .map(Vec::as_slice)
        .unwrap_or_default();
    items.iter().filter_map(|item| {
        let feedback = item.get("feedback")?.as_str()?;
        let id = item.get("id").and_then(|v| v.as_str()).unwrap_or("an item");
        Some((
            key_of(feedback),
            format!("{id}: \"{}\"", one_line(feedback, 160)),
        ))
    })
}

/// Each failing case of the best, themed by its id's prefix (`parse/empty`
/// and `parse/unicode` are one theme).
fn failing_cases(log: &ExperimentLog) -> impl Iterator<Item = (String, String)> + '_ {
    log.best
        .cases
        .iter()
        .flatten()
        .filter(|(_, passed)| !**passed)
        .map(|(id, _)| {
            let prefix = id.split(['/', ':', '.']).next().unwrap_or(id);
            (format!("case {prefix}"), format!("failing case {id}"))
        })
}

/// What a feedback is about: its first words that carry meaning, lowercased,
/// numbers and punctuation dropped, so rewordings of one complaint meet.
fn key_of(feedback: &str) -> String {
    let words: Vec<String> = feedback
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !w.chars().any(|c| c.is_ascii_digit()))
        .filter(|w| !FILLER.contains(&w.as_str()))
        .take(5)
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewordings_of_one_complaint_share_a_theme() {
        assert_eq!(
            key_of("The answer misses the unit of 3 km."),
            key_of("answer misses the unit; 12 km")
        );
        assert_ne!(key_of("misses the unit"), key_of("too long"));
    }
}
