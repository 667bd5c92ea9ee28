//! The OpenAI-compatible client (async-openai, raw JSON in and out so any
//! server's replies fit): retries with backoff, jitter and Retry-After
//! through a sustained outage, usage and cost, redacted transcripts.

mod edits;
mod hypothesize;
mod retry;
mod tolerance;

use std::path::Path;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use serde_json::{Value, json};

use crate::spec::Spec;

pub use edits::{Applied, Edit, EditError, apply_edits, apply_edits_with, parse_edits};
pub use hypothesize::{generate, hypothesis_prompt, normalize};

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("no API key: set the environment variable {env} (llm.api_key_env), or OPENAI_API_KEY")]
    MissingKey { env: String },
    #[error(
        "the model server at {base_url} has kept failing for {minutes} minutes (last: {last}); the run stopped and resumes where it left off"
    )]
    Outage {
        base_url: String,
        minutes: f64,
        last: String,
    },
    #[error("the model server refused the request: {0}")]
    Refused(String),
    #[error("the model's reply could not be read: {0}")]
    BadReply(String),
    /// `budget:` is reached; no new call starts. Resumable with a higher cap.
    #[error("{0}")]
    Budget(String),
}

/// Sent with a request when set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    pub usage: Usage,
    /// Dollars, when the model's price is known.
    pub cost_usd: Option<f64>,
}

/// Prices in dollars per million tokens (input, output) for common models;
/// `llm.prices` overrides and extends them.
const DEFAULT_PRICES: &[(&str, f64, f64)] = &[
    ("gpt-4.1", 2.0, 8.0),
    ("gpt-4.1-mini", 0.4, 1.6),
    ("gpt-4.1-nano", 0.1, 0.4),
    ("gpt-4o", 2.5, 10.0),
    ("gpt-4o-mini", 0.15, 0.6),
    ("o3", 2.0, 8.0),
    ("o4-mini", 1.1, 4.4),
    ("haiku", 0.8, 4.0),
    ("sonnet", 3.0, 15.0),
];

/// Dollars per million tokens (input, output) of every model with a known
/// price: the common ones, then `llm.prices`.
pub fn prices(spec: &Spec) -> std::collections::BTreeMap<String, (f64, f64)> {
    let mut prices: std::collections::BTreeMap<String, (f64, f64)> = DEFAULT_PRICES
        .iter()
        .map(|(m, i, o)| (m.to_string(), (*i, *o)))
        .collect();
    for (model, p) in &spec.llm.prices {
        prices.insert(model.clone(), (p.input_per_mtok, p.output_per_mtok));
    }
    prices
}

pub struct LlmClient {
    /// Models whose price is unknown (their cost is reported as unknown).
    unknown_prices: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Told once per model whose price is unknown.
    events: crate::events::Events,
    client: Client<OpenAIConfig>,
    pub base_url: String,
    default_model: String,
    key: Option<String>,
    prices: std::collections::BTreeMap<String, (f64, f64)>,
    outage: Duration,
    /// How long one request may take (`llm.timeout_seconds`).
    timeout: Duration,
    /// Every call of the run, against `budget:`.
    pub spend: crate::budget::Spend,
}

impl LlmClient {
    /// From the spec's `llm` section; the key comes from `llm.api_key_env`
    /// (then OPENAI_API_KEY), the server from `llm.base_url` (OPENAI_BASE_URL
    /// when the spec leaves the default).
    pub fn from_spec(spec: &Spec) -> Result<LlmClient, LlmError> {
        let llm = &spec.llm;
        let mut base_url = llm.base_url.trim_end_matches('/').to_string();
        if base_url == "https://api.openai.com/v1"
            && let Ok(env) = std::env::var("OPENAI_BASE_URL")
            && !env.is_empty()
        {
            base_url = env.trim_end_matches('/').to_string();
        }
        let key = std::env::var(&llm.api_key_env)
            .ok()
            .or_else(|| std::env::var("OPENAI_API_KEY").ok())
            .filter(|k| !k.is_empty());
        // Local servers (Ollama, llama.cpp, vLLM) usually need no key.
        if key.is_none() && base_url.contains("api.openai.com") {
            return Err(LlmError::MissingKey {
                env: llm.api_key_env.clone(),
            });
        }
        let config = OpenAIConfig::new()
            .with_api_base(&base_url)
            .with_api_key(key.clone().unwrap_or_else(|| "none".into()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(llm.timeout_seconds))
            .build()
            .map_err(|e| LlmError::Refused(e.to_string()))?;
        let outage = Duration::from_secs_f64(llm.max_outage_minutes * 60.0);
        let client = Client::with_config(config).with_http_service(retry::service(http, outage));
        let prices = prices(spec);
        Ok(LlmClient {
            unknown_prices: Default::default(),
            events: crate::events::Events::none(),
            client,
            base_url,
            default_model: llm.model.clone(),
            key,
            prices,
            outage,
            timeout: Duration::from_secs(llm.timeout_seconds),
            spend: crate::budget::Spend::new(&spec.budget),
        })
    }

    /// Where notices (an unknown price) go.
    pub fn with_events(mut self, events: crate::events::Events) -> LlmClient {
        self.events = events;
        self
    }

    pub fn model_or_default(&self, role_model: Option<&String>) -> String {
        role_model
            .cloned()
            .unwrap_or_else(|| self.default_model.clone())
    }

    pub fn price(&self, model: &str) -> Option<(f64, f64)> {
        self.prices.get(model).copied()
    }

    /// Models used whose price is unknown.
    pub fn unknown_prices(&self) -> Vec<String> {
        self.unknown_prices
            .lock()
            .map(|u| u.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Removes the API key from anything about to be written or shown.
    pub fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(k) if k.len() >= 4 => text.replace(k.as_str(), "[redacted]"),
            _ => text.to_string(),
        }
    }

    /// One chat completion. `messages` are `{"role", "content"}` objects.
    pub async fn chat(&self, model: &str, messages: &[Value]) -> Result<Reply, LlmError> {
        self.chat_with(model, messages, Sampling::default()).await
    }

    /// [`LlmClient::chat`] with the sampling settings a variant asks for.
    pub async fn chat_with(
        &self,
        model: &str,
        messages: &[Value],
        sampling: Sampling,
    ) -> Result<Reply, LlmError> {
        if let Some(why) = self.spend.reached() {
            return Err(LlmError::Budget(why));
        }
        let mut request = json!({"model": model, "messages": messages, "stream": false});
        if let Some(t) = sampling.temperature {
            request["temperature"] = json!(t);
        }
        if let Some(n) = sampling.max_tokens {
            request["max_tokens"] = json!(n);
        }
        let response: Result<Value, OpenAIError> = self.client.chat().create_byot(request).await;
        let value = response.map_err(|e| self.classify(e))?;
        let text = value["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| {
                LlmError::BadReply(format!(
                    "no choices[0].message.content in {}",
                    self.redact(&value.to_string())
                ))
            })?
            .to_string();
        let usage = Usage {
            input_tokens: value["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            output_tokens: value["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        };
        if self.price(model).is_none() {
            let mut unknown = self
                .unknown_prices
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if unknown.insert(model.to_string()) {
                self.events.emit(crate::events::Event::PriceUnknown {
                    model: model.to_string(),
                });
            }
        }
        let cost_usd = self.price(model).map(|(i, o)| {
            (usage.input_tokens as f64 * i + usage.output_tokens as f64 * o) / 1_000_000.0
        });
        self.spend.add(
            cost_usd.unwrap_or(0.0),
            usage.input_tokens + usage.output_tokens,
        );
        Ok(Reply {
            text,
            usage,
            cost_usd,
        })
    }

    fn classify(&self, e: OpenAIError) -> LlmError {
        let message = match &e {
            // reqwest says only "error sending request".
            OpenAIError::Reqwest(r) if r.is_timeout() => format!(
                "the request timed out after {} s (llm.timeout_seconds)",
                self.timeout.as_secs()
            ),
            e => self.redact(&e.to_string()),
        };
        if retry::transient_error(&e) {
            LlmError::Outage {
                base_url: self.base_url.clone(),
                minutes: (self.outage.as_secs_f64() / 60.0 * 100.0).round() / 100.0,
                last: message,
            }
        } else {
            LlmError::Refused(message)
        }
    }
}

/// Appends one exchange to a transcript file (JSON lines), key redacted.
pub fn transcript(client: &LlmClient, path: &Path, entry: &Value) {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{}", client.redact(&entry.to_string()));
    }
}

/// The first JSON object in a reply, also inside a ```json fence.
pub fn json_object(text: &str) -> Result<Value, String> {
    let body = match text.find("```") {
        Some(start) => {
            let after = &text[start + 3..];
            let after = after.strip_prefix("json").unwrap_or(after);
            after.split("```").next().unwrap_or(after)
        }
        None => text,
    };
    let start = body.find('{').ok_or("the reply holds no JSON object")?;
    let mut stream = serde_json::Deserializer::from_str(&body[start..]).into_iter::<Value>();
    match stream.next() {
        Some(Ok(v @ Value::Object(_))) => Ok(v),
        Some(Err(e)) => Err(format!("invalid JSON: {e}")),
        _ => Err("the reply holds no JSON object".into()),
    }
}
