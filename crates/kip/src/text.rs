//! FTS text for the graph's index: the shared segmentation of `andibase-text`, plus the
//! FTS5 query built from a user's search text.

use serde_json::Value;

pub use andibase_text::{segment, tokens};

/// Appends every string inside `value` to `out`.
pub fn collect_strings(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push(' ');
        }
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// An FTS5 MATCH expression for a search text's tokens: every token quoted (so no user
/// text is ever read as FTS syntax), joined with OR so partial matches still rank.
pub fn match_expression(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(" OR ")
}
