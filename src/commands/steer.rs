//! `optimize add`, `optimize steer`, `optimize stop`: requests to a run
//! from another terminal, left in its inbox (`steering.rs`) for the run to
//! apply between experiments, or for the next start when none is running.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::{AddArgs, SteerArgs, StopArgs};
use crate::commands::Workspace;
use crate::error::CliError;
use crate::log::BacklogItem;
use crate::spec::LoadedSpec;
use crate::steering::{self, Request};

pub fn add(repo_arg: Option<&Path>, args: &AddArgs) -> Result<(), CliError> {
    let (loaded, ws) = open(repo_arg, &args.spec)?;
    let mut hypotheses: Vec<BacklogItem> = args
        .descriptions
        .iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let mut item = BacklogItem::new(d.trim(), &args.category);
            item.priority = crate::log::Priority::High;
            item
        })
        .collect();
    if let Some(file) = &args.file {
        hypotheses.extend(
            crate::hypotheses::load_file(file, &loaded.spec.dependencies.approved)
                .map_err(|e| CliError::usage(e.to_string()))?,
        );
    }
    if hypotheses.is_empty() {
        return Err(CliError::usage(
            "no hypothesis to add: every description is empty",
        ));
    }
    let n = hypotheses.len() as u64;
    leave(
        &ws,
        &Request::Add { hypotheses },
        &format!(
            "{} for the backlog",
            crate::text::count(n, "hypothesis", "hypotheses")
        ),
    )
}

pub fn steer(repo_arg: Option<&Path>, args: &SteerArgs) -> Result<(), CliError> {
    let (_, ws) = open(repo_arg, &args.spec)?;
    match args.text.as_deref().map(str::trim) {
        Some("") => Err(CliError::usage(
            "the guidance is empty; to withdraw guidance: optimize steer <spec> --clear",
        )),
        Some(text) => leave(
            &ws,
            &Request::Steer {
                text: text.to_string(),
            },
            "guidance for every following hypothesis request",
        ),
        None => leave(&ws, &Request::ClearGuidance, "the guidance withdrawn"),
    }
}

pub fn stop(repo_arg: Option<&Path>, args: &StopArgs) -> Result<(), CliError> {
    let (loaded, ws) = open(repo_arg, &args.spec)?;
    let Some(holder) = ws.state.lock_holder() else {
        crate::outln!(
            "no run of \"{}\" is active; nothing to stop",
            loaded.spec.name
        );
        return Ok(());
    };
    steering::send(&ws.state.dir, &Request::Stop { now: args.now })
        .map_err(|e| inbox_error(&ws, e))?;
    crate::outln!(
        "asked the run ({holder}) to stop{}",
        if args.now {
            " now, killing every running command"
        } else {
            " as Ctrl-C would"
        }
    );
    // Stopping saves what is recorded and ends the commands: seconds.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ws.state.lock_holder().is_some() {
        if Instant::now() > deadline {
            crate::outln!(
                "it is still stopping; `optimize status {}` shows when it has",
                args.spec.display()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    crate::outln!("stopped; resume with: optimize {}", args.spec.display());
    Ok(())
}

fn open(repo_arg: Option<&Path>, spec: &Path) -> Result<(LoadedSpec, Workspace), CliError> {
    let loaded = LoadedSpec::parse_file(spec)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    Ok((loaded, ws))
}

/// Leaves `request` in the inbox and says who will read it.
fn leave(ws: &Workspace, request: &Request, what: &str) -> Result<(), CliError> {
    std::fs::create_dir_all(&ws.state.dir).map_err(|e| inbox_error(ws, e))?;
    steering::send(&ws.state.dir, request).map_err(|e| inbox_error(ws, e))?;
    match ws.state.lock_holder() {
        Some(holder) => crate::outln!(
            "sent {what} to the running run ({holder}); it reads them between experiments"
        ),
        None => crate::outln!("no run is active: {what} waits for the next start of the run"),
    }
    Ok(())
}

fn inbox_error(ws: &Workspace, e: std::io::Error) -> CliError {
    CliError::failure(format!(
        "cannot write to {}",
        steering::inbox(&ws.state.dir).display()
    ))
    .caused_by(e)
}
