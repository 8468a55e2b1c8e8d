//! The engine-neutral KIP 1.x conformance suite (tests/conformance/*.json, from LDC Labs,
//! MIT), on both stores. Every case is asserted, including the ones the upstream files
//! mark as skipped for one of their engines: this engine matches the expected value there
//! too.

mod support;

use andibase_kip::Engine;
use serde_json::Value;
use support::{canonical, engine, normalize, run};

#[test]
fn every_conformance_case_passes_on_sqlite() {
    every_conformance_case_passes(engine);
}

/// The same suite with each fixture's graph in a schema of its own on PostgreSQL.
#[test]
fn every_conformance_case_passes_on_postgres() {
    let Some(db) = andibase_storage::ScratchDatabase::for_test() else {
        return;
    };
    let graphs = std::cell::Cell::new(0);
    every_conformance_case_passes(|| {
        graphs.set(graphs.get() + 1);
        let schema = format!("kg_conformance_{}", graphs.get());
        Engine::with_graph(
            andibase_kip::store::PostgresGraph::open(db.url(), &schema).expect("graph opens"),
        )
        .expect("engine opens")
    });
}

fn every_conformance_case_passes(engine: impl Fn() -> Engine) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in &files {
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("read fixture"))
                .expect("fixture is JSON");
        let name = fixture["name"].as_str().unwrap_or_default().to_string();
        let mut engine = engine();
        for (i, command) in fixture["setup"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Err(e) = run(&mut engine, command.as_str().unwrap_or_default()) {
                failures.push(format!("{name}: setup #{i} failed: {e}"));
            }
        }
        for case in fixture["cases"].as_array().into_iter().flatten() {
            cases += 1;
            let label = format!("{name} / {}", case["name"].as_str().unwrap_or_default());
            let command = case["command"].as_str().unwrap_or_default();
            let ordered = case["ordered"].as_bool().unwrap_or(false);
            let expect = &case["expect"];
            match (run(&mut engine, command), expect.get("error")) {
                (Ok(out), None) => {
                    let got = normalize(&out.result, ordered);
                    let want = normalize(&expect["result"], ordered);
                    if got != want {
                        failures.push(format!(
                            "{label}\n    command: {command}\n    want: {}\n    got:  {}",
                            canonical(&want),
                            canonical(&got)
                        ));
                    }
                    if let Some(c) = expect.get("next_cursor") {
                        if c.as_bool() == Some(true) && out.next_cursor.is_none() {
                            failures.push(format!("{label}: expected a next_cursor"));
                        }
                    }
                }
                (Ok(out), Some(error)) => failures.push(format!(
                    "{label}\n    command: {command}\n    want error {error}\n    got: {}",
                    canonical(&out.result)
                )),
                (Err(e), None) => failures.push(format!(
                    "{label}\n    command: {command}\n    unexpected error: {e}"
                )),
                (Err(e), Some(error)) => {
                    let code = error["code"].as_str().unwrap_or_default();
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if e.code.as_str() != code || !e.message.contains(message) {
                        failures.push(format!("{label}\n    command: {command}\n    want {code} {message:?}\n    got {e}"));
                    }
                }
            }
        }
    }
    assert!(cases >= 183, "expected the full suite, ran {cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
