//! `optimize runs`: every run in the repository, current and archived,
//! across specs; `.optimize/index.csv` is rewritten from the same rows.

use std::path::Path;

use crate::cli::JsonArg;
use crate::commands::{display_path, fmt_num, repo_at};
use crate::error::CliError;
use crate::history;

pub fn run(repo_arg: Option<&Path>, args: &JsonArg) -> Result<(), CliError> {
    let repo = repo_at(repo_arg)?;
    let (summaries, errors) = history::summaries(&repo.root);
    for e in &errors {
        eprintln!("warning: skipped a run whose log cannot be read: {e}");
    }
    history::write_index(&repo.root, &summaries)
        .map_err(|e| CliError::failure("cannot write .optimize/index.csv").caused_by(e))?;
    if args.json {
        crate::commands::print_json(&summaries);
        return Ok(());
    }
    if summaries.is_empty() {
        crate::outln!("no run is on record in {}", display_path(&repo.root));
        return Ok(());
    }
    let num = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "?".into());
    for s in &summaries {
        crate::outln!(
            "{} {} {}{}: {} experiments, {} kept; {} {} -> {}; {}; {}",
            s.spec,
            s.run_id,
            s.started_at,
            if s.archived { " (archived)" } else { "" },
            s.experiments,
            s.kept,
            s.primary.name.as_deref().unwrap_or("primary"),
            num(s.primary.baseline),
            num(s.primary.best),
            crate::text::fmt_usd(s.cost_usd),
            s.status
        );
    }
    Ok(())
}
