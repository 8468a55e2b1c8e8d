//! The Agent API (`/v1`, snake_case JSON), FinalSay's contract (seed 004): agents
//! authenticate with `X-Agent-Id` + `X-Api-Key`; errors are `{error, code, issues?}`.

use std::sync::Arc;
use std::time::Duration;

use andibase_agents::{AgentSummary, Agents};
use andibase_approvals::{Approval, ApprovalRefusal, CreateApproval};
use andibase_common::DomainError;
use andibase_identity::{Action, ApiKeyAuth, Permission, Resource};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::Issue;
use crate::extract::decode_json;
use crate::state::AppState;

/// An error of the Agent API.
#[derive(Debug)]
pub struct V1Error {
    status: StatusCode,
    error: &'static str,
    message: String,
    issues: Option<Vec<Issue>>,
    retry_after: Option<u64>,
    /// The workspace used its approval quota (`over_limit: true` in the body).
    over_limit: bool,
}

/// Error body of the Agent API.
#[derive(Serialize, utoipa::ToSchema)]
pub struct V1ErrorBody {
    /// `invalid_payload`, `missing_agent_auth`, `invalid_agent`, `invalid_api_key`,
    /// `insufficient_permissions`, `USAGE_APPROVAL_LIMIT`, `not_found`,
    /// `idempotency_conflict`, `rate_limited`, `internal_error`.
    pub error: String,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issues: Option<Vec<Issue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_limit: Option<bool>,
}

impl V1Error {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> V1Error {
        V1Error {
            status,
            error,
            message: message.into(),
            issues: None,
            retry_after: None,
            over_limit: false,
        }
    }
}

impl From<DomainError> for V1Error {
    fn from(e: DomainError) -> V1Error {
        match e {
            DomainError::Invalid { message, issues } => V1Error {
                issues: Some(
                    issues
                        .into_iter()
                        .map(|i| Issue {
                            tag: "Refinement",
                            path: i.path,
                            message: i.message,
                        })
                        .collect(),
                ),
                ..V1Error::new(StatusCode::BAD_REQUEST, "invalid_payload", message)
            },
            DomainError::NotFound => V1Error::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "No such approval for this agent.",
            ),
            DomainError::Conflict { message, .. } => {
                V1Error::new(StatusCode::CONFLICT, "idempotency_conflict", message)
            }
            DomainError::RateLimited { retry_after_secs } => V1Error {
                retry_after: Some(retry_after_secs),
                ..V1Error::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "Too many approval requests for this agent; retry in {retry_after_secs} s."
                    ),
                )
            },

            DomainError::Forbidden { message, .. } => {
                V1Error::new(StatusCode::FORBIDDEN, "insufficient_permissions", message)
            }
            DomainError::Unauthorized { message } => {
                V1Error::new(StatusCode::UNAUTHORIZED, "invalid_api_key", message)
            }
            DomainError::Refused { refusal, message } => {
                let refusal = refusal.as_any().downcast_ref::<ApprovalRefusal>();
                let (status, code) = match refusal {
                    Some(ApprovalRefusal::QuotaUsed) => {
                        (StatusCode::FORBIDDEN, "USAGE_APPROVAL_LIMIT")
                    }
                    Some(ApprovalRefusal::UnknownAgent) => {
                        (StatusCode::UNAUTHORIZED, "invalid_agent")
                    }
                    Some(ApprovalRefusal::Closed) | None => {
                        (StatusCode::BAD_REQUEST, "invalid_payload")
                    }
                };
                V1Error {
                    over_limit: refusal == Some(&ApprovalRefusal::QuotaUsed),
                    ..V1Error::new(status, code, message)
                }
            }
            DomainError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                V1Error::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "An unexpected server error occurred.",
                )
            }
        }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let body = V1ErrorBody {
            error: self.error.to_string(),
            code: self.error.to_string(),
            message: self.message,
            issues: self.issues,
            over_limit: self.over_limit.then_some(true),
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

type V1Result<T> = Result<T, V1Error>;

fn header_str<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

async fn key_of(parts: &Parts, state: &AppState) -> V1Result<Arc<ApiKeyAuth>> {
    let secret = header_str(parts, "x-api-key")
        .or_else(|| {
            header_str(parts, "authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
        })
        .ok_or_else(|| {
            V1Error::new(
                StatusCode::UNAUTHORIZED,
                "missing_agent_auth",
                "Send X-Agent-Id and X-Api-Key.",
            )
        })?;
    state
        .identity
        .authenticate_api_key(secret)
        .await?
        .ok_or_else(|| {
            V1Error::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "The API key is invalid, revoked or expired.",
            )
        })
}

/// `X-Api-Key` alone (for `GET /v1/agents`).
pub struct KeyOnly(pub Arc<ApiKeyAuth>);

impl FromRequestParts<AppState> for KeyOnly {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> V1Result<Self> {
        Ok(KeyOnly(key_of(parts, state).await?))
    }
}

/// `X-Agent-Id` + `X-Api-Key`: the key's workspace and one of its agents.
pub struct AgentAuth {
    pub key: Arc<ApiKeyAuth>,
    pub agent_id: String,
}

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> V1Result<Self> {
        let agent_id = header_str(parts, "x-agent-id")
            .ok_or_else(|| {
                V1Error::new(
                    StatusCode::UNAUTHORIZED,
                    "missing_agent_auth",
                    "Send X-Agent-Id and X-Api-Key.",
                )
            })?
            .to_string();
        let key = key_of(parts, state).await?;
        if !state
            .approvals
            .agent_in_workspace(&key.workspace.id, &agent_id)
            .await?
        {
            return Err(V1Error::new(
                StatusCode::UNAUTHORIZED,
                "invalid_agent",
                "X-Agent-Id is not an agent of this key's workspace.",
            ));
        }
        Ok(AgentAuth { key, agent_id })
    }
}

impl AgentAuth {
    fn require(&self, action: Action) -> V1Result<()> {
        let needed = Permission {
            resource: Resource::Approvals,
            action,
        };
        if self.key.access.allows(needed) {
            Ok(())
        } else {
            Err(V1Error::new(
                StatusCode::FORBIDDEN,
                "insufficient_permissions",
                format!("This API key lacks {needed}."),
            ))
        }
    }
}

/// A JSON body; failures are 400 `invalid_payload` with `issues`.
pub struct V1Body<T>(pub T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for V1Body<T> {
    type Rejection = V1Error;

    async fn from_request(req: Request, state: &AppState) -> V1Result<Self> {
        let crate::extract::Body(raw) = crate::extract::Body::<Value>::from_request(req, state)
            .await
            .map_err(|e| V1Error {
                issues: e.issues,
                ..V1Error::new(
                    e.status,
                    if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                        "payload_too_large"
                    } else {
                        "invalid_payload"
                    },
                    e.message,
                )
            })?;
        decode_json::<T>(raw.to_string().as_bytes())
            .map(V1Body)
            .map_err(|e| V1Error {
                issues: e.issues,
                ..V1Error::new(StatusCode::BAD_REQUEST, "invalid_payload", e.message)
            })
    }
}

/// The workspace members to notify when an agent has no subscribers.
pub async fn member_ids(state: &AppState, workspace: &andibase_identity::Workspace) -> Vec<String> {
    state
        .identity
        .list_members(workspace)
        .await
        .map(|m| m.into_iter().map(|m| m.id).collect())
        .unwrap_or_default()
}

fn owned(a: Approval, agent_id: &str) -> V1Result<Approval> {
    if a.agent_id == agent_id {
        Ok(a)
    } else {
        Err(DomainError::NotFound.into())
    }
}

/// Create an approval request. Replaying a `request_id` with the same payload returns
/// the same approval (200); a new one answers 201.
#[utoipa::path(post, path = "/v1/approvals", tag = "Approvals (Agent API)", operation_id = "approvals.create",
    request_body = CreateApproval,
    params(("X-Agent-Id" = String, Header, description = "The agent's id"), ("X-Api-Key" = String, Header, description = "A workspace API key")),
    responses((status = 201, description = "Created (status pending)", body = Object), (status = 200, description = "Idempotent replay", body = Object),
              (status = 400, description = "invalid_payload", body = V1ErrorBody), (status = 401, description = "missing_agent_auth, invalid_agent, invalid_api_key", body = V1ErrorBody),
              (status = 403, description = "USAGE_APPROVAL_LIMIT", body = V1ErrorBody), (status = 409, description = "idempotency_conflict", body = V1ErrorBody),
              (status = 429, description = "rate_limited", body = V1ErrorBody)))]
pub async fn create_approval(
    State(state): State<AppState>,
    auth: AgentAuth,
    V1Body(input): V1Body<CreateApproval>,
) -> V1Result<Response> {
    auth.require(Action::Write)?;
    let members = member_ids(&state, &auth.key.workspace).await;
    let (approval, created) = state
        .approvals
        .create(
            &auth.key.workspace.id,
            &auth.key.workspace.handle,
            &auth.agent_id,
            Some(&auth.key.key_id),
            input,
            members,
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(approval.record_json(false))).into_response())
}

/// Get an approval, with `result_delivery_status` and `result_delivery_error`.
#[utoipa::path(get, path = "/v1/approvals/{request_id}", tag = "Approvals (Agent API)", operation_id = "approvals.get",
    params(("request_id" = String, Path, description = "The approval's request_id")),
    responses((status = 200, description = "The approval", body = Approval), (status = 404, description = "not_found", body = V1ErrorBody)))]
pub async fn get_approval(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
) -> V1Result<Json<Value>> {
    auth.require(Action::Read)?;
    let a = owned(
        state.approvals.get(&auth.key.workspace.id, &id).await?,
        &auth.agent_id,
    )?;
    Ok(Json(a.record_json(true)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResultQuery {
    /// Long-poll: wait up to this many seconds (at most 60) for a decision.
    #[serde(default)]
    pub wait: Option<u64>,
}

/// Poll the result: `{request_id, status: "pending"}` until a human decides or it expires.
#[utoipa::path(get, path = "/v1/approvals/{request_id}/result", tag = "Approvals (Agent API)", operation_id = "approvals.getResult",
    params(("request_id" = String, Path, description = "The approval's request_id"), ResultQuery),
    responses((status = 200, description = "The result", body = Object), (status = 404, description = "not_found", body = V1ErrorBody)))]
pub async fn get_result(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<ResultQuery>, axum::extract::rejection::QueryRejection>,
) -> V1Result<Json<Value>> {
    auth.require(Action::Read)?;
    let axum::extract::Query(q) = query.map_err(|e| V1Error {
        issues: Some(vec![Issue {
            tag: "Type",
            path: vec![json!("wait")],
            message: e.body_text(),
        }]),
        ..V1Error::new(
            StatusCode::BAD_REQUEST,
            "invalid_payload",
            "wait must be a number of seconds from 0 to 60",
        )
    })?;
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(60));
    // Check ownership before waiting.
    owned(
        state.approvals.get(&auth.key.workspace.id, &id).await?,
        &auth.agent_id,
    )?;
    let a = state
        .approvals
        .wait_for_result(&auth.key.workspace.id, &id, wait)
        .await?;
    Ok(Json(a.result_json()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct V1Agent {
    pub id: String,
    pub name: String,
    pub handle: String,
    pub description: Option<String>,
}

/// The agents of the key's workspace (needs only `X-Api-Key`).
#[utoipa::path(get, path = "/v1/agents", tag = "Approvals (Agent API)", operation_id = "approvals.listAgents",
    params(("X-Api-Key" = String, Header, description = "A workspace API key")),
    responses((status = 200, description = "Agents", body = [V1Agent]), (status = 401, description = "missing_agent_auth, invalid_api_key", body = V1ErrorBody)))]
pub async fn list_agents(
    State(state): State<AppState>,
    KeyOnly(key): KeyOnly,
) -> V1Result<Json<Vec<V1Agent>>> {
    let db = state.workspaces.get(&key.workspace.id).await?;
    let agents: Vec<AgentSummary> = Agents {
        db: &db,
        workspace_handle: &key.workspace.handle,
        links: state.links.clone(),
    }
    .list()
    .await?;
    Ok(Json(
        agents
            .into_iter()
            .map(|a| V1Agent {
                id: a.id,
                name: a.name,
                handle: a.handle,
                description: a.description,
            })
            .collect(),
    ))
}

/// Connectivity check.
#[utoipa::path(get, path = "/health", tag = "Approvals (Agent API)", operation_id = "approvals.health",
    responses((status = 200, description = "The server answers", body = Object)))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
