//! FILTERs pushed down into SQL must keep exactly the rows the Rust evaluator keeps.
//! The reference spelling `NOT { FILTER(!(e)) }` runs the same condition in Rust only
//! (the variable is already bound, so nothing is pushed down).

mod support;

use proptest::prelude::*;
use support::{engine, normalize, run};

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (-5i64..5).prop_map(|n| n.to_string()),
        (-5.0f64..5.0).prop_map(|f| format!("{f:.2}")),
        prop_oneof![
            Just("\"a\""),
            Just("\"b\""),
            Just("\"ab\""),
            Just("\"B\""),
            Just("\"\"")
        ]
        .prop_map(String::from),
        prop_oneof![
            Just("true"),
            Just("false"),
            Just("null"),
            Just("[1, 2]"),
            Just("{\"x\": 1}")
        ]
        .prop_map(String::from),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("?p.attributes.a".to_string()),
        Just("?p.attributes.b".to_string()),
        Just("?p.attributes.missing".to_string()),
        Just("?p.metadata.m".to_string()),
        Just("?p.name".to_string()),
    ]
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (-5i64..5).prop_map(|n| n.to_string()),
        (-5.0f64..5.0).prop_map(|f| format!("{f:.1}")),
        prop_oneof![
            Just("\"a\""),
            Just("\"ab\""),
            Just("\"n3\""),
            Just("null"),
            Just("true")
        ]
        .prop_map(String::from),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    let op = prop_oneof![
        Just("=="),
        Just("!="),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">=")
    ];
    let leaf = prop_oneof![
        (path(), op.clone(), literal()).prop_map(|(p, o, l)| format!("{p} {o} {l}")),
        (literal(), op, path()).prop_map(|(l, o, p)| format!("{l} {o} {p}")),
        path().prop_map(|p| format!("IS_NULL({p})")),
        path().prop_map(|p| format!("IS_NOT_NULL({p})")),
        (path(), prop::collection::vec(literal(), 0..3))
            .prop_map(|(p, l)| format!("IN({p}, [{}])", l.join(", "))),
    ];
    leaf.prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) && ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) || ({b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn pushed_down_filters_agree_with_the_evaluator(
        rows in prop::collection::vec((prop::option::of(value()), prop::option::of(value()), prop::option::of(value())), 1..12),
        filter in expr(),
    ) {
        let mut e = engine();
        run(&mut e, r#"UPSERT { CONCEPT ?t { {type: "$ConceptType", name: "T"} } }"#).unwrap();
        for (i, (a, b, m)) in rows.iter().enumerate() {
            let mut attributes = Vec::new();
            if let Some(a) = a { attributes.push(format!("a: {a}")); }
            if let Some(b) = b { attributes.push(format!("b: {b}")); }
            let metadata = m.as_ref().map(|m| format!(" WITH METADATA {{ m: {m} }}")).unwrap_or_default();
            run(&mut e, &format!("UPSERT {{ CONCEPT ?c {{ {{type: \"T\", name: \"n{i}\"}} SET ATTRIBUTES {{ {} }} }}{metadata} }}", attributes.join(", "))).unwrap();
        }
        let pushed = run(&mut e, &format!("FIND(?p.name) WHERE {{ ?p {{type: \"T\"}} FILTER({filter}) }}"));
        let reference = run(&mut e, &format!("FIND(?p.name) WHERE {{ ?p {{type: \"T\"}} NOT {{ FILTER(!({filter})) }} }}"));
        match (pushed, reference) {
            (Ok(p), Ok(r)) => prop_assert_eq!(normalize(&p.result, false), normalize(&r.result, false), "FILTER({})", filter),
            (p, r) => prop_assert!(p.is_err() && r.is_err(), "FILTER({}): {:?} vs {:?}", filter, p.map(|o| o.result), r.map(|o| o.result)),
        }
    }
}
