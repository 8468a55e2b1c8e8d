//! Data definitions: their fields, checks, and the table each one owns.

use std::collections::BTreeMap;

use andibase_common::{id, DomainError, DomainResult, FieldIssue, Timestamp};
use andibase_storage::{params, quote_ident, Row, Sql, Tx};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
    Boolean,
    Date,
    DateTime,
    Select,
    MultiSelect,
    Relationship,
    Json,
    Email,
    Url,
    File,
}

impl FieldType {
    pub fn parse(s: &str) -> Option<FieldType> {
        Some(match s {
            "text" | "string" => FieldType::Text,
            "number" => FieldType::Number,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            "select" => FieldType::Select,
            "multiSelect" => FieldType::MultiSelect,
            "relationship" => FieldType::Relationship,
            "json" => FieldType::Json,
            "email" => FieldType::Email,
            "url" => FieldType::Url,
            "file" => FieldType::File,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Select => "select",
            FieldType::MultiSelect => "multiSelect",
            FieldType::Relationship => "relationship",
            FieldType::Json => "json",
            FieldType::Email => "email",
            FieldType::Url => "url",
            FieldType::File => "file",
        }
    }

    pub(crate) fn column_type(self) -> &'static str {
        match self {
            FieldType::Number => "REAL",
            FieldType::Boolean => "INTEGER",
            _ => "TEXT",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectOption {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// One field of a definition, as sent and as shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSpec {
    /// Display name; defaults to the key.
    #[serde(default)]
    pub name: Option<String>,
    /// `text` (alias `string`), `number`, `boolean`, `date`, `datetime`, `select`,
    /// `multiSelect`, `relationship`, `json`, `email`, `url`, `file`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub indexed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub default: Option<Value>,
    /// For `select` and `multiSelect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<SelectOption>>,
    /// For `relationship`: the target definition (id or handle on input, id when shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_definition_id: Option<String>,
    /// For `relationship`: many targets (an array of ids) instead of one.
    #[serde(default)]
    pub many: bool,
    /// Roles (`admin`, `editor`, `viewer`) that do not see this field when reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_from: Vec<String>,
    /// Text-like fields are in the full-text index unless this is `false` (which makes
    /// bulk writes of the field cheaper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searchable: Option<bool>,
}

impl FieldSpec {
    pub fn field_type(&self) -> FieldType {
        FieldType::parse(&self.kind).unwrap_or(FieldType::Json)
    }

    /// Stored as a JSON array (multi-select, many-relationship).
    pub fn is_multi(&self) -> bool {
        match self.field_type() {
            FieldType::MultiSelect => true,
            FieldType::Relationship => self.many,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataDefinition {
    pub id: String,
    pub handle: String,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, FieldSpec>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip)]
    pub table: String,
}

/// `POST /api/v1/data-definitions`: fields under `fields` (recipes) or `attributes` (seed 002).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDefinition {
    pub name: String,
    #[serde(default)]
    pub handle: Option<String>,
    /// Seed 002 calls it `key`; used as the handle when `handle` is absent.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<BTreeMap<String, FieldSpec>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<BTreeMap<String, FieldSpec>>,
}

/// `PATCH`: new or changed fields by key, `null` removes one; `renameFields` renames.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateDefinition {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "andibase_common::serde_util::double_option"
    )]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<BTreeMap<String, Option<FieldSpec>>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<BTreeMap<String, Option<FieldSpec>>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub rename_fields: Option<BTreeMap<String, String>>,
}

pub const SYSTEM_FIELDS: &[&str] = &[
    "id",
    "name",
    "createdAt",
    "updatedAt",
    "deletedAt",
    "createdBy",
    "updatedBy",
    "version",
];
pub const MAX_FIELDS: usize = 200;

pub fn column_of(key: &str) -> String {
    format!("f_{key}")
}

/// The field a record table's column holds (none for system columns such as `id`).
pub fn field_of(column: &str) -> Option<&str> {
    column.strip_prefix("f_")
}

pub fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !SYSTEM_FIELDS.contains(&key)
}

pub(crate) fn issue(path: &[&str], message: impl Into<String>) -> FieldIssue {
    FieldIssue {
        path: path.iter().map(|p| Value::from(*p)).collect(),
        message: message.into(),
    }
}

pub(crate) fn invalid(issues: Vec<FieldIssue>) -> DomainError {
    DomainError::from_issues(issues)
}

const DEF_COLUMNS: &str =
    "id, handle, name, description, fields, table_name, created_at, updated_at";

fn definition_from_row(r: &Row) -> DomainResult<DataDefinition> {
    Ok(DataDefinition {
        id: r.text(0)?,
        handle: r.text(1)?,
        name: r.text(2)?,
        description: r.opt_text(3)?,
        fields: serde_json::from_str(&r.text(4)?)
            .map_err(|e| DomainError::Internal(e.to_string()))?,
        table: r.text(5)?,
        created_at: r.time(6)?,
        updated_at: r.time(7)?,
    })
}

pub(crate) fn load_definition(r: &impl Sql, key: &str) -> DomainResult<DataDefinition> {
    r.query_one(&format!("SELECT {DEF_COLUMNS} FROM data_definitions WHERE id = ? OR handle = ? ORDER BY id = ? DESC LIMIT 1"), &params![key, key, key])?
        .map(|row| definition_from_row(&row))
        .transpose()?
        .ok_or(DomainError::NotFound)
}

pub(crate) fn load_all(r: &impl Sql) -> DomainResult<Vec<DataDefinition>> {
    r.query(
        &format!("SELECT {DEF_COLUMNS} FROM data_definitions ORDER BY created_at, id"),
        &[],
    )?
    .iter()
    .map(definition_from_row)
    .collect()
}

/// Normalizes and checks one field spec; `at` is its path for issues.
pub(crate) fn check_field(
    tx: &impl Sql,
    key: &str,
    spec: &mut FieldSpec,
    at: &str,
    self_id: &str,
    issues: &mut Vec<FieldIssue>,
) -> DomainResult<()> {
    if !valid_key(key) {
        issues.push(issue(&[at, key], "field keys start with a letter and hold letters, digits and _ (at most 63); id, name, createdAt, updatedAt, deletedAt, createdBy, updatedBy and version are reserved"));
        return Ok(());
    }
    let Some(kind) = FieldType::parse(&spec.kind) else {
        issues.push(issue(&[at, key, "type"], "must be one of text, string, number, boolean, date, datetime, select, multiSelect, relationship, json, email, url, file"));
        return Ok(());
    };
    spec.kind = kind.name().to_string();
    if spec.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        spec.name = Some(key.to_string());
    }
    match kind {
        FieldType::Select | FieldType::MultiSelect => {
            let opts = spec.options.clone().unwrap_or_default();
            let mut seen = std::collections::HashSet::new();
            if opts.is_empty()
                || opts
                    .iter()
                    .any(|o| o.value.is_empty() || !seen.insert(o.value.clone()))
            {
                issues.push(issue(
                    &[at, key, "options"],
                    "needs at least one option, each with a distinct non-empty value",
                ));
            }
        }
        _ if spec.options.is_some() => issues.push(issue(
            &[at, key, "options"],
            "only select and multiSelect fields take options",
        )),
        _ => {}
    }
    if kind == FieldType::Relationship {
        match spec.data_definition_id.clone() {
            None => issues.push(issue(
                &[at, key, "dataDefinitionId"],
                "relationship fields need the target definition's id or handle",
            )),
            Some(target) if target == self_id => {}
            Some(target) => match load_definition(tx, &target) {
                Ok(def) => spec.data_definition_id = Some(def.id),
                Err(DomainError::NotFound) => issues.push(issue(
                    &[at, key, "dataDefinitionId"],
                    format!("no data definition `{target}` in this workspace"),
                )),
                Err(e) => return Err(e),
            },
        }
    } else if spec.data_definition_id.is_some() || spec.many {
        issues.push(issue(
            &[at, key, "dataDefinitionId"],
            "only relationship fields take dataDefinitionId and many",
        ));
    }
    if spec
        .hidden_from
        .iter()
        .any(|r| !["admin", "editor", "viewer"].contains(&r.as_str()))
    {
        issues.push(issue(
            &[at, key, "hiddenFrom"],
            "lists roles: admin, editor, viewer",
        ));
    }
    if spec.unique && (spec.is_multi() || kind == FieldType::Json) {
        issues.push(issue(
            &[at, key, "unique"],
            "multi-value and json fields cannot be unique",
        ));
    }
    if let Some(d) = spec.default.clone() {
        if kind == FieldType::Relationship {
            issues.push(issue(
                &[at, key, "default"],
                "relationship fields have no default",
            ));
        } else if let Err(m) = crate::value::to_sql(spec, &d) {
            issues.push(issue(&[at, key, "default"], m));
        }
    }
    Ok(())
}

/// The statements that create a field's column and indexes on `table`.
pub(crate) fn field_ddl(table: &str, key: &str, spec: &FieldSpec, add: bool) -> Vec<String> {
    let col = quote_ident(&column_of(key));
    let t = quote_ident(table);
    let mut out = Vec::new();
    if add {
        out.push(format!(
            "ALTER TABLE {t} ADD COLUMN {col} {}",
            spec.field_type().column_type()
        ));
    }
    if spec.unique {
        out.push(format!(
            "CREATE UNIQUE INDEX {} ON {t} ({col})",
            quote_ident(&format!("ux_{table}_{key}"))
        ));
    }
    out
}

fn sorted(spec: &FieldSpec) -> bool {
    !spec.unique && (spec.indexed || (spec.field_type() == FieldType::Relationship && !spec.many))
}

/// Columns every sort index carries after `(field, id)`: `deleted_at` and the first few
/// single-select and boolean fields. A query filtering on them while it walks a sort index
/// then reads them from the index and looks up only the rows that match (on 1,000,000
/// records, `status = "open"` sorted by `-amount` skipped 1,000 closed rows with a table
/// lookup each, 0.8 ms per query).
fn carried_columns(fields: &BTreeMap<String, FieldSpec>, except: &str) -> String {
    let mut cols = vec!["deleted_at".to_string()];
    cols.extend(
        fields
            .iter()
            .filter(|(k, f)| {
                k.as_str() != except
                    && !f.many
                    && matches!(f.field_type(), FieldType::Select | FieldType::Boolean)
            })
            .take(4)
            .map(|(k, _)| quote_ident(&column_of(k))),
    );
    cols.join(", ")
}

/// The sort indexes of a definition: `(field, id, carried columns…)` for each indexed
/// field (and single relationships). With the id, a sort on the field and its id
/// tie-break comes straight from the index. They depend on several fields, so a schema
/// change drops them all first ([`drop_sort_indexes`]) and rebuilds them last.
pub(crate) fn sort_index_ddl(table: &str, fields: &BTreeMap<String, FieldSpec>) -> Vec<String> {
    let t = quote_ident(table);
    fields
        .iter()
        .filter(|(_, f)| sorted(f))
        .map(|(k, _)| {
            format!(
                "CREATE INDEX {} ON {t} ({}, id, {})",
                quote_ident(&format!("ix_{table}_{k}")),
                quote_ident(&column_of(k)),
                carried_columns(fields, k)
            )
        })
        .collect()
}

pub(crate) fn drop_sort_indexes(table: &str, fields: &BTreeMap<String, FieldSpec>) -> Vec<String> {
    fields
        .keys()
        .map(|k| {
            format!(
                "DROP INDEX IF EXISTS {}",
                quote_ident(&format!("ix_{table}_{k}"))
            )
        })
        .collect()
}

pub(crate) fn drop_indexes(table: &str, key: &str) -> Vec<String> {
    ["ux", "ix"]
        .iter()
        .map(|k| {
            format!(
                "DROP INDEX IF EXISTS {}",
                quote_ident(&format!("{k}_{table}_{key}"))
            )
        })
        .collect()
}

pub(crate) fn create_table_ddl(table: &str, fields: &BTreeMap<String, FieldSpec>) -> Vec<String> {
    let cols: String = fields
        .iter()
        .map(|(k, f)| {
            format!(
                ", {} {}",
                quote_ident(&column_of(k)),
                f.field_type().column_type()
            )
        })
        .collect();
    let t = quote_ident(table);
    // No index on deleted_at: nearly every row has it NULL, and the planner would pick it
    // over the selective indexes that filters and sorts need.
    let mut out = vec![format!(
        "CREATE TABLE {t} (id TEXT PRIMARY KEY, name TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT, \
         created_by TEXT, updated_by TEXT, version INTEGER NOT NULL DEFAULT 1{cols})"
    )];
    for (k, f) in fields {
        out.extend(field_ddl(table, k, f, false));
    }
    out.extend(sort_index_ddl(table, fields));
    out
}

pub(crate) fn insert_definition(
    tx: &Tx<'_>,
    handle: &str,
    name: &str,
    description: Option<&str>,
    fields: &BTreeMap<String, FieldSpec>,
    now: Timestamp,
    def_id: &str,
) -> DomainResult<String> {
    let table = format!("rec_{}", def_id.replace('-', ""));
    tx.execute(
        &format!("INSERT INTO data_definitions ({DEF_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
        &params![
            def_id,
            handle,
            name,
            description,
            serde_json::to_string(fields).map_err(|e| DomainError::Internal(e.to_string()))?,
            &table,
            now,
            now
        ],
    )?;
    Ok(table)
}

pub(crate) fn new_definition_id() -> String {
    id::uuid7()
}

/// Text-like fields feed full-text search.
fn searchable(spec: &FieldSpec) -> bool {
    spec.searchable != Some(false)
        && matches!(
            spec.field_type(),
            FieldType::Text | FieldType::Email | FieldType::Url | FieldType::Select
        )
}

pub(crate) fn search_table(table: &str) -> String {
    format!("fts_{}", table.trim_start_matches("rec_"))
}

/// The text a record contributes to search: its name and searchable fields.
fn search_body(fields: &BTreeMap<String, FieldSpec>, row: &str) -> String {
    let text = std::iter::once(format!("coalesce({row}.name, '')"))
        .chain(
            fields
                .iter()
                .filter(|(_, s)| searchable(s))
                .map(|(k, _)| format!("coalesce({row}.{}, '')", quote_ident(&column_of(k)))),
        )
        .collect::<Vec<_>>()
        .join(" || ' ' || ");
    // CJK runs become bigrams here and in `search_query`, so words inside them are found.
    format!("{}({text})", andibase_storage::SEGMENT_FUNCTION)
}

/// (Re)builds the definition's FTS5 index over `name` and its text fields. Run after any
/// field change.
///
/// The index is contentless (`content=''`): the text is in the record table already, and
/// a second copy cost a tenth of the pages a bulk insert writes. `contentless_delete=1`
/// lets a record be removed by rowid alone. (Indexes built before keep their content table
/// until the next field change; every statement here works on both kinds.)
///
/// No triggers keep it in step: a trigger writes one row per statement, and FTS5 flushes
/// its pending index to disk at every statement savepoint, which cost 45% of all bulk-insert
/// instructions (measured with callgrind). The data layer, the only writer of record
/// tables, calls [`index_records`] or [`index_new_records`] once per batch instead.
pub(crate) fn rebuild_search(
    tx: &impl Sql,
    table: &str,
    fields: &BTreeMap<String, FieldSpec>,
) -> DomainResult<()> {
    drop_search(tx, table)?;
    let (f, t) = (quote_ident(&search_table(table)), quote_ident(table));
    tx.execute(
        &format!(
            "CREATE VIRTUAL TABLE {f} USING fts5(body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')"
        ),
        &[],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO {f} (rowid, body) SELECT rowid, {} FROM {t} AS r",
            search_body(fields, "r")
        ),
        &[],
    )?;
    Ok(())
}

/// Runs `sql(marks)` for the ids, 500 at a time, with the ids as parameters.
fn per_chunk(tx: &impl Sql, ids: &[String], sql: impl Fn(&str) -> String) -> DomainResult<()> {
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let params: Vec<andibase_storage::Value> = chunk
            .iter()
            .map(|i| andibase_storage::Value::Text(i.clone()))
            .collect();
        tx.execute(&sql(&marks), &params)?;
    }
    Ok(())
}

/// Removes the given records from search (before they are purged).
pub(crate) fn unindex_records(
    tx: &impl Sql,
    def: &DataDefinition,
    ids: &[String],
) -> DomainResult<()> {
    let (f, t) = (
        quote_ident(&search_table(&def.table)),
        quote_ident(&def.table),
    );
    per_chunk(tx, ids, |marks| {
        format!("DELETE FROM {f} WHERE rowid IN (SELECT rowid FROM {t} WHERE id IN ({marks}))")
    })
}

/// Re-indexes the given records for search (after they were changed): one delete and one
/// insert statement per 500 records.
pub(crate) fn index_records(
    tx: &impl Sql,
    def: &DataDefinition,
    ids: &[String],
) -> DomainResult<()> {
    unindex_records(tx, def, ids)?;
    let (f, t) = (
        quote_ident(&search_table(&def.table)),
        quote_ident(&def.table),
    );
    let body = search_body(&def.fields, "r");
    per_chunk(tx, ids, |marks| {
        format!("INSERT INTO {f} (rowid, body) SELECT rowid, {body} FROM {t} AS r WHERE id IN ({marks})")
    })
}

/// The highest rowid of the definition's table (0 when empty): rows inserted later in the
/// same write transaction are exactly those above it, since SQLite gives a new row the
/// highest rowid plus one and nothing here sets rowids.
pub(crate) fn last_rowid(tx: &impl Sql, def: &DataDefinition) -> DomainResult<i64> {
    tx.query_one(
        &format!(
            "SELECT coalesce(max(rowid), 0) FROM {}",
            quote_ident(&def.table)
        ),
        &[],
    )?
    .map(|r| r.int(0))
    .transpose()
    .map(|n| n.unwrap_or(0))
}

/// Indexes for search the records created since [`last_rowid`] gave `after`: one range
/// scan, where looking up each new id (`id IN (…)`) cost an index and a table search per
/// record.
pub(crate) fn index_new_records(
    tx: &impl Sql,
    def: &DataDefinition,
    after: i64,
) -> DomainResult<()> {
    let (f, t) = (
        quote_ident(&search_table(&def.table)),
        quote_ident(&def.table),
    );
    let body = search_body(&def.fields, "r");
    tx.execute(
        &format!(
            "INSERT INTO {f} (rowid, body) SELECT rowid, {body} FROM {t} AS r WHERE rowid > ?"
        ),
        &[after.into()],
    )
    .map(|_| ())
}

/// Removes the search index (and the triggers older versions kept, which name columns, so
/// they go before any column is dropped or renamed).
pub(crate) fn drop_search(tx: &impl Sql, table: &str) -> DomainResult<()> {
    let fts = search_table(table);
    for trigger in ["ai", "au", "ad"] {
        tx.execute(
            &format!(
                "DROP TRIGGER IF EXISTS {}",
                quote_ident(&format!("{fts}_{trigger}"))
            ),
            &[],
        )?;
    }
    tx.execute(&format!("DROP TABLE IF EXISTS {}", quote_ident(&fts)), &[])?;
    Ok(())
}

/// Turns what a person typed into an FTS5 query that cannot be read as syntax: every word
/// becomes a quoted prefix term, all required.
pub(crate) fn search_query(text: &str) -> Option<String> {
    let terms: Vec<String> = andibase_text::split_cjk(text)
        .split_whitespace()
        .take(32)
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// Parsed definitions per workspace database, for reads. A definition change bumps the
/// file's generation, and a read that started before the bump never stores what it loaded.
/// Per process: another replica changing definitions would need to broadcast the bump.
struct Cached {
    generation: u64,
    definitions: Option<std::sync::Arc<Vec<DataDefinition>>>,
}

static CACHE: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, Cached>>,
> = std::sync::LazyLock::new(Default::default);

pub(crate) fn cached_all(
    r: &impl Sql,
    db: &std::path::Path,
) -> DomainResult<std::sync::Arc<Vec<DataDefinition>>> {
    let generation = {
        let cache = CACHE.lock().expect("definition cache poisoned");
        match cache.get(db) {
            Some(Cached {
                definitions: Some(d),
                ..
            }) => return Ok(d.clone()),
            Some(c) => c.generation,
            None => 0,
        }
    };
    let loaded = std::sync::Arc::new(load_all(r)?);
    let mut cache = CACHE.lock().expect("definition cache poisoned");
    let entry = cache.entry(db.to_path_buf()).or_insert(Cached {
        generation: 0,
        definitions: None,
    });
    if entry.generation == generation {
        entry.definitions = Some(loaded.clone());
    }
    Ok(loaded)
}

pub(crate) fn forget_cached(db: &std::path::Path) {
    let mut cache = CACHE.lock().expect("definition cache poisoned");
    let entry = cache.entry(db.to_path_buf()).or_insert(Cached {
        generation: 0,
        definitions: None,
    });
    entry.generation += 1;
    entry.definitions = None;
}
