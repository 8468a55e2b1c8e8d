//! The workspace API's error surface: `{code, message, details?}`, plus the
//! `HttpApiDecodeError` shape (with `issues[]`) for bodies that do not fit the schema.
//! Every mapping from a domain error is written out here, on purpose.

use andibase_approvals::ApprovalRefusal;
use andibase_common::{DomainError, FieldIssue};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Present for schema and validation failures.
    pub issues: Option<Vec<Issue>>,
    pub retry_after: Option<u64>,
}

/// One decode issue, as Effect's `HttpApiDecodeError` writes it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Issue {
    #[serde(rename = "_tag")]
    pub tag: &'static str,
    #[schema(value_type = Vec<Object>)]
    pub path: Vec<Value>,
    pub message: String,
}

/// Error body of the workspace API.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    /// `authentication_required`, `invalid_api_key`, `session_required`,
    /// `insufficient_permissions`, `invalid_request`, `workspace_context_required`,
    /// `not_found`, `conflict`, `rate_limited`, `payload_too_large`, `internal_error`, or an
    /// agent-login code (`authorization_pending`, `slow_down`, `access_denied`,
    /// `expired_token`, `invalid_grant`).
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// `HttpApiDecodeError` on schema failures.
    #[serde(rename = "_tag", skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issues: Option<Vec<Issue>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            issues: None,
            retry_after: None,
        }
    }

    pub fn authentication_required() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_required",
            "Authentication required. Send Authorization: Bearer <api-key>, x-api-key, or a signed-in session.",
        )
    }

    pub fn invalid_api_key() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "The provided API key is invalid, expired, revoked, or malformed.",
        )
    }

    pub fn session_required() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_required",
            "This operation needs a signed-in browser session; API keys are not accepted here.",
        )
    }

    pub fn insufficient_permissions(permission: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            details: Some(json!({ "requiredPermission": permission })),
            ..ApiError::new(StatusCode::FORBIDDEN, "insufficient_permissions", message)
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "The requested resource was not found.",
        )
    }

    pub fn workspace_context_required() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "workspace_context_required",
            "You belong to several workspaces: send x-workspace-handle or x-workspace-id to choose one.",
        )
    }

    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An unexpected server error occurred.",
        )
    }

    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("Too many requests. Retry in {retry_after} seconds."),
            )
        }
    }

    /// A body that did not decode: the `HttpApiDecodeError` shape.
    pub fn decode(message: impl Into<String>, issues: Vec<Issue>) -> ApiError {
        ApiError {
            issues: Some(issues),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
        }
    }
}

fn refinement_issues(issues: Vec<FieldIssue>) -> Vec<Issue> {
    issues
        .into_iter()
        .map(|i| Issue {
            tag: "Refinement",
            path: i.path,
            message: i.message,
        })
        .collect()
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::Invalid { message, issues } => {
                ApiError::decode(message, refinement_issues(issues))
            }
            DomainError::NotFound => ApiError::not_found(),
            DomainError::Conflict { message, .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            DomainError::Forbidden {
                permission,
                message,
            } => ApiError::insufficient_permissions(&permission, message),
            DomainError::Unauthorized { message } => {
                ApiError::new(StatusCode::UNAUTHORIZED, "authentication_required", message)
            }
            DomainError::Refused { refusal, message } => {
                // A refused step is a 400 with the domain's code, except deciding an
                // approval that is closed, which conflicts with its state.
                let any = refusal.as_any();
                let status = match (
                    any.downcast_ref::<ApprovalRefusal>(),
                    any.downcast_ref::<andibase_llm::ModelRefusal>(),
                ) {
                    (Some(ApprovalRefusal::Closed), _) => StatusCode::CONFLICT,
                    // The model provider failed: a gateway's error, not the caller's.
                    (_, Some(andibase_llm::ModelRefusal::Failed)) => StatusCode::BAD_GATEWAY,
                    _ if any.is::<andibase_mcp::remote::Unreachable>() => StatusCode::BAD_GATEWAY,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, refusal.code(), message)
            }
            DomainError::RateLimited { retry_after_secs } => {
                ApiError::rate_limited(retry_after_secs)
            }
            DomainError::Internal(detail) => {
                // The detail goes to the log (with the request id from the span), never to the client.
                tracing::error!(error = %detail, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            code: self.code.to_string(),
            message: self.message,
            details: self.details,
            tag: self
                .issues
                .as_ref()
                .map(|_| "HttpApiDecodeError".to_string()),
            issues: self.issues,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
