//! Property tests of the parser: it never panics, and `parse → print → parse` is stable
//! for generated commands and for every command of the conformance suite.

use andibase_kip::{parse, Command};
use proptest::prelude::*;

fn round_trip(text: &str) -> Option<(Command, String)> {
    let first = parse(text).ok()?;
    let printed = first.to_string();
    let second = parse(&printed)
        .unwrap_or_else(|e| panic!("printed text does not parse: {e}\n{printed}\nfrom: {text}"));
    assert_eq!(
        first, second,
        "round trip changed the command\n{text}\n{printed}"
    );
    assert_eq!(printed, second.to_string(), "printing is not stable");
    Some((first, printed))
}

#[test]
fn every_conformance_command_round_trips() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance");
    let mut parsed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let setup = fixture["setup"].as_array().unwrap().iter();
        let cases = fixture["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["command"]);
        for command in setup.chain(cases) {
            if round_trip(command.as_str().unwrap()).is_some() {
                parsed += 1;
            }
        }
    }
    assert!(parsed > 300, "only {parsed} commands parsed");
    for capsule in [
        include_str!("../capsules/genesis.kip"),
        include_str!("../capsules/profile.kip"),
        include_str!("../capsules/actors.kip"),
    ] {
        assert!(round_trip(capsule).is_some());
    }
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_map(|s| s)
}

fn var() -> impl Strategy<Value = String> {
    ident().prop_map(|s| format!("?{s}"))
}

fn string_lit() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap())
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        string_lit(),
        any::<i32>().prop_map(|n| n.to_string()),
        (-1000.0f64..1000.0).prop_map(|f| serde_json::to_string(&f).unwrap()),
        Just("true".to_string()),
        Just("NULL".to_string()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    (
        var(),
        prop_oneof![
            Just(String::new()),
            Just(".name".to_string()),
            Just(".type".to_string()),
            Just(".id".to_string()),
            ident().prop_map(|k| format!(".attributes.{k}")),
            ident().prop_map(|k| format!(".metadata.{k}")),
        ],
    )
        .prop_map(|(v, f)| format!("{v}{f}"))
}

fn matcher() -> impl Strategy<Value = String> {
    prop_oneof![
        (string_lit(), string_lit()).prop_map(|(t, n)| format!("{{type: {t}, name: {n}}}")),
        string_lit().prop_map(|t| format!("{{type: {t}}}")),
        string_lit().prop_map(|n| format!("{{name: {n}}}")),
        (0u32..1000).prop_map(|n| format!("{{id: \"C:{n}\"}}")),
    ]
}

fn predicate() -> impl Strategy<Value = String> {
    prop_oneof![
        string_lit(),
        var(),
        (string_lit(), 0u32..5, 0u32..5).prop_map(|(p, a, b)| format!(
            "{p}{{{},{}}}",
            a.min(b),
            a.max(b)
        )),
        (string_lit(), 0u32..5).prop_map(|(p, a)| format!("{p}{{{a},}}")),
        (string_lit(), string_lit()).prop_map(|(a, b)| format!("{a} | {b}")),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (
            path(),
            prop_oneof![Just("=="), Just("!="), Just("<"), Just(">="), Just(">")],
            scalar()
        )
            .prop_map(|(p, op, v)| format!("{p} {op} {v}")),
        (path(), string_lit()).prop_map(|(p, s)| format!("CONTAINS({p}, {s})")),
        (path(), prop::collection::vec(scalar(), 1..3))
            .prop_map(|(p, l)| format!("IN({p}, [{}])", l.join(", "))),
        path().prop_map(|p| format!("IS_NULL({p})")),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) || {b}")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn clause() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (var(), matcher()).prop_map(|(v, m)| format!("{v} {m}")),
        (
            prop::option::of(var()),
            var(),
            predicate(),
            prop_oneof![var(), matcher()]
        )
            .prop_map(|(l, s, p, o)| format!("{} ({s}, {p}, {o})", l.unwrap_or_default())),
        expr().prop_map(|e| format!("FILTER({e})")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        (
            prop_oneof![Just("OPTIONAL"), Just("NOT"), Just("UNION")],
            prop::collection::vec(inner, 1..3),
        )
            .prop_map(|(k, body)| format!("{k} {{ {} }}", body.join(" ")))
    })
}

fn find() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop_oneof![
                path(),
                path().prop_map(|p| format!("COUNT(DISTINCT {p})")),
                path().prop_map(|p| format!("SUM({p})"))
            ],
            1..4,
        ),
        prop::collection::vec(clause(), 1..4),
        prop::option::of(prop::collection::vec(
            (path(), prop_oneof![Just(""), Just(" ASC"), Just(" DESC")]),
            1..3,
        )),
        prop::option::of(0u64..100),
        prop::option::of(string_lit()),
    )
        .prop_map(|(items, clauses, order, limit, cursor)| {
            let mut text = format!(
                "FIND({}) WHERE {{ {} }}",
                items.join(", "),
                clauses.join(" ")
            );
            if let Some(order) = order {
                let keys: Vec<String> = order.into_iter().map(|(p, d)| format!("{p}{d}")).collect();
                text.push_str(&format!(" ORDER BY {}", keys.join(", ")));
            }
            if let Some(l) = limit {
                text.push_str(&format!(" LIMIT {l}"));
            }
            if let Some(c) = cursor {
                text.push_str(&format!(" CURSOR {c}"));
            }
            text
        })
}

fn json_value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((ident(), inner), 0..3).prop_map(|kv| format!(
                "{{{}}}",
                kv.into_iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ]
    })
}

fn json_map() -> impl Strategy<Value = String> {
    prop::collection::vec((ident(), json_value()), 0..3).prop_map(|kv| {
        format!(
            "{{{}}}",
            kv.into_iter()
                .map(|(k, v)| format!("{k}: {v},"))
                .collect::<String>()
        )
    })
}

fn kml() -> impl Strategy<Value = String> {
    let concept = (
        var(),
        string_lit(),
        string_lit(),
        prop::option::of(0u64..5),
        prop::option::of(json_map()),
        prop::option::of(json_map()),
    )
        .prop_map(|(h, t, n, v, a, m)| {
            let mut text = format!("CONCEPT {h} {{ {{type: {t}, name: {n}}}");
            if let Some(v) = v {
                text.push_str(&format!(" EXPECT VERSION {v}"));
            }
            if let Some(a) = a {
                text.push_str(&format!(" SET ATTRIBUTES {a}"));
            }
            text.push_str(&format!(
                " SET PROPOSITIONS {{ (\"p\", {h}) ({t}, {{type: {t}, name: {n}}}) }} }}"
            ));
            if let Some(m) = m {
                text.push_str(&format!(" WITH METADATA {m}"));
            }
            text
        });
    let proposition = (
        var(),
        var(),
        string_lit(),
        matcher(),
        prop::option::of(json_map()),
    )
        .prop_map(|(h, s, p, o, a)| {
            format!(
                "PROPOSITION {h} {{ ({s}, {p}, {o}){} }}",
                a.map(|a| format!(" SET ATTRIBUTES {a}"))
                    .unwrap_or_default()
            )
        });
    prop_oneof![
        (prop::collection::vec(prop_oneof![concept, proposition], 1..4), prop::option::of(json_map()))
            .prop_map(|(items, m)| format!("UPSERT {{ {} }}{}", items.join(" "), m.map(|m| format!(" WITH METADATA {m}")).unwrap_or_default())),
        (var(), ident(), clause(), prop::option::of(0u64..9)).prop_map(|(v, k, c, l)| format!(
            "UPDATE {v} SET ATTRIBUTES {{ {k}: CLAMP(ADD(COALESCE({v}.attributes.{k}, 0), 1.5), 0, 10), other: [1, \"x\"] }} SET METADATA {{ seen: true }} WHERE {{ {c} }}{}",
            l.map(|l| format!(" LIMIT {l}")).unwrap_or_default()
        )),
        (var(), var(), clause()).prop_map(|(a, b, c)| format!("MERGE CONCEPT {a} INTO {b} WHERE {{ {c} }}")),
        (prop::collection::vec(string_lit(), 1..3), var(), clause()).prop_map(|(k, v, c)| format!("DELETE METADATA {{{}}} FROM {v} WHERE {{ {c} }}", k.join(", "))),
        (var(), clause()).prop_map(|(v, c)| format!("DELETE CONCEPT {v} DETACH WHERE {{ {c} }}")),
        (string_lit(), prop::option::of(string_lit()), prop::option::of(0.0f64..=1.0), prop::option::of(0u64..50)).prop_map(|(t, ty, th, l)| {
            let mut text = format!("SEARCH CONCEPT {t}");
            if let Some(ty) = ty {
                text.push_str(&format!(" WITH TYPE {ty}"));
            }
            text.push_str(" MODE \"hybrid\"");
            if let Some(th) = th {
                text.push_str(&format!(" THRESHOLD {}", serde_json::to_string(&th).unwrap()));
            }
            if let Some(l) = l {
                text.push_str(&format!(" LIMIT {l}"));
            }
            text
        }),
        (prop::option::of(0u64..9), prop::option::of(string_lit())).prop_map(|(l, c)| format!(
            "DESCRIBE PROPOSITION TYPES{}{}",
            l.map(|l| format!(" LIMIT {l}")).unwrap_or_default(),
            c.map(|c| format!(" CURSOR {c}")).unwrap_or_default()
        )),
    ]
}

/// Fragments of KIP text, so random input reaches deep into the grammar.
fn kip_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("FIND"),
        Just("WHERE"),
        Just("UPSERT"),
        Just("CONCEPT"),
        Just("PROPOSITION"),
        Just("SET"),
        Just("ATTRIBUTES"),
        Just("FILTER"),
        Just("OPTIONAL"),
        Just("NOT"),
        Just("UNION"),
        Just("ORDER BY"),
        Just("LIMIT"),
        Just("CURSOR"),
        Just("COUNT"),
        Just("DELETE"),
        Just("DETACH"),
        Just("{"),
        Just("}"),
        Just("("),
        Just(")"),
        Just("["),
        Just("]"),
        Just(","),
        Just(":"),
        Just("."),
        Just("?x"),
        Just("?y"),
        Just("\"treats\""),
        Just("\"C:1\""),
        Just("12"),
        Just("-3.5e2"),
        Just("=="),
        Just("&&"),
        Just("||"),
        Just("!"),
        Just("|"),
        Just("{1,3}"),
        Just("//c\n"),
        Just("\""),
        Just("\\"),
        Just("true"),
        Just("null"),
        Just("type:"),
        Just("name:"),
        Just("id:"),
        Just("WITH METADATA"),
        Just("EXPECT VERSION"),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn the_parser_never_panics_on_kip_fragments(text in kip_soup()) {
        let _ = parse(&text);
    }

    #[test]
    fn generated_queries_round_trip(text in find()) {
        prop_assert!(round_trip(&text).is_some(), "generated query does not parse: {}", text);
    }

    #[test]
    fn generated_writes_and_meta_round_trip(text in kml()) {
        let parsed = parse(&text);
        prop_assert!(parsed.is_ok(), "generated command does not parse: {:?}\n{}", parsed.err(), text);
        round_trip(&text);
    }
}
