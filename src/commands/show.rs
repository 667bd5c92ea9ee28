//! `optimize show <spec> <iteration>`: one experiment of a run (the current
//! one, or `--run RUN_ID`): its hypothesis, outcome, metrics against the
//! best of its batch, learnings, files, diff, and where its output is.

use std::path::Path;

use serde_json::{Value, json};

use crate::cli::ShowArgs;
use crate::commands::{display_path, fmt_num, repo_at};
use crate::error::CliError;
use crate::history;
use crate::spec::LoadedSpec;

pub fn run(repo_arg: Option<&Path>, args: &ShowArgs) -> Result<(), CliError> {
    let loaded = LoadedSpec::parse_file(&args.spec)?;
    let repo = repo_at(repo_arg)?;
    let (runs, _) = history::discover(&repo.root);
    let run =
        history::find(&runs, &loaded.spec.name, args.run.as_deref()).map_err(CliError::usage)?;
    let log = &run.log;
    let Some(e) = log
        .experiments
        .iter()
        .find(|e| e.iteration == args.iteration)
    else {
        return Err(CliError::usage(format!(
            "run {} of \"{}\" has no experiment #{} (it has {})",
            log.run_id,
            run.spec,
            args.iteration,
            log.experiments.len()
        )));
    };
    let json = shown(run, e);
    if args.json {
        crate::commands::print_json(&json);
        return Ok(());
    }
    crate::out!("{}", text_of(run, e, &json));
    Ok(())
}

/// The experiment as `--json` prints it; the text shows the same.
pub(super) fn shown(run: &history::RunOnRecord, e: &crate::log::Experiment) -> Value {
    let log = &run.log;
    let names: Vec<String> = [
        e.metrics.as_ref(),
        e.gates.as_ref(),
        e.diagnostics.as_ref(),
        e.judge.as_ref(),
    ]
    .into_iter()
    .flatten()
    .flat_map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_string)))
    .fold(Vec::new(), |mut acc, n| {
        if !acc.contains(&n) {
            acc.push(n);
        }
        acc
    });
    // The batch's best: its kept entry, else the best before it (the log's
    // best when nothing of the batch was kept).
    let batch_best = log
        .experiments
        .iter()
        .find(|x| x.batch == e.batch && x.outcome.is_kept());
    let metrics: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({
                "name": n,
                "value": e.metric(n),
                "batch_best": batch_best.and_then(|b| b.metric(n)),
                "baseline": log.baseline.metric(n),
            })
        })
        .collect();
    let out_dir = run
        .dir
        .join("experiments")
        .join(format!("{:03}", e.iteration));
    let diff = std::fs::read_to_string(out_dir.join("diff.patch")).ok();
    let outputs: Vec<String> = std::fs::read_dir(&out_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|f| f.path().display().to_string())
        .collect();
    json!({
        "spec": run.spec,
        "run_id": log.run_id,
        "iteration": e.iteration,
        "batch": e.batch,
        "hypothesis": e.hypothesis,
        "category": e.category,
        "outcome": e.outcome.as_str(),
        "primary_delta": e.primary_delta,
        "metrics": metrics,
        "batch_best_iteration": batch_best.map(|b| b.iteration),
        "learnings": e.learnings,
        "error_message": e.error_message,
        "files": e.changes.iter().map(|c| json!({"file": c.file, "change": c.summary})).collect::<Vec<_>>(),
        "commit": e.record.experiment_commit,
        "branch": e.record.branch,
        "diff": diff,
        "output_dir": out_dir.display().to_string(),
        "outputs": outputs,
    })
}

fn text_of(run: &history::RunOnRecord, e: &crate::log::Experiment, json: &Value) -> String {
    let log = &run.log;
    let metrics = json["metrics"].as_array().cloned().unwrap_or_default();
    let out_dir = std::path::PathBuf::from(json["output_dir"].as_str().unwrap_or(""));
    let diff = json["diff"].as_str().map(str::to_string);
    let num = |v: &Value| v.as_f64().map(fmt_num).unwrap_or_else(|| "-".into());
    let mut text = format!(
        "#{} (batch {}) of {} run {}: {}\n  category: {}\n  outcome: {}{}\n",
        e.iteration,
        e.batch,
        run.spec,
        log.run_id,
        e.hypothesis,
        e.category,
        e.outcome,
        e.primary_delta
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    );
    if let Some(m) = &e.error_message {
        text += &format!("  error: {m}\n");
    }
    text += "  metrics (this / best of its batch / baseline):\n";
    for m in &metrics {
        text += &format!(
            "    {}: {} / {} / {}\n",
            m["name"].as_str().unwrap_or(""),
            num(&m["value"]),
            num(&m["batch_best"]),
            num(&m["baseline"])
        );
    }
    if let Some(l) = &e.learnings {
        text += &format!("  learnings: {l}\n");
    }
    if !e.changes.is_empty() {
        text += "  files:\n";
        for c in &e.changes {
            text += &format!("    {} ({})\n", c.file, c.summary);
        }
    }
    if let Some(branch) = &e.record.branch {
        text += &format!("  branch: {branch}\n");
    }
    text += &format!("  output: {}\n", display_path(&out_dir));
    if let Some(d) = diff.filter(|d| !d.is_empty()) {
        text += "\n";
        text += &d;
    }
    text
}
