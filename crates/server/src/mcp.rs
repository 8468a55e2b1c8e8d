//! `/mcp`: the workspace's tools over the Model Context Protocol (Streamable HTTP, rmcp's
//! service; `andibase_mcp::server` is the handler). Every request is authenticated here by
//! a workspace API key (`Authorization: Bearer`, `x-api-key`); cookies are not accepted,
//! so a page in a browser cannot drive it. A request without a usable key gets 401 with
//! `WWW-Authenticate` pointing to the protected-resource metadata, which points agents to
//! the device-code login (seed 000) to get one.

use std::sync::Arc;

use andibase_mcp::server::{McpCaller, WorkspaceServer};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::{
    session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use serde_json::json;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";

/// The MCP routes: `/mcp` and the protected-resource metadata.
pub fn router(state: &AppState, skill: String) -> Router<AppState> {
    let handler = WorkspaceServer {
        skill: Arc::new(skill),
    };
    let host = state
        .config
        .public_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("localhost")
        .to_string();
    let bare = host
        .rsplit_once(':')
        .map_or(host.clone(), |(h, _)| h.to_string());
    let config = StreamableHttpServerConfig::default().with_allowed_hosts([
        host,
        bare,
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
    ]);
    let sessions = Arc::new(LocalSessionManager::default());
    let service: StreamableHttpService<WorkspaceServer, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(handler.clone()), sessions.clone(), config);
    Router::new()
        .route_service("/mcp", service)
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), sessions),
            authenticate,
        ))
        .route("/.well-known/oauth-protected-resource", get(metadata))
        .route(METADATA_PATH, get(metadata))
}

/// RFC 9728 protected-resource metadata for `/mcp`.
async fn metadata(State(state): State<AppState>) -> Json<serde_json::Value> {
    let base = &state.config.public_url;
    Json(json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": [base],
        "bearer_methods_supported": ["header"],
        "resource_name": "andibase workspace",
        "resource_documentation": format!("{base}/docs/mcp"),
        // Not OAuth: an agent without a key gets one through the device-code login.
        "andibase_agent_login": {
            "start": format!("{base}/api/agent/auth/requests"),
            "exchange": format!("{base}/api/agent/auth/exchange"),
            "guide": format!("{base}/skill.md"),
        },
    }))
}

fn challenge(state: &AppState, e: ApiError) -> Response {
    let status = e.status;
    let mut resp = e.into_response();
    if status == StatusCode::UNAUTHORIZED {
        let value = format!(
            "Bearer resource_metadata=\"{}{METADATA_PATH}\"",
            state.config.public_url
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}

/// Resolves the key to its workspace and tools and hands them to the MCP handler.
async fn authenticate(
    State((state, sessions)): State<(AppState, Arc<LocalSessionManager>)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = match crate::extract::presented_key(&parts.headers) {
        Some(_) => {
            <Caller as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                &mut parts, &state,
            )
            .await
        }
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_required",
            "Send a workspace API key: Authorization: Bearer <key> or x-api-key. An agent without one gets it through the device-code login (see /skill.md).",
        )),
    };
    let ws = match caller {
        Ok(c @ Caller::Key(_)) => c.in_workspace(&state, None, &parts.headers).await,
        Ok(Caller::Browser(_)) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_required",
            "MCP takes an API key, not a browser session.",
        )),
        Err(e) => Err(e),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return challenge(&state, e),
    };
    // A POST without a session may open one; sessions live until deleted or idle for 5
    // minutes, so their number is capped (`--max-mcp-sessions`).
    if parts.method == axum::http::Method::POST
        && !parts.headers.contains_key("mcp-session-id")
        && sessions.sessions.read().await.len() >= state.config.mcp_sessions
    {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_sessions",
            "The server holds as many MCP sessions as it may; close one (DELETE /mcp with its Mcp-Session-Id) or retry later.",
        )
        .into_response();
    }
    let db = match state.workspaces.get(&ws.workspace.id).await {
        Ok(db) => db,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // The agent approvals are asked as: `X-Agent-Id` (FinalSay's header) or `?agent=`.
    let param = |name: &str| crate::console::query_param(parts.uri.query(), name);
    let named = parts
        .headers
        .get("x-agent-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| param("agent"));
    let agent_id = match named {
        Some(key) => match (andibase_agents::Agents {
            db: &db,
            workspace_handle: &ws.workspace.handle,
            links: state.links.clone(),
        })
        .get(&key)
        .await
        {
            Ok(agent) => Some(agent.id),
            Err(_) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_agent",
                    format!("No agent `{key}` in this workspace (X-Agent-Id)."),
                )
                .into_response()
            }
        },
        None => None,
    };
    let tools = andibase_tools::WorkspaceTools {
        sessions: Some(state.links.clone()),
        ..crate::tools::workspace_tools(&state, &ws, db, agent_id).await
    };
    let read_only = matches!(param("readOnly").as_deref(), Some("true" | "1"));
    parts.extensions.insert(McpCaller { tools, read_only });
    next.run(Request::from_parts(parts, body)).await
}
