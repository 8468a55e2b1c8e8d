//! Data definitions: their fields, checks, and the table each one owns.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use andibase_common::{id, DomainError, DomainResult, FieldIssue, Role, Timestamp};
use andibase_storage::{params, Row, Sql, Tx};
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

/// Written and read by name (`text`, …); `string` reads as `text`.
impl Serialize for FieldType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for FieldType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FieldType, D::Error> {
        let name = String::deserialize(d)?;
        FieldType::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown field type `{name}`")))
    }
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

/// One field of a definition: checked, with a known type (as stored and shown), or as
/// sent ([`FieldInput`], whose type is the name given until the definition is checked).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSpec<K = FieldType, R = Role> {
    /// Display name; defaults to the key.
    #[serde(default)]
    pub name: Option<String>,
    /// `text` (alias `string`), `number`, `boolean`, `date`, `datetime`, `select`,
    /// `multiSelect`, `relationship`, `json`, `email`, `url`, `file`.
    #[serde(rename = "type")]
    pub kind: K,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub indexed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub hidden_from: Vec<R>,
    /// Text-like fields are in the full-text index unless this is `false` (which makes
    /// bulk writes of the field cheaper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searchable: Option<bool>,
}

/// A field as sent: every problem with it, its type included, is reported together with
/// the other fields' when the definition is checked.
pub type FieldInput = FieldSpec<String, String>;

impl<K, R> FieldSpec<K, R> {
    fn checked<T, S>(self, kind: T, hidden_from: Vec<S>) -> FieldSpec<T, S> {
        FieldSpec {
            name: self.name,
            kind,
            required: self.required,
            unique: self.unique,
            indexed: self.indexed,
            description: self.description,
            default: self.default,
            options: self.options,
            data_definition_id: self.data_definition_id,
            many: self.many,
            hidden_from,
            searchable: self.searchable,
        }
    }
}

impl FieldSpec {
    pub fn field_type(&self) -> FieldType {
        self.kind
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

/// An index over one or more fields, declared on a definition:
/// `{"fields": ["status", "-amount"], "unique": false}`, or one for finding text inside a
/// field: `{"fields": ["title"], "substring": true}`. Names are as in `sort`: a bare
/// system name (`createdAt`) is the record's own field, `attributes.<key>` always the
/// attribute, and `-` orders that key descending. A filter on the leading fields and a
/// sort on the next ones are then served by the index together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexSpec {
    /// 1 to 8 names, each once.
    pub fields: Vec<String>,
    /// No two records (soft-deleted ones included) may share the values of all the fields.
    #[serde(default)]
    pub unique: bool,
    /// An index for `~` (contains, ignoring case) on its one text field, instead of one
    /// for equality, ranges and sorts: on PostgreSQL a trigram index (`pg_trgm`); on
    /// SQLite the declaration is kept and nothing is built (a scan there runs at
    /// PocketBase's speed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub substring: bool,
    /// Set on an index the server built for slow queries: why, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<crate::usage::AutoIndex>,
}

impl IndexSpec {
    /// Whether `other` is the same index, whoever declared it and why.
    pub(crate) fn is_like(&self, other: &IndexSpec) -> bool {
        self.fields == other.fields && self.substring == other.substring
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
    /// Indexes declared over several fields (or one, with a direction or uniqueness).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexSpec>,
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
    pub fields: Option<BTreeMap<String, FieldInput>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<BTreeMap<String, FieldInput>>,
    /// Indexes over several fields (see [`IndexSpec`]).
    #[serde(default)]
    pub indexes: Option<Vec<IndexSpec>>,
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
    pub fields: Option<BTreeMap<String, Option<FieldInput>>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<BTreeMap<String, Option<FieldInput>>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub rename_fields: Option<BTreeMap<String, String>>,
    /// The whole new list of declared indexes (those left out are dropped). Renamed
    /// fields are renamed in indexes, and removing a field drops the indexes naming it.
    #[serde(default)]
    pub indexes: Option<Vec<IndexSpec>>,
}

/// A record's own fields, kept beside its attributes. Their names are also valid attribute
/// keys: on the wire attributes live in their own `attributes` object; where one flat list
/// of names is needed (filters, sorts, CSV headers, SQL views) a bare system name means the
/// system field, and `attributes.<key>` always means the attribute ([`FieldName`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemField {
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
    CreatedBy,
    UpdatedBy,
    Version,
}

impl SystemField {
    pub const ALL: [SystemField; 8] = [
        SystemField::Id,
        SystemField::Name,
        SystemField::CreatedAt,
        SystemField::UpdatedAt,
        SystemField::DeletedAt,
        SystemField::CreatedBy,
        SystemField::UpdatedBy,
        SystemField::Version,
    ];

    pub fn parse(name: &str) -> Option<SystemField> {
        SystemField::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The name on the wire (`createdAt`).
    pub fn name(self) -> &'static str {
        match self {
            SystemField::Id => "id",
            SystemField::Name => "name",
            SystemField::CreatedAt => "createdAt",
            SystemField::UpdatedAt => "updatedAt",
            SystemField::DeletedAt => "deletedAt",
            SystemField::CreatedBy => "createdBy",
            SystemField::UpdatedBy => "updatedBy",
            SystemField::Version => "version",
        }
    }

    /// The record table's column (`created_at`).
    pub fn column(self) -> &'static str {
        match self {
            SystemField::Id => "id",
            SystemField::Name => "name",
            SystemField::CreatedAt => "created_at",
            SystemField::UpdatedAt => "updated_at",
            SystemField::DeletedAt => "deleted_at",
            SystemField::CreatedBy => "created_by",
            SystemField::UpdatedBy => "updated_by",
            SystemField::Version => "version",
        }
    }

    /// Whether a record can lack it (it sorts last then).
    pub fn nullable(self) -> bool {
        !matches!(
            self,
            SystemField::Id
                | SystemField::CreatedAt
                | SystemField::UpdatedAt
                | SystemField::Version
        )
    }
}

/// The prefix that names an attribute whatever its key: `attributes.createdAt`.
pub const ATTRIBUTE_PREFIX: &str = "attributes.";

/// A name in a flat list of names (a filter path segment, a sort key, a CSV header, a
/// `fields` entry): a system field, or an attribute by key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldName<'a> {
    System(SystemField),
    Attribute(&'a str),
}

impl<'a> FieldName<'a> {
    /// `attributes.<key>` is the attribute; a bare system name is the system field; any
    /// other bare name is the attribute of that key.
    pub fn parse(name: &'a str) -> FieldName<'a> {
        if let Some(key) = name.strip_prefix(ATTRIBUTE_PREFIX) {
            return FieldName::Attribute(key);
        }
        SystemField::parse(name).map_or(FieldName::Attribute(name), FieldName::System)
    }
}

/// How an attribute is named in a flat list of names: its key, or `attributes.<key>` when
/// the key is also a system field's name (so `createdAt` stays the record's own).
pub fn flat_name(key: &str) -> std::borrow::Cow<'_, str> {
    if SystemField::parse(key).is_some() {
        format!("{ATTRIBUTE_PREFIX}{key}").into()
    } else {
        key.into()
    }
}

pub const MAX_FIELDS: usize = 200;

pub fn column_of(key: &str) -> String {
    format!("f_{key}")
}

/// The field a record table's column holds (none for system columns such as `id`).
pub fn field_of(column: &str) -> Option<&str> {
    column.strip_prefix("f_")
}

/// The unique field a conflict broke (none when it was the record's id).
pub(crate) fn conflicting_field(column: &Option<String>) -> Option<&str> {
    column.as_deref().and_then(field_of)
}

/// Where in a record a write broke a unique rule (`["id"]`, `["name"]`, or
/// `["attributes", key]`: the rule's first attribute when it spans several columns), and
/// what to say.
pub(crate) fn conflict_in_record(column: &Option<String>) -> (Vec<Value>, String) {
    let columns: Vec<&str> = column.as_deref().unwrap_or("id").split(',').collect();
    let names: Vec<String> = columns
        .iter()
        .map(|c| match field_of(c) {
            Some(key) => flat_name(key).into_owned(),
            None => SystemField::ALL
                .into_iter()
                .find(|f| f.column() == *c)
                .map_or(*c, |f| f.name())
                .to_string(),
        })
        .collect();
    let first_attribute = columns.iter().find_map(|c| field_of(c));
    let path = match first_attribute {
        Some(key) => vec![Value::from("attributes"), Value::from(key)],
        None => vec![Value::from(names[0].clone())],
    };
    let message = match (names.len(), first_attribute) {
        (1, None) => "a record with this key already exists".to_string(),
        (1, Some(_)) => "must be unique; another record has this value".to_string(),
        _ => format!(
            "must be unique together ({}); another record has these values",
            names.join(", ")
        ),
    };
    (path, message)
}

pub fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

const DEF_COLUMNS: &str =
    "id, handle, name, description, fields, table_name, created_at, updated_at, indexes";

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
        indexes: serde_json::from_str(&r.text(8)?)
            .map_err(|e| DomainError::Internal(e.to_string()))?,
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

/// [`load_all`] in a write transaction: read once for the writes grouped into it (on
/// PostgreSQL a read is a round trip under the workspace's lock), again after a change
/// to the definitions ([`andibase_storage::Tx::remember`]).
pub(crate) fn load_all_for_write(
    tx: &andibase_storage::Tx<'_>,
) -> DomainResult<std::sync::Arc<Vec<DataDefinition>>> {
    tx.remember("data_definitions", || load_all(tx).map(std::sync::Arc::new))
}

/// The definition with this id or handle (an id wins over another's handle).
pub(crate) fn find_definition<'d>(
    all: &'d [DataDefinition],
    key: &str,
) -> DomainResult<&'d DataDefinition> {
    all.iter()
        .find(|d| d.id == key)
        .or_else(|| all.iter().find(|d| d.handle == key))
        .ok_or(DomainError::NotFound)
}

/// Checks one field as sent against the workspace's definitions (`all`, for relationship
/// targets) and gives it checked, or none when its type is unknown; `at` is its path for
/// issues.
pub(crate) fn check_field(
    all: &[DataDefinition],
    key: &str,
    input: FieldInput,
    at: &str,
    self_id: &str,
    issues: &mut Vec<FieldIssue>,
) -> Option<FieldSpec> {
    if !valid_key(key) {
        issues.push(FieldIssue::at(
            [at, key],
            "field keys start with a letter and hold letters, digits and _ (at most 63)",
        ));
        return None;
    }
    let Some(kind) = FieldType::parse(&input.kind) else {
        issues.push(FieldIssue::at([at, key, "type"], "must be one of text, string, number, boolean, date, datetime, select, multiSelect, relationship, json, email, url, file"));
        return None;
    };
    let roles: Vec<Role> = input
        .hidden_from
        .iter()
        .filter_map(|r| Role::parse(r))
        .collect();
    if roles.len() < input.hidden_from.len() {
        issues.push(FieldIssue::at(
            [at, key, "hiddenFrom"],
            "lists roles: admin, editor, viewer",
        ));
    }
    let mut spec = input.checked(kind, roles);
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
                issues.push(FieldIssue::at(
                    [at, key, "options"],
                    "needs at least one option, each with a distinct non-empty value",
                ));
            }
        }
        _ if spec.options.is_some() => issues.push(FieldIssue::at(
            [at, key, "options"],
            "only select and multiSelect fields take options",
        )),
        _ => {}
    }
    if kind == FieldType::Relationship {
        match spec.data_definition_id.clone() {
            None => issues.push(FieldIssue::at(
                [at, key, "dataDefinitionId"],
                "relationship fields need the target definition's id or handle",
            )),
            Some(target) if target == self_id => {}
            Some(target) => match find_definition(all, &target) {
                Ok(def) => spec.data_definition_id = Some(def.id.clone()),
                Err(_) => issues.push(FieldIssue::at(
                    [at, key, "dataDefinitionId"],
                    format!("no data definition `{target}` in this workspace"),
                )),
            },
        }
    } else if spec.data_definition_id.is_some() || spec.many {
        issues.push(FieldIssue::at(
            [at, key, "dataDefinitionId"],
            "only relationship fields take dataDefinitionId and many",
        ));
    }
    if spec.unique && (spec.is_multi() || kind == FieldType::Json) {
        issues.push(FieldIssue::at(
            [at, key, "unique"],
            "multi-value and json fields cannot be unique",
        ));
    }
    if let Some(d) = spec.default.clone() {
        if kind == FieldType::Relationship {
            issues.push(FieldIssue::at(
                [at, key, "default"],
                "relationship fields have no default",
            ));
        } else if let Err(m) = crate::value::to_sql(&spec, &d) {
            issues.push(FieldIssue::at([at, key, "default"], m));
        }
    }
    Some(spec)
}

/// The record table of the definition with this id.
pub(crate) fn table_of(def_id: &str) -> String {
    format!("rec_{}", def_id.replace('-', ""))
}

/// Writes a new definition's row (its table is made apart, by `tables::create_table`).
pub(crate) fn insert_definition(tx: &Tx<'_>, def: &DataDefinition) -> DomainResult<()> {
    tx.execute(
        &format!("INSERT INTO data_definitions ({DEF_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        &params![
            &def.id,
            &def.handle,
            &def.name,
            def.description.clone(),
            json_text(&def.fields)?,
            &def.table,
            def.created_at,
            def.updated_at,
            json_text(&def.indexes)?
        ],
    )
    .map(|_| ())
}

/// What a definition keeps as JSON (its fields, its indexes), as text.
pub(crate) fn json_text(v: &impl Serialize) -> DomainResult<String> {
    serde_json::to_string(v).map_err(|e| DomainError::Internal(e.to_string()))
}

pub(crate) fn new_definition_id() -> String {
    id::uuid7()
}

/// Parsed definitions of each workspace database, kept for reads. A definition change
/// forgets the file's entry (before and after its transaction), and a read that started
/// before a change never stores what it loaded. Each process keeps its own
/// ([`LocalDefinitionCache`]); with replicas, the event bus will carry the forgetting.
pub trait DefinitionCache: Send + Sync {
    /// The definitions of the database at `db`, kept or read by `load`.
    fn get_or_load(
        &self,
        db: &Path,
        load: &mut dyn FnMut() -> DomainResult<Vec<DataDefinition>>,
    ) -> DomainResult<Arc<Vec<DataDefinition>>>;
    /// The definitions kept for `db`, if any.
    fn get(&self, db: &Path) -> Option<Arc<Vec<DataDefinition>>>;
    /// Drops what is kept for `db`.
    fn forget(&self, db: &Path);
    /// Drops everything kept (changes may have been missed).
    fn forget_all(&self);
}

/// A generation per file: a load stores its result only if no change came meanwhile.
struct Cached {
    generation: u64,
    definitions: Option<Arc<Vec<DataDefinition>>>,
}

/// Definitions kept in this process's memory.
#[derive(Default)]
pub struct LocalDefinitionCache {
    files: Mutex<HashMap<PathBuf, Cached>>,
}

impl LocalDefinitionCache {
    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Cached>> {
        self.files.lock().expect("definition cache poisoned")
    }
}

impl DefinitionCache for LocalDefinitionCache {
    fn get_or_load(
        &self,
        db: &Path,
        load: &mut dyn FnMut() -> DomainResult<Vec<DataDefinition>>,
    ) -> DomainResult<Arc<Vec<DataDefinition>>> {
        let generation = match self.files().get(db) {
            Some(Cached {
                definitions: Some(d),
                ..
            }) => return Ok(d.clone()),
            Some(c) => c.generation,
            None => 0,
        };
        let loaded = Arc::new(load()?);
        let mut files = self.files();
        let entry = files.entry(db.to_path_buf()).or_insert(Cached {
            generation: 0,
            definitions: None,
        });
        if entry.generation == generation {
            entry.definitions = Some(loaded.clone());
        }
        Ok(loaded)
    }

    fn get(&self, db: &Path) -> Option<Arc<Vec<DataDefinition>>> {
        self.files().get(db)?.definitions.clone()
    }

    fn forget(&self, db: &Path) {
        let mut files = self.files();
        let entry = files.entry(db.to_path_buf()).or_insert(Cached {
            generation: 0,
            definitions: None,
        });
        entry.generation += 1;
        entry.definitions = None;
    }

    fn forget_all(&self) {
        for entry in self.files().values_mut() {
            entry.generation += 1;
            entry.definitions = None;
        }
    }
}

/// Forgets the definitions other replicas changed, as they announce them (see
/// the `data-definitions` announcement); returns when `heard` closes. Run it for
/// the server's life on PostgreSQL.
pub async fn follow_other_replicas(
    cache: &dyn DefinitionCache,
    mut heard: tokio::sync::broadcast::Receiver<andibase_storage::Announcement>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match heard.recv().await {
            Ok(a) if a.topic == crate::definitions::DEFINITIONS_CHANGED => {
                cache.forget(Path::new(&a.message))
            }
            Ok(a) if a.topic == andibase_storage::MISSED => cache.forget_all(),
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => cache.forget_all(),
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_names_tell_system_fields_from_attributes() {
        assert_eq!(
            FieldName::parse("createdAt"),
            FieldName::System(SystemField::CreatedAt)
        );
        assert_eq!(
            FieldName::parse("attributes.createdAt"),
            FieldName::Attribute("createdAt")
        );
        assert_eq!(FieldName::parse("amount"), FieldName::Attribute("amount"));
        assert_eq!(
            FieldName::parse("attributes.attributes"),
            FieldName::Attribute("attributes")
        );
        for f in SystemField::ALL {
            assert_eq!(SystemField::parse(f.name()), Some(f));
            assert_eq!(
                FieldName::parse(&flat_name(f.name())),
                FieldName::Attribute(f.name())
            );
            assert!(valid_key(f.name()), "{} is a valid attribute key", f.name());
        }
        assert_eq!(flat_name("amount"), "amount");
        assert!(!valid_key("attributes.x") && !valid_key("1st") && !valid_key(""));
    }
}
