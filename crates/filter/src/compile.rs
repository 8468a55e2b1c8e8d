//! Compiles a filter, checked against a schema, to a SQLite `WHERE` expression with `?`
//! parameters. Values only ever become parameters; identifiers only ever come from the
//! schema, quoted.
//!
//! Negation is pushed down to the comparisons (De Morgan), and a negated comparison is made
//! two-valued with `coalesce(…, 0)`, so `NOT` means exactly what [`crate::eval`] says even
//! where SQL's NULL logic would differ. Positive comparisons stay index-friendly.

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
#[derive(Clone, Debug)]
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

/// A parameter for the compiled SQL.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Text(String),
    Integer(i64),
    Real(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<Param>,
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

struct Compiler<'a> {
    schema: &'a dyn Schema,
    params: Vec<Param>,
    aliases: usize,
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
            .map(|b| Param::Integer(b as i64))
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

impl Compiler<'_> {
    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    fn node(
        &mut self,
        f: &Filter,
        negated: bool,
        row: &str,
        at: &str,
    ) -> Result<String, FilterError> {
        match f {
            Filter::And(items) | Filter::Or(items) => {
                let is_and = matches!(f, Filter::And(_));
                let key = if is_and { "and" } else { "or" };
                // Under negation, AND becomes OR and the other way round.
                let joins_with_and = is_and != negated;
                if items.is_empty() {
                    return Ok(if joins_with_and { "1" } else { "0" }.into());
                }
                let parts = items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| self.node(it, negated, row, &format!("{at}/{key}/{i}")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(format!(
                    "({})",
                    parts.join(if joins_with_and { " AND " } else { " OR " })
                ))
            }
            Filter::Not(inner) => self.node(inner, !negated, row, &format!("{at}/not")),
            Filter::Cmp { field, op, value } => {
                let positive = self.comparison(field, *op, value, row, at)?;
                Ok(if negated {
                    format!("NOT coalesce({positive}, 0)")
                } else {
                    positive
                })
            }
        }
    }

    fn comparison(
        &mut self,
        field: &[String],
        op: Op,
        value: &Value,
        row: &str,
        at: &str,
    ) -> Result<String, FilterError> {
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
        // Walk the relationship hops: each adds an EXISTS around the comparison.
        let mut current = row.to_string();
        let mut openings = Vec::new();
        for hop in &resolved.hops {
            let r = self.alias("r");
            let target = quote_ident(&hop.target_table);
            let local = format!("{current}.{}", quote_ident(&hop.local_column));
            let live = hop
                .live_column
                .as_ref()
                .map(|c| format!("{r}.{} IS NULL AND ", quote_ident(c)))
                .unwrap_or_default();
            if hop.many {
                let j = self.alias("j");
                openings.push(format!("EXISTS (SELECT 1 FROM json_each({local}) {j} JOIN {target} {r} ON {r}.\"id\" = {j}.value WHERE {live}"));
            } else {
                openings.push(format!(
                    "EXISTS (SELECT 1 FROM {target} {r} WHERE {r}.\"id\" = {local} AND {live}"
                ));
            }
            current = r;
        }
        let col = format!("{current}.{}", quote_ident(&resolved.column));
        let kind = resolved.kind;
        let one = |c: &mut Self, v: &Value| -> Result<(), FilterError> {
            let p = param(kind, v, &name, &at_value)?;
            c.params.push(p);
            Ok(())
        };
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
        let atom = match op {
            Op::Eq | Op::Neq | Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                if value.is_null() {
                    return Err(err(
                        &at_value,
                        "compare with null using isNull (or `= null` in the text form)",
                    ));
                }
                one(self, value)?;
                match op {
                    Op::Eq => format!("{col} = ?"),
                    Op::Neq => format!("({col} IS NULL OR {col} <> ?)"),
                    Op::Gt => format!("{col} > ?"),
                    Op::Gte => format!("{col} >= ?"),
                    Op::Lt => format!("{col} < ?"),
                    _ => format!("{col} <= ?"),
                }
            }
            Op::In | Op::Nin => {
                let items = list(value)?;
                if items.len() > 1000 {
                    return Err(err(&at_value, "a list holds at most 1000 values"));
                }
                for v in &items {
                    one(self, v)?;
                }
                let marks = vec!["?"; items.len()].join(", ");
                match (op, items.is_empty()) {
                    (Op::In, true) => "0".into(),
                    (Op::In, false) => format!("{col} IN ({marks})"),
                    (_, true) => "1".into(),
                    (_, false) => format!("({col} IS NULL OR {col} NOT IN ({marks}))"),
                }
            }
            Op::Between => {
                let items = list(value)?;
                if items.len() != 2 {
                    return Err(err(&at_value, "`between` takes [low, high]"));
                }
                one(self, &items[0])?;
                one(self, &items[1])?;
                format!("{col} BETWEEN ? AND ?")
            }
            Op::IsNull => match value {
                Value::Bool(true) => format!("{col} IS NULL"),
                Value::Bool(false) => format!("{col} IS NOT NULL"),
                _ => return Err(err(&at_value, "`isNull` takes true or false")),
            },
            Op::Contains if kind == FieldKind::Multi => {
                one(self, value)?;
                let e = self.alias("e");
                format!("EXISTS (SELECT 1 FROM json_each({col}) {e} WHERE {e}.value = ?)")
            }
            Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith => {
                let s = text_value(value)?;
                let n = s.chars().count() as i64;
                match op {
                    Op::Contains => {
                        self.params.push(Param::Text(s));
                        format!("instr({col}, ?) > 0")
                    }
                    Op::IContains => {
                        self.params.push(Param::Text(s));
                        format!("instr(lower({col}), lower(?)) > 0")
                    }
                    _ if n == 0 => format!("{col} IS NOT NULL"),
                    Op::StartsWith => {
                        self.params.extend([Param::Integer(n), Param::Text(s)]);
                        format!("substr({col}, 1, ?) = ?")
                    }
                    _ => {
                        self.params
                            .extend([Param::Integer(n), Param::Integer(n), Param::Text(s)]);
                        format!("(length({col}) >= ? AND substr({col}, length({col}) - ? + 1) = ?)")
                    }
                }
            }
        };
        let closing = ")".repeat(openings.len());
        Ok(format!("{}{atom}{closing}", openings.concat()))
    }
}

/// Compiles `f` for rows of the table aliased `row` (for example `t`).
pub fn compile(f: &Filter, schema: &dyn Schema, row: &str) -> Result<Compiled, FilterError> {
    let mut c = Compiler {
        schema,
        params: Vec::new(),
        aliases: 0,
    };
    let sql = c.node(f, false, row, "")?;
    Ok(Compiled {
        sql,
        params: c.params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_text;

    struct Orders;

    impl Schema for Orders {
        fn resolve(&self, path: &[String]) -> Result<ResolvedField, String> {
            let f = |column: &str, kind| ResolvedField {
                hops: vec![],
                column: column.into(),
                kind,
            };
            match path
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["status"] => Ok(f("status", FieldKind::Text)),
                ["amount"] => Ok(f("amount", FieldKind::Number)),
                ["tags"] => Ok(f("tags", FieldKind::Multi)),
                ["customer", "country"] => Ok(ResolvedField {
                    hops: vec![Hop {
                        local_column: "customer".into(),
                        many: false,
                        target_table: "customers".into(),
                        live_column: Some("deleted_at".into()),
                    }],
                    column: "country".into(),
                    kind: FieldKind::Text,
                }),
                _ => Err(format!("unknown field `{}`", path.join("."))),
            }
        }
    }

    #[test]
    fn compiles_to_parameters_only() {
        let f = parse_text(
            r#"status = "open'); DROP TABLE t; --" && amount > 100 && customer.country = "DE""#,
        )
        .unwrap();
        let c = compile(&f, &Orders, "t").unwrap();
        assert_eq!(
            c.sql,
            "(t.\"status\" = ? AND t.\"amount\" > ? AND EXISTS (SELECT 1 FROM \"customers\" r1 WHERE r1.\"id\" = t.\"customer\" AND r1.\"deleted_at\" IS NULL AND r1.\"country\" = ?))"
        );
        assert_eq!(
            c.params,
            vec![
                Param::Text("open'); DROP TABLE t; --".into()),
                Param::Integer(100),
                Param::Text("DE".into())
            ]
        );
    }

    #[test]
    fn unknown_fields_wrong_types_and_wrong_ops_are_refused_with_their_place() {
        let e = compile(&parse_text("nope = 1").unwrap(), &Orders, "t").unwrap_err();
        assert_eq!(e.position, Position::Pointer("/field".into()));
        let e = compile(
            &parse_text("status = 'a' && amount > 'lots'").unwrap(),
            &Orders,
            "t",
        )
        .unwrap_err();
        assert_eq!(e.position, Position::Pointer("/and/1/value".into()));
        let e = compile(&parse_text("amount startsWith '1'").unwrap(), &Orders, "t").unwrap_err();
        assert_eq!(e.position, Position::Pointer("/op".into()));
        let e = compile(
            &parse_text("\"status\\\" = 1").unwrap_or(Filter::And(vec![])),
            &Orders,
            "t",
        );
        assert!(e.is_ok(), "an empty filter is fine");
    }
}
