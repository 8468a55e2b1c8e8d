//! Approvals for humans and keys on the workspace API (`/api/v1`, camelCase): list, get,
//! resolve, live events, per-agent settings, and in-app notifications.

use std::convert::Infallible;
use std::time::Duration;

use andibase_agents::Agents;
use andibase_approvals::{
    is_approval_event, AgentApprovalSettings, Approval, ListFilter, Notification, Resolution,
    SettingsPatch,
};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::stream::Stream;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::{
    AgentsRead, AgentsWrite, ApprovalsRead, ApprovalsWrite, Body, Query, WorkspaceAccess, Ws,
};
use crate::state::AppState;

fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The approval in this surface's casing. Only our own field names change; user data
/// (callback header names, option values) is left as sent.
pub fn approval_json(a: &Approval) -> Value {
    let mut out = Map::new();
    if let Value::Object(fields) = a.record_json(true) {
        for (k, v) in fields {
            let v = match (k.as_str(), v) {
                ("timeout", Value::Object(t)) => {
                    Value::Object(t.into_iter().map(|(k, v)| (camel(&k), v)).collect())
                }
                (_, v) => v,
            };
            out.insert(camel(&k), v);
        }
    }
    Value::Object(out)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListApprovalsQuery {
    /// `pending`, `selected_option`, `custom_instruction` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    /// At most this many, newest first (default 100, max 500).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// List approvals
///
/// Newest first, filtered by status and agent. Needs `approvals.read`.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "Approvals", operation_id = "approvals.listApprovals",
    params(ListApprovalsQuery), responses((status = 200, description = "Approvals", body = [Object])),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_approvals(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<ApprovalsRead>,
    Query(q): Query<ListApprovalsQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let list = state
        .approvals
        .list(
            &ws.workspace.id,
            ListFilter {
                status: q.status,
                agent_id: q.agent_id,
                limit: q.limit,
            },
        )
        .await?;
    Ok(Json(list.iter().map(approval_json).collect()))
}

/// Get approval
#[utoipa::path(get, path = "/api/v1/approvals/{requestId}", tag = "Approvals", operation_id = "approvals.getApproval",
    params(("requestId" = String, Path, description = "The approval's request id")),
    responses((status = 200, description = "The approval", body = Object), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn get_approval(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<ApprovalsRead>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(approval_json(
        &state.approvals.get(&ws.workspace.id, &id).await?,
    )))
}

/// Who made a decision, as the result's `resolved_by` shows it.
fn decider(ws: &WorkspaceAccess) -> String {
    match &ws.user {
        Some(u) => u.email.clone(),
        None => ws.actor(),
    }
}

/// Resolve approval
///
/// Choose an option (`optionIndex` or `optionValue`) or answer with `customInstruction`.
/// The waiting agent's long-poll returns at once, and its callback is sent. Needs
/// `approvals.write`; an approval that is no longer pending answers 409 `approval_closed`.
#[utoipa::path(post, path = "/api/v1/approvals/{requestId}/resolve", tag = "Approvals", operation_id = "approvals.resolveApproval",
    params(("requestId" = String, Path, description = "The approval's request id")), request_body = Resolution,
    responses((status = 200, description = "The resolved approval", body = Object), (status = 409, description = "Already decided or expired", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn resolve_approval(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<ApprovalsWrite>,
    Path(id): Path<String>,
    Body(decision): Body<Resolution>,
) -> ApiResult<Json<Value>> {
    let a = state
        .approvals
        .resolve(&ws.workspace.id, &id, decision, &decider(&ws))
        .await?;
    Ok(Json(approval_json(&a)))
}

/// Server-sent events `approval.created`, `approval.resolved`, `approval.expired` of one
/// workspace, each with the approval as it is when sent.
pub async fn approval_events(
    state: &AppState,
    workspace_id: String,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let rx = state.events.subscribe(&workspace_id).await?;
    let approvals = state.approvals.clone();
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let (workspace_id, approvals) = (workspace_id.clone(), approvals.clone());
        async move {
            loop {
                match rx.recv().await {
                    Ok(ev) if is_approval_event(&ev.kind) => {
                        let Ok(a) = approvals.get(&workspace_id, &ev.subject_id).await else {
                            continue;
                        };
                        let data = approval_json(&a).to_string();
                        let event = Event::default().event(ev.kind.clone()).data(data);
                        return Some((Ok(event), rx));
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Approval events
///
/// A server-sent event stream of the workspace's approvals. Needs `approvals.read`.
#[utoipa::path(get, path = "/api/v1/approvals/events", tag = "Approvals", operation_id = "approvals.streamApprovalEvents",
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream")),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn stream_events(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<ApprovalsRead>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    approval_events(&state, ws.workspace.id.clone()).await
}

/// The agent's id, found by id, handle or slug.
async fn agent_id(state: &AppState, ws: &WorkspaceAccess, key: &str) -> ApiResult<String> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    Ok(Agents {
        db: &db,
        workspace_handle: &ws.workspace.handle,
        links: state.links.clone(),
    }
    .get(key)
    .await?
    .id)
}

/// Get agent approval settings
#[utoipa::path(get, path = "/api/v1/agents/{id}/approval-settings", tag = "Approvals", operation_id = "approvals.getAgentSettings",
    params(("id" = String, Path, description = "Agent id, handle, or name-id slug")),
    responses((status = 200, description = "Settings", body = AgentApprovalSettings)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn get_settings(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsRead>,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentApprovalSettings>> {
    let agent = agent_id(&state, &ws, &id).await?;
    Ok(Json(
        state.approvals.settings(&ws.workspace.id, &agent).await?,
    ))
}

/// Update agent approval settings
///
/// Default timeout (seconds, at least the server's minimum, 30 by default), timeout mode
/// (`expire_no_action` or `expire_with_instruction` with an instruction of at most 1000
/// characters), subscribers (member user ids; none means every member), and a secret
/// header added to callbacks (stored encrypted; never shown again). Needs `agents.write`.
#[utoipa::path(patch, path = "/api/v1/agents/{id}/approval-settings", tag = "Approvals", operation_id = "approvals.updateAgentSettings",
    params(("id" = String, Path, description = "Agent id, handle, or name-id slug")), request_body = SettingsPatch,
    responses((status = 200, description = "Settings", body = AgentApprovalSettings)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn update_settings(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsWrite>,
    Path(id): Path<String>,
    Body(patch): Body<SettingsPatch>,
) -> ApiResult<Json<AgentApprovalSettings>> {
    let agent = agent_id(&state, &ws, &id).await?;
    let members = crate::agent_api::member_ids(&state, &ws.workspace).await;
    Ok(Json(
        state
            .approvals
            .update_settings(&ws.workspace.id, &agent, patch, &members)
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboxQuery {
    #[serde(default)]
    pub unread: Option<bool>,
}

fn signed_in_user(ws: &WorkspaceAccess) -> ApiResult<&andibase_identity::User> {
    ws.user.as_ref().ok_or_else(ApiError::session_required)
}

/// My notifications
///
/// In-app notifications of the signed-in member in this workspace (new approvals for
/// the agents they follow, or all agents when an agent has no subscribers).
#[utoipa::path(get, path = "/api/v1/notifications/inbox", tag = "Approvals", operation_id = "notifications.listInbox",
    params(InboxQuery), responses((status = 200, description = "Notifications", body = [Notification])))]
pub async fn inbox(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<ApprovalsRead>,
    Query(q): Query<InboxQuery>,
) -> ApiResult<Json<Vec<Notification>>> {
    let user = signed_in_user(&ws)?;
    Ok(Json(
        state
            .approvals
            .notifications(&ws.workspace.id, &user.id, q.unread.unwrap_or(false))
            .await?,
    ))
}

/// Mark my notifications read
#[utoipa::path(post, path = "/api/v1/notifications/inbox/read", tag = "Approvals", operation_id = "notifications.markInboxRead",
    responses((status = 200, description = "How many were marked", body = Object)))]
pub async fn mark_read(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<ApprovalsRead>,
) -> ApiResult<Json<Value>> {
    let user = signed_in_user(&ws)?;
    let n = state
        .approvals
        .mark_notifications_read(&ws.workspace.id, &user.id)
        .await?;
    Ok(Json(serde_json::json!({"marked": n})))
}
