//! `optimize clean <spec> [--dry-run]`: prune the experiment branches of
//! decided-against experiments, in the current run and archived ones.

use std::path::Path;

use crate::cli::CleanArgs;
use crate::commands::Workspace;
use crate::error::CliError;
use crate::log::ExperimentLog;
use crate::spec::LoadedSpec;

pub fn run(repo_arg: Option<&Path>, args: &CleanArgs) -> Result<(), CliError> {
    let loaded = LoadedSpec::parse_file(&args.spec)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    // No run may be deciding with these branches meanwhile.
    let _lock = ws.state.lock()?;
    let log_path = ws.state.log_path();
    let log = if log_path.exists() {
        Some(ExperimentLog::load_owned(&log_path)?)
    } else {
        None
    };
    let archived = crate::clean::archived_runs(&ws.repo.root, &loaded.spec.name);
    let prunable = crate::clean::prunable(&ws.repo, &loaded.spec.name, log.as_ref(), &archived)?;
    if prunable.is_empty() {
        crate::outln!(
            "nothing to prune: every experiment branch left is kept, deferred or undecided"
        );
        return Ok(());
    }
    for p in &prunable {
        crate::outln!(
            "{} {} (#{}, {})",
            if args.dry_run {
                "would delete"
            } else {
                "deleted"
            },
            p.branch,
            p.iteration,
            p.outcome
        );
    }
    if args.dry_run {
        crate::outln!(
            "{} branches; nothing was changed (run without --dry-run to delete them)",
            prunable.len()
        );
        return Ok(());
    }
    crate::clean::prune(&ws.repo, &prunable)?;
    crate::outln!(
        "{} branches deleted; kept commits, the best and deferred experiments were left",
        prunable.len()
    );
    Ok(())
}
