//! `optimize <spec>`: start or resume a run, then print the wrap-up.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use crate::cli::RunArgs;
use crate::commands::{Workspace, display_path, runtime};
use crate::error::CliError;
use crate::events::{Events, JsonLines, PlainReporter, Sink, TracingSink};
use crate::process::Cancel;
use crate::run::{self, RunError};
use crate::spec::LoadedSpec;
use crate::state::StateDir;
use crate::{names, signals, wrapup};

pub fn run(repo_arg: Option<&Path>, args: &RunArgs) -> Result<(), CliError> {
    execute(repo_arg, args).map(|_| ())
}

/// Runs the loop and prints the wrap-up; returns the finished log.
pub fn execute(
    repo_arg: Option<&Path>,
    args: &RunArgs,
) -> Result<crate::log::ExperimentLog, CliError> {
    let mut loaded = LoadedSpec::load(&args.spec)?;
    if !args.quiet {
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
    }
    apply_overrides(&mut loaded, args)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    let _lock = ws.state.lock()?;
    if args.fresh {
        archive(&ws)?;
    }
    init_tracing(&ws.state.dir.join("optimize.log"));
    let rt = runtime()?;
    let events = run_events(&ws.state, args.quiet)?;
    let finish = rt.block_on(async {
        let (handle, cancel) = Cancel::new();
        // A stop asked for as an earlier session ended is not this one's.
        if crate::steering::take_stop(&ws.state.dir).is_some() {
            events.emit(crate::events::Event::warning(
                "dropped an `optimize stop` request left from before this start",
            ));
        }
        signals::install(handle, events.clone(), Some(ws.state.dir.clone()))
            .map_err(|e| CliError::failure("cannot listen for signals").caused_by(e))?;
        let req = run::Request {
            loaded: &loaded,
            repo_root: ws.repo.root.clone(),
            state: ws.state.clone(),
            events,
            cancel,
        };
        let finish = run::run(req).await.map_err(|e| run_error(e, &args.spec));
        signals::loop_ended();
        finish
    });
    crate::run::fault("wrap-up");
    // Every run's end, however it ended, is on record across runs.
    let (summaries, _) = crate::history::summaries(&ws.repo.root);
    if let Err(e) = crate::history::write_index(&ws.repo.root, &summaries) {
        tracing::warn!("cannot write .optimize/index.csv: {e}");
    }
    let mut finish = finish?;
    if loaded.spec.wrapup.ablation && !finish.already_complete && finish.stop.is_run_condition() {
        ablate_at_wrap_up(&ws, &loaded, &mut finish.log);
    }
    let written = print_wrap_up(&ws, &loaded, &finish, &args.spec);
    let mut log = finish.log;
    if let Some(w) = written.filter(|_| loaded.spec.wrapup.commit_report) {
        commit_report(&ws, &loaded, &mut log, &w);
    }
    if !args.quiet && std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        ask_approvals(&ws, &loaded, &mut log, &args.spec)?;
    }
    Ok(log)
}

/// `wrapup.ablation`: the verdicts into the log before the report is
/// written; a failed ablation is a warning, the run's results stand.
fn ablate_at_wrap_up(ws: &Workspace, loaded: &LoadedSpec, log: &mut crate::log::ExperimentLog) {
    if !log.experiments.iter().any(|e| e.outcome.is_kept()) {
        return;
    }
    match super::ablate::ablate(ws, loaded, log) {
        Ok(record) => {
            log.run.ablation = Some(record);
            if let Err(e) = log.save(&ws.state.log_path()) {
                eprintln!("warning: cannot record the ablation in the log: {e}");
            }
        }
        Err(e) => eprintln!("warning: the ablation at wrap-up did not finish: {e}"),
    }
}

/// The wrap-up, how to extend a complete run, and where the log, the report
/// and the branch are.
fn print_wrap_up(
    ws: &Workspace,
    loaded: &LoadedSpec,
    finish: &run::Finish,
    spec_file: &Path,
) -> Option<crate::report::Written> {
    crate::out!(
        "{}",
        wrapup::render(
            &finish.log,
            &loaded.spec,
            spec_file,
            &finish.stop.to_string()
        )
    );
    if finish.already_complete {
        crate::outln!(
            "\nthis run is complete ({}); nothing new was run.\n\
             extend it with: {}\n\
             start anew with: optimize run {} --fresh",
            finish.stop,
            extend_hint(&finish.stop, &loaded.spec, &finish.log, spec_file),
            spec_file.display()
        );
    }
    crate::outln!("log: {}", display_path(&ws.state.log_path()));
    let written = match crate::report::write(
        &finish.log,
        &loaded.spec,
        spec_file,
        &ws.state,
        Some(&ws.repo),
    ) {
        Ok(w) => {
            crate::outln!(
                "report: {} and {}",
                display_path(&w.report),
                display_path(&w.chart)
            );
            Some(w)
        }
        Err(e) => {
            eprintln!("warning: could not write the report: {e}");
            None
        }
    };
    let branch = names::opt_branch(&loaded.spec.name);
    crate::outln!("branch: {branch} (git log {branch} to review; merge it when happy)");
    written
}

/// `wrapup.commit_report`: the report committed on the branch, on top of the
/// best's measured commit, and the log told (it is the branch head while the
/// run rests; a resume sets it aside).
fn commit_report(
    ws: &Workspace,
    loaded: &LoadedSpec,
    log: &mut crate::log::ExperimentLog,
    w: &crate::report::Written,
) {
    // An earlier wrap-up's report: this one goes on the measured best.
    log.set_report_aside(&ws.repo);
    match crate::report::commit_on_branch(&ws.repo, log, &loaded.spec, w) {
        Ok(commit) => {
            log.best.commit = Some(commit.to_string());
            log.run.report_commit = Some(commit.to_string());
            match log.save(&ws.state.log_path()) {
                Ok(()) => crate::outln!(
                    "the report is committed on {} as optimize/{}-report.md",
                    names::opt_branch(&loaded.spec.name),
                    loaded.spec.name
                ),
                Err(e) => {
                    eprintln!("warning: the report is committed, but the log could not say so: {e}")
                }
            }
        }
        Err(e) => eprintln!("warning: {e}"),
    }
}

/// The command that continues a run which stopped for `stop`: it lifts
/// exactly the limit that stopped it, so following it does something.
fn extend_hint(
    stop: &crate::stop::StopReason,
    spec: &crate::spec::Spec,
    log: &crate::log::ExperimentLog,
    spec_file: &Path,
) -> String {
    use crate::stop::StopReason;
    let again = format!("optimize {}", spec_file.display());
    let added = "(or add hypotheses to the log's hypothesis_backlog)";
    match stop {
        StopReason::MaxIterations(_) => format!(
            "{again} --max-iterations {} {added}",
            log.experiments.len() as u64 + 10
        ),
        StopReason::MaxHours(h) => format!("{again} --max-hours {}", fmt_hours(h * 2.0)),
        StopReason::MaxWallHours(h) => format!(
            "raise stopping.max_wall_hours (now {}) in {}, then {again}",
            fmt_hours(*h),
            spec_file.display()
        ),
        StopReason::Plateau(_) => format!(
            "{again} --plateau-iterations {} {added}",
            log.since_last_keep() + spec.stopping.plateau_iterations.max(10)
        ),
        _ => {
            let waiting = wrapup::waiting_on_dependencies(log);
            if waiting.is_empty() {
                format!("hypotheses added to the log's hypothesis_backlog, then {again}")
            } else {
                let deps: Vec<&str> = waiting.keys().map(String::as_str).collect();
                format!(
                    "optimize approve {} {}, then {again} (or hypotheses added to the log's hypothesis_backlog)",
                    spec_file.display(),
                    deps.join(" ")
                )
            }
        }
    }
}

fn fmt_hours(h: f64) -> String {
    crate::text::fmt_num((h * 100.0).ceil() / 100.0)
}

/// On a terminal: approve, deny or leave for later each dependency that
/// hypotheses wait on.
fn ask_approvals(
    ws: &Workspace,
    loaded: &LoadedSpec,
    log: &mut crate::log::ExperimentLog,
    spec_file: &Path,
) -> Result<(), CliError> {
    use std::io::{BufRead, Write};
    let waiting = wrapup::waiting_on_dependencies(log);
    if waiting.is_empty() {
        return Ok(());
    }
    let mut approvals = crate::approvals::Approvals::load(&ws.state.approvals_path())?;
    let (mut approved, mut denied) = (Vec::new(), Vec::new());
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    'deps: for (dep, who) in &waiting {
        loop {
            crate::out!(
                "approve dependency {dep} ({} hypothes{} waiting)? [a]pprove / [d]eny / [l]ater: ",
                who.len(),
                if who.len() == 1 { "is" } else { "es" }
            );
            let _ = std::io::stdout().flush();
            let Some(Ok(answer)) = lines.next() else {
                crate::outln!();
                break 'deps;
            };
            match answer.trim().to_ascii_lowercase().as_str() {
                "a" | "approve" | "y" | "yes" => approved.push(dep.clone()),
                "d" | "deny" | "n" | "no" => denied.push(dep.clone()),
                "l" | "later" | "" => {}
                _ => continue,
            }
            break;
        }
    }
    save_answers(
        ws,
        loaded,
        log,
        &mut approvals,
        &approved,
        &denied,
        spec_file,
    )
}

fn save_answers(
    ws: &Workspace,
    loaded: &LoadedSpec,
    log: &mut crate::log::ExperimentLog,
    approvals: &mut crate::approvals::Approvals,
    approved: &[String],
    denied: &[String],
    spec_file: &Path,
) -> Result<(), CliError> {
    if approved.is_empty() && denied.is_empty() {
        return Ok(());
    }
    approved.iter().for_each(|d| approvals.approve(d));
    denied.iter().for_each(|d| approvals.deny(d));
    approvals.save(&ws.state.approvals_path())?;
    let applied = crate::approvals::apply(log, approvals, &loaded.spec.dependencies.approved);
    log.save(&ws.state.log_path())?;
    let next = super::approve::next_run(log, &loaded.spec, &applied, spec_file);
    if !approved.is_empty() {
        super::approve::print_applied(approved, true, &applied, &next);
    }
    if !denied.is_empty() {
        super::approve::print_applied(denied, false, &crate::approvals::Applied::default(), &next);
    }
    Ok(())
}

fn apply_overrides(loaded: &mut LoadedSpec, args: &RunArgs) -> Result<(), CliError> {
    let o = &args.overrides;
    let spec = &mut loaded.spec;
    if let Some(n) = o.max_iterations {
        if n == 0 {
            return Err(CliError::usage("--max-iterations must be at least 1"));
        }
        spec.stopping.max_iterations = n;
    }
    if let Some(h) = o.max_hours {
        if h.is_nan() || h <= 0.0 {
            return Err(CliError::usage("--max-hours must be a positive number"));
        }
        spec.stopping.max_hours = h;
    }
    if let Some(n) = o.max_concurrent {
        if !(1..=6).contains(&n) {
            return Err(CliError::usage(
                "--max-concurrent must be between 1 and 6 (the worktree backend's cap)",
            ));
        }
        spec.execution.max_concurrent = n;
    }
    if let Some(n) = o.plateau_iterations {
        if n == 0 {
            return Err(CliError::usage("--plateau-iterations must be at least 1"));
        }
        spec.stopping.plateau_iterations = n;
    }
    Ok(())
}

/// The run's error with what the user can do about it.
fn run_error(e: RunError, spec_file: &Path) -> CliError {
    let resume = format!("resume with: optimize {}", spec_file.display());
    let hint = match &e {
        RunError::Interrupted => Some(resume),
        RunError::BaselineGates(_) | RunError::Baseline(_) | RunError::ShortcutRewarded { .. } => {
            Some(format!(
                "`optimize validate {}` measures the baseline alone",
                spec_file.display()
            ))
        }
        RunError::ModelOutage { .. } | RunError::Model { .. } | RunError::OurIo { .. } => {
            Some(format!("everything recorded is in the log; {resume}"))
        }
        RunError::RepeatedFailure { .. } => Some(format!(
            "every entry is in the log (optimize show {} N); once the cause is fixed, {resume}",
            spec_file.display()
        )),
        _ => None,
    };
    let error = CliError::from(e);
    match hint {
        Some(h) => error.hint(h),
        None => error,
    }
}

/// Every run's events go to `optimize.log` and `events.jsonl`; the terminal
/// gets live progress (a status line on a TTY, plain lines otherwise) unless
/// `--quiet`.
fn run_events(state: &StateDir, quiet: bool) -> Result<Events, CliError> {
    let path = state.events_path();
    let jsonl = JsonLines::append_to(&path)
        .map_err(|e| CliError::failure(format!("cannot open {}", path.display())).caused_by(e))?;
    let mut sinks: Vec<Arc<dyn Sink>> = vec![
        Arc::new(TracingSink),
        Arc::new(jsonl),
        Arc::new(crate::progress::StatusFile::at(state.status_line_path())),
    ];
    if !quiet {
        if std::io::stderr().is_terminal() {
            sinks.push(Arc::new(crate::progress::TtyReporter::new()));
        } else {
            sinks.push(Arc::new(PlainReporter::new()));
        }
    }
    Ok(Events::new(sinks))
}

/// `--fresh`: moves the old state to `.optimize/.archive/<name>/<ts>/` and
/// the branches to `optimize-archive/<name>/<ts>` (experiments under
/// `optimize-archive-exp/<name>/<ts>/`), so nothing of the old run is lost.
fn archive(ws: &Workspace) -> Result<(), CliError> {
    let name = &ws.state.name;
    let ts = crate::clock::compact_now();
    let fail = |e: String| CliError::failure(format!("cannot archive the previous run: {e}"));
    let branch = names::opt_branch(name);
    if let Some(commit) = ws
        .repo
        .branch_commit(&branch)
        .map_err(|e| fail(e.to_string()))?
    {
        ws.repo
            .set_branch(&names::archive_branch(name, &ts), commit)
            .and_then(|_| ws.repo.delete_branch(&branch))
            .map_err(|e| fail(e.to_string()))?;
    }
    // A killed run's worktrees hold its branches checked out.
    crate::worktree::Worktree::remove_labelled(&ws.repo, &ws.state, |label| {
        !label.starts_with(names::VALIDATE_PREFIX)
    })
    .map_err(|e| fail(e.to_string()))?;
    let prefix = names::exp_branches_root(name);
    for b in ws
        .repo
        .branches_with_prefix(&prefix)
        .map_err(|e| fail(e.to_string()))?
    {
        let rest = b.trim_start_matches(&prefix);
        if let Some(commit) = ws.repo.branch_commit(&b).map_err(|e| fail(e.to_string()))? {
            ws.repo
                .set_branch(&names::archive_exp_branch(name, &ts, rest), commit)
                .and_then(|_| ws.repo.delete_branch(&b))
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    let log = ws.state.log_path();
    if log.exists() {
        // Two archives within a second get distinct directories.
        let base = ws.state.root().join(".archive").join(name);
        let mut dest = base.join(&ts);
        let mut n = 2;
        while dest.exists() {
            dest = base.join(format!("{ts}-{n}"));
            n += 1;
        }
        std::fs::create_dir_all(&dest).map_err(|e| fail(e.to_string()))?;
        for entry in std::fs::read_dir(&ws.state.dir)
            .map_err(|e| fail(e.to_string()))?
            .flatten()
        {
            let file = entry.file_name();
            if file == "lock" || file == "worktrees" {
                continue;
            }
            std::fs::rename(entry.path(), dest.join(&file)).map_err(|e| fail(e.to_string()))?;
        }
        // Said even with --quiet: it tells where the old run went.
        eprintln!(
            "archived the previous run to {} and branch {}",
            display_path(&dest),
            names::archive_branch(name, &ts)
        );
    }
    Ok(())
}

/// Diagnostics go to `.optimize/<name>/optimize.log` (level from
/// `OPTIMIZE_LOG`, default info), never to the terminal.
fn init_tracing(path: &Path) {
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPTIMIZE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}
