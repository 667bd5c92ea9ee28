//! New hypotheses from the model: a prompt bounded in size (the digest, the
//! last 10 experiments, the backlog, a bounded file tree), a validated reply
//! (sent back once with the error), and no repeats.

use std::path::Path;

use serde_json::{Value, json};

use super::{LlmClient, LlmError, json_object, transcript};
use crate::log::{BacklogItem, ExperimentLog, Priority};
use crate::spec::Spec;
use crate::text::{fmt_num, one_line};

pub const TEMPLATE: &str = include_str!("../../prompts/hypothesize.md");

/// Entries of the file tree shown, and of the backlog.
const TREE_ENTRIES: usize = 200;
const BACKLOG_ENTRIES: usize = 30;
const RECENT: usize = 10;

fn file_tree(root: &Path, spec: &Spec) -> String {
    let mut out = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = spec
        .scope
        .mutable
        .iter()
        .map(|m| root.join(m.trim_end_matches('/')))
        .collect();
    while let Some(p) = stack.pop() {
        if out.len() >= TREE_ENTRIES {
            out.push("...".to_string());
            break;
        }
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                let mut children: Vec<_> = entries.flatten().map(|e| e.path()).collect();
                children.sort();
                children.reverse();
                stack.extend(children.into_iter().filter(|c| !c.ends_with(".git")));
            }
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(format!("- {} ({} bytes)", rel.display(), meta.len()));
        }
    }
    if out.is_empty() {
        "(none)".into()
    } else {
        out.join("\n")
    }
}

pub fn hypothesis_prompt(
    spec: &Spec,
    log: &ExperimentLog,
    digest: &str,
    root: &Path,
    count: usize,
) -> String {
    let primary = &spec.metric.primary.name;
    let num = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "?".into());
    let (recent, backlog) = (recent_lines(log), backlog_lines(log));
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    crate::prompt::fill(
        TEMPLATE,
        &[
            ("description", spec.description.trim().to_string()),
            ("primary", primary.clone()),
            ("direction", spec.metric.primary.direction.as_str().into()),
            ("baseline", num(log.baseline.metric(primary))),
            ("best", num(log.best.metric(primary))),
            (
                "constraints",
                if spec.constraints.is_empty() {
                    "(none)".into()
                } else {
                    spec.constraints
                        .iter()
                        .map(|c| format!("- {c}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            ),
            ("mutable", list(&spec.scope.mutable)),
            ("immutable", list(&spec.scope.immutable)),
            ("approved", list(&spec.dependencies.approved)),
            ("tree", file_tree(root, spec)),
            ("digest", digest.trim().to_string()),
            (
                "recent",
                if recent.is_empty() {
                    "(none yet)".into()
                } else {
                    recent.join("\n")
                },
            ),
            (
                "backlog",
                if backlog.is_empty() {
                    "(empty)".into()
                } else {
                    backlog.join("\n")
                },
            ),
            ("feedback", feedback_lines(log)),
            ("guidance", guidance_lines(log)),
            ("count", count.to_string()),
        ],
    )
}

/// What the person running this asked for (`optimize steer`), in force
/// until cleared.
fn guidance_lines(log: &ExperimentLog) -> String {
    if log.run.steering.is_empty() {
        return "(none)".into();
    }
    log.run
        .steering
        .iter()
        .map(|g| format!("- {}", g.text.trim()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last experiments, one line each with their outcome and learning.
fn recent_lines(log: &ExperimentLog) -> Vec<String> {
    log.experiments
        .iter()
        .rev()
        .take(RECENT)
        .rev()
        .map(|e| {
            format!(
                "- #{} [{}] {} -> {} ({}){}",
                e.iteration,
                e.category,
                one_line(&e.hypothesis, 160),
                e.outcome,
                e.primary_delta.as_deref().unwrap_or("no delta"),
                e.learnings
                    .as_deref()
                    .map(|l| format!(": {}", one_line(l, 200)))
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// The evaluator's own words (`feedback` beside the metrics), bounded: the
/// best's, then the last experiments'. Held-out measurements never print here.
fn feedback_lines(log: &ExperimentLog) -> String {
    const BEST_CHARS: usize = 1500;
    const EACH_CHARS: usize = 300;
    let best = match log.best.iteration {
        0 => log.baseline.feedback.as_deref(),
        n => log
            .experiments
            .iter()
            .find(|e| e.iteration == n)
            .and_then(|e| e.record.feedback.as_deref()),
    };
    let mut lines = Vec::new();
    if let Some(text) = best {
        let bounded: String = text.chars().take(BEST_CHARS).collect();
        lines.push(format!(
            "On the best (iteration {}):
{bounded}",
            log.best.iteration
        ));
    }
    let recent: Vec<String> = log
        .experiments
        .iter()
        .rev()
        .filter(|e| e.iteration != log.best.iteration)
        .filter_map(|e| Some((e, e.record.feedback.as_deref()?)))
        .take(RECENT)
        .map(|(e, text)| {
            format!(
                "- #{} ({}): {}",
                e.iteration,
                e.outcome,
                one_line(text, EACH_CHARS)
            )
        })
        .collect();
    if !recent.is_empty() {
        lines.push(format!(
            "On the last experiments:
{}",
            recent.join("\n")
        ));
    }
    if lines.is_empty() {
        "(the measurement prints no feedback)".into()
    } else {
        lines.join("\n\n")
    }
}

/// The backlog, bounded.
fn backlog_lines(log: &ExperimentLog) -> Vec<String> {
    let mut backlog: Vec<String> = log
        .hypothesis_backlog
        .iter()
        .take(BACKLOG_ENTRIES)
        .map(|h| format!("- [{}] {}", h.category, one_line(&h.description, 160)))
        .collect();
    if log.hypothesis_backlog.len() > BACKLOG_ENTRIES {
        backlog.push(format!(
            "- ... and {} more",
            log.hypothesis_backlog.len() - BACKLOG_ENTRIES
        ));
    }
    backlog
}

/// A description as repeats are recognised: lowercase, spaces collapsed.
pub fn normalize(d: &str) -> String {
    d.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Validates a reply into backlog items (dependency status set by the caller).
fn read_reply(text: &str) -> Result<Vec<BacklogItem>, String> {
    let v = json_object(text)?;
    let list = v["hypotheses"]
        .as_array()
        .ok_or("the object has no \"hypotheses\" array")?;
    let mut out = Vec::new();
    for (i, h) in list.iter().enumerate() {
        let at = |m: &str| format!("hypotheses[{i}]: {m}");
        let description = h["description"]
            .as_str()
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| at("\"description\" must be a non-empty string"))?;
        let category = h["category"].as_str().unwrap_or("uncategorized");
        let priority = match h["priority"].as_str().unwrap_or("medium") {
            "high" => Priority::High,
            "medium" => Priority::Medium,
            "low" => Priority::Low,
            other => {
                return Err(at(&format!(
                    "\"priority\" is \"{other}\"; expected high, medium or low"
                )));
            }
        };
        let strings = |key: &str| -> Result<Vec<String>, String> {
            match &h[key] {
                Value::Null => Ok(Vec::new()),
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| at(&format!("\"{key}\" must be a list of strings")))
                    })
                    .collect(),
                _ => Err(at(&format!("\"{key}\" must be a list of strings"))),
            }
        };
        out.push(BacklogItem {
            description: description.trim().to_string(),
            category: category.to_string(),
            priority,
            dep_status: crate::log::DepStatus::NotApplicable,
            required_deps: strings("required_deps")?,
            files: strings("files")?,
            apply: None,
            patch: None,
            from_commit: None,
            from_iteration: None,
            extra: Default::default(),
        });
    }
    Ok(out)
}

/// Asks the model for up to `count` new hypotheses. A reply that breaks the
/// format is sent back once with the error; a second bad reply gives none.
/// Returns the new items (repeats of `known` descriptions, the tried and
/// queued ones, dropped) and the cost.
pub async fn generate(
    client: &LlmClient,
    model: &str,
    prompt: &str,
    known: &[String],
    transcript_path: &Path,
) -> Result<(Vec<BacklogItem>, f64), LlmError> {
    let mut messages = vec![json!({"role": "user", "content": prompt})];
    let mut cost = 0.0;
    for attempt in 0..2 {
        let reply = client.chat(model, &messages).await?;
        cost += reply.cost_usd.unwrap_or(0.0);
        let parsed = read_reply(&reply.text);
        transcript(
            client,
            transcript_path,
            &json!({
                "request": messages, "reply": reply.text, "model": model,
                "usage": {"input_tokens": reply.usage.input_tokens, "output_tokens": reply.usage.output_tokens},
                "cost_usd": reply.cost_usd, "error": parsed.as_ref().err(),
            }),
        );
        match parsed {
            Ok(items) => {
                let mut seen: Vec<String> = known.iter().map(|d| normalize(d)).collect();
                let mut fresh = Vec::new();
                for item in items {
                    let key = normalize(&item.description);
                    if !seen.contains(&key) {
                        seen.push(key);
                        fresh.push(item);
                    }
                }
                return Ok((fresh, cost));
            }
            Err(e) if attempt == 0 => {
                messages.push(json!({"role": "assistant", "content": reply.text}));
                messages.push(json!({"role": "user", "content": format!(
                    "That reply could not be used: {e}. Reply again with only the JSON object described above."
                )}));
            }
            Err(e) => {
                tracing::warn!("the model's hypotheses were unusable twice: {e}");
            }
        }
    }
    Ok((Vec::new(), cost))
}
