//! `optimize validate` with more than one measurement slot: the baseline
//! measured as a run measures it, several copies at once, against the
//! baseline alone.

use std::path::Path;

use super::measure_at_once;
use crate::commands::{Workspace, fmt_num};
use crate::decide::stats::Noise;
use crate::error::CliError;
use crate::spec::{LoadedSpec, MetricType, Slots};

/// Drives `futures` together to their ends (they borrow, so they cannot be
/// spawned).
pub(super) async fn all_of<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, out) in pending.iter_mut().zip(done.iter_mut()) {
            if out.is_none()
                && let std::task::Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *out = Some(v);
            }
        }
        if done.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter()
        .map(|o| o.expect("every future ended"))
        .collect()
}

/// With more than one measurement at once (`measurement.max_concurrent`),
/// the baseline measured that way too, as a run measures: its mean and
/// noise against the baseline alone, and a warning when sharing the
/// machine shifts the metric or inflates its noise.
pub(super) fn report_concurrency(
    ws: &Workspace,
    loaded: &LoadedSpec,
    head: git2::Oid,
    runs: u32,
    out_dir: &Path,
    alone: &crate::measure::Measured,
) -> Result<(), CliError> {
    let spec = &loaded.spec;
    let slots = Slots::of(spec).measure;
    if slots < 2
        || spec.execution.runner != crate::spec::RunnerKind::Local
        || spec.metric.primary.kind != MetricType::Hard
    {
        return Ok(());
    }
    crate::outln!("measuring the baseline {slots} at once (measurement.max_concurrent) ...");
    let together = measure_at_once(ws, loaded, head, runs, slots, out_dir)?;
    let primary = &spec.metric.primary.name;
    let alone = alone.values_of(primary);
    let shared: Vec<f64> = together.iter().flat_map(|m| m.values_of(primary)).collect();
    if alone.len() < 2 || shared.len() < 2 {
        return Ok(());
    }
    let (a, s) = (Noise::of(&alone), Noise::of(&shared));
    let shift = (s.mean - a.mean) / a.mean.abs().max(f64::MIN_POSITIVE);
    let inflation = if a.sd > 0.0 {
        s.sd / a.sd
    } else {
        f64::INFINITY
    };
    crate::outln!(
        "  {slots} at once: {primary} mean {} ({:+.1}% vs alone), sd {} ({})",
        fmt_num(s.mean),
        shift * 100.0,
        fmt_num(s.sd),
        if a.sd > 0.0 {
            format!("{inflation:.1}x alone")
        } else {
            "alone: 0".to_string()
        }
    );
    // A shift beyond what the two sets' noise explains, or noise half again.
    let se = (a.sd * a.sd / a.runs as f64 + s.sd * s.sd / s.runs as f64).sqrt();
    let shifted = (s.mean - a.mean).abs() > 3.0 * se && shift.abs() > 0.01;
    let noisier = s.sd > 1.5 * a.sd && s.sd > 0.005 * a.mean.abs();
    if shifted || noisier {
        let noise = if inflation.is_finite() {
            format!("its noise is {inflation:.1}x what it is alone")
        } else if s.sd > 0.0 {
            "it is noisy where alone it is not".to_string()
        } else {
            "it is as steady as alone".to_string()
        };
        eprintln!(
            "warning: {slots} measurements at once share this machine: {primary} moves by {:+.1}% and {noise}",
            shift * 100.0
        );
        eprintln!(
            "hint: for a timing benchmark set measurement.max_concurrent: 1 (implementers still run in parallel; measurements wait for the one slot)"
        );
    }
    Ok(())
}
