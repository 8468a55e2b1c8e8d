//! Property tests: for random records and random filters, the compiled SQL run on a real
//! SQLite table selects exactly the records the in-memory evaluator accepts; and printing a
//! filter as text reads back to the same filter.

use andibase_filter::{
    compile, eval, parse_text, to_text, FieldKind, Filter, Hop, Op, ResolvedField, Schema,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const TEXTS: &[&str] = &["", "a", "ab", "B", "abc", "Abc", "ä", "x'y", "%_"];
const NUMBERS: &[f64] = &[-1.0, 0.0, 1.0, 2.5, 3.0, 100.0];
const TIMES: &[&str] = &[
    "2026-01-01T00:00:00.000Z",
    "2026-03-11T02:00:00.000Z",
    "2026-03-11T02:00:00.500Z",
    "2027-07-01T12:00:00.000Z",
];
const TAGS: &[&str] = &["x", "y", "z"];
const OWNERS: usize = 4;

#[derive(Clone, Debug)]
struct Record {
    t: Option<String>,
    n: Option<f64>,
    b: Option<bool>,
    d: Option<String>,
    tags: Option<Vec<String>>,
    owner: Option<usize>,
}

struct Rows;

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

fn filter() -> impl Strategy<Value = Filter> {
    atom().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

fn record() -> impl Strategy<Value = Record> {
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

fn owner_name(i: usize) -> Option<&'static str> {
    // Owner OWNERS is referenced but missing (a dangling id); owner 3 has no name.
    [Some("ab"), Some("B"), Some(""), None]
        .get(i)
        .copied()
        .flatten()
}

fn values_of(r: &Record, path: &[String]) -> Vec<Value> {
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

fn sql_ids(records: &[Record], f: &Filter) -> Vec<usize> {
    let db = rusqlite::Connection::open_in_memory().unwrap();
    db.execute_batch(
        "CREATE TABLE owners (id TEXT PRIMARY KEY, name TEXT);
         CREATE TABLE rows (id INTEGER PRIMARY KEY, t TEXT, n REAL, b INTEGER, d TEXT, tags TEXT, owner TEXT);",
    )
    .unwrap();
    for i in 0..OWNERS {
        db.execute(
            "INSERT INTO owners VALUES (?1, ?2)",
            rusqlite::params![format!("o{i}"), owner_name(i)],
        )
        .unwrap();
    }
    for (i, r) in records.iter().enumerate() {
        db.execute(
            "INSERT INTO rows VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                i as i64,
                r.t,
                r.n,
                r.b.map(|b| b as i64),
                r.d,
                r.tags.as_ref().map(|t| json!(t).to_string()),
                r.owner.map(|o| format!("o{o}"))
            ],
        )
        .unwrap();
    }
    let compiled = compile(f, &Rows, "t").unwrap();
    let params: Vec<rusqlite::types::Value> = compiled
        .params
        .iter()
        .map(|p| match p {
            andibase_filter::Param::Text(s) => rusqlite::types::Value::Text(s.clone()),
            andibase_filter::Param::Integer(i) => rusqlite::types::Value::Integer(*i),
            andibase_filter::Param::Real(x) => rusqlite::types::Value::Real(*x),
        })
        .collect();
    let mut stmt = db
        .prepare(&format!(
            "SELECT id FROM rows t WHERE {} ORDER BY id",
            compiled.sql
        ))
        .unwrap();
    let ids = stmt
        .query_map(rusqlite::params_from_iter(params), |row| {
            row.get::<_, i64>(0)
        })
        .unwrap();
    ids.map(|id| id.unwrap() as usize).collect()
}

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
    fn sql_selects_what_the_evaluator_accepts(records in prop::collection::vec(record(), 0..20), f in filter()) {
        let want: Vec<usize> = records.iter().enumerate().filter(|(_, r)| eval(&f, &|p| values_of(r, p))).map(|(i, _)| i).collect();
        let got = sql_ids(&records, &f);
        prop_assert_eq!(got, want, "filter: {}", to_text(&f));
    }

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
            let _ = andibase_filter::parse_json(&v);
        }
    }
}
