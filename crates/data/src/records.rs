//! The data service over one workspace's database: definitions and their records. Every
//! operation is one transaction: a batch with one bad record writes nothing.

use std::sync::Arc;

use andibase_common::{DomainError, DomainResult, FieldIssue, Role, Timestamp};
use andibase_storage::{params, quote_ident, search, Database, Sql, Tx, Value as SqlValue};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::definition::*;
use crate::hooks::{hidden_from, Caller, HookContext, Pipeline, WriteKind};
use crate::query::*;
use crate::tables::{fix_shape, index_records, search_columns, searchable_by};
use crate::usage::Shape;
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
    /// The caller's role, for read hooks such as redaction.
    pub role: Role,
    /// Where parsed definitions are kept between reads.
    pub definitions: &'a Arc<dyn DefinitionCache>,
    /// The slow query shapes this process has seen, and how it follows them.
    pub usage: &'a Arc<crate::usage::QueryLog>,
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

/// A list request checked against its definition as the caller's role sees it.
struct ListPlan {
    limit: i64,
    only: Option<Vec<String>>,
    keys: Vec<SortKey>,
    predicate: Option<andibase_filter::Predicate>,
}

impl ListPlan {
    fn new(
        all: &[DataDefinition],
        def: &DataDefinition,
        q: &QueryParams,
        role: Role,
    ) -> DomainResult<ListPlan> {
        let limit = q.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["limit"],
                "must be 1 to 1000",
            )]));
        }
        Ok(ListPlan {
            limit,
            only: projection(def, q.fields.as_deref(), role)?,
            keys: sort_keys(def, q.sort.as_deref(), role)?,
            predicate: compile_filter(all, def, q.filter.as_deref(), role)?,
        })
    }

    /// The page's statement: the records that pass `filter` (with its `params`) after
    /// the cursor, in the sort's order, one row past the page (to know there is more).
    fn statement(
        &self,
        def: &DataDefinition,
        q: &QueryParams,
        filter: &str,
        mut params: Vec<SqlValue>,
    ) -> DomainResult<(String, Vec<SqlValue>)> {
        let (after, after_params) = match &q.cursor {
            Some(c) => keyset(&self.keys, c)?,
            None => ("TRUE".into(), vec![]),
        };
        params.extend(after_params);
        let key_cols: String = self
            .keys
            .iter()
            .map(|k| format!("t.{}, ", quote_ident(k.column())))
            .collect();
        // The limit is written into the SQL, not bound: SQLite re-prepares a
        // statement with a bound LIMIT at every run (9% of this request's CPU).
        let sql = format!(
            "SELECT {key_cols}{} FROM {} t WHERE {} AND {filter} AND {after} ORDER BY {} LIMIT {}",
            record_columns(def),
            quote_ident(&def.table),
            live_or_all(q),
            order_by(&self.keys),
            self.limit + 1
        );
        Ok((sql, params))
    }
}

/// The condition that keeps soft-deleted records out, unless asked for.
fn live_or_all(q: &QueryParams) -> &'static str {
    match q.include_deleted.unwrap_or(false) {
        true => "TRUE",
        false => "t.deleted_at IS NULL",
    }
}

/// A page written as the HTTP API shows it, straight from the rows of its statement, no
/// JSON tree built first.
struct PageWriter {
    out: Vec<u8>,
    written: i64,
    last_cursor: Option<String>,
    next_cursor: Option<String>,
}

impl PageWriter {
    fn new(limit: i64) -> PageWriter {
        let mut out = Vec::with_capacity(64 + limit as usize * 256);
        out.extend_from_slice(b"{\"items\":[");
        PageWriter {
            out,
            written: 0,
            last_cursor: None,
            next_cursor: None,
        }
    }

    /// Writes one row of [`ListPlan::statement`]; whether to go on.
    fn row(
        &mut self,
        def: &DataDefinition,
        plan: &ListPlan,
        role: Role,
        row: &impl andibase_storage::Columns,
    ) -> bool {
        if self.written == plan.limit {
            // The row past the page: there is more, after the last one shown.
            self.next_cursor = self.last_cursor.take();
            return false;
        }
        if self.written > 0 {
            self.out.push(b',');
        }
        let (keys, only) = (&plan.keys, plan.only.as_deref());
        write_record(&mut self.out, def, row, keys.len(), only, |spec| {
            hidden_from(spec, role)
        });
        self.written += 1;
        if self.written == plan.limit {
            self.last_cursor = Some(cursor_after(row, keys));
        }
        true
    }

    fn finish(mut self, total: Option<i64>, total_estimated: bool) -> DomainResult<Vec<u8>> {
        let out = &mut self.out;
        out.extend_from_slice(b"],\"nextCursor\":");
        serde_json::to_writer(&mut *out, &self.next_cursor)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        if let Some(total) = total {
            out.extend_from_slice(format!(",\"total\":{total}").as_bytes());
        }
        if total_estimated {
            out.extend_from_slice(b",\"totalEstimated\":true");
        }
        out.push(b'}');
        Ok(self.out)
    }
}

/// One checked list request, to read within the query time limit.
struct ListRead<'a> {
    all: &'a [DataDefinition],
    def: &'a DataDefinition,
    q: &'a QueryParams,
    plan: &'a ListPlan,
    hooks: &'a Pipeline,
    role: Role,
    /// Write the page as JSON bytes straight from the rows when nothing changes records.
    direct: bool,
}

impl ListRead<'_> {
    /// The page (and its count) as asked.
    fn page(&self, r: &andibase_storage::Reader<'_>) -> DomainResult<Shown<Page>> {
        let ListRead {
            all,
            def,
            q,
            plan,
            hooks,
            role,
            direct,
        } = *self;
        let (keys, predicate) = (&plan.keys, plan.predicate.as_ref());
        // The count goes through every index SQLite likes; the page avoids those
        // that would make it sort a crowd of matches.
        let (count_filter, count_params) = render(r.dialect(), predicate, &[]);
        let avoid = match predicate.is_some() {
            true => crowded_indexes(r, def, keys)?,
            false => Vec::new(),
        };
        let (mut filter, mut params) = render(r.dialect(), predicate, &avoid);
        let (mut count_filter, mut count_params) = (count_filter, count_params);
        let searchable = searchable_by(def, role);
        if let Some(text) = q.search.as_deref() {
            let layout = search_columns(&def.fields);
            let matching = |for_count| {
                search::matching(
                    r,
                    &def.table,
                    &layout,
                    "t",
                    text,
                    searchable.as_deref(),
                    for_count,
                )
            };
            // The page may look words up row by row; the count always gathers.
            for (for_count, (sql, sql_params)) in [
                (false, (&mut filter, &mut params)),
                (true, (&mut count_filter, &mut count_params)),
            ] {
                if let Some(m) = matching(for_count)? {
                    *sql = format!("{sql} AND {}", m.condition);
                    sql_params.extend(m.params);
                }
            }
        }
        let expand = expansion(def, q.expand.as_deref(), role)?;
        let counted = count_matches(
            r,
            &def.table,
            &format!("{} AND {count_filter}", live_or_all(q)),
            &count_params,
            q.count.unwrap_or_default(),
        )?;
        let (total, total_estimated) = match counted {
            Some((n, estimated)) => (Some(n), estimated.then_some(true)),
            None => (None, None),
        };
        let (sql, params) = plan.statement(def, q, &filter, params)?;
        if direct && expand.is_empty() && !hooks.alters_reads() {
            // Each record is written straight from SQLite's row, nothing copied first.
            let mut page = PageWriter::new(plan.limit);
            r.query_each(&sql, &params, &mut |row| Ok(page.row(def, plan, role, row)))?;
            return page
                .finish(total, total_estimated.is_some())
                .map(Shown::Body);
        }
        let rows = r.query(&sql, &params)?;
        let more = rows.len() as i64 > plan.limit;
        let rows = &rows[..rows.len().min(plan.limit as usize)];
        let next_cursor = if more {
            rows.last().map(|row| cursor_after(row, keys))
        } else {
            None
        };
        let mut items: Vec<Value> = rows
            .iter()
            .map(|row| record_json(def, row, keys.len(), plan.only.as_deref()))
            .collect();
        expand_related(r, all, def, &expand, &mut items, hooks, role)?;
        let ctx = HookContext {
            definition: def,
            caller: Caller { actor: "", role },
        };
        for item in items.iter_mut() {
            hooks.after_read(&ctx, item);
        }
        Ok(Shown::Built(Page {
            items,
            next_cursor,
            total,
            total_estimated,
        }))
    }
}

/// After a list read that took `took` (and `steps`, `None` when stopped at the time
/// limit): a slow one counts its shape in the query log, which may answer with an index
/// to build (for the definition of that id).
fn count_if_slow(
    usage: &crate::usage::QueryLog,
    path: &std::path::Path,
    def: &DataDefinition,
    plan: &ListPlan,
    took: std::time::Duration,
    steps: Option<u64>,
    dialect: andibase_storage::Dialect,
) -> Option<(String, IndexSpec)> {
    // A list stopped at the time limit is the slowest of all: its shape counts.
    if steps.is_some_and(|steps| !usage.is_slow(took, steps)) {
        return None;
    }
    let shape = Shape::of(plan.predicate.as_ref(), &plan.keys);
    let now = andibase_common::Clock::system().now();
    let substring_indexes = dialect == andibase_storage::Dialect::Postgres;
    let index = usage.record(path, def, shape, took, now, substring_indexes)?;
    Some((def.id.clone(), index))
}

/// The answer to a list stopped at the time limit.
fn stopped_at(limit: std::time::Duration) -> DomainError {
    DomainError::from_issues(vec![FieldIssue::at(
        ["filter"],
        format!("the query ran longer than {} ms and was stopped: it reads too many records that no index narrows; add a condition on an indexed field (or a declared index), or use search", limit.as_millis()),
    )])
}

pub(crate) fn valid_record_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks attributes for a create (`creating`) or an update, giving the fields to write
/// with their values, in the definition's order (every field, for a create).
/// How a record's attributes are written: as a new record (defaults apply), where its
/// issues are reported, and by whom.
pub(crate) struct Writing<'a> {
    pub creating: bool,
    pub at: &'a [Value],
    pub role: Role,
}

pub(crate) fn check_attributes<'d>(
    tx: &Tx<'_>,
    all: &[DataDefinition],
    def: &'d DataDefinition,
    attrs: &Map<String, Value>,
    writing: Writing<'_>,
    issues: &mut Vec<FieldIssue>,
) -> DomainResult<Vec<(&'d str, SqlValue)>> {
    let Writing { creating, at, role } = writing;
    let path = |key: &str| {
        let mut p = at.to_vec();
        p.extend([json!("attributes"), json!(key)]);
        p
    };
    let mut out = Vec::new();
    // A field hidden from the writer's role is not there for it either: writing it could
    // tell (through a unique refusal) what it holds.
    for key in attrs.keys() {
        if visible_field(def, key, role).is_none() {
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

/// `UPDATE` of one record: bookkeeping columns, the name if given, the checked fields.
pub(crate) fn update_statement(
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
    pub(crate) async fn write_records<T, F>(&self, key: &str, actor: &str, f: F) -> DomainResult<T>
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
            self.role,
        );
        self.db
            .write(move |tx| {
                let all = crate::definition::load_all_for_write(tx)?;
                let def = find_definition(&all, &key)?.clone();
                let ctx = HookContext {
                    definition: &def,
                    caller: Caller {
                        actor: &actor,
                        role,
                    },
                };
                f(tx, &all, &def, &ctx, &hooks)
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
        match self.record(key, record_id, include_deleted, expand).await? {
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
        match self.record(key, record_id, include_deleted, expand).await? {
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
    ) -> DomainResult<Shown<Value>> {
        let (hooks, role) = (self.hooks.clone(), self.role);
        let all = self.all_definitions().await?;
        let def = find_definition(&all, key)?;
        let expand = expansion(def, expand.as_deref(), role)?;
        let sql = format!(
            "SELECT {} FROM {} t WHERE t.id = ? AND (? = 1 OR t.deleted_at IS NULL)",
            record_columns(def),
            self.db.table_name(&def.table)
        );
        let params = params![record_id, include_deleted];
        let key = key.to_string();
        if expand.is_empty() && !hooks.alters_reads() {
            // One statement, nothing to do between rows: the shortest way there is (on
            // PostgreSQL, no pool thread), for a caller that wants a tree too.
            let body = self
                .db
                .read_rows(sql, params.to_vec(), None, move |body, row| {
                    let def = find_definition(&all, &key)?;
                    let mut out = Vec::with_capacity(512);
                    write_record(&mut out, def, row, 0, None, |spec| hidden_from(spec, role));
                    *body = Some(out);
                    Ok(false)
                })
                .await?;
            return body.map(Shown::Body).ok_or(DomainError::NotFound);
        }
        self.db
            .read(move |r| {
                let def = find_definition(&all, &key)?;
                let row = r.query_one(&sql, &params)?.ok_or(DomainError::NotFound)?;
                let mut items = [record_json(def, &row, 0, None)];
                expand_related(r, &all, def, &expand, &mut items, &hooks, role)?;
                hooks.after_read(
                    &HookContext {
                        definition: def,
                        caller: Caller { actor: "", role },
                    },
                    &mut items[0],
                );
                let [item] = items;
                Ok(Shown::Built(item))
            })
            .await
    }

    /// Every definition of the workspace: kept in memory, or read and then kept.
    async fn all_definitions(&self) -> DomainResult<Arc<Vec<DataDefinition>>> {
        let (path, definitions) = (self.db.path().to_path_buf(), self.definitions.clone());
        if let Some(all) = definitions.get(&path) {
            return Ok(all);
        }
        self.db
            .read(move |r| definitions.get_or_load(&path, &mut || load_all(r)))
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

    /// Before a search by a role some searchable fields are hidden from: makes sure the
    /// index keeps those fields apart (one built by an older version kept them in the
    /// shared text, which that role's search must not see).
    async fn ensure_search_layout(&self, key: &str) -> DomainResult<()> {
        let (key, role) = (key.to_string(), self.role);
        let (path, definitions) = (self.db.path().to_path_buf(), self.definitions.clone());
        let stale = self
            .db
            .read(move |r| {
                let all = definitions.get_or_load(&path, &mut || load_all(r))?;
                let def = find_definition(&all, &key)?;
                if searchable_by(def, role).is_none() {
                    return Ok(None);
                }
                let layout = search_columns(&def.fields);
                Ok((!search::is_current(r, &def.table, &layout)?).then(|| def.clone()))
            })
            .await?;
        if let Some(def) = stale {
            // Not through the once-per-process cache: the index was just seen stale.
            self.db
                .write(move |tx| fix_shape(tx, &def).map(|_| ()))
                .await?;
        }
        Ok(())
    }

    async fn list(&self, key: &str, q: QueryParams, direct: bool) -> DomainResult<Shown<Page>> {
        if q.search.is_some() {
            self.ensure_search_layout(key).await?;
        }
        if self.db.is_postgres() {
            if let Some(page) = self.list_in_one_statement(key, &q, direct).await? {
                return Ok(page);
            }
        }
        let key = key.to_string();
        let (hooks, role) = (self.hooks.clone(), self.role);
        let (path, definitions) = (self.db.path().to_path_buf(), self.definitions.clone());
        let usage = self.usage.clone();
        let limit = usage.settings.time_limit;
        let (shown, next) = self
            .db
            .read(move |r| {
                let all = definitions.get_or_load(&path, &mut || load_all(r))?;
                let def = find_definition(&all, &key)?;
                let plan = ListPlan::new(&all, def, &q, role)?;
                let started = std::time::Instant::now();
                let read = ListRead {
                    all: &all,
                    def,
                    q: &q,
                    plan: &plan,
                    hooks: &hooks,
                    role,
                    direct,
                };
                let shown = r.within(limit, |r| read.page(r))?;
                let steps = shown.as_ref().map(|(_, steps)| *steps);
                let next = count_if_slow(
                    &usage,
                    &path,
                    def,
                    &plan,
                    started.elapsed(),
                    steps,
                    r.dialect(),
                );
                Ok((shown.map(|(shown, _)| shown), next))
            })
            .await?;
        if let Some((def_id, index)) = next {
            self.build_in_background(def_id, index);
        }
        shown.ok_or_else(|| stopped_at(limit))
    }

    /// On PostgreSQL, a page that is one statement written straight from its rows
    /// (nothing to count, search, expand or change) is read from this task
    /// ([`Database::read_rows_within`]): no pool thread, and no index lookup first, as
    /// PostgreSQL's planner chooses between the sort's and the filter's indexes itself.
    /// `None` for any other page.
    async fn list_in_one_statement(
        &self,
        key: &str,
        q: &QueryParams,
        direct: bool,
    ) -> DomainResult<Option<Shown<Page>>> {
        let role = self.role;
        let one_statement = direct
            && !self.hooks.alters_reads()
            && q.search.is_none()
            && matches!(q.count.unwrap_or_default(), Count::No);
        if !one_statement {
            return Ok(None);
        }
        let all = self.all_definitions().await?;
        let def = find_definition(&all, key)?;
        if !expansion(def, q.expand.as_deref(), role)?.is_empty() {
            return Ok(None);
        }
        let plan = Arc::new(ListPlan::new(&all, def, q, role)?);
        let (filter, params) = render(self.db.dialect(), plan.predicate.as_ref(), &[]);
        let (sql, params) = plan.statement(def, q, &filter, params)?;
        let limit = self.usage.settings.time_limit;
        // The fold owns what it reads: the definitions, and where this one is among them.
        let at = all.iter().position(|d| std::ptr::eq(d, def));
        let (at, fold_all, fold_plan) =
            (at.ok_or(DomainError::NotFound)?, all.clone(), plan.clone());
        let started = std::time::Instant::now();
        let page = PageWriter::new(plan.limit);
        let shown = self
            .db
            .read_rows_within(limit, sql, params, page, move |page, row| {
                Ok(page.row(&fold_all[at], &fold_plan, role, row))
            })
            .await?;
        let steps = shown.as_ref().map(|(_, steps)| *steps);
        let path = self.db.path();
        if let Some((def_id, index)) = count_if_slow(
            self.usage,
            path,
            def,
            &plan,
            started.elapsed(),
            steps,
            self.db.dialect(),
        ) {
            self.build_in_background(def_id, index);
        }
        let (page, _) = shown.ok_or_else(|| stopped_at(limit))?;
        page.finish(None, false).map(|body| Some(Shown::Body(body)))
    }

    /// Builds an index the query log asked for, after the answer that asked went out.
    /// It goes through the writer like any write: writes queued meanwhile wait for it.
    fn build_in_background(&self, def_id: String, index: IndexSpec) {
        let (db, definitions, usage) = (
            self.db.clone(),
            self.definitions.clone(),
            self.usage.clone(),
        );
        tokio::spawn(async move {
            let path = db.path().to_path_buf();
            definitions.forget(&path);
            let tx_path = path.clone();
            let wanted = index.clone();
            let id = def_id.clone();
            let built = db
                .write(move |tx| {
                    let status = crate::definitions::build_auto_index(tx, &id, wanted)?;
                    let changed = tx_path.to_string_lossy();
                    tx.announce(crate::definitions::DEFINITIONS_CHANGED, &changed)?;
                    Ok(status)
                })
                .await;
            definitions.forget(&path);
            match built {
                Ok(status) => usage.set_status(&path, &def_id, &index, status),
                Err(e) => tracing::warn!("building an index for slow queries failed: {e}"),
            }
        });
    }

    pub async fn select_all(
        &self,
        key: &str,
        filter: Option<String>,
        include_deleted: bool,
    ) -> DomainResult<SelectAll> {
        let (key, role) = (key.to_string(), self.role);
        let (path, definitions) = (self.db.path().to_path_buf(), self.definitions.clone());
        self.db
            .read(move |r| {
                let all = definitions.get_or_load(&path, &mut || load_all(r))?;
                let def = find_definition(&all, &key)?;
                let (f, params) = filter_sql(r.dialect(), &all, def, filter.as_deref(), role)?;
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
        role: Role,
    ) -> DomainResult<Vec<String>> {
        let filter = json_filter(filter);
        if ids.is_none() && filter.is_none() {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["ids"],
                "send ids or a filter (to touch every record, use a filter that matches them all)",
            )]));
        }
        let (f, mut params) = filter_sql(tx.dialect(), all, def, filter.as_deref(), role)?;
        let id_cond = match ids {
            Some(list) if list.len() > 10_000 => {
                return Err(DomainError::from_issues(vec![FieldIssue::at(
                    ["ids"],
                    "at most 10000 ids",
                )]))
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
            let writing = Writing {
                creating: false,
                at: &[],
                role: ctx.caller.role,
            };
            let columns = check_attributes(tx, all, def, &attrs, writing, &mut issues)?;
            FieldIssue::none_of(issues)?;
            let ids = Self::matching(
                tx,
                all,
                def,
                &input.ids,
                &input.filter,
                Some(false),
                ctx.caller.role,
            )?;
            let t = quote_ident(&def.table);
            let now_iso = now.to_iso();
            for id in &ids {
                let (sql, p) =
                    update_statement(&t, id, &now_iso, &actor, input.name.as_ref(), &columns);
                tx.execute(&sql, &p).map_err(|e| match e {
                    DomainError::Conflict { column, .. } => {
                        let (path, message) = conflict_in_record(&column);
                        DomainError::from_issues(vec![FieldIssue { path, message }])
                    }
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
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["purge"],
                "choose purge or restore, not both",
            )]));
        }
        let actor = actor.to_string();
        self.write_records(key, &actor.clone(), move |tx, all, def, ctx, hooks| {
                let t = quote_ident(&def.table);
                let scope = if input.purge { None } else { Some(input.restore) };
                let ids = Self::matching(tx, all, def, &input.ids, &input.filter, scope, ctx.caller.role)?;
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
    /// `updatedBy`, `version`, then each attribute by its key, or as `attributes.<key>` when
    /// the key is a system field's name).
    /// How long one read-only SQL statement may run, from any surface.
    pub const SQL_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

    pub async fn sql_query(
        &self,
        input: SqlQuery,
        timeout: std::time::Duration,
    ) -> DomainResult<SqlResult> {
        if input.sql.trim().is_empty() || input.sql.len() > 100_000 {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["sql"],
                "must be 1 to 100000 bytes",
            )]));
        }
        let limit = input.limit.unwrap_or(1000);
        if !(1..=10_000).contains(&limit) {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["limit"],
                "must be 1 to 10000",
            )]));
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
                    return Err(DomainError::from_issues(vec![FieldIssue {
                        path: vec![json!("params"), json!(i)],
                        message: "must be a string, number, boolean or null".into(),
                    }]))
                }
            });
        }
        // Kept definitions, as record reads use: a request reads none.
        let defs = self.all_definitions().await?;
        let system = [
            ("id", "id"),
            ("name", "name"),
            ("created_at", "createdAt"),
            ("updated_at", "updatedAt"),
            ("created_by", "createdBy"),
            ("updated_by", "updatedBy"),
            ("version", "version"),
        ];
        let views = defs
            .iter()
            .map(|d| andibase_storage::SandboxView {
                name: d.handle.clone(),
                table: d.table.clone(),
                columns: system
                    .iter()
                    .map(|(c, shown)| (c.to_string(), shown.to_string()))
                    // Fields hidden from the caller's role are not in the view at all.
                    .chain(
                        d.fields
                            .iter()
                            .filter(|(_, f)| !f.hidden_from.contains(&self.role))
                            .map(|(k, _)| (column_of(k), flat_name(k).into_owned())),
                    )
                    .collect(),
            })
            .collect();
        let started = std::time::Instant::now();
        let out = self
            .db
            .sandboxed_query(andibase_storage::SandboxedQuery {
                views,
                role: self.role.as_str().to_string(),
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
                        // Number fields are REAL columns; whole ones read as the API shows them.
                        SqlValue::Real(f) if f.fract() == 0.0 && f.abs() < 9e15 => json!(f as i64),
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
