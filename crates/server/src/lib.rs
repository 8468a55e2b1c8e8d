//! HTTP for andibase: the workspace API, the web console and the documentation, mapped
//! onto the domain crates. Handlers are small: extract, call one domain function, map.

pub mod agent_api;
pub mod api;
mod console;
mod docs;
pub mod error;
pub mod extract;
pub mod links;
pub mod mcp;
pub mod memory_api;
pub mod ops;
pub mod state;
mod tools;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

pub use state::{AppState, ServerConfig};

/// The whole application router.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api::router();
    let doc = Arc::new(docs::Docs::new(doc));
    let test_routes = match state.time_control {
        Some(_) => Router::new().route("/__test/clock", axum::routing::post(ops::advance_clock)),
        None => Router::new(),
    };
    let mcp = mcp::router(&state, docs::skill_md(&state.config.public_url));
    Router::new()
        .merge(api)
        .merge(mcp)
        .merge(test_routes)
        .merge(console::router())
        .merge(docs::router(doc))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(console::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::observe,
        ))
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .with_state(state)
}

/// Limits on the connections one server holds, so no single client can starve others.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Open connections in all; past it new ones are closed at once.
    pub total: usize,
    /// Open connections from one address.
    pub per_address: usize,
    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection waits for the next request.
    pub header_read_timeout: std::time::Duration,
}

/// The open connections, counted in all and by address.
#[derive(Default)]
struct Connections {
    by_address: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// A counted connection, uncounted when dropped.
struct Admitted {
    connections: Arc<Connections>,
    ip: std::net::IpAddr,
}

impl Connections {
    fn admit(
        self: &Arc<Self>,
        ip: std::net::IpAddr,
        limits: &ConnectionLimits,
    ) -> Option<Admitted> {
        let mut by = self.by_address.lock().expect("connections poisoned");
        let total: usize = by.values().sum();
        let here = by.get(&ip).copied().unwrap_or(0);
        if total >= limits.total || here >= limits.per_address {
            return None;
        }
        by.insert(ip, here + 1);
        Some(Admitted {
            connections: self.clone(),
            ip,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut by = self
            .connections
            .by_address
            .lock()
            .expect("connections poisoned");
        if let Some(n) = by.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by.remove(&self.ip);
            }
        }
    }
}

/// Serves until `shutdown` resolves, then finishes the requests in flight (waiting at most
/// ten seconds for streams that do not end by themselves).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let limits = state.config.connections.clone();
    let app = app(state);
    let connections = Arc::new(Connections::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(admitted) = connections.admit(peer.ip(), &limits) else {
            // Dropping the stream closes it before anything is read.
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                app.clone().oneshot(req)
            });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(admitted);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}
