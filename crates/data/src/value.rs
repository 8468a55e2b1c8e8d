//! Record values: checked against their field, stored as typed columns, shown as JSON.

use andibase_common::Timestamp;
use andibase_storage::Value as SqlValue;
use serde_json::{json, Value};

use crate::definition::{FieldSpec, FieldType};

fn date_ok(s: &str) -> bool {
    s.len() == 10 && Timestamp::parse_iso(&format!("{s}T00:00:00Z")).is_some()
}

/// Checks a (non-null) value against the field and gives the column value.
pub fn to_sql(field: &FieldSpec, v: &Value) -> Result<SqlValue, String> {
    if v.is_null() {
        return Ok(SqlValue::Null);
    }
    let want = |what: &str| Err(format!("must be {what}"));
    let options: Vec<&str> = field
        .options
        .iter()
        .flatten()
        .map(|o| o.value.as_str())
        .collect();
    match field.field_type() {
        FieldType::Text | FieldType::File => match v.as_str() {
            Some(s) if s.len() <= 100_000 => Ok(SqlValue::Text(s.to_string())),
            Some(_) => want("at most 100000 bytes"),
            None => want("a string"),
        },
        FieldType::Email => match v.as_str() {
            Some(s)
                if s.len() <= 254
                    && s.split_once('@')
                        .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'))
                    && !s.contains(char::is_whitespace) =>
            {
                Ok(SqlValue::Text(s.to_string()))
            }
            _ => want("an email address"),
        },
        FieldType::Url => match v.as_str() {
            Some(s)
                if (s.starts_with("http://") || s.starts_with("https://"))
                    && s.len() <= 2048
                    && !s.contains(char::is_whitespace) =>
            {
                Ok(SqlValue::Text(s.to_string()))
            }
            _ => want("an http(s) URL"),
        },
        FieldType::Number => match v.as_f64() {
            Some(n) if n.is_finite() => Ok(SqlValue::Real(n)),
            _ => want("a number"),
        },
        FieldType::Boolean => v
            .as_bool()
            .map(|b| SqlValue::Integer(b as i64))
            .ok_or_else(|| "must be true or false".to_string()),
        FieldType::Date => match v.as_str() {
            Some(s) if date_ok(s) => Ok(SqlValue::Text(s.to_string())),
            _ => want("a date like 2026-03-11"),
        },
        FieldType::DateTime => match v.as_str().and_then(Timestamp::parse_iso) {
            Some(t) => Ok(SqlValue::Text(t.to_iso())),
            None => want("an ISO-8601 UTC time like 2026-03-11T02:00:00.000Z"),
        },
        FieldType::Select => match v.as_str() {
            Some(s) if options.contains(&s) => Ok(SqlValue::Text(s.to_string())),
            _ => Err(format!("must be one of {}", options.join(", "))),
        },
        FieldType::MultiSelect => {
            let items = v
                .as_array()
                .ok_or_else(|| format!("must be a list of {}", options.join(", ")))?;
            let mut out: Vec<&str> = Vec::new();
            for i in items {
                match i.as_str() {
                    Some(s) if options.contains(&s) => {
                        if !out.contains(&s) {
                            out.push(s);
                        }
                    }
                    _ => return Err(format!("must be a list of {}", options.join(", "))),
                }
            }
            Ok(SqlValue::Text(json!(out).to_string()))
        }
        FieldType::Relationship if field.many => {
            let items = v.as_array().ok_or("must be a list of record ids")?;
            let ids: Vec<&str> = items
                .iter()
                .map(|i| i.as_str().ok_or("must be a list of record ids"))
                .collect::<Result<_, _>>()?;
            Ok(SqlValue::Text(json!(ids).to_string()))
        }
        FieldType::Relationship => v
            .as_str()
            .map(|s| SqlValue::Text(s.to_string()))
            .ok_or_else(|| "must be a record id".to_string()),
        FieldType::Json => Ok(SqlValue::Text(v.to_string())),
    }
}

/// The column value shown as JSON.
pub fn to_json(field: &FieldSpec, v: &SqlValue) -> Value {
    match (v, field.field_type()) {
        (SqlValue::Null, _) => Value::Null,
        (SqlValue::Integer(i), FieldType::Boolean) => json!(*i != 0),
        (SqlValue::Real(f), FieldType::Number) if f.fract() == 0.0 && f.abs() < 9e15 => {
            json!(*f as i64)
        }
        (SqlValue::Real(f), _) => json!(f),
        (SqlValue::Integer(i), _) => json!(i),
        (SqlValue::Text(s), _) if field.is_multi() || field.field_type() == FieldType::Json => {
            serde_json::from_str(s).unwrap_or(Value::Null)
        }
        (SqlValue::Text(s), FieldType::DateTime) => json!(shown_datetime(s)),
        (SqlValue::Text(s), _) => json!(s),
        (SqlValue::Blob(_), _) => Value::Null,
    }
}

/// A datetime attribute as shown: stored with milliseconds (so text order is time order),
/// shown without them when they are zero, so `2026-03-05T12:00:00Z` comes back as sent.
pub fn shown_datetime(stored: &str) -> std::borrow::Cow<'_, str> {
    match stored.strip_suffix(".000Z") {
        Some(seconds) if stored.len() == 24 => format!("{seconds}Z").into(),
        _ => stored.into(),
    }
}

/// Converts a value shown for one type into a column value of another field: strings are
/// read as numbers, booleans, dates or JSON where the new type needs it; numbers and
/// booleans become text; a single value becomes a one-item list.
pub fn convert(shown: &Value, to: &FieldSpec) -> Result<SqlValue, String> {
    let candidate = match (shown, to.field_type()) {
        (Value::String(s), FieldType::Number) => s
            .trim()
            .parse::<f64>()
            .map(|n| json!(n))
            .map_err(|_| "not a number".to_string())?,
        (Value::String(s), FieldType::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => json!(true),
            "false" | "no" | "0" => json!(false),
            _ => return Err("not a boolean".into()),
        },
        (Value::String(s), FieldType::Json) => serde_json::from_str(s).unwrap_or_else(|_| json!(s)),
        (
            Value::Number(n),
            FieldType::Text
            | FieldType::Select
            | FieldType::Email
            | FieldType::Url
            | FieldType::File,
        ) => json!(n.to_string()),
        (Value::Bool(b), FieldType::Text | FieldType::Select) => json!(b.to_string()),
        (Value::Number(n), FieldType::Boolean) => json!(n.as_f64() != Some(0.0)),
        (Value::Bool(b), FieldType::Number) => json!(*b as i64),
        (Value::String(s), FieldType::MultiSelect) => json!([s]),
        (Value::String(s), FieldType::Relationship) if to.many => json!([s]),
        (Value::Array(items), FieldType::Text | FieldType::Select) if items.len() == 1 => {
            items[0].clone()
        }
        (other, _) => other.clone(),
    };
    to_sql(to, &candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_show_milliseconds_only_when_they_are_not_zero() {
        assert_eq!(
            shown_datetime("2026-03-05T12:00:00.000Z"),
            "2026-03-05T12:00:00Z"
        );
        assert_eq!(
            shown_datetime("2026-03-05T12:00:00.250Z"),
            "2026-03-05T12:00:00.250Z"
        );
        assert_eq!(shown_datetime("not a time.000Z"), "not a time.000Z");
    }
}
