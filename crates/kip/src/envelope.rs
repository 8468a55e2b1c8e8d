//! The request envelope (spec §7): `:name` parameter substitution and the request shape.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{KipError, Result};
use crate::lexer::{is_ident_char, is_ident_start};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Request {
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub commands: Option<Vec<CommandItem>>,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CommandItem {
    Text(String),
    WithParameters {
        command: String,
        #[serde(default)]
        parameters: Map<String, Value>,
    },
}

/// Replaces each `:name` outside strings and `//` comments with the JSON of its value.
/// Unknown names stay (and then fail to parse); a supplied name inside a string literal is
/// refused, since substitution there would silently change the text.
pub fn substitute(text: &str, params: &Map<String, Value>) -> Result<String> {
    if params.is_empty() {
        return Ok(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    let placeholder_at = |j: usize| -> Option<(usize, &str)> {
        if bytes[j] != b':' || j + 1 >= bytes.len() || !is_ident_start(bytes[j + 1]) {
            return None;
        }
        if j > 0 && is_ident_char(bytes[j - 1]) {
            return None;
        }
        let mut end = j + 1;
        while end < bytes.len() && is_ident_char(bytes[end]) {
            end += 1;
        }
        let name = &text[j + 1..end];
        params.contains_key(name).then_some((end, name))
    };
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    } else if let Some((_, name)) = placeholder_at(i) {
                        return Err(KipError::syntax(format!(
                            "Invalid parameter placeholder usage: :{name} appears inside a string literal"
                        )));
                    }
                    i += 1;
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b':' => {
                if let Some((end, name)) = placeholder_at(i) {
                    out.push_str(&text[copied..i]);
                    out.push_str(
                        &serde_json::to_string(&params[name]).unwrap_or_else(|_| "null".into()),
                    );
                    i = end;
                    copied = end;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied.min(text.len())..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn substitutes_outside_strings_only() {
        let p = params(json!({"n": "Asp\"irin\\", "limit": 5}));
        assert_eq!(
            substitute("FIND(?d) WHERE {?d {name: :n}} LIMIT :limit // :n", &p).unwrap(),
            "FIND(?d) WHERE {?d {name: \"Asp\\\"irin\\\\\"}} LIMIT 5 // :n"
        );
        assert_eq!(substitute("LIMIT :other", &p).unwrap(), "LIMIT :other");
        assert!(substitute("{name: \"x :n\"}", &p).is_err());
        assert_eq!(substitute("{id: \"C:1\"}", &p).unwrap(), "{id: \"C:1\"}");
    }
}
