//! Where a graph lives. The executor reads and writes through [`GraphStore`]; [`sqlite`]
//! (one SQLite file per graph) and [`postgres`] (one schema per graph, shared by
//! replicas) implement it, and are the only code of this crate that speaks SQL.

pub mod postgres;
mod pushdown;
pub mod sqlite;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::ast::{Expr, JsonMap};
use crate::error::Result;

pub use postgres::{PostgresGraph, PostgresStore};
pub use sqlite::{SqliteGraph, SqliteStore};

/// A graph's connection, on either engine.
pub enum GraphDb {
    Sqlite(SqliteGraph),
    Postgres(PostgresGraph),
}

impl From<SqliteGraph> for GraphDb {
    fn from(g: SqliteGraph) -> Self {
        GraphDb::Sqlite(g)
    }
}

impl From<PostgresGraph> for GraphDb {
    fn from(g: PostgresGraph) -> Self {
        GraphDb::Postgres(g)
    }
}

impl GraphDb {
    /// Runs `f` over the graph in one transaction (a write one when `write`), committed
    /// when `f` succeeds and `commit` holds, rolled back otherwise; stopped once
    /// `deadline` has passed.
    pub fn transaction<T>(
        &mut self,
        write: bool,
        commit: bool,
        deadline: Instant,
        f: impl FnOnce(&dyn GraphStore) -> Result<T>,
    ) -> Result<T> {
        match self {
            GraphDb::Sqlite(g) => g.transaction(write, commit, deadline, f),
            GraphDb::Postgres(g) => g.transaction(write, commit, deadline, f),
        }
    }

    /// How many concepts and propositions the graph holds.
    pub fn counts(&mut self) -> Result<(i64, i64)> {
        match self {
            GraphDb::Sqlite(g) => g.counts(),
            GraphDb::Postgres(g) => g.counts(),
        }
    }
}

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

/// A JSON object stored as text (anything else reads as empty).
fn map_of(text: &str) -> JsonMap {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn text_of(map: &JsonMap) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

/// The text a node's index keeps besides its name: every string in its maps.
fn indexed_text(maps: &[&JsonMap]) -> String {
    let mut body = String::new();
    for map in maps {
        crate::text::collect_strings(&Value::Object((*map).clone()), &mut body);
    }
    body
}

/// Every link that touches a root, and transitively every higher-order link that points at
/// one of those (what a DETACH or a link delete removes with it); `touching` gives the ids
/// of the links whose subject or object is a node.
fn cascade_from(
    roots: &[Ref],
    mut touching: impl FnMut(Ref) -> Result<Vec<i64>>,
) -> Result<Vec<i64>> {
    let mut found: Vec<i64> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut frontier: Vec<Ref> = roots.to_vec();
    while let Some(node) = frontier.pop() {
        for id in touching(node)? {
            if seen.insert(id) {
                found.push(id);
                frontier.push(Ref::Link(id));
            }
        }
    }
    Ok(found)
}

/// The rows one command has decoded, by id; `None` for an id known to be missing.
#[derive(Default)]
struct NodeCache {
    concepts: Rows<Concept>,
    links: Rows<Link>,
}

/// Rows of one kind kept by [`NodeCache`].
struct Rows<T>(RefCell<HashMap<i64, Option<Rc<T>>>>);

impl<T> Default for Rows<T> {
    fn default() -> Self {
        Rows(RefCell::default())
    }
}

/// What a [`Rows`] is keyed by.
trait Keyed {
    fn key(&self) -> i64;
}

impl Keyed for Concept {
    fn key(&self) -> i64 {
        self.id
    }
}

impl Keyed for Link {
    fn key(&self) -> i64 {
        self.id
    }
}

impl<T: Keyed> Rows<T> {
    fn keep(&self, row: T) -> Rc<T> {
        let row = Rc::new(row);
        self.0.borrow_mut().insert(row.key(), Some(row.clone()));
        row
    }

    /// The row `id` from the cache, or else from `load` (remembered either way).
    fn get_or_load(
        &self,
        id: i64,
        load: impl FnOnce() -> Result<Option<Rc<T>>>,
    ) -> Result<Option<Rc<T>>> {
        if let Some(hit) = self.0.borrow().get(&id) {
            return Ok(hit.clone());
        }
        let found = load()?;
        if found.is_none() {
            self.0.borrow_mut().insert(id, None);
        }
        Ok(found)
    }

    fn forget(&self, id: i64) {
        self.0.borrow_mut().remove(&id);
    }

    fn deleted(&self, id: i64) {
        self.0.borrow_mut().insert(id, None);
    }
}

/// Which full-text index a search reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchIn {
    /// Concepts; `with_type` names a concept type.
    Concepts,
    /// Propositions; `with_type` names a predicate.
    Propositions,
}

/// What the executor needs of a graph, within one command (one transaction). A store may
/// cache the rows it decoded for the life of the command.
pub trait GraphStore {
    fn concept(&self, id: i64) -> Result<Option<Rc<Concept>>>;
    /// Concepts of a type, a name or both, narrowed by FILTER expressions on them that the
    /// store can evaluate itself; none when it can use none of them. The FILTERs still run
    /// afterwards, so a store may keep more concepts than they do, never fewer.
    fn concepts_filtered(
        &self,
        ty: Option<&str>,
        name: Option<&str>,
        filters: &[&Expr],
    ) -> Result<Option<Vec<Rc<Concept>>>>;
    fn concept_by_key(&self, ty: &str, name: &str) -> Result<Option<Rc<Concept>>>;
    fn concepts_of_type(&self, ty: &str) -> Result<Vec<Rc<Concept>>>;
    fn concepts_named(&self, name: &str) -> Result<Vec<Rc<Concept>>>;
    fn is_registered(&self, meta_type: &str, name: &str) -> Result<bool>;
    fn link(&self, id: i64) -> Result<Option<Rc<Link>>>;
    fn link_by_triple(
        &self,
        subject: Ref,
        predicate: &str,
        object: Ref,
    ) -> Result<Option<Rc<Link>>>;
    fn links_from(&self, subject: Ref, predicate: Option<&str>) -> Result<Vec<Rc<Link>>>;
    fn links_to(&self, object: Ref, predicate: Option<&str>) -> Result<Vec<Rc<Link>>>;
    fn links_with_predicate(&self, predicate: Option<&str>) -> Result<Vec<Rc<Link>>>;
    fn neighbours(&self, node: Ref, predicate: &str, forward: bool) -> Result<Vec<Ref>>;
    fn exists(&self, node: Ref) -> Result<bool> {
        Ok(match node {
            Ref::Concept(id) => self.concept(id)?.is_some(),
            Ref::Link(id) => self.link(id)?.is_some(),
        })
    }
    fn insert_concept(
        &self,
        ty: &str,
        name: &str,
        attributes: &JsonMap,
        metadata: &JsonMap,
    ) -> Result<i64>;
    fn update_concept(&self, concept: &Concept) -> Result<()>;
    fn delete_concept(&self, id: i64) -> Result<()>;
    fn insert_link(
        &self,
        subject: Ref,
        predicate: &str,
        object: Ref,
        attributes: &JsonMap,
        metadata: &JsonMap,
    ) -> Result<i64>;
    fn update_link(&self, link: &Link) -> Result<()>;
    fn delete_link(&self, id: i64) -> Result<()>;
    /// Deletes the links hanging off `roots` (and those off them), giving their ids.
    fn cascade(&self, roots: &[Ref]) -> Result<Vec<i64>>;
    /// Keyword search for any of `terms` (the search text's tokens, see
    /// [`crate::text::tokens`]): `(id, score)` of the best `limit` hits, best first, where
    /// a lower (more negative) score is a better hit (BM25 as SQLite gives it).
    fn search(
        &self,
        index: SearchIn,
        terms: &[String],
        with_type: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>>;
    fn meta_get(&self, key: &str) -> Result<Option<String>>;
    fn meta_set(&self, key: &str, value: &str) -> Result<()>;
}
