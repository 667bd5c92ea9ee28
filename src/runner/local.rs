//! Measurements here: each run a child process group with its timeout.

use super::{Progress, RunOutput, RunnerError, Runs};
use crate::process::{self, Cancel, Invocation};

pub async fn run(r: Runs<'_>, cancel: &Cancel) -> Result<Vec<RunOutput>, RunnerError> {
    let mut outputs = Vec::new();
    for run in r.first_run..r.first_run + r.runs {
        (r.on_progress)(Progress::Run(run));
        let mut env = r.env.clone();
        env.push(("OPTIMIZE_RUN".into(), run.to_string()));
        let inv = Invocation {
            what: "the measurement",
            command: r.command,
            cwd: r.cwd,
            env,
            timeout: r.timeout,
            stdout_path: r.out_dir.join(format!("measure-{run}.stdout")),
            stderr_path: r.out_dir.join(format!("measure-{run}.stderr")),
            stdin: None,
            sandbox: r.sandbox.clone(),
        };
        let finished = process::run(inv, cancel, r.on_spawn)
            .await
            .map_err(|e| RunnerError::Spawn(e.to_string()))?;
        if let Some(message) = finished.capture_error {
            return Err(RunnerError::OurIo(message));
        }
        let failed = !finished.exit.success();
        outputs.push(RunOutput {
            run,
            exit: finished.exit,
            elapsed: finished.elapsed,
            stdout_tail: finished.stdout_tail,
            stderr_tail: finished.stderr_tail,
        });
        if failed {
            break;
        }
    }
    Ok(outputs)
}
