//! The agent device-code login (seed 000).

use andibase_identity::{AgentLoginRequestView, ApiKey, KeyRole, StartAgentLogin, Workspace};
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Human};
use crate::ops::{limit_per_address, ClientIp};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginInstructions {
    pub verification_message: String,
    pub exchange_message: String,
    pub api_key_secret_field: String,
    pub api_key_save_hint: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartAgentLoginResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_at: String,
    pub interval_seconds: i64,
    pub instructions: LoginInstructions,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApproveAgentLoginInput {
    /// The workspace to grant; may be omitted when the human has exactly one.
    #[serde(default)]
    pub workspace_handle: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// Narrows the requested role.
    #[serde(default)]
    pub role: Option<KeyRole>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentLoginDecision {
    #[serde(flatten)]
    pub request: AgentLoginRequestView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<Workspace>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExchangeInput {
    pub device_code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeApiKey {
    /// The secret, returned exactly once.
    pub key: String,
    pub api_key: ApiKey,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageHints {
    pub save_hint: String,
    pub recommended_env_var: String,
    pub authorization_header: String,
    pub secret_field: String,
    pub lifecycle: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeResponse {
    /// Always `approved`.
    pub status: String,
    pub workspace: Workspace,
    pub api_key: ExchangeApiKey,
    pub usage: UsageHints,
}

/// Start agent login: returns a device code for polling and a link for the human.
#[utoipa::path(post, path = "/api/v1/agent/auth/requests", tag = "Agent Auth", operation_id = "agentAuth.startAgentLogin",
    request_body = StartAgentLogin,
    responses((status = 200, description = "Login request created", body = StartAgentLoginResponse),
              (status = 429, description = "Too many login requests from this address", body = crate::error::ApiErrorBody)))]
pub async fn start_agent_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(input): Body<StartAgentLogin>,
) -> ApiResult<Json<StartAgentLoginResponse>> {
    limit_per_address(
        &state,
        "agent-login",
        ip,
        state.config.agent_login_per_minute,
    )
    .await?;
    let start = state.identity.start_agent_login(input).await?;
    let base = state.config.public_url.trim_end_matches('/');
    Ok(Json(StartAgentLoginResponse {
        verification_uri: format!("{base}/agent-login"),
        verification_uri_complete: format!("{base}/agent-login?user_code={}", start.user_code),
        device_code: start.device_code,
        user_code: start.user_code,
        expires_at: start.expires_at.to_iso(),
        interval_seconds: start.interval_seconds,
        instructions: LoginInstructions {
            verification_message: "Ask the user to open verificationUriComplete and approve the request.".into(),
            exchange_message: "After approval, call POST /api/agent/auth/exchange with deviceCode.".into(),
            api_key_secret_field: "apiKey.key".into(),
            api_key_save_hint: "When exchange succeeds, save apiKey.key immediately. The secret is returned once and should be reused for future calls.".into(),
        },
    }))
}

/// Get agent login request: the public state of a request by its user code.
#[utoipa::path(get, path = "/api/v1/agent/auth/requests/{userCode}", tag = "Agent Auth", operation_id = "agentAuth.getAgentLoginRequest",
    params(("userCode" = String, Path, description = "The code shown to the human, like ABCD-1234")),
    responses((status = 200, description = "The request", body = AgentLoginRequestView), (status = 404, description = "Unknown code", body = crate::error::ApiErrorBody)))]
pub async fn get_agent_login(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<AgentLoginRequestView>> {
    Ok(Json(state.identity.agent_login_request(&code).await?))
}

/// Approve agent login for one of the human's workspaces (signed-in session only).
#[utoipa::path(post, path = "/api/v1/agent/auth/requests/{userCode}/approve", tag = "Agent Auth", operation_id = "agentAuth.approveAgentLogin",
    params(("userCode" = String, Path, description = "The code shown to the human")),
    request_body = ApproveAgentLoginInput,
    responses((status = 200, description = "Approved", body = AgentLoginDecision), (status = 404, description = "Unknown code or workspace", body = crate::error::ApiErrorBody)))]
pub async fn approve_agent_login(
    State(state): State<AppState>,
    Human(session): Human,
    Path(code): Path<String>,
    Body(input): Body<ApproveAgentLoginInput>,
) -> ApiResult<Json<AgentLoginDecision>> {
    let memberships = state.identity.memberships(&session.user.id).await?;
    let named = input.workspace_handle.or(input.workspace_id);
    let m = match named {
        Some(n) => memberships
            .into_iter()
            .find(|m| m.workspace.handle == n || m.workspace.id == n)
            .ok_or_else(ApiError::not_found)?,
        None if memberships.len() == 1 => memberships
            .into_iter()
            .next()
            .ok_or_else(ApiError::internal)?,
        None => return Err(ApiError::workspace_context_required()),
    };
    let request = state
        .identity
        .approve_agent_login(&code, &session.user, &m.workspace, m.role, input.role)
        .await?;
    Ok(Json(AgentLoginDecision {
        request,
        workspace: Some(m.workspace),
    }))
}

/// Deny agent login (signed-in session only).
#[utoipa::path(post, path = "/api/v1/agent/auth/requests/{userCode}/deny", tag = "Agent Auth", operation_id = "agentAuth.denyAgentLogin",
    params(("userCode" = String, Path, description = "The code shown to the human")),
    responses((status = 200, description = "Denied", body = AgentLoginDecision), (status = 404, description = "Unknown code", body = crate::error::ApiErrorBody)))]
pub async fn deny_agent_login(
    State(state): State<AppState>,
    Human(session): Human,
    Path(code): Path<String>,
) -> ApiResult<Json<AgentLoginDecision>> {
    let request = state
        .identity
        .deny_agent_login(&code, &session.user)
        .await?;
    Ok(Json(AgentLoginDecision {
        request,
        workspace: None,
    }))
}

/// Exchange agent login: poll until approved; the key is returned once.
///
/// While waiting, answers 400 with `authorization_pending`, or `slow_down` when polled
/// faster than `intervalSeconds`; terminal answers are `access_denied`, `expired_token`
/// and `invalid_grant`.
#[utoipa::path(post, path = "/api/v1/agent/auth/exchange", tag = "Agent Auth", operation_id = "agentAuth.exchangeAgentLogin",
    request_body = ExchangeInput,
    responses((status = 200, description = "Approved: the key, returned once", body = ExchangeResponse)))]
pub async fn exchange_agent_login(
    State(state): State<AppState>,
    Body(input): Body<ExchangeInput>,
) -> ApiResult<Json<ExchangeResponse>> {
    let ok = state
        .identity
        .exchange_agent_login(&input.device_code)
        .await?;
    Ok(Json(ExchangeResponse {
        status: "approved".into(),
        workspace: ok.workspace,
        api_key: ExchangeApiKey { key: ok.api_key.key, api_key: ok.api_key.api_key },
        usage: UsageHints {
            save_hint: "Store this API key in a secrets manager or environment variable before continuing. Reuse the same key for future calls instead of re-running login. The secret is only returned once.".into(),
            recommended_env_var: "ANDI_API_KEY".into(),
            authorization_header: "Authorization: Bearer <api-key>".into(),
            secret_field: "apiKey.key".into(),
            lifecycle: "This key is persistent until revoked or until its configured expiration, if any.".into(),
        },
    }))
}
