//! FILTER push-down: a FILTER that reads only one variable's name, type, attributes or
//! metadata against literals becomes a SQL condition on the concept scan, so the database
//! skips non-matching rows before any JSON is decoded in Rust. The translation is exact
//! for the comparison rules of `value::compare` (numbers with numbers, strings with
//! strings compared byte by byte, nothing with null); the FILTER still runs afterwards,
//! so the SQL may only ever keep more rows than the FILTER does, never fewer.
//! Placeholders are anonymous `?`, bound in the order they appear in the text.
//!
//! Two spellings: SQLite's (JSONB columns, `json_type` / `json_extract`) and
//! PostgreSQL's (JSON text columns read as `jsonb`, `jsonb_typeof`, byte-order text
//! comparison with `COLLATE "C"`, and a `CASE` so that no value is cast to a type it is
//! not, since PostgreSQL does not promise to stop an `AND` early).

use rusqlite::types::Value as Sql;
use serde_json::Value;

use crate::ast::{CmpOp, Expr, Field, Func, Operand, Path};

pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<Sql>,
}

/// Which database the condition is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Sqlite,
    Postgres,
}

impl Flavor {
    fn no(self) -> &'static str {
        match self {
            Flavor::Sqlite => "0",
            Flavor::Postgres => "FALSE",
        }
    }

    /// `x`, or false when it is NULL.
    fn or_false(self, x: String) -> String {
        match self {
            Flavor::Sqlite => format!("IFNULL({x}, 0)"),
            Flavor::Postgres => format!("COALESCE({x}, FALSE)"),
        }
    }

    /// The JSON type names of numbers, strings and null, as the database spells them.
    fn kinds(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Flavor::Sqlite => ("('integer','real')", "('text')", "'null'"),
            Flavor::Postgres => ("('number')", "('string')", "'null'"),
        }
    }
}

/// The condition of a concept scan by type and name (when given) and every FILTER of
/// `filters` that can be pushed down; `None` when none can.
pub fn scan(
    ty: Option<&str>,
    name: Option<&str>,
    filters: &[&Expr],
    flavor: Flavor,
) -> Option<SqlFilter> {
    let translated: Vec<SqlFilter> = filters
        .iter()
        .filter_map(|f| translate(f, flavor))
        .collect();
    if translated.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    let mut sql = String::new();
    for (column, value) in [("type", ty), ("name", name)] {
        if let Some(value) = value {
            params.push(Sql::Text(value.to_string()));
            sql.push_str(&format!("{column} = ? AND "));
        }
    }
    let conditions: Vec<&str> = translated.iter().map(|f| f.sql.as_str()).collect();
    sql.push_str(&conditions.join(" AND "));
    params.extend(translated.into_iter().flat_map(|f| f.params));
    Some(SqlFilter { sql, params })
}

pub fn translate(expr: &Expr, flavor: Flavor) -> Option<SqlFilter> {
    let mut params = Vec::new();
    let sql = condition(expr, flavor, &mut params)?;
    Some(SqlFilter { sql, params })
}

fn condition(expr: &Expr, flavor: Flavor, params: &mut Vec<Sql>) -> Option<String> {
    Some(match expr {
        Expr::And(parts) | Expr::Or(parts) => {
            let sep = if matches!(expr, Expr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts: Option<Vec<String>> =
                parts.iter().map(|p| condition(p, flavor, params)).collect();
            format!("({})", parts?.join(sep))
        }
        Expr::Not(inner) => format!("(NOT {})", condition(inner, flavor, params)?),
        Expr::Compare(Operand::Path(p), op, Operand::Literal(v)) => {
            compare(p, *op, v, flavor, params)?
        }
        Expr::Compare(Operand::Literal(v), op, Operand::Path(p)) => {
            compare(p, flip(*op), v, flavor, params)?
        }
        Expr::Call(Func::IsNull, args) | Expr::Call(Func::IsNotNull, args) => {
            let Operand::Path(p) = &args[0] else {
                return None;
            };
            let ty = json_type(p, flavor, params)?;
            let null = flavor.kinds().2;
            // A missing key is null too.
            let is_null = match flavor {
                Flavor::Sqlite => format!("IFNULL({ty} = {null}, 1)"),
                Flavor::Postgres => format!("COALESCE({ty} = {null}, TRUE)"),
            };
            if matches!(expr, Expr::Call(Func::IsNull, _)) {
                is_null
            } else {
                format!("(NOT {is_null})")
            }
        }
        Expr::Call(Func::In, args) => {
            let (Operand::Path(p), Operand::Literal(Value::Array(items))) = (&args[0], &args[1])
            else {
                return None;
            };
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|v| compare(p, CmpOp::Eq, v, flavor, params))
                .collect();
            let parts = parts?;
            if parts.is_empty() {
                flavor.no().to_string()
            } else {
                format!("({})", parts.join(" OR "))
            }
        }
        _ => return None,
    })
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

/// `(column, key)` of a path into attributes or metadata, or the plain column for
/// `name` / `type`.
fn target(p: &Path) -> Option<(&'static str, Option<&str>)> {
    Some(match &p.field {
        Field::Name => ("name", None),
        Field::Type => ("type", None),
        Field::Attribute(k) => ("attributes", Some(k.as_str())),
        Field::Meta(k) => ("metadata", Some(k.as_str())),
        _ => return None,
    })
}

/// The JSON value at `key` of `column`, as JSON.
fn json_at(column: &str, key: &str, flavor: Flavor, params: &mut Vec<Sql>) -> String {
    match flavor {
        Flavor::Sqlite => {
            params.push(Sql::Text(format!("$.\"{key}\"")));
            format!("json_extract({column}, ?)")
        }
        Flavor::Postgres => {
            params.push(Sql::Text(key.to_string()));
            format!("({column}::jsonb -> ?::text)")
        }
    }
}

fn json_type(p: &Path, flavor: Flavor, params: &mut Vec<Sql>) -> Option<String> {
    match target(p)? {
        (column, Some(key)) => Some(match flavor {
            Flavor::Sqlite => {
                params.push(Sql::Text(format!("$.\"{key}\"")));
                format!("json_type({column}, ?)")
            }
            Flavor::Postgres => format!("jsonb_typeof{}", json_at(column, key, flavor, params)),
        }),
        // name and type are never null.
        (_, None) => Some(flavor.kinds().1.trim_matches(['(', ')']).to_string()),
    }
}

fn compare(
    p: &Path,
    op: CmpOp,
    v: &Value,
    flavor: Flavor,
    params: &mut Vec<Sql>,
) -> Option<String> {
    let (numbers, strings, _) = flavor.kinds();
    let (kinds, literal) = match v {
        Value::Number(n) => (
            numbers,
            match flavor {
                Flavor::Sqlite => n
                    .as_i64()
                    .map(Sql::Integer)
                    .or_else(|| n.as_f64().map(Sql::Real))?,
                Flavor::Postgres => Sql::Real(n.as_f64()?),
            },
        ),
        Value::String(s) => (strings, Sql::Text(s.clone())),
        // Comparisons with null are false; booleans stay in Rust.
        Value::Null => return Some(flavor.no().to_string()),
        _ => return None,
    };
    let symbol = op.symbol().replace("==", "=");
    let (column, key) = target(p)?;
    if flavor == Flavor::Sqlite {
        let ty = json_type(p, flavor, params)?;
        let value = match key {
            Some(key) => json_at(column, key, flavor, params),
            None => column.to_string(),
        };
        params.push(literal);
        return Some(flavor.or_false(format!("{ty} IN {kinds} AND {value} {symbol} ?")));
    }
    let number = kinds == numbers;
    let Some(key) = key else {
        // name and type are strings.
        if number {
            return Some(flavor.no().to_string());
        }
        params.push(literal);
        return Some(format!("({column} COLLATE \"C\" {symbol} ?::text)"));
    };
    let ty = json_type(p, flavor, params)?;
    let value = match number {
        true => format!("{}::float8", json_at(column, key, flavor, params)),
        false => {
            params.push(Sql::Text(key.to_string()));
            format!("({column}::jsonb ->> ?::text) COLLATE \"C\"")
        }
    };
    params.push(literal);
    let cast = if number { "float8" } else { "text" };
    Some(flavor.or_false(format!(
        "CASE WHEN {ty} IN {kinds} THEN {value} {symbol} ?::{cast} ELSE FALSE END"
    )))
}
