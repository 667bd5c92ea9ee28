//! Judging a tree's outputs when the primary metric is a judge score: items
//! from `judge.items_file` sampled with `sample_seed` (stratified by bucket,
//! singletons with their own rubric), judged in batches of `batch_size`, and
//! the scoring fields averaged over the sample.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::llm::{LlmClient, LlmError, json_object, transcript};
use crate::spec::Judge;

mod cache;

use cache::ItemScore as Row;
pub use cache::JudgeCache;

pub const TEMPLATE: &str = include_str!("../prompts/judge.md");

#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("cannot read judge.items_file {path}: {message}")]
    Items { path: String, message: String },
    #[error("the judge budget (judge.max_total_cost_usd = ${cap:.2}) is spent (${spent:.2})")]
    Budget { cap: f64, spent: f64 },
    #[error(transparent)]
    Model(#[from] LlmError),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores {
    /// Mean of each scoring field over the judged items (singleton fields
    /// are prefixed `singleton_`).
    pub fields: BTreeMap<String, f64>,
    pub judged: usize,
    pub cost_usd: f64,
    /// Every item judged, in the order judged.
    pub items: Vec<JudgedItem>,
}

/// One item as judged: its scores and the judge's feedback.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgedItem {
    /// The item's key in the judge cache (its content under the rubric).
    pub content_hash: String,
    /// The item's own `id`, when it has one.
    pub id: Option<String>,
    pub singleton: bool,
    pub scores: BTreeMap<String, f64>,
    pub feedback: Option<String>,
    /// Scored earlier in the run: no call was made for it.
    pub cached: bool,
}

/// A small deterministic generator (splitmix64), so a seed gives the same
/// sample on every machine and every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `k` distinct indices of `0..n`, in a seeded order.
    fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx
    }
}

/// Reads the JSON lines of the items file.
pub fn read_items(path: &Path) -> Result<Vec<Value>, JudgeError> {
    let err = |message: String| JudgeError::Items {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Value>(l).map_err(|e| err(format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// The sample: (regular items, singletons), chosen with the seed.
pub fn sample(judge: &Judge, items: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let mut rng = Rng(judge.sample_seed);
    let is_singleton = |v: &Value| v["singleton"].as_bool() == Some(true);
    let regular: Vec<&Value> = items.iter().filter(|v| !is_singleton(v)).collect();
    let singles: Vec<&Value> = items.iter().filter(|v| is_singleton(v)).collect();
    let mut chosen = Vec::new();
    match &judge.stratification {
        Some(strata) => {
            for s in strata {
                let bucket: Vec<&&Value> = regular
                    .iter()
                    .filter(|v| v["bucket"].as_str() == Some(s.bucket.as_str()))
                    .collect();
                for i in rng.choose(bucket.len(), s.count as usize) {
                    chosen.push((*bucket[i]).clone());
                }
            }
        }
        None => {
            for i in rng.choose(regular.len(), judge.sample_size as usize) {
                chosen.push(regular[i].clone());
            }
        }
    }
    let singletons = rng
        .choose(singles.len(), judge.singleton_sample as usize)
        .into_iter()
        .map(|i| singles[i].clone())
        .collect();
    (chosen, singletons)
}

fn fields(judge: &Judge) -> Vec<String> {
    let mut f = vec![judge.scoring.primary.clone()];
    f.extend(judge.scoring.secondary.iter().cloned());
    f
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Validates one batch's reply: a score for every item with every field.
fn read_scores(text: &str, n: usize, fields: &[String]) -> Result<Vec<Row>, String> {
    let v = json_object(text)?;
    let list = v["scores"]
        .as_array()
        .ok_or("the object has no \"scores\" array")?;
    let mut out: Vec<Option<Row>> = vec![None; n];
    for s in list {
        let i = s["item"]
            .as_u64()
            .ok_or("every score needs an \"item\" index")? as usize;
        let slot = out
            .get_mut(i)
            .ok_or_else(|| format!("item {i} does not exist (items are 0 to {})", n - 1))?;
        let mut m = BTreeMap::new();
        for f in fields {
            let x = number(&s[f.as_str()])
                .ok_or_else(|| format!("item {i} has no number for \"{f}\""))?;
            m.insert(f.clone(), x);
        }
        let feedback = s["feedback"]
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| t.chars().take(500).collect());
        *slot = Some(Row {
            scores: m,
            feedback,
        });
    }
    out.into_iter()
        .enumerate()
        .map(|(i, m)| m.ok_or_else(|| format!("item {i} has no score")))
        .collect()
}

/// The judge's money cap (`judge.max_total_cost_usd`), shared by every
/// experiment of a run: each call is checked against what all of them have
/// spent so far, so parallel experiments overshoot by at most the calls
/// already in flight.
#[derive(Debug, Default)]
pub struct JudgeBudget {
    cap: Option<f64>,
    spent: std::sync::Mutex<f64>,
}

impl JudgeBudget {
    pub fn new(cap: Option<f64>, spent: f64) -> JudgeBudget {
        JudgeBudget {
            cap,
            spent: std::sync::Mutex::new(spent),
        }
    }

    pub fn spent(&self) -> f64 {
        *self.spent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether another call may start.
    pub fn check(&self) -> Result<(), JudgeError> {
        let spent = self.spent();
        match self.cap {
            Some(cap) if spent >= cap => Err(JudgeError::Budget { cap, spent }),
            _ => Ok(()),
        }
    }

    pub fn add(&self, cost: f64) {
        *self.spent.lock().unwrap_or_else(|p| p.into_inner()) += cost;
    }
}

/// Judges a tree's items; every call is checked against and added to
/// `budget`, and an item `cache` already holds is not sent again.
pub async fn judge_tree(
    client: &LlmClient,
    judge: &Judge,
    items_path: &Path,
    transcript_path: &Path,
    budget: &JudgeBudget,
    cache: &JudgeCache,
) -> Result<Scores, JudgeError> {
    let items = read_items(items_path)?;
    let (chosen, singletons) = sample(judge, &items);
    let model = client.model_or_default(Some(&judge.model));
    let fields = fields(judge);
    let mut scores = Scores::default();
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let singleton_rubric = judge
        .singleton_rubric
        .as_deref()
        .unwrap_or(judge.rubric.as_str());
    for (group, rubric, singleton) in [
        (&chosen, judge.rubric.as_str(), false),
        (&singletons, singleton_rubric, true),
    ] {
        let mut misses = Vec::new();
        for item in group {
            let key = cache::key(rubric, &fields, item);
            match cache.get(&key) {
                Some(hit) => scores.add(&mut sums, item, key, hit, singleton, true),
                None => misses.push((key, item.clone())),
            }
        }
        for batch in misses.chunks(judge.batch_size.max(1) as usize) {
            let values: Vec<Value> = batch.iter().map(|(_, v)| v.clone()).collect();
            let prompt = batch_prompt(rubric, &values, &fields);
            let call = Call {
                client,
                model: &model,
                items: batch.len(),
                fields: &fields,
                transcript_path,
                budget,
            };
            let rows = judge_batch(call, prompt, &mut scores).await?;
            cache.put(
                batch
                    .iter()
                    .zip(&rows)
                    .map(|((key, _), row)| (key.clone(), row.clone())),
            );
            for ((key, item), row) in batch.iter().zip(rows) {
                scores.add(&mut sums, item, key.clone(), row, singleton, false);
            }
        }
    }
    scores.fields = sums
        .into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect();
    Ok(scores)
}

impl Scores {
    /// One item's row into the sums of its fields and the list of items.
    fn add(
        &mut self,
        sums: &mut BTreeMap<String, (f64, usize)>,
        item: &Value,
        content_hash: String,
        row: Row,
        singleton: bool,
        cached: bool,
    ) {
        self.judged += 1;
        let prefix = if singleton { "singleton_" } else { "" };
        for (f, x) in &row.scores {
            let e = sums.entry(format!("{prefix}{f}")).or_default();
            e.0 += x;
            e.1 += 1;
        }
        self.items.push(JudgedItem {
            content_hash,
            id: item.get("id").map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            singleton,
            scores: row.scores,
            feedback: row.feedback,
            cached,
        });
    }
}

/// The judge's prompt for one batch of items.
fn batch_prompt(rubric: &str, batch: &[Value], fields: &[String]) -> String {
    let listed: Vec<String> = batch
        .iter()
        .enumerate()
        .map(|(i, v)| format!("## Item {i}\n{v}"))
        .collect();
    let example = fields
        .iter()
        .map(|f| format!("\"{f}\": <number>"))
        .collect::<Vec<_>>()
        .join(", ");
    crate::prompt::fill(
        TEMPLATE,
        &[
            ("rubric", rubric.trim().to_string()),
            ("items", listed.join("\n\n")),
            ("fields", fields.join(", ")),
            ("example", example),
        ],
    )
}

/// Where one batch's call goes and what its reply must hold.
struct Call<'a> {
    client: &'a LlmClient,
    model: &'a str,
    items: usize,
    fields: &'a [String],
    transcript_path: &'a Path,
    budget: &'a JudgeBudget,
}

/// One batch judged: its rows of scores, sent back once when the reply is
/// unusable; none when it is unusable twice (the batch is dropped).
async fn judge_batch(
    call: Call<'_>,
    prompt: String,
    scores: &mut Scores,
) -> Result<Vec<Row>, JudgeError> {
    let Call {
        client,
        model,
        items,
        fields,
        transcript_path,
        budget,
    } = call;
    let mut messages = vec![json!({"role": "user", "content": prompt})];
    for attempt in 0..2 {
        budget.check()?;
        let reply = client.chat(model, &messages).await?;
        let cost = reply.cost_usd.unwrap_or(0.0);
        scores.cost_usd += cost;
        budget.add(cost);
        let parsed = read_scores(&reply.text, items, fields);
        transcript(
            client,
            transcript_path,
            &json!({
                "request": messages, "reply": reply.text, "model": model, "cost_usd": reply.cost_usd,
                "error": parsed.as_ref().err(),
            }),
        );
        match parsed {
            Ok(rows) => return Ok(rows),
            Err(e) if attempt == 0 => {
                messages.push(json!({"role": "assistant", "content": reply.text}));
                messages.push(json!({"role": "user", "content": format!(
                    "That reply could not be used: {e}. Reply again with only the JSON object described above."
                )}));
            }
            Err(e) => {
                tracing::warn!("a judge batch was dropped after two unusable replies: {e}")
            }
        }
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_distinct_and_reproducible() {
        let a = Rng(42).choose(100, 10);
        assert_eq!(a, Rng(42).choose(100, 10));
        assert_ne!(a, Rng(43).choose(100, 10));
        let mut s = a.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), 10);
        assert_eq!(Rng(1).choose(3, 10).len(), 3);
    }

    #[test]
    fn the_budget_refuses_calls_once_spent_by_anyone() {
        let shared = std::sync::Arc::new(JudgeBudget::new(Some(1.0), 0.6));
        assert!(shared.check().is_ok());
        let other = shared.clone();
        other.add(0.5);
        assert!(matches!(shared.check(), Err(JudgeError::Budget { .. })));
        assert!(JudgeBudget::new(None, 1e9).check().is_ok());
    }

    #[test]
    fn scores_need_every_item_and_field() {
        let f = vec!["mean_score".to_string()];
        assert!(read_scores("{\"scores\": [{\"item\": 0, \"mean_score\": 4}]}", 2, &f).is_err());
        assert!(read_scores("{\"scores\": [{\"item\": 0}]}", 1, &f).is_err());
        let ok = read_scores("```json\n{\"scores\": [{\"item\": 1, \"mean_score\": 2}, {\"item\": 0, \"mean_score\": 4}]}\n```", 2, &f).unwrap();
        assert_eq!(ok[0].scores["mean_score"], 4.0);
    }
}
