//! The one error the command line reports: a message, the chain of causes
//! (`caused by:`), hints, and the exit code. Every library error maps here,
//! exhaustively, so a new variant must say which exit code it means.

use std::error::Error as StdError;
use std::fmt;

use crate::approvals::ApprovalsError;
use crate::demo::DemoError;
use crate::git::GitError;
use crate::log::LogError;
use crate::report::ReportError;
use crate::run::{BaselineError, RunError};
use crate::spec::SpecError;
use crate::state::LockError;

/// Exit codes of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: the work failed.
    Failure,
    /// 2: invalid usage or spec.
    Usage,
    /// 3: another run holds the lock.
    Locked,
    /// 130: interrupted; the run is resumable.
    Interrupted,
}

impl ExitKind {
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Failure => 1,
            ExitKind::Usage => 2,
            ExitKind::Locked => 3,
            ExitKind::Interrupted => 130,
        }
    }
}

type Source = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug)]
pub struct CliError {
    pub kind: ExitKind,
    pub message: String,
    pub hints: Vec<String>,
    source: Option<Source>,
    /// The source's own text is the message; print only its causes.
    skip_first: bool,
}

impl CliError {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> CliError {
        CliError {
            kind,
            message: message.into(),
            hints: Vec::new(),
            source: None,
            skip_first: false,
        }
    }

    pub fn failure(message: impl Into<String>) -> CliError {
        CliError::new(ExitKind::Failure, message)
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(ExitKind::Usage, message)
    }

    pub fn interrupted(message: impl Into<String>) -> CliError {
        CliError::new(ExitKind::Interrupted, message)
    }

    /// A library error: its text is the message, its causes the chain.
    pub fn from_error(kind: ExitKind, e: impl StdError + Send + Sync + 'static) -> CliError {
        CliError::new(kind, e.to_string()).caused_by_chain_of(e)
    }

    /// Keeps `e` as the cause, printed under the message.
    pub fn caused_by(mut self, e: impl StdError + Send + Sync + 'static) -> CliError {
        self.source = Some(Box::new(e));
        self.skip_first = false;
        self
    }

    /// Keeps the causes of `e` (not `e` itself, whose text is the message).
    fn caused_by_chain_of(mut self, e: impl StdError + Send + Sync + 'static) -> CliError {
        self.source = Some(Box::new(e));
        self.skip_first = true;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }

    /// The causes, outermost first, without those whose text the message
    /// (or an outer cause) already shows.
    pub fn causes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut next: Option<&(dyn StdError + 'static)> = match &self.source {
            Some(s) if self.skip_first => s.source(),
            Some(s) => Some(s.as_ref()),
            None => None,
        };
        while let Some(e) = next {
            let text = e.to_string();
            let shown = self.message.contains(&text) || out.iter().any(|o| o.contains(&text));
            if !shown && !text.is_empty() {
                out.push(text);
            }
            next = e.source();
        }
        out
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for cause in self.causes() {
            write!(f, "\ncaused by: {cause}")?;
        }
        for h in &self.hints {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl From<SpecError> for CliError {
    fn from(e: SpecError) -> CliError {
        let hint = match &e {
            SpecError::Invalid { .. } => {
                "the spec format is described in README.md (Spec reference)"
            }
            SpecError::Read { .. } => "pass the path of a spec YAML file",
        };
        CliError::from_error(ExitKind::Usage, e).hint(hint)
    }
}

impl From<LogError> for CliError {
    fn from(e: LogError) -> CliError {
        let kind = match e {
            LogError::Read { .. }
            | LogError::Corrupt { .. }
            | LogError::Write { .. }
            | LogError::Truncated { .. } => ExitKind::Failure,
        };
        CliError::from_error(kind, e)
    }
}

impl From<LockError> for CliError {
    fn from(e: LockError) -> CliError {
        let kind = match e {
            LockError::Held { .. } => ExitKind::Locked,
            LockError::Io { .. } => ExitKind::Failure,
        };
        CliError::from_error(kind, e)
    }
}

impl From<GitError> for CliError {
    fn from(e: GitError) -> CliError {
        CliError::from_error(git_kind(&e), e)
    }
}

impl From<ApprovalsError> for CliError {
    fn from(e: ApprovalsError) -> CliError {
        let kind = match e {
            ApprovalsError::Read { .. }
            | ApprovalsError::Corrupt { .. }
            | ApprovalsError::Write { .. } => ExitKind::Failure,
        };
        CliError::from_error(kind, e)
    }
}

impl From<ReportError> for CliError {
    fn from(e: ReportError) -> CliError {
        let kind = match e {
            ReportError::Chart(_) | ReportError::Write { .. } | ReportError::Git(_) => {
                ExitKind::Failure
            }
        };
        CliError::from_error(kind, e)
    }
}

impl From<DemoError> for CliError {
    fn from(e: DemoError) -> CliError {
        let kind = match e {
            DemoError::NotEmpty { .. } | DemoError::Write { .. } | DemoError::Git(_) => {
                ExitKind::Failure
            }
        };
        CliError::from_error(kind, e)
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> CliError {
        let kind = match &e {
            RunError::Git(g) => git_kind(g),
            RunError::Interrupted => ExitKind::Interrupted,
            RunError::Baseline(BaselineError::Interrupted) => ExitKind::Interrupted,
            RunError::Hypotheses(_)
            | RunError::ModelNeeded { .. }
            | RunError::SandboxUnavailable(_)
            | RunError::SpecStale(_)
            | RunError::NoExperiment { .. } => ExitKind::Usage,
            RunError::Log(_)
            | RunError::Approvals(_)
            | RunError::Baseline(_)
            | RunError::BaselineGates(_)
            | RunError::ShortcutRewarded { .. }
            | RunError::BranchExists { .. }
            | RunError::NoBestCommit
            | RunError::NoExperimentCommit { .. }
            | RunError::Io { .. }
            | RunError::ModelOutage { .. }
            | RunError::OurIo { .. }
            | RunError::RepeatedFailure { .. }
            | RunError::ReplayStopped(_)
            | RunError::Model { .. } => ExitKind::Failure,
        };
        let message = match &e {
            RunError::Interrupted => match crate::process::interrupted_commands() {
                running if running.is_empty() => {
                    "interrupted; everything recorded is in the log".to_string()
                }
                running => format!(
                    "interrupted: {running} {} stopped, and everything recorded is in the log",
                    if running.contains(" and ") {
                        "were"
                    } else {
                        "was"
                    }
                ),
            },
            other => other.to_string(),
        };
        CliError::new(kind, message).caused_by_chain_of(e)
    }
}

/// Not being in a usable repository is a usage error; the rest are failures.
fn git_kind(g: &GitError) -> ExitKind {
    match g {
        GitError::NotARepo { .. }
        | GitError::DubiousOwnership { .. }
        | GitError::Bare { .. }
        | GitError::NoCommits => ExitKind::Usage,
        GitError::Git { .. } | GitError::Io { .. } => ExitKind::Failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write the log")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_printed_once_each() {
        let e = CliError::from_error(
            ExitKind::Failure,
            Outer(std::io::Error::other("No space left on device")),
        )
        .hint("free some space");
        assert_eq!(
            e.to_string(),
            "error: cannot write the log\ncaused by: No space left on device\nhint: free some space"
        );
        let shown =
            CliError::failure("cannot open x: denied").caused_by(std::io::Error::other("denied"));
        assert_eq!(shown.to_string(), "error: cannot open x: denied");
    }

    #[test]
    fn run_errors_map_to_their_exit_codes() {
        assert_eq!(
            CliError::from(RunError::Interrupted).kind,
            ExitKind::Interrupted
        );
        assert_eq!(
            CliError::from(RunError::BaselineGates(vec!["ok".into()])).kind,
            ExitKind::Failure
        );
        assert_eq!(
            CliError::from(RunError::Git(GitError::NoCommits)).kind,
            ExitKind::Usage
        );
    }
}
