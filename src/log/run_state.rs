//! What the tool records about the run itself, beside the schema's fields:
//! run metadata, one record per session, and the batch in flight. Typed here,
//! written at the log's top level with the same keys as always; keys a newer
//! version adds are kept by the log's `extra`.

use serde::{Deserialize, Serialize};
use serde_yaml::Mapping;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    /// The commit the run started from (the baseline's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The wrap-up's commit of the report on top of the best's measured
    /// commit (`wrapup.commit_report`): `best.commit` while the run rests,
    /// and set aside when it resumes, so experiments never build on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_commit: Option<String>,
    /// SHA-256 of the spec text the run started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_sha256: Option<String>,
    /// FNV-1a of the spec text, to tell whether it changed between sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    /// Time spent running, summed over sessions (what `max_hours` counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<Session>,
    /// The batch being run, written before any of it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlight>,
    /// The first iteration after the run last stopped on one of its own
    /// conditions: experiments from here on are built on the best of then,
    /// however far the pipeline's lag would reach back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_because: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Every model call but the judge's (hypotheses, edits, learnings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_llm_cost_usd: Option<f64>,
    /// Tokens (prompt and completion) of every model call, the judge's too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cost_unknown_for_models: Vec<String>,
    /// Guidance given with `optimize steer`, in every hypothesis request
    /// until `optimize steer --clear`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steering: Vec<Guidance>,
    /// The last leave-one-out ablation of the kept stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ablation: Option<super::AblationRecord>,
    /// Runs of the measurement command, all kinds (baseline, candidates,
    /// incumbent re-measurements, runner-up combinations), over all sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurements: Option<u64>,
}

/// One piece of guidance from `optimize steer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guidance {
    pub text: String,
    pub given_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Start,
    Resume,
}

/// One start or resume of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub started_at: String,
    pub kind: SessionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spec_changed: bool,
    /// The limits in force, command-line overrides included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_because: Option<String>,
    #[serde(flatten)]
    pub extra: Mapping,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub max_iterations: u64,
    pub max_hours: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wall_hours: Option<f64>,
    pub max_concurrent: u32,
}

/// A batch planned and not yet evaluated: a resume finishes it with the same
/// members, iterations and base commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    pub batch: u64,
    pub base: String,
    #[serde(default)]
    pub experiments: Vec<InFlightMember>,
    #[serde(flatten)]
    pub extra: Mapping,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlightMember {
    pub iteration: u64,
    pub slot: u32,
    pub hypothesis: String,
    /// The commit it is built on (the pipelined loop's members each have
    /// their own; absent in logs of the batch loop, where `base` is shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
}

/// Seconds spent per phase of one experiment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implement_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_s: Option<f64>,
    /// Implemented, waiting for a measurement slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_s: Option<f64>,
    /// Measuring this experiment's change on a newer best (a runner-up merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combine_s: Option<f64>,
    /// Of `measure_s`, the time batch jobs waited for a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_s: Option<f64>,
    #[serde(flatten)]
    pub extra: Mapping,
}

impl RunMeta {
    /// The session this process is running (the last one recorded).
    pub fn current_session(&mut self) -> Option<&mut Session> {
        self.sessions.last_mut()
    }

    /// The limits of the latest session that recorded them.
    pub fn limits_in_force(&self) -> Option<Limits> {
        self.sessions.iter().rev().find_map(|s| s.limits)
    }
}
