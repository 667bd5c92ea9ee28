//! What the dashboard shows, as JSON: the same values `optimize runs`,
//! `status`, `show`, `compare` and `search` print with `--json`, read from
//! the logs on every request (a run may be archived or its log rewritten
//! between two). A run or experiment is found among those on record, never
//! by a path built from the request.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::history::{self, RunOnRecord};
use crate::log::{Experiment, ExperimentLog};
use crate::spec::LoadedSpec;

/// A request for something that is not on record.
#[derive(Debug)]
pub struct NotFound(pub String);

/// Every run on record, as `optimize runs --json`.
pub fn runs(root: &Path) -> Value {
    let (summaries, errors) = history::summaries(root);
    json!({
        "runs": summaries,
        "unreadable": errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
    })
}

/// The run `run_id` of `spec` (exactly that id, or `current`).
pub fn find<'a>(
    runs: &'a [RunOnRecord],
    spec: &str,
    run_id: &str,
) -> Result<&'a RunOnRecord, NotFound> {
    runs.iter()
        .find(|r| {
            r.spec == spec && (r.log.run_id == run_id || (run_id == "current" && !r.archived))
        })
        .ok_or_else(|| NotFound(format!("no run {run_id} of \"{spec}\" is on record")))
}

/// The spec a run was made with: the copy in its state dir.
pub fn spec_of(run: &RunOnRecord) -> Result<LoadedSpec, NotFound> {
    LoadedSpec::parse_file(&run.dir.join("spec.yaml")).map_err(|e| {
        NotFound(format!(
            "run {} of \"{}\" has no readable spec copy: {e}",
            run.log.run_id, run.spec
        ))
    })
}

/// One run: `optimize status --json`, its experiments as table rows, and
/// what waits for approval.
pub fn run(run: &RunOnRecord) -> Result<Value, NotFound> {
    let loaded = spec_of(run)?;
    let holder = if run.archived {
        None
    } else {
        crate::state::StateDir::new(repo_root_of(run), &run.spec).lock_holder()
    };
    let log_path = run.dir.join("experiment-log.yaml");
    let mut status =
        super::super::status::json_of_run(&loaded, Some(&run.log), holder.as_ref(), &log_path);
    let primary = loaded.spec.metric.primary.name.clone();
    status["run_status"] = json!(run.status());
    status["archived"] = json!(run.archived);
    status["experiment_rows"] = json!(
        run.log
            .experiments
            .iter()
            .map(|e| row(e, &primary))
            .collect::<Vec<_>>()
    );
    status["waiting_for_approval"] = json!(crate::wrapup::waiting_on_dependencies(&run.log));
    status["live_status_line"] = json!(holder.and_then(|_| live_status_line(run)));
    Ok(status)
}

/// `.optimize/<name>/` (or `.optimize/.archive/<name>/<stamp>/`) to the repository.
fn repo_root_of(run: &RunOnRecord) -> &Path {
    let mut dir = run.dir.as_path();
    while let Some(parent) = dir.parent() {
        if dir.file_name().is_some_and(|n| n == ".optimize") {
            return parent;
        }
        dir = parent;
    }
    run.dir.as_path()
}

fn live_status_line(run: &RunOnRecord) -> Option<String> {
    let line = std::fs::read_to_string(run.dir.join("status-line.txt")).ok()?;
    (!line.trim().is_empty()).then_some(line)
}

/// One experiment as a row of the experiments table.
fn row(e: &Experiment, primary: &str) -> Value {
    json!({
        "iteration": e.iteration,
        "batch": e.batch,
        "hypothesis": e.hypothesis,
        "category": e.category,
        "outcome": e.outcome.as_str(),
        "primary": e.metric(primary),
        "primary_delta": e.primary_delta,
        "primary_ci": e.record.primary_ci,
        "samples": e.sample_count,
        "variant": e.record.variant,
        "cost_usd": e.record.llm_cost_usd,
    })
}

/// The progress chart of a run, as `report.md`'s `progress.svg`.
pub fn chart(run: &RunOnRecord) -> Result<String, NotFound> {
    let loaded = spec_of(run)?;
    crate::chart::render(&run.log, &loaded.spec).map_err(|e| NotFound(e.to_string()))
}

/// One experiment: `optimize show --json`, with its full log entry, the
/// reason for its outcome, its diff and the files of its output directory.
pub fn experiment(root: &Path, run: &RunOnRecord, iteration: u64) -> Result<Value, NotFound> {
    let e = entry(&run.log, iteration)?;
    let mut shown = super::super::show::shown(run, e);
    shown["reason"] = json!(reason(e));
    shown["entry"] = serde_json::to_value(e).unwrap_or(Value::Null);
    if shown["diff"].is_null() {
        shown["diff"] = json!(diff_from_git(root, e));
    }
    shown["files"] = json!(output_files(run, iteration));
    shown.as_object_mut().map(|o| o.remove("outputs"));
    Ok(shown)
}

fn entry(log: &ExperimentLog, iteration: u64) -> Result<&Experiment, NotFound> {
    log.experiments
        .iter()
        .find(|e| e.iteration == iteration)
        .ok_or_else(|| {
            NotFound(format!(
                "run {} has no experiment #{iteration} (it has {})",
                log.run_id,
                log.experiments.len()
            ))
        })
}

/// Why the experiment ended as it did, in the log's own words.
fn reason(e: &Experiment) -> Option<String> {
    [
        e.error_message.as_ref(),
        e.deferred_reason.as_ref(),
        e.record.failure_cause.as_ref(),
        e.record.stat_verdict.as_ref(),
    ]
    .into_iter()
    .flatten()
    .next()
    .cloned()
    .or_else(|| {
        e.primary_delta
            .as_ref()
            .map(|d| format!("the primary metric moved {d}"))
    })
}

/// The change as git has it, when the output directory kept no diff.
fn diff_from_git(root: &Path, e: &Experiment) -> Option<String> {
    let parse = |s: &Option<String>| s.as_deref().and_then(crate::git::Repo::parse_oid);
    let (base, commit) = (
        parse(&e.record.base_commit)?,
        parse(&e.record.experiment_commit)?,
    );
    crate::git::Repo::open(root)
        .ok()?
        .diff_text(base, commit)
        .ok()
}

fn output_dir(run: &RunOnRecord, iteration: u64) -> PathBuf {
    run.dir.join("experiments").join(format!("{iteration:03}"))
}

/// The plain files of an experiment's output directory, by name.
fn output_files(run: &RunOnRecord, iteration: u64) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(output_dir(run, iteration))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|f| f.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|f| f.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Pages show this much of a file; the rest is on disk.
pub const FILE_LIMIT: usize = 256 * 1024;

/// One file of an experiment's output directory (measurement output,
/// transcripts), named as `experiment` lists it and nothing else.
pub fn output_file(run: &RunOnRecord, iteration: u64, name: &str) -> Result<String, NotFound> {
    entry(&run.log, iteration)?;
    if !output_files(run, iteration).iter().any(|n| n == name) {
        return Err(NotFound(format!(
            "experiment #{iteration} has no output file named {name:?}"
        )));
    }
    let bytes = std::fs::read(output_dir(run, iteration).join(name))
        .map_err(|e| NotFound(format!("cannot read {name}: {e}")))?;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(FILE_LIMIT)]).into_owned();
    Ok(if bytes.len() > FILE_LIMIT {
        format!(
            "{text}\n[... {} more bytes in the file]",
            bytes.len() - FILE_LIMIT
        )
    } else {
        text
    })
}

/// Two runs of a spec side by side, as `optimize compare --json`, with
/// both progress curves.
pub fn compare(runs: &[RunOnRecord], spec: &str, a: &str, b: &str) -> Result<Value, NotFound> {
    let (ra, rb) = (find(runs, spec, a)?, find(runs, spec, b)?);
    let primary = spec_of(rb)?.spec.metric.primary.name;
    let mut json = super::super::compare::compared(spec, ra, rb, &primary);
    json["chart_svg"] = json!(
        crate::chart::render_comparison(
            [
                (ra.log.run_id.as_str(), &ra.log),
                (rb.log.run_id.as_str(), &rb.log)
            ],
            &primary,
        )
        .ok()
    );
    Ok(json)
}

/// Experiments of every run matching `text`, as `optimize search --json`.
pub fn search(root: &Path, runs: &[RunOnRecord], text: &str) -> Value {
    match crate::search_index::search(root, runs, text) {
        Ok(hits) => json!({"hits": hits}),
        Err(e) => json!({"hits": [], "error": e.to_string()}),
    }
}
