//! Data definitions: create, change and delete them, each change with its table in one
//! transaction.

mod plan;

use std::collections::BTreeMap;

use andibase_common::{id, DomainError, DomainResult, FieldIssue, Timestamp};
use andibase_storage::schema::{self, SchemaChange};
use andibase_storage::{params, record_event, search, Sql};
use serde_json::json;

use crate::definition::*;
use crate::records::Data;
use crate::tables::{
    after_index_added, after_schema_change, check_declared_indexes, create_table, declared_indexes,
    index_columns, search_columns,
};
use crate::usage::{ShapeStatus, SlowShape};

impl Data<'_> {
    pub async fn list_definitions(&self) -> DomainResult<Vec<DataDefinition>> {
        self.db.read(|r| load_all(r)).await
    }

    pub async fn get_definition(&self, key: &str) -> DomainResult<DataDefinition> {
        let key = key.to_string();
        self.db.read(move |r| load_definition(r, &key)).await
    }

    pub async fn create_definition(
        &self,
        input: CreateDefinition,
        now: Timestamp,
    ) -> DomainResult<DataDefinition> {
        let mut issues = Vec::new();
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            issues.push(FieldIssue::at(["name"], "must be 1 to 200 characters"));
        }
        let handle = input
            .handle
            .clone()
            .or(input.key.as_deref().map(id::slugify))
            .unwrap_or_else(|| id::slugify(&name));
        if !id::is_valid_handle(&handle) {
            issues.push(FieldIssue::at(
                ["handle"],
                "must be 1 to 64 characters of a-z, 0-9 and inner dashes",
            ));
        }
        let (fields, at) = match (input.fields, input.attributes) {
            (Some(_), Some(_)) => {
                issues.push(FieldIssue::at(
                    ["fields"],
                    "send `fields` or `attributes`, not both",
                ));
                (BTreeMap::new(), "fields")
            }
            (Some(f), None) => (f, "fields"),
            (None, Some(a)) => (a, "attributes"),
            (None, None) => (BTreeMap::new(), "fields"),
        };
        if fields.len() > MAX_FIELDS {
            issues.push(FieldIssue::at([at], format!("at most {MAX_FIELDS} fields")));
        }
        let description = input.description;
        let indexes = input.indexes.unwrap_or_default();
        let def_id = new_definition_id();
        self.definitions.forget(self.db.path());
        let changed = self.db.path().to_string_lossy().into_owned();
        let result = self
            .db
            .write(move |tx| {
                let all = load_all(tx)?;
                let fields: BTreeMap<String, FieldSpec> = fields
                    .into_iter()
                    .filter_map(|(key, input)| {
                        let spec = check_field(&all, &key, input, at, &def_id, &mut issues)?;
                        Some((key, spec))
                    })
                    .collect();
                check_declared_indexes(&fields, &indexes, &mut issues);
                FieldIssue::none_of(issues)?;
                let def = DataDefinition {
                    id: def_id.clone(),
                    handle: handle.clone(),
                    name,
                    description,
                    table: table_of(&def_id),
                    fields,
                    indexes,
                    created_at: now,
                    updated_at: now,
                };
                insert_definition(tx, &def).map_err(|e| match e {
                    DomainError::Conflict { .. } => DomainError::from_issues(vec![FieldIssue::at(
                        ["handle"],
                        format!("`{handle}` is already used by another definition"),
                    )]),
                    other => other,
                })?;
                let (table, fields) = (&def.table, &def.fields);
                schema::apply(tx, &create_table(table, fields, &def.indexes))?;
                search::rebuild(tx, table, &search_columns(fields))?;
                record_event(
                    tx,
                    "dataDefinition.created",
                    &def_id,
                    None,
                    &json!({"handle": handle}),
                    now,
                )?;
                tx.announce(DEFINITIONS_CHANGED, &changed)?;
                load_definition(tx, &def_id)
            })
            .await;
        // After the commit too: a read that raced the change must not keep it.
        self.definitions.forget(self.db.path());
        result
    }

    /// Adds, changes, renames and removes fields, changing the table in the same
    /// transaction: planned from the patch alone, verified against the records there are
    /// (values that must convert, fields that become required), then applied.
    pub async fn update_definition(
        &self,
        key: &str,
        patch: UpdateDefinition,
        now: Timestamp,
    ) -> DomainResult<DataDefinition> {
        let key = key.to_string();
        self.definitions.forget(self.db.path());
        let changed = self.db.path().to_string_lossy().into_owned();
        let result = self
            .db
            .write(move |tx| {
                let all = load_all(tx)?;
                let def = find_definition(&all, &key)?.clone();
                let mut plan = plan::plan(&all, def, patch);
                let changes = plan::verify(tx, &mut plan)?;
                let (def, at) = (plan.def, plan.at);
                search::remove(tx, &def.table)?;
                schema::apply(tx, &changes).map_err(|e| match e {
                    DomainError::Conflict { column, .. } => {
                        // A declared unique index the records break, or a unique field.
                        let declared = def.indexes.iter().position(|spec| {
                            spec.unique && Some(index_columns(&def.fields, spec)) == column
                        });
                        DomainError::from_issues(vec![match declared {
                            Some(i) => FieldIssue::at(
                                [json!("indexes"), json!(i), json!("unique")],
                                "existing records share values of these fields",
                            ),
                            None => FieldIssue::at(
                                [at, conflicting_field(&column).unwrap_or_default(), "unique"],
                                "existing records share values of this field",
                            ),
                        }])
                    }
                    other => other,
                })?;
                search::rebuild(tx, &def.table, &search_columns(&def.fields))?;
                after_schema_change(tx, &def)?;
                tx.execute(
                    "UPDATE data_definitions SET name = ?, description = ?, fields = ?, indexes = ?, updated_at = ? WHERE id = ?",
                    &params![&def.name, def.description.clone(), json_text(&def.fields)?, json_text(&def.indexes)?, now, &def.id],
                )?;
                record_event(tx, "dataDefinition.updated", &def.id, None, &json!({}), now)?;
                tx.announce(DEFINITIONS_CHANGED, &changed)?;
                load_definition(tx, &def.id)
            })
            .await;
        // After the commit too: a read that raced the change must not keep it.
        self.definitions.forget(self.db.path());
        result
    }

    /// The slow query shapes of a definition this process has seen, and what became of
    /// each.
    pub async fn slow_queries(&self, key: &str) -> DomainResult<Vec<SlowShape>> {
        let def = self.get_definition(key).await?;
        let mut shapes = self.usage.of_definition(self.db.path(), &def.id);
        // Shapes that name a field hidden from the caller are not its to see.
        shapes.retain(|s| {
            s.keys
                .iter()
                .all(|k| crate::query::visible_field(&def, k, self.role).is_some())
        });
        Ok(shapes)
    }

    pub async fn settings(&self) -> DomainResult<DataSettings> {
        self.db.read(|r| load_settings(r)).await
    }

    /// Changes the settings given; the others stay.
    pub async fn update_settings(
        &self,
        patch: DataSettingsPatch,
        now: Timestamp,
    ) -> DomainResult<DataSettings> {
        self.db
            .write(move |tx| {
                if let Some(on) = patch.auto_indexes {
                    tx.execute(
                        "INSERT INTO data_settings (key, value) VALUES ('autoIndexes', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        &params![on.to_string()],
                    )?;
                }
                record_event(tx, "data.settingsUpdated", "data", None, &json!({}), now)?;
                load_settings(tx)
            })
            .await
    }

    pub async fn delete_definition(&self, key: &str, now: Timestamp) -> DomainResult<()> {
        let key = key.to_string();
        self.definitions.forget(self.db.path());
        let changed = self.db.path().to_string_lossy().into_owned();
        let result = self
            .db
            .write(move |tx| {
                let def = load_definition(tx, &key)?;
                let users: Vec<String> = load_all(tx)?
                    .into_iter()
                    .filter(|d| {
                        d.id != def.id
                            && d.fields
                                .values()
                                .any(|f| f.data_definition_id.as_ref() == Some(&def.id))
                    })
                    .map(|d| d.handle)
                    .collect();
                if !users.is_empty() {
                    return Err(DomainError::conflict(format!(
                        "relationship fields of {} point to this definition; remove them first",
                        users.join(", ")
                    )));
                }
                search::remove(tx, &def.table)?;
                schema::apply(
                    tx,
                    &[SchemaChange::DropTable {
                        table: def.table.clone(),
                    }],
                )?;
                tx.execute(
                    "DELETE FROM data_definitions WHERE id = ?",
                    &params![&def.id],
                )?;
                record_event(
                    tx,
                    "dataDefinition.deleted",
                    &def.id,
                    None,
                    &json!({"handle": def.handle}),
                    now,
                )?;
                tx.announce(DEFINITIONS_CHANGED, &changed)
            })
            .await;
        // After the commit too: a read that raced the change must not keep it.
        self.definitions.forget(self.db.path());
        result
    }
}

/// The workspace's data settings.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSettings {
    /// Whether the server builds the index a slow query shape needs (on by default).
    pub auto_indexes: bool,
}

/// `PATCH /api/v1/data-settings`.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSettingsPatch {
    #[serde(default)]
    pub auto_indexes: Option<bool>,
}

fn load_settings(r: &impl Sql) -> DomainResult<DataSettings> {
    let auto = r
        .query_one(
            "SELECT value FROM data_settings WHERE key = 'autoIndexes'",
            &[],
        )?
        .map(|row| row.text(0))
        .transpose()?;
    Ok(DataSettings {
        auto_indexes: auto.as_deref() != Some("false"),
    })
}

/// Builds an index the query log asked for (see `usage`), unless the workspace turned
/// automatic indexes off, the definition has it already, or it has no room or no longer
/// the fields; what became of it.
/// Announced (with the database's [`andibase_storage::Database::path`]) when a workspace's
/// definitions change, so that other replicas forget what they cached of them.
pub const DEFINITIONS_CHANGED: &str = "data-definitions";

pub(crate) fn build_auto_index(
    tx: &andibase_storage::Tx<'_>,
    def_id: &str,
    index: IndexSpec,
) -> DomainResult<ShapeStatus> {
    if !load_settings(tx)?.auto_indexes {
        return Ok(ShapeStatus::Off);
    }
    let mut def = load_definition(tx, def_id)?;
    if def.indexes.iter().any(|i| i.is_like(&index)) {
        return Ok(ShapeStatus::Served);
    }
    let mut issues = Vec::new();
    let mut indexes = def.indexes.clone();
    indexes.push(index.clone());
    check_declared_indexes(&def.fields, &indexes, &mut issues);
    if !issues.is_empty() {
        return Ok(ShapeStatus::Unindexable);
    }
    schema::apply(
        tx,
        &declared_indexes(&def.table, &def.fields, std::slice::from_ref(&index)),
    )?;
    def.indexes = indexes;
    after_index_added(tx, &def, &index)?;
    tx.execute(
        "UPDATE data_definitions SET indexes = ? WHERE id = ?",
        &params![json_text(&def.indexes)?, &def.id],
    )?;
    let reason = index.auto.as_ref().map(|a| a.reason.clone());
    record_event(
        tx,
        "dataDefinition.indexBuilt",
        &def.id,
        None,
        &json!({"fields": index.fields, "reason": reason}),
        index.auto.as_ref().map_or(Timestamp(0), |a| a.built_at),
    )?;
    Ok(ShapeStatus::Built)
}
