//! The workspace API (`/api/v1`, camelCase JSON). Routes and the OpenAPI document are
//! built from the same annotated handlers, so they cannot drift.

pub mod agent_auth;
pub mod agents;
pub mod approvals;
pub mod auth;
pub mod credentials;
pub mod data;
pub mod sessions;
pub mod skills;
pub mod workspaces;

use axum::routing::{get, post};
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, Response as OaResponse, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiErrorBody, Issue};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "andibase API",
        description = "One workspace shared by AI agents and the humans they work for. Authenticate with `x-api-key: <key>`, `Authorization: Bearer <key>`, or a signed-in browser session.",
        version = "1"
    ),
    components(schemas(ApiErrorBody, Issue, crate::memory_api::RpcErrorBody)),
    tags(
        (name = "Agent Auth", description = "Device-code login that gives an agent a workspace API key."),
        (name = "Agents", description = "Saved workspace agents."),
        (name = "Sessions", description = "Agent work sessions and their live timelines."),
        (name = "Workspaces", description = "Workspaces, members, invitations and API keys."),
        (name = "Auth", description = "Human sign-in for the web console."),
        (name = "Data Definitions", description = "Typed data definitions; each is a real table."),
        (name = "Data", description = "Records of a data definition: get, query, upsert, patch, delete."),
        (name = "Data SQL Query", description = "Read-only SQL over the workspace's data definitions."),
        (name = "Approvals", description = "Human approvals: the inbox side (list, resolve, events, agent settings, notifications)."),
        (name = "Approvals (Agent API)", description = "FinalSay's Agent API: agents ask for approval with X-Agent-Id and X-Api-Key; errors are {error, code, issues?}."),
        (name = "Memory", description = "Memory spaces (the Anda Brain API over KIP): answers are {result, next_cursor?}, refusals {message, data?}. Credentials: a workspace API key (memory.read / memory.write), a space token (ST…), or a CWT; bodies and answers in JSON, CBOR or Markdown."),
    )
)]
struct ApiDoc;

/// Adds the security schemes and the shared error responses to every operation.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "andibaseKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // The Agent API (`/v1`, `/health`) and the Memory API have their own error
        // formats, declared elsewhere.
        add_error_responses(
            openapi,
            |path, _| path.starts_with("/api/"),
            "ApiErrorBody",
            &[
                (
                    "400",
                    "The request did not match the expected schema, or was refused",
                ),
                ("401", "Authentication is missing or invalid"),
                (
                    "403",
                    "The caller lacks the permission named in details.requiredPermission",
                ),
                ("500", "An unexpected server error occurred"),
            ],
        );
    }
}

/// Adds error responses (`status`, description) with the body schema `schema` to the
/// operations `select` picks (by path and operation), where an operation does not declare
/// that status itself.
pub(crate) fn add_error_responses(
    openapi: &mut utoipa::openapi::OpenApi,
    select: impl Fn(&str, &utoipa::openapi::path::Operation) -> bool,
    schema: &str,
    responses: &[(&str, &str)],
) {
    let error = |description: &str| -> RefOr<OaResponse> {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name(schema)))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            if !select(path, op) {
                continue;
            }
            for (status, text) in responses {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error(text));
            }
        }
    }
}

/// The API router and its OpenAPI document.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::sign_in))
        .routes(routes!(auth::sign_out))
        .routes(routes!(auth::me))
        .routes(routes!(auth::complete_setup))
        .routes(routes!(agent_auth::start_agent_login))
        .routes(routes!(agent_auth::get_agent_login))
        .routes(routes!(agent_auth::approve_agent_login))
        .routes(routes!(agent_auth::deny_agent_login))
        .routes(routes!(agent_auth::exchange_agent_login))
        .routes(routes!(agents::list_agents, agents::create_agent))
        .routes(routes!(agents::list_chats))
        .routes(routes!(agents::get_chat))
        .routes(routes!(agents::send_message))
        .routes(routes!(skills::list_skills, skills::create_skill))
        .routes(routes!(
            skills::get_skill,
            skills::update_skill,
            skills::delete_skill
        ))
        .routes(routes!(
            agents::get_agent,
            agents::update_agent,
            agents::delete_agent
        ))
        .routes(routes!(sessions::create_session))
        .routes(routes!(sessions::list_sessions))
        .routes(routes!(sessions::get_session))
        .routes(routes!(sessions::post_event, sessions::list_events))
        .routes(routes!(
            workspaces::list_workspaces,
            workspaces::create_workspace
        ))
        .routes(routes!(
            workspaces::list_api_keys,
            workspaces::create_api_key
        ))
        .routes(routes!(
            workspaces::delete_api_key,
            workspaces::update_api_key
        ))
        .routes(routes!(workspaces::list_users, workspaces::add_user))
        .routes(routes!(
            credentials::list_credentials,
            credentials::create_credential
        ))
        .routes(routes!(credentials::delete_credential))
        .routes(routes!(credentials::list_credential_tools))
        .routes(routes!(workspaces::remove_user))
        .routes(routes!(
            workspaces::list_invitations,
            workspaces::create_invitation
        ))
        .routes(routes!(workspaces::delete_invitation))
        .routes(routes!(workspaces::accept_invitation))
        .routes(routes!(data::list_definitions, data::create_definition))
        .routes(routes!(
            data::get_definition,
            data::update_definition,
            data::delete_definition
        ))
        .routes(routes!(data::slow_queries))
        .routes(routes!(data::get_data_settings, data::update_data_settings))
        .routes(routes!(data::get_record))
        .routes(routes!(data::query))
        .routes(routes!(data::select_all))
        .routes(routes!(data::upsert_many))
        .routes(routes!(data::patch_many))
        .routes(routes!(data::delete_many))
        .routes(routes!(data::sql_query))
        .routes(routes!(approvals::list_approvals))
        .routes(routes!(approvals::stream_events))
        .routes(routes!(approvals::get_approval))
        .routes(routes!(approvals::resolve_approval))
        .routes(routes!(approvals::get_settings, approvals::update_settings))
        .routes(routes!(approvals::inbox))
        .routes(routes!(approvals::mark_read))
        .routes(routes!(crate::agent_api::create_approval))
        .routes(routes!(crate::agent_api::get_approval))
        .routes(routes!(crate::agent_api::get_result))
        .routes(routes!(crate::agent_api::list_agents))
        .routes(routes!(crate::agent_api::health));
    let (router, doc) = crate::memory_api::routes(router).split_for_parts();
    // Applied after the routes are in, so every operation gets the shared responses.
    let mut doc = doc;
    crate::memory_api::document_refusals(&mut doc);
    CommonResponses.modify(&mut doc);
    (router.merge(aliases()), doc)
}

/// Seed 000's unversioned paths, served by the same handlers.
fn aliases() -> Router<AppState> {
    Router::new()
        .route(
            "/api/agent/auth/requests",
            post(agent_auth::start_agent_login),
        )
        .route(
            "/api/agent/auth/requests/{userCode}",
            get(agent_auth::get_agent_login),
        )
        .route(
            "/api/agent/auth/requests/{userCode}/approve",
            post(agent_auth::approve_agent_login),
        )
        .route(
            "/api/agent/auth/requests/{userCode}/deny",
            post(agent_auth::deny_agent_login),
        )
        .route(
            "/api/agent/auth/exchange",
            post(agent_auth::exchange_agent_login),
        )
        .route("/api/session/new", post(sessions::create_session))
        .route("/api/session", get(sessions::list_sessions))
        .route("/api/session/{sessionId}", get(sessions::get_session))
        .route(
            "/api/session/{sessionId}/events",
            post(sessions::post_event).get(sessions::list_events),
        )
        .route(
            "/api/agents",
            get(agents::list_agents).post(agents::create_agent),
        )
        .route(
            "/api/data-definitions",
            get(data::list_definitions).post(data::create_definition),
        )
        .route(
            "/api/data-definitions/{id}",
            get(data::get_definition)
                .patch(data::update_definition)
                .delete(data::delete_definition),
        )
        .route(
            "/api/agents/{id}",
            get(agents::get_agent)
                .patch(agents::update_agent)
                .delete(agents::delete_agent),
        )
}
