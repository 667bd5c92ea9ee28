//! `optimize approve` / `optimize deny`: decide on the dependencies that
//! hypotheses wait on. Recorded in the run's state, never in the spec.

use std::path::Path;

use crate::approvals::{self, Applied, Approvals};
use crate::cli::{ApproveArgs, DenyArgs};
use crate::commands::Workspace;
use crate::error::CliError;
use crate::log::ExperimentLog;
use crate::spec::LoadedSpec;
use crate::state::StateDir;
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
    let Some(decision) = record(&ws.state, &loaded, spec_file, deps, approve)? else {
        crate::outln!("no hypothesis is waiting on a dependency; nothing to approve");
        return Ok(());
    };
    for dep in &decision.not_waiting {
        eprintln!(
            "note: no hypothesis is waiting on {dep}; the decision is recorded for later experiments"
        );
    }
    print_applied(&decision.deps, approve, &decision.applied, &decision.next);
    Ok(())
}

/// What approving or denying did: the same record whether it came from
/// the command line or from `optimize serve`'s page.
pub(super) struct Decision {
    pub deps: Vec<String>,
    /// The dependencies no hypothesis waits on (recorded for later ones).
    pub not_waiting: Vec<String>,
    pub applied: Applied,
    /// The command that measures what became runnable.
    pub next: String,
}

/// Records approvals (or denials) of `deps` in the run's `approvals.yaml`
/// and applies them to its log, under the run lock; `None` when no
/// dependency was named.
pub(super) fn record(
    state: &StateDir,
    loaded: &LoadedSpec,
    spec_file: &Path,
    deps: impl FnOnce(&ExperimentLog) -> Vec<String>,
    approve: bool,
) -> Result<Option<Decision>, CliError> {
    let _lock = state.lock()?;
    let log_path = state.log_path();
    if !log_path.exists() {
        return Err(CliError::failure(format!(
            "\"{}\" has no run yet, so nothing waits for approval",
            loaded.spec.name
        ))
        .hint(format!("dependencies allowed from the start go in the spec's dependencies.approved; start with: optimize {}", spec_file.display())));
    }
    let mut log = ExperimentLog::load_owned(&log_path)?;
    let waiting = waiting_on_dependencies(&log);
    let deps = deps(&log);
    if deps.is_empty() {
        return Ok(None);
    }
    let mut approvals = Approvals::load(&state.approvals_path())?;
    let mut not_waiting = Vec::new();
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
            not_waiting.push(dep.clone());
        }
    }
    approvals.save(&state.approvals_path())?;
    let applied = approvals::apply(&mut log, &approvals, &loaded.spec.dependencies.approved);
    log.save(&log_path)?;
    let next = next_run(&log, &loaded.spec, &applied, spec_file);
    Ok(Some(Decision {
        deps,
        not_waiting,
        applied,
        next,
    }))
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
