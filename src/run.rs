//! The loop: baseline, batches, evaluation, stopping. The log is written by
//! the loop itself, synchronously, before it moves on; events only feed what
//! the user sees.

mod evaluate;
mod experiment;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use git2::Oid;
use serde_yaml::{Mapping, Value};

use crate::events::{Event, Reporter};
use crate::git::{GitError, Repo};
use crate::hypotheses::{self, HypothesesError};
use crate::log::{Baseline, Best, Change, Experiment, ExperimentLog, LogError, Outcome};
use crate::measure::{self, Metrics};
use crate::process::Cancel;
use crate::spec::{ExecutionMode, HypothesisSource, LoadedSpec, MetricType, Spec};
use crate::state::StateDir;
use crate::worktree::Worktree;

pub use experiment::{commit_message, exp_branch};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Hypotheses(#[from] HypothesesError),
    #[error("the baseline measurement failed: {0}")]
    Baseline(String),
    #[error("the baseline fails its own gate{}: {}; fix the project or the gate before starting a run", if .0.len() == 1 { "" } else { "s" }, .0.join(", "))]
    BaselineGates(Vec<String>),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Conflict(String),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("interrupted; run the same command again to resume")]
    Interrupted,
    #[error("{0}")]
    Model(String),
}

pub use crate::stop::{Standing, StopReason};

pub struct Request<'a> {
    pub loaded: &'a LoadedSpec,
    pub repo_root: PathBuf,
    pub state: StateDir,
    pub reporter: Arc<dyn Reporter>,
    pub cancel: Cancel,
}

pub struct Finish {
    pub log: ExperimentLog,
    pub stop: StopReason,
    /// The run had already stopped before this session; nothing new ran.
    pub already_complete: bool,
}

/// Shared by the experiments of a batch.
pub(crate) struct Ctx {
    pub spec: Spec,
    pub repo_root: PathBuf,
    pub state: StateDir,
    pub cancel: Cancel,
    pub reporter: Arc<dyn Reporter>,
    pub always_immutable: Vec<String>,
    pub approved: Vec<String>,
    /// The model client, when the spec uses one (and a key is available).
    pub llm: Option<Arc<crate::llm::LlmClient>>,
    /// Dollars spent on judging so far (all sessions).
    pub judge_spent: Arc<Mutex<f64>>,
}

impl Ctx {
    /// When the primary is a judge score: judges the tree's items and adds
    /// the scores to `m.metrics` (under the scoring names and the primary's
    /// name), so every comparison reads them like hard metrics.
    pub async fn judge_into(
        &self,
        tree: &Path,
        m: &mut measure::Measured,
        transcript: &Path,
    ) -> Result<Option<crate::judge::Scores>, crate::judge::JudgeError> {
        let spec = &self.spec;
        let (MetricType::Judge, Some(judge), Some(client)) =
            (spec.metric.primary.kind, &spec.metric.judge, &self.llm)
        else {
            return Ok(None);
        };
        let items = tree
            .join(&spec.measurement.working_directory)
            .join(&judge.items_file);
        let spent = *self.judge_spent.lock().unwrap_or_else(|p| p.into_inner());
        let mut budget = crate::judge::Budget {
            cap: judge.max_total_cost_usd,
            spent,
        };
        let result = crate::judge::judge_tree(client, judge, &items, transcript, &mut budget).await;
        *self.judge_spent.lock().unwrap_or_else(|p| p.into_inner()) += budget.spent - spent;
        let scores = result?;
        for (k, v) in &scores.fields {
            m.metrics.insert(k.clone(), *v);
        }
        if let Some(v) = scores.fields.get(&judge.scoring.primary) {
            m.metrics.insert(spec.metric.primary.name.clone(), *v);
        }
        Ok(Some(scores))
    }

    /// The comparison threshold: `judge.minimum_improvement` for judges.
    pub fn threshold(&self) -> f64 {
        match (&self.spec.metric.primary.kind, &self.spec.metric.judge) {
            (MetricType::Judge, Some(j)) => j.minimum_improvement,
            _ => self.spec.measurement.stability.noise_threshold,
        }
    }

    /// Records each process group a command of this run starts, so a
    /// later run can end the ones a killed run left behind.
    pub fn group_recorder(&self) -> impl Fn(u32) + Sync + use<> {
        let registry = self.state.processes_path();
        move |pgid| crate::process::leftovers::record(&registry, pgid)
    }
}

/// Test-only fault injection: `OPTIMIZE_FAULT=<point>` SIGKILLs the process
/// (exactly as `kill -9` would) the first time the loop reaches the point,
/// `<point>:<n>` the n-th time.
pub fn fault(point: &str) {
    let Ok(wanted) = std::env::var("OPTIMIZE_FAULT") else {
        return;
    };
    let (name, nth) = match wanted.split_once(':') {
        Some((n, k)) => (n.to_string(), k.parse::<u32>().unwrap_or(1)),
        None => (wanted, 1),
    };
    if name != point {
        return;
    }
    static SEEN: Mutex<u32> = Mutex::new(0);
    let count = {
        let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
        *seen += 1;
        *seen
    };
    if count == nth {
        // SAFETY: raising SIGKILL on ourselves has no preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

pub fn opt_branch(name: &str) -> String {
    format!("optimize/{name}")
}

struct Loop {
    ctx: Arc<Ctx>,
    /// The model server failed through its outage budget during this batch.
    outage: Option<String>,
    /// The model proposed nothing new last time it was asked.
    model_exhausted: bool,
    /// The judge budget ran out during this batch.
    budget_spent: bool,
    log: ExperimentLog,
    log_path: PathBuf,
    session_start: Instant,
    prior_active: f64,
}

pub async fn run(req: Request<'_>) -> Result<Finish, RunError> {
    let spec = req.loaded.spec.clone();
    // Only a model source or a judge needs the model for sure; a file of
    // `apply` hypotheses never calls it.
    let llm = match crate::llm::LlmClient::from_spec(&spec) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) if spec.hypotheses.source == HypothesisSource::Llm => {
            return Err(RunError::Unsupported(format!(
                "hypotheses.source is llm (the default), but {e}"
            )));
        }
        Err(e) if spec.metric.primary.kind == MetricType::Judge => {
            return Err(RunError::Unsupported(format!(
                "metric.primary.type is judge, so the judge model is needed, but {e}"
            )));
        }
        Err(_) => None,
    };
    let hyp_file = spec
        .hypotheses
        .file
        .as_ref()
        .map(|f| req.loaded.dir().join(f));
    let repo = Repo::open(&req.repo_root)?;
    let log_path = req.state.log_path();
    let resumed = log_path.exists();
    req.reporter.report(&Event::Started {
        name: spec.name.clone(),
        resumed,
    });
    let mut extra_immutable: Vec<&Path> = Vec::new();
    if let Some(f) = &hyp_file {
        extra_immutable.push(f);
    }
    let start_commit = repo.head_commit()?;
    let approvals = crate::approvals::Approvals::load(&req.state.approvals_path())
        .map_err(RunError::Conflict)?;
    let mut approved = spec.dependencies.approved.clone();
    approved.extend(approvals.approved.iter().cloned());
    let always = implement_always(&spec, &req, &extra_immutable);
    let ctx = Arc::new(Ctx {
        approved,
        llm,
        judge_spent: Arc::new(Mutex::new(0.0)),
        spec,
        repo_root: req.repo_root.clone(),
        state: req.state.clone(),
        cancel: req.cancel.clone(),
        reporter: req.reporter.clone(),
        always_immutable: always,
    });

    let log = if resumed {
        ExperimentLog::load(&log_path)?
    } else {
        let backlog = match &hyp_file {
            Some(f) => hypotheses::load_file(f, &ctx.approved)?,
            None => Vec::new(),
        };
        let branch = opt_branch(&ctx.spec.name);
        if repo.branch_commit(&branch)?.is_some() {
            return Err(RunError::Conflict(format!(
                "branch {branch} already exists but {} has no log; run with --fresh to archive it and start anew",
                crate::commands::display_path(&log_path)
            )));
        }
        let baseline = baseline(&ctx, &repo, start_commit).await?;
        let mut log = new_log(&ctx.spec, start_commit, baseline, backlog);
        std::fs::write(req.state.spec_path(), &req.loaded.text).map_err(|source| RunError::Io {
            path: req.state.spec_path(),
            source,
        })?;
        log.save(&log_path)?;
        repo.set_branch(&branch, start_commit)?;
        log.extra.insert("active_seconds".into(), Value::from(0.0));
        log
    };
    let mut log = log;
    *ctx.judge_spent.lock().unwrap_or_else(|p| p.into_inner()) =
        log.best.total_judge_cost_usd.unwrap_or(0.0);
    crate::approvals::apply(&mut log, &approvals, &ctx.spec.dependencies.approved);
    start_session(&mut log, &req.loaded.text, resumed);
    let prior_active = log
        .extra
        .get("active_seconds")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mut lp = Loop {
        ctx,
        outage: None,
        model_exhausted: false,
        budget_spent: false,
        log,
        log_path,
        session_start: Instant::now(),
        prior_active,
    };
    let killed = crate::process::leftovers::end_all(
        &req.state.processes_path(),
        &req.state.process_marker(),
    );
    if !killed.is_empty() {
        lp.ctx.reporter.report(&Event::Note(format!(
            "ended {} process group{} left running by an earlier run",
            killed.len(),
            if killed.len() == 1 { "" } else { "s" }
        )));
    }
    lp.reconcile(&repo)?;
    if resumed
        && !lp.log.extra.contains_key("in_flight")
        && !lp.log.experiments.iter().any(|e| e.outcome.is_pending())
        && let Some(stop) = lp.stop_reason()
        && stop != StopReason::Interrupted
        && !(stop == StopReason::BacklogEmpty && lp.wants_hypotheses())
    {
        return Ok(Finish {
            log: lp.log,
            stop,
            already_complete: true,
        });
    }
    let stop = lp.iterate().await?;
    lp.ctx.reporter.report(&Event::Stopped {
        reason: stop.to_string(),
    });
    lp.log
        .extra
        .insert("stopped_because".into(), Value::from(stop.to_string()));
    end_session(&mut lp.log, &stop);
    lp.save()?;
    lp.write_digest();
    if stop == StopReason::Interrupted {
        return Err(RunError::Interrupted);
    }
    Ok(Finish {
        log: lp.log,
        stop,
        already_complete: false,
    })
}

/// FNV-1a of the spec text: tells whether the spec changed between sessions.
pub fn spec_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Run metadata: one `sessions` entry per start or resume.
fn start_session(log: &mut ExperimentLog, spec_text: &str, resumed: bool) {
    let mut s = Mapping::new();
    s.insert("started_at".into(), Value::from(crate::clock::now_iso()));
    s.insert(
        "kind".into(),
        Value::from(if resumed { "resume" } else { "start" }),
    );
    s.insert("pid".into(), Value::from(std::process::id()));
    s.insert("host".into(), Value::from(crate::state::hostname()));
    s.insert(
        "tool_version".into(),
        Value::from(env!("CARGO_PKG_VERSION")),
    );
    let hash = spec_hash(spec_text);
    if log
        .extra
        .get("spec_hash")
        .and_then(Value::as_str)
        .is_some_and(|h| h != hash)
    {
        s.insert("spec_changed".into(), Value::from(true));
    }
    log.extra.insert("spec_hash".into(), Value::from(hash));
    let sessions = log
        .extra
        .entry("sessions".into())
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if let Value::Sequence(seq) = sessions {
        seq.push(Value::Mapping(s));
    }
}

fn end_session(log: &mut ExperimentLog, stop: &StopReason) {
    let now = crate::clock::now_iso();
    log.extra
        .insert("ended_at".into(), Value::from(now.as_str()));
    if let Some(Value::Sequence(seq)) = log.extra.get_mut("sessions")
        && let Some(Value::Mapping(last)) = seq.last_mut()
    {
        last.insert("ended_at".into(), Value::from(now));
        last.insert("stopped_because".into(), Value::from(stop.to_string()));
    }
}

fn implement_always(spec: &Spec, req: &Request<'_>, extra: &[&Path]) -> Vec<String> {
    crate::implement::always_immutable(
        spec,
        &req.repo_root,
        &req.repo_root,
        &req.loaded.file,
        extra,
    )
}

async fn baseline(ctx: &Arc<Ctx>, repo: &Repo, commit: Oid) -> Result<Baseline, RunError> {
    let spec = &ctx.spec;
    ctx.reporter.report(&Event::BaselineStarted {
        commit: commit.to_string(),
        runs: spec.measurement.stability.runs(),
    });
    let wt = Worktree::create_detached(repo, &ctx.state, "baseline", commit)?;
    let out_dir = ctx.state.dir.join("baseline");
    let on_spawn = ctx.group_recorder();
    let measured = match wt.copy_shared_files(&ctx.repo_root, spec) {
        Err(e) => Err(e.to_string()),
        Ok(()) => {
            let req = measure::Request {
                spec,
                tree: &wt.path,
                env: wt.env(&ctx.repo_root, spec, 0, 0),
                out_dir: &out_dir,
                on_spawn: &on_spawn,
                on_run: &|_| {},
            };
            match measure::measure(req, &ctx.cancel).await {
                Ok(mut m) => {
                    let gates =
                        crate::decide::evaluate_gates(&spec.metric.degenerate_gates, &m.metrics);
                    if crate::decide::all_passed(&gates) {
                        match ctx
                            .judge_into(&wt.path, &mut m, &out_dir.join("judge-transcript.jsonl"))
                            .await
                        {
                            Ok(scores) => Ok((m, scores)),
                            Err(e) => Err(format!("judging the baseline failed: {e}")),
                        }
                    } else {
                        Ok((m, None))
                    }
                }
                Err(measure::MeasureFailure::Interrupted) => {
                    wt.remove(repo)?;
                    return Err(RunError::Interrupted);
                }
                Err(f) => Err(f.to_string()),
            }
        }
    };
    wt.remove(repo)?;
    let (measured, judged) = measured.map_err(RunError::Baseline)?;
    let gates = crate::decide::evaluate_gates(&spec.metric.degenerate_gates, &measured.metrics);
    let failed: Vec<String> = gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| g.name.clone())
        .collect();
    if !failed.is_empty() {
        return Err(RunError::BaselineGates(failed));
    }
    ctx.reporter.report(&Event::BaselineMeasured {
        primary: spec.metric.primary.name.clone(),
        value: measured.metrics.get(&spec.metric.primary.name).copied(),
    });
    let (gates_map, diagnostics) = split_metrics(spec, &measured.metrics);
    let mut extra = Mapping::new();
    extra.insert("commit".into(), Value::from(commit.to_string()));
    if measured.samples.len() > 1 {
        extra.insert(
            "sample_count".into(),
            Value::from(measured.samples.len() as u64),
        );
    }
    let judge = judged.map(|scores| {
        let mut j = to_mapping(&scores.fields);
        if let Some(cfg) = &spec.metric.judge {
            j.insert("sample_seed".into(), Value::from(cfg.sample_seed));
        }
        j.insert(
            "judge_cost_usd".into(),
            Value::from((scores.cost_usd * 1e6).round() / 1e6),
        );
        j
    });
    Ok(Baseline {
        timestamp: Some(crate::clock::now_iso()),
        gates: gates_map,
        metrics: Some(to_mapping(&measured.metrics)),
        diagnostics,
        judge,
        extra,
    })
}

fn new_log(
    spec: &Spec,
    start: Oid,
    baseline: Baseline,
    backlog: Vec<crate::log::BacklogItem>,
) -> ExperimentLog {
    let mut best_extra = Mapping::new();
    best_extra.insert("commit".into(), Value::from(start.to_string()));
    let mut extra = Mapping::new();
    extra.insert(
        "tool_version".into(),
        Value::from(env!("CARGO_PKG_VERSION")),
    );
    extra.insert("start_commit".into(), Value::from(start.to_string()));
    extra.insert("host".into(), Value::from(crate::state::hostname()));
    ExperimentLog {
        spec: spec.name.clone(),
        run_id: crate::clock::compact_now(),
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
            extra: best_extra,
        },
        baseline,
        experiments: Vec::new(),
        hypothesis_backlog: backlog,
        extra,
    }
}

pub fn to_mapping(m: &Metrics) -> Mapping {
    m.iter()
        .map(|(k, v)| (Value::from(k.as_str()), Value::from(*v)))
        .collect()
}

/// Gates and diagnostics as the schema records them.
fn split_metrics(spec: &Spec, m: &Metrics) -> (Mapping, Mapping) {
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
    fn save(&mut self) -> Result<(), RunError> {
        if let Some(client) = &self.ctx.llm {
            let unknown = client.unknown_prices();
            if !unknown.is_empty() {
                let list: Vec<Value> = unknown.into_iter().map(Value::from).collect();
                self.log
                    .extra
                    .insert("cost_unknown_for_models".into(), Value::Sequence(list));
            }
        }
        if self.ctx.spec.metric.primary.kind == MetricType::Judge {
            let spent = *self
                .ctx
                .judge_spent
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.log.best.total_judge_cost_usd = Some((spent * 1e6).round() / 1e6);
        }
        let active = self.prior_active + self.session_start.elapsed().as_secs_f64();
        self.log.extra.insert(
            "active_seconds".into(),
            Value::from((active * 10.0).round() / 10.0),
        );
        self.log.save(&self.log_path)?;
        Ok(())
    }

    fn active_hours(&self) -> f64 {
        (self.prior_active + self.session_start.elapsed().as_secs_f64()) / 3600.0
    }

    pub fn best_commit(&self) -> Option<Oid> {
        self.log
            .best
            .extra
            .get("commit")
            .and_then(Value::as_str)
            .and_then(Repo::parse_oid)
    }

    fn best_value(&self) -> Option<f64> {
        self.log.best.metric(&self.ctx.spec.metric.primary.name)
    }

    fn write_digest(&self) {
        let text = crate::digest::render(&self.log, &self.ctx.spec);
        crate::run::fault("digest-write");
        if let Err(e) = crate::fsutil::write_atomic(&self.ctx.state.digest_path(), text.as_bytes())
        {
            self.ctx.reporter.report(&Event::Note(format!(
                "warning: cannot write the strategy digest: {e}"
            )));
        }
    }

    /// Makes the branch agree with `best` and removes stray worktrees.
    fn reconcile(&mut self, repo: &Repo) -> Result<(), RunError> {
        let branch = opt_branch(&self.ctx.spec.name);
        if let Some(best) = self.best_commit()
            && repo.branch_commit(&branch)? != Some(best)
        {
            repo.set_branch(&branch, best)?;
        }
        let prefix = format!("optimize-{}-", self.ctx.spec.name);
        for admin in repo.worktrees_with_prefix(&prefix)? {
            let label = admin.trim_start_matches(&prefix).to_string();
            // A concurrent `optimize validate` owns its own worktree.
            if label.starts_with("validate-") {
                continue;
            }
            let wt = Worktree::location(&self.ctx.state, &label);
            repo.forget_worktree(&wt.admin, &wt.path)?;
        }
        // Branches of experiments that never reached the log, and of
        // combinations that were not kept, are unfinished work.
        let _git = crate::git::exclusive();
        let exp_prefix = format!("optimize-exp/{}/exp-", self.ctx.spec.name);
        for b in repo.branches_with_prefix(&exp_prefix)? {
            let rest = &b[exp_prefix.len()..];
            let (number, combined) = match rest.strip_suffix("-combined") {
                Some(n) => (n, true),
                None => (rest, false),
            };
            let Ok(iteration) = number.parse::<u64>() else {
                continue;
            };
            let keep = match self.entry(iteration) {
                None => false,
                Some(e) if combined => {
                    matches!(e.outcome, Outcome::RunnerUpKept | Outcome::RunnerUpReverted)
                }
                Some(_) => true,
            };
            if !keep {
                repo.delete_branch(&b)?;
            }
        }
        Ok(())
    }

    fn stop_reason(&self) -> Option<StopReason> {
        if self.ctx.cancel.is_cancelled() {
            return Some(StopReason::Interrupted);
        }
        let judge_spent = *self
            .ctx
            .judge_spent
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Standing::of(&self.ctx.spec, &self.log, self.active_hours(), judge_spent)
            .first_stop(&self.ctx.spec)
    }

    async fn iterate(&mut self) -> Result<StopReason, RunError> {
        // A batch an earlier session started: finish it with the same members,
        // iterations and base commit, so the result equals an uninterrupted run's.
        if let Some(jobs) = self.unfinished_batch() {
            self.dispatch(jobs).await?;
            if self.ctx.cancel.is_cancelled() {
                return Ok(StopReason::Interrupted);
            }
            self.evaluate().await?;
        } else if self.log.experiments.iter().any(|e| e.outcome.is_pending()) {
            self.evaluate().await?;
        }
        loop {
            if matches!(self.stop_reason(), None | Some(StopReason::BacklogEmpty))
                && self.wants_hypotheses()
            {
                self.propose().await?;
            }
            if let Some(stop) = self.stop_reason() {
                return Ok(stop);
            }
            let spec = &self.ctx.spec;
            let remaining = spec.stopping.max_iterations - self.log.experiments.len() as u64;
            let width = (spec.execution.max_concurrent as u64).min(remaining) as usize;
            let chosen = hypotheses::select_batch(&self.log.hypothesis_backlog, width);
            let base = self.best_commit().ok_or_else(|| {
                RunError::Conflict(
                    "the log's best has no commit; the log was edited or is not ours".into(),
                )
            })?;
            let batch = self.log.next_batch();
            let first = self.log.next_iteration();
            let jobs: Vec<experiment::Job> = chosen
                .iter()
                .enumerate()
                .map(|(slot, &i)| experiment::Job {
                    iteration: first + slot as u64,
                    batch,
                    slot: slot as u32,
                    item: self.log.hypothesis_backlog[i].clone(),
                    base,
                    best: self.best_value(),
                })
                .collect();
            self.plan_in_flight(&jobs)?;
            fault("batch-planned");
            self.dispatch(jobs).await?;
            if let Some(message) = self.outage.take() {
                return Err(RunError::Model(message));
            }
            if self.budget_spent {
                return Ok(StopReason::CostCap);
            }
            if self.ctx.cancel.is_cancelled() {
                return Ok(StopReason::Interrupted);
            }
            self.evaluate().await?;
        }
    }

    /// Whether to ask the model for more hypotheses now.
    fn wants_hypotheses(&self) -> bool {
        let spec = &self.ctx.spec;
        let runnable = self
            .log
            .hypothesis_backlog
            .iter()
            .filter(|h| hypotheses::runnable(h))
            .count();
        spec.hypotheses.source == HypothesisSource::Llm
            && !self.model_exhausted
            && runnable < spec.execution.max_concurrent as usize
    }

    /// Asks the model for new hypotheses and adds them to the backlog.
    async fn propose(&mut self) -> Result<(), RunError> {
        let Some(client) = self.ctx.llm.clone() else {
            return Ok(());
        };
        let spec = &self.ctx.spec;
        let model = client.model_or_default(spec.hypotheses.model.as_ref());
        let digest = crate::digest::render(&self.log, spec);
        let count = (spec.execution.max_concurrent as usize * 2).max(4);
        let prompt =
            crate::llm::hypothesis_prompt(spec, &self.log, &digest, &self.ctx.repo_root, count);
        let path = self.ctx.state.dir.join("llm").join(format!(
            "hypotheses-batch-{:03}.jsonl",
            self.log.next_batch()
        ));
        self.ctx
            .reporter
            .report(&Event::Note(format!("asking {model} for hypotheses")));
        let (items, cost) = tokio::select! {
            r = crate::llm::generate(&client, &model, &prompt, &self.log, &path) => r.map_err(|e| RunError::Model(e.to_string()))?,
            _ = self.ctx.cancel.cancelled() => return Ok(()),
        };
        self.add_cost(cost);
        if items.is_empty() {
            self.model_exhausted = true;
        }
        self.ctx.reporter.report(&Event::Note(format!(
            "the model proposed {} new hypotheses",
            items.len()
        )));
        for mut item in items {
            item.dep_status = hypotheses::dep_status(&item.required_deps, &self.ctx.approved);
            self.log.hypothesis_backlog.push(item);
        }
        self.save()
    }

    fn add_cost(&mut self, cost: f64) {
        if cost <= 0.0 {
            return;
        }
        let total = self
            .log
            .extra
            .get("total_llm_cost_usd")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
            + cost;
        self.log.extra.insert(
            "total_llm_cost_usd".into(),
            Value::from((total * 1e6).round() / 1e6),
        );
    }

    /// Writes the batch about to run into the log (`in_flight`), before any
    /// of it starts; the hypotheses stay in the backlog until appended.
    fn plan_in_flight(&mut self, jobs: &[experiment::Job]) -> Result<(), RunError> {
        let Some(first) = jobs.first() else {
            return Ok(());
        };
        let mut plan = Mapping::new();
        plan.insert("batch".into(), Value::from(first.batch));
        plan.insert("base".into(), Value::from(first.base.to_string()));
        let members: Vec<Value> = jobs
            .iter()
            .map(|j| {
                let mut m = Mapping::new();
                m.insert("iteration".into(), Value::from(j.iteration));
                m.insert("slot".into(), Value::from(j.slot));
                m.insert(
                    "hypothesis".into(),
                    Value::from(j.item.description.as_str()),
                );
                Value::Mapping(m)
            })
            .collect();
        plan.insert("experiments".into(), Value::Sequence(members));
        self.log
            .extra
            .insert("in_flight".into(), Value::Mapping(plan));
        self.save()
    }

    /// The members of the `in_flight` batch that have no entry yet.
    fn unfinished_batch(&self) -> Option<Vec<experiment::Job>> {
        let plan = self.log.extra.get("in_flight")?.as_mapping()?;
        let batch = plan.get("batch")?.as_u64()?;
        let base = plan.get("base")?.as_str().and_then(Repo::parse_oid)?;
        let mut jobs = Vec::new();
        for m in plan.get("experiments")?.as_sequence()? {
            let (Some(iteration), Some(slot), Some(desc)) = (
                m.get("iteration").and_then(Value::as_u64),
                m.get("slot").and_then(Value::as_u64),
                m.get("hypothesis").and_then(Value::as_str),
            ) else {
                continue;
            };
            if self.entry(iteration).is_some() {
                continue;
            }
            // A hypothesis removed from the backlog by hand is not run.
            if let Some(item) = self
                .log
                .hypothesis_backlog
                .iter()
                .find(|h| h.description == desc)
            {
                jobs.push(experiment::Job {
                    iteration,
                    batch,
                    slot: slot as u32,
                    item: item.clone(),
                    base,
                    best: self.best_value(),
                });
            }
        }
        Some(jobs)
    }

    async fn dispatch(&mut self, jobs: Vec<experiment::Job>) -> Result<(), RunError> {
        if jobs.is_empty() {
            return Ok(());
        }
        self.ctx.reporter.report(&Event::BatchStarted {
            batch: jobs[0].batch,
            experiments: jobs
                .iter()
                .map(|j| (j.iteration, j.item.description.clone()))
                .collect(),
        });
        let spec = &self.ctx.spec;
        let serial = spec.execution.mode == ExecutionMode::Serial
            || !spec.parallel.exclusive_resources.is_empty();
        if serial {
            for job in jobs {
                if self.ctx.cancel.is_cancelled() {
                    break;
                }
                let outcome = experiment::run(self.ctx.clone(), job).await;
                self.record(outcome)?;
            }
        } else {
            let mut set = tokio::task::JoinSet::new();
            for job in jobs {
                set.spawn(experiment::run(self.ctx.clone(), job));
            }
            while let Some(done) = set.join_next().await {
                let outcome = done.expect("an experiment task panicked");
                self.record(outcome)?;
            }
        }
        Ok(())
    }

    /// Appends an experiment's entry and takes its hypothesis off the
    /// backlog, in one atomic write.
    fn record(&mut self, outcome: experiment::Outcome) -> Result<(), RunError> {
        let job = &outcome.job;
        let spec = &self.ctx.spec;
        let (state, detail) = match &outcome.verdict {
            experiment::Verdict::Interrupted => return Ok(()),
            experiment::Verdict::Outage(message) => {
                self.outage = Some(message.clone());
                return Ok(());
            }
            experiment::Verdict::BudgetSpent(message) => {
                self.budget_spent = true;
                self.ctx.reporter.report(&Event::Note(message.clone()));
                return Ok(());
            }
            experiment::Verdict::Measured(m, _) => (
                Outcome::Measured,
                format!(
                    "{} = {}",
                    spec.metric.primary.name,
                    m.metrics
                        .get(&spec.metric.primary.name)
                        .map(|v| crate::text::fmt_num(*v))
                        .unwrap_or_default()
                ),
            ),
            experiment::Verdict::Degenerate(_, gates) => (
                Outcome::Degenerate,
                format!(
                    "failed gate {}",
                    gates
                        .iter()
                        .filter(|g| !g.passed)
                        .map(|g| format!("{} {}", g.name, g.check))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            experiment::Verdict::Error(msg) => (Outcome::Error, crate::text::one_line(msg, 160)),
            experiment::Verdict::Timeout(msg) => {
                (Outcome::Timeout, crate::text::one_line(msg, 160))
            }
            experiment::Verdict::Deferred(reason, _) => {
                (Outcome::DeferredNeedsApproval, reason.clone())
            }
        };
        let mut e = Experiment::new(
            job.iteration,
            job.batch,
            &job.item.description,
            &job.item.category,
            state.clone(),
        );
        e.changes = outcome
            .changes
            .iter()
            .map(|(f, what)| Change {
                file: f.clone(),
                summary: what.to_string(),
            })
            .collect();
        if let Some(scores) = &outcome.judge {
            let mut j = to_mapping(&scores.fields);
            j.insert(
                "judge_cost_usd".into(),
                Value::from((scores.cost_usd * 1e6).round() / 1e6),
            );
            e.judge = Some(j);
        }
        if outcome.cost_usd > 0.0 {
            e.extra.insert(
                "llm_cost_usd".into(),
                Value::from((outcome.cost_usd * 1e6).round() / 1e6),
            );
        }
        let cost = outcome.cost_usd;
        if let Some(from) = job.item.extra.get("from_iteration") {
            e.extra
                .insert("measured_from_iteration".into(), from.clone());
        }
        let timings: Mapping = outcome
            .timings
            .iter()
            .map(|(k, v)| (Value::from(*k), Value::from((v * 1000.0).round() / 1000.0)))
            .collect();
        e.extra.insert("timings".into(), Value::Mapping(timings));
        if let Some(c) = outcome.commit {
            e.extra
                .insert("experiment_commit".into(), Value::from(c.to_string()));
            e.extra.insert(
                "branch".into(),
                Value::from(exp_branch(&spec.name, job.iteration)),
            );
        }
        match &outcome.verdict {
            experiment::Verdict::Measured(m, gates) | experiment::Verdict::Degenerate(m, gates) => {
                let (g, d) = split_metrics(spec, &m.metrics);
                e.gates = Some(g);
                e.gates_passed = Some(gates.iter().all(|g| g.passed));
                e.diagnostics = Some(d);
                e.metrics = Some(to_mapping(&m.metrics));
                e.sample_count = Some(m.samples.len() as u64);
                if let (Some(v), Some(best)) =
                    (m.metrics.get(&spec.metric.primary.name), self.best_value())
                {
                    e.primary_delta = Some(crate::decide::format_delta(v - best));
                }
                if state == Outcome::Degenerate {
                    e.learnings = Some(format!(
                        "Broke a degenerate gate ({detail}); reverted without comparison."
                    ));
                }
            }
            experiment::Verdict::Error(msg) => {
                e.error_message = Some(msg.clone());
                e.learnings = Some(format!(
                    "Could not be evaluated: {}",
                    crate::text::one_line(msg, 160)
                ));
            }
            experiment::Verdict::Timeout(msg) => {
                e.error_message = Some(msg.clone());
                e.learnings = Some(format!(
                    "The measurement exceeded timeout_seconds ({}s); the approach is too slow or hangs.",
                    spec.measurement.timeout_seconds
                ));
            }
            experiment::Verdict::Deferred(reason, deps) => {
                e.deferred_reason = Some(reason.clone());
                let names: Vec<Value> = deps.iter().map(|d| Value::from(d.as_str())).collect();
                e.extra
                    .insert("deferred_deps".into(), Value::Sequence(names));
                e.learnings = Some(
                    "Set aside until its new dependency is approved; its commit is kept.".into(),
                );
            }
            experiment::Verdict::Interrupted
            | experiment::Verdict::Outage(_)
            | experiment::Verdict::BudgetSpent(_) => unreachable!(),
        }
        let at = self
            .log
            .experiments
            .iter()
            .position(|x| x.iteration > e.iteration)
            .unwrap_or(self.log.experiments.len());
        self.log.experiments.insert(at, e);
        self.add_cost(cost);
        if let Some(i) = self
            .log
            .hypothesis_backlog
            .iter()
            .position(|h| h.description == job.item.description)
        {
            self.log.hypothesis_backlog.remove(i);
        }
        self.save()?;
        crate::run::fault("appended-before-evaluation");
        self.ctx.reporter.report(&Event::Recorded {
            iteration: job.iteration,
            outcome: state,
            detail,
        });
        Ok(())
    }
}
