//! Queries: the filter language over a definition's table, multi-key sort with NULLs last,
//! keyset cursors that stay stable while rows are inserted, opt-in totals, projection.

use andibase_common::{DomainError, DomainResult, FieldIssue, Role};
use andibase_filter::{
    compile, parse_json, parse_text, FieldKind, Hop, Predicate, ResolvedField, Schema,
};
use andibase_storage::{
    quote_ident, render_predicate_avoiding, Columns, Dialect, Row, Value as SqlValue, ValueRef,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::definition::{
    column_of, DataDefinition, FieldName, FieldType, SystemField, ATTRIBUTE_PREFIX,
};
use crate::hooks::hidden_from;
use crate::value::{shown_datetime, to_json};

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryParams {
    /// The filter, in the text spelling (`status = "open" && amount > 100`) or as JSON. A
    /// bare system name (`createdAt`) is the record's own field; `attributes.<key>` is
    /// always the attribute.
    #[serde(default)]
    pub filter: Option<String>,
    /// Comma-separated keys, `-` for descending: `-amount,name`. Ties break by id. Names
    /// as in `filter` (`-attributes.createdAt` sorts on the attribute).
    #[serde(default)]
    pub sort: Option<String>,
    /// 1–1000, default 50.
    #[serde(default)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// `true` (or `exact`): also count every matching record (a second query, which reads
    /// every match). `estimate`: count exactly up to 1,000 matches, and past that estimate
    /// from a sample of the table, saying `totalEstimated: true`.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub count: Option<Count>,
    /// Comma-separated attribute keys to return (default: all).
    #[serde(default)]
    pub fields: Option<String>,
    /// Include soft-deleted records.
    #[serde(default)]
    pub include_deleted: Option<bool>,
    /// Full-text search over the name and text fields: every word must match (as a prefix).
    #[serde(default)]
    pub search: Option<String>,
    /// Comma-separated relationship fields to replace by the related records.
    #[serde(default)]
    pub expand: Option<String>,
}

/// Whether and how a list counts what matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Count {
    #[default]
    No,
    Exact,
    Estimate,
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        // A query string brings text; JSON (the console, tests) may bring a boolean.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Flag(bool),
            Word(String),
        }
        let word = match Given::deserialize(d)? {
            Given::Flag(on) => on.to_string(),
            Given::Word(w) => w,
        };
        match word.as_str() {
            "false" => Ok(Count::No),
            "true" | "exact" => Ok(Count::Exact),
            "estimate" => Ok(Count::Estimate),
            other => Err(serde::de::Error::custom(format!(
                "`{other}` is not true, false, exact or estimate"
            ))),
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// Present (`true`) when `total` is an estimate (`count=estimate` past 1,000 matches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_estimated: Option<bool>,
}

/// Matches counted exactly before `count=estimate` estimates.
const EXACT_UP_TO: i64 = 1_000;
/// Rows an estimate reads: this many runs of [`SAMPLE_RUN`] rowids spread over the table
/// (2,048 rows: a share of a third is then known to about ±2%).
const SAMPLE_RUNS: i64 = 32;
const SAMPLE_RUN: i64 = 64;

/// How many rows of `table` match `condition` (on the row aliased `t`), as `mode` asks,
/// and whether that is an estimate.
pub(crate) fn count_matches(
    r: &impl andibase_storage::Sql,
    table: &str,
    condition: &str,
    params: &[SqlValue],
    mode: Count,
) -> DomainResult<Option<(i64, bool)>> {
    let t = quote_ident(table);
    let count = |sql: String, params: &[SqlValue]| -> DomainResult<i64> {
        r.query_one(&sql, params)?.map_or(Ok(0), |row| row.int(0))
    };
    match mode {
        Count::No => Ok(None),
        Count::Exact => Ok(Some((
            count(
                format!("SELECT count(*) FROM {t} t WHERE {condition}"),
                params,
            )?,
            false,
        ))),
        Count::Estimate => {
            let first = count(
                format!(
                    "SELECT count(*) FROM (SELECT 1 FROM {t} t WHERE {condition} LIMIT {}) AS matches",
                    EXACT_UP_TO + 1
                ),
                params,
            )?;
            if first <= EXACT_UP_TO {
                return Ok(Some((first, false)));
            }
            // Runs of rows by rowid, spread evenly from the first to the last: the share
            // of them that match, times the rows there are. (`min` and `max` in one
            // SELECT read the whole table; apart, each is one b-tree descent.)
            let (low, high) = r
                .query_one(
                    &format!("SELECT (SELECT min(rowid) FROM {t}), (SELECT max(rowid) FROM {t})"),
                    &[],
                )?
                .map_or(Ok((0, 0)), |row| {
                    Ok::<_, DomainError>((row.int(0)?, row.int(1)?))
                })?;
            let span = (high - low + 1).max(1);
            let step = (span / SAMPLE_RUNS).max(SAMPLE_RUN);
            let (mut ranges, mut range_params, mut sampled) = (Vec::new(), Vec::new(), 0);
            let mut start = low;
            while start <= high {
                ranges.push("t.rowid BETWEEN ? AND ?");
                range_params.extend([
                    SqlValue::Integer(start),
                    SqlValue::Integer(start + SAMPLE_RUN - 1),
                ]);
                sampled += SAMPLE_RUN;
                start += step;
            }
            // One statement reading each range of the rowid b-tree in turn, and no field
            // index, which would read every match instead: SQLite is told `NOT INDEXED`;
            // PostgreSQL, which ANDed the ranges with a bitmap of every match (5.3 ms
            // against 2.0 ms for 39,000 matches), gets the ranges as a subquery it may not
            // merge into the condition (`OFFSET 0`).
            let ranges = ranges.join(" OR ");
            let sql = match r.dialect() {
                andibase_storage::Dialect::Sqlite => {
                    format!("SELECT count(*) FROM {t} t NOT INDEXED WHERE ({ranges}) AND {condition}")
                }
                andibase_storage::Dialect::Postgres => format!(
                    "SELECT count(*) FROM (SELECT * FROM {t} t WHERE {ranges} OFFSET 0) t WHERE {condition}"
                ),
            };
            let matched = count(sql, &[range_params, params.to_vec()].concat())?;
            // Matches per rowid sampled, times the rowids there are (rows removed leave
            // gaps, which the sample sees as rows that do not match).
            let estimate = (matched as f64 * span as f64 / sampled.min(span) as f64).round() as i64;
            Ok(Some((estimate.max(first), true)))
        }
    }
}

/// The filter language's view of a definition and the definitions it relates to.
/// Fields hidden from `role` do not exist in it: they cannot be filtered, sorted on,
/// chosen, expanded or followed, and are named "no field" like a missing one, so a
/// refusal tells nothing either.
pub(crate) struct DefinitionSchema<'a> {
    pub all: &'a [DataDefinition],
    pub def: &'a DataDefinition,
    pub role: Role,
}

/// The field `key` of `def` as `role` sees it: none when it is missing or hidden.
pub(crate) fn visible_field<'d>(
    def: &'d DataDefinition,
    key: &str,
    role: Role,
) -> Option<&'d crate::definition::FieldSpec> {
    def.fields.get(key).filter(|f| !hidden_from(f, role))
}

fn system_kind(f: SystemField) -> FieldKind {
    match f {
        SystemField::CreatedAt | SystemField::UpdatedAt | SystemField::DeletedAt => {
            FieldKind::DateTime
        }
        SystemField::Version => FieldKind::Number,
        _ => FieldKind::Text,
    }
}

pub(crate) fn kind_of(t: FieldType, many: bool) -> FieldKind {
    match t {
        FieldType::Number => FieldKind::Number,
        FieldType::Boolean => FieldKind::Boolean,
        FieldType::Date => FieldKind::Date,
        FieldType::DateTime => FieldKind::DateTime,
        FieldType::MultiSelect => FieldKind::Multi,
        FieldType::Relationship if many => FieldKind::Multi,
        FieldType::Json => FieldKind::Json,
        _ => FieldKind::Text,
    }
}

impl Schema for DefinitionSchema<'_> {
    /// A path is segments joined by dots; at each step `attributes.<key>` names an
    /// attribute whatever its key, and a bare system name (`createdAt`) the record's own
    /// field (see [`FieldName`]).
    fn resolve(&self, path: &[String]) -> Result<ResolvedField, String> {
        let mut def = self.def;
        let mut hops = Vec::new();
        let mut rest = path;
        while let Some((first, tail)) = rest.split_first() {
            let (name, tail) = match tail.split_first() {
                Some((key, tail)) if first == "attributes" => (FieldName::Attribute(key), tail),
                _ => (FieldName::parse(first), tail),
            };
            rest = tail;
            let key = match name {
                FieldName::System(field) if rest.is_empty() => {
                    return Ok(ResolvedField {
                        hops,
                        column: field.column().into(),
                        kind: system_kind(field),
                    })
                }
                FieldName::System(field) => {
                    return Err(format!("`{}` is not a relationship", field.name()))
                }
                FieldName::Attribute(key) => key,
            };
            let spec = visible_field(def, key, self.role)
                .ok_or_else(|| format!("`{}` has no field `{key}`", def.handle))?;
            if rest.is_empty() {
                return Ok(ResolvedField {
                    hops,
                    column: column_of(key),
                    kind: kind_of(spec.field_type(), spec.many),
                });
            }
            if spec.field_type() != FieldType::Relationship {
                return Err(format!("`{key}` is not a relationship"));
            }
            let target_id = spec.data_definition_id.clone().unwrap_or_default();
            let target = self
                .all
                .iter()
                .find(|d| d.id == target_id)
                .ok_or_else(|| format!("the target of `{key}` no longer exists"))?;
            hops.push(Hop {
                local_column: column_of(key),
                many: spec.many,
                target_table: target.table.clone(),
                live_column: Some("deleted_at".into()),
            });
            def = target;
        }
        Err("empty field path".into())
    }
}

/// Parses the `filter` parameter (text, or JSON when it starts with `{`) and compiles it.
pub(crate) fn filter_sql(
    dialect: Dialect,
    all: &[DataDefinition],
    def: &DataDefinition,
    filter: Option<&str>,
    role: Role,
) -> DomainResult<(String, Vec<SqlValue>)> {
    filter_sql_avoiding(dialect, all, def, filter, role, &[])
}

/// [`filter_sql`], with the tests on the `avoid` columns kept off their indexes (see
/// `storage::render_predicate_avoiding`).
pub(crate) fn filter_sql_avoiding(
    dialect: Dialect,
    all: &[DataDefinition],
    def: &DataDefinition,
    filter: Option<&str>,
    role: Role,
    avoid: &[String],
) -> DomainResult<(String, Vec<SqlValue>)> {
    Ok(render(
        dialect,
        compile_filter(all, def, filter, role)?.as_ref(),
        avoid,
    ))
}

/// A compiled filter in SQL on the row aliased `t`, with the tests on the `avoid` columns
/// kept off their indexes; `TRUE` for none.
pub(crate) fn render(
    dialect: Dialect,
    predicate: Option<&Predicate>,
    avoid: &[String],
) -> (String, Vec<SqlValue>) {
    match predicate {
        None => ("TRUE".into(), vec![]),
        Some(p) => {
            let rendered = render_predicate_avoiding(dialect, p, "t", avoid);
            (rendered.sql, rendered.params)
        }
    }
}

/// Parses the `filter` parameter (text, or JSON when it starts with `{`) and compiles it
/// against the definition as `role` sees it; none for an empty filter.
pub(crate) fn compile_filter(
    all: &[DataDefinition],
    def: &DataDefinition,
    filter: Option<&str>,
    role: Role,
) -> DomainResult<Option<Predicate>> {
    let Some(src) = filter.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let parsed = if src.starts_with('{') {
        let v: Value = serde_json::from_str(src).map_err(|e| {
            DomainError::from_issues(vec![FieldIssue::at(
                ["filter"],
                format!("is not valid JSON: {e}"),
            )])
        })?;
        parse_json(&v)
    } else {
        parse_text(src)
    }
    .map_err(|e| DomainError::from_issues(vec![FieldIssue::at(["filter"], e.to_string())]))?;
    compile(&parsed, &DefinitionSchema { all, def, role })
        .map(Some)
        .map_err(|e| DomainError::from_issues(vec![FieldIssue::at(["filter"], e.to_string())]))
}

/// Columns whose own index would serve a page sorted by `keys` worse than the sort's
/// index: when the first sort key has an index, a field index whose value matches at
/// least 1% of the rows (by the table's statistics). SQLite would filter through it and
/// sort every match; walking the sort's index stops at the page's end instead. (The
/// `status = "open"` sorted by `-amount` of issue 14: 33,334 matches sorted per page.)
pub(crate) fn crowded_indexes(
    r: &impl andibase_storage::Sql,
    def: &DataDefinition,
    keys: &[SortKey],
) -> DomainResult<Vec<String>> {
    let first = &keys[0].column;
    if !crate::tables::sorts_by_index(def, first) {
        return Ok(Vec::new());
    }
    // A declared index that puts the column before the sort's key serves both together
    // (`(status, -amount)` for `status = "open"` sorted by `-amount`): keep it usable.
    let served_with_sort = |column: &str| {
        crate::tables::declared_keys(def).any(|keys| {
            let at = keys.iter().position(|k| k.column == *first);
            at.is_some_and(|at| keys[..at].iter().any(|k| k.column == column))
        })
    };
    let stats = andibase_storage::schema::index_statistics(r, &def.table)?;
    Ok(def
        .fields
        .iter()
        .filter(|(k, f)| {
            crate::tables::has_sort_index(f)
                && column_of(k) != *first
                && !served_with_sort(&column_of(k))
        })
        .filter(|(k, _)| {
            let index = crate::tables::field_index(&def.table, k);
            stats
                .iter()
                .find(|(name, _, _)| *name == index)
                .is_some_and(|(_, rows, per_value)| *per_value * 100 >= *rows)
        })
        .map(|(k, _)| column_of(k))
        .collect())
}

/// A sort key: its column, direction, and whether it can be NULL.
pub(crate) struct SortKey {
    column: String,
    desc: bool,
    nullable: bool,
}

impl SortKey {
    pub fn column(&self) -> &str {
        &self.column
    }

    pub fn desc(&self) -> bool {
        self.desc
    }
}

pub(crate) fn sort_keys(
    def: &DataDefinition,
    sort: Option<&str>,
    role: Role,
) -> DomainResult<Vec<SortKey>> {
    let mut keys = Vec::new();
    for raw in sort
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (desc, key) = raw.strip_prefix('-').map_or((false, raw), |k| (true, k));
        let key = key.strip_prefix('+').unwrap_or(key);
        let (column, nullable) = match FieldName::parse(key) {
            FieldName::System(field) => (field.column().to_string(), field.nullable()),
            FieldName::Attribute(key) => match visible_field(def, key, role) {
                Some(spec) if !spec.is_multi() && spec.field_type() != FieldType::Json => {
                    (column_of(key), true)
                }
                Some(_) => {
                    return Err(DomainError::from_issues(vec![FieldIssue::at(
                        ["sort"],
                        format!("`{key}` holds many values or JSON and cannot be sorted on"),
                    )]))
                }
                None => {
                    return Err(DomainError::from_issues(vec![FieldIssue::at(
                        ["sort"],
                        format!("`{}` has no field `{key}`", def.handle),
                    )]))
                }
            },
        };
        keys.push(SortKey {
            column,
            desc,
            nullable,
        });
    }
    if keys.len() > 8 {
        return Err(DomainError::from_issues(vec![FieldIssue::at(
            ["sort"],
            "at most 8 sort keys",
        )]));
    }
    if keys.last().is_none_or(|k| k.column != "id") {
        // Ties break by id in the last key's direction, so `(column, id)` indexes serve both.
        let desc = keys.last().is_some_and(|k| k.desc);
        keys.push(SortKey {
            column: "id".into(),
            desc,
            nullable: false,
        });
    }
    Ok(keys)
}

/// NULLs sort last in both directions. SQLite puts NULL lowest, so a descending key gets
/// that for free (and keeps using its index); an ascending one says `NULLS LAST`.
pub(crate) fn order_by(keys: &[SortKey]) -> String {
    keys.iter()
        .map(|k| {
            let col = format!("t.{}", quote_ident(&k.column));
            match (k.desc, k.nullable) {
                (true, _) => format!("{col} DESC"),
                (false, true) => format!("{col} ASC NULLS LAST"),
                (false, false) => format!("{col} ASC"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn hex(s: &str) -> String {
    andibase_common::hex::encode(s.as_bytes())
}

fn unhex(s: &str) -> Option<String> {
    String::from_utf8(andibase_common::hex::decode(s)?).ok()
}

fn sql_to_json(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null | SqlValue::Blob(_) => Value::Null,
        SqlValue::Integer(i) => json!(i),
        SqlValue::Real(f) => json!(f),
        SqlValue::Text(s) => json!(s),
    }
}

fn json_to_sql(v: &Value) -> Option<SqlValue> {
    Some(match v {
        Value::Null => SqlValue::Null,
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Number(n) if n.is_i64() => SqlValue::Integer(n.as_i64()?),
        Value::Number(n) => SqlValue::Real(n.as_f64()?),
        _ => return None,
    })
}

/// The opaque cursor after `row`, whose first `keys.len()` columns are the sort keys.
pub(crate) fn cursor_after(row: &impl Columns, keys: &[SortKey]) -> String {
    let values: Vec<Value> = (0..keys.len())
        .map(|i| sql_to_json(&row.get(i).to_value()))
        .collect();
    hex(&Value::Array(values).to_string())
}

/// The `WHERE` part that continues after a cursor.
pub(crate) fn keyset(keys: &[SortKey], cursor: &str) -> DomainResult<(String, Vec<SqlValue>)> {
    let bad = || {
        DomainError::from_issues(vec![FieldIssue::at(
            ["cursor"],
            "is not a cursor of this query (sort and cursor must match)",
        )])
    };
    let values: Vec<Value> = unhex(cursor)
        .and_then(|s| serde_json::from_str(&s).ok())
        .ok_or_else(bad)?;
    if values.len() != keys.len() {
        return Err(bad());
    }
    let values: Vec<SqlValue> = values
        .iter()
        .map(json_to_sql)
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    // Keys that cannot be NULL, all one way (`-createdAt` and its id tie-break): one
    // row-value comparison, which SQLite serves as a range of the `(column, id)` index
    // instead of reading every row before the cursor.
    let same_way = keys.iter().all(|k| k.desc == keys[0].desc);
    let no_nulls = keys.iter().all(|k| !k.nullable) && !values.contains(&SqlValue::Null);
    if same_way && no_nulls {
        let cols: Vec<String> = keys
            .iter()
            .map(|k| format!("t.{}", quote_ident(&k.column)))
            .collect();
        let marks = vec!["?"; keys.len()].join(", ");
        let cmp = if keys[0].desc { "<" } else { ">" };
        return Ok((format!("(({}) {cmp} ({marks}))", cols.join(", ")), values));
    }
    let mut ors = Vec::new();
    let mut params = Vec::new();
    for i in 0..keys.len() {
        let mut parts = Vec::new();
        let mut p = Vec::new();
        for j in 0..i {
            parts.push(format!(
                "t.{} IS NOT DISTINCT FROM ?",
                quote_ident(&keys[j].column)
            ));
            p.push(values[j].clone());
        }
        let k = &keys[i];
        let col = format!("t.{}", quote_ident(&k.column));
        let cmp = if k.desc { "<" } else { ">" };
        match (&values[i], k.nullable) {
            // NULLs sort last: nothing but other NULLs (ties) comes after a NULL.
            (SqlValue::Null, _) => continue,
            (v, true) => {
                parts.push(format!("({col} {cmp} ? OR {col} IS NULL)"));
                p.push(v.clone());
            }
            (v, false) => {
                parts.push(format!("{col} {cmp} ?"));
                p.push(v.clone());
            }
        }
        ors.push(format!("({})", parts.join(" AND ")));
        params.extend(p);
    }
    if ors.is_empty() {
        return Ok(("FALSE".into(), vec![]));
    }
    Ok((format!("({})", ors.join(" OR ")), params))
}

/// Columns selected for records, after the sort keys.
pub(crate) fn record_columns(def: &DataDefinition) -> String {
    let fields: String = def
        .fields
        .keys()
        .map(|k| format!(", t.{}", quote_ident(&column_of(k))))
        .collect();
    format!("t.id, t.name, t.created_at, t.updated_at, t.deleted_at, t.created_by, t.updated_by, t.version{fields}")
}

/// A record row (from `offset` on) as the API shows it; `only` limits the attributes.
pub(crate) fn record_json(
    def: &DataDefinition,
    row: &Row,
    offset: usize,
    only: Option<&[String]>,
) -> Value {
    let mut attrs = Map::new();
    for (i, (key, spec)) in def.fields.iter().enumerate() {
        if only.is_none_or(|o| o.contains(key)) {
            attrs.insert(key.clone(), to_json(spec, row.value(offset + 8 + i)));
        }
    }
    let at = |i: usize| sql_to_json(row.value(offset + i));
    json!({
        "id": at(0),
        "name": at(1),
        "attributes": attrs,
        "createdAt": at(2),
        "updatedAt": at(3),
        "deletedAt": at(4),
        "createdBy": at(5),
        "updatedBy": at(6),
        "version": at(7),
    })
}

/// Writes one JSON value for a column without building a `Value` (the list fast path).
fn write_sql(out: &mut Vec<u8>, v: &ValueRef<'_>) {
    match v {
        ValueRef::Null | ValueRef::Blob(_) => out.extend_from_slice(b"null"),
        ValueRef::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        ValueRef::Real(f) => write_value(out, &json!(f)),
        ValueRef::Text(s) => write_value(out, s),
    }
}

fn write_value(out: &mut Vec<u8>, v: &impl serde::Serialize) {
    // Writing to a Vec cannot fail; a value that cannot serialize shows as null.
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// A field's value as `to_json` shows it, written straight from the column.
fn write_field(out: &mut Vec<u8>, spec: &crate::definition::FieldSpec, v: &ValueRef<'_>) {
    use crate::definition::FieldType;
    match (v, spec.field_type()) {
        (ValueRef::Integer(i), FieldType::Boolean) => {
            out.extend_from_slice(if *i != 0 { b"true" } else { b"false" })
        }
        (ValueRef::Real(f), FieldType::Number) if f.fract() == 0.0 && f.abs() < 9e15 => {
            out.extend_from_slice((*f as i64).to_string().as_bytes())
        }
        (ValueRef::Text(s), t) if spec.is_multi() || t == FieldType::Json => {
            // Stored as JSON text by this crate; checked, not parsed into a tree.
            if serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok() {
                out.extend_from_slice(s.as_bytes());
            } else {
                out.extend_from_slice(b"null");
            }
        }
        (ValueRef::Text(s), FieldType::DateTime) => write_value(out, &shown_datetime(s)),
        _ => write_sql(out, v),
    }
}

/// The same record `record_json` builds, written as JSON bytes straight from the row, with
/// the fields `hidden` says to leave out. Keys in the same (sorted) order.
pub(crate) fn write_record(
    out: &mut Vec<u8>,
    def: &DataDefinition,
    row: &impl Columns,
    offset: usize,
    only: Option<&[String]>,
    hidden: impl Fn(&crate::definition::FieldSpec) -> bool,
) {
    out.extend_from_slice(b"{\"attributes\":{");
    let mut first = true;
    for (i, (key, spec)) in def.fields.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(key)) || hidden(spec) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_value(out, key);
        out.push(b':');
        write_field(out, spec, &row.get(offset + 8 + i));
    }
    out.push(b'}');
    for (name, i) in [
        ("createdAt", 2),
        ("createdBy", 5),
        ("deletedAt", 4),
        ("id", 0),
        ("name", 1),
        ("updatedAt", 3),
        ("updatedBy", 6),
        ("version", 7),
    ] {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        write_sql(out, &row.get(offset + i));
    }
    out.push(b'}');
}

/// Checks a `fields` projection against the definition.
pub(crate) fn projection(
    def: &DataDefinition,
    fields: Option<&str>,
    role: Role,
) -> DomainResult<Option<Vec<String>>> {
    let Some(list) = fields.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    // Only attributes are chosen, so `createdAt` here is the attribute of that key.
    let keys: Vec<String> = list
        .split(',')
        .map(|s| s.trim())
        .map(|s| s.strip_prefix(ATTRIBUTE_PREFIX).unwrap_or(s).to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for k in &keys {
        if visible_field(def, k, role).is_none() {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["fields"],
                format!("`{}` has no field `{k}`", def.handle),
            )]));
        }
    }
    Ok(Some(keys))
}

/// Checks an `expand` list: relationship fields only.
pub(crate) fn expansion(
    def: &DataDefinition,
    expand: Option<&str>,
    role: Role,
) -> DomainResult<Vec<String>> {
    let keys: Vec<String> = expand
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for k in &keys {
        if visible_field(def, k, role).is_none_or(|f| f.field_type() != FieldType::Relationship) {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["expand"],
                format!("`{k}` is not a relationship field of `{}`", def.handle),
            )]));
        }
    }
    Ok(keys)
}

/// Replaces relationship ids in `items` by the related (live) records.
pub(crate) fn expand_related(
    r: &impl andibase_storage::Sql,
    all: &[DataDefinition],
    def: &DataDefinition,
    keys: &[String],
    items: &mut [Value],
    hooks: &crate::hooks::Pipeline,
    role: Role,
) -> DomainResult<()> {
    for key in keys {
        let spec = &def.fields[key];
        let Some(target) = all
            .iter()
            .find(|d| Some(&d.id) == spec.data_definition_id.as_ref())
        else {
            continue;
        };
        let mut ids: Vec<String> = Vec::new();
        for item in items.iter() {
            match &item["attributes"][key] {
                Value::String(s) => ids.push(s.clone()),
                Value::Array(list) => {
                    ids.extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)))
                }
                _ => {}
            }
        }
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            continue;
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let rows = r.query(
            &format!(
                "SELECT {} FROM {} t WHERE t.deleted_at IS NULL AND t.id IN ({marks})",
                record_columns(target),
                quote_ident(&target.table)
            ),
            &ids.iter()
                .map(|i| SqlValue::Text(i.clone()))
                .collect::<Vec<_>>(),
        )?;
        // Related records go through the read hooks too (redaction of their hidden fields).
        let ctx = crate::hooks::HookContext {
            definition: target,
            caller: crate::hooks::Caller { actor: "", role },
        };
        let found: std::collections::HashMap<String, Value> = rows
            .iter()
            .map(|row| {
                let mut rec = record_json(target, row, 0, None);
                hooks.after_read(&ctx, &mut rec);
                (row.text(0).unwrap_or_default(), rec)
            })
            .collect();
        for item in items.iter_mut() {
            let replaced = match &item["attributes"][key] {
                Value::String(s) => found.get(s).cloned().unwrap_or(Value::Null),
                Value::Array(list) => Value::Array(
                    list.iter()
                        .filter_map(|v| v.as_str().and_then(|s| found.get(s).cloned()))
                        .collect(),
                ),
                other => other.clone(),
            };
            item["attributes"][key] = replaced;
        }
    }
    Ok(())
}
