//! `optimize approve` / `optimize deny`: decide on the dependencies that
//! hypotheses wait on. Recorded in the run's state, never in the spec.

use std::path::Path;

use crate::approvals::{self, Applied, Approvals};
use crate::cli::{ApproveArgs, DenyArgs};
use crate::commands::Workspace;
use crate::error::CliError;
use crate::log::ExperimentLog;
use crate::spec::LoadedSpec;
use crate::wrapup::waiting_on_dependencies;

pub fn approve(repo_arg: Option<&Path>, args: &ApproveArgs) -> Result<(), CliError> {
    decide(
        repo_arg,
        &args.spec,
        |log| {
            if args.all {
                waiting_on_dependencies(log).into_keys().collect()
            } else {
                args.deps.clone()
            }
        },
        true,
    )
}

pub fn deny(repo_arg: Option<&Path>, args: &DenyArgs) -> Result<(), CliError> {
    decide(repo_arg, &args.spec, |_| args.deps.clone(), false)
}

fn decide(
    repo_arg: Option<&Path>,
    spec_file: &Path,
    deps: impl FnOnce(&ExperimentLog) -> Vec<String>,
    approve: bool,
) -> Result<(), CliError> {
    let loaded = LoadedSpec::parse_file(spec_file)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    let _lock = ws.state.lock()?;
    let log_path = ws.state.log_path();
    let mut log = ws
        .owned_log(&loaded, "nothing waits for approval")
        .map_err(|e| e.hint(format!("dependencies allowed from the start go in the spec's dependencies.approved; start with: optimize {}", spec_file.display())))?;
    let waiting = waiting_on_dependencies(&log);
    let deps = deps(&log);
    if deps.is_empty() {
        crate::outln!("no hypothesis is waiting on a dependency; nothing to approve");
        return Ok(());
    }
    let mut approvals = Approvals::load(&ws.state.approvals_path())?;
    for dep in &deps {
        if approve {
            approvals.approve(dep);
        } else {
            approvals.deny(dep);
        }
        if !waiting
            .keys()
            .any(|w| crate::deps::normalize(w) == crate::deps::normalize(dep))
        {
            eprintln!(
                "note: no hypothesis is waiting on {dep}; the decision is recorded for later experiments"
            );
        }
    }
    approvals.save(&ws.state.approvals_path())?;
    let applied = approvals::apply(&mut log, &approvals, &loaded.spec.dependencies.approved);
    log.save(&log_path)?;
    let next = next_run(&log, &loaded.spec, &applied, spec_file);
    print_applied(&deps, approve, &applied, &next);
    Ok(())
}

/// The command that measures what was just approved: the run again, with
/// `--max-iterations` raised when the run already used all of its own.
pub fn next_run(
    log: &ExperimentLog,
    spec: &crate::spec::Spec,
    applied: &Applied,
    spec_file: &Path,
) -> String {
    let owed = (applied.runnable.len() + applied.remeasure.len()) as u64;
    let done = log.experiments.len() as u64;
    if done + owed > spec.stopping.max_iterations {
        format!(
            "optimize {} --max-iterations {}",
            spec_file.display(),
            done + owed
        )
    } else {
        format!("optimize {}", spec_file.display())
    }
}

pub fn print_applied(deps: &[String], approve: bool, applied: &Applied, next: &str) {
    crate::outln!(
        "{} {}",
        if approve { "approved:" } else { "denied:" },
        deps.join(", ")
    );
    for h in &applied.runnable {
        crate::outln!("  now runnable: \"{h}\"");
    }
    for h in &applied.remeasure {
        crate::outln!("  will be measured from its kept commit: \"{h}\"");
    }
    for h in &applied.dropped {
        crate::outln!("  dropped: \"{h}\"");
    }
    if !applied.runnable.is_empty() || !applied.remeasure.is_empty() {
        crate::outln!("next: {next} (measures them first)");
    }
}
