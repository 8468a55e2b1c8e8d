//! Data definitions and records (`/api/v1/data-definitions…`).

use andibase_data::{
    CreateDefinition, Data, DataDefinition, DeleteMany, Page, PatchMany, QueryParams, SelectAll,
    UpdateDefinition, UpsertMany, UpsertOutcome,
};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::{Body, DataRead, DataWrite, DefinitionsWrite, Query, WorkspaceAccess, Ws};
use crate::state::AppState;

async fn data_of<T>(
    state: &AppState,
    ws: &WorkspaceAccess,
    f: impl AsyncFnOnce(Data<'_>) -> andibase_common::DomainResult<T>,
) -> ApiResult<T> {
    let db = state.workspaces.get(&ws.workspace.id).await?;
    Ok(f(Data {
        db: &db,
        workspace_handle: &ws.workspace.handle,
        hooks: &state.data_hooks,
        definitions: &state.definitions,
        usage: &state.query_log,
        role: ws.role(),
    })
    .await?)
}

/// List data definitions. Needs `data.read`.
#[utoipa::path(get, path = "/api/v1/data-definitions", tag = "Data Definitions", operation_id = "dataDefinitions.listDataDefinitions",
    responses((status = 200, description = "Definitions", body = [DataDefinition])), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn list_definitions(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataRead>,
) -> ApiResult<Json<Vec<DataDefinition>>> {
    Ok(Json(
        data_of(&state, &ws, async |d| d.list_definitions().await).await?,
    ))
}

/// Create data definition
///
/// Creates the definition and its table. Fields go under `fields` (or `attributes`); the
/// handle comes from `name` unless given. Needs `dataDefinitions.write` (admins).
#[utoipa::path(post, path = "/api/v1/data-definitions", tag = "Data Definitions", operation_id = "dataDefinitions.createDataDefinition",
    request_body = CreateDefinition, responses((status = 201, description = "Created", body = DataDefinition)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn create_definition(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DefinitionsWrite>,
    Body(input): Body<CreateDefinition>,
) -> ApiResult<(StatusCode, Json<DataDefinition>)> {
    let now = state.clock.now();
    Ok((
        StatusCode::CREATED,
        Json(data_of(&state, &ws, async |d| d.create_definition(input, now).await).await?),
    ))
}

/// Get data definition (by id or handle). Needs `data.read`.
#[utoipa::path(get, path = "/api/v1/data-definitions/{id}", tag = "Data Definitions", operation_id = "dataDefinitions.getDataDefinition",
    params(("id" = String, Path, description = "Definition id or handle")),
    responses((status = 200, description = "The definition", body = DataDefinition), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn get_definition(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataRead>,
    Path(id): Path<String>,
) -> ApiResult<Json<DataDefinition>> {
    Ok(Json(
        data_of(&state, &ws, async |d| d.get_definition(&id).await).await?,
    ))
}

/// Slow query shapes of a definition
///
/// The shapes of this definition's list queries that took longer than the server's
/// `--slow-query-ms` since it started (the filter's equality and range tests, and the
/// sort), how often and how slow, the index that would serve each, and what became of
/// it: `waiting` (built once slow `--auto-index-after` times), `built`, `served` (the
/// index is there), `unindexable` (a substring test: a scan, stopped at the query time
/// limit), `off` (the workspace turned automatic indexes off). Needs `data.read`.
#[utoipa::path(get, path = "/api/v1/data-definitions/{id}/slow-queries", tag = "Data Definitions", operation_id = "dataDefinitions.slowQueries",
    params(("id" = String, Path, description = "Definition id or handle")),
    responses((status = 200, description = "Slow shapes, most often slow first", body = [andibase_data::SlowShape])), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn slow_queries(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataRead>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<andibase_data::SlowShape>>> {
    Ok(Json(
        data_of(&state, &ws, async |d| d.slow_queries(&id).await).await?,
    ))
}

/// Data settings
///
/// `autoIndexes`: whether the server builds the index a slow query shape needs (on by
/// default). Needs `data.read`.
#[utoipa::path(get, path = "/api/v1/data-settings", tag = "Data Definitions", operation_id = "dataDefinitions.getSettings",
    responses((status = 200, description = "The workspace's data settings", body = andibase_data::DataSettings)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn get_data_settings(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataRead>,
) -> ApiResult<Json<andibase_data::DataSettings>> {
    Ok(Json(
        data_of(&state, &ws, async |d| d.settings().await).await?,
    ))
}

/// Update data settings. Needs `dataDefinitions.write`.
#[utoipa::path(patch, path = "/api/v1/data-settings", tag = "Data Definitions", operation_id = "dataDefinitions.updateSettings",
    request_body = andibase_data::DataSettingsPatch,
    responses((status = 200, description = "The workspace's data settings", body = andibase_data::DataSettings)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn update_data_settings(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DefinitionsWrite>,
    Body(patch): Body<andibase_data::DataSettingsPatch>,
) -> ApiResult<Json<andibase_data::DataSettings>> {
    let now = state.clock.now();
    Ok(Json(
        data_of(&state, &ws, async |d| d.update_settings(patch, now).await).await?,
    ))
}

/// Update data definition
///
/// `fields` adds or changes fields by key (`null` removes one, dropping its column);
/// `renameFields` renames (`{"old": "new"}`). The table changes in the same transaction;
/// existing data is checked first (a new required field needs a default while records
/// exist). Needs `dataDefinitions.write`.
#[utoipa::path(patch, path = "/api/v1/data-definitions/{id}", tag = "Data Definitions", operation_id = "dataDefinitions.updateDataDefinition",
    params(("id" = String, Path, description = "Definition id or handle")), request_body = UpdateDefinition,
    responses((status = 200, description = "The definition", body = DataDefinition)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn update_definition(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DefinitionsWrite>,
    Path(id): Path<String>,
    Body(patch): Body<UpdateDefinition>,
) -> ApiResult<Json<DataDefinition>> {
    let now = state.clock.now();
    Ok(Json(
        data_of(&state, &ws, async |d| {
            d.update_definition(&id, patch, now).await
        })
        .await?,
    ))
}

/// Delete data definition and all its records. Needs `dataDefinitions.write`.
#[utoipa::path(delete, path = "/api/v1/data-definitions/{id}", tag = "Data Definitions", operation_id = "dataDefinitions.deleteDataDefinition",
    params(("id" = String, Path, description = "Definition id or handle")), responses((status = 204, description = "Deleted")), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn delete_definition(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DefinitionsWrite>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    data_of(&state, &ws, async |d| d.delete_definition(&id, now).await).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordQuery {
    #[serde(default)]
    pub include_deleted: Option<bool>,
    /// Comma-separated relationship fields to replace by the related records.
    #[serde(default)]
    pub expand: Option<String>,
}

/// Get data by id. Needs `data.read`.
#[utoipa::path(get, path = "/api/v1/data-definitions/{definitionId}/data/{id}", tag = "Data", operation_id = "data.getData",
    params(("definitionId" = String, Path, description = "Definition id or handle"), ("id" = String, Path, description = "Record id"), RecordQuery),
    responses((status = 200, description = "The record", body = Object), (status = 404, description = "Not found", body = crate::error::ApiErrorBody)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn get_record(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataRead>,
    Path((def, id)): Path<(String, String)>,
    Query(q): Query<RecordQuery>,
) -> ApiResult<Response> {
    // The record arrives serialized (written straight from its row).
    let body = data_of(&state, &ws, async |d| {
        d.get_record_body(&def, &id, q.include_deleted.unwrap_or(false), q.expand)
            .await
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// List data
///
/// Query records: `filter` (text `status = "open" && amount > 100`, or JSON), `sort`
/// (`-amount,name`), `limit` (≤ 1000), `cursor` (`nextCursor` of the previous page),
/// `count=true`, `fields` projection, `includeDeleted`. Needs `data.read`.
#[utoipa::path(get, path = "/api/v1/data-definitions/{definitionId}/query", tag = "Data", operation_id = "data.listData",
    params(("definitionId" = String, Path, description = "Definition id or handle"), QueryParams),
    responses((status = 200, description = "A page of records", body = Page)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn query(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataRead>,
    Path(def): Path<String>,
    Query(q): Query<QueryParams>,
) -> ApiResult<Response> {
    // The page arrives serialized (records written straight from their rows).
    let body = data_of(&state, &ws, async |d| d.query_body(&def, q).await).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectAllQuery {
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub include_deleted: Option<bool>,
}

/// Select all data row ids matching a filter (for "select all" in a UI). Needs `data.read`.
#[utoipa::path(get, path = "/api/v1/data-definitions/{definitionId}/data/select-all", tag = "Data", operation_id = "data.selectAllData",
    params(("definitionId" = String, Path, description = "Definition id or handle"), SelectAllQuery),
    responses((status = 200, description = "Ids", body = SelectAll)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn select_all(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataRead>,
    Path(def): Path<String>,
    Query(q): Query<SelectAllQuery>,
) -> ApiResult<Json<SelectAll>> {
    Ok(Json(
        data_of(&state, &ws, async |d| {
            d.select_all(&def, q.filter, q.include_deleted.unwrap_or(false))
                .await
        })
        .await?,
    ))
}

/// Upsert many data rows
///
/// Creates or updates up to 1000 records in one transaction, matching on `id` or a unique
/// field (`matchOn`); `mode: "insert"` appends and fails on an existing match. One invalid
/// record fails the whole batch with every problem named. Needs `data.write`.
#[utoipa::path(post, path = "/api/v1/data-definitions/{definitionId}/data/upsert-many", tag = "Data", operation_id = "data.upsertManyData",
    params(("definitionId" = String, Path, description = "Definition id or handle")), request_body = UpsertMany,
    responses((status = 200, description = "What happened to each record", body = UpsertOutcome)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn upsert_many(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataWrite>,
    Path(def): Path<String>,
    Body(input): Body<UpsertMany>,
) -> ApiResult<Json<UpsertOutcome>> {
    let (actor, now) = (ws.actor(), state.clock.now());
    Ok(Json(
        data_of(&state, &ws, async |d| {
            d.upsert_many(&def, input, &actor, now).await
        })
        .await?,
    ))
}

/// Patch many data rows (by `ids` or `filter`), atomically. Needs `data.write`.
#[utoipa::path(patch, path = "/api/v1/data-definitions/{definitionId}/data/patch-many", tag = "Data", operation_id = "data.patchManyData",
    params(("definitionId" = String, Path, description = "Definition id or handle")), request_body = PatchMany,
    responses((status = 200, description = "How many were updated", body = Object)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn patch_many(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataWrite>,
    Path(def): Path<String>,
    Body(input): Body<PatchMany>,
) -> ApiResult<Json<Value>> {
    let (actor, now) = (ws.actor(), state.clock.now());
    Ok(Json(
        data_of(&state, &ws, async |d| {
            d.patch_many(&def, input, &actor, now).await
        })
        .await?,
    ))
}

/// Delete many data rows
///
/// Soft delete (sets `deletedAt`) by `ids` or `filter`; `restore: true` undoes it;
/// `purge: true` removes for good. Needs `data.write`.
#[utoipa::path(post, path = "/api/v1/data-definitions/{definitionId}/data/delete-many", tag = "Data", operation_id = "data.deleteManyData",
    params(("definitionId" = String, Path, description = "Definition id or handle")), request_body = DeleteMany,
    responses((status = 200, description = "How many were affected", body = Object)), security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn delete_many(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataWrite>,
    Path(def): Path<String>,
    Body(input): Body<DeleteMany>,
) -> ApiResult<Json<Value>> {
    let (actor, now) = (ws.actor(), state.clock.now());
    Ok(Json(
        data_of(&state, &ws, async |d| {
            d.delete_many(&def, input, &actor, now).await
        })
        .await?,
    ))
}

/// Run SQL query against workspace data
///
/// One read-only statement over this workspace's data definitions, each a table named by
/// its handle holding its live records (`SELECT status, count(*) FROM orders GROUP BY 1`).
/// Enforced by the database engine, not by reading the SQL: writes, DDL, ATTACH, PRAGMA,
/// extension loading, system tables and everything outside the definitions are refused;
/// statements are stopped after 2 s; rows are capped by `limit`. Needs `data.read`.
#[utoipa::path(post, path = "/api/v1/data/sql/query", tag = "Data SQL Query", operation_id = "data.runSqlQuery",
    request_body = andibase_data::SqlQuery, responses((status = 200, description = "Columns and rows", body = andibase_data::SqlResult)),
    security(("andibaseKey" = []), ("bearer" = [])))]
pub async fn sql_query(
    State(state): State<AppState>,
    Ws(ws, ..): Ws<DataRead>,
    Body(input): Body<andibase_data::SqlQuery>,
) -> ApiResult<Json<andibase_data::SqlResult>> {
    Ok(Json(
        data_of(&state, &ws, async |d| {
            d.sql_query(input, Data::SQL_TIME_LIMIT).await
        })
        .await?,
    ))
}
