//! The JSON spelling: `{"and": [...]}`, `{"or": [...]}`, `{"not": f}`, `{"field", "op", "value"}`.

use serde_json::Value;

use crate::ast::{Filter, Op};
use crate::{FilterError, Position};

const MAX_DEPTH: usize = 32;

fn err(pointer: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        message: message.into(),
        position: Position::Pointer(pointer.to_string()),
    }
}

pub fn parse_json(v: &Value) -> Result<Filter, FilterError> {
    parse_at(v, "", 0)
}

fn parse_at(v: &Value, at: &str, depth: usize) -> Result<Filter, FilterError> {
    if depth > MAX_DEPTH {
        return Err(err(
            at,
            "the filter is nested too deeply (32 levels at most)",
        ));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| err(at, "a filter must be an object"))?;
    let list = |key: &str, items: &Value| -> Result<Vec<Filter>, FilterError> {
        let arr = items.as_array().ok_or_else(|| {
            err(
                &format!("{at}/{key}"),
                format!("`{key}` takes an array of filters"),
            )
        })?;
        arr.iter()
            .enumerate()
            .map(|(i, f)| parse_at(f, &format!("{at}/{key}/{i}"), depth + 1))
            .collect()
    };
    if obj.len() == 1 {
        if let Some(items) = obj.get("and") {
            return Ok(Filter::And(list("and", items)?));
        }
        if let Some(items) = obj.get("or") {
            return Ok(Filter::Or(list("or", items)?));
        }
        if let Some(inner) = obj.get("not") {
            return Ok(Filter::Not(Box::new(parse_at(
                inner,
                &format!("{at}/not"),
                depth + 1,
            )?)));
        }
    }
    for key in obj.keys() {
        if !["field", "op", "value"].contains(&key.as_str()) {
            return Err(err(&format!("{at}/{key}"), format!("unknown key `{key}`; a filter is {{and}}, {{or}}, {{not}} or {{field, op, value}}")));
        }
    }
    let field = obj
        .get("field")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| err(&format!("{at}/field"), "`field` must be a non-empty string"))?;
    let op_name = obj.get("op").and_then(Value::as_str).unwrap_or("eq");
    let op = Op::from_name(op_name).ok_or_else(|| {
        err(
            &format!("{at}/op"),
            format!(
                "unknown operator `{op_name}`; use one of {}",
                Op::ALL.map(Op::name).join(", ")
            ),
        )
    })?;
    let value = match (op, obj.get("value")) {
        (Op::IsNull, None) => Value::Bool(true),
        (_, Some(v)) => v.clone(),
        (_, None) => return Err(err(&format!("{at}/value"), "`value` is required")),
    };
    Ok(Filter::Cmp {
        field: field.split('.').map(str::to_string).collect(),
        op,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_nested_filters_and_points_at_errors() {
        let f = parse_json(&json!({"and": [{"field": "status", "op": "eq", "value": "open"}, {"not": {"field": "customer.country", "op": "isNull"}}]})).unwrap();
        assert_eq!(
            f,
            Filter::And(vec![
                Filter::Cmp {
                    field: vec!["status".into()],
                    op: Op::Eq,
                    value: json!("open")
                },
                Filter::Not(Box::new(Filter::Cmp {
                    field: vec!["customer".into(), "country".into()],
                    op: Op::IsNull,
                    value: json!(true)
                })),
            ])
        );
        let e = parse_json(&json!({"and": [{"field": "a", "op": "eq", "value": 1}, {"field": "b", "op": "like", "value": 1}]})).unwrap_err();
        assert_eq!(e.position, Position::Pointer("/and/1/op".into()));
        assert_eq!(
            parse_json(&json!({"or": {}})).unwrap_err().position,
            Position::Pointer("/or".into())
        );
        assert_eq!(
            parse_json(&json!({"field": "a", "op": "gt"}))
                .unwrap_err()
                .position,
            Position::Pointer("/value".into())
        );
        assert_eq!(
            parse_json(&json!({"field": "a", "sql": "1=1"}))
                .unwrap_err()
                .position,
            Position::Pointer("/sql".into())
        );
        assert!(parse_json(&json!([1])).is_err());
    }
}
