//! `optimize validate` with `harness_validation.shortcuts`: each shortcut
//! measured on the start commit as a run checks it before its baseline.

use std::path::Path;
use std::sync::Arc;

use crate::commands::{Workspace, runtime};
use crate::error::CliError;
use crate::events::{Events, PlainReporter, TracingSink};
use crate::measure::Measured;
use crate::process::Cancel;
use crate::run::{BaselineError, BaselineMeasurement, BaselineSite, check_shortcuts};
use crate::spec::{LoadedSpec, MetricType};

/// Refuses the harness when it rewards a shortcut, as a run would.
pub(super) fn report_shortcuts(
    ws: &Workspace,
    loaded: &LoadedSpec,
    head: git2::Oid,
    out_dir: &Path,
    baseline: &Measured,
) -> Result<(), CliError> {
    let spec = &loaded.spec;
    let Some(validation) = &spec.harness_validation else {
        return Ok(());
    };
    if spec.metric.primary.kind == MetricType::Judge {
        crate::outln!(
            "harness_validation: {} shortcut(s) are judged at the start of a run (validate does not call the judge)",
            validation.shortcuts.len()
        );
        return Ok(());
    }
    let runs = spec.measurement.stability.runs();
    crate::outln!(
        "checking the harness against {} shortcut(s), {runs} run(s) each ...",
        validation.shortcuts.len()
    );
    let baseline = BaselineMeasurement {
        measured: baseline.clone(),
        gates: crate::decide::evaluate_gates(&spec.metric.degenerate_gates, &baseline.metrics),
        judged: None,
    };
    let runner = crate::run::runner_for(spec, &ws.repo.root, &Events::none(), None);
    let events = Events::new(vec![Arc::new(TracingSink)]);
    let rt = runtime()?;
    let (handle, cancel) = Cancel::new();
    rt.block_on(async {
        let signal_events = Events::new(vec![Arc::new(PlainReporter::new())]);
        crate::signals::install(handle, signal_events, None)
            .map_err(|e| CliError::failure("cannot listen for signals").caused_by(e))
    })?;
    let site = BaselineSite {
        repo: &ws.repo,
        state: &ws.state,
        spec,
        commit: head,
        label: crate::names::validate_label(std::process::id()),
        out_dir: out_dir.to_path_buf(),
        cancel: &cancel,
        events: &events,
        runs,
        runner: &runner,
        shortcut: None,
    };
    let check = rt
        .block_on(check_shortcuts(&site, &baseline))
        .map_err(|e| match e {
            BaselineError::Interrupted => CliError::interrupted("validate was interrupted"),
            e => CliError::from(crate::run::RunError::Baseline(e)),
        })?;
    for s in &check.shortcuts {
        crate::outln!(
            "  {} \"{}\": {}",
            if s.caught { "caught" } else { "REWARDED" },
            s.description,
            s.reason
        );
    }
    match check.shortcuts.iter().find(|s| !s.caught) {
        Some(s) => Err(CliError::from(crate::run::RunError::ShortcutRewarded {
            description: s.description.clone(),
            reason: s.reason.clone(),
        })),
        None => Ok(()),
    }
}
