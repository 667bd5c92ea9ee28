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

/// `budget:`: no new model call starts once either cap is reached.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Budget {
    #[serde(default)]
    pub max_usd: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
}
