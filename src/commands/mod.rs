//! One module per command; each turns library results into output.

mod ablate;
mod approve;
mod clean;
mod compare;
mod completions;
mod decide;
mod demo;
mod finalize;
mod plan;
mod replay;
mod report;
mod retry;
mod run;
mod runs;
mod search;
mod serve;
mod show;
mod status;
mod steer;
mod validate;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::error::CliError;
use crate::git::Repo;
use crate::spec::LoadedSpec;
use crate::state::StateDir;

/// The program: the containment shim when asked for, else the command line
/// parsed, the command run, its error printed and mapped to an exit code.
pub fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == crate::contain::ARG) {
        return ExitCode::from(crate::contain::main(&args[2..]).clamp(0, 255) as u8);
    }
    let cli = match crate::cli::parse(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                crate::error::ExitKind::Usage.code()
            } else {
                0
            });
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{e}");
            ExitCode::from(e.kind.code())
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), CliError> {
    let repo_arg = cli.repo.as_deref();
    match cli.command {
        Command::Validate(args) => validate::run(repo_arg, &args),
        Command::Status(args) => status::run(repo_arg, &args),
        Command::Run(args) => run::run(repo_arg, &args),
        Command::Approve(args) => approve::approve(repo_arg, &args),
        Command::Deny(args) => approve::deny(repo_arg, &args),
        Command::Report(args) => report::run(repo_arg, &args),
        Command::Demo(args) => demo::run(&args),
        Command::Decide(args) => decide::run(&args),
        Command::Runs(args) => runs::run(repo_arg, &args),
        Command::Plan(args) => plan::run(repo_arg, &args),
        Command::Replay(args) => replay::run(repo_arg, &args),
        Command::Show(args) => show::run(repo_arg, &args),
        Command::Compare(args) => compare::run(repo_arg, &args),
        Command::Clean(args) => clean::run(repo_arg, &args),
        Command::Retry(args) => retry::run(repo_arg, &args),
        Command::Search(args) => search::run(repo_arg, &args),
        Command::Serve(args) => serve::run(repo_arg, &args),
        Command::Add(args) => steer::add(repo_arg, &args),
        Command::Steer(args) => steer::steer(repo_arg, &args),
        Command::Stop(args) => steer::stop(repo_arg, &args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man => completions::man(),
        Command::Finalize(args) => finalize::run(repo_arg, &args),
        Command::Ablate(args) => ablate::run(repo_arg, &args),
    }
}

/// Prints a command's `--json` output.
pub fn print_json(value: &impl serde::Serialize) {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON always serializes")
    );
}

/// The repository at `--repo DIR`, or around the current directory.
pub fn repo_at(repo_arg: Option<&Path>) -> Result<Repo, CliError> {
    let start = match repo_arg {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir()
            .map_err(|e| CliError::failure(format!("cannot read the current directory: {e}")))?,
    };
    Ok(Repo::discover(&start)?)
}

/// The repository (from --repo or the current directory) and the spec's state dir.
pub struct Workspace {
    pub repo: Repo,
    pub state: StateDir,
}

impl Workspace {
    pub fn open(repo_arg: Option<&Path>, spec: &LoadedSpec) -> Result<Workspace, CliError> {
        let repo = repo_at(repo_arg)?;
        let state = StateDir::new(&repo.root, &spec.spec.name);
        Ok(Workspace { repo, state })
    }

    /// The run's log, read by the lock holder; an error saying `why` it is
    /// needed when the spec has no run yet.
    pub fn owned_log(
        &self,
        spec: &LoadedSpec,
        why: &str,
    ) -> Result<crate::log::ExperimentLog, CliError> {
        let path = self.state.log_path();
        if !path.exists() {
            return Err(CliError::failure(format!(
                "\"{}\" has no run yet, so {why}",
                spec.spec.name
            )));
        }
        Ok(crate::log::ExperimentLog::load_owned(&path)?)
    }
}

/// Runs `work` on a runtime where Ctrl-C cancels it (the commands it
/// starts are killed) and a second one exits at once.
pub fn cancellable<T>(
    work: impl AsyncFnOnce(&crate::process::Cancel, &crate::events::Events) -> Result<T, CliError>,
) -> Result<T, CliError> {
    runtime()?.block_on(async {
        let (handle, cancel) = crate::process::Cancel::new();
        let events = crate::events::Events::none();
        crate::signals::install(handle, events.clone(), None)
            .map_err(|e| CliError::failure("cannot listen for signals").caused_by(e))?;
        work(&cancel, &events).await
    })
}

/// Commits measured one after another with the spec's protocol.
pub fn measure_in_turn(
    ws: &Workspace,
    loaded: &LoadedSpec,
    commits: &[(String, git2::Oid)],
) -> Result<Vec<crate::remeasure::Measurement>, CliError> {
    cancellable(async |cancel, events| {
        crate::remeasure::measure_all(&ws.repo, &ws.state, &loaded.spec, commits, cancel, events)
            .await
            .map_err(measurement_error)
    })
}

/// A measurement after the run that did not finish.
pub fn measurement_error(e: crate::run::BaselineError) -> CliError {
    match e {
        crate::run::BaselineError::Interrupted => {
            CliError::interrupted("interrupted; what was measured so far is not kept, run it again")
        }
        e => CliError::from(crate::run::RunError::Baseline(e)),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))
}

/// A path as the user should see it: relative to the current directory when shorter.
pub fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    match path.strip_prefix(&cwd) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

pub use crate::text::fmt_num;
