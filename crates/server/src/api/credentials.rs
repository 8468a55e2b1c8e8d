//! Workspace credentials: named secrets for model providers and remote MCP servers.
//! Listing needs `workspaces.read`; creating and deleting `workspaces.write` (admins).
//! The secret is never returned.

use andibase_agents::credentials::{CreateCredential, Credential, CredentialKind, Credentials};
use andibase_identity::Resource;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::{Body, Caller, WorkspaceAccess};
use crate::state::AppState;

/// The caller in the path's workspace, checked for `permission`, and its database.
async fn in_path(
    state: &AppState,
    caller: Caller,
    handle: &str,
    headers: &HeaderMap,
    permission: andibase_identity::Permission,
) -> ApiResult<(WorkspaceAccess, andibase_storage::Database)> {
    let ws = caller.in_workspace(state, Some(handle), headers).await?;
    ws.require(permission)?;
    let db = state.workspaces.get(&ws.workspace.id).await?;
    Ok((ws, db))
}

/// The workspace's credentials, sealed with the server's vault.
fn credentials<'a>(state: &'a AppState, db: &'a andibase_storage::Database) -> Credentials<'a> {
    Credentials {
        db,
        vault: &state.vault,
    }
}

/// List workspace credentials
///
/// The workspace's credentials, by name, never with their secrets. Needs `workspaces.read`.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspaceHandle}/credentials", tag = "Workspaces", operation_id = "workspaces.listWorkspaceCredentials",
    params(("workspaceHandle" = String, Path, description = "Workspace handle")),
    responses((status = 200, description = "Credentials", body = [Credential])),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(handle): Path<String>,
) -> ApiResult<Json<Vec<Credential>>> {
    let (_, db) = in_path(
        &state,
        caller,
        &handle,
        &headers,
        Resource::Workspaces.read(),
    )
    .await?;
    Ok(Json(credentials(&state, &db).list().await?))
}

/// Create workspace credential
///
/// Stores a named secret: a model provider (`kind: model_provider`, `format` `openai` or
/// `anthropic`, base `url`, `secret` = API key) or a remote MCP server (`kind:
/// mcp_server`, Streamable HTTP `url`, `secret` = bearer token). The secret is sealed at
/// rest and never shown again. Agents use it by listing its id in
/// `capabilities.linkedCredentialIds`. Needs `workspaces.write`.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspaceHandle}/credentials", tag = "Workspaces", operation_id = "workspaces.createWorkspaceCredential",
    params(("workspaceHandle" = String, Path, description = "Workspace handle")),
    request_body = CreateCredential,
    responses((status = 201, description = "The credential (without its secret)", body = Credential),
              (status = 409, description = "The name is taken", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn create_credential(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(handle): Path<String>,
    Body(input): Body<CreateCredential>,
) -> ApiResult<(StatusCode, Json<Credential>)> {
    let (ws, db) = in_path(
        &state,
        caller,
        &handle,
        &headers,
        Resource::Workspaces.write(),
    )
    .await?;
    let created = credentials(&state, &db)
        .create(input, Some(&ws.actor()), state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Delete workspace credential
///
/// Deletes the credential; agents that link it lose what it gave them. Needs
/// `workspaces.write`.
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspaceHandle}/credentials/{credentialId}", tag = "Workspaces", operation_id = "workspaces.deleteWorkspaceCredential",
    params(("workspaceHandle" = String, Path, description = "Workspace handle"), ("credentialId" = String, Path, description = "The credential's id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn delete_credential(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((handle, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (ws, db) = in_path(
        &state,
        caller,
        &handle,
        &headers,
        Resource::Workspaces.write(),
    )
    .await?;
    credentials(&state, &db)
        .delete(&id, Some(&ws.actor()), state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List workspace credential tools
///
/// The tools of the MCP server a credential reaches, as the server lists them (`name`,
/// `description`, `inputSchema`); an agent linked to the credential sees them as
/// `<credential name>__<tool name>`. A model provider credential has none. 502
/// `mcp_server_unreachable` when the server cannot be reached or refuses the handshake.
/// Needs `workspaces.read`.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspaceHandle}/credentials/{credentialId}/tools", tag = "Workspaces", operation_id = "workspaces.listWorkspaceCredentialTools",
    params(("workspaceHandle" = String, Path, description = "Workspace handle"), ("credentialId" = String, Path, description = "The credential's id")),
    responses((status = 200, description = "The server's tools", body = [Object]),
              (status = 404, description = "Not found", body = crate::error::ApiErrorBody),
              (status = 502, description = "mcp_server_unreachable", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_credential_tools(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((handle, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Value>>> {
    let (_, db) = in_path(
        &state,
        caller,
        &handle,
        &headers,
        Resource::Workspaces.read(),
    )
    .await?;
    let store = credentials(&state, &db);
    store.get(&id).await?;
    let Some(opened) = store.open(&[id]).await?.pop() else {
        return Err(andibase_common::DomainError::NotFound.into());
    };
    if opened.credential.kind != CredentialKind::McpServer {
        return Ok(Json(Vec::new()));
    }
    let server = andibase_mcp::remote::RemoteServer::connect(
        opened.credential.url.as_deref().unwrap_or_default(),
        Some(&opened.secret),
        &opened.credential.name,
        state.config.outbound,
    )
    .await
    .map_err(andibase_mcp::remote::Unreachable::error)?;
    let tools = server.listed();
    server.close().await;
    Ok(Json(tools))
}
