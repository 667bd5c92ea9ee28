//! Harness validation before the baseline: each of
//! `harness_validation.shortcuts` (a degenerate change such as printing a
//! constant, returning empty output or copying the expected answer) is
//! applied alone to the start commit and measured with the baseline's
//! protocol. The harness must catch it: a gate fails, the measurement fails,
//! or it scores worse than the baseline beyond the comparison's threshold.
//! One that scores as well or better is a harness the loop would learn to
//! game, so the run refuses to start. One implementation for the run and
//! for `optimize validate`.

use std::time::Duration;

use super::baseline::{BaselineError, BaselineMeasurement, BaselineSite, measure_with};
use super::context::{Ctx, group_recorder};
use crate::decide::rules::{ObjectiveVerdict, Rules, decide_with};
use crate::decide::snapshot::of_measured;
use crate::events::Event;
use crate::log::{HarnessCheck, ShortcutResult};
use crate::process::{Invocation, Unsuccessful};
use crate::spec::{Shortcut, Spec};
use crate::text::{fmt_num, one_line};
use crate::worktree::Worktree;

/// Measures every shortcut where `base` measured the baseline, unjudged
/// (what `validate` does).
pub async fn check_unjudged(
    base: &BaselineSite<'_>,
    baseline: &BaselineMeasurement,
) -> Result<HarnessCheck, BaselineError> {
    check_all(base, baseline, None).await
}

/// Measures every shortcut where `base` measured the baseline; `judge`
/// judges them as the baseline was judged.
pub(super) async fn check_all(
    base: &BaselineSite<'_>,
    baseline: &BaselineMeasurement,
    judge: Option<&Ctx>,
) -> Result<HarnessCheck, BaselineError> {
    let spec = base.spec;
    let shortcuts = spec
        .harness_validation
        .as_ref()
        .map_or(&[][..], |v| &v.shortcuts[..]);
    let rules = Rules::of(spec);
    let mut results = Vec::new();
    for (i, shortcut) in shortcuts.iter().enumerate() {
        let site = BaselineSite {
            label: format!("{}-shortcut-{}", base.label, i + 1),
            out_dir: base.out_dir.join(format!("shortcut-{}", i + 1)),
            shortcut: Some(shortcut),
            ..base.clone()
        };
        let result = match measure_with(site, judge).await {
            Ok(m) => verdict(spec, &rules, shortcut, baseline, &m),
            Err(BaselineError::Measure { failure, .. }) => ShortcutResult {
                description: shortcut.description.clone(),
                caught: true,
                reason: format!(
                    "the measurement fails: {}",
                    one_line(&failure.to_string(), 160)
                ),
                primary: None,
            },
            Err(e) => return Err(e),
        };
        base.events.emit(Event::ShortcutChecked {
            description: result.description.clone(),
            caught: result.caught,
            reason: result.reason.clone(),
        });
        results.push(result);
    }
    Ok(HarnessCheck {
        checked_at: crate::clock::now_iso(),
        shortcuts: results,
    })
}

/// Caught when a gate fails or the primary is worse than the baseline's
/// beyond the comparison's threshold.
fn verdict(
    spec: &Spec,
    rules: &Rules,
    shortcut: &Shortcut,
    baseline: &BaselineMeasurement,
    measured: &BaselineMeasurement,
) -> ShortcutResult {
    let primary = &spec.metric.primary.name;
    let value = measured.measured.metrics.get(primary).copied();
    let (caught, reason) = match measured.failed_gates() {
        failed if !failed.is_empty() => (true, format!("gate {} fails", failed.join(", "))),
        _ => {
            let d = decide_with(
                rules,
                &of_measured(spec, &baseline.measured),
                &of_measured(spec, &measured.measured),
            );
            let verdict = d.comparison(primary).map(|c| c.verdict);
            let base = baseline.measured.metrics.get(primary).copied();
            let scores = format!(
                "{primary} {} vs the baseline's {}",
                value.map_or("?".into(), fmt_num),
                base.map_or("?".into(), fmt_num)
            );
            match verdict {
                Some(ObjectiveVerdict::Regressed) => (true, format!("scores worse: {scores}")),
                Some(ObjectiveVerdict::Improved) => (false, format!("scores better: {scores}")),
                _ => (false, format!("scores as well: {scores}")),
            }
        }
    };
    ShortcutResult {
        description: shortcut.description.clone(),
        caught,
        reason,
        primary: value,
    }
}

/// The shortcut's change in the start commit's worktree: its `apply`
/// command, or its `patch`.
pub(super) async fn apply(
    site: &BaselineSite<'_>,
    wt: &Worktree,
    shortcut: &Shortcut,
) -> Result<(), BaselineError> {
    let refused = |why: String| BaselineError::Shortcut {
        description: shortcut.description.clone(),
        why,
    };
    if let Some(patch) = &shortcut.patch {
        return crate::git::Repo::apply_patch(&wt.path, &crate::patch::with_git_headers(patch))
            .map_err(|e| refused(format!("the patch does not apply: {e}")));
    }
    let Some(command) = &shortcut.apply else {
        return Err(refused("it has neither apply nor patch".into()));
    };
    std::fs::create_dir_all(&site.out_dir)
        .map_err(|e| refused(format!("create {}: {e}", site.out_dir.display())))?;
    let spec = site.spec;
    let inv = Invocation {
        what: "the shortcut",
        command,
        cwd: &wt.path,
        env: wt.env(&site.repo.root, spec, 0, 0),
        timeout: Duration::from_secs(spec.measurement.timeout_seconds),
        stdout_path: site.out_dir.join("apply.stdout"),
        stderr_path: site.out_dir.join("apply.stderr"),
        stdin: None,
        sandbox: crate::sandbox::rules_for(
            spec,
            crate::sandbox::Kind::Implementer,
            &wt.path,
            site.state,
            &site.label,
        ),
    };
    let on_spawn = group_recorder(site.state);
    match crate::process::run_to_success(inv, site.cancel, &on_spawn).await {
        Ok(()) => Ok(()),
        Err(Unsuccessful::Cancelled) => Err(BaselineError::Interrupted),
        Err(Unsuccessful::Spawn(e)) => Err(refused(format!("cannot run `{command}`: {e}"))),
        Err(Unsuccessful::Failed(why)) => Err(refused(why)),
    }
}
