//! The meaning of a filter, evaluated directly: the reference the SQL must agree with.

use andibase_common::Timestamp;
use serde_json::Value;

use crate::ast::{Filter, Op};

/// `values(path)` gives the values a path reaches on one record: one value (`Null` when
/// unset) for a plain field, one per related record through relationships (none when
/// there is no related record). A comparison holds when it holds for any of them.
pub fn eval(f: &Filter, values: &dyn Fn(&[String]) -> Vec<Value>) -> bool {
    match f {
        Filter::And(items) => items.iter().all(|i| eval(i, values)),
        Filter::Or(items) => items.iter().any(|i| eval(i, values)),
        Filter::Not(inner) => !eval(inner, values),
        Filter::Cmp { field, op, value } => values(field).iter().any(|v| atom(v, *op, value)),
    }
}

fn normalize(v: &Value) -> Value {
    // Times compare as their canonical text, as the database stores them.
    match v.as_str().and_then(|s| {
        if s.len() > 10 {
            Timestamp::parse_iso(s)
        } else {
            None
        }
    }) {
        Some(t) => Value::String(t.to_iso()),
        None => v.clone(),
    }
}

fn cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn atom(field: &Value, op: Op, value: &Value) -> bool {
    use std::cmp::Ordering::*;
    let (field, value) = (normalize(field), normalize(value));
    let is_null = field.is_null();
    let ord = || cmp(&field, &value);
    match op {
        Op::Eq => ord() == Some(Equal),
        Op::Neq => is_null || ord() != Some(Equal),
        Op::Gt => ord() == Some(Greater),
        Op::Gte => matches!(ord(), Some(Greater | Equal)),
        Op::Lt => ord() == Some(Less),
        Op::Lte => matches!(ord(), Some(Less | Equal)),
        Op::In => value
            .as_array()
            .is_some_and(|l| l.iter().any(|v| cmp(&field, &normalize(v)) == Some(Equal))),
        Op::Nin => {
            is_null
                || value
                    .as_array()
                    .is_some_and(|l| !l.iter().any(|v| cmp(&field, &normalize(v)) == Some(Equal)))
        }
        Op::Between => value.as_array().is_some_and(|l| {
            l.len() == 2
                && matches!(cmp(&field, &normalize(&l[0])), Some(Greater | Equal))
                && matches!(cmp(&field, &normalize(&l[1])), Some(Less | Equal))
        }),
        Op::IsNull => value.as_bool() == Some(is_null),
        Op::Contains => match (&field, value.as_str()) {
            (Value::String(s), Some(v)) => s.contains(v),
            (Value::Array(items), Some(v)) => items.iter().any(|i| i.as_str() == Some(v)),
            _ => false,
        },
        Op::IContains => match (&field, value.as_str()) {
            (Value::String(s), Some(v)) => s.to_ascii_lowercase().contains(&v.to_ascii_lowercase()),
            _ => false,
        },
        Op::StartsWith => {
            matches!((&field, value.as_str()), (Value::String(s), Some(v)) if s.starts_with(v))
        }
        Op::EndsWith => {
            matches!((&field, value.as_str()), (Value::String(s), Some(v)) if s.ends_with(v))
        }
    }
}
