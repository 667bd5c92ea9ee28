//! The validation rules of ce-optimize's spec schema, plus ours, plus a plain
//! "not supported yet" for every field whose behaviour is not built.

use std::collections::HashSet;

use super::*;

mod extensions;
mod measurement;
mod metric;

use extensions::check_extensions;
use measurement::check_measurement;
use metric::check_metric;

pub struct Finding {
    pub path: String,
    pub message: String,
    pub warning: bool,
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Finding {
            path: path.into(),
            message: message.into(),
            warning: false,
        });
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Finding {
            path: path.into(),
            message: message.into(),
            warning: true,
        });
    }

    fn unsupported(&mut self, path: impl Into<String>, what: &str) {
        self.error(
            path,
            format!("{what} is not supported yet; remove it or use a supported setting"),
        );
    }
}

pub fn check(spec: &Spec) -> Vec<Finding> {
    let mut f = Findings::default();
    check_name(spec, &mut f);
    check_metric(spec, &mut f);
    check_measurement(spec, &mut f);
    check_scope(spec, &mut f);
    check_execution(spec, &mut f);
    check_extensions(spec, &mut f);
    f.0
}

fn is_kebab(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// The longest spec name: it names a directory and branches
/// (`optimize-exp/<name>/exp-NNN-v-<variant>`), which most file systems
/// limit to 255 bytes a component.
const MAX_NAME: usize = 100;

/// The longest timeout a command may have (a week): beyond it a timer
/// cannot be armed (and no measurement is meant to take longer).
const MAX_TIMEOUT: u64 = 7 * 24 * 3600;

/// The most runs of the measurement command one measurement may ask for.
pub const MAX_RUNS: u32 = 1000;

fn check_name(spec: &Spec, f: &mut Findings) {
    if spec.name.len() > MAX_NAME {
        f.error(
            "name",
            format!(
                "is {} bytes long; at most {MAX_NAME} (it names the state directory and the branches)",
                spec.name.len()
            ),
        );
    } else if !is_kebab(&spec.name) {
        f.error(
            "name",
            format!(
                "\"{}\" is not lowercase kebab-case (letters a-z, digits and single hyphens, e.g. \"improve-build-latency\")",
                spec.name
            ),
        );
    }
    if spec.description.trim().is_empty() {
        f.error("description", "must not be empty");
    }
}

fn check_relative_path(key: &str, path: &str, f: &mut Findings) {
    let p = std::path::Path::new(path);
    if p.is_absolute() {
        f.error(
            key,
            format!("\"{path}\" must be relative to the repository root"),
        );
    } else if p.components().any(|c| c == std::path::Component::ParentDir) {
        f.error(
            key,
            format!("\"{path}\" must stay inside the repository (no \"..\")"),
        );
    }
}

fn check_scope(spec: &Spec, f: &mut Findings) {
    if spec.scope.mutable.is_empty() {
        f.error("scope.mutable", "must have at least one entry");
    }
    if spec.scope.immutable.is_empty() {
        f.error(
            "scope.immutable",
            "must have at least one entry (list the measurement harness here)",
        );
    }
    for (list, entries) in [
        ("mutable", &spec.scope.mutable),
        ("immutable", &spec.scope.immutable),
    ] {
        for (i, entry) in entries.iter().enumerate() {
            let key = format!("scope.{list}[{i}]");
            if entry.trim().is_empty() {
                f.error(key, "must not be empty");
            } else {
                check_relative_path(&key, entry, f);
            }
        }
    }
    for (i, entry) in spec.parallel.shared_files.iter().enumerate() {
        check_relative_path(&format!("parallel.shared_files[{i}]"), entry, f);
    }
}

fn check_execution(spec: &Spec, f: &mut Findings) {
    let e = &spec.execution;
    if e.max_concurrent < 1 {
        f.error("execution.max_concurrent", "must be at least 1");
    }
    if e.backend == Backend::Worktree && e.max_concurrent > 6 {
        f.error(
            "execution.max_concurrent",
            format!(
                "is {} but must not exceed 6 with the worktree backend",
                e.max_concurrent
            ),
        );
    }
    match (&e.runner, &spec.slurm) {
        (RunnerKind::Slurm, Some(slurm)) => {
            if slurm.poll_seconds <= 0.0 || slurm.poll_seconds > 3600.0 {
                f.error(
                    "slurm.poll_seconds",
                    "must be a positive number of seconds, at most 3600",
                );
            } else if slurm.poll_seconds < 5.0 {
                f.warn(
                    "slurm.poll_seconds",
                    "is below 5: every poll queries the scheduler, which busy clusters discourage",
                );
            }
        }
        (RunnerKind::Local, Some(_)) => {
            f.warn("slurm", "is ignored unless execution.runner is slurm")
        }
        _ => {}
    }
    if e.backend == Backend::Codex {
        f.unsupported("execution.backend", "the codex backend");
    }
    if e.codex_security.is_some() {
        f.unsupported(
            "execution.codex_security",
            "codex_security (it applies to the codex backend)",
        );
    }
    if !spec.parallel.exclusive_resources.is_empty() && e.mode != ExecutionMode::Serial {
        f.warn(
            "parallel.exclusive_resources",
            "is set, so experiments run one at a time even though execution.mode is parallel",
        );
    }
    let p = &spec.parallel;
    if p.port_strategy == Some(PortStrategy::Parameterized)
        && (p.port_env_var.is_none() || p.port_base.is_none())
    {
        f.error(
            "parallel.port_strategy",
            "is parameterized, so parallel.port_env_var and parallel.port_base must both be set",
        );
    }
    if p.port_env_var.is_some() != p.port_base.is_some() {
        f.error(
            if p.port_env_var.is_some() {
                "parallel.port_env_var"
            } else {
                "parallel.port_base"
            },
            "parallel.port_env_var and parallel.port_base must be set together",
        );
    }
    check_stopping(&spec.stopping, f);
}

fn check_stopping(s: &crate::spec::Stopping, f: &mut Findings) {
    if s.max_iterations == 0 {
        f.error("stopping.max_iterations", "must be at least 1");
    }
    if s.max_hours.is_nan() || s.max_hours <= 0.0 {
        f.error("stopping.max_hours", "must be a positive number of hours");
    }
    if s.max_wall_hours.is_nan() || s.max_wall_hours <= 0.0 {
        f.error(
            "stopping.max_wall_hours",
            "must be a positive number of hours",
        );
    }
    if s.plateau_iterations == 0 {
        f.error("stopping.plateau_iterations", "must be at least 1");
    }
}

#[cfg(test)]
mod tests {
    use super::is_kebab;

    #[test]
    fn kebab_names() {
        assert!(is_kebab("improve-build-latency"));
        assert!(is_kebab("a1"));
        assert!(!is_kebab("Improve"));
        assert!(!is_kebab("a--b"));
        assert!(!is_kebab("-a"));
        assert!(!is_kebab("a_b"));
    }
}
