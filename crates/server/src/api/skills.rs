//! Skills: named instruction bundles stored in the workspace and attached to agents.
//! Reading needs `agents.read`; changing them `agents.write`.

use andibase_agents::skills::{CreateSkill, Skill, Skills, UpdateSkill};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::error::ApiResult;
use crate::extract::{AgentsRead, AgentsWrite, Body, Ws};
use crate::state::AppState;

/// List skills
///
/// The workspace's skills, by name, with the agents each is attached to. Needs
/// `agents.read`.
#[utoipa::path(get, path = "/api/v1/skills", tag = "Agents", operation_id = "skills.listSkills",
    responses((status = 200, description = "Skills", body = [Skill])),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_skills(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsRead>,
) -> ApiResult<Json<Vec<Skill>>> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    Ok(Json(Skills { db: &db }.list().await?))
}

/// Create skill
///
/// Stores a skill (`name`, `description`, Markdown `instructions`) and attaches it to
/// the agents in `agentIds` (ids or handles): their chat turns read its instructions
/// after the agent's own. Needs `agents.write`.
#[utoipa::path(post, path = "/api/v1/skills", tag = "Agents", operation_id = "skills.createSkill",
    request_body = CreateSkill,
    responses((status = 201, description = "The skill", body = Skill),
              (status = 409, description = "The name is taken", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn create_skill(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsWrite>,
    Body(input): Body<CreateSkill>,
) -> ApiResult<(StatusCode, Json<Skill>)> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    let skill = Skills { db: &db }
        .create(input, Some(&ws.actor()), state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(skill)))
}

/// Get skill
///
/// One skill by id or name. Needs `agents.read`.
#[utoipa::path(get, path = "/api/v1/skills/{id}", tag = "Agents", operation_id = "skills.getSkill",
    params(("id" = String, Path, description = "Skill id or name")),
    responses((status = 200, description = "The skill", body = Skill), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn get_skill(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsRead>,
    Path(id): Path<String>,
) -> ApiResult<Json<Skill>> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    Ok(Json(Skills { db: &db }.get(&id).await?))
}

/// Update skill
///
/// Changes the fields given; `agentIds` replaces the attached agents. Needs `agents.write`.
#[utoipa::path(patch, path = "/api/v1/skills/{id}", tag = "Agents", operation_id = "skills.updateSkill",
    params(("id" = String, Path, description = "Skill id or name")),
    request_body = UpdateSkill,
    responses((status = 200, description = "The skill", body = Skill), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn update_skill(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsWrite>,
    Path(id): Path<String>,
    Body(input): Body<UpdateSkill>,
) -> ApiResult<Json<Skill>> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    Ok(Json(
        Skills { db: &db }
            .update(&id, input, Some(&ws.actor()), state.clock.now())
            .await?,
    ))
}

/// Delete skill
///
/// Deletes the skill; the agents it was attached to no longer read it. Needs
/// `agents.write`.
#[utoipa::path(delete, path = "/api/v1/skills/{id}", tag = "Agents", operation_id = "skills.deleteSkill",
    params(("id" = String, Path, description = "Skill id or name")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn delete_skill(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<AgentsWrite>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    Skills { db: &db }
        .delete(&id, Some(&ws.actor()), state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
