//! The spec's `metric` section: the primary, gates, objectives, diagnostics, the judge.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::*;

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

impl Direction {
    /// Positive when `candidate` is better than `reference`.
    pub fn signed_delta(self, reference: f64, candidate: f64) -> f64 {
        match self {
            Direction::Minimize => reference - candidate,
            Direction::Maximize => candidate - reference,
        }
    }
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
    /// The seed of the held-out judge sample that confirms a would-be keep
    /// (another sample of the same output than `sample_seed` draws).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_seed: Option<u64>,
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
