//! The graph's tables in one SQLite database (spec §9): concepts unique by (type, name),
//! one row per proposition triple, FTS5 tables over pre-segmented text. Everything the
//! executor reads or writes goes through [`SqliteStore`], which caches the rows it has
//! decoded for the life of one command; [`SqliteGraph`] owns the connection.

use std::rc::Rc;

use std::path::Path;
use std::time::Instant;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{
    cascade_from, indexed_text, map_of, pushdown, text_of, Concept, GraphStore, Link, NodeCache,
    Ref, SearchIn,
};
use crate::ast::{Expr, JsonMap};
use crate::error::{ErrorCode, KipError, Result};
use crate::text;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kip_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kip_concepts(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    metadata TEXT NOT NULL DEFAULT '{}',
    UNIQUE(type, name)
);
CREATE INDEX IF NOT EXISTS kip_concepts_name ON kip_concepts(name);
CREATE TABLE IF NOT EXISTS kip_links(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject INTEGER NOT NULL,
    predicate TEXT NOT NULL,
    object INTEGER NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    metadata TEXT NOT NULL DEFAULT '{}',
    UNIQUE(subject, predicate, object)
);
CREATE INDEX IF NOT EXISTS kip_links_object ON kip_links(object, predicate);
CREATE INDEX IF NOT EXISTS kip_links_predicate ON kip_links(predicate);
CREATE VIRTUAL TABLE IF NOT EXISTS kip_concepts_fts USING fts5(name, body, tokenize = 'ascii');
CREATE VIRTUAL TABLE IF NOT EXISTS kip_links_fts USING fts5(name, body, tokenize = 'ascii');
";

impl From<rusqlite::Error> for KipError {
    fn from(error: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(e, _) = &error {
            if e.code == rusqlite::ErrorCode::OperationInterrupted {
                return KipError::new(
                    ErrorCode::ExecutionTimeout,
                    "the command exceeded its time limit",
                );
            }
        }
        KipError::internal(format!("storage: {error}"))
    }
}

/// One graph's SQLite connection.
pub struct SqliteGraph {
    conn: Connection,
}

impl SqliteGraph {
    /// How many concepts and propositions the graph holds.
    pub fn counts(&self) -> Result<(i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM kip_concepts), (SELECT count(*) FROM kip_links)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// Opens (creating if needed) the graph in the file at `path`, for writing.
    pub fn open(path: &Path) -> Result<SqliteGraph> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )?;
        SqliteGraph::from_connection(conn)
    }

    /// A read-only connection to a graph another connection writes (WAL lets it read
    /// while the writer writes).
    pub fn open_read_only(path: &Path) -> Result<SqliteGraph> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "query_only", "ON")?;
        Ok(SqliteGraph { conn })
    }

    /// A graph in memory (tests, scratch work).
    pub fn in_memory() -> Result<SqliteGraph> {
        SqliteGraph::from_connection(Connection::open_in_memory()?)
    }

    /// Uses a connection the caller opened (in memory, or with its own pragmas).
    pub fn from_connection(conn: Connection) -> Result<SqliteGraph> {
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteGraph { conn })
    }

    /// The connection, for tests that inspect the tables.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` over the graph in one transaction (IMMEDIATE when `write`), committed when
    /// `f` succeeds and `commit` holds, rolled back otherwise; SQLite interrupts it once
    /// `deadline` has passed.
    pub fn transaction<T>(
        &mut self,
        write: bool,
        commit: bool,
        deadline: Instant,
        f: impl FnOnce(&dyn GraphStore) -> Result<T>,
    ) -> Result<T> {
        self.conn
            .progress_handler(10_000, Some(move || Instant::now() > deadline));
        let result = self.run(write, commit, f);
        self.conn.progress_handler(0, None::<fn() -> bool>);
        result
    }

    fn run<T>(
        &mut self,
        write: bool,
        commit: bool,
        f: impl FnOnce(&dyn GraphStore) -> Result<T>,
    ) -> Result<T> {
        let behavior = if write {
            rusqlite::TransactionBehavior::Immediate
        } else {
            rusqlite::TransactionBehavior::Deferred
        };
        let tx = self.conn.transaction_with_behavior(behavior)?;
        let answer = f(&SqliteStore::new(&tx))?;
        if commit {
            tx.commit()?;
        } else {
            tx.rollback()?;
        }
        Ok(answer)
    }
}

pub struct SqliteStore<'c> {
    conn: &'c Connection,
    cache: NodeCache,
}

/// Attributes and metadata are stored as SQLite JSONB (binary JSON), which pushed-down
/// FILTERs read without re-parsing text; they are read back as text for serde.
const CONCEPT_COLUMNS: &str = "id, type, name, json(attributes), json(metadata)";
const LINK_COLUMNS: &str = "id, subject, predicate, object, json(attributes), json(metadata)";

fn concept_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Concept> {
    Ok(Concept {
        id: row.get(0)?,
        ty: row.get(1)?,
        name: row.get(2)?,
        attributes: map_of(&row.get::<_, String>(3)?),
        metadata: map_of(&row.get::<_, String>(4)?),
    })
}

fn link_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Link> {
    Ok(Link {
        id: row.get(0)?,
        subject: Ref::decode(row.get(1)?),
        predicate: row.get(2)?,
        object: Ref::decode(row.get(3)?),
        attributes: map_of(&row.get::<_, String>(4)?),
        metadata: map_of(&row.get::<_, String>(5)?),
    })
}

impl<'c> SqliteStore<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        SqliteStore {
            conn,
            cache: NodeCache::default(),
        }
    }

    fn concepts_where(
        &self,
        condition: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Rc<Concept>>> {
        let sql = format!("SELECT {CONCEPT_COLUMNS} FROM kip_concepts WHERE {condition}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(args, concept_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(self.cache.concepts.keep(row?));
        }
        // Sorted here rather than by SQL, which would sort whole rows in a temp b-tree.
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    /// Links in id order. The sort is done here: with `ORDER BY id` SQLite prefers the
    /// predicate index (already in id order) over the far narrower subject index.
    fn links_where(&self, condition: &str, args: impl rusqlite::Params) -> Result<Vec<Rc<Link>>> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM kip_links WHERE {condition}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(args, link_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(self.cache.links.keep(row?));
        }
        out.sort_by_key(|l| l.id);
        Ok(out)
    }

    /// Concepts of a type, a name or both, narrowed by an extra SQL condition.
    /// Links out of `subject`, optionally only with predicate `predicate`.
    /// Ids of the objects reachable in one hop: the cheap query multi-hop walks use.
    /// Writes attributes, metadata and endpoints (MERGE re-points links keeping their id).
    /// Every link that touches `node`, and transitively every higher-order link that
    /// points at one of those: what a DETACH or a link delete must remove with it.
    fn index_concept(
        &self,
        id: i64,
        name: &str,
        attributes: &JsonMap,
        metadata: &JsonMap,
    ) -> Result<()> {
        let body = indexed_text(&[attributes, metadata]);
        self.conn
            .prepare_cached("INSERT INTO kip_concepts_fts(rowid, name, body) VALUES (?1, ?2, ?3)")?
            .execute(params![id, text::segment(name), text::segment(&body)])?;
        Ok(())
    }

    fn index_link(&self, id: i64, predicate: &str, attributes: &JsonMap) -> Result<()> {
        let body = indexed_text(&[attributes]);
        self.conn
            .prepare_cached("INSERT INTO kip_links_fts(rowid, name, body) VALUES (?1, ?2, ?3)")?
            .execute(params![
                id,
                text::segment(&predicate.replace('_', " ")),
                text::segment(&body)
            ])?;
        Ok(())
    }
}

impl GraphStore for SqliteStore<'_> {
    fn concept(&self, id: i64) -> Result<Option<Rc<Concept>>> {
        self.cache
            .concepts
            .get_or_load(id, || Ok(self.concepts_where("id = ?1", [id])?.pop()))
    }

    fn concepts_filtered(
        &self,
        ty: Option<&str>,
        name: Option<&str>,
        filters: &[&Expr],
    ) -> Result<Option<Vec<Rc<Concept>>>> {
        let Some(scan) = pushdown::scan(ty, name, filters, pushdown::Flavor::Sqlite) else {
            return Ok(None);
        };
        let (condition, params) = (scan.sql, scan.params);
        self.concepts_where(&condition, rusqlite::params_from_iter(params))
            .map(Some)
    }

    fn search(
        &self,
        index: SearchIn,
        terms: &[String],
        with_type: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>> {
        let expression = text::match_expression(terms);
        // The proposition index is searched the same way; there the type is a predicate.
        let (fts, base, ty) = match index {
            SearchIn::Concepts => ("kip_concepts_fts", "kip_concepts", "type"),
            SearchIn::Propositions => ("kip_links_fts", "kip_links", "predicate"),
        };
        // The limit is in the text: a bound LIMIT makes SQLite re-prepare at every run.
        let sql = format!(
            "SELECT {fts}.rowid, bm25({fts}, 10.0, 1.0) AS score
             FROM {fts} JOIN {base} b ON b.id = {fts}.rowid
             WHERE {fts} MATCH ?1 AND (?2 IS NULL OR b.{ty} = ?2)
             ORDER BY score LIMIT {limit}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![expression, with_type], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.map(|r| r.map_err(KipError::from)).collect()
    }

    fn concept_by_key(&self, ty: &str, name: &str) -> Result<Option<Rc<Concept>>> {
        Ok(self
            .concepts_where("type = ?1 AND name = ?2", [ty, name])?
            .pop())
    }

    fn concepts_of_type(&self, ty: &str) -> Result<Vec<Rc<Concept>>> {
        self.concepts_where("type = ?1", [ty])
    }

    fn concepts_named(&self, name: &str) -> Result<Vec<Rc<Concept>>> {
        self.concepts_where("name = ?1", [name])
    }

    fn is_registered(&self, meta_type: &str, name: &str) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM kip_concepts WHERE type = ?1 AND name = ?2")?;
        Ok(stmt.exists([meta_type, name])?)
    }

    fn link(&self, id: i64) -> Result<Option<Rc<Link>>> {
        self.cache
            .links
            .get_or_load(id, || Ok(self.links_where("id = ?1", [id])?.pop()))
    }

    fn link_by_triple(
        &self,
        subject: Ref,
        predicate: &str,
        object: Ref,
    ) -> Result<Option<Rc<Link>>> {
        Ok(self
            .links_where(
                "subject = ?1 AND predicate = ?2 AND object = ?3",
                params![subject.encode(), predicate, object.encode()],
            )?
            .pop())
    }

    fn links_from(&self, subject: Ref, predicate: Option<&str>) -> Result<Vec<Rc<Link>>> {
        match predicate {
            Some(p) => self.links_where(
                "subject = ?1 AND predicate = ?2",
                params![subject.encode(), p],
            ),
            None => self.links_where("subject = ?1", [subject.encode()]),
        }
    }

    fn links_to(&self, object: Ref, predicate: Option<&str>) -> Result<Vec<Rc<Link>>> {
        match predicate {
            Some(p) => self.links_where(
                "object = ?1 AND predicate = ?2",
                params![object.encode(), p],
            ),
            None => self.links_where("object = ?1", [object.encode()]),
        }
    }

    fn links_with_predicate(&self, predicate: Option<&str>) -> Result<Vec<Rc<Link>>> {
        match predicate {
            Some(p) => self.links_where("predicate = ?1", [p]),
            None => self.links_where("1", []),
        }
    }

    fn neighbours(&self, node: Ref, predicate: &str, forward: bool) -> Result<Vec<Ref>> {
        let sql = if forward {
            "SELECT object FROM kip_links WHERE subject = ?1 AND predicate = ?2"
        } else {
            "SELECT subject FROM kip_links WHERE object = ?1 AND predicate = ?2"
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![node.encode(), predicate], |r| r.get::<_, i64>(0))?;
        rows.map(|r| r.map(Ref::decode).map_err(KipError::from))
            .collect()
    }

    // ---------- writes ----------

    fn insert_concept(
        &self,
        ty: &str,
        name: &str,
        attributes: &JsonMap,
        metadata: &JsonMap,
    ) -> Result<i64> {
        self.conn
            .prepare_cached("INSERT INTO kip_concepts(type, name, attributes, metadata) VALUES (?1, ?2, jsonb(?3), jsonb(?4))")?
            .execute(params![ty, name, text_of(attributes), text_of(metadata)])?;
        let id = self.conn.last_insert_rowid();
        self.cache.concepts.forget(id);
        self.index_concept(id, name, attributes, metadata)?;
        Ok(id)
    }

    fn update_concept(&self, concept: &Concept) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE kip_concepts SET attributes = jsonb(?2), metadata = jsonb(?3) WHERE id = ?1")?
            .execute(params![
                concept.id,
                text_of(&concept.attributes),
                text_of(&concept.metadata)
            ])?;
        self.cache.concepts.keep(concept.clone());
        self.conn
            .prepare_cached("DELETE FROM kip_concepts_fts WHERE rowid = ?1")?
            .execute([concept.id])?;
        self.index_concept(
            concept.id,
            &concept.name,
            &concept.attributes,
            &concept.metadata,
        )
    }

    fn delete_concept(&self, id: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM kip_concepts WHERE id = ?1")?
            .execute([id])?;
        self.conn
            .prepare_cached("DELETE FROM kip_concepts_fts WHERE rowid = ?1")?
            .execute([id])?;
        self.cache.concepts.deleted(id);
        Ok(())
    }

    fn insert_link(
        &self,
        subject: Ref,
        predicate: &str,
        object: Ref,
        attributes: &JsonMap,
        metadata: &JsonMap,
    ) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO kip_links(subject, predicate, object, attributes, metadata) VALUES (?1, ?2, ?3, jsonb(?4), jsonb(?5))",
            )?
            .execute(params![subject.encode(), predicate, object.encode(), text_of(attributes), text_of(metadata)])?;
        let id = self.conn.last_insert_rowid();
        self.cache.links.forget(id);
        self.index_link(id, predicate, attributes)?;
        Ok(id)
    }

    fn update_link(&self, link: &Link) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE kip_links SET subject = ?2, object = ?3, attributes = jsonb(?4), metadata = jsonb(?5) WHERE id = ?1")?
            .execute(params![
                link.id,
                link.subject.encode(),
                link.object.encode(),
                text_of(&link.attributes),
                text_of(&link.metadata)
            ])?;
        self.cache.links.keep(link.clone());
        self.conn
            .prepare_cached("DELETE FROM kip_links_fts WHERE rowid = ?1")?
            .execute([link.id])?;
        self.index_link(link.id, &link.predicate, &link.attributes)
    }

    fn delete_link(&self, id: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM kip_links WHERE id = ?1")?
            .execute([id])?;
        self.conn
            .prepare_cached("DELETE FROM kip_links_fts WHERE rowid = ?1")?
            .execute([id])?;
        self.cache.links.deleted(id);
        Ok(())
    }

    fn cascade(&self, roots: &[Ref]) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM kip_links WHERE subject = ?1 OR object = ?1")?;
        cascade_from(roots, |node| {
            let ids = stmt.query_map([node.encode()], |r| r.get::<_, i64>(0))?;
            ids.map(|id| id.map_err(KipError::from)).collect()
        })
    }

    fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM kip_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO kip_meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}
