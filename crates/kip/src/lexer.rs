//! Tokens of KIP text (spec §2): UPPERCASE keywords and identifiers are both words, `?var`,
//! JSON strings and numbers, punctuation. `//` comments and whitespace separate tokens.

use crate::error::{ErrorCode, KipError, Position, Result};

/// Spec §2: command text is capped at 256 KiB and bracket nesting at 64 levels.
pub const MAX_COMMAND_BYTES: usize = 256 * 1024;
pub const MAX_NESTING: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Word(String),
    Var(String),
    Str(String),
    Num(serde_json::Number),
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
}

const PUNCTS: [&str; 19] = [
    "==", "!=", "<=", ">=", "&&", "||", "{", "}", "(", ")", "[", "]", ",", ":", ".", "<", ">", "!",
    "|",
];

pub fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

pub fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

pub fn tokenize(text: &str) -> Result<Vec<Token>> {
    if text.len() > MAX_COMMAND_BYTES {
        return Err(KipError::exhausted(format!(
            "the command is {} bytes; the limit is {MAX_COMMAND_BYTES}",
            text.len()
        )));
    }
    let bytes = text.as_bytes();
    let error =
        |message: String, at: usize| KipError::syntax(message).at(Position::locate(text, at));
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let tok = if is_ident_start(c) {
            while i < bytes.len() && is_ident_char(bytes[i]) {
                i += 1;
            }
            Tok::Word(text[start..i].to_string())
        } else if c == b'?' {
            i += 1;
            if i >= bytes.len() || !is_ident_start(bytes[i]) {
                return Err(KipError::new(
                    ErrorCode::InvalidIdentifier,
                    "`?` must be followed by a variable name matching [a-zA-Z_][a-zA-Z0-9_]*",
                )
                .at(Position::locate(text, start)));
            }
            while i < bytes.len() && is_ident_char(bytes[i]) {
                i += 1;
            }
            Tok::Var(text[start + 1..i].to_string())
        } else if c == b'"' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(error("unterminated string".into(), start)),
                    Some(b'\\') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            let value: String = serde_json::from_str(&text[start..i])
                .map_err(|e| error(format!("invalid string literal: {e}"), start))?;
            Tok::Str(value)
        } else if c.is_ascii_digit()
            || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_digit() || matches!(bytes[i], b'.' | b'e' | b'E'))
            {
                if matches!(bytes[i], b'e' | b'E') && matches!(bytes.get(i + 1), Some(b'+' | b'-'))
                {
                    i += 1;
                }
                i += 1;
            }
            let number: serde_json::Number = serde_json::from_str(&text[start..i])
                .map_err(|_| error(format!("invalid number `{}`", &text[start..i]), start))?;
            Tok::Num(number)
        } else if let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
            i += p.len();
            match *p {
                "{" | "(" | "[" => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(KipError::exhausted(format!(
                            "nesting deeper than {MAX_NESTING} levels"
                        ))
                        .at(Position::locate(text, start)));
                    }
                }
                "}" | ")" | "]" => depth = depth.saturating_sub(1),
                _ => {}
            }
            Tok::Punct(p)
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            return Err(error(format!("unexpected character `{ch}`"), start));
        };
        tokens.push(Token { tok, start });
    }
    tokens.push(Token {
        tok: Tok::Eof,
        start: text.len(),
    });
    Ok(tokens)
}
