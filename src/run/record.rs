//! An experiment's verdict as a log entry: a pure function, so every rule of
//! what gets recorded is checked with plain values.

use super::experiment::{Outcome, Verdict};
use super::session::{split_metrics, to_mapping};
use super::{StopReason, round6};
use crate::events::Event;
use crate::log::{Change, Experiment, Outcome as LogOutcome};
use crate::names;
use crate::spec::Spec;
use crate::text::one_line;

/// What to do with a finished experiment.
#[derive(Debug)]
pub enum Recording {
    /// Append the entry (its hypothesis leaves the backlog in the same
    /// write), then emit the event.
    Append {
        entry: Box<Experiment>,
        event: Event,
    },
    /// Nothing is appended: the hypothesis stays in the backlog, to run
    /// again when the run resumes, and the run stops for this reason.
    Stop(StopReason),
}

/// What every entry records, whatever its outcome.
fn recorded(spec: &Spec, outcome: &Outcome, state: LogOutcome) -> Experiment {
    let job = &outcome.job;
    let mut e = Experiment::new(
        job.iteration,
        job.batch,
        &job.item.description,
        &job.item.category,
        state,
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
        e.judge = Some(judge_record(scores, None));
    }
    if outcome.cost_usd > 0.0 {
        e.record.llm_cost_usd = Some(round6(outcome.cost_usd));
    }
    e.record.measured_from_iteration = job.item.from_iteration;
    e.record.timings = Some(outcome.timings.clone());
    e.record.harness_hash = outcome.harness_hash.clone();
    e.record.slurm_jobs = outcome.jobs.clone();
    e.record.agent_files = outcome.agent_files.clone();
    e.record.failure_cause = match &outcome.verdict {
        Verdict::Error(m) => Some(
            outcome
                .cause
                .clone()
                .unwrap_or_else(|| crate::failure::cause("measure", m)),
        ),
        Verdict::Timeout(_) => Some(
            outcome
                .cause
                .clone()
                .unwrap_or_else(|| "measure: timeout".into()),
        ),
        _ => None,
    };
    e.record.harness_restored = outcome.harness_restored.clone();
    e.record.variant = outcome.variant.clone();
    e.record.variants = outcome.variants.clone();
    if !outcome.criteria.is_empty() {
        e.record.criteria_score = crate::criteria::score(&outcome.criteria, &spec.metric.criteria);
        e.record.criteria = outcome.criteria.clone();
    }
    e.record.base_commit = Some(job.base.to_string());
    if let Some(c) = outcome.commit {
        e.record.experiment_commit = Some(c.to_string());
        e.record.branch = Some(names::exp_branch(&spec.name, job.iteration));
    }
    e
}

/// Judge scores as an entry (or the baseline) records them: each scoring
/// field's mean, the cost, and every item judged with its feedback.
pub(super) fn judge_record(
    scores: &crate::judge::Scores,
    sample_seed: Option<u64>,
) -> serde_yaml::Mapping {
    use serde_yaml::{Mapping, Value};
    let mut j = to_mapping(&scores.fields);
    if let Some(seed) = sample_seed {
        j.insert("sample_seed".into(), Value::from(seed));
    }
    j.insert("judge_cost_usd".into(), round6(scores.cost_usd).into());
    let items: Vec<Value> = scores
        .items
        .iter()
        .map(|item| {
            let mut m = Mapping::new();
            if let Some(id) = &item.id {
                m.insert("id".into(), id.clone().into());
            }
            m.insert("content_hash".into(), item.content_hash.clone().into());
            if item.singleton {
                m.insert("singleton".into(), true.into());
            }
            for (field, x) in &item.scores {
                m.insert(field.clone().into(), (*x).into());
            }
            if let Some(f) = &item.feedback {
                m.insert("feedback".into(), f.clone().into());
            }
            if item.cached {
                m.insert("cached".into(), true.into());
            }
            Value::Mapping(m)
        })
        .collect();
    if !items.is_empty() {
        j.insert("items".into(), Value::Sequence(items));
    }
    j
}

/// A measured entry's metrics, samples and change; returns the primary's value.
fn fill_measured(
    e: &mut Experiment,
    spec: &Spec,
    s: &super::protocol::Sampled,
    stat: Option<&crate::decide::stats::Look>,
    best: Option<f64>,
) -> Option<f64> {
    let primary = &spec.metric.primary.name;
    let m = &s.measured;
    let (g, d) = split_metrics(spec, &m.metrics);
    e.gates = Some(g);
    e.gates_passed = Some(s.gates.iter().all(|g| g.passed));
    e.diagnostics = Some(d);
    e.metrics = Some(to_mapping(&m.metrics));
    e.sample_count = Some(m.samples.len() as u64);
    e.record.samples = Some(crate::decide::snapshot::by_metric(&m.samples));
    e.record.cases = m.cases.clone();
    e.record.feedback = m.feedback.clone();

    if !m.jobs.is_empty() {
        let mut t = e.record.timings.take().unwrap_or_default();
        t.queue_wait_s = Some((m.queued.as_secs_f64() * 1000.0).round() / 1000.0);
        e.record.timings = Some(t);
    }
    e.record.smoke_passed = s.smoke_passed;
    let value = m.metrics.get(primary).copied();
    if let (Some(v), Some(best)) = (value, best) {
        e.primary_delta = Some(crate::decide::format_delta(v - best));
    }
    if let Some(look) = stat {
        // Against the incumbent as re-measured in the same rounds.
        e.primary_delta = Some(crate::decide::format_delta(look.change));
        e.record.primary_ci = Some(look.interval.map(|x| (x * 1e6).round() / 1e6));
        e.record.confidence = Some((look.confidence * 1e4).round() / 1e4);
        e.record.stat_verdict = Some(look.verdict.as_str().into());
    }
    value
}

/// What a degenerate entry says: the gates (or required criteria) it failed.
fn degenerate(
    e: &mut Experiment,
    gates: &[crate::decide::GateResult],
    criteria: &[crate::criteria::CriterionResult],
) -> String {
    let failed: Vec<String> = gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| format!("{} {}", g.name, g.check))
        .collect();
    let detail = if failed.is_empty() {
        format!(
            "failed required criterion {}",
            crate::criteria::failed_required(criteria).join(", ")
        )
    } else {
        format!("failed gate {}", failed.join(", "))
    };
    e.learnings = Some(if failed.is_empty() {
        format!("Failed a required success criterion ({detail}); reverted without comparison.")
    } else {
        format!("Broke a degenerate gate ({detail}); reverted without comparison.")
    });
    detail
}

/// The entry for `outcome`; `best` is the primary's current best value.
pub fn entry(spec: &Spec, outcome: &Outcome, best: Option<f64>) -> Recording {
    let job = &outcome.job;
    let primary = &spec.metric.primary.name;
    let state = match &outcome.verdict {
        Verdict::Interrupted => return Recording::Stop(StopReason::Interrupted),
        Verdict::Halt(why) => return Recording::Stop(why.clone()),
        Verdict::Measured(..) => LogOutcome::Measured,
        Verdict::Degenerate(..) | Verdict::SmokeFailed(_) => LogOutcome::Degenerate,
        Verdict::Error(_) => LogOutcome::Error,
        Verdict::Timeout(_) => LogOutcome::Timeout,
        Verdict::Deferred(..) => LogOutcome::DeferredNeedsApproval,
    };
    let mut e = recorded(spec, outcome, state.clone());
    let detail = match &outcome.verdict {
        Verdict::SmokeFailed(message) => {
            e.record.smoke_passed = Some(false);
            e.error_message = Some(message.clone());
            e.learnings = Some(format!(
                "Failed the ladder's smoke check, so no timed run was spent: {}",
                one_line(message, 160)
            ));
            "smoke test failed".to_string()
        }
        Verdict::Measured(s) | Verdict::Degenerate(s) => {
            let gates = &s.gates;
            let value = fill_measured(&mut e, spec, s, outcome.stat.as_ref(), best);
            if state == LogOutcome::Measured {
                let event = Event::ExperimentMeasured {
                    iteration: job.iteration,
                    primary: primary.clone(),
                    value,
                };
                return Recording::Append {
                    entry: Box::new(e),
                    event,
                };
            }
            degenerate(&mut e, gates, &outcome.criteria)
        }
        Verdict::Error(msg) => {
            e.error_message = Some(msg.clone());
            // Whole: the decisive line and where the output is kept.
            e.learnings = Some(format!("Could not be evaluated: {}", one_line(msg, 600)));
            one_line(msg, 600)
        }
        Verdict::Timeout(msg) => {
            e.error_message = Some(msg.clone());
            e.learnings = Some(format!(
                "The measurement exceeded timeout_seconds ({}s); the approach is too slow or hangs.",
                spec.measurement.timeout_seconds
            ));
            one_line(msg, 160)
        }
        Verdict::Deferred(reason, deps) => {
            e.deferred_reason = Some(reason.clone());
            e.record.deferred_deps = deps.clone();
            e.learnings =
                Some("Set aside until its new dependency is approved; its commit is kept.".into());
            reason.clone()
        }
        Verdict::Interrupted | Verdict::Halt(_) => {
            unreachable!("returned above")
        }
    };
    let event = Event::ExperimentFinished {
        iteration: job.iteration,
        outcome: state,
        detail,
    };
    Recording::Append {
        entry: Box::new(e),
        event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::GateResult;
    use crate::log::{BacklogItem, DepStatus, Priority};
    use crate::measure::Measured;
    use crate::run::experiment::Job;

    fn spec() -> Spec {
        let yaml = "name: t\ndescription: d\nmetric:\n  primary: {type: hard, name: ms, direction: minimize}\n  degenerate_gates: [{name: ok, check: \"== 1\"}]\n  diagnostics: [{name: mem}]\nmeasurement: {command: ./m.sh, timeout_seconds: 7}\nscope: {mutable: [src/], immutable: [m.sh]}\n";
        crate::spec::LoadedSpec::parse_str(yaml, std::path::Path::new("s.yaml"))
            .unwrap()
            .spec
    }

    fn outcome(verdict: Verdict) -> Outcome {
        let item = BacklogItem {
            description: "cache it".into(),
            category: "caching".into(),
            priority: Priority::High,
            dep_status: DepStatus::NotApplicable,
            required_deps: vec![],
            files: vec![],
            apply: None,
            patch: None,
            from_commit: None,
            from_iteration: Some(4),
            extra: Default::default(),
        };
        let job = Job {
            iteration: 9,
            batch: 3,
            slot: 1,
            item,
            base: git2::Oid::ZERO_SHA1,
            best: Some(100.0),
            best_snapshot: serde_json::Value::Null,
            variants: Vec::new(),
        };
        let mut o = Outcome::new(job, verdict);
        o.commit = Some(git2::Oid::from_str("1111111111111111111111111111111111111111").unwrap());
        o.changes = vec![("src/a.rs".into(), "modified")];
        o.cost_usd = 0.0123456789;
        o.jobs = vec!["41".into()];
        o
    }

    fn measured(ms: f64, ok: f64) -> (Measured, Vec<GateResult>) {
        let metrics: crate::measure::Metrics = [
            ("ms".to_string(), ms),
            ("ok".into(), ok),
            ("mem".into(), 5.0),
        ]
        .into();
        let gates = crate::decide::evaluate_gates(&spec().metric.degenerate_gates, &metrics);
        (
            Measured {
                samples: vec![metrics.clone(), metrics.clone()],
                metrics,
                elapsed: std::time::Duration::from_millis(5),
                jobs: vec!["41".into()],
                queued: std::time::Duration::from_secs(3),
                harness_restored: Vec::new(),
                cases: None,
                feedback: None,
            },
            gates,
        )
    }

    fn sampled(
        (measured, gates): (Measured, Vec<GateResult>),
    ) -> Box<crate::run::protocol::Sampled> {
        Box::new(crate::run::protocol::Sampled {
            measured,
            gates,
            judged: None,
            smoke_passed: Some(true),
            decision: crate::decide::rules::decide(&serde_json::json!({})),
        })
    }

    fn append(r: Recording) -> (Experiment, Event) {
        match r {
            Recording::Append { entry, event } => (*entry, event),
            Recording::Stop(s) => panic!("stopped: {s}"),
        }
    }

    #[test]
    fn a_measured_verdict_is_appended_pending_with_its_numbers() {
        let (e, event) = append(entry(
            &spec(),
            &outcome(Verdict::Measured(sampled(measured(80.0, 1.0)))),
            Some(100.0),
        ));
        assert_eq!(e.outcome, LogOutcome::Measured);
        assert_eq!((e.iteration, e.batch), (9, 3));
        assert_eq!(e.primary_delta.as_deref(), Some("-20"));
        assert_eq!(e.sample_count, Some(2));
        assert_eq!(e.gates_passed, Some(true));
        assert_eq!(e.diagnostics.unwrap().len(), 1);
        assert_eq!(e.record.llm_cost_usd, Some(0.012346));
        assert_eq!(e.record.branch.as_deref(), Some("optimize-exp/t/exp-009"));
        assert_eq!(e.record.measured_from_iteration, Some(4));
        assert_eq!(e.changes[0].file, "src/a.rs");
        assert!(e.learnings.is_none(), "learnings come with the decision");
        assert_eq!(e.record.samples.unwrap()["ms"], [80.0, 80.0]);
        assert_eq!(e.record.smoke_passed, Some(true));
        assert_eq!(e.record.slurm_jobs, ["41"]);
        assert_eq!(e.record.timings.unwrap().queue_wait_s, Some(3.0));
        assert!(
            matches!(event, Event::ExperimentMeasured { iteration: 9, value: Some(v), .. } if v == 80.0)
        );
    }

    #[test]
    fn terminal_verdicts_are_final_with_learnings() {
        let (e, event) = append(entry(
            &spec(),
            &outcome(Verdict::Degenerate(sampled(measured(80.0, 0.0)))),
            Some(100.0),
        ));
        assert_eq!(e.outcome, LogOutcome::Degenerate);
        assert!(e.learnings.unwrap().contains("failed gate ok == 1"));
        assert!(matches!(
            event,
            Event::ExperimentFinished {
                outcome: LogOutcome::Degenerate,
                ..
            }
        ));

        let (e, _) = append(entry(
            &spec(),
            &outcome(Verdict::Timeout("slow".into())),
            None,
        ));
        assert_eq!(e.outcome, LogOutcome::Timeout);
        assert_eq!(e.error_message.as_deref(), Some("slow"));
        assert!(e.learnings.unwrap().contains("timeout_seconds (7s)"));

        let (e, _) = append(entry(
            &spec(),
            &outcome(Verdict::Deferred("adds serde".into(), vec!["serde".into()])),
            None,
        ));
        assert_eq!(e.outcome, LogOutcome::DeferredNeedsApproval);
        assert_eq!(e.record.deferred_deps, ["serde"]);
        assert_eq!(e.deferred_reason.as_deref(), Some("adds serde"));

        let (e, _) = append(entry(
            &spec(),
            &outcome(Verdict::SmokeFailed("exit 1".into())),
            None,
        ));
        assert_eq!(e.outcome, LogOutcome::Degenerate);
        assert_eq!(e.record.smoke_passed, Some(false));
        assert!(e.learnings.unwrap().contains("smoke check"));
    }

    #[test]
    fn interruptions_and_outages_append_nothing() {
        assert!(matches!(
            entry(&spec(), &outcome(Verdict::Interrupted), None),
            Recording::Stop(StopReason::Interrupted)
        ));
        assert!(matches!(
            entry(&spec(), &outcome(Verdict::Halt(StopReason::ModelOutage("down".into()))), None),
            Recording::Stop(StopReason::ModelOutage(m)) if m == "down"
        ));
        assert!(matches!(
            entry(&spec(), &outcome(Verdict::Halt(StopReason::CostCap)), None),
            Recording::Stop(StopReason::CostCap)
        ));
    }
}
