//! The data service over one workspace's database: definitions and their records. Every
//! operation is one transaction: a batch with one bad record writes nothing.

use std::collections::BTreeMap;

use andibase_common::{id, DomainError, DomainResult, FieldIssue, Timestamp};
use andibase_storage::schema::{self, SchemaChange};
use andibase_storage::{
    params, quote_ident, record_event, search, Database, Sql, Tx, Value as SqlValue,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::definition::*;
use crate::hooks::{hidden_from, Caller, HookContext, Pipeline, WriteKind};
use crate::query::*;
use crate::value::to_sql;

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpsertMany {
    /// 1–1000 records.
    pub records: Vec<RecordInput>,
    /// `id` (default) or the key of a unique field to match existing records on.
    #[serde(default)]
    pub match_on: Option<String>,
    /// `upsert` (default), `insert` (append many: fails on an existing match) or `update`
    /// (fails when a record does not exist).
    #[serde(default)]
    pub mode: UpsertMode,
}

/// What an upsert does with a record that does or does not exist yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpsertMode {
    /// Update what exists, create the rest.
    #[default]
    Upsert,
    /// Create only: an existing match is an issue.
    Insert,
    /// Update only: a missing record is an issue.
    Update,
}

impl std::str::FromStr for UpsertMode {
    type Err = String;

    fn from_str(s: &str) -> Result<UpsertMode, String> {
        serde_json::from_value(Value::String(s.into()))
            .map_err(|_| format!("`{s}` is not a mode: upsert, insert or update"))
    }
}

/// What happened to one record of an upsert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpsertAction {
    Created,
    Updated,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpsertResult {
    pub index: usize,
    pub id: String,
    pub action: UpsertAction,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpsertOutcome {
    pub results: Vec<UpsertResult>,
    pub created: usize,
    pub updated: usize,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchMany {
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    /// A filter (text or JSON) choosing the records, instead of `ids`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteMany {
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
    /// Remove for good (also already soft-deleted records) instead of setting `deletedAt`.
    #[serde(default)]
    pub purge: bool,
    /// Undo a soft delete instead.
    #[serde(default)]
    pub restore: bool,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelectAll {
    pub ids: Vec<String>,
    pub total: usize,
}

pub struct Data<'a> {
    pub db: &'a Database,
    pub workspace_handle: &'a str,
    /// The lifecycle hooks every write and read runs through.
    pub hooks: &'a Pipeline,
    /// The caller's role (`admin`, `editor`, `viewer`), for read hooks such as redaction.
    pub role: &'a str,
}

fn json_filter(v: &Option<Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// What a read gives: built as JSON (for the console, the CLI, hooks), or already
/// serialized (for HTTP).
enum Shown<T> {
    Built(T),
    Body(Vec<u8>),
}

fn valid_record_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks attributes for a create (`creating`) or an update, giving the fields to write
/// with their values, in the definition's order (every field, for a create).
fn check_attributes<'d>(
    tx: &Tx<'_>,
    all: &[DataDefinition],
    def: &'d DataDefinition,
    attrs: &Map<String, Value>,
    creating: bool,
    at: &[Value],
    issues: &mut Vec<FieldIssue>,
) -> DomainResult<Vec<(&'d str, SqlValue)>> {
    let path = |key: &str| {
        let mut p = at.to_vec();
        p.extend([json!("attributes"), json!(key)]);
        p
    };
    let mut out = Vec::new();
    for key in attrs.keys() {
        if !def.fields.contains_key(key) {
            issues.push(FieldIssue {
                path: path(key),
                message: format!("`{}` has no field `{key}`", def.handle),
            });
        }
    }
    for (key, spec) in &def.fields {
        let value = match (attrs.get(key), creating) {
            (Some(v), _) => v,
            (None, true) => spec.default.as_ref().unwrap_or(&Value::Null),
            (None, false) => continue,
        };
        if value.is_null() {
            if spec.required {
                issues.push(FieldIssue {
                    path: path(key),
                    message: "is required".into(),
                });
            }
            out.push((key.as_str(), SqlValue::Null));
            continue;
        }
        match to_sql(spec, value) {
            Err(m) => issues.push(FieldIssue {
                path: path(key),
                message: m,
            }),
            Ok(sql) => {
                if spec.field_type() == FieldType::Relationship {
                    let target = all
                        .iter()
                        .find(|d| Some(&d.id) == spec.data_definition_id.as_ref());
                    let ids: Vec<String> = match value {
                        Value::Array(items) => items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect(),
                        Value::String(s) => vec![s.clone()],
                        _ => vec![],
                    };
                    for rid in ids {
                        let exists = match target {
                            Some(t) => tx
                                .query_one(
                                    &format!(
                                        "SELECT 1 FROM {} WHERE id = ? AND deleted_at IS NULL",
                                        quote_ident(&t.table)
                                    ),
                                    &params![&rid],
                                )?
                                .is_some(),
                            None => false,
                        };
                        if !exists {
                            issues.push(FieldIssue {
                                path: path(key),
                                message: format!("no record `{rid}` to relate to"),
                            });
                        }
                    }
                }
                out.push((key.as_str(), sql));
            }
        }
    }
    Ok(out)
}

/// The unique field a conflict broke (none when it was the record's id).
fn conflicting_field(column: &Option<String>) -> Option<&str> {
    column.as_deref().and_then(field_of)
}

/// The issue for a write storage refused as a duplicate: the record's id, or the unique
/// field it names.
fn conflict_issue(e: DomainError, index: usize) -> DomainResult<FieldIssue> {
    let DomainError::Conflict { column, .. } = e else {
        return Err(e);
    };
    Ok(match conflicting_field(&column) {
        None => FieldIssue {
            path: vec![json!("records"), json!(index), json!("id")],
            message: "a record with this key already exists".into(),
        },
        Some(field) => FieldIssue {
            path: vec![
                json!("records"),
                json!(index),
                json!("attributes"),
                json!(field),
            ],
            message: "must be unique; another record has this value".into(),
        },
    })
}

/// New records waiting to be written, up to [`NEW_ROWS_PER_STATEMENT`] rows to an
/// `INSERT`: a statement per row spent about a tenth of a bulk insert's writer time (perf)
/// starting and ending statements: binding, opening and closing cursors on the table and
/// its indexes.
struct NewRecords {
    /// `INSERT INTO t (id, name, …, f_x, …) VALUES `
    head: String,
    /// `(?, ?, …)`, one mark per column.
    marks: String,
    width: usize,
    /// (index in the batch, the row's values in column order)
    rows: Vec<(usize, Vec<SqlValue>)>,
}

const NEW_ROWS_PER_STATEMENT: usize = 100;

impl NewRecords {
    fn new(table: &str, def: &DataDefinition) -> NewRecords {
        let columns: Vec<String> = [
            "id",
            "name",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
        ]
        .into_iter()
        .map(String::from)
        .chain(def.fields.keys().map(|k| quote_ident(&column_of(k))))
        .collect();
        NewRecords {
            head: format!("INSERT INTO {table} ({}) VALUES ", columns.join(", ")),
            marks: format!("({})", vec!["?"; columns.len()].join(", ")),
            width: columns.len(),
            rows: Vec::new(),
        }
    }

    /// `row` holds the bookkeeping columns, then every field in the definition's order
    /// (what [`check_attributes`] gives for a new record).
    fn add(&mut self, index: usize, row: Vec<SqlValue>) {
        debug_assert_eq!(row.len(), self.width);
        self.rows.push((index, row));
    }

    /// Writes the waiting rows. A duplicate makes SQLite undo its whole statement; the rows
    /// of that statement are then written one by one to name each record refused.
    fn write(&mut self, tx: &Tx<'_>, issues: &mut Vec<FieldIssue>) -> DomainResult<()> {
        // SQLite takes at most 32,766 parameters per statement.
        let per_statement = (32_000 / self.width).clamp(1, NEW_ROWS_PER_STATEMENT);
        let mut rows = std::mem::take(&mut self.rows).into_iter().peekable();
        while rows.peek().is_some() {
            let mut indexes = Vec::with_capacity(per_statement);
            let mut values = Vec::with_capacity(per_statement * self.width);
            for (index, row) in rows.by_ref().take(per_statement) {
                indexes.push(index);
                values.extend(row);
            }
            let sql = format!(
                "{}{}",
                self.head,
                vec![self.marks.as_str(); indexes.len()].join(", ")
            );
            match tx.execute(&sql, &values) {
                Ok(_) => {}
                Err(DomainError::Conflict { .. }) => {
                    let one = format!("{}{}", self.head, self.marks);
                    for (k, index) in indexes.into_iter().enumerate() {
                        let row = &values[k * self.width..(k + 1) * self.width];
                        if let Err(e) = tx.execute(&one, row) {
                            issues.push(conflict_issue(e, index)?);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// `UPDATE` of one record: bookkeeping columns, the name if given, the checked fields.
fn update_statement(
    table: &str,
    id: &str,
    now_iso: &str,
    actor: &str,
    name: Option<&String>,
    fields: &[(&str, SqlValue)],
) -> (String, Vec<SqlValue>) {
    let mut sets = vec![
        "updated_at = ?".to_string(),
        "updated_by = ?".to_string(),
        "version = version + 1".to_string(),
    ];
    let mut p: Vec<SqlValue> = params![now_iso, actor].to_vec();
    if let Some(n) = name {
        sets.push("name = ?".into());
        p.push(SqlValue::Text(n.clone()));
    }
    for (key, v) in fields {
        sets.push(format!("{} = ?", quote_ident(&column_of(key))));
        p.push(v.clone());
    }
    p.push(SqlValue::Text(id.to_string()));
    (
        format!("UPDATE {table} SET {} WHERE id = ?", sets.join(", ")),
        p,
    )
}

impl Data<'_> {
    /// One write transaction over the records of the definition `key`, with the hook
    /// context every record write needs.
    async fn write_records<T, F>(&self, key: &str, actor: &str, f: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: FnOnce(
                &Tx<'_>,
                &[DataDefinition],
                &DataDefinition,
                &HookContext<'_>,
                &Pipeline,
            ) -> DomainResult<T>
            + Send
            + 'static,
    {
        let (key, actor, hooks, role) = (
            key.to_string(),
            actor.to_string(),
            self.hooks.clone(),
            self.role.to_string(),
        );
        self.db
            .write(move |tx| {
                let all = load_all(tx)?;
                let def = find_definition(&all, &key)?.clone();
                let ctx = HookContext {
                    definition: &def,
                    caller: Caller {
                        actor: &actor,
                        role: &role,
                    },
                };
                f(tx, &all, &def, &ctx, &hooks)
            })
            .await
    }

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
            issues.push(issue(&["name"], "must be 1 to 200 characters"));
        }
        let handle = input
            .handle
            .clone()
            .or(input.key.as_deref().map(id::slugify))
            .unwrap_or_else(|| id::slugify(&name));
        if !id::is_valid_handle(&handle) {
            issues.push(issue(
                &["handle"],
                "must be 1 to 64 characters of a-z, 0-9 and inner dashes",
            ));
        }
        let (fields, at) = match (input.fields, input.attributes) {
            (Some(_), Some(_)) => {
                issues.push(issue(
                    &["fields"],
                    "send `fields` or `attributes`, not both",
                ));
                (BTreeMap::new(), "fields")
            }
            (Some(f), None) => (f, "fields"),
            (None, Some(a)) => (a, "attributes"),
            (None, None) => (BTreeMap::new(), "fields"),
        };
        if fields.len() > MAX_FIELDS {
            issues.push(issue(&[at], format!("at most {MAX_FIELDS} fields")));
        }
        let description = input.description;
        let def_id = new_definition_id();
        forget_cached(self.db.path());
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
                if !issues.is_empty() {
                    return Err(invalid(issues));
                }
                let table = insert_definition(
                    tx,
                    &handle,
                    &name,
                    description.as_deref(),
                    &fields,
                    now,
                    &def_id,
                )
                .map_err(|e| match e {
                    DomainError::Conflict { .. } => invalid(vec![issue(
                        &["handle"],
                        format!("`{handle}` is already used by another definition"),
                    )]),
                    other => other,
                })?;
                schema::apply(tx, &create_table(&table, &fields))?;
                search::rebuild(tx, &table, &search_columns(&fields))?;
                record_event(
                    tx,
                    "dataDefinition.created",
                    &def_id,
                    None,
                    &json!({"handle": handle}),
                    now,
                )?;
                load_definition(tx, &def_id)
            })
            .await;
        // After the commit too: a read that raced the change must not keep it.
        forget_cached(self.db.path());
        result
    }

    /// Adds, changes, renames and removes fields, changing the table in the same
    /// transaction. A field's type cannot change yet (remove and add it instead).
    pub async fn update_definition(
        &self,
        key: &str,
        patch: UpdateDefinition,
        now: Timestamp,
    ) -> DomainResult<DataDefinition> {
        let key = key.to_string();
        forget_cached(self.db.path());
        let result = self.db
            .write(move |tx| {
                let all = load_all(tx)?;
                let mut def = find_definition(&all, &key)?.clone();
                let mut issues = Vec::new();
                let t = quote_ident(&def.table);
                if let Some(n) = &patch.name {
                    if n.trim().is_empty() || n.chars().count() > 200 {
                        issues.push(issue(&["name"], "must be 1 to 200 characters"));
                    }
                    def.name = n.trim().to_string();
                }
                if let Some(d) = patch.description.clone() {
                    def.description = d;
                }
                let mut ddl: Vec<SchemaChange> = Vec::new();
                let before = def.fields.clone();
                // Where each field's column is on disk right now (renames run first).
                let mut on_disk: BTreeMap<String, String> = def.fields.keys().map(|k| (k.clone(), k.clone())).collect();
                for (old, new) in patch.rename_fields.clone().unwrap_or_default() {
                    match def.fields.remove(&old) {
                        None => issues.push(issue(&["renameFields", &old], "no such field")),
                        Some(_) if !valid_key(&new) || def.fields.contains_key(&new) => {
                            issues.push(issue(&["renameFields", &old], format!("`{new}` is not a free, valid field key")))
                        }
                        Some(spec) => {
                            ddl.extend(drop_indexes(&def.table, &old));
                            ddl.push(SchemaChange::RenameColumn { table: def.table.clone(), from: column_of(&old), to: column_of(&new) });
                            ddl.extend(field_changes(&def.table, &new, &spec, false));
                            if let Some(disk) = on_disk.remove(&old) {
                                on_disk.insert(new.clone(), disk);
                            }
                            def.fields.insert(new, spec);
                        }
                    }
                }
                let (changes, at) = match (patch.fields.clone(), patch.attributes.clone()) {
                    (Some(f), _) => (f, "fields"),
                    (None, Some(a)) => (a, "attributes"),
                    (None, None) => (BTreeMap::new(), "fields"),
                };
                for (fkey, change) in changes {
                    match (change, def.fields.get(&fkey).cloned()) {
                        (None, None) => issues.push(issue(&[at, &fkey], "no such field to remove")),
                        (None, Some(_)) => {
                            ddl.extend(drop_indexes(&def.table, &fkey));
                            ddl.push(SchemaChange::DropColumn { table: def.table.clone(), column: column_of(&fkey) });
                            def.fields.remove(&fkey);
                        }
                        (Some(input), existing) => {
                            let Some(spec) = check_field(&all, &fkey, input, at, &def.id, &mut issues) else {
                                continue;
                            };
                            match existing {
                                None => {
                                    if spec.required && spec.default.is_none() {
                                        let count = tx.query_one(&format!("SELECT count(*) FROM {t}"), &[])?.map_or(Ok(0), |r| r.int(0))?;
                                        if count > 0 {
                                            issues.push(issue(&[at, &fkey, "required"], "a new required field needs a default while records exist"));
                                        }
                                    }
                                    ddl.extend(field_changes(&def.table, &fkey, &spec, true));
                                    if let Some(d) = &spec.default {
                                        if let Ok(v) = to_sql(&spec, d) {
                                            // Existing records take the default.
                                            ddl.push(SchemaChange::Fill { table: def.table.clone(), column: column_of(&fkey), value: v, id: None });
                                        }
                                    }
                                }
                                Some(old) if old.field_type() != spec.field_type() || old.many != spec.many => {
                                    // Convert every stored value first; refuse with examples if any cannot be.
                                    let disk = column_of(on_disk.get(&fkey).unwrap_or(&fkey));
                                    let rows = tx.query(&format!("SELECT id, {} FROM {t} WHERE {} IS NOT NULL", quote_ident(&disk), quote_ident(&disk)), &[])?;
                                    let mut converted = Vec::new();
                                    let mut failures = Vec::new();
                                    for row in &rows {
                                        let shown = crate::value::to_json(&old, row.value(1));
                                        match crate::value::convert(&shown, &spec) {
                                            Ok(v) => converted.push((row.text(0)?, v)),
                                            Err(_) => failures.push(format!("{} ({shown})", row.text(0)?)),
                                        }
                                    }
                                    if spec.field_type() == FieldType::Relationship && !rows.is_empty() {
                                        issues.push(issue(&[at, &fkey, "type"], "existing values cannot be turned into relationships; add a new relationship field instead"));
                                    } else if !failures.is_empty() {
                                        let examples: Vec<&String> = failures.iter().take(3).collect();
                                        issues.push(issue(
                                            &[at, &fkey, "type"],
                                            format!("{} existing records cannot become {}: e.g. {}", failures.len(), spec.field_type().name(), examples.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
                                        ));
                                    } else {
                                        let temp = format!("{}__new", column_of(&fkey));
                                        ddl.extend(drop_indexes(&def.table, &fkey));
                                        ddl.push(SchemaChange::AddColumn { table: def.table.clone(), column: temp.clone(), kind: column_type(&spec) });
                                        for (id, v) in converted {
                                            ddl.push(SchemaChange::Fill { table: def.table.clone(), column: temp.clone(), value: v, id: Some(id) });
                                        }
                                        ddl.push(SchemaChange::DropColumn { table: def.table.clone(), column: column_of(&fkey) });
                                        ddl.push(SchemaChange::RenameColumn { table: def.table.clone(), from: temp, to: column_of(&fkey) });
                                        ddl.extend(field_changes(&def.table, &fkey, &spec, false));
                                        if spec.required && rows.len() < tx.query_one(&format!("SELECT count(*) FROM {t}"), &[])?.map_or(Ok(0), |r| r.int(0))? as usize {
                                            issues.push(issue(&[at, &fkey, "required"], "some existing records have no value"));
                                        }
                                    }
                                }
                                Some(_) => {
                                    ddl.extend(drop_indexes(&def.table, &fkey));
                                    ddl.extend(field_changes(&def.table, &fkey, &spec, false));
                                    if spec.required {
                                        let nulls = tx
                                            .query_one(&format!("SELECT count(*) FROM {t} WHERE {} IS NULL", quote_ident(&column_of(&fkey))), &[])?
                                            .map_or(Ok(0), |r| r.int(0))?;
                                        if nulls > 0 {
                                            issues.push(issue(&[at, &fkey, "required"], format!("{nulls} existing records have no value")));
                                        }
                                    }
                                }
                            }
                            def.fields.insert(fkey, spec);
                        }
                    }
                }
                if def.fields.len() > MAX_FIELDS {
                    issues.push(issue(&[at], format!("at most {MAX_FIELDS} fields")));
                }
                if !issues.is_empty() {
                    return Err(invalid(issues));
                }
                if !ddl.is_empty() {
                    // Sort indexes carry other fields' columns: drop them before any
                    // column changes and build them again for the new fields.
                    let drops = drop_sort_indexes(&def.table, &before);
                    ddl.splice(0..0, drops);
                    ddl.extend(sort_indexes(&def.table, &def.fields));
                }
                search::remove(tx, &def.table)?;
                schema::apply(tx, &ddl).map_err(|e| match e {
                    DomainError::Conflict { column, .. } => invalid(vec![issue(
                        &[at, conflicting_field(&column).unwrap_or_default(), "unique"],
                        "existing records share values of this field",
                    )]),
                    other => other,
                })?;
                search::rebuild(tx, &def.table, &search_columns(&def.fields))?;
                tx.execute(
                    "UPDATE data_definitions SET name = ?, description = ?, fields = ?, updated_at = ? WHERE id = ?",
                    &params![&def.name, def.description.clone(), serde_json::to_string(&def.fields).map_err(|e| DomainError::Internal(e.to_string()))?, now, &def.id],
                )?;
                record_event(tx, "dataDefinition.updated", &def.id, None, &json!({}), now)?;
                load_definition(tx, &def.id)
            })
            .await;
        // After the commit too: a read that raced the change must not keep it.
        forget_cached(self.db.path());
        result
    }

    pub async fn delete_definition(&self, key: &str, now: Timestamp) -> DomainResult<()> {
        let key = key.to_string();
        forget_cached(self.db.path());
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
                )
            })
            .await;
        // After the commit too: a read that raced the change must not keep it.
        forget_cached(self.db.path());
        result
    }

    pub async fn upsert_many(
        &self,
        key: &str,
        input: UpsertMany,
        actor: &str,
        now: Timestamp,
    ) -> DomainResult<UpsertOutcome> {
        if input.records.is_empty() || input.records.len() > 1000 {
            return Err(invalid(vec![issue(
                &["records"],
                "must hold 1 to 1000 records",
            )]));
        }
        let mode = input.mode;
        let actor = actor.to_string();
        self.write_records(key, &actor.clone(), move |tx, all, def, ctx, hooks| {
            let t = quote_ident(&def.table);
            let match_on = input.match_on.clone().unwrap_or_else(|| "id".into());
            if match_on != "id" && !def.fields.get(&match_on).is_some_and(|f| f.unique) {
                return Err(invalid(vec![issue(
                    &["matchOn"],
                    "must be id or the key of a unique field",
                )]));
            }
            let mut issues = Vec::new();
            let mut results = Vec::new();
            let now_iso = now.to_iso();
            // Which of the given ids exist, in one query per 500 rather than one per record
            // (ids created earlier in this batch are added as they are written).
            let mut known_ids = std::collections::HashSet::new();
            if match_on == "id" && mode != UpsertMode::Insert {
                let given: Vec<&String> = input
                    .records
                    .iter()
                    .filter_map(|r| r.id.as_ref())
                    .filter(|id| valid_record_id(id))
                    .collect();
                for chunk in given.chunks(500) {
                    let marks = vec!["?"; chunk.len()].join(", ");
                    let params: Vec<SqlValue> = chunk
                        .iter()
                        .map(|id| SqlValue::Text((*id).clone()))
                        .collect();
                    for row in tx.query(
                        &format!("SELECT id FROM {t} WHERE id IN ({marks})"),
                        &params,
                    )? {
                        known_ids.insert(row.text(0)?);
                    }
                }
            }
            // New records are written many to a statement. Whatever must see them first (an
            // update, which may be of one of them; a lookup by unique field; a relationship
            // within this definition) writes the waiting ones before it runs.
            let self_related = def.fields.values().any(|f| {
                f.field_type() == FieldType::Relationship
                    && f.data_definition_id.as_ref() == Some(&def.id)
            });
            let defer = match_on == "id" && !self_related;
            let mut new_records = NewRecords::new(&t, def);
            let first_new = search::mark(tx, &def.table)?;
            let (mut created_ids, mut updated_ids) = (Vec::new(), Vec::new());
            for (i, mut rec) in input.records.into_iter().enumerate() {
                let issues_before = issues.len();
                let at = vec![json!("records"), json!(i)];
                let mut attrs = rec.attributes.take().unwrap_or_default();
                if let Some(id) = &rec.id {
                    if !valid_record_id(id) {
                        issues.push(FieldIssue {
                            path: vec![json!("records"), json!(i), json!("id")],
                            message: "must be 1 to 100 of A-Z a-z 0-9 - _".into(),
                        });
                        continue;
                    }
                }
                // Find the existing record to update, if any.
                let existing: Option<String> = if match_on == "id" {
                    match &rec.id {
                        // Appending: the primary key refuses duplicates, no lookup needed.
                        Some(_) if mode == UpsertMode::Insert => None,
                        Some(id) => known_ids.contains(id).then(|| id.clone()),
                        None => None,
                    }
                } else {
                    match attrs.get(&match_on).filter(|v| !v.is_null()) {
                        Some(v) => {
                            let sql = to_sql(&def.fields[&match_on], v).unwrap_or(SqlValue::Null);
                            tx.query_one(
                                &format!(
                                    "SELECT id FROM {t} WHERE {} = ?",
                                    quote_ident(&column_of(&match_on))
                                ),
                                &[sql],
                            )?
                            .map(|r| r.text(0))
                            .transpose()?
                        }
                        None => {
                            issues.push(FieldIssue {
                                path: vec![
                                    json!("records"),
                                    json!(i),
                                    json!("attributes"),
                                    json!(match_on),
                                ],
                                message: "is needed to match on".into(),
                            });
                            continue;
                        }
                    }
                };
                match (&existing, mode) {
                    (Some(_), UpsertMode::Insert) => {
                        issues.push(FieldIssue {
                            path: vec![
                                json!("records"),
                                json!(i),
                                json!(if match_on == "id" { "id" } else { "attributes" }),
                            ],
                            message: "a record with this key already exists".into(),
                        });
                        continue;
                    }
                    (None, UpsertMode::Update) => {
                        issues.push(FieldIssue {
                            path: vec![json!("records"), json!(i), json!("id")],
                            message: "no such record to update".into(),
                        });
                        continue;
                    }
                    _ => {}
                }
                let kind = if existing.is_none() {
                    WriteKind::Create
                } else {
                    WriteKind::Update
                };
                hooks.before_write(ctx, kind, &mut attrs, &mut issues, &at);
                let columns =
                    check_attributes(tx, all, def, &attrs, existing.is_none(), &at, &mut issues)?;
                let name = rec.name.map(|n| n.chars().take(500).collect::<String>());
                if issues.len() > issues_before {
                    continue;
                }
                // After an issue the rest is still written, to report every duplicate; the
                // error rolls all of it back.
                match existing {
                    Some(id) => {
                        new_records.write(tx, &mut issues)?;
                        let (sql, p) =
                            update_statement(&t, &id, &now_iso, &actor, name.as_ref(), &columns);
                        if let Err(e) = tx.execute(&sql, &p) {
                            issues.push(conflict_issue(e, i)?);
                            continue;
                        }
                        updated_ids.push(id.clone());
                        results.push(UpsertResult {
                            index: i,
                            id,
                            action: UpsertAction::Updated,
                        });
                    }
                    None => {
                        let id = rec.id.take().unwrap_or_else(id::uuid7);
                        let mut row =
                            params![&id, name, &now_iso, &now_iso, &actor, &actor].to_vec();
                        row.extend(columns.into_iter().map(|(_, v)| v));
                        new_records.add(i, row);
                        if !defer {
                            new_records.write(tx, &mut issues)?;
                        }
                        if match_on == "id" {
                            known_ids.insert(id.clone());
                        }
                        created_ids.push(id.clone());
                        results.push(UpsertResult {
                            index: i,
                            id,
                            action: UpsertAction::Created,
                        });
                    }
                }
            }
            new_records.write(tx, &mut issues)?;
            if !issues.is_empty() {
                return Err(invalid(issues));
            }
            hooks.after_write(tx, ctx, WriteKind::Create, &created_ids, now)?;
            hooks.after_write(tx, ctx, WriteKind::Update, &updated_ids, now)?;
            if !created_ids.is_empty() {
                search::index_since(tx, &def.table, &search_columns(&def.fields), first_new)?;
            }
            index_records(tx, def, &updated_ids)?;
            Ok(UpsertOutcome {
                updated: updated_ids.len(),
                created: created_ids.len(),
                results,
            })
        })
        .await
    }

    pub async fn get_record(
        &self,
        key: &str,
        record_id: &str,
        include_deleted: bool,
        expand: Option<String>,
    ) -> DomainResult<Value> {
        match self
            .record(key, record_id, include_deleted, expand, false)
            .await?
        {
            Shown::Built(record) => Ok(record),
            Shown::Body(body) => {
                serde_json::from_slice(&body).map_err(|e| DomainError::Internal(e.to_string()))
            }
        }
    }

    /// [`Data::get_record`] already serialized, for HTTP: written straight from the row
    /// when nothing would change it (no `expand`, no hook that alters reads).
    pub async fn get_record_body(
        &self,
        key: &str,
        record_id: &str,
        include_deleted: bool,
        expand: Option<String>,
    ) -> DomainResult<Vec<u8>> {
        match self
            .record(key, record_id, include_deleted, expand, true)
            .await?
        {
            Shown::Body(body) => Ok(body),
            Shown::Built(record) => {
                serde_json::to_vec(&record).map_err(|e| DomainError::Internal(e.to_string()))
            }
        }
    }

    async fn record(
        &self,
        key: &str,
        record_id: &str,
        include_deleted: bool,
        expand: Option<String>,
        direct: bool,
    ) -> DomainResult<Shown<Value>> {
        let (key, rid) = (key.to_string(), record_id.to_string());
        let (hooks, role) = (self.hooks.clone(), self.role.to_string());
        let path = self.db.path().to_path_buf();
        self.db
            .read(move |r| {
                let all = cached_all(r, &path)?;
                let def = find_definition(&all, &key)?;
                let expand = expansion(def, expand.as_deref())?;
                let sql = format!(
                    "SELECT {} FROM {} t WHERE t.id = ? AND (? = 1 OR t.deleted_at IS NULL)",
                    record_columns(def),
                    quote_ident(&def.table)
                );
                let params = params![&rid, include_deleted];
                if direct && expand.is_empty() && !hooks.alters_reads() {
                    let mut body = None;
                    r.query_each(&sql, &params, &mut |row| {
                        let mut out = Vec::with_capacity(512);
                        write_record(&mut out, def, row, 0, None, |spec| hidden_from(spec, &role));
                        body = Some(out);
                        Ok(false)
                    })?;
                    return body.map(Shown::Body).ok_or(DomainError::NotFound);
                }
                let row = r.query_one(&sql, &params)?.ok_or(DomainError::NotFound)?;
                let mut items = [record_json(def, &row, 0, None)];
                expand_related(r, &all, def, &expand, &mut items, &hooks, &role)?;
                hooks.after_read(
                    &HookContext {
                        definition: def,
                        caller: Caller {
                            actor: "",
                            role: &role,
                        },
                    },
                    &mut items[0],
                );
                let [item] = items;
                Ok(Shown::Built(item))
            })
            .await
    }

    pub async fn query(&self, key: &str, q: QueryParams) -> DomainResult<Page> {
        match self.list(key, q, false).await? {
            Shown::Built(page) => Ok(page),
            Shown::Body(_) => Err(DomainError::Internal("a list came back serialized".into())),
        }
    }

    /// The page serialized as the HTTP API shows it. Without expansion or hooks that
    /// change records, each record is written straight from its row as JSON bytes rather
    /// than built as a JSON tree first (perf: tree building, its allocations and key
    /// comparisons were about a third of a 50-record list's CPU).
    pub async fn query_body(&self, key: &str, q: QueryParams) -> DomainResult<Vec<u8>> {
        match self.list(key, q, true).await? {
            Shown::Body(body) => Ok(body),
            Shown::Built(page) => {
                serde_json::to_vec(&page).map_err(|e| DomainError::Internal(e.to_string()))
            }
        }
    }

    async fn list(&self, key: &str, q: QueryParams, direct: bool) -> DomainResult<Shown<Page>> {
        let key = key.to_string();
        let (hooks, role) = (self.hooks.clone(), self.role.to_string());
        let path = self.db.path().to_path_buf();
        self.db
            .read(move |r| {
                let all = cached_all(r, &path)?;
                let def = find_definition(&all, &key)?;
                let limit = q.limit.unwrap_or(50);
                if !(1..=1000).contains(&limit) {
                    return Err(invalid(vec![issue(&["limit"], "must be 1 to 1000")]));
                }
                let only = projection(def, q.fields.as_deref())?;
                let (mut filter, mut params) = filter_sql(&all, def, q.filter.as_deref())?;
                if let Some((words, p)) = q.search.as_deref().and_then(|text| search::matching(&def.table, "t", text)) {
                    filter = format!("{filter} AND {words}");
                    params.push(p);
                }
                let expand = expansion(def, q.expand.as_deref())?;
                let deleted = if q.include_deleted.unwrap_or(false) { "TRUE" } else { "t.deleted_at IS NULL" };
                let total = if q.count.unwrap_or(false) {
                    let sql = format!("SELECT count(*) FROM {} t WHERE {deleted} AND {filter}", quote_ident(&def.table));
                    Some(r.query_one(&sql, &params)?.map_or(Ok(0), |row| row.int(0))?)
                } else {
                    None
                };
                let keys = sort_keys(def, q.sort.as_deref())?;
                let (after, after_params) = match &q.cursor {
                    Some(c) => keyset(&keys, c)?,
                    None => ("TRUE".into(), vec![]),
                };
                params.extend(after_params);
                let key_cols: String = keys.iter().map(|k| format!("t.{}, ", quote_ident(k.column()))).collect();
                // The limit is written into the SQL, not bound: SQLite re-prepares a
                // statement with a bound LIMIT at every run (9% of this request's CPU).
                let sql = format!(
                    "SELECT {key_cols}{} FROM {} t WHERE {deleted} AND {filter} AND {after} ORDER BY {} LIMIT {}",
                    record_columns(def),
                    quote_ident(&def.table),
                    order_by(&keys),
                    limit + 1
                );
                if direct && expand.is_empty() && !hooks.alters_reads() {
                    // Each record is written straight from SQLite's row, nothing copied first.
                    let mut out = Vec::with_capacity(64 + limit as usize * 256);
                    out.extend_from_slice(b"{\"items\":[");
                    let (mut written, mut last_cursor, mut next_cursor) = (0, None, None);
                    r.query_each(&sql, &params, &mut |row| {
                        if written == limit {
                            // The row past the page: there is more, after the last one shown.
                            next_cursor = last_cursor.take();
                            return Ok(false);
                        }
                        if written > 0 {
                            out.push(b',');
                        }
                        write_record(&mut out, def, row, keys.len(), only.as_deref(), |spec| hidden_from(spec, &role));
                        written += 1;
                        if written == limit {
                            last_cursor = Some(cursor_after(row, &keys));
                        }
                        Ok(true)
                    })?;
                    out.extend_from_slice(b"],\"nextCursor\":");
                    serde_json::to_writer(&mut out, &next_cursor).map_err(|e| DomainError::Internal(e.to_string()))?;
                    if let Some(total) = total {
                        out.extend_from_slice(format!(",\"total\":{total}").as_bytes());
                    }
                    out.push(b'}');
                    return Ok(Shown::Body(out));
                }
                let rows = r.query(&sql, &params)?;
                let more = rows.len() as i64 > limit;
                let rows = &rows[..rows.len().min(limit as usize)];
                let next_cursor = if more { rows.last().map(|row| cursor_after(row, &keys)) } else { None };
                let mut items: Vec<Value> = rows.iter().map(|row| record_json(def, row, keys.len(), only.as_deref())).collect();
                expand_related(r, &all, def, &expand, &mut items, &hooks, &role)?;
                let ctx = HookContext { definition: def, caller: Caller { actor: "", role: &role } };
                for item in items.iter_mut() {
                    hooks.after_read(&ctx, item);
                }
                Ok(Shown::Built(Page { items, next_cursor, total }))
            })
            .await
    }

    pub async fn select_all(
        &self,
        key: &str,
        filter: Option<String>,
        include_deleted: bool,
    ) -> DomainResult<SelectAll> {
        let key = key.to_string();
        let path = self.db.path().to_path_buf();
        self.db
            .read(move |r| {
                let all = cached_all(r, &path)?;
                let def = find_definition(&all, &key)?;
                let (f, params) = filter_sql(&all, def, filter.as_deref())?;
                let deleted = if include_deleted { "TRUE" } else { "t.deleted_at IS NULL" };
                let ids: Vec<String> = r
                    .query(&format!("SELECT t.id FROM {} t WHERE {deleted} AND {f} ORDER BY t.id LIMIT 100000", quote_ident(&def.table)), &params)?
                    .iter()
                    .map(|row| row.text(0))
                    .collect::<DomainResult<_>>()?;
                Ok(SelectAll { total: ids.len(), ids })
            })
            .await
    }

    /// Ids matching `ids` and/or `filter` (one of them is required), among live records,
    /// or among soft-deleted ones when `deleted`.
    fn matching(
        tx: &Tx<'_>,
        all: &[DataDefinition],
        def: &DataDefinition,
        ids: &Option<Vec<String>>,
        filter: &Option<Value>,
        deleted: Option<bool>,
    ) -> DomainResult<Vec<String>> {
        let filter = json_filter(filter);
        if ids.is_none() && filter.is_none() {
            return Err(invalid(vec![issue(
                &["ids"],
                "send ids or a filter (to touch every record, use a filter that matches them all)",
            )]));
        }
        let (f, mut params) = filter_sql(all, def, filter.as_deref())?;
        let id_cond = match ids {
            Some(list) if list.len() > 10_000 => {
                return Err(invalid(vec![issue(&["ids"], "at most 10000 ids")]))
            }
            Some(list) if list.is_empty() => "FALSE".to_string(),
            Some(list) => {
                params.extend(list.iter().map(|i| SqlValue::Text(i.clone())));
                format!("t.id IN ({})", vec!["?"; list.len()].join(", "))
            }
            None => "TRUE".to_string(),
        };
        let del = match deleted {
            Some(true) => "t.deleted_at IS NOT NULL",
            Some(false) => "t.deleted_at IS NULL",
            None => "TRUE",
        };
        tx.query(
            &format!(
                "SELECT t.id FROM {} t WHERE {del} AND {f} AND {id_cond}",
                quote_ident(&def.table)
            ),
            &params,
        )?
        .iter()
        .map(|r| r.text(0))
        .collect()
    }

    pub async fn patch_many(
        &self,
        key: &str,
        input: PatchMany,
        actor: &str,
        now: Timestamp,
    ) -> DomainResult<Value> {
        let actor = actor.to_string();
        self.write_records(key, &actor.clone(), move |tx, all, def, ctx, hooks| {
            let mut issues = Vec::new();
            let mut attrs = input.attributes.clone().unwrap_or_default();
            hooks.before_write(ctx, WriteKind::Update, &mut attrs, &mut issues, &[]);
            let columns = check_attributes(tx, all, def, &attrs, false, &[], &mut issues)?;
            if !issues.is_empty() {
                return Err(invalid(issues));
            }
            let ids = Self::matching(tx, all, def, &input.ids, &input.filter, Some(false))?;
            let t = quote_ident(&def.table);
            let now_iso = now.to_iso();
            for id in &ids {
                let (sql, p) =
                    update_statement(&t, id, &now_iso, &actor, input.name.as_ref(), &columns);
                tx.execute(&sql, &p).map_err(|e| match e {
                    DomainError::Conflict { column, .. } => invalid(vec![issue(
                        &["attributes", conflicting_field(&column).unwrap_or_default()],
                        "must be unique; another record has this value",
                    )]),
                    other => other,
                })?;
            }
            hooks.after_write(tx, ctx, WriteKind::Update, &ids, now)?;
            index_records(tx, def, &ids)?;
            Ok(json!({"updated": ids.len(), "ids": ids}))
        })
        .await
    }

    /// Soft delete (default), restore, or purge.
    pub async fn delete_many(
        &self,
        key: &str,
        input: DeleteMany,
        actor: &str,
        now: Timestamp,
    ) -> DomainResult<Value> {
        if input.purge && input.restore {
            return Err(invalid(vec![issue(
                &["purge"],
                "choose purge or restore, not both",
            )]));
        }
        let actor = actor.to_string();
        self.write_records(key, &actor.clone(), move |tx, all, def, ctx, hooks| {
                let t = quote_ident(&def.table);
                let scope = if input.purge { None } else { Some(input.restore) };
                let ids = Self::matching(tx, all, def, &input.ids, &input.filter, scope)?;
                let kind = if input.purge { WriteKind::Purge } else if input.restore { WriteKind::Restore } else { WriteKind::Delete };
                hooks.before_delete(ctx, kind, &ids)?;
                if kind == WriteKind::Purge {
                    search::unindex(tx, &def.table, &ids)?;
                }
                let now_iso = now.to_iso();
                let (stmt, word) = match kind {
                    WriteKind::Purge => (format!("DELETE FROM {t} WHERE id = ?"), "purged"),
                    WriteKind::Restore => (format!("UPDATE {t} SET deleted_at = NULL, updated_at = ?, version = version + 1 WHERE id = ?"), "restored"),
                    _ => (format!("UPDATE {t} SET deleted_at = ?, updated_at = ?, version = version + 1 WHERE id = ?"), "deleted"),
                };
                for id in &ids {
                    let p = match kind {
                        WriteKind::Purge => params![id].to_vec(),
                        WriteKind::Restore => params![&now_iso, id].to_vec(),
                        _ => params![&now_iso, &now_iso, id].to_vec(),
                    };
                    tx.execute(&stmt, &p)?;
                }
                hooks.after_write(tx, ctx, kind, &ids, now)?;
                Ok(json!({word: ids.len(), "ids": ids}))
            })
            .await
    }
}

/// `POST /api/v1/data/sql/query`
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlQuery {
    /// One read-only statement; definitions are tables named by handle
    /// (`SELECT status, count(*) FROM orders GROUP BY 1`).
    pub sql: String,
    /// Values for `?` placeholders.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub params: Option<Vec<Value>>,
    /// Row cap, 1–10000 (default 1000).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SqlColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SqlResult {
    pub columns: Vec<SqlColumn>,
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<Value>>,
    pub truncated: bool,
    pub elapsed_ms: f64,
}

impl Data<'_> {
    /// Read-only SQL over this workspace's definitions, each a view named by its handle
    /// (live records only; columns `id`, `name`, `createdAt`, `updatedAt`, `createdBy`,
    /// `updatedBy`, `version` and the field keys).
    pub async fn sql_query(
        &self,
        input: SqlQuery,
        timeout: std::time::Duration,
    ) -> DomainResult<SqlResult> {
        if input.sql.trim().is_empty() || input.sql.len() > 100_000 {
            return Err(invalid(vec![issue(&["sql"], "must be 1 to 100000 bytes")]));
        }
        let limit = input.limit.unwrap_or(1000);
        if !(1..=10_000).contains(&limit) {
            return Err(invalid(vec![issue(&["limit"], "must be 1 to 10000")]));
        }
        let mut params = Vec::new();
        for (i, p) in input.params.clone().unwrap_or_default().iter().enumerate() {
            params.push(match p {
                Value::Null => SqlValue::Null,
                Value::Bool(b) => SqlValue::Integer(*b as i64),
                Value::Number(n) if n.is_i64() => SqlValue::Integer(n.as_i64().unwrap_or_default()),
                Value::Number(n) => SqlValue::Real(n.as_f64().unwrap_or_default()),
                Value::String(s) => SqlValue::Text(s.clone()),
                _ => {
                    return Err(invalid(vec![FieldIssue {
                        path: vec![json!("params"), json!(i)],
                        message: "must be a string, number, boolean or null".into(),
                    }]))
                }
            });
        }
        let defs = self.list_definitions().await?;
        let views = defs
            .iter()
            .map(|d| {
                // Fields hidden from the caller's role are not in the view at all.
                let fields: String = d
                    .fields
                    .iter()
                    .filter(|(_, f)| !f.hidden_from.iter().any(|r| r == self.role))
                    .map(|(k, _)| format!(", {} AS {}", quote_ident(&column_of(k)), quote_ident(k)))
                    .collect();
                (
                    d.handle.clone(),
                    format!(
                        "SELECT id, name, created_at AS \"createdAt\", updated_at AS \"updatedAt\", created_by AS \"createdBy\", \
                         updated_by AS \"updatedBy\", version{fields} FROM main.{} WHERE deleted_at IS NULL",
                        quote_ident(&d.table)
                    ),
                )
            })
            .collect();
        let started = std::time::Instant::now();
        let out = self
            .db
            .sandboxed_query(andibase_storage::SandboxedQuery {
                views,
                readable_tables: defs.iter().map(|d| d.table.clone()).collect(),
                sql: input.sql,
                params,
                max_rows: limit,
                timeout,
            })
            .await?;
        let rows = out
            .rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| match v {
                        SqlValue::Null | SqlValue::Blob(_) => Value::Null,
                        SqlValue::Integer(i) => json!(i),
                        SqlValue::Real(f) => json!(f),
                        SqlValue::Text(s) => json!(s),
                    })
                    .collect()
            })
            .collect();
        Ok(SqlResult {
            columns: out
                .columns
                .into_iter()
                .map(|(name, kind)| SqlColumn { name, kind })
                .collect(),
            rows,
            truncated: out.truncated,
            elapsed_ms: (started.elapsed().as_secs_f64() * 1e5).round() / 100.0,
        })
    }
}
