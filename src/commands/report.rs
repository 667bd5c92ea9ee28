//! `optimize report`: writes report.md and progress.svg, prints their paths.

use std::path::Path;

use crate::cli::SpecArg;
use crate::commands::{Workspace, display_path};
use crate::error::CliError;
use crate::log::ExperimentLog;
use crate::spec::LoadedSpec;

pub fn run(repo_arg: Option<&Path>, args: &SpecArg) -> Result<(), CliError> {
    let loaded = LoadedSpec::parse_file(&args.spec)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    let log_path = ws.state.log_path();
    if !log_path.exists() {
        return Err(CliError::failure(format!(
            "\"{}\" has no run yet, so there is nothing to report",
            loaded.spec.name
        ))
        .hint(format!("start one with: optimize {}", args.spec.display())));
    }
    let log = ExperimentLog::load(&log_path)?;
    let written = crate::report::write(&log, &loaded.spec, &args.spec, &ws.state, Some(&ws.repo))?;
    crate::outln!("{}", display_path(&written.report));
    crate::outln!("{}", display_path(&written.chart));
    Ok(())
}
