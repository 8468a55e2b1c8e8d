//! FILTER push-down: a FILTER that reads only one variable's name, type, attributes or
//! metadata against literals becomes a SQL condition on the concept scan, so SQLite skips
//! non-matching rows before any JSON is decoded in Rust. The translation is exact for the
//! comparison rules of `value::compare` (numbers with numbers, strings with strings,
//! nothing with null); the FILTER still runs afterwards, so the SQL may only ever keep
//! more rows than the FILTER does, never fewer. Placeholders are anonymous `?`, bound in
//! the order they appear in the text.

use rusqlite::types::Value as Sql;
use serde_json::Value;

use crate::ast::{CmpOp, Expr, Field, Func, Operand, Path};

pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<Sql>,
}

pub fn translate(expr: &Expr) -> Option<SqlFilter> {
    let mut params = Vec::new();
    let sql = condition(expr, &mut params)?;
    Some(SqlFilter { sql, params })
}

fn condition(expr: &Expr, params: &mut Vec<Sql>) -> Option<String> {
    Some(match expr {
        Expr::And(parts) | Expr::Or(parts) => {
            let sep = if matches!(expr, Expr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts: Option<Vec<String>> = parts.iter().map(|p| condition(p, params)).collect();
            format!("({})", parts?.join(sep))
        }
        Expr::Not(inner) => format!("(NOT {})", condition(inner, params)?),
        Expr::Compare(Operand::Path(p), op, Operand::Literal(v)) => compare(p, *op, v, params)?,
        Expr::Compare(Operand::Literal(v), op, Operand::Path(p)) => {
            compare(p, flip(*op), v, params)?
        }
        Expr::Call(Func::IsNull, args) | Expr::Call(Func::IsNotNull, args) => {
            let Operand::Path(p) = &args[0] else {
                return None;
            };
            let ty = json_type(p, params)?;
            let is_null = format!("IFNULL({ty} = 'null', 1)");
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
                .map(|v| compare(p, CmpOp::Eq, v, params))
                .collect();
            let parts = parts?;
            if parts.is_empty() {
                "0".to_string()
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

/// `(column, json path)` of a path, or the plain column for `name` / `type`.
fn target(p: &Path) -> Option<(&'static str, Option<String>)> {
    Some(match &p.field {
        Field::Name => ("name", None),
        Field::Type => ("type", None),
        Field::Attribute(k) => ("attributes", Some(format!("$.\"{k}\""))),
        Field::Meta(k) => ("metadata", Some(format!("$.\"{k}\""))),
        _ => return None,
    })
}

fn json_type(p: &Path, params: &mut Vec<Sql>) -> Option<String> {
    match target(p)? {
        (column, Some(path)) => {
            params.push(Sql::Text(path));
            Some(format!("json_type({column}, ?)"))
        }
        // name and type are never null.
        (_, None) => Some("'text'".to_string()),
    }
}

fn compare(p: &Path, op: CmpOp, v: &Value, params: &mut Vec<Sql>) -> Option<String> {
    let (kinds, literal) = match v {
        Value::Number(n) => (
            "('integer','real')",
            n.as_i64()
                .map(Sql::Integer)
                .or_else(|| n.as_f64().map(Sql::Real))?,
        ),
        Value::String(s) => ("('text')", Sql::Text(s.clone())),
        // Comparisons with null are false; booleans stay in Rust.
        Value::Null => return Some("0".to_string()),
        _ => return None,
    };
    let (column, path) = target(p)?;
    let ty = json_type(p, params)?;
    let value = match path {
        Some(path) => {
            params.push(Sql::Text(path));
            format!("json_extract({column}, ?)")
        }
        None => column.to_string(),
    };
    params.push(literal);
    Some(format!(
        "IFNULL({ty} IN {kinds} AND {value} {} ?, 0)",
        op.symbol().replace("==", "=")
    ))
}
