//! The optimization spec: ce-optimize's schema plus our extensions
//! (`hypotheses`, `implementer`, `llm`, `metric.judge.items_file`).

mod harness_validation;
mod implementer;
mod marked;
mod measurement;
mod metric;
mod safety;
mod slots;
mod types;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use harness_validation::*;
pub use implementer::*;
pub use marked::{Node, Pos, did_you_mean, position_of};
pub use measurement::*;
pub use metric::*;
pub use safety::*;
pub use slots::Slots;
pub use types::*;

/// One problem in a spec, with the place it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecIssue {
    pub file: PathBuf,
    pub pos: Pos,
    pub path: String,
    pub message: String,
}

impl fmt::Display for SpecIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: ",
            self.file.display(),
            self.pos.line,
            self.pos.col
        )?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { issues: Vec<SpecIssue> },
}

/// Parses any YAML document into `T` with the spec's located errors
/// (used for hypothesis files too).
pub fn parse_located<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &Path,
) -> Result<T, SpecIssue> {
    let issue = |e: marked::DeError| SpecIssue {
        file: file.to_path_buf(),
        pos: e.pos.unwrap_or(Pos { line: 1, col: 1 }),
        path: e.path.unwrap_or_default(),
        message: e.message,
    };
    let tree = marked::parse(text).map_err(issue)?;
    marked::from_node(&tree).map_err(issue)
}

/// A spec as loaded from a file, with the tree that locates its keys.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub spec: Spec,
    pub file: PathBuf,
    pub text: String,
    tree: Node,
    /// Warnings that do not stop a run (for example uncapped judge spend).
    pub warnings: Vec<SpecIssue>,
}

impl LoadedSpec {
    /// Reads and parses a spec; its fields are typed and defaulted but not
    /// yet checked against the validation rules (see [`LoadedSpec::validate`]).
    pub fn parse_file(path: &Path) -> Result<LoadedSpec, SpecError> {
        let text = crate::fsutil::read_text(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        LoadedSpec::parse_str(&text, path)
    }

    pub fn parse_str(text: &str, file: &Path) -> Result<LoadedSpec, SpecError> {
        let located = |e: marked::DeError| SpecIssue {
            file: file.to_path_buf(),
            pos: e.pos.unwrap_or(Pos { line: 1, col: 1 }),
            path: e.path.unwrap_or_default(),
            message: e.message,
        };
        let issue = |e| SpecError::Invalid {
            issues: vec![located(e)],
        };
        let tree = marked::parse(text).map_err(issue)?;
        if !matches!(tree, Node::Map(..)) {
            return Err(issue(marked::DeError::at(
                tree.pos(),
                "a spec must be a YAML mapping with name, description, metric, measurement and scope",
            )));
        }
        let spec: Spec = marked::from_node_all(&tree).map_err(|problems| SpecError::Invalid {
            issues: problems.into_iter().map(located).collect(),
        })?;
        Ok(LoadedSpec {
            spec,
            file: file.to_path_buf(),
            text: text.to_string(),
            tree,
            warnings: Vec::new(),
        })
    }

    /// Parses and applies every validation rule, including "not supported yet".
    pub fn load(path: &Path) -> Result<LoadedSpec, SpecError> {
        let mut loaded = LoadedSpec::parse_file(path)?;
        loaded.validate()?;
        // No child this process starts sees the model's key.
        crate::child_env::protect([loaded.spec.llm.api_key_env.clone()]);
        Ok(loaded)
    }

    pub fn validate(&mut self) -> Result<(), SpecError> {
        self.resolve_agent();
        let findings = validate::check(&self.spec);
        let (errors, warnings): (Vec<_>, Vec<_>) = findings.into_iter().partition(|f| !f.warning);
        self.warnings = warnings
            .into_iter()
            .map(|f| self.issue(&f.path, f.message))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Invalid {
                issues: errors
                    .into_iter()
                    .map(|f| self.issue(&f.path, f.message))
                    .collect(),
            })
        }
    }

    /// `implementer.agent`: an agent command implementer, with the preset's
    /// command line unless the spec gives its own.
    fn resolve_agent(&mut self) {
        let Some(agent) = self.spec.implementer.agent else {
            return;
        };
        self.spec.implementer.kind = ImplementerKind::Command;
        if self.spec.implementer.command.is_none() {
            self.spec.implementer.command = Some(agent.command(&self.spec.agent_target()));
        }
    }

    pub fn issue(&self, path: &str, message: impl Into<String>) -> SpecIssue {
        SpecIssue {
            file: self.file.clone(),
            pos: self.tree.locate(path),
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// The directory the spec lives in; `hypotheses.file` is relative to it.
    pub fn dir(&self) -> PathBuf {
        match self.file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}
