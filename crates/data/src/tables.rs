//! The shape a definition gives its record table: columns, unique and sort indexes, and
//! what full-text search reads. Described as `storage::schema` changes; only the storage
//! crate spells them in SQL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{LazyLock, Mutex};

use andibase_common::{DomainResult, FieldIssue, Role};
use andibase_storage::schema::{ColumnType, IndexKey, SchemaChange};
use andibase_storage::search::{self, SearchLayout};
use andibase_storage::{Sql, Tx};

use crate::definition::{column_of, DataDefinition, FieldName, FieldSpec, FieldType, IndexSpec};

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

/// Whether a field has a sort index of its own ([`field_index`]).
pub(crate) fn has_sort_index(spec: &FieldSpec) -> bool {
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

/// The system columns every record table has a sort index on, so the lists users sort
/// by most (newest first, recently changed) come from an index. Their index names hold
/// two underscores, which no field key can (keys start with a letter).
const SORTED_SYSTEM_COLUMNS: [&str; 2] = ["created_at", "updated_at"];

fn system_index(table: &str, column: &str) -> String {
    format!("ix_{table}__{column}")
}

/// The name of a field's sort index.
pub(crate) fn field_index(table: &str, key: &str) -> String {
    format!("ix_{table}_{key}")
}

/// Whether a sort whose first key is `column` comes from an index: the id, a system
/// column with its index, a field with a sort index, or a declared index that leads with
/// it.
pub(crate) fn sorts_by_index(def: &DataDefinition, column: &str) -> bool {
    column == "id"
        || SORTED_SYSTEM_COLUMNS.contains(&column)
        || def
            .fields
            .iter()
            .any(|(k, f)| column_of(k) == column && has_sort_index(f))
        || declared_keys(def).any(|keys| keys.first().is_some_and(|k| k.column == column))
}

/// At most this many declared indexes a definition, and fields an index.
pub(crate) const MAX_DECLARED_INDEXES: usize = 16;
const MAX_INDEX_FIELDS: usize = 8;

/// A declared index's keys: each name's column and direction, then (unless the index is
/// unique) the id in the last key's direction, so a sort on its keys with the id
/// tie-break comes straight from it. The names must have been checked
/// ([`check_declared_indexes`]); one that is no field is left out.
pub(crate) fn index_keys(fields: &BTreeMap<String, FieldSpec>, spec: &IndexSpec) -> Vec<IndexKey> {
    let mut keys: Vec<IndexKey> = spec
        .fields
        .iter()
        .filter_map(|name| {
            let (descending, name) = name
                .strip_prefix('-')
                .map_or((false, name.as_str()), |n| (true, n));
            let column = match FieldName::parse(name) {
                FieldName::System(f) => f.column().to_string(),
                FieldName::Attribute(k) => fields.get(k).map(|_| column_of(k))?,
            };
            Some(IndexKey { column, descending })
        })
        .collect();
    if !spec.unique && keys.iter().all(|k| k.column != "id") {
        let descending = keys.last().is_some_and(|k| k.descending);
        keys.push(IndexKey {
            column: "id".into(),
            descending,
        });
    }
    keys
}

/// The columns of a declared index as a violation of it names them (`f_a,f_b`).
pub(crate) fn index_columns(fields: &BTreeMap<String, FieldSpec>, spec: &IndexSpec) -> String {
    index_keys(fields, spec)
        .into_iter()
        .map(|k| k.column)
        .collect::<Vec<_>>()
        .join(",")
}

/// The keys of each declared index of `def` that orders rows (not a substring index).
pub(crate) fn declared_keys(def: &DataDefinition) -> impl Iterator<Item = Vec<IndexKey>> + '_ {
    def.indexes
        .iter()
        .filter(|spec| !spec.substring)
        .map(|spec| index_keys(&def.fields, spec))
}

/// The name of a declared index: `cx_<table>_` and a hash of what it indexes, so the same
/// declaration keeps its index across changes and two declarations never share one.
pub(crate) fn declared_index_name(table: &str, spec: &IndexSpec) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut text = format!("{}|{}", spec.unique, spec.fields.join(","));
    if spec.substring {
        text.push_str("|substring");
    }
    let hash = text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!("cx_{table}_{hash:016x}")
}

/// The changes that create `specs`' indexes on `table`.
pub(crate) fn declared_indexes(
    table: &str,
    fields: &BTreeMap<String, FieldSpec>,
    specs: &[IndexSpec],
) -> Vec<SchemaChange> {
    specs
        .iter()
        .map(|spec| {
            let (name, table) = (declared_index_name(table, spec), table.to_string());
            let mut keys = index_keys(fields, spec);
            match spec.substring {
                true => SchemaChange::CreateSubstringIndex {
                    name,
                    table,
                    column: keys.swap_remove(0).column,
                },
                false => SchemaChange::CreateKeyIndex {
                    name,
                    table,
                    keys,
                    unique: spec.unique,
                },
            }
        })
        .collect()
}

/// The changes that drop `specs`' indexes.
pub(crate) fn drop_declared_indexes(table: &str, specs: &[IndexSpec]) -> Vec<SchemaChange> {
    specs
        .iter()
        .map(|spec| SchemaChange::DropIndex {
            name: declared_index_name(table, spec),
        })
        .collect()
}

/// Checks declared indexes against the fields they will index; issues under `indexes`.
pub(crate) fn check_declared_indexes(
    fields: &BTreeMap<String, FieldSpec>,
    specs: &[IndexSpec],
    issues: &mut Vec<FieldIssue>,
) {
    if specs.len() > MAX_DECLARED_INDEXES {
        issues.push(FieldIssue::at(
            ["indexes"],
            format!("at most {MAX_DECLARED_INDEXES} indexes"),
        ));
    }
    for (i, spec) in specs.iter().enumerate() {
        let at = |rest: &[serde_json::Value]| {
            let mut path = vec![serde_json::json!("indexes"), serde_json::json!(i)];
            path.extend_from_slice(rest);
            path
        };
        if spec.fields.is_empty() || spec.fields.len() > MAX_INDEX_FIELDS {
            issues.push(FieldIssue {
                path: at(&["fields".into()]),
                message: format!("names 1 to {MAX_INDEX_FIELDS} fields"),
            });
        }
        if let Some(first) = specs[..i].iter().position(|s| s == spec) {
            issues.push(FieldIssue {
                path: at(&[]),
                message: format!("is the same index as indexes[{first}]"),
            });
        }
        if spec.substring {
            let problem = match (spec.unique, spec.fields.as_slice()) {
                (true, _) => Some((at(&["unique".into()]), "a substring index cannot be unique")),
                (_, [name]) if !substring_indexable(fields, name) => Some((
                    at(&["fields".into(), 0.into()]),
                    "a substring index needs a field kept as one text (not a number, a boolean, JSON, many values or version)",
                )),
                (_, [_]) => None,
                _ => Some((at(&["fields".into()]), "a substring index names one field")),
            };
            if let Some((path, message)) = problem {
                issues.push(FieldIssue {
                    path,
                    message: message.into(),
                });
            }
        }
        let mut seen = HashSet::new();
        for (j, name) in spec.fields.iter().enumerate() {
            let bare = name.strip_prefix('-').unwrap_or(name);
            let problem = match FieldName::parse(bare) {
                _ if !seen.insert(bare) => Some(format!("`{bare}` is named twice")),
                FieldName::System(_) => None,
                FieldName::Attribute(key) => match fields.get(key) {
                    None => Some(format!("there is no field `{key}`")),
                    Some(f) if f.is_multi() || f.field_type() == FieldType::Json => Some(format!(
                        "`{key}` holds many values or JSON and cannot be indexed"
                    )),
                    Some(_) => None,
                },
            };
            if let Some(message) = problem {
                issues.push(FieldIssue {
                    path: at(&["fields".into(), j.into()]),
                    message,
                });
            }
        }
    }
}

/// Whether `name` (no `-`) is a field whose column holds one text, which a substring
/// index can serve.
fn substring_indexable(fields: &BTreeMap<String, FieldSpec>, name: &str) -> bool {
    match FieldName::parse(name) {
        FieldName::System(f) => f != crate::definition::SystemField::Version,
        FieldName::Attribute(key) => fields
            .get(key)
            .is_some_and(|f| column_type(f) == ColumnType::Text),
    }
}

/// The sort indexes of a definition: `(created_at, id)`, `(updated_at, id)`, and
/// `(field, id, carried columns…)` for each indexed field (and single relationships). With
/// the id, a sort on the column and its id tie-break comes straight from the index. They depend on several
/// fields, so a schema change drops them all first ([`drop_sort_indexes`]) and rebuilds
/// them last.
pub(crate) fn sort_indexes(table: &str, fields: &BTreeMap<String, FieldSpec>) -> Vec<SchemaChange> {
    let system = SORTED_SYSTEM_COLUMNS
        .iter()
        .map(|c| (system_index(table, c), c.to_string(), ""));
    let own = fields
        .iter()
        .filter(|(_, f)| has_sort_index(f))
        .map(|(k, _)| (field_index(table, k), column_of(k), k.as_str()));
    system
        .chain(own)
        .map(|(name, column, key)| {
            // The system indexes stay narrow, `(column, id)`: every write adds to them.
            let carried = match key {
                "" => Vec::new(),
                key => carried_columns(fields, key),
            };
            SchemaChange::CreateIndex {
                name,
                table: table.into(),
                columns: [column, "id".into()].into_iter().chain(carried).collect(),
            }
        })
        .collect()
}

pub(crate) fn drop_sort_indexes(
    table: &str,
    fields: &BTreeMap<String, FieldSpec>,
) -> Vec<SchemaChange> {
    SORTED_SYSTEM_COLUMNS
        .iter()
        .map(|c| system_index(table, c))
        .chain(fields.keys().map(|k| field_index(table, k)))
        .map(|name| SchemaChange::DropIndex { name })
        .collect()
}

/// Record tables whose shape (search layout, system sort indexes) was found as this
/// version wants it: each is looked at once per process, not at every write. Only what was
/// found so is kept, since a fix made in a transaction may still be rolled back. (Table
/// names hold the definition's id, unique across workspaces.)
static SHAPE_FOUND: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

/// Brings a table made by an older version to this version's shape before a write: the
/// search index's layout and the system sort indexes.
pub(crate) fn ensure_shape(tx: &Tx<'_>, def: &DataDefinition) -> DomainResult<()> {
    let key = format!("{}:{:?}", def.table, search_columns(&def.fields));
    if SHAPE_FOUND
        .lock()
        .expect("shape cache poisoned")
        .contains(&key)
    {
        return Ok(());
    }
    if fix_shape(tx, def)? {
        SHAPE_FOUND
            .lock()
            .expect("shape cache poisoned")
            .insert(key);
    }
    Ok(())
}

/// [`ensure_shape`] without the cache; whether the table was in shape already.
pub(crate) fn fix_shape(tx: &Tx<'_>, def: &DataDefinition) -> DomainResult<bool> {
    let mut current = search::ensure(tx, &def.table, &search_columns(&def.fields))?;
    let have = andibase_storage::schema::index_names(tx, &def.table)?;
    if SORTED_SYSTEM_COLUMNS
        .iter()
        .any(|c| !have.contains(&system_index(&def.table, c)))
    {
        current = false;
        andibase_storage::schema::apply(tx, &sort_indexes(&def.table, &def.fields))?;
    }
    Ok(current)
}

/// Tables smaller than this get no statistics (every plan is fast on them).
const ANALYZE_FROM_ROWS: i64 = 1_000;

/// After a batch grew `def`'s table from about `rows_before` rows by `created`: gathers
/// the planner's statistics when the table has at least doubled since they were last
/// gathered, so the total work stays proportional to the table (1,000, 2,000, 4,000, …
/// rows), and an index is never chosen on a guess. On PostgreSQL, also vacuums it after
/// each tenth of growth, so that index-only scans (counts) find the new rows' pages
/// marked all-visible; a vacuum reads only the pages not yet marked.
pub(crate) fn after_growth(
    tx: &Tx<'_>,
    def: &DataDefinition,
    rows_before: i64,
    created: usize,
) -> DomainResult<()> {
    let rows = rows_before + created as i64;
    if rows < ANALYZE_FROM_ROWS {
        return Ok(());
    }
    // What was last gathered, kept in memory after the first look, so a single-record
    // write costs no extra query.
    let known = ANALYZED
        .lock()
        .expect("statistics cache poisoned")
        .get(&def.table)
        .copied();
    let analyzed = match known {
        Some(n) => n,
        None => andibase_storage::schema::analyzed_rows(tx, &def.table)?.unwrap_or(0),
    };
    let analyzed = if rows >= 2 * analyzed {
        andibase_storage::schema::analyze(tx, &def.table)?;
        rows
    } else {
        analyzed
    };
    ANALYZED
        .lock()
        .expect("statistics cache poisoned")
        .insert(def.table.clone(), analyzed);
    if tx.dialect() == andibase_storage::Dialect::Postgres {
        let mut vacuumed = VACUUMED.lock().expect("vacuum cache poisoned");
        let last = vacuumed.get(&def.table).copied().unwrap_or(0);
        if rows >= last + (last / 10).max(ANALYZE_FROM_ROWS) {
            tx.vacuum_after_commit(&def.table);
            vacuumed.insert(def.table.clone(), rows);
        }
    }
    Ok(())
}

/// Rows each table had when this process last asked for it to be vacuumed (PostgreSQL).
static VACUUMED: LazyLock<Mutex<HashMap<String, i64>>> = LazyLock::new(Default::default);

/// Rows each table had at its last statistics, as this process knows it (a rolled-back
/// analysis only delays the next one to twice the size).
static ANALYZED: LazyLock<Mutex<HashMap<String, i64>>> = LazyLock::new(Default::default);

/// After a schema change rebuilt the table's indexes: fresh statistics for them.
pub(crate) fn after_schema_change(tx: &impl Sql, def: &DataDefinition) -> DomainResult<()> {
    if search::mark(tx, &def.table)? >= ANALYZE_FROM_ROWS {
        andibase_storage::schema::analyze(tx, &def.table)?;
    }
    Ok(())
}

/// After one index was added to a table whose others are unchanged: statistics for that
/// index alone (a whole table's analysis was most of an automatic index's build time on
/// 1,000,000 records).
pub(crate) fn after_index_added(
    tx: &impl Sql,
    def: &DataDefinition,
    index: &IndexSpec,
) -> DomainResult<()> {
    if search::mark(tx, &def.table)? >= ANALYZE_FROM_ROWS {
        let name = declared_index_name(&def.table, index);
        andibase_storage::schema::analyze_index(tx, &def.table, &name, index.substring)?;
    }
    Ok(())
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

/// A definition's record table, with its unique, sort and declared indexes.
pub(crate) fn create_table(
    table: &str,
    fields: &BTreeMap<String, FieldSpec>,
    indexes: &[IndexSpec],
) -> Vec<SchemaChange> {
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
    out.extend(declared_indexes(table, fields, indexes));
    out
}

/// The record tables of every definition in `db`.
pub async fn record_tables(db: &andibase_storage::Database) -> DomainResult<Vec<String>> {
    db.read(|r| {
        Ok(crate::definition::load_all(r)?
            .into_iter()
            .map(|d| d.table)
            .collect())
    })
    .await
}

/// The record tables of every definition in `db`, made afresh and empty (each dropped
/// first, with its search index), as this version makes them; their names. For rows
/// copied in from another database (`andibase migrate-to-postgres`), after which
/// [`index_record_tables`] builds their search indexes.
pub async fn remake_record_tables(db: &andibase_storage::Database) -> DomainResult<Vec<String>> {
    db.write(|tx| {
        let defs = crate::definition::load_all(tx)?;
        for def in &defs {
            search::remove(tx, &def.table)?;
            andibase_storage::schema::apply(
                tx,
                &[SchemaChange::DropTable {
                    table: def.table.clone(),
                }],
            )?;
            andibase_storage::schema::apply(
                tx,
                &create_table(&def.table, &def.fields, &def.indexes),
            )?;
        }
        Ok(defs.into_iter().map(|d| d.table).collect())
    })
    .await
}

/// Builds every record table's search index from its rows and gathers its statistics;
/// then, on PostgreSQL, vacuums each (copied rows' pages are not marked all-visible until
/// then, and a count through an index would read the table).
pub async fn index_record_tables(db: &andibase_storage::Database) -> DomainResult<()> {
    let tables = db
        .write(|tx| {
            let mut tables = Vec::new();
            for def in crate::definition::load_all(tx)? {
                search::rebuild(tx, &def.table, &search_columns(&def.fields))?;
                fix_shape(tx, &def)?;
                andibase_storage::schema::analyze(tx, &def.table)?;
                tables.push(def.table);
            }
            Ok(tables)
        })
        .await?;
    for table in tables {
        db.vacuum(&table).await?;
    }
    Ok(())
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
pub(crate) fn index_records(tx: &Tx<'_>, def: &DataDefinition, ids: &[String]) -> DomainResult<()> {
    ensure_shape(tx, def)?;
    search::index(tx, &def.table, &search_columns(&def.fields), ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::tests::{define, scratch_db};
    use crate::{Data, Pipeline, UpsertMany};
    use andibase_common::Clock;
    use serde_json::json;
    use std::sync::Arc;

    fn plan(
        r: &andibase_storage::Reader<'_>,
        sql: &str,
        params: &[andibase_storage::Value],
    ) -> String {
        r.query(&format!("EXPLAIN QUERY PLAN {sql}"), params)
            .unwrap()
            .iter()
            .map(|row| row.text(3).unwrap())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The planner knows the data: newest-first comes from the `created_at` index, and a
    /// three-valued indexed field does not win over the sort index once statistics exist
    /// (the issue's 100× slowdown); a table made before gets its system indexes back at the
    /// next write.
    #[tokio::test]
    async fn sorts_and_filters_use_the_index_that_serves_them() {
        let (_dir, db) = scratch_db("plans").await;
        let (hooks, definitions): (Pipeline, Arc<dyn crate::DefinitionCache>) = (
            Pipeline::default(),
            Arc::new(crate::LocalDefinitionCache::default()),
        );
        let data = Data {
            db: &db,
            workspace_handle: "w",
            hooks: &hooks,
            role: Role::Admin,
            definitions: &definitions,
            usage: &Default::default(),
        };
        define(&data, "Tickets", json!({"status": {"type": "text", "indexed": true}, "amount": {"type": "number", "indexed": true}})).await;
        let write = |from: usize, n: usize| {
            let records: Vec<serde_json::Value> = (from..from + n)
                .map(|i| {
                    let status = ["open", "closed", "pending"][i % 3];
                    let amount = (i * 7919 % 1000) as f64;
                    json!({"id": format!("t{i:05}"), "attributes": {"status": status, "amount": amount}})
                })
                .collect();
            UpsertMany {
                records: serde_json::from_value(json!(records)).unwrap(),
                match_on: None,
                mode: Default::default(),
            }
        };
        for (from, n) in [
            (0, 1000),
            (1000, 1000),
            (2000, 1000),
            (3000, 1000),
            (4000, 500),
        ] {
            data.upsert_many("tickets", write(from, n), "t", Clock::system().now())
                .await
                .unwrap();
        }
        let table = data.get_definition("tickets").await.unwrap().table;
        let q = andibase_storage::quote_ident(&table);
        let (newest, filtered) = (
            format!("SELECT t.id FROM {q} t WHERE t.deleted_at IS NULL ORDER BY t.created_at DESC, t.id DESC LIMIT 51"),
            format!("SELECT t.id FROM {q} t WHERE t.deleted_at IS NULL AND t.\"f_status\" = ? AND t.\"f_amount\" > ? ORDER BY t.\"f_amount\" DESC, t.id DESC LIMIT 51"),
        );
        let page_after = format!("SELECT t.id FROM {q} t WHERE t.deleted_at IS NULL AND ((t.created_at, t.id) < (?, ?)) ORDER BY t.created_at DESC, t.id DESC LIMIT 51");
        let t = table.clone();
        let (p1, p2, p3, analyzed) = db
            .read(move |r| {
                Ok((
                    plan(r, &newest, &[]),
                    plan(
                        r,
                        &filtered,
                        &["open".into(), andibase_storage::Value::Real(500.0)],
                    ),
                    plan(r, &page_after, &["2026".into(), "t".into()]),
                    andibase_storage::schema::analyzed_rows(r, &t)?,
                ))
            })
            .await
            .unwrap();
        assert!(
            p1.contains(&format!("ix_{table}__created_at")) && !p1.contains("TEMP B-TREE"),
            "{p1}"
        );
        assert!(
            p2.contains(&format!("ix_{table}_amount")) && !p2.contains("TEMP B-TREE"),
            "{p2}"
        );
        assert!(
            p3.contains(&format!("ix_{table}__created_at")) && p3.contains("<"),
            "the cursor is a range: {p3}"
        );
        assert_eq!(
            analyzed,
            Some(4000),
            "statistics were gathered at 1,000, 2,000 and 4,000 rows"
        );

        // `status = "open"` alone, sorted by `-amount`: the status index (a third of the
        // rows) is avoided, so the page walks the amount index and stops at its end.
        let def = data.get_definition("tickets").await.unwrap();
        let (avoid, p4) = db
            .read(move |r| {
                let keys = crate::query::sort_keys(&def, Some("-amount"), Role::Admin)?;
                let avoid = crate::query::crowded_indexes(r, &def, &keys)?;
                let filter = Some("status = \"open\"");
                let (filter, params) =
                    crate::query::filter_sql_avoiding(r.dialect(), &[], &def, filter, Role::Admin, &avoid)?;
                let q = andibase_storage::quote_ident(&def.table);
                let sql = format!("SELECT t.id FROM {q} t WHERE t.deleted_at IS NULL AND {filter} ORDER BY t.\"f_amount\" DESC, t.id DESC LIMIT 51");
                Ok((avoid, plan(r, &sql, &params)))
            })
            .await
            .unwrap();
        assert_eq!(avoid, ["f_status"]);
        assert!(
            p4.contains(&format!("ix_{table}_amount")) && !p4.contains("TEMP B-TREE"),
            "{p4}"
        );

        // A declared `(status, -amount)` index serves the filter and the sort together: the
        // status test is no longer kept off indexes, and the page reads that index alone.
        let patch = serde_json::from_value(json!({"indexes": [{"fields": ["status", "-amount"]}]}))
            .unwrap();
        let def = data
            .update_definition("tickets", patch, Clock::system().now())
            .await
            .unwrap();
        let declared = declared_index_name(&def.table, &def.indexes[0]);
        let (avoid, p5) = db
            .read(move |r| {
                let keys = crate::query::sort_keys(&def, Some("-amount"), Role::Admin)?;
                let avoid = crate::query::crowded_indexes(r, &def, &keys)?;
                let (filter, params) = crate::query::filter_sql_avoiding(
                    r.dialect(),
                    &[],
                    &def,
                    Some("status = \"open\""),
                    Role::Admin,
                    &avoid,
                )?;
                let q = andibase_storage::quote_ident(&def.table);
                let sql = format!("SELECT t.id FROM {q} t WHERE t.deleted_at IS NULL AND {filter} ORDER BY t.\"f_amount\" DESC, t.id DESC LIMIT 51");
                Ok((avoid, plan(r, &sql, &params)))
            })
            .await
            .unwrap();
        assert!(avoid.is_empty(), "{avoid:?}");
        assert!(
            p5.contains(&declared) && !p5.contains("TEMP B-TREE"),
            "{p5}"
        );

        // A table as an older version left it: no system indexes. The next write adds them.
        let t = table.clone();
        db.write(move |tx| {
            andibase_storage::schema::apply(tx, &drop_sort_indexes(&t, &Default::default()))
        })
        .await
        .unwrap();
        SHAPE_FOUND.lock().unwrap().clear();
        data.upsert_many("tickets", write(9000, 1), "t", Clock::system().now())
            .await
            .unwrap();
        let t = table.clone();
        let have: Vec<String> = db
            .read(move |r| {
                r.query(
                    "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?",
                    &[t.into()],
                )?
                .iter()
                .map(|row| row.text(0))
                .collect()
            })
            .await
            .unwrap();
        assert!(
            have.contains(&format!("ix_{table}__created_at"))
                && have.contains(&format!("ix_{table}__updated_at")),
            "{have:?}"
        );
    }
}
