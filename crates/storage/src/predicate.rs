//! Renders a checked filter ([`Predicate`]) as a `WHERE` expression in either dialect.
//! Values only ever become `?` parameters; identifiers come from the predicate's schema,
//! quoted.

use andibase_filter::{Param, Predicate, Test};

use crate::{Dialect, Value};

/// Quotes an identifier (a table or column name) for this dialect.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A `WHERE` expression and its parameters, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub sql: String,
    pub params: Vec<Value>,
}

/// Renders `predicate` over the rows of the table aliased `row` (for example `t`).
pub fn render_predicate(dialect: Dialect, predicate: &Predicate, row: &str) -> Rendered {
    render_predicate_avoiding(dialect, predicate, row, &[])
}

/// [`render_predicate`], with the tests on `avoid` (columns of the row aliased `row`)
/// written so that no index of theirs is used (`+column`): for a filter on a column that
/// matches many rows, where walking the sort's index and stopping at the limit is cheaper
/// than SQLite's choice, which does not weigh the `LIMIT`. The meaning is unchanged
/// (values are bound in the column's own type). PostgreSQL's planner weighs the limit,
/// and has no such spelling: there `avoid` changes nothing.
pub fn render_predicate_avoiding(
    dialect: Dialect,
    predicate: &Predicate,
    row: &str,
    avoid: &[String],
) -> Rendered {
    let mut r = Renderer {
        dialect,
        params: Vec::new(),
        aliases: 0,
        root: row.to_string(),
        avoid: match dialect {
            Dialect::Sqlite => avoid.to_vec(),
            Dialect::Postgres => Vec::new(),
        },
    };
    let sql = r.node(predicate, row);
    Rendered {
        sql,
        params: r.params,
    }
}

struct Renderer {
    dialect: Dialect,
    params: Vec<Value>,
    aliases: usize,
    root: String,
    avoid: Vec<String>,
}

/// `column` with ASCII capitals made small and nothing else, on PostgreSQL, as SQLite's
/// `lower` does (and the filter's own evaluator): PostgreSQL's `lower` also folds other
/// letters (`Ü`) in the database's collation, which made `~` answer differently there;
/// in the "C" collation it folds ASCII only (and reads each row faster than `translate`,
/// which took 3.3× as long over 100,000 titles).
pub(crate) fn ascii_folded(column: &str) -> String {
    format!("lower({column} COLLATE \"C\")")
}

/// `text` as a `LIKE` pattern matching only itself (`\\` is PostgreSQL's escape).
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn value(p: &Param) -> Value {
    match p {
        Param::Text(s) => Value::Text(s.clone()),
        Param::Integer(i) => Value::Integer(*i),
        Param::Real(f) => Value::Real(*f),
        // SQLite has no boolean type: record tables keep booleans as 0 and 1.
        Param::Bool(b) => Value::Integer(*b as i64),
    }
}

impl Renderer {
    /// The elements of the JSON array kept as text in `column`, as rows with a `value`.
    fn json_elements(&self, column: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("json_each({column})"),
            Dialect::Postgres => format!("jsonb_array_elements_text(({column})::jsonb)"),
        }
    }

    /// The function giving where one text starts inside another (1-based, 0 if not).
    fn position(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        }
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    fn bind(&mut self, p: &Param) -> &'static str {
        self.params.push(value(p));
        "?"
    }

    fn node(&mut self, p: &Predicate, row: &str) -> String {
        match p {
            Predicate::Const(true) => "TRUE".into(),
            Predicate::Const(false) => "FALSE".into(),
            Predicate::All(items) | Predicate::Any(items) => {
                let joiner = if matches!(p, Predicate::All(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let parts: Vec<String> = items.iter().map(|i| self.node(i, row)).collect();
                format!("({})", parts.join(joiner))
            }
            // Two-valued: a comparison with NULL is unknown, and NOT of it is true.
            Predicate::Not(inner) => format!("NOT coalesce({}, FALSE)", self.node(inner, row)),
            Predicate::Related { hop, inner } => {
                let r = self.alias("r");
                let target = quote_ident(&hop.target_table);
                let local = format!("{row}.{}", quote_ident(&hop.local_column));
                let live = hop
                    .live_column
                    .as_ref()
                    .map(|c| format!("{r}.{} IS NULL AND ", quote_ident(c)))
                    .unwrap_or_default();
                let opening = if hop.many {
                    let j = self.alias("j");
                    let elements = self.json_elements(&local);
                    format!("EXISTS (SELECT 1 FROM {elements} {j} JOIN {target} {r} ON {r}.\"id\" = {j}.value WHERE {live}")
                } else {
                    format!(
                        "EXISTS (SELECT 1 FROM {target} {r} WHERE {r}.\"id\" = {local} AND {live}"
                    )
                };
                let inner = self.node(inner, &r);
                format!("{opening}{inner})")
            }
            Predicate::Test { column, test } => {
                let plus = if row == self.root && self.avoid.contains(column) {
                    "+"
                } else {
                    ""
                };
                let col = format!("{plus}{row}.{}", quote_ident(column));
                self.test(&col, test)
            }
        }
    }

    fn test(&mut self, col: &str, test: &Test) -> String {
        match test {
            Test::Eq(p) => format!("{col} = {}", self.bind(p)),
            Test::Ne(p) => format!("({col} IS NULL OR {col} <> {})", self.bind(p)),
            Test::Gt(p) => format!("{col} > {}", self.bind(p)),
            Test::Gte(p) => format!("{col} >= {}", self.bind(p)),
            Test::Lt(p) => format!("{col} < {}", self.bind(p)),
            Test::Lte(p) => format!("{col} <= {}", self.bind(p)),
            Test::In(items) | Test::NotIn(items) => {
                let marks: Vec<&str> = items.iter().map(|p| self.bind(p)).collect();
                let marks = marks.join(", ");
                if matches!(test, Test::In(_)) {
                    format!("{col} IN ({marks})")
                } else {
                    format!("({col} IS NULL OR {col} NOT IN ({marks}))")
                }
            }
            Test::Between(low, high) => {
                self.bind(low);
                self.bind(high);
                format!("{col} BETWEEN ? AND ?")
            }
            Test::IsNull => format!("{col} IS NULL"),
            Test::IsNotNull => format!("{col} IS NOT NULL"),
            Test::HasElement(p) => {
                self.bind(p);
                let e = self.alias("e");
                let elements = self.json_elements(col);
                format!("EXISTS (SELECT 1 FROM {elements} {e} WHERE {e}.value = ?)")
            }
            Test::Contains(s) => {
                self.params.push(Value::Text(s.clone()));
                format!("{}({col}, ?) > 0", self.position())
            }
            // On PostgreSQL a `LIKE` on the folded column, which a trigram index can serve
            // ([`crate::schema::SchemaChange::CreateSubstringIndex`]).
            Test::ContainsIgnoringCase(s) if self.dialect == Dialect::Postgres => {
                let pattern = format!("%{}%", like_escaped(&s.to_ascii_lowercase()));
                self.params.push(Value::Text(pattern));
                format!("{} LIKE ?", ascii_folded(col))
            }
            Test::ContainsIgnoringCase(s) => {
                self.params.push(Value::Text(s.clone()));
                format!("{}(lower({col}), lower(?)) > 0", self.position())
            }
            Test::StartsWith(s) => {
                let n = s.chars().count() as i64;
                self.params
                    .extend([Value::Integer(n), Value::Text(s.clone())]);
                format!("substr({col}, 1, ?) = ?")
            }
            Test::EndsWith(s) => {
                let n = s.chars().count() as i64;
                self.params
                    .extend([Value::Integer(n), Value::Integer(n), Value::Text(s.clone())]);
                format!("(length({col}) >= ? AND substr({col}, length({col}) - ? + 1) = ?)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use andibase_filter::Hop;

    #[test]
    fn values_become_parameters_and_hops_become_exists() {
        let test = |column: &str, test| Predicate::Test {
            column: column.into(),
            test,
        };
        let p = Predicate::All(vec![
            test(
                "status",
                Test::Eq(Param::Text("open'); DROP TABLE t; --".into())),
            ),
            test("amount", Test::Gt(Param::Integer(100))),
            Predicate::Not(Box::new(test("vip", Test::Eq(Param::Bool(true))))),
            Predicate::Related {
                hop: Hop {
                    local_column: "customer".into(),
                    many: false,
                    target_table: "customers".into(),
                    live_column: Some("deleted_at".into()),
                },
                inner: Box::new(test("country", Test::Eq(Param::Text("DE".into())))),
            },
        ]);
        let r = render_predicate(Dialect::Sqlite, &p, "t");
        assert_eq!(
            r.sql,
            "(t.\"status\" = ? AND t.\"amount\" > ? AND NOT coalesce(t.\"vip\" = ?, FALSE) AND EXISTS (SELECT 1 FROM \"customers\" r1 WHERE r1.\"id\" = t.\"customer\" AND r1.\"deleted_at\" IS NULL AND r1.\"country\" = ?))"
        );
        assert_eq!(
            r.params,
            vec![
                Value::Text("open'); DROP TABLE t; --".into()),
                Value::Integer(100),
                Value::Integer(1),
                Value::Text("DE".into())
            ]
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
