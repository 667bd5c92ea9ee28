//! `optimize report`: writes report.md and progress.svg (and, with
//! `--html`, report.html: the dashboard's views of the run in one file),
//! prints their paths.

use std::path::Path;

use crate::cli::ReportArgs;
use crate::commands::{Workspace, display_path};
use crate::error::CliError;
use crate::log::ExperimentLog;
use crate::spec::LoadedSpec;

pub fn run(repo_arg: Option<&Path>, args: &ReportArgs) -> Result<(), CliError> {
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
    if args.html {
        crate::outln!(
            "{}",
            display_path(&write_html(&ws, &loaded.spec.name, &log)?)
        );
    }
    Ok(())
}

/// report.html beside report.md: the run page, every experiment's page and
/// their output, with the script and the answers inside.
fn write_html(
    ws: &Workspace,
    name: &str,
    log: &ExperimentLog,
) -> Result<std::path::PathBuf, CliError> {
    let (runs, _) = crate::history::discover(&ws.repo.root);
    let run = runs
        .iter()
        .find(|r| !r.archived && r.spec == name && r.log.run_id == log.run_id)
        .ok_or_else(|| CliError::failure(format!("the run of \"{name}\" is not on record")))?;
    let html = super::serve::static_report(&ws.repo.root, run)
        .map_err(|e| CliError::failure(format!("cannot write report.html: {}", e.0)))?;
    let path = ws.state.html_report_path();
    crate::fsutil::write_atomic(&path, html.as_bytes())
        .map_err(|e| CliError::failure(format!("cannot write {}", path.display())).caused_by(e))?;
    Ok(path)
}
