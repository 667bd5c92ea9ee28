//! `optimize plan <spec>`: everything a run would do before its first
//! measurement, without doing it: the resolved spec, the backlog, the first
//! batch with slots, ports and worktrees, whether each file hypothesis's
//! `apply`/`patch` applies (tried in a scratch worktree that is removed),
//! and estimates of time and model cost. Nothing is left behind; `--write`
//! keeps the plan as `plan.json` in the state dir.

use std::path::Path;

use serde_json::{Value, json};

use crate::cli::PlanArgs;
use crate::commands::{Workspace, display_path, runtime};
use crate::error::CliError;
use crate::git::Repo;
use crate::log::{BacklogItem, ExperimentLog};
use crate::spec::LoadedSpec;
use crate::worktree::Worktree;

pub fn run(repo_arg: Option<&Path>, args: &PlanArgs) -> Result<(), CliError> {
    let loaded = LoadedSpec::load(&args.spec)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let spec = &loaded.spec;
    crate::run::preflight(&loaded)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    let log = ExperimentLog::load(&ws.state.log_path()).ok();
    let approved = spec.dependencies.approved.clone();
    let hypotheses_file = spec.hypotheses.file.as_ref().map(|f| loaded.dir().join(f));
    let backlog: Vec<BacklogItem> = match (&log, &hypotheses_file) {
        (Some(log), _) => log.hypothesis_backlog.clone(),
        (None, Some(file)) => crate::hypotheses::load_file(file, &approved)
            .map_err(|e| CliError::from(crate::run::RunError::from(e)))?,
        (None, None) => Vec::new(),
    };
    let base = match log.as_ref().and_then(|l| l.best.commit.as_deref()) {
        Some(c) => Repo::parse_oid(c)
            .ok_or_else(|| CliError::failure("the log's best commit is not a commit id"))?,
        None => ws.repo.head_commit()?,
    };

    let done = log.as_ref().map_or(0, |l| l.experiments.len() as u64);
    let width = (spec.execution.max_concurrent as u64)
        .min(spec.stopping.max_iterations.saturating_sub(done)) as usize;
    let first = log.as_ref().map_or(1, ExperimentLog::next_iteration);
    let batch: Vec<Value> = crate::hypotheses::select_batch(&backlog, width)
        .iter()
        .enumerate()
        .map(|(slot, &i)| {
            let iteration = first + slot as u64;
            json!({
                "slot": slot,
                "iteration": iteration,
                "hypothesis": backlog[i].description,
                "worktree": ws.state.worktrees_dir().join(crate::names::slot_label(slot)).display().to_string(),
                "branch": crate::names::exp_branch(&spec.name, iteration),
                "port": spec.parallel.port_base.map(|p| p + slot as u32),
            })
        })
        .collect();

    let tried = try_hypotheses(&ws, &loaded, &backlog, base)?;
    let estimates = estimates(&ws, &loaded, log.as_ref());
    let plan = json!({
        "spec": spec,
        "base_commit": base.to_string(),
        "resumes": log.is_some(),
        "backlog": backlog.len(),
        "hypotheses": tried,
        "batch": batch,
        "estimates": estimates,
    });
    if args.write {
        ws.state.ensure().map_err(|e| {
            CliError::failure(format!("cannot create {}", ws.state.dir.display())).caused_by(e)
        })?;
        let path = ws.state.dir.join("plan.json");
        let text = serde_json::to_string_pretty(&plan).expect("JSON always serializes");
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|e| {
            CliError::failure(format!("cannot write {}", path.display())).caused_by(e)
        })?;
        eprintln!("wrote {}", display_path(&path));
    }
    if args.json {
        crate::commands::print_json(&plan);
        return Ok(());
    }
    crate::out!("{}", text(&loaded, &plan));
    Ok(())
}

/// Each backlog item: does its `apply` or `patch` apply to the base, with
/// a change inside the scope? Items for the model or an agent are not tried.
fn try_hypotheses(
    ws: &Workspace,
    loaded: &LoadedSpec,
    backlog: &[BacklogItem],
    base: git2::Oid,
) -> Result<Vec<Value>, CliError> {
    let spec = &loaded.spec;
    if !backlog
        .iter()
        .any(|h| h.apply.is_some() || h.patch.is_some())
    {
        return Ok(backlog.iter().map(later).collect());
    }
    let state_existed = ws.state.dir.exists();
    let optimize_existed = ws.state.root().exists();
    let label = format!("plan-{}", std::process::id());
    let scratch_out = ws.state.dir.join(&label);
    let wt = Worktree::pooled(
        &ws.repo,
        &ws.state,
        &label,
        None,
        base,
        crate::spec::Clean::Full,
    )?;
    let always =
        crate::scope::always_immutable(spec, &ws.repo.root, &ws.repo.root, &loaded.file, &[]);
    let rt = runtime()?;
    let (_handle, cancel) = crate::process::Cancel::new();
    let mut out = Vec::new();
    for h in backlog {
        if h.apply.is_none() && h.patch.is_none() {
            out.push(later(h));
            continue;
        }
        let result = try_one(ws, spec, &wt, &scratch_out, h, base, &always, &rt, &cancel);
        out.push(match result {
            Ok(files) => json!({"description": h.description, "applies": true, "error": Value::Null, "files": files}),
            Err(e) => json!({"description": h.description, "applies": false, "error": e}),
        });
    }
    // Nothing of the trial stays: worktree, its admin entry, outputs, and the
    // state dir if the plan made it.
    let _ = wt.remove(&ws.repo);
    let _ = std::fs::remove_dir_all(&scratch_out);
    let _ = std::fs::remove_dir_all(ws.state.dir.join("tmp"));
    if !state_existed {
        let _ = std::fs::remove_dir_all(&ws.state.dir);
    }
    if !optimize_existed {
        let _ = std::fs::remove_dir_all(ws.state.root());
    }
    Ok(out)
}

/// A hypothesis the plan cannot try: the model or an agent implements it.
fn later(h: &BacklogItem) -> Value {
    json!({"description": h.description, "applies": Value::Null, "error": Value::Null,
        "note": "implemented by the model or the agent when the run gets to it"})
}

#[allow(clippy::too_many_arguments)]
fn try_one(
    ws: &Workspace,
    spec: &crate::spec::Spec,
    wt: &Worktree,
    out_dir: &Path,
    h: &BacklogItem,
    base: git2::Oid,
    always: &[String],
    rt: &tokio::runtime::Runtime,
    cancel: &crate::process::Cancel,
) -> Result<Vec<String>, String> {
    {
        let _git = crate::git::exclusive();
        ws.repo
            .reuse_worktree(&wt.admin, &wt.path, None, base, true)
            .map_err(|e| format!("cannot reset the scratch worktree: {e}"))?;
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("create {}: {e}", out_dir.display()))?;
    let sandbox = crate::sandbox::rules_for(
        spec,
        crate::sandbox::Kind::Implementer,
        &wt.path,
        &ws.state,
        "plan",
    );
    let site = crate::implement::Site {
        tree: &wt.path,
        out_dir,
        env: wt.env(&ws.repo.root, spec, 0, 0),
        cancel,
        on_spawn: &|_| {},
        llm: None,
        always_immutable: always,
        sandbox,
        state_dir: &ws.state.dir,
    };
    let implemented = rt.block_on(crate::implement::implement(h, spec, site, None));
    match implemented {
        Ok(_) => {}
        Err(crate::implement::ImplementFailure::Failed(m)) => return Err(m),
        Err(_) => return Err("interrupted".into()),
    }
    let commit = ws
        .repo
        .commit_worktree(
            &wt.path,
            "optimize plan: trial",
            base,
            &spec.parallel.shared_files,
            None,
        )
        .map_err(|e| e.to_string())?
        .ok_or("it leaves every file as it was")?;
    let files: Vec<String> = ws
        .repo
        .changed_files(base, commit)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    let violations = crate::scope::scope_violations(&files, spec, always);
    if violations.is_empty() {
        Ok(files)
    } else {
        Err(format!(
            "changes files outside its scope: {}",
            violations.join(", ")
        ))
    }
}

/// Runs of the measurement command an experiment takes: as many as this
/// run's experiments took so far, else what the protocol takes at most
/// (statistical sampling and the ladder stop early; their bound is given).
/// With `method: statistical` the incumbent is re-measured once a round,
/// shared by the batch.
fn runs_per_experiment(spec: &crate::spec::Spec, log: Option<&ExperimentLog>) -> f64 {
    let stability = &spec.measurement.stability;
    let statistical = stability.comparison.method() == crate::spec::ComparisonMethod::Statistical;
    let taken: Vec<f64> = log
        .into_iter()
        .flat_map(|l| &l.experiments)
        .filter_map(|e| e.sample_count.map(|n| n as f64))
        .collect();
    let candidate = if !taken.is_empty() {
        taken.iter().sum::<f64>() / taken.len() as f64
    } else if statistical {
        f64::from(stability.comparison.max_samples())
    } else if stability.mode == crate::spec::StabilityMode::Ladder {
        f64::from(stability.confirmation_repeats() + 1)
    } else {
        f64::from(stability.runs())
    };
    if statistical {
        candidate * (1.0 + 1.0 / f64::from(spec.execution.max_concurrent.max(1)))
    } else {
        candidate
    }
}

/// Time from the measurements so far (the run's, else `validate`'s
/// baseline), and model cost from the prompts and prices.
fn estimates(ws: &Workspace, loaded: &LoadedSpec, log: Option<&ExperimentLog>) -> Value {
    let spec = &loaded.spec;
    let from_log = log.and_then(|l| {
        let mut per_run: Vec<f64> = l
            .experiments
            .iter()
            .filter_map(|e| {
                let t = e.record.timings.as_ref()?.measure_s?;
                Some(t / e.sample_count.unwrap_or(1).max(1) as f64)
            })
            .collect();
        per_run.sort_by(f64::total_cmp);
        per_run.get(per_run.len() / 2).copied()
    });
    let from_validate = std::fs::read_to_string(ws.state.dir.join("validate/summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["seconds_per_run"].as_f64());
    let (seconds_per_run, source) = match (from_log, from_validate) {
        (Some(s), _) => (Some(s), "this run's measurements"),
        (None, Some(s)) => (Some(s), "optimize validate's baseline"),
        _ => (None, "unknown: run optimize validate first"),
    };
    let runs = runs_per_experiment(spec, log);
    let experiment = seconds_per_run.map(|s| s * runs);
    let iterations = spec.stopping.max_iterations as f64;
    let slots = f64::from(spec.execution.max_concurrent.max(1));
    let run_hours =
        experiment.map(|e| (e * iterations / slots / 3600.0).min(spec.stopping.max_hours));
    json!({
        "measurement_seconds_per_run": seconds_per_run,
        "time_source": source,
        "runs_per_experiment": runs,
        "experiment_seconds": experiment,
        "run_hours": run_hours,
        "model_cost": crate::estimate::estimate(spec, &ws.repo.root),
    })
}

fn text(loaded: &LoadedSpec, plan: &Value) -> String {
    let spec = &loaded.spec;
    let mut t = format!(
        "plan for \"{}\" from {}{}\n",
        spec.name,
        &plan["base_commit"].as_str().unwrap_or("")
            [..10.min(plan["base_commit"].as_str().unwrap_or("").len())],
        if plan["resumes"].as_bool() == Some(true) {
            " (resuming the current run)"
        } else {
            ""
        }
    );
    t += &format!(
        "  {} x {} runs per experiment{}, up to {} experiments, {} at a time\n",
        spec.measurement.command,
        crate::text::fmt_num(
            (plan["estimates"]["runs_per_experiment"]
                .as_f64()
                .unwrap_or(1.0)
                * 10.0)
                .round()
                / 10.0
        ),
        match spec.measurement.stability.comparison.method() {
            crate::spec::ComparisonMethod::Statistical => {
                " (at most: sampling stops once decided; the incumbent's share included)"
            }
            _ if spec.measurement.stability.mode == crate::spec::StabilityMode::Ladder => {
                " (at most: the ladder stops early)"
            }
            _ => "",
        },
        spec.stopping.max_iterations,
        spec.execution.max_concurrent
    );
    t += &format!("  backlog: {} hypotheses\n", plan["backlog"]);
    for h in plan["hypotheses"].as_array().into_iter().flatten() {
        let d = h["description"].as_str().unwrap_or("");
        match h["applies"].as_bool() {
            Some(true) => t += &format!("    applies: {d}\n"),
            Some(false) => {
                t += &format!("    BROKEN:  {d}: {}\n", h["error"].as_str().unwrap_or(""))
            }
            None => t += &format!("    later:   {d} (model or agent)\n"),
        }
    }
    t += "  first batch:\n";
    for b in plan["batch"].as_array().into_iter().flatten() {
        t += &format!(
            "    slot {} #{}: {} in {}{}\n",
            b["slot"],
            b["iteration"],
            b["hypothesis"].as_str().unwrap_or(""),
            b["worktree"].as_str().unwrap_or(""),
            b["port"]
                .as_u64()
                .map(|p| format!(", port {p}"))
                .unwrap_or_default()
        );
    }
    let e = &plan["estimates"];
    match e["run_hours"].as_f64() {
        Some(h) => {
            t += &format!(
                "  time: ~{:.1}s per experiment ({}), ~{h:.2} h for the run\n",
                e["experiment_seconds"].as_f64().unwrap_or(0.0),
                e["time_source"].as_str().unwrap_or("")
            )
        }
        None => t += &format!("  time: {}\n", e["time_source"].as_str().unwrap_or("")),
    }
    if let Some(cost) = e["model_cost"].as_str() {
        t += &format!("  {}\n", cost.replace('\n', "\n  "));
    }
    t += "  nothing was changed\n";
    t
}
