//! The record filter language (issue: data).
//!
//! One typed AST ([`Filter`]) with two spellings that parse to it:
//!
//! - JSON: `{"and": [...]}`, `{"or": [...]}`, `{"not": f}`, `{"field": "status", "op": "eq", "value": "open"}`
//! - text: `status = "open" && (amount > 100 || tags ?= "vip")`
//!
//! [`compile`] checks a filter against the fields a [`Schema`] knows and turns it into a
//! typed [`Predicate`] (columns, tests, values); the storage crate renders that in its
//! database's SQL. [`eval`] is the plain in-memory meaning the SQL must agree with;
//! property tests (in the storage crate, on real databases) hold the two together, with
//! the random filters of the `arbitrary` module (feature `arbitrary`).

#[cfg(any(test, feature = "arbitrary"))]
pub mod arbitrary;
mod ast;
mod compile;
mod eval;
mod json;
mod text;

pub use ast::{Filter, Op};
pub use compile::{compile, FieldKind, Hop, Param, Predicate, ResolvedField, Schema, Test};
pub use eval::eval;
pub use json::parse_json;
pub use text::{parse_text, to_text};

/// A filter that could not be parsed or checked: what is wrong, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterError {
    pub message: String,
    /// Text spelling: the character offset. JSON spelling: a JSON pointer (`/and/1/op`).
    pub position: Position,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Position {
    Offset(usize),
    Pointer(String),
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.position {
            Position::Offset(o) => write!(f, "{} (at character {o})", self.message),
            Position::Pointer(p) if p.is_empty() => write!(f, "{}", self.message),
            Position::Pointer(p) => write!(f, "{} (at {p})", self.message),
        }
    }
}

impl std::error::Error for FilterError {}
