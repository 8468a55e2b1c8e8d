//! HTTP for andibase: the workspace API, the web console and the documentation, mapped
//! onto the domain crates. Handlers are small: extract, call one domain function, map.

pub mod agent_api;
pub mod api;
mod console;
mod docs;
pub mod error;
pub mod extract;
pub mod links;
pub mod ops;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
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
    Router::new()
        .merge(api)
        .merge(test_routes)
        .merge(console::router())
        .merge(docs::router(doc))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(console::not_found)
        .layer(axum::middleware::from_fn(ops::reject_bad_encoding))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::observe,
        ))
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
