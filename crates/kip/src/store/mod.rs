//! Where a graph lives. The executor reads and writes through [`GraphStore`]; [`sqlite`]
//! is the one implementation so far (one SQLite file per graph), and the only code of this
//! crate that speaks SQL. A PostgreSQL store can be added beside it.

mod pushdown;
pub mod sqlite;

use std::rc::Rc;

use crate::ast::{Expr, JsonMap};
use crate::error::Result;

pub use sqlite::{SqliteGraph, SqliteStore};

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
    fn exists(&self, node: Ref) -> Result<bool>;
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
    /// Keyword search: `(id, score)` of the best `limit` hits, best first, where a lower
    /// (more negative) score is a better hit (BM25 as SQLite gives it).
    fn search(
        &self,
        index: SearchIn,
        expression: &str,
        with_type: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>>;
    fn meta_get(&self, key: &str) -> Result<Option<String>>;
    fn meta_set(&self, key: &str, value: &str) -> Result<()>;
}
