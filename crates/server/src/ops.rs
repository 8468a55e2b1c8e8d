//! Operations: health, readiness, Prometheus metrics, request ids and access logs,
//! and the small in-memory rate limiter for the login endpoints.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use andibase_common::{DomainError, FieldIssue};

use crate::error::ApiError;
use crate::state::AppState;

const BUCKETS_MS: &[f64] = &[0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(String, String, u16), u64>>,
    latency_buckets: [AtomicU64; 10],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, elapsed_ms: f64) {
        *self
            .requests
            .lock()
            .expect("metrics poisoned")
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if elapsed_ms <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((elapsed_ms * 1000.0) as u64, Ordering::Relaxed);
    }

    fn render(
        &self,
        open_workspaces: usize,
        event_subscribers: usize,
        open_graphs: usize,
    ) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP andibase_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE andibase_http_requests_total counter\n");
        let mut rows: Vec<_> = self
            .requests
            .lock()
            .expect("metrics poisoned")
            .clone()
            .into_iter()
            .collect();
        rows.sort();
        for ((m, r, s), n) in rows {
            let _ = writeln!(
                out,
                "andibase_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {n}"
            );
        }
        out.push_str("# HELP andibase_http_request_duration_seconds Request latency.\n");
        out.push_str("# TYPE andibase_http_request_duration_seconds histogram\n");
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                out,
                "andibase_http_request_duration_seconds_bucket{{le=\"{}\"}} {}",
                b / 1000.0,
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "andibase_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "andibase_http_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "andibase_http_request_duration_seconds_count {count}");
        out.push_str(
            "# HELP andibase_open_workspace_databases Workspace database files currently open.\n",
        );
        out.push_str("# TYPE andibase_open_workspace_databases gauge\n");
        let _ = writeln!(out, "andibase_open_workspace_databases {open_workspaces}");
        out.push_str("# HELP andibase_event_subscribers Live subscriptions to workspace events (streams, long-polls).\n");
        out.push_str("# TYPE andibase_event_subscribers gauge\n");
        let _ = writeln!(out, "andibase_event_subscribers {event_subscribers}");
        out.push_str("# HELP andibase_memory_open_graphs Memory spaces' graphs currently open (three threads each).\n");
        out.push_str("# TYPE andibase_memory_open_graphs gauge\n");
        let _ = writeln!(out, "andibase_memory_open_graphs {open_graphs}");
        out
    }
}

/// What is wrong with a decoded URL part, if anything: text must be UTF-8 without NUL.
fn bad_text(decoded: &[u8]) -> Option<&'static str> {
    match std::str::from_utf8(decoded) {
        Err(_) => Some("is not valid UTF-8"),
        Ok(t) if t.contains('\0') => Some("holds a NUL character"),
        Ok(_) => None,
    }
}

/// A 400 for a path or query parameter that is not UTF-8 or holds a NUL, naming the
/// part, in the shape of the API it was sent to; none when all is well. Only `%`-escapes
/// can carry such bytes, so a URI without `%` is not decoded at all.
fn bad_encoding(req: &Request) -> Option<Response> {
    let uri = req.uri();
    if !uri.path().contains('%') && !uri.query().is_some_and(|q| q.contains('%')) {
        return None;
    }
    let mut issues = Vec::new();
    if let Some(why) = bad_text(&andibase_common::percent::decode(req.uri().path(), false)) {
        issues.push(FieldIssue::at(["path"], why));
    }
    for pair in req.uri().query().unwrap_or("").split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name_bytes = andibase_common::percent::decode(name, true);
        let shown = String::from_utf8_lossy(&name_bytes).replace('\0', "");
        if let Some(why) = bad_text(&name_bytes) {
            issues.push(FieldIssue::at(
                ["query", shown.as_str()],
                format!("name {why}"),
            ));
        } else if let Some(why) = bad_text(&andibase_common::percent::decode(value, true)) {
            issues.push(FieldIssue::at(["query", shown.as_str()], why));
        }
    }
    if issues.is_empty() {
        return None;
    }
    let error = DomainError::from_issues(issues);
    Some(if req.uri().path().starts_with("/v1/") {
        crate::agent_api::V1Error::from(error).into_response()
    } else {
        crate::error::ApiError::from(error).into_response()
    })
}

/// Gives every request an id (the caller's `x-request-id` when sane), logs it, counts it,
/// and refuses one whose path or query is not UTF-8 or holds a NUL (`bad_encoding`).
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(andibase_common::id::uuid7);
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let path = req.uri().path().to_string();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert("x-request-id", v);
    }
    let span = tracing::info_span!("request", id = %request_id, method = %method, path = %path);
    let mut resp = match bad_encoding(&req) {
        Some(refused) => refused,
        None => tracing::Instrument::instrument(next.run(req), span.clone()).await,
    };
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let status = resp.status().as_u16();
    state.metrics.observe(&method, &route, status, elapsed);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms = elapsed, "request failed");
        } else {
            tracing::debug!(status, elapsed_ms = elapsed, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Liveness: the process answers.
/// `POST /__test/clock {"advanceMs": n}` on a test server: moves its clock forward (see
/// [`crate::state::TimeControl`]) and answers the new time.
pub async fn advance_clock(
    State(state): State<AppState>,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let control = state
        .time_control
        .as_ref()
        .ok_or_else(ApiError::not_found)?;
    let ms = match &body["advanceMs"] {
        serde_json::Value::Null => 0,
        v => v
            .as_i64()
            .filter(|ms| (0..=366 * 86_400_000).contains(ms))
            .ok_or_else(|| {
                ApiError::from(andibase_common::DomainError::invalid(
                    "advanceMs",
                    "must be 0 to a year of milliseconds",
                ))
            })?,
    };
    let now = control.advance(ms).await;
    Ok(Json(json!({"now": now})))
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the main database answers a query.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.identity.user_count().await {
        Ok(_) => Json(json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(
            state.workspaces.open_count(),
            state.events.subscriber_count(),
            state.memory.open_graphs(),
        ),
    )
        .into_response()
}

/// Refuses a client address's `bucket` (`sign-in`, `agent-login`) past `per_minute`
/// attempts in the last minute.
pub async fn limit_per_address(
    state: &AppState,
    bucket: &str,
    ip: IpAddr,
    per_minute: u32,
) -> Result<(), ApiError> {
    let key = format!("{bucket}:{ip}");
    Ok(state.limiter.hit(&key, per_minute as usize, 60_000).await?)
}

/// Sign-ins past the failure limit: each waits, and only one at a time per address and
/// per account is let in (another meanwhile is told to retry), so guessing is slow however
/// many connections are used, while the right password still gets through.
#[derive(Default)]
pub struct SlowPath {
    busy: Mutex<std::collections::HashSet<String>>,
}

/// A place on the slow path, left when dropped.
pub struct SlowTurn<'a> {
    path: &'a SlowPath,
    keys: Vec<String>,
}

impl SlowPath {
    /// Takes the turn of every key, or none and a `rate_limited` refusal.
    pub fn enter(&self, keys: &[String], retry_after: u64) -> Result<SlowTurn<'_>, ApiError> {
        let mut busy = self.busy.lock().expect("slow path poisoned");
        if keys.iter().any(|k| busy.contains(k)) {
            return Err(ApiError::rate_limited(retry_after));
        }
        busy.extend(keys.iter().cloned());
        Ok(SlowTurn {
            path: self,
            keys: keys.to_vec(),
        })
    }
}

impl Drop for SlowTurn<'_> {
    fn drop(&mut self) {
        let mut busy = self.path.busy.lock().expect("slow path poisoned");
        for k in &self.keys {
            busy.remove(k);
        }
    }
}

/// The client's address (loopback when the server runs without connect info, as in
/// in-process tests).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip())
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
        ))
    }
}
