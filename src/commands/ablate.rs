//! `optimize ablate <spec>`: each kept change taken out of the best in
//! turn, and applied alone, measured with the run's protocol; the verdicts
//! go into the log and the report.

use std::path::Path;

use crate::cli::SpecArg;
use crate::commands::Workspace;
use crate::error::CliError;
use crate::kept_stack::KeptStack;
use crate::log::AblationRecord;
use crate::spec::LoadedSpec;

pub fn run(repo_arg: Option<&Path>, args: &SpecArg) -> Result<(), CliError> {
    let loaded = LoadedSpec::parse_file(&args.spec)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    let _lock = ws.state.lock()?;
    let mut log = ws.owned_log(&loaded, "nothing was kept to take apart")?;
    let record = ablate(&ws, &loaded, &log)?;
    crate::out!("{}", table(&record, loaded.spec.metric.primary.direction));
    log.run.ablation = Some(record);
    log.save(&ws.state.log_path())?;
    let written = crate::report::write(&log, &loaded.spec, &args.spec, &ws.state, Some(&ws.repo))?;
    crate::outln!("report: {}", super::display_path(&written.report));
    Ok(())
}

/// The ablation of the run's kept stack (for the command and the wrap-up).
pub(super) fn ablate(
    ws: &Workspace,
    loaded: &LoadedSpec,
    log: &crate::log::ExperimentLog,
) -> Result<AblationRecord, CliError> {
    let stack = KeptStack::of(&ws.repo, log).map_err(|e| CliError::failure(e.to_string()))?;
    let n = stack.changes.len() as u64;
    crate::outln!(
        "ablation: the best, the start, and each of {} without it and alone, measured in turn",
        crate::text::count(n, "kept change", "kept changes")
    );
    super::cancellable(async |cancel, events| {
        crate::ablation::ablate(&ws.repo, &ws.state, &loaded.spec, &stack, cancel, events)
            .await
            .map_err(|e| match e {
                crate::ablation::AblationError::Measure(m) => super::measurement_error(m),
                e => CliError::failure(format!("the ablation failed: {e}")),
            })
    })
}

/// The verdicts as the terminal shows them.
fn table(record: &AblationRecord, direction: crate::spec::Direction) -> String {
    let effect = |e: &Option<crate::log::Effect>| {
        e.as_ref()
            .map(|e| crate::remeasure::describe(e, direction))
            .unwrap_or_else(|| "-".into())
    };
    let mut text = String::new();
    for c in &record.changes {
        text += &format!(
            "  {}: alone {}, removed from the stack {}: {}\n",
            c.iteration
                .map(|n| format!("#{n} \"{}\"", c.hypothesis))
                .unwrap_or_else(|| format!("\"{}\"", c.hypothesis)),
            effect(&c.alone),
            effect(&c.removed),
            c.verdict.as_str()
        );
    }
    text
}
