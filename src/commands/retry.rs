//! `optimize retry <spec> [N…|--errors]`: errored hypotheses of the current
//! run back to the front of the backlog; their entries stay, marked.

use std::path::Path;

use crate::cli::RetryArgs;
use crate::commands::Workspace;
use crate::error::CliError;
use crate::log::Outcome;
use crate::spec::LoadedSpec;

pub fn run(repo_arg: Option<&Path>, args: &RetryArgs) -> Result<(), CliError> {
    let loaded = LoadedSpec::parse_file(&args.spec)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    let _lock = ws.state.lock()?;
    let log_path = ws.state.log_path();
    let mut log = ws.owned_log(&loaded, "nothing can be retried")?;
    let failed = |o: &Outcome| matches!(o, Outcome::Error | Outcome::Timeout);
    let wanted: Vec<u64> = if args.errors {
        log.experiments
            .iter()
            .filter(|e| failed(&e.outcome) && !e.record.retried)
            .map(|e| e.iteration)
            .collect()
    } else if args.iterations.is_empty() {
        return Err(CliError::usage(
            "name the experiments to retry, or pass --errors",
        ));
    } else {
        for n in &args.iterations {
            match log.experiments.iter().find(|e| e.iteration == *n) {
                None => return Err(CliError::usage(format!("the run has no experiment #{n}"))),
                Some(e) if !failed(&e.outcome) => {
                    return Err(CliError::usage(format!(
                        "#{n} is {}, not an error or a timeout; only failed experiments are retried",
                        e.outcome
                    )));
                }
                Some(_) => {}
            }
        }
        args.iterations.clone()
    };
    let originals = loaded
        .spec
        .hypotheses
        .file
        .as_ref()
        .and_then(|f| {
            crate::hypotheses::load_file(&loaded.dir().join(f), &loaded.spec.dependencies.approved)
                .ok()
        })
        .unwrap_or_default();
    let back = log.give_back(&wanted, &originals);
    if back.is_empty() {
        crate::outln!("nothing to retry: no errored experiment is waiting to be given back");
        return Ok(());
    }
    log.save(&log_path)?;
    for h in &back {
        crate::outln!("back in the backlog: \"{h}\"");
    }
    crate::outln!(
        "next: optimize {} (implements them first)",
        args.spec.display()
    );
    Ok(())
}
