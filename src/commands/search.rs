//! `optimize search <text>`: experiments of every run in the repository
//! whose hypothesis, category or learnings match.

use std::path::Path;

use crate::cli::SearchArgs;
use crate::commands::repo_at;
use crate::error::CliError;
use crate::history;

pub fn run(repo_arg: Option<&Path>, args: &SearchArgs) -> Result<(), CliError> {
    let repo = repo_at(repo_arg)?;
    let (runs, errors) = history::discover(&repo.root);
    for e in &errors {
        eprintln!("warning: skipped a run whose log cannot be read: {e}");
    }
    let text = args.text.join(" ");
    let hits = crate::search_index::search(&repo.root, &runs, &text).map_err(|e| match e {
        crate::search_index::SearchError::Empty => CliError::usage(e.to_string()),
        e => CliError::failure(e.to_string()),
    })?;
    // No match is an exit of 1, as grep's.
    let none = || {
        CliError::new(
            crate::error::ExitKind::Failure,
            format!("no experiment matches \"{text}\" in {} runs", runs.len()),
        )
    };
    if args.json {
        crate::commands::print_json(&hits);
        return if hits.is_empty() { Err(none()) } else { Ok(()) };
    }
    if hits.is_empty() {
        return Err(none());
    }
    for h in &hits {
        crate::outln!(
            "{} {}{} #{}: {} -> {}{}",
            h.spec,
            h.run_id,
            if h.archived { " (archived)" } else { "" },
            h.iteration,
            h.hypothesis,
            h.outcome,
            h.delta
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        if let Some(l) = &h.learnings {
            crate::outln!("    {}", crate::text::one_line(l, 200));
        }
    }
    Ok(())
}
