//! Retrying through a sustained outage: 429, 5xx, connection errors and
//! timeouts are retried with exponential backoff and jitter (or the server's
//! Retry-After) until the outage budget is spent.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use reqwest::Response;
use tower::ServiceBuilder;
use tower::retry::Policy;
use tower::util::service_fn;

#[derive(Clone)]
pub struct OutagePolicy {
    budget: Duration,
    started: Option<Instant>,
    attempt: u32,
}

/// The HTTP stack: retry around plain reqwest.
pub fn service(
    http: reqwest::Client,
    budget: Duration,
) -> impl tower::Service<
    HttpRequestFactory,
    Response = Response,
    Error = OpenAIError,
    Future = impl Future<Output = Result<Response, OpenAIError>> + Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    ServiceBuilder::new()
        .retry(OutagePolicy {
            budget,
            started: None,
            attempt: 0,
        })
        .service(service_fn(move |factory: HttpRequestFactory| {
            let http = http.clone();
            async move {
                let request = factory.build().await?;
                http.execute(request).await.map_err(OpenAIError::Reqwest)
            }
        }))
}

/// Rate limits and server errors are worth waiting out.
pub fn transient_status(status: reqwest::StatusCode) -> bool {
    status.as_u16() == 429 || status.is_server_error()
}

/// So are failures to connect, timeouts and broken requests; anything else
/// (a refused key, a malformed request) is not.
pub fn transient_error(e: &OpenAIError) -> bool {
    match e {
        OpenAIError::ApiError(api) => transient_status(api.status_code),
        OpenAIError::Reqwest(r) => r.is_connect() || r.is_timeout() || r.is_request(),
        _ => false,
    }
}

fn transient(result: &Result<Response, OpenAIError>) -> bool {
    match result {
        Ok(r) => transient_status(r.status()),
        Err(e) => transient_error(e),
    }
}

/// Jitter in [0.5, 1.0) without a random number crate: the clock's nanoseconds.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    0.5 + f64::from(nanos % 1000) / 2000.0
}

impl Policy<HttpRequestFactory, Response, OpenAIError> for OutagePolicy {
    type Future = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

    fn retry(
        &mut self,
        _req: &mut HttpRequestFactory,
        result: &mut Result<Response, OpenAIError>,
    ) -> Option<Self::Future> {
        if !transient(result) {
            return None;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let left = self.budget.checked_sub(started.elapsed())?;
        let retry_after = result
            .as_ref()
            .ok()
            .and_then(|r| r.headers().get(reqwest::header::RETRY_AFTER))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            // A negative, huge or NaN value from the server is no delay we take.
            .and_then(|v| Duration::try_from_secs_f64(v).ok());
        let backoff = Duration::from_millis(250)
            .saturating_mul(2u32.saturating_pow(self.attempt))
            .min(Duration::from_secs(60))
            .mul_f64(jitter());
        self.attempt += 1;
        let delay = retry_after.unwrap_or(backoff).min(left);
        tracing::warn!(
            "model server: {}; retrying in {:.1}s",
            match result {
                Ok(r) => format!("HTTP {}", r.status()),
                Err(e) => e.to_string(),
            },
            delay.as_secs_f64()
        );
        Some(Box::pin(tokio::time::sleep(delay)))
    }

    fn clone_request(&mut self, req: &HttpRequestFactory) -> Option<HttpRequestFactory> {
        Some(req.clone())
    }
}
