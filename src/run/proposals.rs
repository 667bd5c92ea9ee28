//! What the loop asks the model for besides edits: new hypotheses when the
//! backlog runs low, and one short learning per decided experiment. Every
//! call has a transcript and its cost is counted, per entry where it has one.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use super::{BatchEnd, Loop, RunError, StopReason, round6};
use crate::events::Event;
use crate::hypotheses;
use crate::llm::{LlmClient, LlmError};
use crate::spec::HypothesisSource;

/// A request for hypotheses, built from the log as it stands, that can be
/// sent while experiments run.
pub(super) struct Proposal {
    client: Arc<LlmClient>,
    model: String,
    prompt: String,
    /// Every hypothesis tried or queued, which the reply must not repeat.
    known: Vec<String>,
    transcript: PathBuf,
}

/// What the model answered.
pub(super) type Proposed = Result<(Vec<crate::log::BacklogItem>, f64), LlmError>;

impl Proposal {
    pub(super) async fn send(self, cancel: crate::process::Cancel) -> Option<Proposed> {
        tokio::select! {
            r = crate::llm::generate(&self.client, &self.model, &self.prompt, &self.known, &self.transcript) => Some(r),
            _ = cancel.cancelled() => None,
        }
    }
}

impl Loop {
    /// Asks the model for new hypotheses and adds them to the backlog.
    pub(super) async fn propose(&mut self) -> Result<BatchEnd, RunError> {
        let Some(proposal) = self.proposal() else {
            return Ok(BatchEnd::Done);
        };
        match proposal.send(self.ctx.cancel.clone()).await {
            Some(proposed) => self.proposed(proposed),
            None => Ok(BatchEnd::Stop(StopReason::Interrupted)),
        }
    }

    /// The request for new hypotheses, when the spec has a model.
    pub(super) fn proposal(&mut self) -> Option<Proposal> {
        let client = self.ctx.llm.clone()?;
        let spec = &self.ctx.spec;
        let model = client.model_or_default(spec.hypotheses.model.as_ref());
        let mut digest = crate::digest::render(&self.log, spec);
        let prior = self.prior_learnings.get_or_insert_with(|| {
            crate::history::prior_learnings(&self.ctx.repo_root, &self.ctx.state.dir, spec, 12)
                .join("\n")
        });
        if !prior.is_empty() {
            digest += "\n\n## Learnings from earlier runs in this repository\n";
            digest += prior;
        }
        let count = (spec.execution.max_concurrent as usize * 2).max(4);
        let prompt =
            crate::llm::hypothesis_prompt(spec, &self.log, &digest, &self.ctx.repo_root, count);
        let transcript = self.ctx.state.dir.join("llm").join(format!(
            "hypotheses-batch-{:03}.jsonl",
            self.log.next_batch()
        ));
        self.ctx.events.emit(Event::HypothesesRequested {
            model: model.clone(),
        });
        Some(Proposal {
            client,
            model,
            prompt,
            known: self.known_hypotheses(),
            transcript,
        })
    }

    /// Every hypothesis tried or queued, by its description.
    pub(super) fn known_hypotheses(&self) -> Vec<String> {
        self.log
            .experiments
            .iter()
            .map(|e| e.hypothesis.clone())
            .chain(
                self.log
                    .hypothesis_backlog
                    .iter()
                    .map(|h| h.description.clone()),
            )
            .collect()
    }

    /// The model's answer into the backlog (what was tried or queued since
    /// the request was built is dropped again).
    pub(super) fn proposed(&mut self, proposed: Proposed) -> Result<BatchEnd, RunError> {
        let (items, cost) = match proposed {
            Ok(generated) => generated,
            Err(e @ LlmError::Outage { .. }) => {
                return Ok(BatchEnd::Stop(StopReason::ModelOutage(e.to_string())));
            }
            Err(LlmError::Budget(why)) => return Ok(BatchEnd::Stop(StopReason::Budget(why))),
            Err(source) => return Err(RunError::Model { source }),
        };
        self.add_cost(cost);
        let known: Vec<String> = self
            .known_hypotheses()
            .iter()
            .map(|d| crate::llm::normalize(d))
            .collect();
        let items: Vec<_> = items
            .into_iter()
            .filter(|i| !known.contains(&crate::llm::normalize(&i.description)))
            .collect();
        if items.is_empty() {
            self.model_exhausted = true;
        }
        self.ctx
            .events
            .emit(Event::HypothesesProposed { count: items.len() });
        for mut item in items {
            item.dep_status = hypotheses::dep_status(&item.required_deps, &self.ctx.approved);
            self.log.hypothesis_backlog.push(item);
        }
        self.save()?;
        Ok(BatchEnd::Done)
    }

    /// With a model source, one short model-written learning per decided
    /// experiment; the templated learning stays when the model fails. The
    /// call's cost goes to the entry, its exchange to the entry's
    /// `learnings-transcript.jsonl`.
    pub(super) async fn model_learnings(&mut self, iterations: &[u64]) {
        let Some(client) = self.ctx.llm.clone() else {
            return;
        };
        let spec = self.ctx.spec.clone();
        if spec.hypotheses.source != HypothesisSource::Llm {
            return;
        }
        let model = client.model_or_default(spec.hypotheses.model.as_ref());
        for &it in iterations {
            let Some(e) = self.entry(it) else { continue };
            let prompt = crate::prompt::fill(
                crate::prompt::LEARNING,
                &[
                    ("description", spec.description.trim().to_string()),
                    ("primary", spec.metric.primary.name.clone()),
                    ("direction", spec.metric.primary.direction.as_str().into()),
                    ("hypothesis", e.hypothesis.clone()),
                    ("outcome", e.outcome.to_string()),
                    (
                        "delta",
                        e.primary_delta.clone().unwrap_or_else(|| "no delta".into()),
                    ),
                    (
                        "facts",
                        e.learnings
                            .clone()
                            .or(e.error_message.clone())
                            .unwrap_or_default(),
                    ),
                ],
            );
            let messages = [json!({"role": "user", "content": prompt})];
            let reply = tokio::select! {
                r = client.chat(&model, &messages) => r,
                _ = self.ctx.cancel.cancelled() => return,
            };
            let transcript = self
                .ctx
                .state
                .experiment_dir(it)
                .join("learnings-transcript.jsonl");
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) => {
                    crate::llm::transcript(
                        &client,
                        &transcript,
                        &json!({"request": messages, "model": model, "error": e.to_string()}),
                    );
                    continue;
                }
            };
            crate::llm::transcript(
                &client,
                &transcript,
                &json!({
                    "request": messages, "reply": reply.text, "model": model,
                    "usage": {"input_tokens": reply.usage.input_tokens, "output_tokens": reply.usage.output_tokens},
                    "cost_usd": reply.cost_usd,
                }),
            );
            let cost = reply.cost_usd.unwrap_or(0.0);
            self.add_cost(cost);
            let line = crate::text::one_line(&reply.text, 240);
            if let Some(e) = self.entry_mut(it) {
                if cost > 0.0 {
                    let total = e.record.llm_cost_usd.unwrap_or(0.0) + cost;
                    e.record.llm_cost_usd = Some(round6(total));
                }
                if !line.is_empty() {
                    e.record.templated_learnings = e.learnings.take();
                    e.learnings = Some(line);
                }
            }
        }
    }
}
