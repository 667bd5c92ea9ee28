//! A session of a run: open (a new run measures its baseline and writes the
//! log; a resume loads it), the session record with the limits in force, and
//! closing it with why it stopped, whatever the path.

use std::sync::Arc;
use std::time::Instant;

use git2::Oid;
use serde_yaml::{Mapping, Value};

use super::baseline::{BaselineMeasurement, BaselineSite, measure_with};
use super::context::Ctx;
use super::{BaselineError, Driven, Finish, Loop, RunError, StopReason};
use crate::events::Event;
use crate::git::Repo;
use crate::log::{BacklogItem, Baseline, Best, ExperimentLog, Limits, Session, SessionKind};
use crate::measure::Metrics;
use crate::names;
use crate::spec::{LoadedSpec, Spec};

/// FNV-1a of the spec text: tells whether the spec changed between sessions.
pub fn spec_hash(text: &str) -> String {
    crate::log::Fnv::of(text.as_bytes()).hex()
}

/// Removes the worktree pool and the sandboxes' temporary directories, as
/// every session (and a replay) ends; a failure is a warning.
pub(super) fn remove_pool(ctx: &Ctx) {
    let removed = Repo::open(&ctx.repo_root)
        .and_then(|repo| crate::worktree::Worktree::remove_pool(&repo, &ctx.state));
    if let Err(e) = removed {
        ctx.events.emit(Event::warning(format!(
            "could not remove the worktree pool: {e}"
        )));
    }
    let tmp = ctx.state.dir.join("tmp");
    if let Err(e) = std::fs::remove_dir_all(&tmp)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        ctx.events.emit(Event::warning(format!(
            "could not remove {}: {e}",
            tmp.display()
        )));
    }
}

/// Sets `ctx.harness` from the log's start commit (a log of another tool
/// without one: the baseline's commit).
pub(super) fn know_harness(ctx: &Ctx, log: &ExperimentLog, repo: &Repo) -> Result<(), RunError> {
    let start = [&log.run.start_commit, &log.baseline.commit]
        .into_iter()
        .flatten()
        .find_map(|c| Repo::parse_oid(c));
    let Some(start) = start else {
        return Ok(());
    };
    let harness = crate::harness::Harness::for_spec(repo, start, &ctx.spec)?;
    let _ = ctx.harness.set(harness);
    Ok(())
}

/// Loads the log (or starts a new run) and records the session's start.
pub(super) async fn open(
    ctx: Arc<Ctx>,
    repo: &Repo,
    loaded: &LoadedSpec,
    resumed: bool,
) -> Result<Loop, RunError> {
    let log_path = ctx.state.log_path();
    let mut log = if resumed {
        check_spec_change(&ctx, loaded)?;
        let log = ExperimentLog::load_owned(&log_path)?;
        ctx.judge_budget
            .add(log.best.total_judge_cost_usd.unwrap_or(0.0));
        if let Some(client) = &ctx.llm {
            client
                .spend
                .add(log.total_cost_usd(), log.run.total_tokens.unwrap_or(0));
        }
        log
    } else {
        start(&ctx, repo, loaded).await?
    };
    let approvals = crate::approvals::Approvals::load(&ctx.state.approvals_path())?;
    crate::approvals::apply(&mut log, &approvals, &ctx.spec.dependencies.approved);
    let prior_active = log.run.active_seconds.unwrap_or(0.0);
    let prior_measurements = log.run.measurements.unwrap_or(0);
    let mut lp = Loop {
        ctx,
        log,
        log_file: crate::log::LogFile::new(log_path),
        model_exhausted: false,
        prior_learnings: None,
        session_start: Instant::now(),
        prior_active,
        prior_measurements,
    };
    lp.start_session(&loaded.text, resumed);
    lp.save()?;
    lp.know_harness(repo)?;
    Ok(lp)
}

/// A resume refuses a spec changed in ways that make the recorded
/// measurements stale, and says which other changes it takes.
fn check_spec_change(ctx: &Ctx, loaded: &LoadedSpec) -> Result<(), RunError> {
    let path = ctx.state.spec_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    // As written, without this session's command-line overrides.
    let parse = |text: &str| LoadedSpec::parse_str(text, &path).ok().map(|l| l.spec);
    let (Some(started), Some(now)) = (parse(&text), parse(&loaded.text)) else {
        return Ok(());
    };
    let change = super::spec_change::compare(&started, &now);
    if !change.stale.is_empty() {
        return Err(RunError::SpecStale(change.stale));
    }
    if !change.valid.is_empty() {
        ctx.events.emit(Event::warning(format!(
            "the spec changed since this run started: {}; the recorded measurements stay valid",
            change.valid.join(", ")
        )));
    }
    Ok(())
}

/// The time as a run id, with `-2`, `-3`... when a run of this spec (an
/// archive of a `--fresh` in the same second) already has it.
fn unique_run_id(repo_root: &std::path::Path, spec: &str) -> String {
    let stamp = crate::clock::compact_now();
    let (runs, _) = crate::history::discover(repo_root);
    let taken: Vec<&str> = runs
        .iter()
        .filter(|r| r.spec == spec)
        .map(|r| r.log.run_id.as_str())
        .collect();
    let mut id = stamp.clone();
    let mut n = 2;
    while taken.contains(&id.as_str()) {
        id = format!("{stamp}-{n}");
        n += 1;
    }
    id
}

/// A new run: the baseline, the log, the spec as it started, the branch.
async fn start(ctx: &Ctx, repo: &Repo, loaded: &LoadedSpec) -> Result<ExperimentLog, RunError> {
    let backlog = match &ctx.hypotheses_file {
        Some(f) => crate::hypotheses::load_file(f, &ctx.approved)?,
        None => Vec::new(),
    };
    let branch = names::opt_branch(&ctx.spec.name);
    if repo.branch_commit(&branch)?.is_some() {
        return Err(RunError::BranchExists {
            branch,
            log: ctx.state.log_path(),
        });
    }
    let commit = repo.head_commit()?;
    let site = BaselineSite {
        repo,
        state: &ctx.state,
        spec: &ctx.spec,
        commit,
        label: names::BASELINE_LABEL.into(),
        out_dir: ctx.state.dir.join("baseline"),
        cancel: &ctx.cancel,
        events: &ctx.events,
        runs: ctx.spec.measurement.stability.runs(),
        runner: &ctx.runner,
        shortcut: None,
    };
    let baseline_error = |e| match e {
        BaselineError::Interrupted => RunError::Interrupted,
        e => RunError::Baseline(e),
    };
    let measurement = measure_with(site.clone(), Some(ctx))
        .await
        .map_err(baseline_error)?;
    let failed = measurement.failed_gates();
    if !failed.is_empty() {
        return Err(RunError::BaselineGates(failed));
    }
    let harness_check = match &ctx.spec.harness_validation {
        Some(_) => {
            let check = super::shortcuts::check_all(&site, &measurement, Some(ctx))
                .await
                .map_err(baseline_error)?;
            if let Some(s) = check.shortcuts.iter().find(|s| !s.caught) {
                return Err(RunError::ShortcutRewarded {
                    description: s.description.clone(),
                    reason: s.reason.clone(),
                });
            }
            Some(check)
        }
        None => None,
    };
    let mut log = new_log(
        &ctx.spec,
        commit,
        baseline_entry(&ctx.spec, commit, &measurement),
        backlog,
    );
    log.run_id = unique_run_id(&repo.root, &ctx.spec.name);
    log.harness_validation = harness_check;
    let spec_copy = ctx.state.spec_path();
    crate::fsutil::write_atomic(&spec_copy, loaded.text.as_bytes()).map_err(|source| {
        RunError::Io {
            path: spec_copy.clone(),
            source,
        }
    })?;
    log.run.active_seconds = Some(0.0);
    log.run.measurements = Some(measurement.measured.samples.len() as u64);
    log.save(&ctx.state.log_path())?;
    repo.set_branch(&branch, commit)?;
    Ok(log)
}

/// The baseline as the schema records it.
fn baseline_entry(spec: &Spec, commit: Oid, m: &BaselineMeasurement) -> Baseline {
    let (gates, diagnostics) = split_metrics(spec, &m.measured.metrics);
    let judge = m.judged.as_ref().map(|scores| {
        let seed = spec.metric.judge.as_ref().map(|cfg| cfg.sample_seed);
        super::record::judge_record(scores, seed)
    });
    let samples = m.measured.samples.len() as u64;
    Baseline {
        timestamp: Some(crate::clock::now_iso()),
        gates,
        metrics: Some(to_mapping(&m.measured.metrics)),
        diagnostics,
        judge,
        commit: Some(commit.to_string()),
        sample_count: (samples > 1).then_some(samples),
        samples: Some(crate::decide::snapshot::by_metric(&m.measured.samples)),
        cases: m.measured.cases.clone(),
        feedback: m.measured.feedback.clone(),
        extra: Mapping::new(),
    }
}

fn new_log(
    spec: &Spec,
    start: Oid,
    baseline: Baseline,
    backlog: Vec<BacklogItem>,
) -> ExperimentLog {
    let mut log = ExperimentLog {
        spec: spec.name.clone(),
        run_id: String::new(),
        started_at: crate::clock::now_iso(),
        best: Best {
            iteration: 0,
            metrics: baseline.metrics.clone().unwrap_or_default(),
            judge: baseline.judge.clone(),
            total_judge_cost_usd: baseline
                .judge
                .as_ref()
                .and_then(|j| j.get("judge_cost_usd"))
                .and_then(Value::as_f64),
            commit: Some(start.to_string()),
            samples: baseline.samples.clone(),
            cases: baseline.cases.clone(),
            extra: Mapping::new(),
        },
        baseline,
        hypothesis_backlog: backlog,
        ..ExperimentLog::default()
    };
    log.run.tool_version = Some(env!("CARGO_PKG_VERSION").into());
    log.run.start_commit = Some(start.to_string());
    log.run.host = Some(crate::state::hostname());
    log
}

pub fn to_mapping(m: &Metrics) -> Mapping {
    m.iter()
        .map(|(k, v)| (Value::from(k.as_str()), Value::from(*v)))
        .collect()
}

/// Gates and diagnostics as the schema records them.
pub fn split_metrics(spec: &Spec, m: &Metrics) -> (Mapping, Mapping) {
    let pick = |names: Vec<&String>| -> Mapping {
        names
            .into_iter()
            .filter_map(|n| m.get(n).map(|v| (Value::from(n.as_str()), Value::from(*v))))
            .collect()
    };
    (
        pick(
            spec.metric
                .degenerate_gates
                .iter()
                .map(|g| &g.name)
                .collect(),
        ),
        pick(spec.metric.diagnostics.iter().map(|d| &d.name).collect()),
    )
}

impl Loop {
    /// The harness every measurement is checked against: `scope.immutable`
    /// and the files `measurement.command` names, as the start commit holds
    /// them (a log of another tool without one: the baseline's commit).
    fn know_harness(&self, repo: &Repo) -> Result<(), RunError> {
        know_harness(&self.ctx, &self.log, repo)
    }

    /// Run metadata: one `sessions` entry per start or resume, with the
    /// limits in force (command-line overrides included).
    fn start_session(&mut self, spec_text: &str, resumed: bool) {
        let hash = spec_hash(spec_text);
        let run = &mut self.log.run;
        let spec_changed = run.spec_hash.as_ref().is_some_and(|h| *h != hash);
        run.spec_hash = Some(hash);
        if run.spec_sha256.is_none() && !resumed {
            run.spec_sha256 = Some(crate::sha256::hex(spec_text.as_bytes()));
        }
        let spec = &self.ctx.spec;
        run.sessions.push(Session {
            started_at: crate::clock::now_iso(),
            kind: if resumed {
                SessionKind::Resume
            } else {
                SessionKind::Start
            },
            pid: Some(std::process::id()),
            host: Some(crate::state::hostname()),
            tool_version: Some(env!("CARGO_PKG_VERSION").into()),
            spec_changed,
            limits: Some(Limits {
                max_iterations: spec.stopping.max_iterations,
                max_hours: spec.stopping.max_hours,
                max_wall_hours: Some(spec.stopping.max_wall_hours),
                max_concurrent: spec.execution.max_concurrent,
            }),
            ended_at: None,
            stopped_because: None,
            extra: Mapping::new(),
        });
    }

    /// Removes the worktree pool: nothing is left under `worktrees/` once a
    /// session ends (a kill leaves it, and the next session reuses it).
    fn remove_pool(&self) {
        remove_pool(&self.ctx);
    }

    /// Records why the session stopped, saves, and tells the user.
    pub(super) fn close(mut self, driven: Result<Driven, RunError>) -> Result<Finish, RunError> {
        let reason = match &driven {
            Ok(Driven::Stopped(r) | Driven::AlreadyComplete(r)) => r.clone(),
            Err(RunError::Interrupted) => StopReason::Interrupted,
            Err(RunError::ModelOutage { message }) => StopReason::ModelOutage(message.clone()),
            Err(RunError::OurIo { message }) => StopReason::Io(message.clone()),
            Err(e) => StopReason::Failed(e.to_string()),
        };
        if let StopReason::RepeatedFailure { .. } = &reason {
            let (streak, _) = self.log.failure_streak();
            let originals = self
                .ctx
                .hypotheses_file
                .as_ref()
                .and_then(|f| crate::hypotheses::load_file(f, &self.ctx.approved).ok())
                .unwrap_or_default();
            self.log.give_back(&streak, &originals);
            self.log_file.reseal();
        }
        if reason.is_run_condition() {
            self.log.run.continued_from = Some(self.log.next_iteration());
        }
        let now = crate::clock::now_iso();
        self.log.run.ended_at = Some(now.clone());
        self.log.run.stopped_because = Some(reason.to_string());
        if let Some(session) = self.log.run.current_session() {
            session.ended_at = Some(now);
            session.stopped_because = Some(reason.to_string());
        }
        let saved = self.save().and_then(|()| Ok(self.log_file.close()?));
        self.write_digest();
        self.remove_pool();
        match &reason {
            StopReason::Failed(message) => self.ctx.events.emit(Event::RunFailed {
                message: message.clone(),
            }),
            r => self
                .ctx
                .events
                .emit(Event::RunStopped { reason: r.clone() }),
        }
        let (stop, already_complete) = match driven? {
            Driven::Stopped(StopReason::Interrupted) => return Err(RunError::Interrupted),
            Driven::Stopped(StopReason::ModelOutage(message)) => {
                return Err(RunError::ModelOutage { message });
            }
            Driven::Stopped(StopReason::Io(message)) => {
                return Err(RunError::OurIo { message });
            }
            Driven::Stopped(r @ StopReason::RepeatedFailure { .. }) => {
                return Err(RunError::RepeatedFailure {
                    message: r.to_string(),
                });
            }
            Driven::Stopped(stop) => (stop, false),
            Driven::AlreadyComplete(stop) => (stop, true),
        };
        saved?;
        Ok(Finish {
            log: self.log,
            stop,
            already_complete,
        })
    }

    /// The session's work: end what a killed run left, reconcile, then the
    /// batches until a stop condition is met.
    pub(super) async fn drive(&mut self, repo: &Repo, resumed: bool) -> Result<Driven, RunError> {
        let state = &self.ctx.state;
        let ended = crate::leftovers::end_all(&state.processes_path(), &state.process_marker());
        if !ended.is_empty() {
            self.ctx.events.emit(Event::LeftoversEnded {
                process_groups: ended.len(),
            });
        }
        let mut adopted = Vec::new();
        if let crate::runner::Runner::Slurm(slurm) = &self.ctx.runner {
            // Jobs still measuring the unfinished batch are waited for, not
            // submitted again; every other job of a killed run is cancelled.
            let labels: Vec<String> = self
                .log
                .run
                .in_flight
                .iter()
                .flat_map(|f| f.experiments.iter())
                .filter(|m| self.entry(m.iteration).is_none())
                .map(|m| crate::names::exp_label(m.iteration))
                .collect();
            let (kept, left) = slurm
                .adopt_or_cancel(&self.ctx.state.slurm_jobs_path(), &labels)
                .await;
            if !left.is_empty() {
                self.ctx.events.emit(Event::warning(format!(
                    "cancelled slurm {} {} left queued by an earlier run",
                    crate::text::plural(left.len() as u64, "job"),
                    left.join(", ")
                )));
            }
            if !kept.is_empty() {
                self.ctx.events.emit(Event::warning(format!(
                    "waiting for slurm {} {} of an earlier run instead of measuring again",
                    crate::text::plural(kept.len() as u64, "job"),
                    kept.join(", ")
                )));
            }
            adopted = labels
                .into_iter()
                .filter(|l| slurm.has_adopted(l))
                .collect();
        }
        self.reconcile(repo, &adopted)?;
        // What was added or steered while no run was active comes first.
        self.read_inbox()?;
        if resumed
            && self.log.run.in_flight.is_none()
            && !self.log.experiments.iter().any(|e| e.outcome.is_pending())
            && let Some(stop) = self.stop_reason()
            && stop != StopReason::Interrupted
            && !(stop == StopReason::BacklogEmpty && self.wants_hypotheses())
        {
            return Ok(Driven::AlreadyComplete(stop));
        }
        self.iterate().await.map(Driven::Stopped)
    }
}
