//! The record lifecycle: pre/post × create, update, delete, read (seed 002).
//!
//! Built into every write and read, in this order:
//! - pre-create / pre-update: type checks, required fields and defaults (the data layer's
//!   own rules), then each hook's `before_write` (may change attributes or add issues);
//! - pre-delete: each hook's `before_delete` (may refuse);
//! - post-create / post-update / post-delete: each hook's `after_write`, inside the same
//!   transaction; the built-in [`EventLog`] writes the outbox row here;
//! - post-read: each hook's `after_read`; the built-in [`Redaction`] hides fields from
//!   roles listed in the field's `hiddenFrom`.
//!
//! Permission checks (`data.read` / `data.write` / `dataDefinitions.write`) run before the
//! pipeline, where the request is authenticated. User scripts (automations) plug in as
//! another [`RecordHook`] through [`Pipeline::with`].

use std::sync::Arc;

use andibase_common::{DomainResult, FieldIssue, Role, Timestamp};
use andibase_storage::{record_events, Tx};
use serde_json::{json, Map, Value};

use crate::definition::DataDefinition;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    Create,
    Update,
    Delete,
    Restore,
    Purge,
}

impl WriteKind {
    pub fn event(self) -> &'static str {
        match self {
            WriteKind::Create => "data.created",
            WriteKind::Update => "data.updated",
            WriteKind::Delete => "data.deleted",
            WriteKind::Restore => "data.restored",
            WriteKind::Purge => "data.purged",
        }
    }
}

/// Who is acting: recorded as `createdBy`/`updatedBy`, and the role read hooks see.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    pub actor: &'a str,
    /// `admin`, `editor` or `viewer`.
    pub role: Role,
}

pub struct HookContext<'a> {
    pub definition: &'a DataDefinition,
    pub caller: Caller<'a>,
}

pub trait RecordHook: Send + Sync {
    /// pre-create / pre-update. `at` is the record's path for issues (`["records", 3]`).
    fn before_write(
        &self,
        _ctx: &HookContext<'_>,
        _kind: WriteKind,
        _attributes: &mut Map<String, Value>,
        _issues: &mut Vec<FieldIssue>,
        _at: &[Value],
    ) {
    }

    /// pre-delete (also restore and purge).
    fn before_delete(
        &self,
        _ctx: &HookContext<'_>,
        _kind: WriteKind,
        _ids: &[String],
    ) -> DomainResult<()> {
        Ok(())
    }

    /// post-create / post-update / post-delete, in the write's transaction: once per
    /// kind of change in a write, with the ids of the records it changed that way, after
    /// all of them are written. It must not change those records' columns: on PostgreSQL
    /// new records are indexed for search from what their `INSERT` returned.
    fn after_write(
        &self,
        _tx: &Tx<'_>,
        _ctx: &HookContext<'_>,
        _kind: WriteKind,
        _ids: &[String],
        _now: Timestamp,
    ) -> DomainResult<()> {
        Ok(())
    }

    /// post-read: may change the record shown.
    fn after_read(&self, _ctx: &HookContext<'_>, _record: &mut Value) {}

    /// Whether `after_read` changes records. Lists skip building each record as a JSON
    /// tree, and write it straight from the row, only when no hook does.
    fn alters_reads(&self) -> bool {
        true
    }
}

/// Writes the outbox event of every change.
pub struct EventLog;

impl RecordHook for EventLog {
    fn alters_reads(&self) -> bool {
        false
    }

    fn after_write(
        &self,
        tx: &Tx<'_>,
        ctx: &HookContext<'_>,
        kind: WriteKind,
        ids: &[String],
        now: Timestamp,
    ) -> DomainResult<()> {
        record_events(
            tx,
            kind.event(),
            ids,
            Some(ctx.caller.actor),
            &json!({"definition": ctx.definition.handle}),
            now,
        )
    }
}

/// Hides fields whose `hiddenFrom` lists the reader's role.
pub struct Redaction;

/// The redaction rule, shared with the lists' direct writer.
pub(crate) fn hidden_from(spec: &crate::definition::FieldSpec, role: Role) -> bool {
    spec.hidden_from.contains(&role)
}

impl RecordHook for Redaction {
    fn after_read(&self, ctx: &HookContext<'_>, record: &mut Value) {
        if let Some(attrs) = record.get_mut("attributes").and_then(Value::as_object_mut) {
            for (key, spec) in &ctx.definition.fields {
                if hidden_from(spec, ctx.caller.role) {
                    attrs.remove(key);
                }
            }
        }
    }

    /// The direct writer applies `hidden_from` itself.
    fn alters_reads(&self) -> bool {
        false
    }
}

#[derive(Clone)]
pub struct Pipeline {
    hooks: Vec<Arc<dyn RecordHook>>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            hooks: vec![Arc::new(EventLog), Arc::new(Redaction)],
        }
    }
}

impl Pipeline {
    /// Adds a hook after the built-in ones.
    pub fn with(mut self, hook: Arc<dyn RecordHook>) -> Pipeline {
        self.hooks.push(hook);
        self
    }

    pub(crate) fn before_write(
        &self,
        ctx: &HookContext<'_>,
        kind: WriteKind,
        attributes: &mut Map<String, Value>,
        issues: &mut Vec<FieldIssue>,
        at: &[Value],
    ) {
        for h in &self.hooks {
            h.before_write(ctx, kind, attributes, issues, at);
        }
    }

    pub(crate) fn before_delete(
        &self,
        ctx: &HookContext<'_>,
        kind: WriteKind,
        ids: &[String],
    ) -> DomainResult<()> {
        self.hooks
            .iter()
            .try_for_each(|h| h.before_delete(ctx, kind, ids))
    }

    pub(crate) fn after_write(
        &self,
        tx: &Tx<'_>,
        ctx: &HookContext<'_>,
        kind: WriteKind,
        ids: &[String],
        now: Timestamp,
    ) -> DomainResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.hooks
            .iter()
            .try_for_each(|h| h.after_write(tx, ctx, kind, ids, now))
    }

    pub(crate) fn after_read(&self, ctx: &HookContext<'_>, record: &mut Value) {
        for h in &self.hooks {
            h.after_read(ctx, record);
        }
    }

    pub(crate) fn alters_reads(&self) -> bool {
        self.hooks.iter().any(|h| h.alters_reads())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{CreateDefinition, Data, DeleteMany, QueryParams, RecordInput, UpsertMany};
    use andibase_common::{Clock, DomainError};
    use andibase_storage::{Sql, WorkspaceDatabases};

    /// A user-script stand-in: trims titles, refuses empty ones, forbids deleting pinned
    /// records, adds a computed field on read, and counts writes in the same transaction.
    struct Script;

    impl RecordHook for Script {
        fn before_write(
            &self,
            _ctx: &HookContext<'_>,
            _kind: WriteKind,
            attrs: &mut Map<String, Value>,
            issues: &mut Vec<FieldIssue>,
            at: &[Value],
        ) {
            if let Some(Value::String(t)) = attrs.get("title") {
                let trimmed = t.trim().to_string();
                if trimmed.is_empty() {
                    let mut path = at.to_vec();
                    path.extend([json!("attributes"), json!("title")]);
                    issues.push(FieldIssue {
                        path,
                        message: "must not be blank".into(),
                    });
                }
                attrs.insert("title".into(), json!(trimmed));
            }
        }

        fn before_delete(
            &self,
            _ctx: &HookContext<'_>,
            _kind: WriteKind,
            ids: &[String],
        ) -> DomainResult<()> {
            if ids.iter().any(|i| i == "pinned") {
                return Err(DomainError::forbidden(
                    "data.write",
                    "pinned records cannot be deleted",
                ));
            }
            Ok(())
        }

        fn after_write(
            &self,
            tx: &Tx<'_>,
            _ctx: &HookContext<'_>,
            _kind: WriteKind,
            ids: &[String],
            _now: Timestamp,
        ) -> DomainResult<()> {
            tx.execute(
                "UPDATE notes_counter SET n = n + ?",
                &[(ids.len() as i64).into()],
            )
            .map(|_| ())
        }

        fn after_read(&self, _ctx: &HookContext<'_>, record: &mut Value) {
            let len = record["attributes"]["title"]
                .as_str()
                .map(str::len)
                .unwrap_or(0);
            record["computed"] = json!({"titleLength": len});
        }
    }

    /// A fresh workspace database in a temporary directory.
    pub(crate) async fn scratch_db(
        tag: &str,
    ) -> (andibase_common::temp::TempDir, andibase_storage::Database) {
        let dir = andibase_common::temp::TempDir::new(tag);
        let db = WorkspaceDatabases::new(dir.path().to_path_buf())
            .get("0190e2a0-0000-7000-8000-0000000000bb")
            .await
            .unwrap();
        (dir, db)
    }

    /// Creates the definition `name` with `fields` (JSON, as the API takes them).
    pub(crate) async fn define(data: &Data<'_>, name: &str, fields: Value) {
        data.create_definition(
            CreateDefinition {
                name: name.into(),
                handle: None,
                key: None,
                description: None,
                fields: Some(serde_json::from_value(fields).unwrap()),
                attributes: None,
                indexes: None,
            },
            Clock::system().now(),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn user_hooks_run_at_every_stage() {
        let (_dir, db) = scratch_db("hooks").await;
        db.write(|tx| {
            tx.execute("CREATE TABLE notes_counter (n INTEGER)", &[])?;
            tx.execute("INSERT INTO notes_counter VALUES (0)", &[])
                .map(|_| ())
        })
        .await
        .unwrap();
        let hooks = Pipeline::default().with(Arc::new(Script));
        let definitions: Arc<dyn crate::definition::DefinitionCache> =
            Arc::new(crate::definition::LocalDefinitionCache::default());
        let data = Data {
            db: &db,
            workspace_handle: "w",
            hooks: &hooks,
            role: Role::Editor,
            definitions: &definitions,
            usage: &Default::default(),
        };
        let now = Clock::system().now();
        define(&data, "Notes", json!({"title": {"type": "text"}})).await;
        let rec = |id: &str, title: &str| RecordInput {
            id: Some(id.into()),
            name: None,
            attributes: Some(json!({"title": title}).as_object().unwrap().clone()),
        };
        let ok = data
            .upsert_many(
                "notes",
                UpsertMany {
                    records: vec![rec("a", "  hello "), rec("pinned", "keep")],
                    match_on: None,
                    mode: Default::default(),
                },
                "test",
                now,
            )
            .await
            .unwrap();
        assert_eq!(ok.created, 2);
        let bad = data
            .upsert_many(
                "notes",
                UpsertMany {
                    records: vec![rec("b", "fine"), rec("c", "   ")],
                    match_on: None,
                    mode: Default::default(),
                },
                "test",
                now,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(bad, DomainError::Invalid { ref issues, .. } if issues[0].path == vec![json!("records"), json!(1), json!("attributes"), json!("title")]),
            "{bad:?}"
        );
        let shown = data.get_record("notes", "a", false, None).await.unwrap();
        assert_eq!(
            shown["attributes"]["title"], "hello",
            "before_write trimmed it"
        );
        assert_eq!(shown["computed"]["titleLength"], 5, "after_read added it");
        let page = data.query("notes", QueryParams::default()).await.unwrap();
        assert!(page.items.iter().all(|i| i["computed"].is_object()));
        let refused = data
            .delete_many(
                "notes",
                DeleteMany {
                    ids: Some(vec!["pinned".into()]),
                    filter: None,
                    purge: false,
                    restore: false,
                },
                "test",
                now,
            )
            .await;
        assert!(matches!(refused, Err(DomainError::Forbidden { .. })));
        let counter = db
            .read(|r| {
                r.query_one("SELECT n FROM notes_counter", &[])?
                    .unwrap()
                    .int(0)
            })
            .await
            .unwrap();
        assert_eq!(
            counter, 2,
            "after_write saw the two records written, in their transaction, and not the failed batch"
        );
        let events = db
            .read(|r| {
                let row = r
                    .query_one(
                        "SELECT group_concat(subject_id, ' '), count(DISTINCT id), min(actor), \
                         min(payload) FROM (SELECT * FROM events WHERE kind = 'data.created' \
                         ORDER BY seq)",
                        &[],
                    )?
                    .unwrap();
                Ok((row.text(0)?, row.int(1)?, row.text(2)?, row.text(3)?))
            })
            .await
            .unwrap();
        assert_eq!(
            events,
            (
                "a pinned".to_string(),
                2,
                "test".to_string(),
                r#"{"definition":"notes"}"#.to_string()
            ),
            "the built-in event log wrote one event per record, each with its own id"
        );
    }
}

#[cfg(test)]
mod direct_lists {
    use super::tests::{define, scratch_db};
    use super::*;
    use crate::{Data, QueryParams, UpsertMany};
    use andibase_common::Clock;

    /// The bytes a list or a record read writes straight from its rows are what the record
    /// tree gives, for every field type, nulls, projections, counts, cursors (also a page
    /// that ends at the last row) and hidden fields.
    #[tokio::test]
    async fn direct_lists_match_the_record_tree() {
        let (_dir, db) = scratch_db("direct").await;
        let hooks = Pipeline::default();
        let definitions: Arc<dyn crate::definition::DefinitionCache> =
            Arc::new(crate::definition::LocalDefinitionCache::default());
        // Written by an admin, read by an editor from whom `secret` is hidden.
        let admin = Data {
            db: &db,
            workspace_handle: "w",
            hooks: &hooks,
            role: Role::Admin,
            definitions: &definitions,
            usage: &Default::default(),
        };
        let data = Data {
            role: Role::Editor,
            ..admin
        };
        let now = Clock::system().now();
        let fields = json!({
            "title": {"type": "text"}, "amount": {"type": "number", "indexed": true}, "done": {"type": "boolean"},
            "due": {"type": "date"}, "at": {"type": "datetime"}, "mail": {"type": "email"}, "site": {"type": "url"},
            "stage": {"type": "select", "options": [{"value": "a"}, {"value": "b \"quoted\""}]},
            "tags": {"type": "multiSelect", "options": [{"value": "x"}, {"value": "y"}]},
            "extra": {"type": "json"}, "secret": {"type": "text", "hiddenFrom": ["editor"]}
        });
        define(&data, "Things", fields).await;
        let records = json!([
            {"id": "t1", "name": "One", "attributes": {"title": "tab\there \u{1F600} \"q\" \\ end", "amount": 3, "done": true, "due": "2026-11-23",
              "at": "2026-11-23T10:00:00.000Z", "mail": "a@example.com", "site": "https://example.com/?a=1&b=<2>", "stage": "b \"quoted\"",
              "tags": ["x", "y"], "extra": {"nested": [1, 2.5, null, {"k": "v"}]}, "secret": "hide me"}},
            {"id": "t2", "attributes": {"amount": 2.75, "done": false, "extra": [1], "tags": []}},
            {"id": "t3", "name": null, "attributes": {"amount": -1e15, "extra": "just a string"}}
        ]);
        let r = admin
            .upsert_many(
                "things",
                UpsertMany {
                    records: serde_json::from_value(records).unwrap(),
                    match_on: None,
                    mode: Default::default(),
                },
                "tester",
                now,
            )
            .await;
        assert!(r.is_ok(), "{r:?}");
        // `secret` is hidden from this editor: it cannot be chosen, sorted on or filtered.
        for params in [
            json!({"fields": "title,secret"}),
            json!({"sort": "secret"}),
            json!({"filter": "secret = \"hide me\""}),
        ] {
            let q: QueryParams = serde_json::from_value(params.clone()).unwrap();
            let err = data.query("things", q).await.unwrap_err();
            assert!(
                err.to_string().contains("no field `secret`"),
                "{params}: {err}"
            );
        }
        for params in [
            json!({}),
            json!({"sort": "-amount", "limit": 2, "count": true}),
            json!({"fields": "title,tags", "filter": "amount > 0"}),
            json!({"filter": "amount > 100"}),
            json!({"limit": 3}),
        ] {
            let q: QueryParams = serde_json::from_value(params.clone()).unwrap();
            let tree =
                serde_json::to_value(data.query("things", q.clone()).await.unwrap()).unwrap();
            let body: Value =
                serde_json::from_slice(&data.query_body("things", q).await.unwrap()).unwrap();
            assert_eq!(body, tree, "{params}");
            assert!(body["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["attributes"].get("secret").is_none()));
        }
        let first = data
            .query(
                "things",
                serde_json::from_value(json!({"sort": "amount", "limit": 1})).unwrap(),
            )
            .await
            .unwrap();
        assert!(first.next_cursor.is_some());
        for id in ["t1", "t2", "t3"] {
            // A list's tree is built from the row; a record by id is written straight
            // from it: the two agree.
            let filter = format!("id = \"{id}\"");
            let listed = data
                .query(
                    "things",
                    serde_json::from_value(json!({ "filter": filter })).unwrap(),
                )
                .await
                .unwrap();
            let tree = listed.items[0].clone();
            assert_eq!(
                data.get_record("things", id, false, None).await.unwrap(),
                tree
            );
            let body: Value = serde_json::from_slice(
                &data
                    .get_record_body("things", id, false, None)
                    .await
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(body, tree, "{id}");
            assert!(body["attributes"].get("secret").is_none());
        }
        assert!(matches!(
            data.get_record_body("things", "nope", false, None).await,
            Err(andibase_common::DomainError::NotFound)
        ));
    }
}
