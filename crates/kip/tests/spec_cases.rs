//! The concrete cases of the KIP notes (spec §14, fixture F) and every error code raised
//! by the situation §8 names, as table-driven tests.

mod support;

use andibase_kip::{Engine, ErrorCode, Mode, Request};
use serde_json::{json, Value};
use support::{engine, normalize, run};

const FIXTURE_F: &[&str] = &[
    r#"UPSERT {
        CONCEPT ?drug { {type: "$ConceptType", name: "Drug"} SET ATTRIBUTES { description: "A medicine" } }
        CONCEPT ?symptom { {type: "$ConceptType", name: "Symptom"} }
        CONCEPT ?class { {type: "$ConceptType", name: "DrugClass"} }
        CONCEPT ?treats { {type: "$PropositionType", name: "treats"} SET ATTRIBUTES { description: "A drug relieves a symptom" } }
        CONCEPT ?btc { {type: "$PropositionType", name: "belongs_to_class"} }
    }"#,
    r#"UPSERT {
        CONCEPT ?h { {type: "Symptom", name: "Headache"} SET ATTRIBUTES { severity: "moderate" } }
        CONCEPT ?f { {type: "Symptom", name: "Fever"} }
        CONCEPT ?a { {type: "Drug", name: "Aspirin"} SET ATTRIBUTES { risk_level: 2 } SET PROPOSITIONS { ("treats", ?h) ("treats", ?f) } }
    } WITH METADATA { source: "test_data", confidence: 0.95 }"#,
    r#"UPSERT {
        CONCEPT ?n { {type: "DrugClass", name: "NSAID"} }
        CONCEPT ?i { {type: "Drug", name: "Ibuprofen"} SET ATTRIBUTES { risk_level: 3 }
            SET PROPOSITIONS { ("treats", {type: "Symptom", name: "Headache"}) ("belongs_to_class", ?n) } }
    }"#,
];

fn fixture() -> Engine {
    let mut e = engine();
    for command in FIXTURE_F {
        run(&mut e, command).unwrap_or_else(|err| panic!("fixture: {err}\n{command}"));
    }
    e
}

fn ok(e: &mut Engine, command: &str) -> Value {
    match run(e, command) {
        Ok(out) => out.result,
        Err(err) => panic!("{command}\n  failed: {err}"),
    }
}

fn code(e: &mut Engine, command: &str) -> ErrorCode {
    match run(e, command) {
        Ok(out) => panic!("{command}\n  succeeded with {} but should fail", out.result),
        Err(err) => err.code,
    }
}

/// Column-major → sorted rows, for results whose row order is not fixed.
fn rows(v: &Value) -> Vec<Vec<Value>> {
    let cols: Vec<Vec<Value>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_array().unwrap().clone())
        .collect();
    let mut rows: Vec<Vec<Value>> = (0..cols[0].len())
        .map(|i| cols.iter().map(|c| c[i].clone()).collect())
        .collect();
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    rows
}

#[test]
fn queries_of_section_14() {
    let mut e = fixture();
    let cases: &[(&str, Value)] = &[
        (r#"FIND(?d.name) WHERE{?d {type:"Drug"}} ORDER BY ?d.name"#, json!(["Aspirin", "Ibuprofen"])),
        (r#"FIND(?d.name, ?d.attributes.risk_level) WHERE{?d {type:"Drug",name:"Aspirin"}}"#, json!([["Aspirin", 2]])),
        (
            r#"FIND(?d.name, ?s.name) WHERE{?d {type:"Drug"} ?s {type:"Symptom"} (?d,"treats",?s)} ORDER BY ?d.name, ?s.name"#,
            json!([["Aspirin", "Aspirin", "Ibuprofen"], ["Fever", "Headache", "Headache"]]),
        ),
        (
            r#"FIND(?s.name) WHERE{?s {type:"Symptom"} NOT{(?d,"treats",?s) ?d {name:"Ibuprofen"}}}"#,
            json!(["Fever"]),
        ),
        (
            r#"FIND(?s.name, ?c.name) WHERE{?s {type:"Symptom"} OPTIONAL{(?s,"belongs_to_class",?c)}}"#,
            json!([["Headache", "Fever"], [null, null]]),
        ),
        (r#"FIND(COUNT(?c)) WHERE{?s {type:"Symptom"} OPTIONAL{(?s,"belongs_to_class",?c)}}"#, json!(0)),
        (
            r#"FIND(?s.name, COUNT(?d)) WHERE{?s {type:"Symptom"} (?d,"treats",?s)} ORDER BY COUNT(?d) DESC"#,
            json!([["Headache", "Fever"], [2, 1]]),
        ),
        (r#"FIND(COUNT(?d)) WHERE{?d {type:"Drug"}}"#, json!(2)),
        (r#"FIND(?d.name) WHERE{?d {type:"Drug"} FILTER(IN(?d.name,["Aspirin","X"]))}"#, json!(["Aspirin"])),
        (r#"FIND(?d.name) WHERE{?d {type:"Drug"} FILTER(REGEX(?d.name,"^Ibu"))}"#, json!(["Ibuprofen"])),
        (r#"FIND(?d.name) WHERE{?d {type:"Drug"} FILTER(IS_NULL(?d.attributes.nope))} ORDER BY ?d.name"#, json!(["Aspirin", "Ibuprofen"])),
        (
            r#"FIND(?d.name) WHERE{?d {type:"Drug"} FILTER(!CONTAINS(?d.name,"rin") && ?d.attributes.risk_level >= 3)}"#,
            json!(["Ibuprofen"]),
        ),
        (
            r#"FIND(?p, ?o.name) WHERE{?a {type:"Drug",name:"Ibuprofen"} (?a,?p,?o)} ORDER BY ?p"#,
            json!([["belongs_to_class", "treats"], ["NSAID", "Headache"]]),
        ),
        (
            r#"FIND(?d.name) WHERE{?d {type:"Drug"} (?d,"treats",{type:"Symptom",name:"Headache"}) OPTIONAL{(?d,"treats",{type:"Symptom",name:"Nausea"})}} ORDER BY ?d.name"#,
            json!(["Aspirin", "Ibuprofen"]),
        ),
        // A `//` comment between clauses is fine (case 30).
        ("FIND(?d.name) WHERE {\n ?d {type: \"Drug\"} // every drug\n FILTER(?d.attributes.risk_level < 3)\n}", json!(["Aspirin"])),
    ];
    for (command, want) in cases {
        assert_eq!(&ok(&mut e, command), want, "{command}");
    }

    // 4: the link projects as a whole PropositionLink.
    let link = ok(
        &mut e,
        r#"FIND(?l) WHERE{?l ({type:"Drug",name:"Aspirin"},"treats",{type:"Symptom",name:"Headache"})}"#,
    );
    assert_eq!(link[0]["_type"], "PropositionLink");
    assert!(link[0]["id"].as_str().unwrap().ends_with(":treats"));
    assert_eq!(link[0]["metadata"]["confidence"], json!(0.95));
    assert_eq!(link[0]["metadata"]["_version"], json!(1));

    // 7 and 8: UNION dedup and padding.
    let union = ok(
        &mut e,
        r#"FIND(?d.name) WHERE{(?d,"treats",{type:"Symptom",name:"Fever"}) UNION{(?d,"belongs_to_class",{type:"DrugClass",name:"NSAID"})}}"#,
    );
    assert_eq!(normalize(&union, false), json!(["Aspirin", "Ibuprofen"]));
    let padded = ok(
        &mut e,
        r#"FIND(?d.name, ?s.name) WHERE{?d {type:"Drug"} UNION{?s {type:"Symptom"}}}"#,
    );
    assert_eq!(
        rows(&padded),
        vec![
            vec![json!("Aspirin"), json!(null)],
            vec![json!("Ibuprofen"), json!(null)],
            vec![json!(null), json!("Fever")],
            vec![json!(null), json!("Headache")],
        ]
    );
}

#[test]
fn ordering_paging_and_walks() {
    let mut e = fixture();
    ok(
        &mut e,
        r#"UPSERT { CONCEPT ?u { {type:"Drug", name:"Unscored"} } }"#,
    );
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?d.name) WHERE{?d {type:"Drug"}} ORDER BY ?d.attributes.risk_level DESC"#
        ),
        json!(["Ibuprofen", "Aspirin", "Unscored"])
    );
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?d.name) WHERE{?d {type:"Drug"}} ORDER BY ?d.attributes.risk_level ASC"#
        ),
        json!(["Aspirin", "Ibuprofen", "Unscored"])
    );
    ok(
        &mut e,
        r#"DELETE CONCEPT ?u DETACH WHERE { ?u {type:"Drug", name:"Unscored"} }"#,
    );

    // 12: a cursor pages, the last page has none, garbage is 1001.
    let first = run(
        &mut e,
        r#"FIND(?d.name) WHERE{?d {type:"Drug"}} ORDER BY ?d.name LIMIT 1"#,
    )
    .unwrap();
    assert_eq!(first.result, json!(["Aspirin"]));
    let cursor = first.next_cursor.expect("more rows exist");
    let second = run(&mut e, &format!(r#"FIND(?d.name) WHERE{{?d {{type:"Drug"}}}} ORDER BY ?d.name LIMIT 1 CURSOR "{cursor}""#)).unwrap();
    assert_eq!(second.result, json!(["Ibuprofen"]));
    assert_eq!(second.next_cursor, None);
    assert_eq!(
        code(
            &mut e,
            r#"FIND(?d.name) WHERE{?d {type:"Drug"}} LIMIT 1 CURSOR "garbage""#
        ),
        ErrorCode::InvalidSyntax
    );

    // 14: multi-hop over is_subclass_of.
    ok(
        &mut e,
        r#"UPSERT {
        CONCEPT ?p { {type:"$PropositionType", name:"is_subclass_of"} }
        CONCEPT ?m { {type:"DrugClass", name:"Medicine"} }
        CONCEPT ?r { {type:"DrugClass", name:"PainReliever"} SET PROPOSITIONS { ("is_subclass_of", ?m) } }
        CONCEPT ?n { {type:"DrugClass", name:"NSAID"} SET PROPOSITIONS { ("is_subclass_of", ?r) } }
    }"#,
    );
    let walk = ok(
        &mut e,
        r#"FIND(?x.name) WHERE{?c {type:"DrugClass",name:"NSAID"} (?c,"is_subclass_of"{0,5},?x)}"#,
    );
    assert_eq!(
        normalize(&walk, false),
        json!(["Medicine", "NSAID", "PainReliever"])
    );
    assert_eq!(
        code(
            &mut e,
            r#"FIND(?x.name) WHERE{(?c,"is_subclass_of"{1,3},?x)}"#
        ),
        ErrorCode::InvalidSyntax
    );
    assert_eq!(
        code(
            &mut e,
            r#"FIND(?x.name) WHERE{?c {type:"DrugClass",name:"NSAID"} (?c,"is_subclass_of"{1,20},?x)}"#
        ),
        ErrorCode::ResourceExhausted
    );
    assert_eq!(
        code(
            &mut e,
            r#"FIND(?p) WHERE{?a {type:"Drug"} (?a,?p{1,3},?o)}"#
        ),
        ErrorCode::InvalidSyntax
    );
}

#[test]
fn higher_order_and_missing_targets() {
    let mut e = fixture();
    ok(
        &mut e,
        r#"UPSERT { CONCEPT ?t { {type:"$PropositionType", name:"stated"} } }"#,
    );
    ok(
        &mut e,
        r#"UPSERT{CONCEPT ?j {{type:"Person",name:"John"}} PROPOSITION ?s {(?j,"stated",({type:"Drug",name:"Aspirin"},"treats",{type:"Symptom",name:"Headache"}))} WITH METADATA{confidence:0.7}}"#,
    );
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?st.metadata.confidence) WHERE{?f ({type:"Drug",name:"Aspirin"},"treats",{type:"Symptom",name:"Headache"}) ?st ({type:"Person",name:"John"},"stated",?f)}"#
        ),
        json!([0.7])
    );
    // 16
    assert_eq!(
        code(
            &mut e,
            r#"FIND(?d.name) WHERE{?d {type:"Drug"} (?d,"treats",{type:"Symptom",name:"Nausea"})}"#
        ),
        ErrorCode::NotFound
    );
    // 17
    assert_eq!(
        code(&mut e, r#"UPSERT{CONCEPT ?w {{type:"Widget",name:"w"}}}"#),
        ErrorCode::TypeMismatch
    );
    assert_eq!(
        code(
            &mut e,
            r#"UPSERT{CONCEPT ?b {{type:"Drug",name:"Bad"} SET PROPOSITIONS{("cures",{type:"Symptom",name:"Fever"})}}}"#
        ),
        ErrorCode::TypeMismatch
    );
    assert_eq!(
        code(&mut e, r#"FIND(?d) WHERE {?d {type:"Drug",name:"Bad"}}"#),
        ErrorCode::NotFound
    );
    // 18
    assert_eq!(
        code(
            &mut e,
            r#"UPSERT{CONCEPT ?b {{type:"Drug",name:"B2"} SET PROPOSITIONS{("treats",{type:"Symptom",name:"Nausea"})}}}"#
        ),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            &mut e,
            r#"UPSERT{CONCEPT ?b {{type:"Drug",name:"B2"} SET PROPOSITIONS{("treats",{id:"C:999999"})}}}"#
        ),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            &mut e,
            r#"UPSERT{CONCEPT ?b {{type:"Drug",name:"B2"} SET PROPOSITIONS{("treats",?later)}} CONCEPT ?later {{type:"Symptom",name:"Cough"}}}"#
        ),
        ErrorCode::ReferenceError
    );
}

#[test]
fn writes_of_section_14() {
    let mut e = fixture();
    // 19: shallow merge, _version 2.
    let result = ok(
        &mut e,
        r#"UPSERT{CONCEPT ?d {{type:"Drug",name:"Aspirin"} SET ATTRIBUTES{dosage:"325mg"}}}"#,
    );
    assert_eq!(
        normalize(&result, true),
        json!({"blocks":1,"upsert_concept_nodes":["C:<1>"],"upsert_proposition_links":[]})
    );
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?d.attributes, ?d.metadata._version) WHERE{?d {type:"Drug",name:"Aspirin"}}"#
        ),
        json!([[{"risk_level": 2, "dosage": "325mg"}, 2]])
    );
    // 20: block metadata beats statement metadata key by key.
    ok(
        &mut e,
        r#"UPSERT{CONCEPT ?x {{type:"Drug",name:"N"}} WITH METADATA{confidence:0.5}} WITH METADATA{source:"s",confidence:0.9}"#,
    );
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?x.metadata.confidence, ?x.metadata.source) WHERE{?x {type:"Drug",name:"N"}}"#
        ),
        json!([[0.5, "s"]])
    );
    // 21
    assert_eq!(
        code(
            &mut e,
            r#"UPSERT{CONCEPT ?x {{type:"Drug",name:"N"}} WITH METADATA{"_version":9}}"#
        ),
        ErrorCode::ConstraintViolation
    );
    assert_eq!(
        code(
            &mut e,
            r#"DELETE METADATA{"_version"} FROM ?d WHERE{?d {type:"Drug",name:"N"}}"#
        ),
        ErrorCode::ConstraintViolation
    );
    // 22: a stale guard in block 2 aborts block 1 too.
    assert_eq!(
        code(
            &mut e,
            r#"UPSERT{CONCEPT ?a {{type:"Drug",name:"N"} SET ATTRIBUTES{x:1}} CONCEPT ?b {{type:"Drug",name:"Aspirin"} EXPECT VERSION 1 SET ATTRIBUTES{y:1}}}"#
        ),
        ErrorCode::VersionConflict
    );
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?d.attributes.x) WHERE{?d {type:"Drug",name:"N"}}"#
        ),
        json!([null])
    );
    assert_eq!(
        code(
            &mut e,
            r#"UPSERT{CONCEPT ?b {{type:"Drug",name:"Aspirin"} EXPECT VERSION 0}}"#
        ),
        ErrorCode::VersionConflict
    );
    ok(
        &mut e,
        r#"UPSERT{CONCEPT ?b {{type:"Drug",name:"Fresh"} EXPECT VERSION 0}}"#,
    );
    // 23
    assert_eq!(
        code(
            &mut e,
            r#"UPSERT{PROPOSITION ?p {({type:"Drug",name:"Aspirin"},"treats",{type:"Drug",name:"Aspirin"})}}"#
        ),
        ErrorCode::InvalidSyntax
    );
    // 24: UPDATE.
    let update = r#"UPDATE ?s SET ATTRIBUTES{n: ADD(COALESCE(?s.attributes.n,0),1)} WHERE{?s {type:"Symptom"}}"#;
    assert_eq!(ok(&mut e, update), json!({"updated": 2, "matched": 2}));
    ok(&mut e, update);
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?s.attributes.n) WHERE{?s {type:"Symptom",name:"Fever"}}"#
        ),
        json!([2])
    );
    assert_eq!(
        code(
            &mut e,
            r#"UPDATE ?s SET ATTRIBUTES{n: ADD(?other.attributes.n,1)} WHERE{?s {type:"Symptom"}}"#
        ),
        ErrorCode::InvalidSyntax
    );
    assert_eq!(
        code(
            &mut e,
            r#"UPDATE ?s SET ATTRIBUTES{n:1} WHERE{?s {type:"Symptom",name:"Nausea"}}"#
        ),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            &mut e,
            r#"UPDATE ?s SET ATTRIBUTES{n:1} WHERE{?s {type:"$ConceptType",name:"$ConceptType"}}"#
        ),
        ErrorCode::ImmutableTarget
    );
    let dry = e.execute(
        &Request {
            command: Some(
                r#"UPDATE ?s SET ATTRIBUTES{n:9} WHERE{?s {type:"Symptom"}} LIMIT 1"#.into(),
            ),
            dry_run: true,
            ..Default::default()
        },
        Mode::ReadWrite,
    );
    assert_eq!(dry, json!({"result": {"updated": 0, "matched": 1}}));
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?s.attributes.n) WHERE{?s {type:"Symptom",name:"Fever"}}"#
        ),
        json!([2])
    );
}

#[test]
fn merge_and_delete_of_section_14() {
    let mut e = fixture();
    ok(
        &mut e,
        r#"UPSERT{CONCEPT ?asa {{type:"Drug",name:"ASA"} SET ATTRIBUTES{origin:"willow bark",risk_level:9,aliases:["acetylsalicylic acid"]} SET PROPOSITIONS{("treats",{type:"Symptom",name:"Headache"})}}}"#,
    );
    let merge = r#"MERGE CONCEPT ?s INTO ?t WHERE{?s {type:"Drug",name:"ASA"} ?t {type:"Drug",name:"Aspirin"}}"#;
    let merged = ok(&mut e, merge);
    assert_eq!(merged["merged"], json!(true));
    assert_eq!(merged["links_deduplicated"], json!(1));
    let after = ok(
        &mut e,
        r#"FIND(?d.attributes, ?d.metadata._merged_from) WHERE{?d {type:"Drug",name:"Aspirin"}}"#,
    );
    assert_eq!(after[0][0]["risk_level"], json!(2));
    assert_eq!(after[0][0]["origin"], json!("willow bark"));
    assert_eq!(
        after[0][0]["aliases"],
        json!(["acetylsalicylic acid", "ASA"])
    );
    assert_eq!(after[0][1], json!(["Drug:ASA"]));
    // A replay is KIP_3002, and its hint says the merge already happened.
    let replay = run(&mut e, merge).unwrap_err();
    assert_eq!(replay.code, ErrorCode::NotFound);
    assert!(
        replay.to_json()["hint"]
            .as_str()
            .unwrap()
            .contains("Drug:ASA was already merged into Drug:Aspirin"),
        "{}",
        replay.to_json()
    );
    let never = run(
        &mut e,
        r#"MERGE CONCEPT ?s INTO ?t WHERE{?s {type:"Drug",name:"Nowhere"} ?t {type:"Drug",name:"Aspirin"}}"#,
    )
    .unwrap_err();
    assert_eq!(
        never.to_json()["hint"],
        json!(ErrorCode::NotFound.hint()),
        "a source that never existed keeps the code's hint"
    );
    assert_eq!(
        code(
            &mut e,
            r#"MERGE CONCEPT ?s INTO ?t WHERE{?s {type:"Symptom",name:"Fever"} ?t {type:"Drug",name:"Aspirin"}}"#
        ),
        ErrorCode::ConstraintViolation
    );
    assert_eq!(
        code(
            &mut e,
            r#"MERGE CONCEPT ?s INTO ?t WHERE{?s {type:"Drug"} ?t {type:"Drug",name:"Aspirin"}}"#
        ),
        ErrorCode::DuplicateExists
    );

    // 26: DELETE PROPOSITIONS cascades to a higher-order link.
    ok(
        &mut e,
        r#"UPSERT { CONCEPT ?t { {type:"$PropositionType", name:"stated"} } CONCEPT ?j { {type:"Person", name:"John"} } }"#,
    );
    ok(
        &mut e,
        r#"UPSERT{PROPOSITION ?s {({type:"Person",name:"John"},"stated",({type:"Drug",name:"Aspirin"},"treats",{type:"Symptom",name:"Fever"}))}}"#,
    );
    assert_eq!(
        ok(
            &mut e,
            r#"DELETE PROPOSITIONS ?l WHERE{?l (?s,"treats",?o) FILTER(?l.metadata.source=="test_data")}"#
        ),
        json!({"deleted_propositions": 3})
    );
    assert_eq!(
        ok(
            &mut e,
            r#"DELETE CONCEPT ?d DETACH WHERE{?d {type:"Drug",name:"Ibuprofen"}}"#
        ),
        json!({"deleted_concepts": 1, "deleted_propositions": 2})
    );
    assert_eq!(
        code(
            &mut e,
            r#"DELETE CONCEPT ?d WHERE{?d {type:"Drug",name:"Aspirin"}}"#
        ),
        ErrorCode::InvalidSyntax
    );
    assert_eq!(
        code(
            &mut e,
            r#"DELETE CONCEPT ?d DETACH WHERE{?d {type:"Domain",name:"CoreSchema"}}"#
        ),
        ErrorCode::ImmutableTarget
    );
}

#[test]
fn meta_commands() {
    let mut e = fixture();
    assert_eq!(
        code(&mut e, r#"DESCRIBE CONCEPT TYPE "drug""#),
        ErrorCode::NotFound
    );
    assert_eq!(
        ok(&mut e, r#"DESCRIBE CONCEPT TYPE "Drug""#)["attributes"]["description"],
        json!("A medicine")
    );
    let first = run(&mut e, "DESCRIBE PROPOSITION TYPES LIMIT 2").unwrap();
    let names: Vec<String> = serde_json::from_value(first.result).unwrap();
    assert_eq!(names.len(), 2);
    assert!(names[0] < names[1]);
    let cursor = first.next_cursor.expect("more types");
    assert_eq!(cursor, names[1]);
    let rest = run(
        &mut e,
        &format!("DESCRIBE PROPOSITION TYPES CURSOR {cursor:?}"),
    )
    .unwrap();
    let rest: Vec<String> = serde_json::from_value(rest.result).unwrap();
    assert!(rest.iter().all(|n| *n > names[1]) && rest.contains(&"treats".to_string()));

    let primer = ok(&mut e, "DESCRIBE PRIMER");
    assert_eq!(primer["identity"]["name"], json!("$self"));
    let domains = primer["domain_map"].as_array().unwrap();
    assert_eq!(primer["total_domains"], json!(domains.len()));
    let core = domains.iter().find(|d| d["name"] == "CoreSchema").unwrap();
    assert!(core["key_concept_types"]
        .as_array()
        .unwrap()
        .contains(&json!("Person")));
    assert!(core["key_proposition_types"]
        .as_array()
        .unwrap()
        .contains(&json!("belongs_to_domain")));
    let listed = ok(&mut e, "DESCRIBE DOMAINS");
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"] == "Unsorted"));

    let hits = ok(&mut e, r#"SEARCH CONCEPT "aspirin" LIMIT 5"#);
    assert_eq!(hits[0]["name"], json!("Aspirin"));
    let score = hits[0]["metadata"]["_score"].as_f64().unwrap();
    assert_eq!(score, 1.0, "the name, word for word: a perfect match");
    // Scores are absolute: a partial match scores below 1 even when it is the best there
    // is, so THRESHOLD 1.0 keeps perfect matches only.
    let partial = ok(&mut e, r#"SEARCH CONCEPT "aspirin tablets" LIMIT 5"#);
    assert_eq!(partial[0]["name"], json!("Aspirin"));
    let weaker = partial[0]["metadata"]["_score"].as_f64().unwrap();
    assert!(weaker > 0.0 && weaker < 1.0, "{weaker}");
    assert_eq!(
        ok(&mut e, r#"SEARCH CONCEPT "aspirin tablets" THRESHOLD 1.0"#),
        json!([])
    );
    assert_eq!(
        ok(&mut e, r#"SEARCH CONCEPT "Aspirin" THRESHOLD 1.0"#)[0]["name"],
        json!("Aspirin")
    );
    assert_eq!(
        ok(&mut e, r#"SEARCH CONCEPT "aspirin" WITH TYPE "Symptom""#),
        json!([])
    );
    assert_eq!(
        code(&mut e, r#"SEARCH CONCEPT "aspirin" THRESHOLD 1.5"#),
        ErrorCode::InvalidSyntax
    );
    assert_eq!(
        ok(
            &mut e,
            r#"SEARCH CONCEPT "aspirin" MODE "semantic" LIMIT 1"#
        )[0]["name"],
        json!("Aspirin")
    );
    assert_eq!(
        ok(&mut e, r#"SEARCH PROPOSITION "treats" LIMIT 10"#)
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // CJK text is segmented, so a word inside a longer Han run is found.
    ok(
        &mut e,
        r#"UPSERT{CONCEPT ?d {{type:"Drug",name:"阿司匹林"} SET ATTRIBUTES{description:"用于缓解头痛和发烧"}}}"#,
    );
    assert_eq!(
        ok(&mut e, r#"SEARCH CONCEPT "阿司匹林""#)[0]["name"],
        json!("阿司匹林")
    );
    assert_eq!(
        ok(&mut e, r#"SEARCH CONCEPT "头痛""#)[0]["name"],
        json!("阿司匹林")
    );

    // EXPORT yields a capsule that recreates the nodes in another graph.
    let export = ok(&mut e, r#"EXPORT ?d WHERE { ?d {type:"Drug"} }"#);
    assert_eq!(export["concepts"], json!(3));
    let capsule = export["capsule"].as_str().unwrap();
    assert!(!capsule.contains("_version"));
    let mut other = engine();
    for command in &FIXTURE_F[..1] {
        run(&mut other, command).unwrap();
    }
    run(&mut other, capsule).unwrap_or_else(|err| panic!("{err}\n{capsule}"));
    assert_eq!(
        normalize(
            &ok(&mut other, r#"FIND(?d.name) WHERE {?d {type:"Drug"}}"#),
            false
        ),
        json!(["Aspirin", "Ibuprofen", "阿司匹林"])
    );
}

#[test]
fn actors_are_protected() {
    let mut e = fixture();
    assert_eq!(
        code(
            &mut e,
            r#"UPSERT{CONCEPT ?s {{type:"Person",name:"$self"} SET ATTRIBUTES{core_directives:[]}}}"#
        ),
        ErrorCode::ImmutableTarget
    );
    ok(
        &mut e,
        r#"UPSERT{CONCEPT ?s {{type:"Person",name:"$self"} SET ATTRIBUTES{persona:"x"}}}"#,
    );
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?s.attributes.persona) WHERE{?s {type:"Person",name:"$self"}}"#
        ),
        json!(["x"])
    );
    assert_eq!(
        code(
            &mut e,
            r#"DELETE CONCEPT ?s DETACH WHERE{?s {type:"Person",name:"$system"}}"#
        ),
        ErrorCode::ImmutableTarget
    );
}

#[test]
fn lexical_rules() {
    let mut e = fixture();
    for command in [
        r#"find(?d.name) WHERE {?d {type:"Drug"}}"#,
        r#"FIND(?x.name) WHERE {?x {color:"red"}}"#,
        r#"FIND(?x.name) WHERE {?x {id:"C:1",type:"Drug"}}"#,
        r#"FIND(?d.attributes.a.b) WHERE {?d {type:"Drug"}}"#,
        r#"FIND(?d.name) WHERE {?d {type:"Drug"}} LIMIT10"#,
        r#"FIND(?x.name) WHERE {?x {id:"P:1:treats"}}"#,
    ] {
        assert_eq!(code(&mut e, command), ErrorCode::InvalidSyntax, "{command}");
    }
    assert_eq!(
        ok(
            &mut e,
            r#"FIND(?d.name) WHERE {?d {type:"Drug", name: "Aspirin"}} LIMIT 5"#
        ),
        json!(["Aspirin"])
    );
    assert_eq!(ok(&mut e, r#"FIND(?d.name) WHERE {?d {type:"Drug"} FILTER(IS_NULL(?d.attributes.flag) || ?d.attributes.flag == TRUE)} LIMIT 1"#).as_array().unwrap().len(), 1);
}

/// One situation per code of the §8 table.
#[test]
fn every_error_code_is_raised_by_its_situation() {
    let mut e = fixture();
    let cases: &[(&str, ErrorCode)] = &[
        ("FIND ?x WHERE {{{", ErrorCode::InvalidSyntax),
        (
            "FIND(?1x) WHERE { ?d {type: \"Drug\"} }",
            ErrorCode::InvalidIdentifier,
        ),
        (
            r#"UPSERT { CONCEPT ?t { {type: "$ConceptType", name: "Drug Class"} } }"#,
            ErrorCode::InvalidIdentifier,
        ),
        (
            r#"UPSERT { CONCEPT ?w { {type: "Widget", name: "w"} } }"#,
            ErrorCode::TypeMismatch,
        ),
        (
            r#"UPSERT { CONCEPT ?d { {type: "Drug", name: "Aspirin"} } WITH METADATA { _score: 1 } }"#,
            ErrorCode::ConstraintViolation,
        ),
        (
            r#"UPSERT { CONCEPT ?p { {type: "Person", name: "Ann"} SET ATTRIBUTES { persona: 42 } } }"#,
            ErrorCode::InvalidValueType,
        ),
        (
            r#"FIND(?nobody) WHERE { ?d {type: "Drug"} }"#,
            ErrorCode::ReferenceError,
        ),
        (
            r#"FIND(?d) WHERE { ?d {id: "C:424242"} }"#,
            ErrorCode::NotFound,
        ),
        (
            r#"MERGE CONCEPT ?a INTO ?b WHERE { ?a {type: "Symptom"} ?b {type: "Drug", name: "Aspirin"} }"#,
            ErrorCode::DuplicateExists,
        ),
        (
            r#"UPSERT { CONCEPT ?c { {type: "Domain", name: "CoreSchema"} SET ATTRIBUTES { description: "mine" } } }"#,
            ErrorCode::ImmutableTarget,
        ),
        (
            r#"UPSERT { CONCEPT ?d { {type: "Drug", name: "Aspirin"} EXPECT VERSION 7 } }"#,
            ErrorCode::VersionConflict,
        ),
        (
            r#"FIND(?x.name) WHERE { ?c {type: "Drug", name: "Aspirin"} (?c, "treats"{12,}, ?x) }"#,
            ErrorCode::ResourceExhausted,
        ),
    ];
    for (command, want) in cases {
        assert_eq!(code(&mut e, command), *want, "{command}");
    }
    let huge = format!(
        "FIND(?d.name) WHERE {{ ?d {{type: \"Drug\"}} }} // {}",
        "x".repeat(300 * 1024)
    );
    assert_eq!(code(&mut e, &huge), ErrorCode::ResourceExhausted);
    let deep = format!(
        "FIND(?d.name) WHERE {{ ?d {{type: \"Drug\"}} FILTER({}1 < 2{}) }}",
        "(".repeat(70),
        ")".repeat(70)
    );
    assert_eq!(code(&mut e, &deep), ErrorCode::ResourceExhausted);

    // KIP_4001: a command over its time budget.
    let mut slow = engine();
    run(&mut slow, r#"UPSERT { CONCEPT ?t { {type: "$ConceptType", name: "N"} } CONCEPT ?p { {type: "$PropositionType", name: "next"} } }"#).unwrap();
    let blocks: String = (0..300)
        .map(|i| format!("CONCEPT ?n{i} {{ {{type: \"N\", name: \"n{i}\"}} }} "))
        .collect();
    run(&mut slow, &format!("UPSERT {{ {blocks} }}")).unwrap();
    slow.set_timeout(std::time::Duration::from_millis(1));
    let err = run(&mut slow, r#"FIND(?a.name, ?b.name) WHERE { ?a {type: "N"} ?b {type: "N"} FILTER(REGEX(?a.name, "^n1") && ?a.name != ?b.name) }"#).unwrap_err();
    assert_eq!(err.code, ErrorCode::ExecutionTimeout, "{err}");

    // KIP_4003: a storage failure surfaces as an internal error (on SQLite, where the
    // test can reach the tables).
    let mut broken = fixture();
    if let Some(graph) = broken.sqlite() {
        graph
            .connection()
            .execute_batch("DROP TABLE kip_links")
            .unwrap();
        assert_eq!(
            code(&mut broken, r#"FIND(?d.name) WHERE { (?d, "treats", ?s) }"#),
            ErrorCode::InternalError
        );
    }
}

#[test]
fn the_envelope() {
    let mut e = fixture();
    let request = |v: Value| -> Request { serde_json::from_value(v).unwrap() };
    let single = e.execute(
        &request(json!({"command": "FIND(?d.name) WHERE{?d {type:\"Drug\",name: :n}}", "parameters": {"n": "Aspirin"}})),
        Mode::ReadOnly,
    );
    assert_eq!(single, json!({"result": ["Aspirin"]}));

    // Values with quotes and backslashes round-trip through substitution.
    let tricky = "Tri\"cky\\Drug";
    e.execute(
        &request(json!({"command": "UPSERT{CONCEPT ?d {{type:\"Drug\", name: :n}}}", "parameters": {"n": tricky}})),
        Mode::ReadWrite,
    );
    let back = e.execute(&request(json!({"command": "FIND(?d.name) WHERE{?d {type:\"Drug\",name: :n}}", "parameters": {"n": tricky}})), Mode::ReadOnly);
    assert_eq!(back, json!({"result": [tricky]}));

    let in_string = e.execute(
        &request(
            json!({"command": "FIND(?d.name) WHERE{?d {name:\"x :n\"}}", "parameters": {"n": "A"}}),
        ),
        Mode::ReadOnly,
    );
    assert_eq!(in_string["error"]["code"], json!("KIP_1001"));
    let both = e.execute(
        &request(json!({"command": "DESCRIBE DOMAINS", "commands": ["DESCRIBE DOMAINS"]})),
        Mode::ReadOnly,
    );
    assert_eq!(both["error"]["code"], json!("KIP_1001"));
    assert!(both["error"]["hint"].as_str().is_some());

    // Read-only: KML is refused inline and the batch goes on.
    let read_only = e.execute(
        &request(json!({"commands": ["UPSERT{CONCEPT ?d {{type:\"Drug\",name:\"X\"}}}", "FIND(COUNT(?d)) WHERE{?d {type:\"Drug\"}}"]})),
        Mode::ReadOnly,
    );
    assert_eq!(read_only["result"][0]["error"]["code"], json!("KIP_1001"));
    assert_eq!(read_only["result"][1], json!({"result": 3}));

    // Read-write: a KML execution error stops the batch.
    let stopped = e.execute(
        &request(json!({"commands": ["UPSERT{CONCEPT ?w {{type:\"Widget\",name:\"w\"}}}", "FIND(COUNT(?d)) WHERE{?d {type:\"Drug\"}}"]})),
        Mode::ReadWrite,
    );
    assert_eq!(stopped["result"].as_array().unwrap().len(), 1);
    assert_eq!(stopped["result"][0]["error"]["code"], json!("KIP_2001"));

    // Syntax errors are inline; per-command parameters override shared ones.
    let inline = e.execute(
        &request(json!({
            "commands": ["FIND ?x WHERE {{{", {"command": "FIND(?d.name) WHERE{?d {type:\"Drug\",name: :n}}", "parameters": {"n": "Ibuprofen"}}],
            "parameters": {"n": "Aspirin"}
        })),
        Mode::ReadWrite,
    );
    assert_eq!(inline["result"].as_array().unwrap().len(), 2);
    assert_eq!(inline["result"][0]["error"]["code"], json!("KIP_1001"));
    assert!(inline["result"][0]["error"]["data"]["column"]
        .as_u64()
        .is_some());
    assert_eq!(inline["result"][1], json!({"result": ["Ibuprofen"]}));

    // dry_run validates a capsule and writes nothing.
    let dry = e.execute(
        &request(json!({"command": "UPSERT{CONCEPT ?d {{type:\"Drug\",name:\"Dry\"}}}", "dry_run": true})),
        Mode::ReadWrite,
    );
    assert_eq!(
        dry,
        json!({"result": {"blocks": 1, "upsert_concept_nodes": [], "upsert_proposition_links": []}})
    );
    assert_eq!(
        code(&mut e, r#"FIND(?d) WHERE {?d {type:"Drug",name:"Dry"}}"#),
        ErrorCode::NotFound
    );
    let dry_delete = e.execute(
        &request(json!({"command": "DELETE CONCEPT ?d DETACH WHERE {?d {type:\"Domain\",name:\"CoreSchema\"}}", "dry_run": true})),
        Mode::ReadWrite,
    );
    assert_eq!(dry_delete["error"]["code"], json!("KIP_3004"));
}
