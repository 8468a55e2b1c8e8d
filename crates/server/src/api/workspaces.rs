//! Workspaces, their API keys, users and invitations.

use andibase_common::{DomainError, FieldIssue};
use andibase_identity::{
    ApiKey, CreateApiKey, CreateInvitation, CreateWorkspace, CreatedApiKey, Invitation, Member,
    Resource, UpdateApiKey, Workspace,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller, Human, WorkspaceAccess};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceWithRole {
    #[serde(flatten)]
    pub workspace: Workspace,
    pub role: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkspaceList {
    pub items: Vec<WorkspaceWithRole>,
}

/// The caller in the workspace named by the path (404 when not theirs).
async fn in_path_workspace(
    state: &AppState,
    caller: Caller,
    handle: &str,
    headers: &HeaderMap,
) -> ApiResult<WorkspaceAccess> {
    caller.in_workspace(state, Some(handle), headers).await
}

/// The signed-in human's membership in the workspace named by the path.
async fn human_in(
    state: &AppState,
    human: &Human,
    handle: &str,
) -> ApiResult<andibase_identity::Membership> {
    state
        .identity
        .membership(&human.0.user.id, handle)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// List my workspaces (signed-in session only).
#[utoipa::path(get, path = "/api/v1/workspaces", tag = "Workspaces", operation_id = "workspaces.listMyWorkspaces",
    responses((status = 200, description = "The caller's workspaces", body = WorkspaceList)))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    human: Human,
) -> ApiResult<Json<WorkspaceList>> {
    let items = state
        .identity
        .memberships(&human.0.user.id)
        .await?
        .into_iter()
        .map(|m| WorkspaceWithRole {
            workspace: m.workspace,
            role: m.role.as_str().into(),
        })
        .collect();
    Ok(Json(WorkspaceList { items }))
}

/// Create workspace (signed-in session only); the creator becomes its owner.
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "Workspaces", operation_id = "workspaces.createWorkspace",
    request_body = CreateWorkspace,
    responses((status = 201, description = "Created", body = Workspace), (status = 409, description = "Handle taken", body = crate::error::ApiErrorBody)))]
pub async fn create_workspace(
    State(state): State<AppState>,
    human: Human,
    Body(input): Body<CreateWorkspace>,
) -> ApiResult<(StatusCode, Json<Workspace>)> {
    let ws = state
        .identity
        .create_workspace(input, &human.0.user.id)
        .await?;
    Ok((StatusCode::CREATED, Json(ws)))
}

/// List workspace API keys (signed-in session only): the caller's own keys, or every
/// key of the workspace for admins and owners.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspaceHandle}/api-keys", tag = "Workspaces", operation_id = "workspaces.listWorkspaceApiKeys",
    params(("workspaceHandle" = String, Path, description = "Workspace handle")),
    responses((status = 200, description = "Keys (never their secrets)", body = [ApiKey])))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    human: Human,
    Path(handle): Path<String>,
) -> ApiResult<Json<Vec<ApiKey>>> {
    let m = human_in(&state, &human, &handle).await?;
    Ok(Json(
        state
            .identity
            .list_api_keys(&m.workspace, &human.0.user.id, m.role)
            .await?,
    ))
}

/// Create workspace API key (signed-in session only; API keys are refused). The secret
/// in `key` is shown once.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspaceHandle}/api-keys", tag = "Workspaces", operation_id = "workspaces.createWorkspaceApiKey",
    params(("workspaceHandle" = String, Path, description = "Workspace handle")),
    request_body = CreateApiKey,
    responses((status = 201, description = "The key and its one-time secret", body = CreatedApiKey)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    human: Human,
    Path(handle): Path<String>,
    Body(input): Body<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let m = human_in(&state, &human, &handle).await?;
    let created = state
        .identity
        .create_api_key(&m.workspace, &human.0.user.id, m.role, input)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Delete (revoke) workspace API key (signed-in session only).
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspaceHandle}/api-keys/{keyId}", tag = "Workspaces", operation_id = "workspaces.deleteWorkspaceApiKey",
    params(("workspaceHandle" = String, Path, description = "Workspace handle"), ("keyId" = String, Path, description = "Key id")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)))]
pub async fn delete_api_key(
    State(state): State<AppState>,
    human: Human,
    Path((handle, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let m = human_in(&state, &human, &handle).await?;
    state
        .identity
        .delete_api_key(&m.workspace, &human.0.user.id, m.role, &key_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Update workspace API key: rename, disable or re-enable it (signed-in session only).
#[utoipa::path(patch, path = "/api/v1/workspaces/{workspaceHandle}/api-keys/{keyId}", tag = "Workspaces", operation_id = "workspaces.updateWorkspaceApiKey",
    params(("workspaceHandle" = String, Path, description = "Workspace handle"), ("keyId" = String, Path, description = "Key id")),
    request_body = UpdateApiKey,
    responses((status = 200, description = "The key", body = ApiKey), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)))]
pub async fn update_api_key(
    State(state): State<AppState>,
    human: Human,
    Path((handle, key_id)): Path<(String, String)>,
    Body(input): Body<UpdateApiKey>,
) -> ApiResult<Json<ApiKey>> {
    let m = human_in(&state, &human, &handle).await?;
    Ok(Json(
        state
            .identity
            .update_api_key(&m.workspace, &human.0.user.id, m.role, &key_id, input)
            .await?,
    ))
}

/// List workspace users. Needs `members.read`.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspaceHandle}/users", tag = "Workspaces", operation_id = "workspaces.listWorkspaceUsers",
    params(("workspaceHandle" = String, Path, description = "Workspace handle")),
    responses((status = 200, description = "Members", body = [Member])),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(handle): Path<String>,
) -> ApiResult<Json<Vec<Member>>> {
    let ws = in_path_workspace(&state, caller, &handle, &headers).await?;
    ws.require(Resource::Members.read())?;
    Ok(Json(state.identity.list_members(&ws.workspace).await?))
}

/// `POST …/users`: who to invite. Accounts are made only by their owner (setup, an
/// invitation, or the operator's CLI), so there is no password here.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InviteUser {
    pub email: String,
    /// `admin`, `editor` (default) or `viewer`.
    #[serde(default)]
    pub role: Option<andibase_identity::MemberRole>,
    /// Refused: the invited person sets their own password when they accept.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<serde_json::Value>,
}

/// Create workspace user: invites the person (the same as creating an invitation); they
/// join when they accept it, as their existing account or by making one. Nobody is added
/// without their consent, and the answer is the same whether or not the email has an
/// account. Signed-in humans only (like API keys): the link is for the admin to pass on,
/// and a key must not be able to make itself an account. Needs `members.write`.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspaceHandle}/users", tag = "Workspaces", operation_id = "workspaces.createWorkspaceUser",
    params(("workspaceHandle" = String, Path, description = "Workspace handle")),
    request_body = InviteUser,
    responses((status = 201, description = "The invitation, with its link (shown once)", body = Invitation)))]
pub async fn add_user(
    State(state): State<AppState>,
    human: Human,
    Path(handle): Path<String>,
    Body(input): Body<InviteUser>,
) -> ApiResult<(StatusCode, Json<Invitation>)> {
    if input.password.is_some() {
        return Err(DomainError::from_issues(vec![FieldIssue::at(
            ["password"],
            "accounts are made by their owner: this sends an invitation, and the invited person sets a password when accepting it",
        )])
        .into());
    }
    let invite = CreateInvitation {
        email: input.email,
        role: input.role,
    };
    invite_as_human(&state, &human, &handle, invite).await
}

/// Creates an invitation as the signed-in member `human`.
async fn invite_as_human(
    state: &AppState,
    human: &Human,
    handle: &str,
    input: CreateInvitation,
) -> ApiResult<(StatusCode, Json<Invitation>)> {
    let m = human_in(state, human, handle).await?;
    if !m.role.access().allows(Resource::Members.write()) {
        return Err(ApiError::insufficient_permissions(
            &Resource::Members.write().to_string(),
            "Your role cannot invite members.",
        ));
    }
    let inv = state
        .identity
        .create_invitation(
            &m.workspace,
            Some(human.0.user.id.as_str()),
            m.role,
            input,
            &*state.links,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(inv)))
}

/// Delete workspace user: removes the membership and revokes the keys they created
/// here. Needs `members.write`.
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspaceHandle}/users/{userId}", tag = "Workspaces", operation_id = "workspaces.deleteWorkspaceUser",
    params(("workspaceHandle" = String, Path, description = "Workspace handle"), ("userId" = String, Path, description = "User id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn remove_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((handle, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ws = in_path_workspace(&state, caller, &handle, &headers).await?;
    ws.require(Resource::Members.write())?;
    state
        .identity
        .remove_member(&ws.workspace, ws.granting_role(), &user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List pending workspace invitations. Needs `members.read`.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspaceHandle}/invitations", tag = "Workspaces", operation_id = "workspaces.listWorkspaceInvitations",
    params(("workspaceHandle" = String, Path, description = "Workspace handle")),
    responses((status = 200, description = "Pending invitations", body = [Invitation])),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_invitations(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(handle): Path<String>,
) -> ApiResult<Json<Vec<Invitation>>> {
    let ws = in_path_workspace(&state, caller, &handle, &headers).await?;
    ws.require(Resource::Members.read())?;
    Ok(Json(state.identity.list_invitations(&ws.workspace).await?))
}

/// Invite user to workspace. The response's `url` is the acceptance link, shown once.
/// Signed-in humans only: an API key cannot invite (it could accept its own link and
/// become an account). Needs `members.write`.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspaceHandle}/invitations", tag = "Workspaces", operation_id = "workspaces.createWorkspaceInvitation",
    params(("workspaceHandle" = String, Path, description = "Workspace handle")),
    request_body = CreateInvitation,
    responses((status = 201, description = "The invitation", body = Invitation)))]
pub async fn create_invitation(
    State(state): State<AppState>,
    human: Human,
    Path(handle): Path<String>,
    Body(input): Body<CreateInvitation>,
) -> ApiResult<(StatusCode, Json<Invitation>)> {
    invite_as_human(&state, &human, &handle, input).await
}

/// Delete (withdraw) a pending invitation. Needs `members.write`.
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspaceHandle}/invitations/{invitationId}", tag = "Workspaces", operation_id = "workspaces.deleteWorkspaceInvitation",
    params(("workspaceHandle" = String, Path, description = "Workspace handle"), ("invitationId" = String, Path, description = "Invitation id")),
    responses((status = 204, description = "Withdrawn"), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn delete_invitation(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((handle, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ws = in_path_workspace(&state, caller, &handle, &headers).await?;
    ws.require(Resource::Members.write())?;
    state.identity.delete_invitation(&ws.workspace, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptInvitationInput {
    /// For a new account: its name.
    #[serde(default)]
    pub name: Option<String>,
    /// For a new account (when not signed in): its password. The email is the invited one.
    #[serde(default)]
    pub password: Option<String>,
}

/// Accept an invitation from its link: as the signed-in human, or by creating the
/// invited account (which is then signed in).
#[utoipa::path(post, path = "/api/v1/invitations/{token}/accept", tag = "Workspaces", operation_id = "workspaces.acceptInvitation",
    params(("token" = String, Path, description = "The token from the invitation link")),
    request_body = AcceptInvitationInput,
    responses((status = 200, description = "Joined", body = crate::api::auth::Me), (status = 404, description = "Unknown or expired invitation", body = crate::error::ApiErrorBody)))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    caller: Result<Human, ApiError>,
    Path(token): Path<String>,
    Body(input): Body<AcceptInvitationInput>,
) -> ApiResult<Response> {
    match caller {
        Ok(human) => {
            state
                .identity
                .accept_invitation(&token, &human.0.user)
                .await?;
            Ok(axum::response::IntoResponse::into_response(Json(
                crate::api::auth::me_for(&state, human.0.user).await?,
            )))
        }
        Err(_) => {
            let (inv, _) = state
                .identity
                .invitation_by_token(&token)
                .await?
                .ok_or_else(ApiError::not_found)?;
            let Some(password) = input.password.as_deref() else {
                return Err(ApiError::session_required());
            };
            let user = state
                .identity
                .create_user(&inv.email, input.name.as_deref(), password, false)
                .await?;
            state.identity.accept_invitation(&token, &user).await?;
            crate::api::auth::signed_in(&state, user, StatusCode::OK).await
        }
    }
}
