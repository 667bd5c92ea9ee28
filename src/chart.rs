//! progress.svg: the primary metric of every measured experiment by
//! iteration, coloured by outcome, with the best-so-far step line and the
//! baseline; entries with an interval (`method: statistical`) get error bars.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::log::{ExperimentLog, Outcome};
use crate::spec::Spec;

pub fn outcome_color(o: &Outcome) -> RGBColor {
    match o {
        Outcome::Kept | Outcome::RunnerUpKept => RGBColor(0x1a, 0x9e, 0x3f),
        Outcome::Reverted | Outcome::RunnerUpReverted | Outcome::NotSelected => {
            RGBColor(0x80, 0x80, 0x80)
        }
        Outcome::Inconclusive => RGBColor(0xb0, 0x9a, 0xd8),
        Outcome::Degenerate => RGBColor(0xe0, 0x8a, 0x00),
        Outcome::Measured | Outcome::Promising => RGBColor(0x33, 0x66, 0xcc),
        _ => RGBColor(0xcc, 0x22, 0x22),
    }
}

/// The points drawn: (iteration, value, outcome) of every entry with a primary value.
pub fn points(log: &ExperimentLog, primary: &str) -> Vec<(u64, f64, Outcome)> {
    log.experiments
        .iter()
        .filter_map(|e| {
            e.metric(primary)
                .map(|v| (e.iteration, v, e.outcome.clone()))
        })
        .filter(|(_, v, _)| v.is_finite())
        .collect()
}

/// Error bars: (iteration, low, high) of the primary, from each entry's
/// interval of its change, drawn around its value.
pub fn error_bars(log: &ExperimentLog, primary: &str) -> Vec<(u64, f64, f64)> {
    log.experiments
        .iter()
        .filter_map(|e| {
            let [lo, hi] = e.record.primary_ci?;
            let v = e.metric(primary)?;
            let change = (lo + hi) / 2.0;
            Some((e.iteration, v + lo - change, v + hi - change))
        })
        .filter(|(_, lo, hi)| lo.is_finite() && hi.is_finite())
        .collect()
}

/// The best-so-far line: the baseline, then after each batch that kept
/// something, the value its last integration left (the kept experiment
/// first, then its runner-ups, whatever their iteration numbers), stepped at
/// the batch's last iteration.
pub fn best_so_far(
    log: &ExperimentLog,
    primary: &str,
    baseline: Option<f64>,
    last: u64,
) -> Vec<(f64, f64)> {
    let Some(mut best) = baseline else {
        return Vec::new();
    };
    let mut step = vec![(0.0, best)];
    let mut batches: Vec<u64> = log.experiments.iter().map(|e| e.batch).collect();
    batches.sort();
    batches.dedup();
    for batch in batches {
        let members: Vec<_> = log
            .experiments
            .iter()
            .filter(|e| e.batch == batch)
            .collect();
        let mut kept: Vec<_> = members.iter().filter(|e| e.outcome.is_kept()).collect();
        kept.sort_by_key(|e| (e.outcome == Outcome::RunnerUpKept, e.iteration));
        let Some(v) = kept.last().and_then(|e| {
            e.record
                .combined_metrics
                .as_ref()
                .and_then(|m| crate::log::metric_value(m, primary))
                .or_else(|| e.metric(primary))
        }) else {
            continue;
        };
        let at = members.iter().map(|e| e.iteration).max().unwrap_or(0) as f64;
        step.push((at, best));
        best = v;
        step.push((at, best));
    }
    step.push((last as f64 + 0.5, best));
    step
}

/// The plotting library refused to draw.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the progress chart: {0}")]
pub struct ChartError(String);

pub fn render(log: &ExperimentLog, spec: &Spec) -> Result<String, ChartError> {
    let primary = &spec.metric.primary.name;
    let pts = points(log, primary);
    let baseline = log.baseline.metric(primary);
    let bars = error_bars(log, primary);
    let mut values: Vec<f64> = pts.iter().map(|p| p.1).collect();
    values.extend(baseline);
    values.extend(bars.iter().flat_map(|b| [b.1, b.2]));
    let (lo, hi) = y_range(&values);
    let y = |v: f64| on_axis(v, (lo, hi));
    let last = log
        .experiments
        .iter()
        .map(|e| e.iteration)
        .max()
        .unwrap_or(1)
        .max(1);

    let step: Vec<(f64, f64)> = best_so_far(log, primary, baseline, last)
        .into_iter()
        .map(|(x, v)| (x, y(v)))
        .collect();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 450)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
        let caption = format!("{}: {primary} by iteration", spec.name);
        let mut chart = axes(&root, caption, primary, last, (lo, hi))?;
        if let Some(b) = baseline {
            chart
                .draw_series(LineSeries::new(
                    vec![(-0.5, y(b)), (last as f64 + 0.5, y(b))],
                    BLACK.mix(0.4),
                ))
                .map_err(|e| err(&e))?
                .label("baseline")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.4)));
        }
        chart
            .draw_series(LineSeries::new(
                step,
                RGBColor(0x1a, 0x9e, 0x3f).stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label("best so far")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], RGBColor(0x1a, 0x9e, 0x3f))
            });
        chart
            .draw_series(bars.iter().map(|(i, lo, hi)| {
                PathElement::new(
                    vec![(*i as f64, y(*lo)), (*i as f64, y(*hi))],
                    BLACK.mix(0.5),
                )
            }))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(
                pts.iter()
                    .map(|(i, v, o)| Circle::new((*i as f64, y(*v)), 5, outcome_color(o).filled())),
            )
            .map_err(|e| err(&e))?;
        outcome_legend(&mut chart, &pts)?;
        finish(chart, &root)?;
    }
    Ok(svg)
}

/// The legend drawn and the drawing written out.
fn finish<'a, 'b>(
    mut chart: Chart<'a, 'b>,
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
) -> Result<(), ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// One legend entry per group of outcomes shown.
fn outcome_legend(chart: &mut Chart<'_, '_>, pts: &[Point]) -> Result<(), ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let mut shown: Vec<&str> = Vec::new();
    for (_, _, o) in pts {
        let group = match o {
            Outcome::Kept | Outcome::RunnerUpKept => "kept",
            Outcome::Degenerate => "degenerate",
            Outcome::Measured | Outcome::Promising => "measured",
            Outcome::Reverted | Outcome::RunnerUpReverted | Outcome::NotSelected => "reverted",
            Outcome::Inconclusive => "inconclusive",
            _ => "other",
        };
        if shown.contains(&group) {
            continue;
        }
        shown.push(group);
        let color = outcome_color(o);
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(|e| err(&e))?
            .label(group)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
    }
    Ok(())
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A white chart of `primary` by iteration, from 0 to `last`, with its mesh.
fn axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    caption: String,
    primary: &str,
    last: u64,
    (lo, hi): (f64, f64),
) -> Result<Chart<'a, 'b>, ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..(last as f64 + 0.5), lo..hi)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("iteration")
        .y_desc(primary)
        .disable_x_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(chart)
}

/// The widest y axis drawn. plotters computes spans and tick steps of the
/// axis, which overflow to infinity (and never finish) near `f64::MAX`;
/// values beyond this are drawn at the axis's edge.
const Y_LIMIT: f64 = 1e300;

/// The y axis for `values`, padded; a fixed one when there is nothing.
/// Every finite value gives a finite axis, however extreme.
fn y_range(values: &[f64]) -> (f64, f64) {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(-Y_LIMIT, Y_LIMIT))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.1)
        .max(hi.abs().max(lo.abs()) * 0.01)
        .max(1e-9);
    let (lo, hi) = ((lo - pad).max(-Y_LIMIT), (hi + pad).min(Y_LIMIT));
    // Far from zero, a pad below the numbers' resolution leaves no span.
    if hi > lo {
        (lo, hi)
    } else {
        (lo - lo.abs() * 0.01 - 1e-9, hi + hi.abs() * 0.01 + 1e-9)
    }
}

/// `v` where it is drawn on an axis from `lo` to `hi`.
fn on_axis(v: f64, (lo, hi): (f64, f64)) -> f64 {
    if v.is_nan() { lo } else { v.clamp(lo, hi) }
}

/// An experiment's primary value: (iteration, value, outcome).
type Point = (u64, f64, Outcome);
/// A run's points and its best-so-far steps.
type Curve = (Vec<Point>, Vec<(f64, f64)>);

/// compare.svg: two runs' best-so-far curves and points on one chart.
pub fn render_comparison(
    runs: [(&str, &ExperimentLog); 2],
    primary: &str,
) -> Result<String, ChartError> {
    let colors = [RGBColor(0x1f, 0x5f, 0xbf), RGBColor(0xd9, 0x5f, 0x02)];
    let last = runs
        .iter()
        .flat_map(|(_, log)| log.experiments.iter().map(|e| e.iteration))
        .max()
        .unwrap_or(1)
        .max(1);
    let series: Vec<Curve> = runs
        .iter()
        .map(|(_, log)| {
            let baseline = log.baseline.metric(primary);
            (
                points(log, primary),
                best_so_far(log, primary, baseline, last),
            )
        })
        .collect();
    let values: Vec<f64> = series
        .iter()
        .flat_map(|(p, s)| p.iter().map(|x| x.1).chain(s.iter().map(|x| x.1)))
        .collect();
    let (lo, hi) = y_range(&values);
    let y = |v: f64| on_axis(v, (lo, hi));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 450)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
        let caption = format!("{primary}: {} vs {}", runs[0].0, runs[1].0);
        let mut chart = axes(&root, caption, primary, last, (lo, hi))?;
        for ((label, _), ((pts, step), color)) in runs.iter().zip(series.into_iter().zip(colors)) {
            chart
                .draw_series(LineSeries::new(
                    step.into_iter().map(|(x, v)| (x, y(v))),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(format!("{label}: best so far"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            chart
                .draw_series(
                    pts.iter().map(|(i, v, _)| {
                        Circle::new((*i as f64, y(*v)), 4, color.mix(0.6).filled())
                    }),
                )
                .map_err(|e| err(&e))?;
        }
        finish(chart, &root)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Experiment;

    /// Renders a log whose baseline and experiments have these values, on a
    /// thread that must finish within seconds.
    fn renders_in_time(values: &[f64]) {
        let mut log = ExperimentLog::default();
        let mut base = serde_yaml::Mapping::new();
        base.insert("t".into(), values[0].into());
        log.baseline.metrics = Some(base);
        for (i, v) in values.iter().enumerate().skip(1) {
            let mut e = Experiment::new(i as u64, i as u64, "h", "c", Outcome::Kept);
            let mut m = serde_yaml::Mapping::new();
            m.insert("t".into(), (*v).into());
            e.metrics = Some(m);
            log.experiments.push(e);
        }
        let spec: Spec = crate::spec::LoadedSpec::parse_str(
            "name: t\ndescription: d\nmetric: {primary: {type: hard, name: t, direction: maximize}, degenerate_gates: [{name: ok, check: '== 1'}]}\nmeasurement: {command: x}\nscope: {mutable: [a], immutable: [b]}\n",
            std::path::Path::new("spec.yaml"),
        )
        .expect("spec")
        .spec;
        let (tx, rx) = std::sync::mpsc::channel();
        let other = log.clone();
        std::thread::spawn(move || {
            let one = render(&log, &spec).map(|s| s.len());
            let two = render_comparison([("a", &log), ("b", &other)], "t").map(|s| s.len());
            let _ = tx.send((one.is_ok(), two.is_ok()));
        });
        let done = rx.recv_timeout(std::time::Duration::from_secs(20));
        assert_eq!(done, Ok((true, true)), "{values:?}");
    }

    #[test]
    fn every_finite_value_is_drawn_in_bounded_time() {
        for values in [
            &[50.0, 1.7e308][..],
            &[1e308, -1e308],
            &[f64::MAX, f64::MIN, 0.0],
            &[1e-300, 2e-300],
            &[f64::MIN_POSITIVE, 5e-324],
            &[1e15, 1e15 + 1.0],
            &[1e300, 1e300],
            &[-3.0],
        ] {
            renders_in_time(values);
        }
    }

    #[test]
    fn the_best_line_follows_the_order_of_integration() {
        let mut log = ExperimentLog::default();
        let entry = |iteration, batch, outcome, value: f64| {
            let mut e = Experiment::new(iteration, batch, "h", "c", outcome);
            let mut m = serde_yaml::Mapping::new();
            m.insert("t".into(), value.into());
            e.metrics = Some(m);
            e
        };
        log.experiments = vec![
            entry(1, 1, Outcome::Reverted, 101.0),
            entry(2, 1, Outcome::Kept, 95.0),
            // Batch 2: #4 kept first, then #3 merged on top of it.
            entry(3, 2, Outcome::RunnerUpKept, 93.0),
            entry(4, 2, Outcome::Kept, 94.0),
        ];
        log.experiments[2].record.combined_metrics = Some({
            let mut m = serde_yaml::Mapping::new();
            m.insert("t".into(), 90.0.into());
            m
        });
        let line = best_so_far(&log, "t", Some(100.0), 4);
        assert_eq!(
            line,
            [
                (0.0, 100.0),
                (2.0, 100.0),
                (2.0, 95.0),
                (4.0, 95.0),
                (4.0, 90.0),
                (4.5, 90.0)
            ]
        );
    }
}
