//! The Memory API (seed 003): `/admin/create_space` and `/v1/{space_id}/…`. Answers are
//! seed 003's `RpcResponse` (`{result, next_cursor?}`); a refusal's body is its `RpcError`
//! (`{message, data?}`): 401 for credentials, 400 for input, 404 for an unknown space.
//!
//! Who may call:
//! - a space token (`ST…`) of the space, for the scope it was made with;
//! - an API key of the workspace that owns the space, with `memory.read` / `memory.write`;
//! - anyone, for reads of a public space;
//! - the management routes (tokens, the space's settings) and `create_space` take the
//!   workspace's API keys only: a space token cannot mint or revoke tokens.

use andibase_common::DomainError;
use andibase_identity::Resource;
use andibase_memory::{
    AddSpaceToken, CreateSpace, FormationInput, GetOrInitUser, MaintenanceInput, ModelConfig,
    RecallInput, Scope, Space, UpdateSpace, UpdateTier,
};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::state::AppState;

/// The Memory API's routes, documented in the OpenAPI document under the tag `Memory`.
pub fn routes(
    router: utoipa_axum::router::OpenApiRouter<AppState>,
) -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    router
        .routes(routes!(create_space))
        .routes(routes!(service_info))
        .routes(routes!(info))
        .routes(routes!(formation_status))
        .routes(routes!(get_or_init_user))
        .routes(routes!(formation))
        .routes(routes!(recall))
        .routes(routes!(maintenance))
        .routes(routes!(conversations))
        .routes(routes!(conversation))
        .routes(routes!(conversation_delta))
        .routes(routes!(execute_kip_readonly))
        .routes(routes!(list_space_tokens))
        .routes(routes!(add_space_token))
        .routes(routes!(revoke_space_token))
        .routes(routes!(update_space))
        .routes(routes!(restart_formation))
        .routes(routes!(get_byok, set_byok))
        .routes(routes!(update_space_tier))
}

/// Gives every Memory operation seed 003's refusals (400, 401, 404 with an `RpcError`
/// body), once here rather than on each route.
pub fn document_refusals(doc: &mut utoipa::openapi::OpenApi) {
    crate::api::add_error_responses(
        doc,
        |_, op| op.tags.iter().flatten().any(|t| t == "Memory"),
        "RpcErrorBody",
        &[
            (
                "400",
                "Bad input or an agent error: `{message, data?: {issues | code}}`",
            ),
            ("401", "Missing or unusable credentials"),
            ("404", "No such space"),
        ],
    );
}

/// Seed 003's `RpcError`, as a refusal's body.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RpcErrorBody {
    message: String,
    /// `issues[]` (each `{path, message}`) for bad input; `code` for an agent's error.
    #[schema(value_type = Object)]
    data: Option<Value>,
}

/// A refusal in seed 003's shape.
struct RpcError {
    status: StatusCode,
    message: String,
    data: Option<Value>,
}

impl RpcError {
    fn new(status: StatusCode, message: impl Into<String>) -> RpcError {
        RpcError {
            status,
            message: message.into(),
            data: None,
        }
    }

    fn unauthorized(message: impl Into<String>) -> RpcError {
        RpcError::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        let mut body = json!({"message": self.message});
        if let Some(data) = self.data {
            body["data"] = data;
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<DomainError> for RpcError {
    fn from(e: DomainError) -> RpcError {
        match e {
            DomainError::Invalid { message, issues } => RpcError {
                status: StatusCode::BAD_REQUEST,
                message,
                data: Some(json!({"issues": issues
                    .iter()
                    .map(|i| json!({"path": i.path, "message": i.message}))
                    .collect::<Vec<_>>()})),
            },
            DomainError::NotFound => RpcError::new(StatusCode::NOT_FOUND, "not found"),
            DomainError::Unauthorized { message } => RpcError::unauthorized(message),
            DomainError::Forbidden { message, .. } => RpcError::unauthorized(message),
            // A model that failed or is missing: seed 003's 400 for an agent error.
            DomainError::Refused { refusal, message } => RpcError {
                status: StatusCode::BAD_REQUEST,
                message,
                data: Some(json!({"code": refusal.code()})),
            },
            DomainError::RateLimited { .. } => {
                RpcError::new(StatusCode::TOO_MANY_REQUESTS, "too many requests")
            }
            other => {
                tracing::error!(error = %other, "memory API");
                RpcError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

type Rpc = Result<Response, RpcError>;

/// Seed 003's formats: bodies in JSON, CBOR or Markdown (`Content-Type`), answers by
/// `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Cbor,
    Markdown,
}

fn format_of(value: Option<&axum::http::HeaderValue>, default: Format) -> Format {
    let v = value
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    // The first of the formats the header names, in its order.
    let at = |m: &str| v.find(m).unwrap_or(usize::MAX);
    let (json, cbor, markdown) = (
        at("application/json"),
        at("application/cbor"),
        at("text/markdown"),
    );
    match json.min(cbor).min(markdown) {
        usize::MAX => default,
        m if m == cbor => Format::Cbor,
        m if m == markdown => Format::Markdown,
        _ => Format::Json,
    }
}

/// `{result}` in the format the caller accepts: JSON, CBOR, or Markdown (a string as it
/// is, anything else as pretty JSON).
fn answer_in(headers: &HeaderMap, result: Value) -> Rpc {
    respond(headers, json!({"result": result}))
}

/// An envelope (`{result, next_cursor?}` or KIP's) in the format the caller accepts; in
/// Markdown, its `result` alone (or the whole envelope when it has none).
fn respond(headers: &HeaderMap, envelope: Value) -> Rpc {
    Ok(match format_of(headers.get(header::ACCEPT), Format::Json) {
        Format::Json => Json(envelope).into_response(),
        Format::Cbor => {
            let mut bytes = Vec::new();
            ciborium::into_writer(&envelope, &mut bytes)
                .map_err(|e| RpcError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            ([(header::CONTENT_TYPE, "application/cbor")], bytes).into_response()
        }
        Format::Markdown => {
            let shown = match envelope.get("result") {
                Some(r) => r.clone(),
                None => envelope,
            };
            let text = match shown {
                Value::String(s) => s,
                other => serde_json::to_string_pretty(&other).unwrap_or_default(),
            };
            (
                [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
                text,
            )
                .into_response()
        }
    })
}

/// [`answer_in`] for any serializable result.
fn answer(headers: &HeaderMap, result: impl Serialize) -> Rpc {
    let value = serde_json::to_value(result)
        .map_err(|e| RpcError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    answer_in(headers, value)
}

/// An agent's answer (`AgentOutput`): in Markdown only its `content`, as the seed says.
fn agent_answer(headers: &HeaderMap, output: Value) -> Rpc {
    match format_of(headers.get(header::ACCEPT), Format::Json) {
        Format::Markdown => answer_in(headers, output["content"].clone()),
        _ => answer_in(headers, output),
    }
}

/// A body as a JSON value, from its format; Markdown that is not JSON is handed to `raw`
/// (formation and recall take plain text), or refused.
fn body_value(
    headers: &HeaderMap,
    bytes: &Bytes,
    raw: Option<&dyn Fn(String) -> Value>,
) -> Result<Value, RpcError> {
    let unreadable = |what: &str, e: String| RpcError {
        status: StatusCode::BAD_REQUEST,
        message: format!("the body is not {what}: {e}"),
        data: Some(json!({"issues": [{"path": [], "message": e}]})),
    };
    match format_of(headers.get(header::CONTENT_TYPE), Format::Json) {
        Format::Json => {
            serde_json::from_slice(bytes).map_err(|e| unreadable("JSON", e.to_string()))
        }
        Format::Cbor => ciborium::from_reader::<Value, _>(bytes.as_ref())
            .map_err(|e| unreadable("CBOR", e.to_string())),
        Format::Markdown => {
            let text =
                std::str::from_utf8(bytes).map_err(|e| unreadable("UTF-8 text", e.to_string()))?;
            match (serde_json::from_str::<Value>(text), raw) {
                (Ok(v), _) => Ok(v),
                (Err(_), Some(raw)) => Ok(raw(text.to_string())),
                (Err(e), None) => Err(unreadable(
                    "JSON (this route takes no plain text)",
                    e.to_string(),
                )),
            }
        }
    }
}

/// A body (JSON, CBOR or JSON in Markdown), its problems named by path (`data.issues`).
fn body<T: DeserializeOwned>(headers: &HeaderMap, bytes: &Bytes) -> Result<T, RpcError> {
    typed(body_value(headers, bytes, None)?)
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, RpcError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path: Vec<Value> = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(json!(key)),
                serde_path_to_error::Segment::Seq { index } => Some(json!(index)),
                _ => None,
            })
            .collect();
        let message = e.inner().to_string();
        RpcError {
            status: StatusCode::BAD_REQUEST,
            message: format!("invalid request body: {message}"),
            data: Some(json!({"issues": [{"path": path, "message": message}]})),
        }
    })
}

/// The presented credential, if any (`Authorization: Bearer …` or `x-api-key`; an empty
/// or non-bearer header is an invalid one).
fn bearer(headers: &HeaderMap) -> Option<String> {
    crate::extract::presented_key(headers).map(str::to_string)
}

fn permission(scope: Scope) -> andibase_identity::Permission {
    match scope {
        Scope::Write | Scope::All => Resource::Memory.write(),
        Scope::Read => Resource::Memory.read(),
    }
}

/// The space with this id, or a 404 naming it.
async fn find_space(state: &AppState, space_id: &str) -> Result<Space, RpcError> {
    state.memory.space(space_id).await.map_err(|e| match e {
        DomainError::NotFound => RpcError::new(
            StatusCode::NOT_FOUND,
            format!("no memory space `{space_id}`"),
        ),
        other => other.into(),
    })
}

/// The space, if the caller may act in it with `needed`; `keys_only` refuses space
/// tokens and public reads (the management routes).
async fn space_for(
    state: &AppState,
    headers: &HeaderMap,
    space_id: &str,
    needed: Scope,
    keys_only: bool,
) -> Result<Space, RpcError> {
    Ok(caller_in(state, headers, space_id, needed, keys_only)
        .await?
        .0)
}

/// [`space_for`], with who the caller is: `key:<id>`, `token:<name>` or `anonymous`.
async fn caller_in(
    state: &AppState,
    headers: &HeaderMap,
    space_id: &str,
    needed: Scope,
    keys_only: bool,
) -> Result<(Space, String), RpcError> {
    let space = find_space(state, space_id).await?;
    let Some(token) = bearer(headers) else {
        if needed == Scope::Read && space.public && !keys_only {
            return Ok((space, "anonymous".into()));
        }
        return Err(RpcError::unauthorized(
            "this needs `Authorization: Bearer` with a token of this space or an API key of its workspace",
        ));
    };
    if token.len() >= andibase_memory::MIN_CWT_LEN
        && !token.starts_with("andi_live_")
        && state.memory.cwt_enabled()
    {
        return match state.memory.verify_cwt(&token) {
            Some(c) if !c.is_for(&space.id) => Err(RpcError::unauthorized(
                "this token's audience is another space",
            )),
            Some(c) if !c.scope.allows(needed) => Err(RpcError::unauthorized(
                "this token's scope does not allow this",
            )),
            Some(c) => Ok((space, format!("cwt:{}", c.subject))),
            None => Err(RpcError::unauthorized("invalid or expired token")),
        };
    }
    if token.starts_with("andi_live_") {
        let key = state.identity.authenticate_api_key(&token).await?;
        return match key {
            Some(k)
                if k.workspace.id == space.workspace_id && k.access.allows(permission(needed)) =>
            {
                Ok((space, format!("key:{}", k.key_id)))
            }
            Some(k) if k.workspace.id == space.workspace_id => Err(RpcError::unauthorized(
                format!("this API key lacks {}", permission(needed)),
            )),
            _ => Err(RpcError::unauthorized(
                "not an API key of the workspace that owns this space",
            )),
        };
    }
    if keys_only {
        return Err(RpcError::unauthorized(
            "managing a space takes a CWT, or an API key of its workspace with memory.write",
        ));
    }
    match state.memory.verify_token(&space, &token).await? {
        Some((scope, name)) if scope.allows(needed) => Ok((space, format!("token:{name}"))),
        Some(_) => Err(RpcError::unauthorized(format!(
            "this space token's scope does not allow {}",
            match needed {
                Scope::Write => "writing",
                _ => "reading",
            }
        ))),
        None => Err(RpcError::unauthorized(
            "unknown, expired or revoked space token",
        )),
    }
}

/// `GET /info`: seed 003's `ServiceInfo`.
#[utoipa::path(get, path = "/info", tag = "Memory", operation_id = "memory.serviceInfo", summary = "The service's `ServiceInfo`", responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn service_info(headers: HeaderMap) -> Rpc {
    let info = json!({
        "name": "andibase",
        "version": env!("CARGO_PKG_VERSION"),
        "sharding": 0,
        "description": "Memory spaces for AI agents (the Anda Brain API over KIP), in one workspace server.",
    });
    match format_of(headers.get(header::ACCEPT), Format::Json) {
        Format::Json => Ok(Json(info).into_response()),
        _ => respond(&headers, json!({"result": info})),
    }
}

/// `POST /admin/create_space`: an API key with `memory.write` creates a space owned by
/// its workspace.
#[utoipa::path(post, path = "/admin/create_space", tag = "Memory", operation_id = "memory.createSpace", summary = "Create a memory space (owned by the caller's workspace, or the named one for a platform admin)", request_body(content((CreateSpace = "application/json"), (CreateSpace = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn create_space(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> Rpc {
    let token = bearer(&headers).unwrap_or_default();
    // A platform admin's CWT creates for the workspace the body names.
    if let Some(claims) = state.memory.verify_cwt(&token) {
        if !state.memory.is_platform_admin(&claims) {
            return Err(RpcError::unauthorized(
                "creating a space with a CWT takes a platform admin's (audience *, write)",
            ));
        }
        let input: CreateSpace = body(&headers, &bytes)?;
        let named = input.workspace.clone().unwrap_or_default();
        let workspace = state
            .identity
            .workspace_by_handle(&named)
            .await?
            .ok_or_else(|| bad("workspace", "names no workspace (its handle)"))?;
        let caller = format!("cwt:{}", claims.subject);
        let space = state
            .memory
            .create_space(&workspace.id, input, &caller)
            .await?;
        return answer(&headers, state.memory.info(&space).await?);
    }
    let Some(key) = state.identity.authenticate_api_key(&token).await? else {
        return Err(RpcError::unauthorized(
            "creating a space takes an API key of the workspace that will own it",
        ));
    };
    if !key.access.allows(Resource::Memory.write()) {
        return Err(RpcError::unauthorized("this API key lacks memory.write"));
    }
    let input: CreateSpace = body(&headers, &bytes)?;
    if input
        .workspace
        .as_ref()
        .is_some_and(|w| *w != key.workspace.handle && *w != key.workspace.id)
    {
        return Err(bad(
            "workspace",
            "an API key creates spaces in its own workspace",
        ));
    }
    let space = state
        .memory
        .create_space(&key.workspace.id, input, &format!("key:{}", key.key_id))
        .await?;
    answer(&headers, state.memory.info(&space).await?)
}

#[utoipa::path(get, path = "/v1/{space_id}/info", tag = "Memory", operation_id = "memory.info", summary = "A space's `SpaceInfo`: counts, usage, watermarks", params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn info(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Rpc {
    let space = space_for(&state, &headers, &id, Scope::Read, false).await?;
    answer(&headers, state.memory.info(&space).await?)
}

#[utoipa::path(get, path = "/v1/{space_id}/formation_status", tag = "Memory", operation_id = "memory.formationStatus", summary = "Whether formation and maintenance are running, and how far they got", params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn formation_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Rpc {
    let space = space_for(&state, &headers, &id, Scope::Read, false).await?;
    let info = state.memory.info(&space).await?;
    let processing = state.memory.formation_processing(&space).await?;
    answer(
        &headers,
        json!({
            "id": info.id,
            "concepts": info.concepts,
            "propositions": info.propositions,
            "conversations": info.conversations,
            "formation_processing": processing,
            "maintenance_processing": state.memory.maintenance_processing(&space).await?,
            "formation_processed_id": info.formation_processed_id,
            "maintenance_processed_id": info.maintenance_processed_id,
            "maintenance_at": info.maintenance_at,
        }),
    )
}

/// Answers the KIP envelope itself (`{result}` or `{error: {code, message, hint}}`), as
/// seed 003's `KipResponse`; a KIP error is still a 200, as in the reference.
#[utoipa::path(post, path = "/v1/{space_id}/execute_kip_readonly", tag = "Memory", operation_id = "memory.executeKipReadonly", summary = "Run KIP queries (KQL, META) on the space; answers the KIP envelope", request_body(content((Object = "application/json"), (Object = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn execute_kip_readonly(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let space = space_for(&state, &headers, &id, Scope::Read, false).await?;
    let request: Value = body(&headers, &bytes)?;
    respond(
        &headers,
        state.memory.execute_kip_readonly(&space, request).await?,
    )
}

#[utoipa::path(post, path = "/v1/{space_id}/get_or_init_user", tag = "Memory", operation_id = "memory.getOrInitUser", summary = "The Person of a user id, created on first use", request_body(content((GetOrInitUser = "application/json"), (GetOrInitUser = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn get_or_init_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let space = space_for(&state, &headers, &id, Scope::Write, false).await?;
    let input: GetOrInitUser = body(&headers, &bytes)?;
    answer(
        &headers,
        state.memory.get_or_init_user(&space, input).await?,
    )
}

/// `POST /v1/{space_id}/formation`: stored and queued; the answer names the conversation.
#[utoipa::path(post, path = "/v1/{space_id}/formation", tag = "Memory", operation_id = "memory.formation", summary = "Store a conversation to be formed into memory; answers its id at once", request_body(content((FormationInput = "application/json"), (FormationInput = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn formation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let (space, caller) = caller_in(&state, &headers, &id, Scope::Write, false).await?;
    // Plain Markdown text is one user message, said now.
    let now = state.clock.now().to_iso();
    let raw = move |text: String| json!({"messages": [{"role": "user", "content": text}], "timestamp": now});
    let input: FormationInput = typed(body_value(&headers, &bytes, Some(&raw))?)?;
    agent_answer(
        &headers,
        state.memory.formation(&space, input, &caller).await?,
    )
}

/// `POST /v1/{space_id}/recall`: answered at once, from the graph.
#[utoipa::path(post, path = "/v1/{space_id}/recall", tag = "Memory", operation_id = "memory.recall", summary = "Answer a question from the space's memory", request_body(content((RecallInput = "application/json"), (RecallInput = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn recall(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let (space, caller) = caller_in(&state, &headers, &id, Scope::Read, false).await?;
    // Plain Markdown text is the question.
    let raw = |text: String| json!({"query": text});
    let input: RecallInput = typed(body_value(&headers, &bytes, Some(&raw))?)?;
    agent_answer(&headers, state.memory.recall(&space, input, &caller).await?)
}

/// `POST /v1/{space_id}/maintenance`: queued (single-flight); the answer names it.
#[utoipa::path(post, path = "/v1/{space_id}/maintenance", tag = "Memory", operation_id = "memory.maintenance", summary = "Queue maintenance (single-flight); answers its id", request_body(content((MaintenanceInput = "application/json"), (MaintenanceInput = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn maintenance(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let (space, caller) = caller_in(&state, &headers, &id, Scope::Write, false).await?;
    let input: MaintenanceInput = body(&headers, &bytes)?;
    agent_answer(
        &headers,
        state.memory.maintenance(&space, input, &caller).await?,
    )
}

/// `?collection=&cursor=&limit=` of the conversation routes.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ConversationQuery {
    /// `conversations` (formation, the default), `recall` or `maintenance`.
    #[serde(default)]
    collection: Option<String>,
    /// The smallest id of the previous page.
    #[serde(default)]
    cursor: Option<String>,
    /// 1 to 100 (default 10).
    #[serde(default)]
    limit: Option<String>,
    /// Delta: messages after this many.
    #[serde(default)]
    messages_offset: Option<String>,
    /// Delta: artifacts after this many.
    #[serde(default)]
    artifacts_offset: Option<String>,
}

impl ConversationQuery {
    fn collection(&self) -> Result<&str, RpcError> {
        match self
            .collection
            .as_deref()
            .unwrap_or(andibase_memory::FORMATION)
        {
            c @ ("conversations" | "recall" | "maintenance") => Ok(c),
            _ => Err(bad("collection", "is conversations, recall or maintenance")),
        }
    }

    fn number(
        value: &Option<String>,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, RpcError> {
        match value {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| {
                    bad(
                        name,
                        &format!(
                            "must be a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        }
    }
}

fn bad(field: &str, message: &str) -> RpcError {
    RpcError {
        status: StatusCode::BAD_REQUEST,
        message: format!("{field}: {message}"),
        data: Some(json!({"issues": [{"path": [field], "message": message}]})),
    }
}

fn query(uri: &axum::http::Uri) -> Result<ConversationQuery, RpcError> {
    serde_urlencoded::from_str(uri.query().unwrap_or("")).map_err(|e| RpcError {
        status: StatusCode::BAD_REQUEST,
        message: format!("invalid query: {e}"),
        data: None,
    })
}

#[utoipa::path(get, path = "/v1/{space_id}/conversations", tag = "Memory", operation_id = "memory.conversations", summary = "A collection's conversations, newest first", params(("space_id" = String, Path, description = "The memory space"), ConversationQuery), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn conversations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Rpc {
    let space = space_for(&state, &headers, &id, Scope::Read, false).await?;
    let q = query(&uri)?;
    let limit = ConversationQuery::number(&q.limit, "limit", 1..=100)?.unwrap_or(10);
    let cursor = ConversationQuery::number(&q.cursor, "cursor", 1..=i64::MAX)?;
    let (page, next) = state
        .memory
        .conversations(&space, q.collection()?, cursor, limit)
        .await?;
    let mut out = json!({"result": page});
    if let Some(next) = next {
        out["next_cursor"] = json!(next);
    }
    respond(&headers, out)
}

#[utoipa::path(get, path = "/v1/{space_id}/conversations/{conversation_id}", tag = "Memory", operation_id = "memory.conversation", summary = "One conversation", params(("space_id" = String, Path, description = "The memory space"), ("conversation_id" = i64, Path, description = "The conversation's id"), ConversationQuery), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn conversation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, conversation)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Rpc {
    let space = space_for(&state, &headers, &id, Scope::Read, false).await?;
    let q = query(&uri)?;
    let n = conversation
        .parse::<i64>()
        .map_err(|_| bad("conversation_id", "is a number"))?;
    answer(
        &headers,
        state
            .memory
            .conversation(&space, q.collection()?, n)
            .await?,
    )
}

/// The messages and artifacts after the client's offsets.
#[utoipa::path(get, path = "/v1/{space_id}/conversations/{conversation_id}/delta", tag = "Memory", operation_id = "memory.conversationDelta", summary = "A conversation's messages and artifacts after the given offsets", params(("space_id" = String, Path, description = "The memory space"), ("conversation_id" = i64, Path, description = "The conversation's id"), ConversationQuery), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn conversation_delta(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, conversation)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Rpc {
    let space = space_for(&state, &headers, &id, Scope::Read, false).await?;
    let q = query(&uri)?;
    let n = conversation
        .parse::<i64>()
        .map_err(|_| bad("conversation_id", "is a number"))?;
    let messages_offset =
        ConversationQuery::number(&q.messages_offset, "messages_offset", 0..=i64::MAX)?
            .unwrap_or(0);
    let artifacts_offset =
        ConversationQuery::number(&q.artifacts_offset, "artifacts_offset", 0..=i64::MAX)?
            .unwrap_or(0);
    let c = state
        .memory
        .conversation(&space, q.collection()?, n)
        .await?;
    let after = |v: &Value, offset: i64| -> Value {
        json!(v
            .as_array()
            .map(|a| a.iter().skip(offset as usize).cloned().collect::<Vec<_>>())
            .unwrap_or_default())
    };
    answer(
        &headers,
        json!({
            "_id": c["_id"],
            "messages": after(&c["messages"], messages_offset),
            "artifacts": after(&c["artifacts"], artifacts_offset),
            "status": c["status"],
            "usage": c["usage"],
            "failed_reason": c["failed_reason"],
            "updated_at": c["updated_at"],
        }),
    )
}

#[utoipa::path(get, path = "/v1/{space_id}/management/space_tokens", tag = "Memory", operation_id = "memory.spaceTokens", summary = "The space's tokens (never their secrets)", params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn list_space_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Rpc {
    let space = space_for(&state, &headers, &id, Scope::Write, true).await?;
    answer(&headers, state.memory.list_tokens(&space).await?)
}

/// A management request: the space, for a key of its workspace with `memory.write`,
/// and the body.
async fn managed<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    bytes: &Bytes,
) -> Result<(Space, T), RpcError> {
    let space = space_for(state, headers, id, Scope::Write, true).await?;
    Ok((space, body(headers, bytes)?))
}

#[utoipa::path(post, path = "/v1/{space_id}/management/add_space_token", tag = "Memory", operation_id = "memory.addSpaceToken", summary = "Mint a space token (`ST…`, shown once)", request_body(content((AddSpaceToken = "application/json"), (AddSpaceToken = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn add_space_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let (space, input) = managed::<AddSpaceToken>(&state, &headers, &id, &bytes).await?;
    answer(&headers, state.memory.add_token(&space, input).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevokeSpaceToken {
    token: String,
}

#[utoipa::path(post, path = "/v1/{space_id}/management/revoke_space_token", tag = "Memory", operation_id = "memory.revokeSpaceToken", summary = "Revoke a space token", request_body(content((RevokeSpaceToken = "application/json"), (RevokeSpaceToken = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn revoke_space_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let (space, input) = managed::<RevokeSpaceToken>(&state, &headers, &id, &bytes).await?;
    answer(
        &headers,
        state.memory.revoke_token(&space, &input.token).await?,
    )
}

#[utoipa::path(patch, path = "/v1/{space_id}/management/update_space", tag = "Memory", operation_id = "memory.updateSpace", summary = "Rename, describe, or make a space public or private", request_body(content((UpdateSpace = "application/json"), (UpdateSpace = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn update_space(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let (space, input) = managed::<UpdateSpace>(&state, &headers, &id, &bytes).await?;
    state.memory.update_space(&space, input).await?;
    answer(&headers, true)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RestartFormation {
    conversation: i64,
}

#[utoipa::path(patch, path = "/v1/{space_id}/management/restart_formation", tag = "Memory", operation_id = "memory.restartFormation", summary = "Queue a failed or stalled formation again", request_body(content((RestartFormation = "application/json"), (RestartFormation = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn restart_formation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let (space, input) = managed::<RestartFormation>(&state, &headers, &id, &bytes).await?;
    state
        .memory
        .restart_formation(&space, input.conversation)
        .await?;
    answer(&headers, true)
}

/// The space's model configuration, its key masked (`…` and the last four characters):
/// secrets are never returned.
#[utoipa::path(get, path = "/v1/{space_id}/management/space_byok", tag = "Memory", operation_id = "memory.getByok", summary = "The space's own model configuration, its key masked", params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn get_byok(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Rpc {
    let space = space_for(&state, &headers, &id, Scope::Write, true).await?;
    let config = state.memory.byok(&space).await?;
    let shown = config.map(|mut c| {
        c.api_key = andibase_vault::hint(&c.api_key);
        c
    });
    answer(&headers, shown)
}

#[utoipa::path(patch, path = "/v1/{space_id}/management/space_byok", tag = "Memory", operation_id = "memory.setByok", summary = "Set the space's own model (BYOK), sealed at rest", request_body(content((ModelConfig = "application/json"), (ModelConfig = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn set_byok(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let (space, config) = managed::<ModelConfig>(&state, &headers, &id, &bytes).await?;
    state.memory.set_byok(&space, config).await?;
    answer(&headers, true)
}

/// A platform admin's (CWT) change of a space's tier.
#[utoipa::path(post, path = "/admin/{space_id}/update_space_tier", tag = "Memory", operation_id = "memory.updateSpaceTier", summary = "Set a space's tier (platform admins)", request_body(content((UpdateTier = "application/json"), (UpdateTier = "application/cbor"), (String = "text/markdown")), description = "JSON, CBOR, or Markdown (JSON text, or for formation and recall the raw text)"), params(("space_id" = String, Path, description = "The memory space")), responses((status = 200, description = "The `RpcResponse` `{result, next_cursor?}`", body = Object)))]
async fn update_space_tier(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Rpc {
    let token = bearer(&headers).unwrap_or_default();
    let admin = state
        .memory
        .verify_cwt(&token)
        .is_some_and(|c| state.memory.is_platform_admin(&c));
    if !admin {
        return Err(RpcError::unauthorized(
            "changing a tier takes a platform admin's CWT",
        ));
    }
    let space = find_space(&state, &id).await?;
    let input: UpdateTier = body(&headers, &bytes)?;
    answer(
        &headers,
        state.memory.update_tier(&space, input.tier).await?,
    )
}
