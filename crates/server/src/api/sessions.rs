//! Agent work sessions and their events (seed 000).

use andibase_sessions::{AgentSession, NewEvent, NewSession, SessionEvent, Sessions};
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Body, Query, SessionEventsRead, SessionEventsWrite, WorkspaceAccess, Ws};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListEventsQuery {
    /// Only events after this event id.
    #[serde(default)]
    pub after: Option<String>,
    /// At most this many (default 500, max 1000).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListSessionsQuery {
    /// At most this many, newest first (default 100, max 1000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Runs `f` with the sessions of the caller's workspace.
pub async fn with_sessions<T>(
    state: &AppState,
    ws: &WorkspaceAccess,
    f: impl AsyncFnOnce(Sessions<'_>) -> andibase_common::DomainResult<T>,
) -> ApiResult<T> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    let sessions = Sessions {
        db: &db,
        workspace_handle: &ws.workspace.handle,
        links: &*state.links,
    };
    Ok(f(sessions).await?)
}

/// Create session
///
/// Opens a work session; share `url` with the human right away. Needs `sessionEvents.write`.
#[utoipa::path(post, path = "/api/v1/session/new", tag = "Sessions", operation_id = "sessions.createSession",
    request_body = NewSession,
    responses((status = 200, description = "The session", body = AgentSession)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn create_session(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<SessionEventsWrite>,
    Body(input): Body<NewSession>,
) -> ApiResult<Json<AgentSession>> {
    let (actor, now) = (ws.actor(), state.clock.now());
    Ok(Json(
        with_sessions(&state, &ws, async |s| {
            s.create(input, Some(&actor), now).await
        })
        .await?,
    ))
}

/// List sessions
///
/// The workspace's sessions, most recently active first. Needs `sessionEvents.read`.
#[utoipa::path(get, path = "/api/v1/session", tag = "Sessions", operation_id = "sessions.listSessions",
    params(ListSessionsQuery),
    responses((status = 200, description = "Sessions", body = [AgentSession])),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<SessionEventsRead>,
    Query(q): Query<ListSessionsQuery>,
) -> ApiResult<Json<Vec<AgentSession>>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        with_sessions(&state, &ws, async |s| s.list(limit).await).await?,
    ))
}

/// Get session
#[utoipa::path(get, path = "/api/v1/session/{sessionId}", tag = "Sessions", operation_id = "sessions.getSession",
    params(("sessionId" = String, Path, description = "Session id")),
    responses((status = 200, description = "The session", body = AgentSession),
              (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn get_session(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<SessionEventsRead>,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentSession>> {
    Ok(Json(
        with_sessions(&state, &ws, async |s| s.get(&id).await).await?,
    ))
}

/// Post session update
///
/// Appends `{type, body}` to the session's timeline; open pages update live. Needs
/// `sessionEvents.write`.
#[utoipa::path(post, path = "/api/v1/session/{sessionId}/events", tag = "Sessions", operation_id = "sessions.postSessionEvent",
    params(("sessionId" = String, Path, description = "Session id")),
    request_body = NewEvent,
    responses((status = 200, description = "The stored event", body = SessionEvent),
              (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn post_event(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<SessionEventsWrite>,
    Path(id): Path<String>,
    Body(input): Body<NewEvent>,
) -> ApiResult<Json<SessionEvent>> {
    let now = state.clock.now();
    Ok(Json(
        with_sessions(&state, &ws, async |s| s.post_event(&id, input, now).await).await?,
    ))
}

/// List session events
///
/// The session's timeline in order. Needs `sessionEvents.read`.
#[utoipa::path(get, path = "/api/v1/session/{sessionId}/events", tag = "Sessions", operation_id = "sessions.listSessionEvents",
    params(("sessionId" = String, Path, description = "Session id"), ListEventsQuery),
    responses((status = 200, description = "Events", body = [SessionEvent]),
              (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<SessionEventsRead>,
    Path(id): Path<String>,
    Query(q): Query<ListEventsQuery>,
) -> ApiResult<Json<Vec<SessionEvent>>> {
    let limit = q.limit.unwrap_or(500).clamp(1, 1000);
    Ok(Json(
        with_sessions(&state, &ws, async |s| {
            s.events(&id, q.after.as_deref(), limit).await
        })
        .await?,
    ))
}
