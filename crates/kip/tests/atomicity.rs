//! A KML statement is atomic: when its last block fails, the database content is exactly
//! what it was before, row for row and byte for byte (FTS index and bookkeeping included).

use andibase_kip::{Engine, ErrorCode, Mode};

/// Every row of every table, in a fixed order, as text.
fn dump(engine: &Engine) -> String {
    let conn = engine.sqlite().unwrap().connection();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = String::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1"))
            .unwrap();
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |row| {
                let mut cells = Vec::new();
                for i in 0..columns {
                    cells.push(format!("{:?}", row.get_ref(i)?));
                }
                Ok(cells.join("|"))
            })
            .unwrap();
        out.push_str(&format!("== {table}\n"));
        for row in rows {
            out.push_str(&row.unwrap());
            out.push('\n');
        }
    }
    out
}

fn persona(engine: &mut Engine) -> serde_json::Value {
    engine
        .execute_command(
            r#"FIND(?s.attributes.persona) WHERE { ?s {type: "Person", name: "$self"} }"#,
            Mode::ReadOnly,
            false,
        )
        .unwrap()
        .result
}

/// A new, empty directory for one test's database file.
fn fresh_file(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("graph.db");
    (dir, path)
}

#[test]
fn a_multi_block_upsert_failing_in_its_last_block_changes_nothing() {
    let (dir, path) = fresh_file("kip-atomic");
    let mut engine = Engine::open(&path).unwrap();
    engine
        .execute_command(
            r#"UPSERT {
                CONCEPT ?t { {type: "$ConceptType", name: "Drug"} }
                CONCEPT ?p { {type: "$PropositionType", name: "interacts_with"} }
                CONCEPT ?a { {type: "Drug", name: "Aspirin"} SET ATTRIBUTES { risk: 2 } }
            }"#,
            Mode::ReadWrite,
            false,
        )
        .unwrap();
    let before = dump(&engine);

    let failing = r#"UPSERT {
        CONCEPT ?w { {type: "Drug", name: "Warfarin"} SET ATTRIBUTES { risk: 4, note: "new" } }
        CONCEPT ?a { {type: "Drug", name: "Aspirin"} SET ATTRIBUTES { risk: 3 } SET PROPOSITIONS { ("interacts_with", ?w) } }
        PROPOSITION ?l { (?w, "interacts_with", ?a) SET ATTRIBUTES { severity: "high" } }
        CONCEPT ?x { {type: "Drug", name: "Heparin"} SET PROPOSITIONS { ("unregistered_predicate", ?a) } }
    } WITH METADATA { source: "atomicity test" }"#;
    let err = engine
        .execute_command(failing, Mode::ReadWrite, false)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::TypeMismatch);
    assert_eq!(dump(&engine), before, "the failed statement left a trace");

    // The same holds after reopening the file.
    drop(engine);
    let engine = Engine::open(&path).unwrap();
    assert_eq!(dump(&engine), before);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bootstrap_is_applied_once_and_keeps_its_actors() {
    let (dir, path) = fresh_file("kip-boot");
    let mut engine = Engine::open(&path).unwrap();
    engine
        .execute_command(r#"UPSERT { CONCEPT ?s { {type: "Person", name: "$self"} SET ATTRIBUTES { persona: "edited" } } }"#, Mode::ReadWrite, false)
        .unwrap();
    let before = dump(&engine);
    drop(engine);
    // Reopening re-applies nothing: the capsule hashes match and $self exists.
    let mut engine = Engine::open(&path).unwrap();
    assert_eq!(dump(&engine), before);
    assert_eq!(persona(&mut engine), serde_json::json!(["edited"]));
    // A changed capsule hash re-applies Genesis without touching user data.
    engine
        .sqlite()
        .unwrap()
        .connection()
        .execute(
            "UPDATE kip_meta SET value = 'stale' WHERE key = 'capsule:genesis'",
            [],
        )
        .unwrap();
    drop(engine);
    let mut engine = Engine::open(&path).unwrap();
    assert_eq!(persona(&mut engine), serde_json::json!(["edited"]));
    let _ = std::fs::remove_dir_all(&dir);
}
