//! Spec types with the defaults of ce-optimize's schema.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Spec {
    pub name: String,
    pub description: String,
    pub metric: Metric,
    pub measurement: Measurement,
    pub scope: Scope,
    #[serde(default)]
    pub execution: Execution,
    #[serde(default)]
    pub parallel: Parallel,
    #[serde(default)]
    pub dependencies: Dependencies,
    #[serde(default)]
    pub constraints: Vec<String>,
    #[serde(default)]
    pub stopping: Stopping,
    #[serde(default = "one")]
    pub max_runner_up_merges_per_batch: u32,
    #[serde(default)]
    pub hypotheses: Hypotheses,
    #[serde(default)]
    pub implementer: Implementer,
    #[serde(default)]
    pub llm: Llm,
    /// Ours: where measurements run when `execution.runner` is `slurm`.
    #[serde(default)]
    pub slurm: Option<SlurmSettings>,
    /// Ours: variables passed to child processes although they look secret.
    #[serde(default)]
    pub env: super::EnvSettings,
    /// Ours: the sandbox for implementers and measurements.
    #[serde(default)]
    pub sandbox: super::SandboxSettings,
    /// Ours: the cap on every model call of the run.
    #[serde(default)]
    pub budget: super::Budget,
}

/// `slurm:` (our extension): how measurements are submitted as batch jobs.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SlurmSettings {
    #[serde(default)]
    pub partition: Option<String>,
    /// Passed to sbatch as given.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Shell lines run in the job before the measurement (`module load ...`).
    #[serde(default)]
    pub setup: Option<String>,
    /// One status query for all jobs per poll.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: f64,
}

fn default_poll_seconds() -> f64 {
    15.0
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            partition: None,
            sbatch_args: Vec::new(),
            setup: None,
            poll_seconds: default_poll_seconds(),
        }
    }
}

/// Where measurements run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    #[default]
    Local,
    Slurm,
}

/// What a slot's worktree is cleaned of between experiments. Tracked files
/// are always reset to the next experiment's commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Clean {
    /// Untracked files go; ignored ones (build outputs, caches) stay, so
    /// incremental builds carry over.
    #[default]
    Untracked,
    /// Ignored files go too: every experiment starts cold.
    Full,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Hard,
    Judge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Spec {
    /// Every metric the spec names, with its role: the primary, the gates,
    /// the diagnostics.
    pub fn metric_roles(&self) -> Vec<(String, &'static str)> {
        let mut out = vec![(self.metric.primary.name.clone(), "primary")];
        for o in &self.metric.objectives {
            if o.name != self.metric.primary.name {
                let role = if o.is_required() {
                    "objective"
                } else {
                    "secondary objective"
                };
                out.push((o.name.clone(), role));
            }
        }
        out.extend(
            self.metric
                .degenerate_gates
                .iter()
                .map(|g| (g.name.clone(), "gate")),
        );
        out.extend(
            self.metric
                .diagnostics
                .iter()
                .map(|d| (d.name.clone(), "diagnostic")),
        );
        out
    }
}

/// A required objective: its name, direction and declared target.
#[derive(Debug, Clone, PartialEq)]
pub struct RequiredObjective {
    pub name: String,
    pub direction: Direction,
    pub target: Option<f64>,
}

impl Spec {
    /// The primary (always required, with its own target), then every other
    /// objective whose role is not secondary.
    pub fn required_objectives(&self) -> Vec<RequiredObjective> {
        let primary = &self.metric.primary;
        let listed = self
            .metric
            .objectives
            .iter()
            .find(|o| o.name == primary.name);
        let mut out = vec![RequiredObjective {
            name: primary.name.clone(),
            direction: primary.direction,
            target: primary.target.or(listed.and_then(|o| o.target)),
        }];
        out.extend(
            self.metric
                .objectives
                .iter()
                .filter(|o| o.is_required() && o.name != primary.name)
                .map(|o| RequiredObjective {
                    name: o.name.clone(),
                    direction: o.direction,
                    target: o.target,
                }),
        );
        out
    }
}

impl Objective {
    pub fn is_required(&self) -> bool {
        self.role.as_deref() != Some("secondary")
    }
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Maximize => "maximize",
            Direction::Minimize => "minimize",
        }
    }

    /// How much better `candidate` is than `reference` (positive is better).
    pub fn improvement(self, candidate: f64, reference: f64) -> f64 {
        match self {
            Direction::Maximize => candidate - reference,
            Direction::Minimize => reference - candidate,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Metric {
    pub primary: Primary,
    pub degenerate_gates: Vec<Gate>,
    #[serde(default)]
    pub objectives: Vec<Objective>,
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
    #[serde(default)]
    pub judge: Option<Judge>,
    /// Ours: success criteria beside the numeric gates.
    #[serde(default)]
    pub criteria: Vec<super::Criterion>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Primary {
    #[serde(rename = "type")]
    pub kind: MetricType,
    pub name: String,
    pub direction: Direction,
    #[serde(default)]
    pub baseline: Option<f64>,
    #[serde(default)]
    pub target: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Gate {
    pub name: String,
    pub check: GateCheck,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operator {
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Operator {
    pub const ALL: [(&'static str, Operator); 6] = [
        (">=", Operator::Ge),
        ("<=", Operator::Le),
        (">", Operator::Gt),
        ("<", Operator::Lt),
        ("==", Operator::Eq),
        ("!=", Operator::Ne),
    ];

    pub fn symbol(self) -> &'static str {
        Operator::ALL
            .iter()
            .find(|(_, o)| *o == self)
            .map(|(s, _)| *s)
            .unwrap_or("?")
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Operator::Ge => value >= threshold,
            Operator::Le => value <= threshold,
            Operator::Gt => value > threshold,
            Operator::Lt => value < threshold,
            Operator::Eq => value == threshold,
            Operator::Ne => value != threshold,
        }
    }
}

/// A gate's check such as `"<= 0.10"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateCheck {
    pub op: Operator,
    pub threshold: f64,
}

impl GateCheck {
    pub fn parse(text: &str) -> Result<GateCheck, String> {
        let text = text.trim();
        let op_len = text
            .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
            .unwrap_or(text.len());
        let (op_text, rest) = text.split_at(op_len);
        let expected = "expected one of >=, <=, >, <, ==, !=";
        if op_text.is_empty() {
            return Err(format!(
                "check \"{text}\" has no operator; {expected} followed by a number, e.g. \">= 1.0\""
            ));
        }
        let op = Operator::ALL
            .iter()
            .find(|(s, _)| *s == op_text)
            .map(|(_, o)| *o)
            .ok_or_else(|| format!("unknown operator \"{op_text}\"; {expected}"))?;
        let rest = rest.trim();
        let threshold = match rest {
            "true" => 1.0,
            "false" => 0.0,
            _ => rest
                .parse::<f64>()
                .map_err(|_| format!("threshold \"{rest}\" in check \"{text}\" is not a number"))?,
        };
        if !threshold.is_finite() {
            return Err(format!(
                "threshold \"{rest}\" in check \"{text}\" is not a finite number"
            ));
        }
        Ok(GateCheck { op, threshold })
    }
}

impl fmt::Display for GateCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.threshold)
    }
}

impl<'de> Deserialize<'de> for GateCheck {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        GateCheck::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for GateCheck {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Objective {
    pub name: String,
    pub direction: Direction,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<MetricType>,
    #[serde(default)]
    pub target: Option<f64>,
    #[serde(default)]
    pub max_regression: Option<MaxRegression>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MaxRegression {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Diagnostic {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Judge {
    pub rubric: String,
    pub scoring: Scoring,
    #[serde(default = "default_judge_model")]
    pub model: String,
    #[serde(default = "default_sample_size")]
    pub sample_size: u32,
    #[serde(default)]
    pub stratification: Option<Vec<Stratum>>,
    #[serde(default)]
    pub singleton_sample: u32,
    #[serde(default)]
    pub singleton_rubric: Option<String>,
    #[serde(default = "default_seed")]
    pub sample_seed: u64,
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    #[serde(default = "default_minimum_improvement")]
    pub minimum_improvement: f64,
    #[serde(default = "default_max_cost")]
    pub max_total_cost_usd: Option<f64>,
    #[serde(default = "default_items_file")]
    pub items_file: String,
}

fn default_judge_model() -> String {
    "haiku".into()
}
fn default_sample_size() -> u32 {
    10
}
fn default_seed() -> u64 {
    42
}
fn default_batch_size() -> u32 {
    5
}
fn default_minimum_improvement() -> f64 {
    0.3
}
fn default_max_cost() -> Option<f64> {
    Some(5.0)
}
fn default_items_file() -> String {
    "judge-items.jsonl".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Scoring {
    pub primary: String,
    #[serde(default)]
    pub secondary: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Stratum {
    pub bucket: String,
    pub count: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Measurement {
    pub command: String,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub output_format: OutputFormat,
    #[serde(default = "default_working_directory")]
    pub working_directory: String,
    #[serde(default)]
    pub stability: Stability,
}

fn default_timeout() -> u64 {
    600
}
fn default_working_directory() -> String {
    ".".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Stability {
    #[serde(default)]
    pub mode: StabilityMode,
    #[serde(default = "default_repeat_count")]
    pub repeat_count: u32,
    #[serde(default)]
    pub aggregation: Aggregation,
    #[serde(default = "default_noise_threshold")]
    pub noise_threshold: f64,
    #[serde(default)]
    pub comparison: Comparison,
    #[serde(default)]
    pub ladder: Option<Ladder>,
}

impl Default for Stability {
    fn default() -> Self {
        Stability {
            mode: StabilityMode::Stable,
            repeat_count: default_repeat_count(),
            aggregation: Aggregation::Median,
            noise_threshold: default_noise_threshold(),
            comparison: Comparison::default(),
            ladder: None,
        }
    }
}

impl Stability {
    /// How many runs the full protocol takes: the baseline's, and a
    /// candidate's in `stable` or `repeat` mode.
    pub fn runs(&self) -> u32 {
        match self.mode {
            StabilityMode::Repeat => self.repeat_count.max(1),
            StabilityMode::Ladder => self.confirmation_repeats(),
            StabilityMode::Stable => 1,
        }
    }

    /// The ladder's full protocol: `confirmation_repeats`, else `repeat_count`.
    pub fn confirmation_repeats(&self) -> u32 {
        self.ladder
            .as_ref()
            .and_then(|l| l.confirmation_repeats)
            .filter(|n| *n >= 1)
            .map(|n| n as u32)
            .unwrap_or(self.repeat_count.max(1))
    }

    /// The spec opted into ce-optimize's newer decision model (objectives,
    /// a ladder or an explicit comparison method), whose outcomes include
    /// `inconclusive`, `not_selected` and `censored`. Without it, the legacy
    /// rule and the seed schema's outcomes are kept.
    pub fn uses_newer_outcomes(&self, has_objectives: bool) -> bool {
        has_objectives || self.mode == StabilityMode::Ladder || self.comparison.method.is_some()
    }
}

/// `repeat_count` when a spec leaves it out.
pub const DEFAULT_REPEAT_COUNT: u32 = 5;

fn default_repeat_count() -> u32 {
    DEFAULT_REPEAT_COUNT
}
fn default_noise_threshold() -> f64 {
    0.02
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StabilityMode {
    #[default]
    Stable,
    Repeat,
    Ladder,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    #[default]
    Median,
    Mean,
    Min,
    Max,
}

impl Aggregation {
    pub fn apply(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        Some(match self {
            Aggregation::Min => v[0],
            Aggregation::Max => v[v.len() - 1],
            Aggregation::Mean => v.iter().sum::<f64>() / v.len() as f64,
            Aggregation::Median => {
                let mid = v.len() / 2;
                if v.len() % 2 == 1 {
                    v[mid]
                } else {
                    (v[mid - 1] + v[mid]) / 2.0
                }
            }
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Comparison {
    /// Unset keeps the legacy absolute `noise_threshold` rule and outcomes.
    #[serde(default)]
    pub method: Option<ComparisonMethod>,
    #[serde(default)]
    pub relative_threshold: Option<f64>,
    /// Replaces `stability.noise_threshold` for the comparison (decide.mjs reads it).
    #[serde(default)]
    pub noise_threshold: Option<f64>,
    #[serde(default)]
    pub minimum_improvement: Option<f64>,
    /// `statistical`: the confidence a keep needs (default 0.95).
    #[serde(default)]
    pub confidence: Option<f64>,
    /// `statistical`: samples one candidate may take at most (default 24).
    #[serde(default)]
    pub max_samples: Option<u32>,
}

impl Comparison {
    pub fn method(&self) -> ComparisonMethod {
        self.method.unwrap_or_default()
    }

    pub fn confidence(&self) -> f64 {
        self.confidence.unwrap_or(0.95)
    }

    pub fn max_samples(&self) -> u32 {
        self.max_samples.unwrap_or(24)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComparisonMethod {
    #[default]
    Absolute,
    Relative,
    Paired,
    /// Ours: sequential Welch tests against the incumbent re-measured in
    /// each batch.
    Statistical,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Ladder {
    #[serde(default)]
    pub smoke_command: Option<String>,
    #[serde(default)]
    pub exploratory_pairs: Option<i64>,
    #[serde(default)]
    pub confirmation_repeats: Option<i64>,
    #[serde(default)]
    pub futility: Option<Futility>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Futility {
    #[serde(default)]
    pub worse_factor: Option<f64>,
    #[serde(default)]
    pub after_elapsed_seconds: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Scope {
    pub mutable: Vec<String>,
    pub immutable: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Execution {
    #[serde(default)]
    pub mode: ExecutionMode,
    #[serde(default)]
    pub backend: Backend,
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: u32,
    #[serde(default)]
    pub codex_security: Option<String>,
    /// Ours: `local` (default) or `slurm` (measurements as batch jobs).
    #[serde(default)]
    pub runner: RunnerKind,
    /// Ours: what a reused worktree is cleaned of before its next experiment.
    #[serde(default)]
    pub clean: Clean,
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            mode: ExecutionMode::Parallel,
            backend: Backend::Worktree,
            max_concurrent: default_max_concurrent(),
            codex_security: None,
            runner: RunnerKind::Local,
            clean: Clean::Untracked,
        }
    }
}

fn default_max_concurrent() -> u32 {
    4
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionMode {
    #[default]
    Parallel,
    Serial,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Worktree,
    Codex,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Parallel {
    #[serde(default)]
    pub port_strategy: Option<PortStrategy>,
    #[serde(default)]
    pub port_env_var: Option<String>,
    #[serde(default)]
    pub port_base: Option<u32>,
    #[serde(default)]
    pub shared_files: Vec<String>,
    #[serde(default)]
    pub exclusive_resources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortStrategy {
    Parameterized,
    None,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Dependencies {
    #[serde(default)]
    pub approved: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Stopping {
    #[serde(default = "default_max_iterations")]
    pub max_iterations: u64,
    #[serde(default = "default_max_hours")]
    pub max_hours: f64,
    #[serde(default = "default_plateau")]
    pub plateau_iterations: u64,
    #[serde(default = "yes")]
    pub target_reached: bool,
    /// Experiments in a row failing with the same cause that stop the run
    /// (a broken environment), their hypotheses given back.
    #[serde(default = "default_max_consecutive_errors")]
    pub max_consecutive_errors: u32,
}

impl Default for Stopping {
    fn default() -> Self {
        Stopping {
            max_iterations: default_max_iterations(),
            max_hours: default_max_hours(),
            plateau_iterations: default_plateau(),
            target_reached: true,
            max_consecutive_errors: default_max_consecutive_errors(),
        }
    }
}

fn default_max_consecutive_errors() -> u32 {
    5
}

fn default_max_iterations() -> u64 {
    100
}
fn default_max_hours() -> f64 {
    8.0
}
fn default_plateau() -> u64 {
    10
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HypothesisSource {
    #[default]
    Llm,
    File,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Hypotheses {
    #[serde(default)]
    pub source: HypothesisSource,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImplementerKind {
    #[default]
    Llm,
    Command,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Implementer {
    #[serde(default)]
    pub kind: ImplementerKind,
    /// A coding agent's preset (`crate::agent`): its command line unless
    /// `command` is given, and its state, keys and debris either way.
    #[serde(default)]
    pub agent: Option<crate::agent::Agent>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default = "default_implementer_timeout")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub model: Option<String>,
    /// Variables the agent command gets from the orchestrator's environment
    /// although they look secret (an agent CLI's own key).
    #[serde(default)]
    pub env: Vec<String>,
    /// Sent with the model's edit requests when set.
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Ours: several implementers for each hypothesis; the best one counts.
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub selection: Selection,
    /// With `selection: bandit`: how many variants implement each hypothesis.
    #[serde(default = "two")]
    pub per_hypothesis: u32,
    /// Replaces prompts/implement.md (`optimize replay --prompt FILE`).
    #[serde(skip)]
    pub prompt_template: Option<String>,
}

fn two() -> u32 {
    2
}

/// One implementer of `implementer.variants`; what it leaves unset comes
/// from `implementer`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub kind: Option<ImplementerKind>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Replaces prompts/implement.md (set by `optimize replay --prompt`).
    #[serde(skip)]
    pub prompt_template: Option<String>,
}

/// Which variants implement a hypothesis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// Every variant implements every hypothesis.
    #[default]
    All,
    /// `per_hypothesis` variants per hypothesis, by kept rate per dollar.
    Bandit,
}

impl Spec {
    /// The coding agent of the implementer: its command's first word, else
    /// `implementer.agent` (a wrapper script around the agent).
    pub fn agent(&self) -> Option<crate::agent::Agent> {
        self.implementer
            .command
            .as_deref()
            .and_then(crate::agent::Agent::of_command)
            .or(self.implementer.agent)
    }

    /// What the agent's preset needs of this spec.
    pub fn agent_target(&self) -> crate::agent::Target<'_> {
        crate::agent::Target {
            model: self.implementer.model.as_deref(),
            default_model: &self.llm.model,
            base_url: &self.llm.base_url,
        }
    }
}

impl Default for Implementer {
    fn default() -> Self {
        Implementer {
            kind: ImplementerKind::Llm,
            agent: None,
            command: None,
            timeout_seconds: default_implementer_timeout(),
            model: None,
            env: Vec::new(),
            temperature: None,
            max_tokens: None,
            variants: Vec::new(),
            selection: Selection::All,
            per_hypothesis: two(),
            prompt_template: None,
        }
    }
}

fn default_implementer_timeout() -> u64 {
    900
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Llm {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default = "default_model")]
    pub model: String,
    #[serde(default = "default_api_key_env")]
    pub api_key_env: String,
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Seconds one request may take before it is retried.
    #[serde(default = "default_llm_timeout")]
    pub timeout_seconds: u64,
    /// How long the server may keep failing (429, 5xx, connection errors,
    /// timeouts) before the run stops, resumably.
    #[serde(default = "default_outage_minutes")]
    pub max_outage_minutes: f64,
}

impl Default for Llm {
    fn default() -> Self {
        Llm {
            base_url: default_base_url(),
            model: default_model(),
            api_key_env: default_api_key_env(),
            prices: BTreeMap::new(),
            timeout_seconds: default_llm_timeout(),
            max_outage_minutes: default_outage_minutes(),
        }
    }
}

fn default_llm_timeout() -> u64 {
    120
}
fn default_outage_minutes() -> f64 {
    30.0
}

fn default_base_url() -> String {
    "https://api.openai.com/v1".into()
}
fn default_model() -> String {
    "gpt-4.1".into()
}
fn default_api_key_env() -> String {
    "OPENAI_API_KEY".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}
