//! The graph's tables in one SQLite database (spec §9): concepts unique by (type, name),
//! one row per proposition triple, FTS5 tables over pre-segmented text. Everything the
//! executor reads or writes goes through `Store`, which caches the rows it has decoded for
//! the life of one command.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

use crate::ast::JsonMap;
use crate::error::{KipError, Result};
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

/// A node reference as stored in `subject` / `object`: concepts positive, links negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ref {
    Concept(i64),
    Link(i64),
}

impl Ref {
    pub fn encode(self) -> i64 {
        match self {
            Ref::Concept(id) => id,
            Ref::Link(id) => -id,
        }
    }

    pub fn decode(raw: i64) -> Self {
        if raw < 0 {
            Ref::Link(-raw)
        } else {
            Ref::Concept(raw)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Concept {
    pub id: i64,
    pub ty: String,
    pub name: String,
    pub attributes: JsonMap,
    pub metadata: JsonMap,
}

#[derive(Debug, Clone)]
pub struct Link {
    pub id: i64,
    pub subject: Ref,
    pub predicate: String,
    pub object: Ref,
    pub attributes: JsonMap,
    pub metadata: JsonMap,
}

pub fn concept_id(id: i64) -> String {
    format!("C:{id}")
}

pub fn link_id(id: i64, predicate: &str) -> String {
    format!("P:{id}:{predicate}")
}

/// `C:12` → 12; `P:7:treats` → 7 (the predicate part is informative only).
pub fn parse_concept_id(id: &str) -> Option<i64> {
    id.strip_prefix("C:")?.parse().ok()
}

pub fn parse_link_id(id: &str) -> Option<(i64, &str)> {
    let rest = id.strip_prefix("P:")?;
    let (number, predicate) = rest.split_once(':').unwrap_or((rest, ""));
    Some((number.parse().ok()?, predicate))
}

fn map_of(text: &str) -> JsonMap {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn text_of(map: &JsonMap) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

pub struct Store<'c> {
    pub conn: &'c Connection,
    concepts: RefCell<HashMap<i64, Option<Rc<Concept>>>>,
    links: RefCell<HashMap<i64, Option<Rc<Link>>>>,
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

impl<'c> Store<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Store {
            conn,
            concepts: RefCell::default(),
            links: RefCell::default(),
        }
    }

    fn cache_concept(&self, concept: Concept) -> Rc<Concept> {
        let concept = Rc::new(concept);
        self.concepts
            .borrow_mut()
            .insert(concept.id, Some(concept.clone()));
        concept
    }

    fn cache_link(&self, link: Link) -> Rc<Link> {
        let link = Rc::new(link);
        self.links.borrow_mut().insert(link.id, Some(link.clone()));
        link
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
            out.push(self.cache_concept(row?));
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
            out.push(self.cache_link(row?));
        }
        out.sort_by_key(|l| l.id);
        Ok(out)
    }

    pub fn concept(&self, id: i64) -> Result<Option<Rc<Concept>>> {
        if let Some(hit) = self.concepts.borrow().get(&id) {
            return Ok(hit.clone());
        }
        let found = self.concepts_where("id = ?1", [id])?.pop();
        if found.is_none() {
            self.concepts.borrow_mut().insert(id, None);
        }
        Ok(found)
    }

    /// Concepts of a type, a name or both, narrowed by an extra SQL condition.
    pub fn concepts_filtered(
        &self,
        ty: Option<&str>,
        name: Option<&str>,
        extra: &crate::pushdown::SqlFilter,
    ) -> Result<Vec<Rc<Concept>>> {
        let mut params = Vec::new();
        let mut condition = String::new();
        for (column, value) in [("type", ty), ("name", name)] {
            if let Some(value) = value {
                params.push(rusqlite::types::Value::Text(value.to_string()));
                condition.push_str(&format!("{column} = ? AND "));
            }
        }
        condition.push_str(&extra.sql);
        params.extend(extra.params.iter().cloned());
        self.concepts_where(&condition, rusqlite::params_from_iter(params))
    }

    pub fn concept_by_key(&self, ty: &str, name: &str) -> Result<Option<Rc<Concept>>> {
        Ok(self
            .concepts_where("type = ?1 AND name = ?2", [ty, name])?
            .pop())
    }

    pub fn concepts_of_type(&self, ty: &str) -> Result<Vec<Rc<Concept>>> {
        self.concepts_where("type = ?1", [ty])
    }

    pub fn concepts_named(&self, name: &str) -> Result<Vec<Rc<Concept>>> {
        self.concepts_where("name = ?1", [name])
    }

    pub fn is_registered(&self, meta_type: &str, name: &str) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM kip_concepts WHERE type = ?1 AND name = ?2")?;
        Ok(stmt.exists([meta_type, name])?)
    }

    pub fn link(&self, id: i64) -> Result<Option<Rc<Link>>> {
        if let Some(hit) = self.links.borrow().get(&id) {
            return Ok(hit.clone());
        }
        let found = self.links_where("id = ?1", [id])?.pop();
        if found.is_none() {
            self.links.borrow_mut().insert(id, None);
        }
        Ok(found)
    }

    pub fn link_by_triple(
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

    /// Links out of `subject`, optionally only with predicate `predicate`.
    pub fn links_from(&self, subject: Ref, predicate: Option<&str>) -> Result<Vec<Rc<Link>>> {
        match predicate {
            Some(p) => self.links_where(
                "subject = ?1 AND predicate = ?2",
                params![subject.encode(), p],
            ),
            None => self.links_where("subject = ?1", [subject.encode()]),
        }
    }

    pub fn links_to(&self, object: Ref, predicate: Option<&str>) -> Result<Vec<Rc<Link>>> {
        match predicate {
            Some(p) => self.links_where(
                "object = ?1 AND predicate = ?2",
                params![object.encode(), p],
            ),
            None => self.links_where("object = ?1", [object.encode()]),
        }
    }

    pub fn links_with_predicate(&self, predicate: Option<&str>) -> Result<Vec<Rc<Link>>> {
        match predicate {
            Some(p) => self.links_where("predicate = ?1", [p]),
            None => self.links_where("1", []),
        }
    }

    /// Ids of the objects reachable in one hop: the cheap query multi-hop walks use.
    pub fn neighbours(&self, node: Ref, predicate: &str, forward: bool) -> Result<Vec<Ref>> {
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

    pub fn exists(&self, node: Ref) -> Result<bool> {
        Ok(match node {
            Ref::Concept(id) => self.concept(id)?.is_some(),
            Ref::Link(id) => self.link(id)?.is_some(),
        })
    }

    // ---------- writes ----------

    pub fn insert_concept(
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
        self.concepts.borrow_mut().remove(&id);
        self.index_concept(id, name, attributes, metadata)?;
        Ok(id)
    }

    pub fn update_concept(&self, concept: &Concept) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE kip_concepts SET attributes = jsonb(?2), metadata = jsonb(?3) WHERE id = ?1")?
            .execute(params![
                concept.id,
                text_of(&concept.attributes),
                text_of(&concept.metadata)
            ])?;
        self.cache_concept(concept.clone());
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

    pub fn delete_concept(&self, id: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM kip_concepts WHERE id = ?1")?
            .execute([id])?;
        self.conn
            .prepare_cached("DELETE FROM kip_concepts_fts WHERE rowid = ?1")?
            .execute([id])?;
        self.concepts.borrow_mut().insert(id, None);
        Ok(())
    }

    pub fn insert_link(
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
        self.links.borrow_mut().remove(&id);
        self.index_link(id, predicate, attributes)?;
        Ok(id)
    }

    /// Writes attributes, metadata and endpoints (MERGE re-points links keeping their id).
    pub fn update_link(&self, link: &Link) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE kip_links SET subject = ?2, object = ?3, attributes = jsonb(?4), metadata = jsonb(?5) WHERE id = ?1")?
            .execute(params![
                link.id,
                link.subject.encode(),
                link.object.encode(),
                text_of(&link.attributes),
                text_of(&link.metadata)
            ])?;
        self.cache_link(link.clone());
        self.conn
            .prepare_cached("DELETE FROM kip_links_fts WHERE rowid = ?1")?
            .execute([link.id])?;
        self.index_link(link.id, &link.predicate, &link.attributes)
    }

    pub fn delete_link(&self, id: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM kip_links WHERE id = ?1")?
            .execute([id])?;
        self.conn
            .prepare_cached("DELETE FROM kip_links_fts WHERE rowid = ?1")?
            .execute([id])?;
        self.links.borrow_mut().insert(id, None);
        Ok(())
    }

    /// Every link that touches `node`, and transitively every higher-order link that
    /// points at one of those: what a DETACH or a link delete must remove with it.
    pub fn cascade(&self, roots: &[Ref]) -> Result<Vec<i64>> {
        let mut found: Vec<i64> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut frontier: Vec<Ref> = roots.to_vec();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM kip_links WHERE subject = ?1 OR object = ?1")?;
        while let Some(node) = frontier.pop() {
            let ids = stmt.query_map([node.encode()], |r| r.get::<_, i64>(0))?;
            for id in ids {
                let id = id?;
                if seen.insert(id) {
                    found.push(id);
                    frontier.push(Ref::Link(id));
                }
            }
        }
        Ok(found)
    }

    fn index_concept(
        &self,
        id: i64,
        name: &str,
        attributes: &JsonMap,
        metadata: &JsonMap,
    ) -> Result<()> {
        let mut body = String::new();
        text::collect_strings(&Value::Object(attributes.clone()), &mut body);
        text::collect_strings(&Value::Object(metadata.clone()), &mut body);
        self.conn
            .prepare_cached("INSERT INTO kip_concepts_fts(rowid, name, body) VALUES (?1, ?2, ?3)")?
            .execute(params![id, text::segment(name), text::segment(&body)])?;
        Ok(())
    }

    fn index_link(&self, id: i64, predicate: &str, attributes: &JsonMap) -> Result<()> {
        let mut body = String::new();
        text::collect_strings(&Value::Object(attributes.clone()), &mut body);
        self.conn
            .prepare_cached("INSERT INTO kip_links_fts(rowid, name, body) VALUES (?1, ?2, ?3)")?
            .execute(params![
                id,
                text::segment(&predicate.replace('_', " ")),
                text::segment(&body)
            ])?;
        Ok(())
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM kip_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO kip_meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}
