//! Shared by the crate's tests: a fresh in-memory engine and the conformance
//! normalization (ids to positional tokens, engine timestamps dropped, unordered results
//! sorted).

#![allow(dead_code)]

use std::collections::HashMap;

use andibase_kip::{Engine, Mode, Output, Result};
use serde_json::{Map, Value};

/// A fresh engine: in memory, or with `ANDIBASE_TEST_ENGINE=postgres` in a schema of its
/// own on a database made for this test process.
pub fn engine() -> Engine {
    if std::env::var("ANDIBASE_TEST_ENGINE").is_ok_and(|e| e == "postgres") {
        static DATABASE: std::sync::OnceLock<andibase_storage::ScratchDatabase> =
            std::sync::OnceLock::new();
        static GRAPHS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let db = DATABASE.get_or_init(|| {
            andibase_storage::ScratchDatabase::create().expect("a PostgreSQL server")
        });
        let n = GRAPHS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let graph = andibase_kip::store::PostgresGraph::open(db.url(), &format!("kg_test_{n}"))
            .expect("graph opens");
        return Engine::with_graph(graph).expect("engine opens");
    }
    Engine::with_graph(andibase_kip::store::SqliteGraph::in_memory().expect("in-memory sqlite"))
        .expect("engine opens")
}

pub fn run(engine: &mut Engine, command: &str) -> Result<Output> {
    engine.execute_command(command, Mode::ReadWrite, false)
}

fn is_id(s: &str) -> Option<(char, &str)> {
    if let Some(rest) = s.strip_prefix("C:") {
        return rest
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then_some(('C', ""));
    }
    let rest = s.strip_prefix("P:")?;
    let (n, pred) = rest.split_once(':')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(('P', pred))
}

pub fn normalize(value: &Value, ordered: bool) -> Value {
    let mut tokens = HashMap::new();
    let mut v = walk(value, &mut tokens, false);
    if !ordered {
        if let Value::Array(items) = &mut v {
            items.sort_by_key(canonical);
        }
    }
    v
}

fn walk(value: &Value, tokens: &mut HashMap<String, usize>, in_metadata: bool) -> Value {
    match value {
        Value::String(s) => match is_id(s) {
            Some((kind, pred)) => {
                let next = tokens.len() + 1;
                let n = *tokens.entry(s.clone()).or_insert(next);
                Value::String(if kind == 'C' {
                    format!("C:<{n}>")
                } else {
                    format!("P:<{n}>:{pred}")
                })
            }
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, tokens, false)).collect()),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                if in_metadata && (k == "_created_at" || k == "_updated_at") {
                    continue;
                }
                out.insert(k.clone(), walk(&map[k], tokens, k == "metadata"));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// JSON with sorted keys (serde_json's default map is sorted).
pub fn canonical(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
