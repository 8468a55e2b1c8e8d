//! The compact text spelling, for query strings:
//!
//! ```text
//! status = "open" && (amount > 100 || tags ?= "vip") && !(name ~ "test")
//! ```
//!
//! Comparison operators: `=` `!=` `>` `>=` `<` `<=`, `~` (case-insensitive contains), `!~`
//! (its negation), `?=` (contains: substring, or element of a multi-value field); word
//! operators `in`, `nin`, `contains`, `icontains`, `startsWith`, `endsWith`, `between`,
//! `isNull`; `= null` and `!= null` mean is null / is not null. Values are "strings" or
//! 'strings' (with `\` escapes), numbers, `true`, `false`, `null`, and `[lists]`.
//! `&&`, `||`, `!` and parentheses combine; `&&` binds tighter than `||`.

use serde_json::{Number, Value};

use crate::ast::{Filter, Op};
use crate::{FilterError, Position};

const MAX_DEPTH: usize = 32;
const MAX_LEN: usize = 16 * 1024;

struct Parser<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
    depth: usize,
}

fn char_offset(src: &str, byte: usize) -> usize {
    src[..byte.min(src.len())].chars().count()
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> FilterError {
        let byte = self
            .chars
            .get(self.pos)
            .map(|(b, _)| *b)
            .unwrap_or(self.src.len());
        FilterError {
            message: message.into(),
            position: Position::Offset(char_offset(self.src, byte)),
        }
    }

    fn skip_ws(&mut self) {
        while self
            .chars
            .get(self.pos)
            .is_some_and(|(_, c)| c.is_whitespace())
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).map(|(_, c)| *c)
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        let n = s.chars().count();
        let matches = self
            .chars
            .get(self.pos..self.pos + n)
            .is_some_and(|w| w.iter().map(|(_, c)| *c).eq(s.chars()));
        if matches {
            self.pos += n;
        }
        matches
    }

    fn word(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.')
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().map(|(_, c)| c).collect())
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut items = vec![self.and()?];
        while self.eat("||") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Filter::Or(items)
        })
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut items = vec![self.unary()?];
        while self.eat("&&") {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Filter::And(items)
        })
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("the filter is nested too deeply (32 levels at most)"));
        }
        let out = if self.peek() == Some('!') && !self.eat("!=") {
            self.eat("!");
            Filter::Not(Box::new(self.unary()?))
        } else if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err(self.err("expected `)`"));
            }
            inner
        } else {
            self.comparison()?
        };
        self.depth -= 1;
        Ok(out)
    }

    fn comparison(&mut self) -> Result<Filter, FilterError> {
        let field = self
            .word()
            .ok_or_else(|| self.err("expected a field name"))?;
        if field.split('.').any(str::is_empty) {
            return Err(self.err(format!("`{field}` is not a field path")));
        }
        let path: Vec<String> = field.split('.').map(str::to_string).collect();
        let symbolic = [
            ("!=", Op::Neq),
            (">=", Op::Gte),
            ("<=", Op::Lte),
            ("?=", Op::Contains),
            ("!~", Op::IContains),
            ("=", Op::Eq),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("~", Op::IContains),
        ];
        for (sym, op) in symbolic {
            if self.eat(sym) {
                let value = self.value()?;
                let cmp = |op, value| Filter::Cmp {
                    field: path.clone(),
                    op,
                    value,
                };
                return Ok(match (sym, &value) {
                    ("=", Value::Null) => cmp(Op::IsNull, Value::Bool(true)),
                    ("!=", Value::Null) => cmp(Op::IsNull, Value::Bool(false)),
                    ("!~", _) => Filter::Not(Box::new(cmp(Op::IContains, value))),
                    _ => cmp(op, value),
                });
            }
        }
        let op_word = self
            .word()
            .ok_or_else(|| self.err("expected an operator"))?;
        let op = Op::from_name(&op_word)
            .ok_or_else(|| self.err(format!("unknown operator `{op_word}`")))?;
        let value = self.value()?;
        Ok(Filter::Cmp {
            field: path,
            op,
            value,
        })
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        match self.peek() {
            Some('"') | Some('\'') => self.string().map(Value::String),
            Some('[') => {
                self.eat("[");
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.value()?);
                        if self.eat("]") {
                            break;
                        }
                        if !self.eat(",") {
                            return Err(self.err("expected `,` or `]`"));
                        }
                    }
                }
                Ok(Value::Array(items))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self.chars.get(self.pos).is_some_and(|(_, c)| {
                    c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')
                }) {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().map(|(_, c)| c).collect();
                let n: f64 = text
                    .parse()
                    .map_err(|_| self.err(format!("`{text}` is not a number")))?;
                let num = if n.fract() == 0.0 && n.abs() < 9e15 && !text.contains(['.', 'e', 'E']) {
                    Number::from(n as i64)
                } else {
                    Number::from_f64(n).ok_or_else(|| self.err("not a finite number"))?
                };
                Ok(Value::Number(num))
            }
            _ => match self.word().as_deref() {
                Some("true") => Ok(Value::Bool(true)),
                Some("false") => Ok(Value::Bool(false)),
                Some("null") => Ok(Value::Null),
                _ => Err(self.err(
                    "expected a value: a \"string\", a number, true, false, null or a [list]",
                )),
            },
        }
    }

    fn string(&mut self) -> Result<String, FilterError> {
        let quote = self.chars[self.pos].1;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some((_, c)) = self.chars.get(self.pos).copied() else {
                return Err(self.err("unterminated string"));
            };
            self.pos += 1;
            match c {
                '\\' => {
                    let Some((_, e)) = self.chars.get(self.pos).copied() else {
                        return Err(self.err("unterminated string"));
                    };
                    self.pos += 1;
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                c if c == quote => return Ok(out),
                c => out.push(c),
            }
        }
    }
}

pub fn parse_text(src: &str) -> Result<Filter, FilterError> {
    if src.len() > MAX_LEN {
        return Err(FilterError {
            message: "the filter is longer than 16 KiB".into(),
            position: Position::Offset(0),
        });
    }
    let mut p = Parser {
        src,
        chars: src.char_indices().collect(),
        pos: 0,
        depth: 0,
    };
    let f = p.or()?;
    if p.peek().is_some() {
        return Err(p.err("unexpected text after the filter"));
    }
    Ok(f)
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(value_text).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// Prints a filter in the text spelling (fully parenthesized); `parse_text` reads it back
/// to the same tree.
pub fn to_text(f: &Filter) -> String {
    match f {
        // Empty groups have no text spelling; the JSON one can say them.
        Filter::And(items) | Filter::Or(items) if items.is_empty() => "()".into(),
        Filter::And(items) => format!(
            "({})",
            items.iter().map(to_text).collect::<Vec<_>>().join(" && ")
        ),
        Filter::Or(items) => format!(
            "({})",
            items.iter().map(to_text).collect::<Vec<_>>().join(" || ")
        ),
        Filter::Not(inner) => format!("!{}", to_text(inner)),
        Filter::Cmp { field, op, value } => {
            format!("{} {} {}", field.join("."), op.name(), value_text(value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmp(field: &str, op: Op, value: Value) -> Filter {
        Filter::Cmp {
            field: field.split('.').map(str::to_string).collect(),
            op,
            value,
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let f = parse_text(r#"status = "open" && (amount > 100 || tags ?= "vip")"#).unwrap();
        assert_eq!(
            f,
            Filter::And(vec![
                cmp("status", Op::Eq, json!("open")),
                Filter::Or(vec![
                    cmp("amount", Op::Gt, json!(100)),
                    cmp("tags", Op::Contains, json!("vip"))
                ])
            ])
        );
    }

    #[test]
    fn every_operator_has_a_spelling() {
        let cases = [
            ("a != 'x'", cmp("a", Op::Neq, json!("x"))),
            ("a >= 1.5", cmp("a", Op::Gte, json!(1.5))),
            ("a <= -2", cmp("a", Op::Lte, json!(-2))),
            ("a < 3", cmp("a", Op::Lt, json!(3))),
            ("a ~ 'Ab'", cmp("a", Op::IContains, json!("Ab"))),
            (
                "a !~ 'Ab'",
                Filter::Not(Box::new(cmp("a", Op::IContains, json!("Ab")))),
            ),
            ("a in [1, 2]", cmp("a", Op::In, json!([1, 2]))),
            ("a nin []", cmp("a", Op::Nin, json!([]))),
            ("a startsWith \"x\"", cmp("a", Op::StartsWith, json!("x"))),
            ("a endsWith \"x\"", cmp("a", Op::EndsWith, json!("x"))),
            ("a icontains \"x\"", cmp("a", Op::IContains, json!("x"))),
            ("a contains \"x\"", cmp("a", Op::Contains, json!("x"))),
            ("a between [1, 5]", cmp("a", Op::Between, json!([1, 5]))),
            ("a isNull false", cmp("a", Op::IsNull, json!(false))),
            ("a = null", cmp("a", Op::IsNull, json!(true))),
            ("a != null", cmp("a", Op::IsNull, json!(false))),
            (
                "customer.country = \"DE\"",
                cmp("customer.country", Op::Eq, json!("DE")),
            ),
            (
                "!(a = true)",
                Filter::Not(Box::new(cmp("a", Op::Eq, json!(true)))),
            ),
        ];
        for (src, want) in cases {
            assert_eq!(parse_text(src).unwrap(), want, "{src}");
        }
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse_text("status = \"open\" && amount >").unwrap_err();
        assert_eq!(e.position, Position::Offset(27));
        let e = parse_text("a = 1 )").unwrap_err();
        assert_eq!(e.position, Position::Offset(6));
        assert!(parse_text("a like 1").unwrap_err().message.contains("like"));
        assert!(parse_text("a = 'unterminated").is_err());
        assert!(parse_text(
            "(((((((((((((((((((((((((((((((((a = 1)))))))))))))))))))))))))))))))))"
        )
        .is_err());
        assert!(parse_text("").is_err());
        assert!(parse_text("a = \"x\"; DROP TABLE t").is_err());
    }

    #[test]
    fn printing_reads_back() {
        let f = parse_text(r#"!(a = "x\"y" || b in [1, "z"]) && c between [1, 2.5]"#).unwrap();
        assert_eq!(parse_text(&to_text(&f)).unwrap(), f);
    }
}
