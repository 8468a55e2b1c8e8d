//! Extractors: JSON bodies with path-carrying decode errors, and authentication.
//! A handler that needs a permission names it in its signature (`Ws<AgentsRead>`), so
//! the check cannot be forgotten and is declared in one place.

use std::marker::PhantomData;
use std::sync::Arc;

use andibase_common::Role;
use andibase_identity::{
    Access, ApiKeyAuth, BrowserSession, MemberRole, Permission, Resource, User, Workspace,
};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, Issue};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "andibase_session";

/// A JSON request body. Decode failures answer 400 `HttpApiDecodeError` with the path
/// of every problem.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "The request body is larger than {} bytes.",
                        state.config.body_limit
                    ),
                )
            } else {
                ApiError::invalid_request(format!("Could not read the request body: {e}"))
            }
        })?;
        decode_json(&bytes).map(Body)
    }
}

pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}" as &[u8]
    } else {
        bytes
    };
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let mut path: Vec<Value> = err
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => Some(Value::from(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Value::from(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(Value::from(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let inner = err.into_inner();
        let message = inner.to_string();
        let named = |prefix: &str| {
            message
                .split_once(prefix)
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(field, _)| field.to_string())
        };
        let mut push_field = |field: String| {
            if path.last().and_then(Value::as_str) != Some(field.as_str()) {
                path.push(Value::from(field));
            }
        };
        let tag = if let Some(field) = named("missing field `") {
            push_field(field);
            "Missing"
        } else if let Some(field) = named("unknown field `") {
            push_field(field);
            "Unexpected"
        } else if inner.is_syntax() || inner.is_eof() {
            "Transformation"
        } else {
            "Type"
        };
        let clean = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        let where_ = if path.is_empty() {
            String::new()
        } else {
            format!(
                " at {}",
                path.iter()
                    .map(|p| p.to_string().trim_matches('"').to_string())
                    .collect::<Vec<_>>()
                    .join(".")
            )
        };
        ApiError::decode(
            format!("The request body did not match the expected schema{where_}: {clean}"),
            vec![Issue {
                tag,
                path,
                message: clean,
            }],
        )
    })
}

/// Whoever sent the request.
#[derive(Clone)]
pub enum Caller {
    Key(Arc<ApiKeyAuth>),
    Browser(BrowserSession),
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim());
    }
    // Any Authorization header is a key attempt: a wrong scheme or an empty token is an
    // invalid key, not an anonymous request.
    let auth = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .unwrap_or("")
        .trim();
    let token = if auth.len() >= 6 && auth[..6].eq_ignore_ascii_case("bearer") {
        auth[6..].trim()
    } else {
        ""
    };
    Some(token)
}

/// Cookie-authenticated writes must come from our own pages: a same-origin `Origin`
/// header, or the session's CSRF token in `x-csrf-token`.
fn csrf_ok(parts: &Parts, state: &AppState, session: &BrowserSession) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(token) = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return token == session.csrf_token;
    }
    let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if origin == state.config.public_url.trim_end_matches('/') {
        return true;
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| !host.is_empty() && o == host)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(secret) = presented_key(&parts.headers) {
            return match state.identity.authenticate_api_key(secret).await? {
                Some(auth) => Ok(Caller::Key(auth)),
                None => Err(ApiError::invalid_api_key()),
            };
        }
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(ApiError::authentication_required());
        };
        let session = state
            .identity
            .browser_session(token)
            .await?
            .ok_or_else(ApiError::authentication_required)?;
        if !csrf_ok(parts, state, &session) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "Cookie-authenticated writes need a same-origin Origin header or the x-csrf-token header.",
            ));
        }
        Ok(Caller::Browser(session))
    }
}

/// A signed-in human (API keys are refused with `session_required`).
pub struct Human(pub BrowserSession);

impl FromRequestParts<AppState> for Human {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Browser(s) => Ok(Human(s)),
            Caller::Key(_) => Err(ApiError::session_required()),
        }
    }
}

/// The caller resolved to one workspace, with their effective access.
#[derive(Clone)]
pub struct WorkspaceAccess {
    pub workspace: Arc<Workspace>,
    pub access: Access,
    /// Set for humans; keys act with the access of their role and permissions.
    pub member_role: Option<MemberRole>,
    pub user: Option<User>,
    pub key_id: Option<String>,
}

impl WorkspaceAccess {
    /// Who to record as the author of a change: `user:<id>` or `key:<id>`.
    pub fn actor(&self) -> String {
        match (&self.key_id, &self.user) {
            (Some(k), _) => format!("key:{k}"),
            (None, Some(u)) => format!("user:{}", u.id),
            _ => "unknown".into(),
        }
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.access.allows(permission) {
            Ok(())
        } else {
            let who = if self.key_id.is_some() {
                "This API key"
            } else {
                "Your role in this workspace"
            };
            Err(ApiError::insufficient_permissions(
                &permission.to_string(),
                format!("{who} does not have the required permission."),
            ))
        }
    }

    /// The role name read hooks see: the member's role (owner counts as admin), or for a
    /// key the role its access amounts to.
    pub fn role(&self) -> Role {
        match self.member_role {
            Some(m) => m.acting_role(),
            None if self.access.allows(Resource::Members.write()) => Role::Admin,
            None if self.access.allows(Resource::Data.write()) => Role::Editor,
            None => Role::Viewer,
        }
    }

    /// The role to act with when granting to others: a member's own role, or for a key
    /// the role its access amounts to.
    pub fn granting_role(&self) -> MemberRole {
        self.member_role
            .unwrap_or(if self.access.allows(Resource::Members.write()) {
                MemberRole::Admin
            } else {
                MemberRole::Viewer
            })
    }
}

impl Caller {
    /// Resolves the workspace: a key carries it; a human names it with a header when
    /// they belong to several (or `explicit` comes from the path).
    pub async fn in_workspace(
        self,
        state: &AppState,
        explicit: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<WorkspaceAccess, ApiError> {
        match self {
            Caller::Key(k) => {
                if let Some(handle) = explicit {
                    if handle != k.workspace.handle && handle != k.workspace.id {
                        return Err(ApiError::not_found());
                    }
                }
                Ok(WorkspaceAccess {
                    workspace: k.workspace.clone(),
                    access: k.access,
                    member_role: None,
                    user: None,
                    key_id: Some(k.key_id.clone()),
                })
            }
            Caller::Browser(s) => {
                let named = explicit.map(str::to_string).or_else(|| {
                    ["x-workspace-handle", "x-workspace-id"]
                        .iter()
                        .find_map(|h| {
                            headers
                                .get(*h)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string)
                        })
                });
                let memberships = state.identity.memberships(&s.user.id).await?;
                let m = match named {
                    Some(n) => memberships
                        .into_iter()
                        .find(|m| m.workspace.handle == n || m.workspace.id == n)
                        .ok_or_else(ApiError::not_found)?,
                    None if memberships.len() == 1 => memberships.into_iter().next().ok_or_else(ApiError::internal)?,
                    None if memberships.is_empty() => {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "workspace_context_required",
                            "You do not belong to any workspace yet: create one with POST /api/v1/workspaces.",
                        ))
                    }
                    None => return Err(ApiError::workspace_context_required()),
                };
                Ok(WorkspaceAccess {
                    access: m.role.access(),
                    member_role: Some(m.role),
                    workspace: Arc::new(m.workspace),
                    user: Some(s.user),
                    key_id: None,
                })
            }
        }
    }
}

/// A permission a handler needs, as a type (for the [`Ws`] extractor).
pub trait Needs {
    const PERMISSION: Permission;
}

macro_rules! needs {
    ($($name:ident = $resource:ident . $action:ident;)*) => {
        $(
            pub struct $name;
            impl Needs for $name {
                const PERMISSION: Permission = Resource::$resource.$action();
            }
        )*
    };
}

needs! {
    AgentsRead = Agents.read;
    AgentsWrite = Agents.write;
    SessionEventsRead = SessionEvents.read;
    SessionEventsWrite = SessionEvents.write;
    MembersRead = Members.read;
    MembersWrite = Members.write;
    ApprovalsRead = Approvals.read;
    ApprovalsWrite = Approvals.write;
    DataRead = Data.read;
    DataWrite = Data.write;
    DefinitionsWrite = DataDefinitions.write;
}

/// The caller in their workspace (from the key or the workspace header), already
/// checked for permission `P`.
pub struct Ws<P: Needs>(pub WorkspaceAccess, pub PhantomData<P>);

impl<P: Needs> FromRequestParts<AppState> for Ws<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let wa = caller.in_workspace(state, None, &parts.headers).await?;
        wa.require(P::PERMISSION)?;
        Ok(Ws(wa, PhantomData))
    }
}

/// Query-string parameters with the same error shape as bodies.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| {
                ApiError::decode(
                    format!(
                        "The query string did not match the expected schema: {}",
                        e.body_text()
                    ),
                    vec![Issue {
                        tag: "Type",
                        path: vec![],
                        message: format!("{} (query: {q})", e.body_text()),
                    }],
                )
            })
    }
}
