//! Checks a filter against a schema and compiles it to a typed [`Predicate`]: which
//! column is tested how, against which values. The tree holds no SQL; the storage crate
//! renders it in its database's dialect, with values only ever as parameters.
//!
//! Negation is pushed down to the comparisons (De Morgan), and a negated comparison is
//! two-valued ([`Predicate::Not`] is true where its test is false *or unknown*), so `NOT`
//! means exactly what [`crate::eval`] says even where SQL's NULL logic would differ.
//! Positive comparisons stay index-friendly.

use andibase_common::Timestamp;
use serde_json::Value;

use crate::ast::{Filter, Op};
use crate::{FilterError, Position};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Text, email, url, select, file ids: compared as text.
    Text,
    Number,
    Boolean,
    /// `YYYY-MM-DD`
    Date,
    /// ISO-8601 UTC with milliseconds, normalized on the way in.
    DateTime,
    /// A JSON array of strings (multi-select values, many-relationship ids).
    Multi,
    /// Any JSON; only null checks.
    Json,
}

/// One step through a relationship: `local_column` of the current row points to `id` of
/// `target_table` (or holds a JSON array of such ids when `many`).
#[derive(Clone, Debug, PartialEq)]
pub struct Hop {
    pub local_column: String,
    pub many: bool,
    pub target_table: String,
    /// A column that is NULL on live target rows (a soft-delete marker): related rows
    /// with it set never match a path.
    pub live_column: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ResolvedField {
    pub hops: Vec<Hop>,
    pub column: String,
    pub kind: FieldKind,
}

/// What the filter may name: resolves a path to a column (after relationship hops).
pub trait Schema {
    fn resolve(&self, path: &[String]) -> Result<ResolvedField, String>;
}

/// A value a test compares with, already checked against the field's kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
}

/// A checked filter: what to test, never how a database spells it.
#[derive(Clone, Debug, PartialEq)]
pub enum Predicate {
    /// Always true or always false (an empty group, an empty `in` list).
    Const(bool),
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    /// True where the inner predicate is false or unknown (a NULL comparison).
    Not(Box<Predicate>),
    /// Some live row reached through `hop` satisfies `inner`.
    Related {
        hop: Hop,
        inner: Box<Predicate>,
    },
    /// A test of one column of the current row.
    Test {
        column: String,
        test: Test,
    },
}

/// What one column is tested for.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    Eq(Param),
    /// Differs from the value, or is null.
    Ne(Param),
    Gt(Param),
    Gte(Param),
    Lt(Param),
    Lte(Param),
    /// Equals one of the values (never empty: an empty list is [`Predicate::Const`]).
    In(Vec<Param>),
    /// Equals none of the values, or is null (never empty).
    NotIn(Vec<Param>),
    Between(Param, Param),
    IsNull,
    IsNotNull,
    /// A JSON array column holds this element.
    HasElement(Param),
    /// Holds this text, case-sensitive.
    Contains(String),
    /// Holds this text, ignoring case.
    ContainsIgnoringCase(String),
    /// Starts with this text (never empty: that is [`Test::IsNotNull`]).
    StartsWith(String),
    /// Ends with this text (never empty).
    EndsWith(String),
}

fn err(at: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        message: message.into(),
        position: Position::Pointer(at.to_string()),
    }
}

/// Checks one value against the field's kind and turns it into a parameter.
fn param(kind: FieldKind, v: &Value, field: &str, at: &str) -> Result<Param, FilterError> {
    let bad = |want: &str| err(at, format!("`{field}` takes {want}, not {v}"));
    match kind {
        FieldKind::Text | FieldKind::Multi => v
            .as_str()
            .map(|s| Param::Text(s.to_string()))
            .ok_or_else(|| bad("a string")),
        FieldKind::Number => match v.as_i64() {
            Some(i) => Ok(Param::Integer(i)),
            None => v.as_f64().map(Param::Real).ok_or_else(|| bad("a number")),
        },
        FieldKind::Boolean => v
            .as_bool()
            .map(Param::Bool)
            .ok_or_else(|| bad("true or false")),
        FieldKind::Date => {
            let s = v.as_str().ok_or_else(|| bad("a date like 2026-03-11"))?;
            let ok = s.len() == 10 && Timestamp::parse_iso(&format!("{s}T00:00:00Z")).is_some();
            if ok {
                Ok(Param::Text(s.to_string()))
            } else {
                Err(bad("a date like 2026-03-11"))
            }
        }
        FieldKind::DateTime => v
            .as_str()
            .and_then(Timestamp::parse_iso)
            .map(|t| Param::Text(t.to_iso()))
            .ok_or_else(|| bad("an ISO-8601 UTC time like 2026-03-11T02:00:00.000Z")),
        FieldKind::Json => Err(err(at, format!("`{field}` is JSON: only isNull applies"))),
    }
}

fn allowed(kind: FieldKind, op: Op) -> bool {
    use Op::*;
    match kind {
        FieldKind::Text => true,
        FieldKind::Number | FieldKind::Date | FieldKind::DateTime => matches!(
            op,
            Eq | Neq | Gt | Gte | Lt | Lte | In | Nin | Between | IsNull
        ),
        FieldKind::Boolean => matches!(op, Eq | Neq | IsNull),
        FieldKind::Multi => matches!(op, Contains | IsNull),
        FieldKind::Json => matches!(op, IsNull),
    }
}

struct Compiler<'a> {
    schema: &'a dyn Schema,
}

impl Compiler<'_> {
    fn node(&self, f: &Filter, negated: bool, at: &str) -> Result<Predicate, FilterError> {
        match f {
            Filter::And(items) | Filter::Or(items) => {
                let is_and = matches!(f, Filter::And(_));
                let key = if is_and { "and" } else { "or" };
                // Under negation, AND becomes OR and the other way round.
                let joins_with_and = is_and != negated;
                if items.is_empty() {
                    return Ok(Predicate::Const(joins_with_and));
                }
                let parts = items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| self.node(it, negated, &format!("{at}/{key}/{i}")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if joins_with_and {
                    Predicate::All(parts)
                } else {
                    Predicate::Any(parts)
                })
            }
            Filter::Not(inner) => self.node(inner, !negated, &format!("{at}/not")),
            Filter::Cmp { field, op, value } => {
                let positive = self.comparison(field, *op, value, at)?;
                Ok(if negated {
                    Predicate::Not(Box::new(positive))
                } else {
                    positive
                })
            }
        }
    }

    fn comparison(
        &self,
        field: &[String],
        op: Op,
        value: &Value,
        at: &str,
    ) -> Result<Predicate, FilterError> {
        let name = field.join(".");
        let resolved = self
            .schema
            .resolve(field)
            .map_err(|m| err(&format!("{at}/field"), m))?;
        if !allowed(resolved.kind, op) {
            return Err(err(
                &format!("{at}/op"),
                format!("`{}` does not apply to `{name}`", op.name()),
            ));
        }
        let at_value = format!("{at}/value");
        let kind = resolved.kind;
        let one = |v: &Value| param(kind, v, &name, &at_value);
        let list = |v: &Value| -> Result<Vec<Value>, FilterError> {
            v.as_array()
                .cloned()
                .ok_or_else(|| err(&at_value, format!("`{}` takes a list", op.name())))
        };
        let text_value = |v: &Value| -> Result<String, FilterError> {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| err(&at_value, format!("`{}` takes a string", op.name())))
        };
        let test = match op {
            Op::Eq | Op::Neq | Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                if value.is_null() {
                    return Err(err(
                        &at_value,
                        "compare with null using isNull (or `= null` in the text form)",
                    ));
                }
                let p = one(value)?;
                match op {
                    Op::Eq => Test::Eq(p),
                    Op::Neq => Test::Ne(p),
                    Op::Gt => Test::Gt(p),
                    Op::Gte => Test::Gte(p),
                    Op::Lt => Test::Lt(p),
                    _ => Test::Lte(p),
                }
            }
            Op::In | Op::Nin => {
                let items = list(value)?;
                if items.len() > 1000 {
                    return Err(err(&at_value, "a list holds at most 1000 values"));
                }
                let params = items.iter().map(one).collect::<Result<Vec<_>, _>>()?;
                match (op, params.is_empty()) {
                    (Op::In, true) => return Ok(related(resolved.hops, Predicate::Const(false))),
                    (Op::In, false) => Test::In(params),
                    (_, true) => return Ok(related(resolved.hops, Predicate::Const(true))),
                    (_, false) => Test::NotIn(params),
                }
            }
            Op::Between => {
                let items = list(value)?;
                if items.len() != 2 {
                    return Err(err(&at_value, "`between` takes [low, high]"));
                }
                Test::Between(one(&items[0])?, one(&items[1])?)
            }
            Op::IsNull => match value {
                Value::Bool(true) => Test::IsNull,
                Value::Bool(false) => Test::IsNotNull,
                _ => return Err(err(&at_value, "`isNull` takes true or false")),
            },
            Op::Contains if kind == FieldKind::Multi => Test::HasElement(one(value)?),
            Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith => {
                let s = text_value(value)?;
                match op {
                    Op::Contains => Test::Contains(s),
                    Op::IContains => Test::ContainsIgnoringCase(s),
                    _ if s.is_empty() => Test::IsNotNull,
                    Op::StartsWith => Test::StartsWith(s),
                    _ => Test::EndsWith(s),
                }
            }
        };
        let leaf = Predicate::Test {
            column: resolved.column,
            test,
        };
        Ok(related(resolved.hops, leaf))
    }
}

/// Wraps `leaf` in the relationship hops that lead to its row, the first hop outermost.
fn related(hops: Vec<Hop>, leaf: Predicate) -> Predicate {
    hops.into_iter()
        .rev()
        .fold(leaf, |inner, hop| Predicate::Related {
            hop,
            inner: Box::new(inner),
        })
}

/// Checks `f` against the schema and compiles it to a predicate over the schema's rows.
pub fn compile(f: &Filter, schema: &dyn Schema) -> Result<Predicate, FilterError> {
    Compiler { schema }.node(f, false, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbitrary::Rows;
    use crate::parse_text;

    #[test]
    fn compiles_to_a_tree_of_tests_with_values_apart() {
        let f = parse_text(r#"t = "open'); DROP TABLE t; --" && n > 100 && owner.name = "DE""#)
            .unwrap();
        let test = |column: &str, test| Predicate::Test {
            column: column.into(),
            test,
        };
        assert_eq!(
            compile(&f, &Rows).unwrap(),
            Predicate::All(vec![
                test(
                    "t",
                    Test::Eq(Param::Text("open'); DROP TABLE t; --".into()))
                ),
                test("n", Test::Gt(Param::Integer(100))),
                Predicate::Related {
                    hop: Hop {
                        local_column: "owner".into(),
                        many: false,
                        target_table: "owners".into(),
                        live_column: None,
                    },
                    inner: Box::new(test("name", Test::Eq(Param::Text("DE".into())))),
                },
            ])
        );
    }

    #[test]
    fn negation_reaches_the_tests_and_empty_lists_are_constants() {
        let f = parse_text(r#"!(t = "a" || n in [])"#).unwrap();
        assert_eq!(
            compile(&f, &Rows).unwrap(),
            Predicate::All(vec![
                Predicate::Not(Box::new(Predicate::Test {
                    column: "t".into(),
                    test: Test::Eq(Param::Text("a".into())),
                })),
                Predicate::Not(Box::new(Predicate::Const(false))),
            ])
        );
    }

    #[test]
    fn unknown_fields_wrong_types_and_wrong_ops_are_refused_with_their_place() {
        let e = compile(&parse_text("nope = 1").unwrap(), &Rows).unwrap_err();
        assert_eq!(e.position, Position::Pointer("/field".into()));
        let e = compile(&parse_text("t = 'a' && n > 'lots'").unwrap(), &Rows).unwrap_err();
        assert_eq!(e.position, Position::Pointer("/and/1/value".into()));
        let e = compile(&parse_text("n startsWith '1'").unwrap(), &Rows).unwrap_err();
        assert_eq!(e.position, Position::Pointer("/op".into()));
        let e = compile(
            &parse_text("\"t\\\" = 1").unwrap_or(Filter::And(vec![])),
            &Rows,
        );
        assert!(e.is_ok(), "an empty filter is fine");
    }
}
