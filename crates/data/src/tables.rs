//! The shape a definition gives its record table: columns, unique and sort indexes, and
//! what full-text search reads. Described as `storage::schema` changes; only the storage
//! crate spells them in SQL.

use std::collections::BTreeMap;

use andibase_common::{DomainResult, Role};
use andibase_storage::schema::{ColumnType, SchemaChange};
use andibase_storage::search::{self, SearchLayout};
use andibase_storage::Sql;

use crate::definition::{column_of, DataDefinition, FieldSpec, FieldType};

/// How a field's column keeps its values.
pub(crate) fn column_type(spec: &FieldSpec) -> ColumnType {
    match spec.field_type() {
        _ if spec.is_multi() => ColumnType::Json,
        FieldType::Number => ColumnType::Real,
        FieldType::Boolean => ColumnType::Boolean,
        FieldType::Json => ColumnType::Json,
        _ => ColumnType::Text,
    }
}

/// The changes that create a field's column (when `add`) and its unique index on `table`.
pub(crate) fn field_changes(
    table: &str,
    key: &str,
    spec: &FieldSpec,
    add: bool,
) -> Vec<SchemaChange> {
    let mut out = Vec::new();
    if add {
        out.push(SchemaChange::AddColumn {
            table: table.into(),
            column: column_of(key),
            kind: column_type(spec),
        });
    }
    if spec.unique {
        out.push(SchemaChange::CreateUniqueIndex {
            name: format!("ux_{table}_{key}"),
            table: table.into(),
            column: column_of(key),
        });
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
fn carried_columns(fields: &BTreeMap<String, FieldSpec>, except: &str) -> Vec<String> {
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
            .map(|(k, _)| column_of(k)),
    );
    cols
}

/// The sort indexes of a definition: `(field, id, carried columns…)` for each indexed
/// field (and single relationships). With the id, a sort on the field and its id
/// tie-break comes straight from the index. They depend on several fields, so a schema
/// change drops them all first ([`drop_sort_indexes`]) and rebuilds them last.
pub(crate) fn sort_indexes(table: &str, fields: &BTreeMap<String, FieldSpec>) -> Vec<SchemaChange> {
    fields
        .iter()
        .filter(|(_, f)| sorted(f))
        .map(|(k, _)| SchemaChange::CreateIndex {
            name: format!("ix_{table}_{k}"),
            table: table.into(),
            columns: [column_of(k), "id".into()]
                .into_iter()
                .chain(carried_columns(fields, k))
                .collect(),
        })
        .collect()
}

pub(crate) fn drop_sort_indexes(
    table: &str,
    fields: &BTreeMap<String, FieldSpec>,
) -> Vec<SchemaChange> {
    fields
        .keys()
        .map(|k| SchemaChange::DropIndex {
            name: format!("ix_{table}_{k}"),
        })
        .collect()
}

/// Drops a field's unique and sort indexes.
pub(crate) fn drop_indexes(table: &str, key: &str) -> Vec<SchemaChange> {
    ["ux", "ix"]
        .iter()
        .map(|k| SchemaChange::DropIndex {
            name: format!("{k}_{table}_{key}"),
        })
        .collect()
}

/// A definition's record table, with its unique and sort indexes.
pub(crate) fn create_table(table: &str, fields: &BTreeMap<String, FieldSpec>) -> Vec<SchemaChange> {
    let mut out = vec![SchemaChange::CreateRecordTable {
        table: table.into(),
        columns: fields
            .iter()
            .map(|(k, f)| (column_of(k), column_type(f)))
            .collect(),
    }];
    for (k, f) in fields {
        out.extend(field_changes(table, k, f, false));
    }
    out.extend(sort_indexes(table, fields));
    out
}

/// Text-like fields feed full-text search.
fn searchable(spec: &FieldSpec) -> bool {
    spec.searchable != Some(false)
        && matches!(
            spec.field_type(),
            FieldType::Text | FieldType::Email | FieldType::Url | FieldType::Select
        )
}

/// The columns whose words search finds: the record's name and its searchable fields;
/// fields hidden from some role each have an index column of their own, which searches by
/// that role leave out.
/// The index is kept in step by the data layer, once per batch (see `storage::search`).
pub(crate) fn search_columns(fields: &BTreeMap<String, FieldSpec>) -> SearchLayout {
    let (apart, shared): (Vec<_>, Vec<_>) = fields
        .iter()
        .filter(|(_, s)| searchable(s))
        .partition(|(_, s)| !s.hidden_from.is_empty());
    SearchLayout {
        shared: std::iter::once("name".to_string())
            .chain(shared.into_iter().map(|(k, _)| column_of(k)))
            .collect(),
        apart: apart.into_iter().map(|(k, _)| column_of(k)).collect(),
    }
}

/// The index columns apart from the shared text that `role` may search, or none when it
/// may search them all.
pub(crate) fn searchable_by(def: &DataDefinition, role: Role) -> Option<Vec<String>> {
    let mut hides = false;
    let visible = def
        .fields
        .iter()
        .filter(|(_, s)| searchable(s) && !s.hidden_from.is_empty())
        .filter(|(_, s)| {
            let hidden = s.hidden_from.contains(&role);
            hides |= hidden;
            !hidden
        })
        .map(|(k, _)| column_of(k))
        .collect();
    hides.then_some(visible)
}

/// Re-indexes the given records for search (after they were changed).
pub(crate) fn index_records(
    tx: &impl Sql,
    def: &DataDefinition,
    ids: &[String],
) -> DomainResult<()> {
    let layout = search_columns(&def.fields);
    search::ensure(tx, &def.table, &layout)?;
    search::index(tx, &def.table, &layout, ids)
}
