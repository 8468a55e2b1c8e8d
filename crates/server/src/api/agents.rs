//! Workspace agents (seed 001).

use andibase_agents::chats::{Chat, ChatEvent, ChatSummary, Chats, SendMessage, Sent, Turn};
use andibase_agents::credentials::Credentials;
use andibase_agents::skills::Skills;
use andibase_agents::{Agent, AgentSummary, Agents, CreateAgentInput, UpdateAgentInput};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::ApiResult;
use crate::extract::{AgentsRead, AgentsWrite, Body, Ws};
use crate::state::AppState;

/// List workspace agents
///
/// Lists agents for the resolved workspace. Session requests must send x-workspace-handle
/// or x-workspace-id when the user has access to multiple workspaces. Needs `agents.read`.
#[utoipa::path(get, path = "/api/v1/agents", tag = "Agents", operation_id = "agents.listWorkspaceAgents",
    responses((status = 200, description = "Success", body = [AgentSummary])),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_agents(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsRead>,
) -> ApiResult<Json<Vec<AgentSummary>>> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    Ok(Json(
        Agents {
            db: &db,
            workspace_handle: &ws.workspace.handle,
            links: state.links.clone(),
        }
        .list()
        .await?,
    ))
}

/// Get workspace agent
///
/// Returns one workspace-scoped agent definition by id. The path also accepts legacy
/// handle URLs and name-id slugs. Needs `agents.read`.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "Agents", operation_id = "agents.getWorkspaceAgent",
    params(("id" = String, Path, description = "Agent id, handle, or name-id slug")),
    responses((status = 200, description = "Workspace-scoped agent definition", body = Agent),
              (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn get_agent(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsRead>,
    Path(id): Path<String>,
) -> ApiResult<Json<Agent>> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    Ok(Json(
        Agents {
            db: &db,
            workspace_handle: &ws.workspace.handle,
            links: state.links.clone(),
        }
        .get(&id)
        .await?,
    ))
}

/// Create workspace agent
///
/// Creates an agent definition in the resolved workspace. Needs `agents.write`.
#[utoipa::path(post, path = "/api/v1/agents", tag = "Agents", operation_id = "agents.createAgent",
    request_body = CreateAgentInput,
    responses((status = 201, description = "Workspace-scoped agent definition", body = Agent)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn create_agent(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsWrite>,
    Body(input): Body<CreateAgentInput>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    let agents = Agents {
        db: &db,
        workspace_handle: &ws.workspace.handle,
        links: state.links.clone(),
    };
    let agent = agents
        .create(input, Some(&ws.actor()), state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// Update workspace agent
///
/// Updates name, instructions, model, description, and capabilities for an agent in the
/// resolved workspace. Needs `agents.write`.
#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "Agents", operation_id = "agents.updateAgent",
    params(("id" = String, Path, description = "Agent id, handle, or name-id slug")),
    request_body = UpdateAgentInput,
    responses((status = 200, description = "Workspace-scoped agent definition", body = Agent),
              (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn update_agent(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsWrite>,
    Path(id): Path<String>,
    Body(input): Body<UpdateAgentInput>,
) -> ApiResult<Json<Agent>> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    let agents = Agents {
        db: &db,
        workspace_handle: &ws.workspace.handle,
        links: state.links.clone(),
    };
    Ok(Json(
        agents
            .update(&id, input, Some(&ws.actor()), state.clock.now())
            .await?,
    ))
}

/// Delete workspace agent
///
/// Deletes an agent definition from the resolved workspace. Needs `agents.write`.
#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "Agents", operation_id = "agents.deleteAgent",
    params(("id" = String, Path, description = "Agent id, handle, or name-id slug")),
    responses((status = 204, description = "Success"), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn delete_agent(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsWrite>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    let agents = Agents {
        db: &db,
        workspace_handle: &ws.workspace.handle,
        links: state.links.clone(),
    };
    agents
        .delete(&id, Some(&ws.actor()), state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agent a chat route names, in the caller's workspace.
async fn agent_of(
    state: &AppState,
    ws: &crate::extract::WorkspaceAccess,
    id: &str,
) -> ApiResult<(andibase_storage::Database, Agent)> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    let agent = Agents {
        db: &db,
        workspace_handle: &ws.workspace.handle,
        links: state.links.clone(),
    }
    .get(id)
    .await?;
    Ok((db, agent))
}

/// List agent chats
///
/// Lists recent chats for one workspace-scoped agent identifier (at most 200, most
/// recently active first). Needs `agents.read`.
#[utoipa::path(get, path = "/api/v1/agents/{id}/chats", tag = "Agents", operation_id = "agents.listAgentChats",
    params(("id" = String, Path, description = "Agent id, handle, or name-id slug")),
    responses((status = 200, description = "Success", body = [ChatSummary]),
              (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_chats(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsRead>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ChatSummary>>> {
    let (db, agent) = agent_of(&state, &ws, &id).await?;
    Ok(Json(
        Chats {
            db: &db,
            agent: &agent,
        }
        .list()
        .await?,
    ))
}

/// Get agent chat
///
/// Returns all stored messages for one agent chat in the workspace. Needs `agents.read`.
#[utoipa::path(get, path = "/api/v1/agents/{id}/chats/{chatId}", tag = "Agents", operation_id = "agents.getAgentChat",
    params(("id" = String, Path, description = "Agent id, handle, or name-id slug"), ("chatId" = String, Path, description = "The chat's id")),
    responses((status = 200, description = "Success", body = Chat),
              (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn get_chat(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsRead>,
    Path((id, chat_id)): Path<(String, String)>,
) -> ApiResult<Json<Chat>> {
    let (db, agent) = agent_of(&state, &ws, &id).await?;
    Ok(Json(
        Chats {
            db: &db,
            agent: &agent,
        }
        .get(&chat_id)
        .await?,
    ))
}

/// Send agent message
///
/// Sends one user message to an agent chat (creating the chat on its first message),
/// persists transcript entries, and returns the generated assistant reply. The agent's
/// `model` (`provider/model`) or the server's default model answers. The user's message
/// is kept even when the model fails: `model_not_configured` (400, with how to configure
/// one) or `model_failed` (502, with the provider's reason). Needs `agents.read`: anyone
/// who may see an agent may talk to it. With `Accept: text/event-stream` the turn is
/// streamed as server-sent events: `user-message`, `text-delta`, `tool-call`,
/// `tool-result`, then `message` (the answer above) or `error` (`{code, message}`).
#[utoipa::path(post, path = "/api/v1/agents/{id}/chats/{chatId}/messages", tag = "Agents", operation_id = "agents.sendAgentMessage",
    params(("id" = String, Path, description = "Agent id, handle, or name-id slug"), ("chatId" = String, Path, description = "The chat's id, chosen by the client")),
    request_body = SendMessage,
    responses((status = 200, description = "Success", body = Sent),
              (status = 400, description = "invalid_request, model_not_configured", body = crate::error::ApiErrorBody),
              (status = 404, description = "Not found", body = crate::error::ApiErrorBody),
              (status = 502, description = "model_failed", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn send_message(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsRead>,
    Path((id, chat_id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    Body(input): Body<SendMessage>,
) -> ApiResult<Response> {
    let (db, agent) = agent_of(&state, &ws, &id).await?;
    andibase_agents::chats::check(&chat_id, &input)?;
    // Held until the turn ends (in the streamed case, by the turn's task).
    let permit = state.turns.clone().try_acquire_owned().map_err(|_| {
        andibase_common::DomainError::RateLimited {
            retry_after_secs: 5,
        }
    })?;
    let tools = andibase_tools::WorkspaceTools {
        web: agent
            .capabilities
            .web_access
            .then_some(state.config.outbound),
        ..crate::tools::workspace_tools(&state, &ws, db.clone(), Some(agent.id.clone())).await
    };
    let turn = Turn {
        providers: state.models.clone(),
        tools: Some(tools),
        events: None,
        skills: Skills { db: &db }.of_agent(&agent.id).await?,
        credentials: Credentials {
            db: &db,
            vault: &state.vault,
        }
        .open(&agent.capabilities.linked_credential_ids)
        .await?,
        outbound: state.config.outbound,
        session_links: Some((ws.workspace.handle.clone(), state.links.clone())),
    };
    let clock = state.clock.clone();
    let streamed = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !streamed {
        // On its own task too, so the turn (and its permit) ends as a whole even if the
        // client leaves.
        let sent = tokio::spawn(async move {
            let _permit = permit;
            Chats {
                db: &db,
                agent: &agent,
            }
            .send(&chat_id, input, turn, move || clock.now())
            .await
        })
        .await
        .map_err(|e| andibase_common::DomainError::Internal(e.to_string()))??;
        return Ok(Json(sent).into_response());
    }
    // Streamed: the turn runs on its own task (it finishes even if the client leaves)
    // and its events are sent as they come; the last is `message` or `error`.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<ChatEvent>();
    let turn = Turn {
        events: Some(tx.clone()),
        ..turn
    };
    tokio::spawn(async move {
        let _permit = permit;
        let result = Chats {
            db: &db,
            agent: &agent,
        }
        .send(&chat_id, input, turn, move || clock.now())
        .await;
        let last = match result {
            Ok(sent) => ChatEvent::Message(sent),
            Err(e) => {
                let e = crate::error::ApiError::from(e);
                ChatEvent::Error {
                    code: e.code.to_string(),
                    message: e.message,
                }
            }
        };
        let _ = tx.send(last);
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        let data = serde_json::to_string(&event).unwrap_or_default();
        Some((
            Ok::<_, std::convert::Infallible>(Event::default().event(event.name()).data(data)),
            rx,
        ))
    });
    Ok(Sse::new(stream).into_response())
}
