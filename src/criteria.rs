//! Success criteria beside the numeric gates (`metric.criteria`): checked
//! in an experiment's worktree after its measurement. `test_pass` and
//! `command` run a shell command that must exit 0 (contained like every
//! command, with the measurement's timeout and sandbox), `file_exists` wants
//! a path in the worktree, `contains` wants text in the measurement's
//! stdout. A failed required criterion makes the experiment `degenerate`;
//! every entry records each result and the weighted share that passed.

use std::path::Path;
use std::time::Duration;

use crate::process::{Cancel, Invocation};
use crate::spec::{Criterion, CriterionKind};

pub use crate::log::CriterionResult;

/// Where criteria are checked.
pub struct Site<'a> {
    pub tree: &'a Path,
    /// The measurement's outputs (`measure-N.stdout`); criteria's go there too.
    pub out_dir: &'a Path,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub cancel: &'a Cancel,
    pub on_spawn: &'a (dyn Fn(u32) + Sync),
    pub sandbox: Option<crate::sandbox::Rules>,
}

pub async fn evaluate(criteria: &[Criterion], site: &Site<'_>) -> Vec<CriterionResult> {
    let mut out = Vec::new();
    for c in criteria {
        let (passed, details) = match c.kind {
            CriterionKind::TestPass | CriterionKind::Command => run(c, site).await,
            CriterionKind::FileExists => {
                if site.tree.join(&c.target).exists() {
                    (true, format!("{} exists", c.target))
                } else {
                    (false, format!("{} does not exist", c.target))
                }
            }
            CriterionKind::Contains => match last_stdout(site.out_dir) {
                Some((file, text)) if text.contains(&c.target) => {
                    (true, format!("found in {file}"))
                }
                Some((file, _)) => (false, format!("not in {file}")),
                None => (false, "the measurement left no stdout".into()),
            },
        };
        out.push(CriterionResult {
            name: c.name.clone(),
            kind: serde_json::to_value(c.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            passed,
            required: c.required,
            details,
        });
    }
    out
}

async fn run(c: &Criterion, site: &Site<'_>) -> (bool, String) {
    let safe: String = c
        .name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    let inv = Invocation {
        what: "a criterion's command",
        command: &c.target,
        cwd: site.tree,
        env: site.env.clone(),
        timeout: site.timeout,
        stdout_path: site.out_dir.join(format!("criterion-{safe}.stdout")),
        stderr_path: site.out_dir.join(format!("criterion-{safe}.stderr")),
        stdin: None,
        sandbox: site.sandbox.clone(),
    };
    match crate::process::run(inv, site.cancel, site.on_spawn).await {
        Ok(done) if done.exit.success() => (true, "exited 0".into()),
        Ok(done) => {
            let tail = crate::process::tail_lines(&done.stderr_tail, 3);
            (
                false,
                if tail.is_empty() {
                    format!("`{}` {}", c.target, done.exit)
                } else {
                    format!("`{}` {}: {tail}", c.target, done.exit)
                },
            )
        }
        Err(e) => (false, format!("cannot run `{}`: {e}", c.target)),
    }
}

/// The last run's stdout of the measurement in `out_dir`.
fn last_stdout(out_dir: &Path) -> Option<(String, String)> {
    let mut runs: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(out_dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name
                .strip_prefix("measure-")?
                .strip_suffix(".stdout")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    runs.sort();
    let (_, path) = runs.pop()?;
    let text = std::fs::read_to_string(&path).ok()?;
    let name = path.file_name()?.to_string_lossy().into_owned();
    Some((name, text))
}

/// The weighted share of criteria that passed (`None` without criteria or
/// weights).
pub fn score(results: &[CriterionResult], criteria: &[Criterion]) -> Option<f64> {
    let weight = |name: &str| {
        criteria
            .iter()
            .find(|c| c.name == name)
            .map_or(1.0, |c| c.weight)
    };
    let total: f64 = results.iter().map(|r| weight(&r.name)).sum();
    if total <= 0.0 {
        return None;
    }
    let passed: f64 = results
        .iter()
        .filter(|r| r.passed)
        .map(|r| weight(&r.name))
        .sum();
    Some((passed / total * 1e4).round() / 1e4)
}

/// The required criteria that failed, by name.
pub fn failed_required(results: &[CriterionResult]) -> Vec<&str> {
    results
        .iter()
        .filter(|r| r.required && !r.passed)
        .map(|r| r.name.as_str())
        .collect()
}
