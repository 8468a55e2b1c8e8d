//! Workspace agents (seed 001).

use andibase_agents::{Agent, AgentSummary, Agents, CreateAgentInput, UpdateAgentInput};
use axum::extract::{Path, State};
use axum::http::StatusCode;
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
