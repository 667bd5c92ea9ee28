//! `optimize compare <spec> <RUN_A> <RUN_B>`: two runs of a spec side by
//! side (every metric's baseline and best with the difference, outcome
//! counts, cost and time, kept hypotheses) and `compare.svg` with both
//! progress curves.

use std::path::Path;

use serde_json::{Value, json};

use crate::cli::CompareArgs;
use crate::commands::{display_path, fmt_num, repo_at};
use crate::error::CliError;
use crate::history::{self, RunOnRecord};
use crate::log::ExperimentLog;
use crate::spec::LoadedSpec;

pub fn run(repo_arg: Option<&Path>, args: &CompareArgs) -> Result<(), CliError> {
    let loaded = LoadedSpec::parse_file(&args.spec)?;
    let name = &loaded.spec.name;
    let repo = repo_at(repo_arg)?;
    let (runs, _) = history::discover(&repo.root);
    let a = history::find(&runs, name, Some(&args.run_a)).map_err(CliError::usage)?;
    let b = history::find(&runs, name, Some(&args.run_b)).map_err(CliError::usage)?;
    let primary = loaded.spec.metric.primary.name.clone();

    let svg_path = write_chart(&repo.root, name, a, b, &primary)?;
    let mut json = compared(name, a, b, &primary);
    json["chart"] = json!(svg_path.display().to_string());
    if args.json {
        crate::commands::print_json(&json);
        return Ok(());
    }
    crate::out!("{}", text_of(name, a, b, &json, &svg_path));
    Ok(())
}

/// Two runs side by side, as `--json` prints them (without the chart,
/// which `optimize serve` draws in place).
pub(super) fn compared(name: &str, a: &RunOnRecord, b: &RunOnRecord, primary: &str) -> Value {
    let metrics = metrics_of(a, b, primary);
    let kept =
        |r: &RunOnRecord| -> Vec<String> { r.log.kept().map(|e| e.hypothesis.clone()).collect() };
    let (kept_a, kept_b) = (kept(a), kept(b));
    let both: Vec<&String> = kept_a.iter().filter(|h| kept_b.contains(h)).collect();
    let run_json = |r: &RunOnRecord, kept: &[String]| {
        json!({
            "run_id": r.log.run_id,
            "started_at": r.log.started_at,
            "archived": r.archived,
            "status": r.status(),
            "experiments": r.log.experiments.len(),
            "outcomes": r.log.outcome_counts().into_iter().map(|(o, n)| json!({"outcome": o, "count": n})).collect::<Vec<_>>(),
            "cost_usd": r.log.total_cost_usd(),
            "active_seconds": r.log.run.active_seconds,
            "kept": kept,
        })
    };
    json!({
        "spec": name,
        "primary": primary,
        "metrics": metrics,
        "a": run_json(a, &kept_a),
        "b": run_json(b, &kept_b),
        "kept_by_both": both,
    })
}

/// Every metric of either run: each run's baseline and best, and the
/// difference of the bests.
fn metrics_of(a: &RunOnRecord, b: &RunOnRecord, primary: &str) -> Vec<Value> {
    let mut names: Vec<String> = Vec::new();
    for log in [&a.log, &b.log] {
        let maps = [
            log.baseline.metrics.as_ref(),
            Some(&log.baseline.gates),
            Some(&log.baseline.diagnostics),
            Some(&log.best.metrics),
        ];
        for m in maps.into_iter().flatten() {
            for k in m.keys().filter_map(|k| k.as_str()) {
                if !names.iter().any(|n| n == k) {
                    names.push(k.to_string());
                }
            }
        }
    }
    names.sort_by_key(|n| n != primary);
    let side = |log: &ExperimentLog, n: &str| json!({"baseline": log.baseline.metric(n), "best": log.result(n)});
    names
        .iter()
        .map(|n| {
            let (sa, sb) = (side(&a.log, n), side(&b.log, n));
            let diff = match (sa["best"].as_f64(), sb["best"].as_f64()) {
                (Some(x), Some(y)) => Some(y - x),
                _ => None,
            };
            json!({"name": n, "a": sa, "b": sb, "best_difference": diff})
        })
        .collect()
}

/// compare.svg with both runs' curves.
fn write_chart(
    root: &Path,
    name: &str,
    a: &RunOnRecord,
    b: &RunOnRecord,
    primary: &str,
) -> Result<std::path::PathBuf, CliError> {
    let svg_path = root.join(".optimize").join(name).join("compare.svg");
    let svg = crate::chart::render_comparison(
        [
            (a.log.run_id.as_str(), &a.log),
            (b.log.run_id.as_str(), &b.log),
        ],
        primary,
    )
    .map_err(|e| CliError::failure(e.to_string()))?;
    if let Some(dir) = svg_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::failure(format!("cannot create {}", dir.display())).caused_by(e)
        })?;
    }
    crate::fsutil::write_atomic(&svg_path, svg.as_bytes()).map_err(|e| {
        CliError::failure(format!("cannot write {}", svg_path.display())).caused_by(e)
    })?;
    Ok(svg_path)
}

#[allow(clippy::too_many_arguments)]
fn text_of(name: &str, a: &RunOnRecord, b: &RunOnRecord, json: &Value, svg_path: &Path) -> String {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let metrics = json["metrics"].as_array().cloned().unwrap_or_default();
    let (kept_a, kept_b) = (strings(&json["a"]["kept"]), strings(&json["b"]["kept"]));
    let both = strings(&json["kept_by_both"]);
    let num = |v: &Value| v.as_f64().map(fmt_num).unwrap_or_else(|| "?".into());
    let mut text = format!(
        "{name}: A = {} ({}), B = {} ({})\n  metric: A baseline -> best | B baseline -> best | B - A (best)\n",
        a.log.run_id,
        a.status(),
        b.log.run_id,
        b.status()
    );
    for m in &metrics {
        text += &format!(
            "  {}: {} -> {} | {} -> {} | {}\n",
            m["name"].as_str().unwrap_or(""),
            num(&m["a"]["baseline"]),
            num(&m["a"]["best"]),
            num(&m["b"]["baseline"]),
            num(&m["b"]["best"]),
            m["best_difference"]
                .as_f64()
                .map(crate::decide::format_delta)
                .unwrap_or_else(|| "?".into())
        );
    }
    for (label, r, kept) in [("A", a, &kept_a), ("B", b, &kept_b)] {
        text += &format!(
            "  {label}: {} experiments ({}), cost {}, active {:.2} h; kept: {}\n",
            r.log.experiments.len(),
            r.log.outcome_summary(),
            crate::text::fmt_usd(r.log.total_cost_usd()),
            r.log.run.active_seconds.unwrap_or(0.0) / 3600.0,
            if kept.is_empty() {
                "nothing".into()
            } else {
                kept.join("; ")
            }
        );
    }
    if !both.is_empty() {
        text += &format!("  kept by both: {}\n", both.join("; "));
    }
    text += &format!("  chart: {}\n", display_path(svg_path));
    text
}
