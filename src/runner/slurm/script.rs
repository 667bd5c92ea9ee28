//! The batch job's script: each run in its own session, killed whole at the
//! timeout by a watchdog; each run's output and status to files, a `done`
//! file last.

use std::path::Path;

use super::super::Runs;
use crate::spec::SlurmSettings;

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Variables a job may see besides the measurement's own: what a shell
/// needs to find its tools. Keys and tokens never go.
const PASSED: [&str; 6] = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR"];

/// The job: every run in its own session, killed whole at the timeout.
pub(super) fn job_script(
    r: &Runs<'_>,
    dir: &Path,
    settings: &SlurmSettings,
    done: &Path,
) -> String {
    let out = dir.display().to_string();
    let mut s = format!(
        "#!/bin/sh\n# Written by optimize: {}, runs {} to {}.\n",
        r.label,
        r.first_run,
        r.first_run + r.runs - 1
    );
    for key in PASSED {
        if let Ok(v) = std::env::var(key) {
            s += &format!("export {key}={}\n", quote(&v));
        }
    }
    for (k, v) in &r.env {
        s += &format!("export {k}={}\n", quote(v));
    }
    s += &format!(
        "cd {} || {{ echo \"cannot enter the tree on $(hostname)\" >&2; exit 1; }}\n",
        quote(&r.cwd.display().to_string())
    );
    if let Some(setup) = &settings.setup {
        s += setup;
        s += "\n";
    }
    s += &format!(
        r#"out={out}
run={first}
while [ "$run" -le {last} ]; do
    OPTIMIZE_RUN=$run; export OPTIMIZE_RUN
    start=$(date +%s%N)
    rm -f "$out/measure-$run.timedout"
    setsid sh -c {command} > "$out/measure-$run.stdout" 2> "$out/measure-$run.stderr" < /dev/null &
    pid=$!
    setsid sh -c 'sleep {timeout}; touch "$1"; kill -TERM "-$2" 2>/dev/null; sleep 2; kill -KILL "-$2" 2>/dev/null' watchdog "$out/measure-$run.timedout" "$pid" &
    dog=$!
    wait "$pid"; code=$?
    kill -KILL "-$dog" 2>/dev/null
    end=$(date +%s%N)
    [ -f "$out/measure-$run.timedout" ] && code=timeout
    printf '%s %s\n' "$code" "$(( (end - start) / 1000000 ))" > "$out/measure-$run.exit.tmp"
    mv "$out/measure-$run.exit.tmp" "$out/measure-$run.exit"
    [ "$code" = 0 ] || break
    run=$((run + 1))
done
echo done > {done}.tmp && mv {done}.tmp {done}
"#,
        out = quote(&out),
        first = r.first_run,
        last = r.first_run + r.runs - 1,
        command = quote(r.command),
        timeout = r.timeout.as_secs().max(1),
        done = quote(&done.display().to_string()),
    );
    s
}
