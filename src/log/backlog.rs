//! A hypothesis waiting in the backlog: its priority and dependency status.

use serde::{Deserialize, Serialize};
use serde_yaml::Mapping;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    Medium,
    Low,
}

impl Priority {
    pub fn rank(self) -> u8 {
        match self {
            Priority::High => 0,
            Priority::Medium => 1,
            Priority::Low => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepStatus {
    Approved,
    NeedsApproval,
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacklogItem {
    pub description: String,
    #[serde(default = "uncategorized")]
    pub category: String,
    #[serde(default = "medium")]
    pub priority: Priority,
    #[serde(default = "not_applicable")]
    pub dep_status: DepStatus,
    #[serde(default)]
    pub required_deps: Vec<String>,
    /// Files the hypothesis expects to touch (used to keep a batch disjoint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// File hypotheses: a shell command run in the worktree...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<String>,
    /// ...or a unified diff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// An approved deferred experiment: its kept commit, measured again on
    /// the current best instead of being implemented again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_iteration: Option<u64>,
    #[serde(flatten)]
    pub extra: Mapping,
}

impl BacklogItem {
    /// A hypothesis for the model or an agent to implement: medium priority,
    /// no dependencies, files or command.
    pub fn new(description: &str, category: &str) -> BacklogItem {
        BacklogItem {
            description: description.to_string(),
            category: category.to_string(),
            priority: Priority::Medium,
            dep_status: DepStatus::NotApplicable,
            required_deps: Vec::new(),
            files: Vec::new(),
            apply: None,
            patch: None,
            from_commit: None,
            from_iteration: None,
            extra: Mapping::new(),
        }
    }
}

fn uncategorized() -> String {
    "uncategorized".into()
}
fn medium() -> Priority {
    Priority::Medium
}
fn not_applicable() -> DepStatus {
    DepStatus::NotApplicable
}
