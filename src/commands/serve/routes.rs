//! The dashboard's HTTP surface: one page, a JSON API read from the logs,
//! server-sent events, and one POST (approvals) that must carry the token.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::Dashboard;
use super::views::{self, NotFound};
use crate::history;

type Shared = State<Arc<Dashboard>>;

pub fn router(dashboard: Arc<Dashboard>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/runs", get(runs))
        .route("/api/runs/{spec}/{run}", get(run))
        .route("/api/runs/{spec}/{run}/chart.svg", get(chart))
        .route("/api/runs/{spec}/{run}/events", get(events))
        .route("/api/runs/{spec}/{run}/experiments/{n}", get(experiment))
        .route(
            "/api/runs/{spec}/{run}/experiments/{n}/files/{name}",
            get(output_file),
        )
        .route("/api/runs/{spec}/{run}/approvals", post(approvals))
        .route("/api/compare/{spec}/{a}/{b}", get(compare))
        .route("/api/search", get(search))
        .fallback(|| async { refuse(StatusCode::NOT_FOUND, "nothing is served at this path") })
        .layer(middleware::from_fn_with_state(dashboard.clone(), guard))
        .with_state(dashboard)
}

/// Loopback binds answer only to a loopback Host (a page of another site
/// rebinding its name to 127.0.0.1 gets nothing); every other bind, and
/// every request that changes something, must carry the token.
async fn guard(State(d): Shared, req: Request, next: Next) -> Response {
    if d.loopback && !host_is_loopback(req.headers()) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this dashboard answers only to 127.0.0.1 and localhost",
        );
    }
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD);
    if (writes || !d.loopback) && !carries_token(&req, &d.token) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the request carries no valid token (the one `optimize serve` printed at start)",
        );
    }
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "localhost" | "[::1]")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

fn carries_token(req: &Request, token: &str) -> bool {
    let from_header = req
        .headers()
        .get("x-optimize-token")
        .and_then(|v| v.to_str().ok());
    let from_query = req
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("token="));
    [from_header, from_query]
        .into_iter()
        .flatten()
        .any(|given| same(given.as_bytes(), token.as_bytes()))
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, json_body(&json!({ "error": message }))).into_response()
}

fn json_body(value: &Value) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
}

fn reply(result: Result<Value, NotFound>) -> Response {
    match result {
        Ok(value) => json_body(&value).into_response(),
        Err(NotFound(message)) => refuse(StatusCode::NOT_FOUND, &message),
    }
}

/// Reading logs is file work: it runs beside the async workers, not on them.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .expect("a dashboard view does not panic")
}

/// The runs on record and `f` of the one a request names.
async fn with_run<T: Send + 'static>(
    d: &Arc<Dashboard>,
    spec: String,
    run: String,
    f: impl FnOnce(&std::path::Path, &history::RunOnRecord) -> Result<T, NotFound> + Send + 'static,
) -> Result<T, NotFound> {
    let root = d.root.clone();
    blocking(move || {
        let (runs, _) = history::discover(&root);
        f(&root, views::find(&runs, &spec, &run)?)
    })
    .await
}

async fn index(State(d): Shared) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, super::page::POLICY),
        ],
        super::page::dashboard(&d.token),
    )
        .into_response()
}

async fn runs(State(d): Shared) -> Response {
    let root = d.root.clone();
    reply(Ok(blocking(move || views::runs(&root)).await))
}

async fn run(State(d): Shared, Path((spec, run)): Path<(String, String)>) -> Response {
    reply(with_run(&d, spec, run, |_, r| views::run(r)).await)
}

async fn chart(State(d): Shared, Path((spec, run)): Path<(String, String)>) -> Response {
    match with_run(&d, spec, run, |_, r| views::chart(r)).await {
        Ok(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Err(NotFound(message)) => refuse(StatusCode::NOT_FOUND, &message),
    }
}

async fn experiment(
    State(d): Shared,
    Path((spec, run, n)): Path<(String, String, u64)>,
) -> Response {
    reply(with_run(&d, spec, run, move |root, r| views::experiment(root, r, n)).await)
}

async fn output_file(
    State(d): Shared,
    Path((spec, run, n, name)): Path<(String, String, u64, String)>,
) -> Response {
    match with_run(&d, spec, run, move |_, r| views::output_file(r, n, &name)).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        Err(NotFound(message)) => refuse(StatusCode::NOT_FOUND, &message),
    }
}

async fn events(
    State(d): Shared,
    Path((spec, run)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let resume_at = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let found = with_run(&d, spec, run, |root, r| {
        let state = crate::state::StateDir::new(root, &r.spec);
        Ok((r.dir.clone(), r.archived, state))
    })
    .await;
    let (dir, archived, state) = match found {
        Ok(found) => found,
        Err(NotFound(message)) => return refuse(StatusCode::NOT_FOUND, &message),
    };
    let running = Box::new(move || !archived && state.lock_holder().is_some());
    let tail = super::live::Tail::new(dir, resume_at, running);
    let stream = futures_util::stream::unfold(tail, super::live::Tail::next);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn compare(State(d): Shared, Path((spec, a, b)): Path<(String, String, String)>) -> Response {
    let root = d.root.clone();
    reply(
        blocking(move || {
            let (runs, _) = history::discover(&root);
            views::compare(&runs, &spec, &a, &b)
        })
        .await,
    )
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(State(d): Shared, Query(query): Query<SearchQuery>) -> Response {
    let root = d.root.clone();
    reply(Ok(blocking(move || {
        let (runs, _) = history::discover(&root);
        views::search(&root, &runs, &query.q)
    })
    .await))
}

/// `{"deps": [...], "approve": true}`: what `optimize approve` (or, with
/// `false`, `optimize deny`) records, under the same lock.
async fn approvals(
    State(d): Shared,
    Path((spec, run)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    #[derive(serde::Deserialize)]
    struct Asked {
        deps: Vec<String>,
        approve: bool,
    }
    let asked: Asked = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("the body is not {{\"deps\": [names], \"approve\": true|false}}: {e}"),
            );
        }
    };
    let decided = with_run(&d, spec, run, move |root, r| {
        if r.archived {
            return Ok(Err(format!(
                "run {} is archived; only the current run takes approvals",
                r.log.run_id
            )));
        }
        let loaded = views::spec_of(r)?;
        let state = crate::state::StateDir::new(root, &r.spec);
        let spec_file = r.dir.join("spec.yaml");
        let deps = asked.deps;
        Ok(
            super::super::approve::record(&state, &loaded, &spec_file, |_| deps, asked.approve)
                .map_err(|e| e.to_string()),
        )
    })
    .await;
    match decided {
        Ok(Ok(Some(decision))) => json_body(&json!({
            "recorded": decision.deps,
            "approve": asked.approve,
            "not_waiting": decision.not_waiting,
            "runnable": decision.applied.runnable,
            "remeasure": decision.applied.remeasure,
            "dropped": decision.applied.dropped,
            "next": decision.next,
        }))
        .into_response(),
        Ok(Ok(None)) => refuse(StatusCode::BAD_REQUEST, "no dependency was named"),
        Ok(Err(message)) => refuse(StatusCode::CONFLICT, &message),
        Err(NotFound(message)) => refuse(StatusCode::NOT_FOUND, &message),
    }
}
