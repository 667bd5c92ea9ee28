//! The one error the command line reports, with its exit code and hints.

use std::fmt;

use crate::git::GitError;
use crate::log::LogError;
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

#[derive(Debug)]
pub struct CliError {
    pub kind: ExitKind,
    pub message: String,
    pub hints: Vec<String>,
}

impl CliError {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> CliError {
        CliError {
            kind,
            message: message.into(),
            hints: Vec::new(),
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

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
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
        CliError::usage(e.to_string()).hint(hint)
    }
}

impl From<LogError> for CliError {
    fn from(e: LogError) -> CliError {
        CliError::failure(e.to_string())
    }
}

impl From<LockError> for CliError {
    fn from(e: LockError) -> CliError {
        match e {
            LockError::Held { .. } => CliError::new(ExitKind::Locked, e.to_string()),
            LockError::Io { .. } => CliError::failure(e.to_string()),
        }
    }
}

impl From<GitError> for CliError {
    fn from(e: GitError) -> CliError {
        match e {
            GitError::NotARepo { .. } | GitError::Bare { .. } | GitError::NoCommits => {
                CliError::usage(e.to_string())
            }
            _ => CliError::failure(e.to_string()),
        }
    }
}
