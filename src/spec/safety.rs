//! Our safety extensions to the spec: what child processes may see of the
//! environment (`env`), the sandbox for what models wrote and what runs it
//! (`sandbox`), and the cap on what a run spends on models (`budget`).

use serde::{Deserialize, Serialize};

/// `env:`: variables passed to measurement and `apply` commands although
/// their names look like secrets (everything else not secret passes anyway).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EnvSettings {
    #[serde(default)]
    pub pass: Vec<String>,
}

/// `auto` sandboxes where the kernel can, `required` refuses to run where it
/// cannot, `off` does not sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    Auto,
    Required,
    Off,
}

/// `sandbox:`: sandboxed processes may write only in their worktree, a
/// private temporary directory and `writable`; the rest is read-only.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SandboxSettings {
    /// Agent (`implementer.kind: command`) and `apply` commands.
    #[serde(default = "auto")]
    pub implementer: SandboxMode,
    /// Measurement and smoke commands.
    #[serde(default = "off")]
    pub measurement: SandboxMode,
    /// Extra writable paths (`~` is the home directory).
    #[serde(default)]
    pub writable: Vec<String>,
    /// `false`: no TCP connections or listening sockets for sandboxed processes.
    #[serde(default = "yes")]
    pub network: bool,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            implementer: SandboxMode::Auto,
            measurement: SandboxMode::Off,
            writable: Vec::new(),
            network: true,
        }
    }
}

fn auto() -> SandboxMode {
    SandboxMode::Auto
}
fn off() -> SandboxMode {
    SandboxMode::Off
}
fn yes() -> bool {
    true
}

/// `metric.criteria[]`: a success criterion checked in the worktree after
/// the measurement.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Criterion {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: CriterionKind,
    /// The command (`test_pass`, `command`), path (`file_exists`) or text
    /// (`contains`).
    pub target: String,
    /// A failed required criterion makes the experiment `degenerate`.
    #[serde(default)]
    pub required: bool,
    #[serde(default = "unit_weight")]
    pub weight: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    /// A test command that must exit 0.
    TestPass,
    /// Any shell command that must exit 0.
    Command,
    /// A path, relative to the worktree, that must exist.
    FileExists,
    /// Text the measurement's stdout must contain.
    Contains,
}

fn unit_weight() -> f64 {
    1.0
}

/// `budget:`: no new model call starts once either cap is reached.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Budget {
    #[serde(default)]
    pub max_usd: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
}
