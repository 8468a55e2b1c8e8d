//! Random records and filters for property tests, here and in the storage crate (which
//! checks that its SQL selects what [`crate::eval`] accepts): a small fixed field set
//! with every kind, and a relationship to owners.

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::{FieldKind, Filter, Hop, Op, ResolvedField, Schema};

pub const TEXTS: &[&str] = &["", "a", "ab", "B", "abc", "Abc", "ä", "x'y", "%_"];
pub const NUMBERS: &[f64] = &[-1.0, 0.0, 1.0, 2.5, 3.0, 100.0];
pub const TIMES: &[&str] = &[
    "2026-01-01T00:00:00.000Z",
    "2026-03-11T02:00:00.000Z",
    "2026-03-11T02:00:00.500Z",
    "2027-07-01T12:00:00.000Z",
];
pub const TAGS: &[&str] = &["x", "y", "z"];
pub const OWNERS: usize = 4;

#[derive(Clone, Debug)]
pub struct Record {
    pub t: Option<String>,
    pub n: Option<f64>,
    pub b: Option<bool>,
    pub d: Option<String>,
    pub tags: Option<Vec<String>>,
    pub owner: Option<usize>,
}

/// The schema of the generated rows: `t`, `n`, `b`, `d`, `tags` and `owner.name`.
pub struct Rows;

impl Schema for Rows {
    fn resolve(&self, path: &[String]) -> Result<ResolvedField, String> {
        let direct = |column: &str, kind| ResolvedField {
            hops: vec![],
            column: column.into(),
            kind,
        };
        match path
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["t"] => Ok(direct("t", FieldKind::Text)),
            ["n"] => Ok(direct("n", FieldKind::Number)),
            ["b"] => Ok(direct("b", FieldKind::Boolean)),
            ["d"] => Ok(direct("d", FieldKind::DateTime)),
            ["tags"] => Ok(direct("tags", FieldKind::Multi)),
            ["owner", "name"] => Ok(ResolvedField {
                hops: vec![Hop {
                    local_column: "owner".into(),
                    many: false,
                    target_table: "owners".into(),
                    live_column: None,
                }],
                column: "name".into(),
                kind: FieldKind::Text,
            }),
            _ => Err("unknown".into()),
        }
    }
}

fn text_value() -> impl Strategy<Value = Value> {
    prop::sample::select(TEXTS).prop_map(|s| json!(s))
}

fn value_for(field: &'static str, op: Op) -> BoxedStrategy<Value> {
    let scalar: BoxedStrategy<Value> = match field {
        "t" | "owner.name" => text_value().boxed(),
        "n" => prop::sample::select(NUMBERS).prop_map(|n| json!(n)).boxed(),
        "b" => any::<bool>().prop_map(|b| json!(b)).boxed(),
        "d" => prop::sample::select(TIMES).prop_map(|s| json!(s)).boxed(),
        _ => prop::sample::select(TAGS).prop_map(|s| json!(s)).boxed(),
    };
    match op {
        Op::In | Op::Nin => prop::collection::vec(scalar, 0..4)
            .prop_map(Value::Array)
            .boxed(),
        Op::Between => (scalar.clone(), scalar)
            .prop_map(|(a, b)| json!([a, b]))
            .boxed(),
        Op::IsNull => any::<bool>().prop_map(|b| json!(b)).boxed(),
        _ => scalar,
    }
}

fn ops_for(field: &str) -> Vec<Op> {
    use Op::*;
    match field {
        "t" | "owner.name" => Op::ALL.to_vec(),
        "n" | "d" => vec![Eq, Neq, Gt, Gte, Lt, Lte, In, Nin, Between, IsNull],
        "b" => vec![Eq, Neq, IsNull],
        _ => vec![Contains, IsNull],
    }
}

fn atom() -> impl Strategy<Value = Filter> {
    prop::sample::select(vec!["t", "n", "b", "d", "tags", "owner.name"])
        .prop_flat_map(|field| (Just(field), prop::sample::select(ops_for(field))))
        .prop_flat_map(|(field, op)| (Just(field), Just(op), value_for(field, op)))
        .prop_map(|(field, op, value)| Filter::Cmp {
            field: field.split('.').map(str::to_string).collect(),
            op,
            value,
        })
}

/// Random filters over [`Rows`], up to three levels deep.
pub fn filter() -> impl Strategy<Value = Filter> {
    atom().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

/// A random row: each field may be missing.
pub fn record() -> impl Strategy<Value = Record> {
    (
        prop::option::of(prop::sample::select(TEXTS).prop_map(str::to_string)),
        prop::option::of(prop::sample::select(NUMBERS)),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(TIMES).prop_map(str::to_string)),
        prop::option::of(
            prop::sample::subsequence(TAGS, 0..=3)
                .prop_map(|v| v.into_iter().map(str::to_string).collect()),
        ),
        prop::option::of(0..OWNERS + 1),
    )
        .prop_map(|(t, n, b, d, tags, owner)| Record {
            t,
            n,
            b,
            d,
            tags,
            owner,
        })
}

/// The name of owner `i`: owner 3 has none, and owner [`OWNERS`] is a dangling id.
pub fn owner_name(i: usize) -> Option<&'static str> {
    [Some("ab"), Some("B"), Some(""), None]
        .get(i)
        .copied()
        .flatten()
}

/// A row's values at a path, as [`crate::eval`] reads them.
pub fn values_of(r: &Record, path: &[String]) -> Vec<Value> {
    let opt = |v: Option<Value>| vec![v.unwrap_or(Value::Null)];
    match path
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["t"] => opt(r.t.clone().map(Value::String)),
        ["n"] => opt(r.n.map(|n| json!(n))),
        ["b"] => opt(r.b.map(Value::Bool)),
        ["d"] => opt(r.d.clone().map(Value::String)),
        ["tags"] => opt(r.tags.clone().map(|t| json!(t))),
        ["owner", "name"] => match r.owner {
            Some(i) if i < OWNERS => vec![owner_name(i).map(|s| json!(s)).unwrap_or(Value::Null)],
            _ => vec![],
        },
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_text, to_text};

    fn collapse(f: Filter) -> Filter {
        match f {
            Filter::And(mut items) | Filter::Or(mut items) if items.len() == 1 => {
                collapse(items.remove(0))
            }
            Filter::And(items) => Filter::And(items.into_iter().map(collapse).collect()),
            Filter::Or(items) => Filter::Or(items.into_iter().map(collapse).collect()),
            Filter::Not(inner) => Filter::Not(Box::new(collapse(*inner))),
            cmp => cmp,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]
        #[test]
        fn printing_then_parsing_gives_the_same_filter(f in filter()) {
            let printed = to_text(&f);
            let parsed = parse_text(&printed).unwrap();
            // A one-item group prints as `(x)`, which reads back as `x`: the same filter.
            prop_assert_eq!(collapse(parsed), collapse(f));
        }

        #[test]
        fn the_parsers_never_panic(s in "\\PC{0,80}") {
            let _ = parse_text(&s);
            if let Ok(v) = serde_json::from_str::<Value>(&s) {
                let _ = crate::parse_json(&v);
            }
        }
    }
}
