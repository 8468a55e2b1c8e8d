//! `upsert-many`: up to 1,000 records created or updated in one transaction, matched on
//! their id or a unique field. A batch with one bad record writes nothing, and every bad
//! record is named.

use std::collections::HashSet;

use andibase_common::{id, DomainError, DomainResult, FieldIssue, Timestamp};
use andibase_storage::{params, quote_ident, search, Sql, Tx, Value as SqlValue};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::definition::*;
use crate::hooks::{HookContext, Pipeline, WriteKind};
use crate::query::visible_field;
use crate::records::{
    check_attributes, update_statement, valid_record_id, Data, RecordInput, Writing,
};
use crate::tables::{after_growth, ensure_shape, index_records, search_columns};
use crate::value::to_sql;

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpsertMany {
    /// 1–1000 records.
    pub records: Vec<RecordInput>,
    /// `id` (default, the record's id) or the key of a unique field to match existing
    /// records on; `attributes.<key>` names the field whatever its key.
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

/// The issue for a write storage refused as a duplicate: the record's id, or the unique
/// field it names.
fn conflict_issue(e: DomainError, index: usize) -> DomainResult<FieldIssue> {
    let DomainError::Conflict { column, .. } = e else {
        return Err(e);
    };
    let (at, message) = conflict_in_record(&column);
    let mut path = vec![json!("records"), json!(index)];
    path.extend(at);
    Ok(FieldIssue { path, message })
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
    /// The lowest rowid written so far: the rows from it on are this batch's new ones (a
    /// new row takes a rowid above every row before it, on both engines), indexed for
    /// search by one range scan without a query for where the table ended.
    first_rowid: Option<i64>,
    /// On PostgreSQL, what each `INSERT` also returns for the search index
    /// ([`search::returned_texts`]), and the rows it returned: `id, rowid, texts…`.
    returned_texts: Option<String>,
    returned: Vec<andibase_storage::Row>,
}

const NEW_ROWS_PER_STATEMENT: usize = 100;

impl NewRecords {
    fn new(table: &str, def: &DataDefinition, dialect: andibase_storage::Dialect) -> NewRecords {
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
            first_rowid: None,
            returned_texts: search::returned_texts(dialect, &search_columns(&def.fields)),
            returned: Vec::new(),
        }
    }

    /// `row` holds the bookkeeping columns, then every field in the definition's order
    /// (what [`check_attributes`] gives for a new record).
    fn add(&mut self, index: usize, row: Vec<SqlValue>) {
        debug_assert_eq!(row.len(), self.width);
        self.rows.push((index, row));
    }

    /// Writes the waiting rows. Rows that would duplicate a record (or one another) are
    /// skipped by the statement (`ON CONFLICT DO NOTHING`), then written one by one to
    /// name each record refused. Skipping rather than failing spares PostgreSQL a
    /// savepoint around every statement (a failed statement would end its transaction):
    /// two round trips of the ten a single-record write made.
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
            let texts = self.returned_texts.clone().unwrap_or_default();
            let sql = format!(
                "{}{} ON CONFLICT DO NOTHING RETURNING id, rowid{texts}",
                self.head,
                vec![self.marks.as_str(); indexes.len()].join(", ")
            );
            let written = tx.query(&sql, &values)?;
            for row in &written {
                self.wrote(row.int(1)?);
            }
            if self.returned_texts.is_some() {
                self.returned.extend(written.iter().cloned());
            }
            if written.len() == indexes.len() {
                continue;
            }
            let written: HashSet<String> = written
                .iter()
                .map(|r| r.text(0))
                .collect::<Result<_, _>>()?;
            let one = format!("{}{} RETURNING id, rowid{texts}", self.head, self.marks);
            for (k, index) in indexes.into_iter().enumerate() {
                let row = &values[k * self.width..(k + 1) * self.width];
                // The id leads every row.
                if matches!(&row[0], SqlValue::Text(id) if written.contains(id)) {
                    continue;
                }
                match tx.attempt(|tx| tx.query(&one, row)) {
                    Ok(rows) => {
                        for r in &rows {
                            self.wrote(r.int(1)?);
                        }
                        if self.returned_texts.is_some() {
                            self.returned.extend(rows);
                        }
                    }
                    Err(e) => issues.push(conflict_issue(e, index)?),
                }
            }
        }
        Ok(())
    }

    fn wrote(&mut self, rowid: i64) {
        self.first_rowid = Some(self.first_rowid.map_or(rowid, |r| r.min(rowid)));
    }
}

/// What records are matched on: their id, or a unique field.
#[derive(Debug, PartialEq)]
enum MatchOn {
    Id,
    Field(String),
}

/// One batch as it is written: the lookups made so far, the new rows held back, and what
/// happened to each record.
struct Batch<'b> {
    tx: &'b Tx<'b>,
    all: &'b [DataDefinition],
    def: &'b DataDefinition,
    ctx: &'b HookContext<'b>,
    hooks: &'b Pipeline,
    mode: UpsertMode,
    match_on: MatchOn,
    actor: &'b str,
    now_iso: String,
    /// The record table, quoted.
    table: String,
    /// Ids that exist (looked up once for the batch, plus those it creates).
    known_ids: HashSet<String>,
    /// Whether new rows may wait to be written many to a statement: not when a lookup by
    /// unique field or a relationship within the definition must see them.
    defer: bool,
    new_records: NewRecords,
    issues: Vec<FieldIssue>,
    results: Vec<UpsertResult>,
    created_ids: Vec<String>,
    updated_ids: Vec<String>,
}

impl<'b> Batch<'b> {
    /// Which of the given ids exist, in one query per 500 rather than one per record.
    fn look_up_ids(&mut self, records: &[RecordInput]) -> DomainResult<()> {
        if self.match_on != MatchOn::Id || self.mode == UpsertMode::Insert {
            return Ok(());
        }
        let given: Vec<&String> = records
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
            let sql = format!("SELECT id FROM {} WHERE id IN ({marks})", self.table);
            for row in self.tx.query(&sql, &params)? {
                self.known_ids.insert(row.text(0)?);
            }
        }
        Ok(())
    }

    fn refuse(&mut self, path: Vec<Value>, message: &str) {
        self.issues.push(FieldIssue {
            path,
            message: message.into(),
        });
    }

    /// The id of the record `rec` updates, none when it creates one; `Err(())` when the
    /// record cannot be matched (an issue says why).
    fn existing(
        &mut self,
        i: usize,
        rec: &RecordInput,
        attrs: &Map<String, Value>,
    ) -> DomainResult<Result<Option<String>, ()>> {
        let field = match &self.match_on {
            MatchOn::Id => {
                return Ok(Ok(match &rec.id {
                    // Appending: the primary key refuses duplicates, no lookup needed.
                    Some(_) if self.mode == UpsertMode::Insert => None,
                    Some(id) => self.known_ids.contains(id).then(|| id.clone()),
                    None => None,
                }));
            }
            MatchOn::Field(field) => field.clone(),
        };
        let Some(v) = attrs.get(&field).filter(|v| !v.is_null()) else {
            let path = vec![
                json!("records"),
                json!(i),
                json!("attributes"),
                json!(field),
            ];
            self.refuse(path, "is needed to match on");
            return Ok(Err(()));
        };
        let value = to_sql(&self.def.fields[&field], v).unwrap_or(SqlValue::Null);
        let sql = format!(
            "SELECT id FROM {} WHERE {} = ?",
            self.table,
            quote_ident(&column_of(&field))
        );
        Ok(Ok(self
            .tx
            .query_one(&sql, &[value])?
            .map(|r| r.text(0))
            .transpose()?))
    }

    /// Whether the mode lets the record be created (`existing` none) or updated.
    fn mode_admits(&mut self, i: usize, existing: &Option<String>) -> bool {
        match (existing, self.mode) {
            (Some(_), UpsertMode::Insert) => {
                let on = match self.match_on {
                    MatchOn::Id => "id",
                    MatchOn::Field(_) => "attributes",
                };
                let path = vec![json!("records"), json!(i), json!(on)];
                self.refuse(path, "a record with this key already exists");
                false
            }
            (None, UpsertMode::Update) => {
                let path = vec![json!("records"), json!(i), json!("id")];
                self.refuse(path, "no such record to update");
                false
            }
            _ => true,
        }
    }

    /// Checks record `i` and writes it (or queues it, when new). After an issue the rest
    /// is still written, to report every duplicate; the error rolls all of it back.
    fn upsert(&mut self, i: usize, mut rec: RecordInput) -> DomainResult<()> {
        let issues_before = self.issues.len();
        let at = vec![json!("records"), json!(i)];
        let mut attrs = rec.attributes.take().unwrap_or_default();
        if rec.id.as_deref().is_some_and(|id| !valid_record_id(id)) {
            let path = vec![json!("records"), json!(i), json!("id")];
            self.refuse(path, "must be 1 to 100 of A-Z a-z 0-9 - _");
            return Ok(());
        }
        let Ok(existing) = self.existing(i, &rec, &attrs)? else {
            return Ok(());
        };
        if !self.mode_admits(i, &existing) {
            return Ok(());
        }
        let kind = match existing {
            None => WriteKind::Create,
            Some(_) => WriteKind::Update,
        };
        self.hooks
            .before_write(self.ctx, kind, &mut attrs, &mut self.issues, &at);
        let creating = existing.is_none();
        let columns = check_attributes(
            self.tx,
            self.all,
            self.def,
            &attrs,
            Writing {
                creating,
                at: &at,
                role: self.ctx.caller.role,
            },
            &mut self.issues,
        )?;
        let name = rec.name.map(|n| n.chars().take(500).collect::<String>());
        if self.issues.len() > issues_before {
            return Ok(());
        }
        match existing {
            Some(id) => {
                // The update may be of a record still waiting to be written.
                self.new_records.write(self.tx, &mut self.issues)?;
                let (sql, p) = update_statement(
                    &self.table,
                    &id,
                    &self.now_iso,
                    self.actor,
                    name.as_ref(),
                    &columns,
                );
                if let Err(e) = self.tx.attempt(|tx| tx.execute(&sql, &p)) {
                    self.issues.push(conflict_issue(e, i)?);
                    return Ok(());
                }
                self.updated_ids.push(id.clone());
                self.results.push(UpsertResult {
                    index: i,
                    id,
                    action: UpsertAction::Updated,
                });
            }
            None => {
                let id = rec.id.take().unwrap_or_else(id::uuid7);
                let (now, actor) = (&self.now_iso, self.actor);
                let mut row = params![&id, name, now, now, actor, actor].to_vec();
                row.extend(columns.into_iter().map(|(_, v)| v));
                self.new_records.add(i, row);
                if !self.defer {
                    self.new_records.write(self.tx, &mut self.issues)?;
                }
                if self.match_on == MatchOn::Id {
                    self.known_ids.insert(id.clone());
                }
                self.created_ids.push(id.clone());
                self.results.push(UpsertResult {
                    index: i,
                    id,
                    action: UpsertAction::Created,
                });
            }
        }
        Ok(())
    }

    /// Writes what waits, then runs the after-write hooks and indexes the records for
    /// search (new ones by one range scan from the first one's rowid).
    fn finish(mut self, now: Timestamp) -> DomainResult<UpsertOutcome> {
        self.new_records.write(self.tx, &mut self.issues)?;
        if !self.issues.is_empty() {
            return Err(DomainError::from_issues(self.issues));
        }
        let (tx, def) = (self.tx, self.def);
        self.hooks
            .after_write(tx, self.ctx, WriteKind::Create, &self.created_ids, now)?;
        self.hooks
            .after_write(tx, self.ctx, WriteKind::Update, &self.updated_ids, now)?;
        if let Some(first) = self.new_records.first_rowid {
            // Rowids count rows closely enough to tell when to gather statistics.
            let before = first - 1;
            let layout = search_columns(&def.fields);
            match self.new_records.returned_texts {
                Some(_) => {
                    let returned = &self.new_records.returned;
                    search::index_returned(tx, &def.table, &layout, returned, 1)?
                }
                None => search::index_since(tx, &def.table, &layout, before)?,
            }
            after_growth(tx, def, before, self.created_ids.len())?;
        }
        index_records(tx, def, &self.updated_ids)?;
        Ok(UpsertOutcome {
            updated: self.updated_ids.len(),
            created: self.created_ids.len(),
            results: self.results,
        })
    }
}

impl Data<'_> {
    pub async fn upsert_many(
        &self,
        key: &str,
        input: UpsertMany,
        actor: &str,
        now: Timestamp,
    ) -> DomainResult<UpsertOutcome> {
        if input.records.is_empty() || input.records.len() > 1000 {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["records"],
                "must hold 1 to 1000 records",
            )]));
        }
        let actor = actor.to_string();
        self.write_records(key, &actor.clone(), move |tx, all, def, ctx, hooks| {
            let match_on = match input.match_on.as_deref().map(FieldName::parse) {
                None | Some(FieldName::System(SystemField::Id)) => MatchOn::Id,
                // A field hidden from the caller cannot be matched on: created or updated
                // would tell whether a hidden value exists.
                Some(FieldName::Attribute(key))
                    if visible_field(def, key, ctx.caller.role).is_some_and(|f| f.unique) =>
                {
                    MatchOn::Field(key.to_string())
                }
                Some(_) => {
                    return Err(DomainError::from_issues(vec![FieldIssue::at(
                        ["matchOn"],
                        "must be id or the key of a unique field (`attributes.<key>` for a key that is also a system field's name)",
                    )]))
                }
            };
            let self_related = def.fields.values().any(|f| {
                f.field_type() == FieldType::Relationship
                    && f.data_definition_id.as_ref() == Some(&def.id)
            });
            let table = quote_ident(&def.table);
            let mut batch = Batch {
                tx,
                all,
                def,
                ctx,
                hooks,
                mode: input.mode,
                defer: match_on == MatchOn::Id && !self_related,
                match_on,
                actor: &actor,
                now_iso: now.to_iso(),
                new_records: NewRecords::new(&table, def, tx.dialect()),
                table,
                known_ids: HashSet::new(),
                issues: Vec::new(),
                results: Vec::new(),
                created_ids: Vec::new(),
                updated_ids: Vec::new(),
            };
            batch.look_up_ids(&input.records)?;
            ensure_shape(tx, def)?;
            for (i, rec) in input.records.into_iter().enumerate() {
                batch.upsert(i, rec)?;
            }
            batch.finish(now)
        })
        .await
    }
}
