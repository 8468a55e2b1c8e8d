//! Our [`Value`] on PostgreSQL's wire, and `?` placeholders as PostgreSQL's `$n`.
//!
//! SQLite stores whatever it is given; PostgreSQL wants each parameter in its column's
//! type. Domain code binds plain integers, reals and text, so a value is encoded in the
//! type PostgreSQL inferred for its place (an integer as `int4` or `boolean`, a number as
//! text), and read back into the same five kinds whatever the column's type.

use std::error::Error;

use postgres::types::{private::BytesMut, FromSql, IsNull, ToSql, Type};

use andibase_common::DomainResult;

use crate::database::internal;
use crate::value::Value;

type BoxError = Box<dyn Error + Sync + Send>;

fn mismatch(value: &Value, ty: &Type) -> BoxError {
    format!("cannot bind {value:?} as PostgreSQL type {ty}").into()
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match (self, ty) {
            (Value::Null, _) => return Ok(IsNull::Yes),
            (Value::Integer(n), &Type::INT8) => return n.to_sql(ty, out),
            (Value::Integer(n), &Type::INT4) => return i32::try_from(*n)?.to_sql(ty, out),
            (Value::Integer(n), &Type::INT2) => return i16::try_from(*n)?.to_sql(ty, out),
            (Value::Integer(n), &Type::BOOL) => return (*n != 0).to_sql(ty, out),
            (Value::Integer(n), &Type::FLOAT8) => return (*n as f64).to_sql(ty, out),
            (Value::Integer(n), &Type::FLOAT4) => return (*n as f32).to_sql(ty, out),
            (Value::Real(f), &Type::FLOAT8) => return f.to_sql(ty, out),
            (Value::Real(f), &Type::FLOAT4) => return (*f as f32).to_sql(ty, out),
            (Value::Real(f), &Type::INT8) if f.fract() == 0.0 => {
                return (*f as i64).to_sql(ty, out)
            }
            (Value::Integer(n), &Type::NUMERIC) => numeric_from_decimal(&n.to_string(), out),
            (Value::Real(f), &Type::NUMERIC) if f.is_finite() => {
                numeric_from_decimal(&f.to_string(), out)
            }
            (Value::Text(s), &Type::BYTEA) => out.extend_from_slice(s.as_bytes()),
            (Value::Text(s), &Type::JSONB) => {
                out.extend_from_slice(&[1]);
                out.extend_from_slice(s.as_bytes());
            }
            (Value::Text(s), t) if is_text(t) => out.extend_from_slice(s.as_bytes()),
            (Value::Integer(n), t) if is_text(t) => out.extend_from_slice(n.to_string().as_bytes()),
            (Value::Real(f), t) if is_text(t) => out.extend_from_slice(f.to_string().as_bytes()),
            (Value::Blob(b), &Type::BYTEA) => out.extend_from_slice(b),
            (v, t) => return Err(mismatch(v, t)),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON
    )
}

/// Whether preparing failed for want of parameter types PostgreSQL could not infer.
pub(crate) fn needs_types(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    [
        SqlState::INDETERMINATE_DATATYPE,
        SqlState::DATATYPE_MISMATCH,
        SqlState::UNDEFINED_FUNCTION,
    ]
    .iter()
    .any(|code| e.code() == Some(code))
}

/// Parameter types as SQLite would take the values (a null left for PostgreSQL to infer).
pub(crate) fn types_of(params: &[Value]) -> Vec<Type> {
    params
        .iter()
        .map(|v| match v {
            Value::Null => Type::UNKNOWN,
            Value::Integer(_) => Type::INT8,
            Value::Real(_) => Type::FLOAT8,
            Value::Text(_) => Type::TEXT,
            Value::Blob(_) => Type::BYTEA,
        })
        .collect()
}

/// One column as read from PostgreSQL.
pub(crate) struct Cell(pub(crate) Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        Ok(Cell(match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
            Type::OID => Value::Integer(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Integer(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::JSONB => Value::Text(std::str::from_utf8(raw.get(1..).unwrap_or(&[]))?.into()),
            // Text and everything else PostgreSQL sends as text in binary form (json,
            // name, char, enums); a type we cannot read is named in the error.
            ref t if is_text(t) || matches!(t.kind(), postgres::types::Kind::Enum(_)) => {
                Value::Text(std::str::from_utf8(raw)?.into())
            }
            ref t => return Err(format!("cannot read PostgreSQL type {t}").into()),
        }))
    }

    fn from_sql_null(_: &Type) -> Result<Cell, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `numeric` in PostgreSQL's binary form (what `sum()` and `avg()` of integers give):
/// an integer when it has no fraction and fits, a real otherwise.
fn numeric(raw: &[u8]) -> Result<Value, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        let b = raw.get(2 * i..2 * i + 2).ok_or("short numeric")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let (digits, weight, sign, scale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut whole: i128 = 0;
    let mut value = 0f64;
    let mut exact = true;
    for i in 0..digits.max(0) as usize {
        let d = word(4 + i)? as i64;
        let power = weight as i32 - i as i32;
        value += d as f64 * 10_000f64.powi(power);
        if power >= 0 {
            whole = whole
                .checked_mul(10_000)
                .and_then(|w| w.checked_add(d as i128))
                .ok_or("numeric out of range")?;
        } else if d != 0 {
            exact = false;
        }
    }
    // Digits stop at the last non-zero group: scale the whole part up to the units.
    let last = weight as i32 - digits as i32 + 1;
    for _ in 0..last.max(0) {
        whole = whole.checked_mul(10_000).unwrap_or(i128::MAX);
    }
    let negative = sign == 0x4000;
    Ok(match (exact && scale == 0, i64::try_from(whole)) {
        (true, Ok(n)) => Value::Integer(if negative { -n } else { n }),
        _ => Value::Real(if negative { -value } else { value }),
    })
}

/// A decimal (`-12.5`, as Rust prints numbers: no exponent) in `numeric`'s binary form:
/// base-10,000 digit groups around the point.
fn numeric_from_decimal(text: &str, out: &mut BytesMut) {
    let (negative, text) = text.strip_prefix('-').map_or((false, text), |t| (true, t));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = whole.trim_start_matches('0');
    let pad_left = (4 - whole.len() % 4) % 4;
    let pad_right = (4 - fraction.len() % 4) % 4;
    let digits = format!(
        "{}{whole}{fraction}{}",
        "0".repeat(pad_left),
        "0".repeat(pad_right)
    );
    let mut groups: Vec<i16> = digits
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |n, d| n * 10 + (d - b'0') as i16))
        .collect();
    let mut weight = ((pad_left + whole.len()) / 4) as i16 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign: u16 = if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    for word in [
        groups.len() as i16,
        weight,
        sign as i16,
        fraction.len() as i16,
    ] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

/// `?` and `?N` placeholders as `$n`, leaving string literals, quoted names and comments
/// alone. A bare `?` takes the number after the highest seen so far, as SQLite does.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    rewrite_placeholders(sql, |out, n| {
        out.push('$');
        out.push_str(&n.to_string());
        Ok(())
    })
    .expect("numbering cannot fail")
}

/// `sql` with each `?` (or `?N`) replaced by its parameter written out as a literal, for
/// statements sent in a batch with others (which takes no parameters). Text becomes a
/// standard string, in which only `'` is special (`standard_conforming_strings` is on
/// for every connection, see `Session::connect`).
pub(crate) fn with_literals(sql: &str, params: &[Value]) -> DomainResult<String> {
    rewrite_placeholders(sql, |out, n| {
        let value = params
            .get(n as usize - 1)
            .ok_or_else(|| internal(format!("no parameter {n} for a batched statement")))?;
        match value {
            Value::Null => out.push_str("NULL"),
            Value::Integer(i) => out.push_str(&i.to_string()),
            Value::Real(f) if f.is_finite() => out.push_str(&format!("{f:?}::float8")),
            Value::Real(f) => out.push_str(&format!("'{f}'::float8").replace("inf", "Infinity")),
            Value::Text(t) if t.contains('\0') => {
                return Err(internal("a NUL character in text for PostgreSQL"))
            }
            Value::Text(t) => {
                out.push('\'');
                out.push_str(&t.replace('\'', "''"));
                out.push('\'');
            }
            Value::Blob(b) => {
                out.push_str("'\\x");
                out.push_str(&andibase_common::hex::encode(b));
                out.push_str("'::bytea");
            }
        }
        Ok(())
    })
}

/// Copies `sql`, handing each `?` (or `?N`) placeholder outside quotes and comments to
/// `write` with its number (counting on from the highest before it when unnumbered).
fn rewrite_placeholders(
    sql: &str,
    mut write: impl FnMut(&mut String, u32) -> DomainResult<()>,
) -> DomainResult<String> {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut highest = 0u32;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = digits.parse().unwrap_or(highest + 1);
                highest = highest.max(n);
                write(&mut out, n)?;
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_literals() {
        assert_eq!(
            numbered_placeholders("SELECT ? , '?' , \"a?\" , ?3, ? -- ?\n, ?"),
            "SELECT $1 , '?' , \"a?\" , $3, $4 -- ?\n, $5"
        );
        assert_eq!(
            numbered_placeholders("VALUES (?5, ?1, ?6, ?2)"),
            "VALUES ($5, $1, $6, $2)"
        );
    }

    #[test]
    fn numerics_read_as_integers_or_reals() {
        // 12345678 = [1234, 5678] weight 1; -0.5 = [5000] weight -1 scale 1.
        let enc = |digits: &[i16], weight: i16, sign: u16, scale: i16| {
            let mut v = Vec::new();
            for w in [digits.len() as i16, weight, sign as i16, scale] {
                v.extend_from_slice(&w.to_be_bytes());
            }
            for d in digits {
                v.extend_from_slice(&d.to_be_bytes());
            }
            numeric(&v).unwrap()
        };
        assert_eq!(enc(&[1234, 5678], 1, 0, 0), Value::Integer(12_345_678));
        assert_eq!(enc(&[1], 2, 0, 0), Value::Integer(100_000_000));
        assert_eq!(enc(&[7], 0, 0x4000, 0), Value::Integer(-7));
        assert_eq!(enc(&[5000], -1, 0x4000, 1), Value::Real(-0.5));
        assert_eq!(enc(&[], 0, 0, 0), Value::Integer(0));
        // And back: what is written reads the same.
        for text in [
            "0",
            "7",
            "-7",
            "12345678",
            "100000000",
            "-0.5",
            "1.25",
            "0.0001",
        ] {
            let mut out = BytesMut::new();
            numeric_from_decimal(text, &mut out);
            let read = numeric(&out).unwrap();
            let want = match text.parse::<i64>() {
                Ok(n) => Value::Integer(n),
                Err(_) => Value::Real(text.parse().unwrap()),
            };
            assert_eq!(read, want, "{text}");
        }
    }
}
