//! `--data`: records throughput of the data API side by side with raw SQLite in-process
//! and, with `--pocketbase`, PocketBase on the same machine:
//!
//! - bulk insert of `--records` records (3 fields) in batches of 1,000 over 4 connections;
//! - point reads by id at 32 connections;
//! - the filtered, sorted query `status = "open" && amount > 500`, sort `-amount`, limit 50;
//! - read-only SQL, one row by id, at 4 connections;
//! - sustained single-record writes for `--sustain-seconds`, with the WAL's size (and
//!   PocketBase's single-record create, the same load).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{provision, rss_kib, Args, Conn};

pub(crate) struct Stats {
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

fn pct(v: &[u64], p: f64) -> f64 {
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)] as f64 / 1000.0
}

/// Closed-loop load, summarized.
pub(crate) async fn run_load<F>(addr: &str, connections: usize, seconds: u64, request: F) -> Stats
where
    F: Fn(usize) -> super::Request + Send + Sync + 'static,
{
    run_load_over(&[addr.to_string()], connections, seconds, request).await
}

/// [`run_load`] with the connections spread over `addrs` (replicas).
pub(crate) async fn run_load_over<F>(
    addrs: &[String],
    connections: usize,
    seconds: u64,
    request: F,
) -> Stats
where
    F: Fn(usize) -> super::Request + Send + Sync + 'static,
{
    let (all, secs) = super::closed_loop_over(addrs, connections, seconds, request).await;
    Stats {
        rps: all.len() as f64 / secs,
        p50: pct(&all, 0.5),
        p99: pct(&all, 0.99),
        max: pct(&all, 1.0),
    }
}

/// One replica, then three, on the PostgreSQL database of `ANDIBASE_DATABASE_URL` (with
/// `ANDIBASE_SECRET_KEY`, which every replica inherits): the same point reads, filtered
/// queries and single-record writes, spread round-robin over the replicas.
pub async fn bench_replicas(args: &Args) {
    if std::env::var_os("ANDIBASE_DATABASE_URL").is_none() {
        println!("andibase-bench --replicas needs ANDIBASE_DATABASE_URL (a fresh PostgreSQL database) and ANDIBASE_SECRET_KEY");
        return;
    }
    let n = args.records;
    let (data, key, addr, first) = fresh_andibase(args, "replica-1").await;
    items_definition(&addr, &key).await;
    insert_items(&addr, &key, n).await;
    println!("andibase-bench --replicas: {n} records; one PostgreSQL; every replica, the database and the client share one 2-core VM");
    println!();
    println!("| measure (32 connections) | 1 replica | 3 replicas | ratio of throughput | p99 |");
    println!("|---|---|---|---|---|");
    let mut others = Vec::new();
    let mut results: Vec<[Stats; 3]> = Vec::new();
    for replicas in [1, 3] {
        while others.len() + 1 < replicas {
            let dir = std::env::temp_dir().join(format!(
                "andibase-bench-{}-replica-{}",
                std::process::id(),
                others.len() + 2
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let at = free_addr();
            let child = super::spawn_andibase(&args.binary, &dir, &at, &[]);
            super::wait_until_up(&at, "/healthz").await;
            others.push((dir, at, child));
        }
        let addrs: Vec<String> = std::iter::once(addr.clone())
            .chain(others.iter().map(|(_, a, _)| a.clone()))
            .collect();
        let k = key.clone();
        let read = run_load_over(&addrs, args.connections, args.seconds, move |i| {
            (
                "GET".into(),
                format!("/api/v1/data-definitions/items/data/i{}", (i * 7919) % n),
                vec![("x-api-key".into(), k.clone())],
                None,
            )
        })
        .await;
        let k = key.clone();
        let query = run_load_over(&addrs, args.connections, args.seconds, move |_| {
            (
                "GET".into(),
                "/api/v1/data-definitions/items/query?filter=status%20%3D%20%22open%22%20%26%26%20amount%20%3E%20500&sort=-amount&limit=50".into(),
                vec![("x-api-key".into(), k.clone())],
                None,
            )
        })
        .await;
        let k = key.clone();
        let write = run_load_over(&addrs, args.connections, args.sustain_seconds, move |i| {
            (
                "POST".into(),
                "/api/v1/data-definitions/items/data/upsert-many".into(),
                vec![("x-api-key".into(), k.clone())],
                Some(json!({"mode": "insert", "records": [{"id": format!("r{replicas}-{i}"), "attributes": record(i)}]})),
            )
        })
        .await;
        results.push([read, query, write]);
    }
    for (i, name) in [
        "point read by id",
        "filtered, sorted query, limit 50",
        "single-record writes",
    ]
    .iter()
    .enumerate()
    {
        let (one, three) = (&results[0][i], &results[1][i]);
        println!(
            "| {name} | {:.0}/s, p50 {:.2} ms, p99 {:.2} ms | {:.0}/s, p50 {:.2} ms, p99 {:.2} ms | {:.2} | {:.2}× |",
            one.rps, one.p50, one.p99, three.rps, three.p50, three.p99,
            three.rps / one.rps,
            three.p99 / one.p99
        );
    }
    for (dir, _, mut child) in others {
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut first = first;
    let _ = first.kill();
    let _ = first.wait();
    let _ = std::fs::remove_dir_all(&data);
}

/// Makes the `items` definition the data benchmarks use (a select, an indexed number and
/// a text).
async fn items_definition(addr: &str, key: &str) {
    let mut c = Conn::open(addr).await.unwrap();
    let (s, b) = c
        .send(
            "POST",
            "/api/v1/data-definitions",
            &[("x-api-key", key)],
            Some(&json!({"name": "Items", "fields": {
            "status": {"type": "select", "options": [{"value": "open"}, {"value": "closed"}]},
            "amount": {"type": "number", "indexed": true},
            "title": {"type": "text"}}})),
        )
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
}

/// `n` workspaces besides the first (`bench-2`, …), each with an admin key and the
/// `items` definition, made while the server runs (the CLI beside it); their keys.
async fn more_workspaces(
    binary: &str,
    data: &std::path::Path,
    addr: &str,
    n: usize,
) -> Vec<String> {
    let mut keys = Vec::new();
    for w in 2..n + 2 {
        let (name, handle) = (format!("Bench {w}"), format!("bench-{w}"));
        let key = super::workspace_with_key(binary, data, &name, &handle);
        items_definition(addr, &key).await;
        keys.push(key);
    }
    keys
}

/// Inserts `n` items (`i0`, `i1`, …) in batches of 1,000; returns records/s.
async fn insert_items(addr: &str, key: &str, n: usize) -> f64 {
    let k = key.to_string();
    bulk(addr, n, move |range| {
        let records: Vec<Value> = range
            .map(|i| json!({"id": format!("i{i}"), "attributes": record(i)}))
            .collect();
        (
            "/api/v1/data-definitions/items/data/upsert-many".to_string(),
            vec![("x-api-key".to_string(), k.clone())],
            json!({"mode": "insert", "records": records}),
        )
    })
    .await
}

fn record(i: usize) -> Value {
    json!({"status": if i.is_multiple_of(2) { "open" } else { "closed" }, "amount": (i * 7919) % 1000, "title": format!("Item number {i}")})
}

/// Inserts `n` records in batches of 1,000 over 4 connections; returns records/s.
pub(crate) async fn bulk(
    addr: &str,
    n: usize,
    batch: impl Fn(std::ops::Range<usize>) -> (String, Vec<(String, String)>, Value)
        + Send
        + Sync
        + 'static,
) -> f64 {
    let batch = Arc::new(batch);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (addr, batch) = (addr.to_string(), batch.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await.unwrap();
            let mut start = w * 1000;
            while start < n {
                let (path, headers, body) = batch(start..(start + 1000).min(n));
                let hs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let (status, resp) = conn.send("POST", &path, &hs, Some(&body)).await;
                assert!(
                    status < 300,
                    "{path}: {status} {}",
                    String::from_utf8_lossy(&resp[..resp.len().min(500)])
                );
                start += 4000;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Rows/s of rusqlite in-process inserting the same rows, 1,000 to a transaction with one
/// prepared statement: into a bare table, or (`like_andibase`) into what andibase writes
/// for a record: its table with the primary key and the covering `amount` index, a
/// contentless full-text row and an event row.
fn sqlite_in_process(n: usize, like_andibase: bool) -> f64 {
    let path = std::env::temp_dir().join(format!("andibase-bench-{}-raw.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    // The pragmas andibase's own connections use.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16000;",
    )
    .unwrap();
    if like_andibase {
        conn.execute_batch(
            "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT, created_by TEXT, updated_by TEXT, version INTEGER NOT NULL DEFAULT 1, f_amount REAL, f_status TEXT, f_title TEXT);
             CREATE INDEX items_amount ON items (f_amount, id, deleted_at, f_status);
             CREATE VIRTUAL TABLE items_search USING fts5(body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');
             CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, kind TEXT NOT NULL, subject_id TEXT NOT NULL, actor TEXT, payload TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL);",
        )
        .unwrap();
    } else {
        conn.execute_batch(
            "CREATE TABLE items (id TEXT PRIMARY KEY, status TEXT, amount REAL, title TEXT);",
        )
        .unwrap();
    }
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let tx = conn.transaction().unwrap();
        for &i in chunk {
            let r = record(i);
            let (id, status, amount, title) = (
                format!("i{i}"),
                r["status"].as_str(),
                r["amount"].as_f64(),
                r["title"].as_str(),
            );
            if !like_andibase {
                tx.prepare_cached("INSERT INTO items VALUES (?1, ?2, ?3, ?4)")
                    .unwrap()
                    .execute(rusqlite::params![id, status, amount, title])
                    .unwrap();
                continue;
            }
            tx.prepare_cached("INSERT INTO items (id, created_at, updated_at, created_by, updated_by, f_amount, f_status, f_title) VALUES (?1, ?2, ?2, ?3, ?3, ?4, ?5, ?6)")
                .unwrap()
                .execute(rusqlite::params![id, "2026-11-29T00:00:00.000Z", "key_bench", amount, status, title])
                .unwrap();
            tx.prepare_cached(
                "INSERT INTO items_search (rowid, body) VALUES (last_insert_rowid(), ?1)",
            )
            .unwrap()
            .execute([title])
            .unwrap();
            tx.prepare_cached("INSERT INTO events (id, kind, subject_id, actor, payload, created_at) VALUES (?1, 'data.created', ?2, 'key_bench', '{\"definition\":\"items\"}', 0)")
                .unwrap()
                .execute(rusqlite::params![format!("e{i}"), id])
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    rate
}

/// CPU time (user + system, ms) the server's database writer threads have used: on SQLite
/// the one thread every write goes through (`db-w-…`), whatever the clients cost; on
/// PostgreSQL the write pool's threads (`pg-w…`), without the server's own processes.
fn writer_cpu_ms(pid: u32) -> f64 {
    let ticks: u64 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.starts_with("db-w-") || c.starts_with("pg-w"))
        })
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            // Fields after the `(comm)`: utime and stime are the 12th and 13th.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    // Linux counts these in clock ticks of 1/100 s.
    ticks as f64 * 10.0
}

pub(crate) fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

fn print(name: &str, ours: &Stats, pb: Option<&Stats>) {
    match pb {
        Some(p) => println!(
            "| {name} | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | {:.1}× |",
            ours.rps, ours.p50, ours.p99, p.rps, p.p50, p.p99, ours.rps / p.rps
        ),
        None => println!("| {name} | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | — | — |", ours.rps, ours.p50, ours.p99),
    }
}

pub(crate) struct PocketBase {
    child: Child,
    pub addr: String,
    pub token: String,
    ids: Vec<String>,
    dir: std::path::PathBuf,
}

impl Drop for PocketBase {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh PocketBase on a free port with batch requests allowed; also a connection and
/// the superuser token.
pub(crate) async fn start_pocketbase_server(binary: &str, label: &str) -> (PocketBase, Conn) {
    let dir =
        std::env::temp_dir().join(format!("andibase-bench-{}-pb-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_flag = format!("--dir={}", dir.display());
    let out = Command::new(binary)
        .args([
            "superuser",
            "upsert",
            "bench@example.com",
            "bench-password-123",
            &dir_flag,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let addr = free_addr();
    let child = Command::new(binary)
        .args(["serve", &format!("--http={addr}"), &dir_flag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    super::wait_until_up(&addr, "/api/health").await;
    let mut c = Conn::open(&addr).await.unwrap();
    let token = super::pocketbase_token(&mut c).await;
    let auth = [("Authorization", token.as_str())];
    let (s, b) = c.send("PATCH", "/api/settings", &auth, Some(&json!({"batch": {"enabled": true, "maxRequests": 1000, "timeout": 60, "maxBodySize": 0}}))).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    (
        PocketBase {
            child,
            addr,
            token,
            ids: Vec::new(),
            dir,
        },
        c,
    )
}

/// Creates a PocketBase collection (PocketBase 0.40 sometimes answers "name exists" to
/// the first create on a fresh data dir; what matters is that the collection is there).
pub(crate) async fn pocketbase_collection(c: &mut Conn, token: &str, collection: &Value) -> Value {
    let auth = [("Authorization", token)];
    let name = collection["name"].as_str().unwrap();
    let (s, b) = c
        .send("POST", "/api/collections", &auth, Some(collection))
        .await;
    let (found, body) = c
        .send("GET", &format!("/api/collections/{name}"), &auth, None)
        .await;
    assert!(s < 300 || found == 200, "{}", String::from_utf8_lossy(&b));
    serde_json::from_slice(&body).unwrap()
}

async fn pocketbase(binary: &str, n: usize) -> (PocketBase, f64) {
    let (mut pb, mut c) = start_pocketbase_server(binary, "data").await;
    let (addr, token) = (pb.addr.clone(), pb.token.clone());
    let auth = [("Authorization", token.as_str())];
    let collection = json!({"name": "pb_items", "type": "base", "viewRule": "", "listRule": "", "fields": [
        {"name": "status", "type": "text"}, {"name": "amount", "type": "number"}, {"name": "title", "type": "text"}],
        "indexes": ["CREATE INDEX idx_pb_items_amount ON pb_items (amount)"]});
    pocketbase_collection(&mut c, &token, &collection).await;
    let token2 = token.clone();
    let rate = bulk(&addr, n, move |range| {
        let requests: Vec<Value> = range.map(|i| json!({"method": "POST", "url": "/api/collections/pb_items/records", "body": record(i)})).collect();
        ("/api/batch".to_string(), vec![("Authorization".to_string(), token2.clone())], json!({"requests": requests}))
    })
    .await;
    let (_, body) = c
        .send(
            "GET",
            "/api/collections/pb_items/records?perPage=500&skipTotal=1&fields=id",
            &auth,
            None,
        )
        .await;
    pb.ids = serde_json::from_slice::<Value>(&body).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    (pb, rate)
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// A provisioned andibase on a free port with a fresh data dir `andibase-bench-<pid>-<label>`:
/// (data dir, admin key, address, process).
pub(crate) async fn fresh_andibase(
    args: &Args,
    label: &str,
) -> (std::path::PathBuf, String, String, Child) {
    fresh_andibase_with_env(args, label, &[]).await
}

/// [`fresh_andibase`] with environment variables for the server (model providers).
pub(crate) async fn fresh_andibase_with_env(
    args: &Args,
    label: &str,
    env: &[(&str, &str)],
) -> (std::path::PathBuf, String, String, Child) {
    let data = std::env::temp_dir().join(format!("andibase-bench-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let key = provision(&args.binary, &data);
    let addr = free_addr();
    let mut child_command = super::andibase_command(&args.binary, &data, &addr, &[]);
    child_command.envs(env.iter().copied());
    let child = child_command.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start {}: {e} (build it with cargo build --release)",
            args.binary
        )
    });
    super::wait_until_up(&addr, "/healthz").await;
    (data, key, addr, child)
}

pub async fn bench_data(args: &Args) {
    let n = args.records;
    let (data, key, addr, mut child) = fresh_andibase(args, "data").await;
    items_definition(&addr, &key).await;

    println!("andibase-bench --data: {n} records of 3 fields; loopback; client and servers share one 2-core VM");
    println!();
    let raw = tokio::task::spawn_blocking(move || sqlite_in_process(n, false))
        .await
        .unwrap();
    let raw_like = tokio::task::spawn_blocking(move || sqlite_in_process(n, true))
        .await
        .unwrap();
    let writer_before = writer_cpu_ms(child.id());
    let ours = insert_items(&addr, &key, n).await;
    let writer_ms = writer_cpu_ms(child.id()) - writer_before;
    let pb = match &args.pocketbase {
        Some(bin) => Some(pocketbase(bin, n).await),
        None => None,
    };
    println!("| measure | andibase | PocketBase | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| bulk insert, batches of 1,000 (4 connections) | {ours:.0} rec/s ({:.2} of rusqlite in-process into a bare table: {raw:.0} rows/s; {:.2} of rusqlite in-process writing what andibase writes: {raw_like:.0} rows/s) | {} | {} |",
        ours / raw,
        ours / raw_like,
        pb.as_ref().map(|(_, r)| format!("{r:.0} rec/s")).unwrap_or("—".into()),
        pb.as_ref().map(|(_, r)| format!("{:.1}×", ours / r)).unwrap_or("—".into())
    );
    let per_1000 = writer_ms * 1000.0 / n as f64;
    println!(
        "| (andibase's writer threads' CPU during the bulk insert) | {per_1000:.1} ms per 1,000 records: at most {:.0} rec/s with the writer never idle{} | | |",
        1e6 / per_1000,
        match std::env::var_os("ANDIBASE_DATABASE_URL") {
            Some(_) => " (PostgreSQL's own processes not counted)",
            None => "",
        }
    );

    let k = key.clone();
    let ours_read = run_load(&addr, args.connections, args.seconds, move |i| {
        (
            "GET".into(),
            format!("/api/v1/data-definitions/items/data/i{}", (i * 7919) % n),
            vec![("x-api-key".into(), k.clone())],
            None,
        )
    })
    .await;
    let pb_read = match &pb {
        Some((p, _)) => {
            let (ids, token) = (p.ids.clone(), p.token.clone());
            Some(
                run_load(&p.addr, args.connections, args.seconds, move |i| {
                    (
                        "GET".into(),
                        format!("/api/collections/pb_items/records/{}", ids[i % ids.len()]),
                        vec![("Authorization".into(), token.clone())],
                        None,
                    )
                })
                .await,
            )
        }
        None => None,
    };
    print(
        &format!(
            "point read by id ({} connections, authenticated)",
            args.connections
        ),
        &ours_read,
        pb_read.as_ref(),
    );

    let k = key.clone();
    let filter =
        "filter=status%20%3D%20%22open%22%20%26%26%20amount%20%3E%20500&sort=-amount&limit=50";
    let ours_q = run_load(&addr, args.connections, args.seconds, move |_| {
        (
            "GET".into(),
            format!("/api/v1/data-definitions/items/query?{filter}"),
            vec![("x-api-key".into(), k.clone())],
            None,
        )
    })
    .await;
    let pb_q = match &pb {
        Some((p, _)) => {
            let token = p.token.clone();
            Some(run_load(&p.addr, args.connections, args.seconds, move |_| {
                (
                    "GET".into(),
                    "/api/collections/pb_items/records?filter=(status%3D'open'%26%26amount%3E500)&sort=-amount&perPage=50&skipTotal=1".into(),
                    vec![("Authorization".into(), token.clone())],
                    None,
                )
            })
            .await)
        }
        None => None,
    };
    print(
        &format!(
            "filtered, sorted query, limit 50 ({} connections)",
            args.connections
        ),
        &ours_q,
        pb_q.as_ref(),
    );

    // Read-only SQL: one row by id, as many at once as the sandbox runs (4), so the figure
    // is the sandbox's own cost (on PostgreSQL: a login and a read-only transaction).
    let k = key.clone();
    let ours_sql = run_load(&addr, 4, args.seconds, move |i| {
        (
            "POST".into(),
            "/api/v1/data/sql/query".into(),
            vec![("x-api-key".into(), k.clone())],
            Some(json!({"sql": "SELECT id, amount FROM items WHERE id = ?", "params": [format!("i{}", (i * 7919) % n)]})),
        )
    })
    .await;
    print(
        "read-only SQL, one row by id (4 connections)",
        &ours_sql,
        None,
    );

    // Sustained single-record writes, watching the write-ahead log (SQLite's; on
    // PostgreSQL there is no file to watch).
    let ws_dir = data.join("workspaces");
    let wal = std::fs::read_dir(&ws_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".db-wal"))
        .unwrap_or_default();
    let watcher = {
        let wal = wal.clone();
        let secs = args.sustain_seconds;
        tokio::spawn(async move {
            let mut max = 0;
            for _ in 0..secs * 4 {
                max = max.max(dir_size(&wal));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            max
        })
    };
    let k = key.clone();
    let sustained = run_load(&addr, args.connections, args.sustain_seconds, move |i| {
        (
            "POST".into(),
            "/api/v1/data-definitions/items/data/upsert-many".into(),
            vec![("x-api-key".into(), k.clone())],
            Some(json!({"mode": "insert", "records": [{"id": format!("w{i}"), "attributes": record(i)}]})),
        )
    })
    .await;
    let max_wal = watcher.await.unwrap();
    let wal_note = match wal.as_os_str().is_empty() {
        true => "no SQLite WAL here (PostgreSQL)".to_string(),
        false => format!(
            "WAL at most {:.1} MiB, {:.1} MiB at the end",
            max_wal as f64 / 1048576.0,
            dir_size(&wal) as f64 / 1048576.0
        ),
    };
    // PocketBase's single-record create, the same load (its own WAL, one writer).
    let pb_sustained = match &pb {
        Some((p, _)) => {
            let token = p.token.clone();
            Some(
                run_load(&p.addr, args.connections, args.sustain_seconds, move |i| {
                    (
                        "POST".into(),
                        "/api/collections/pb_items/records".into(),
                        vec![("Authorization".into(), token.clone())],
                        Some(record(i)),
                    )
                })
                .await,
            )
        }
        None => None,
    };
    drop(pb);
    print(
        &format!(
            "sustained single-record writes, {} s ({} connections; {wal_note})",
            args.sustain_seconds, args.connections
        ),
        &sustained,
        pb_sustained.as_ref(),
    );

    // The same writes spread over several workspaces: on SQLite each has its own file and
    // writer, on PostgreSQL its own schema and lock, so only what they share (the server's
    // cores, the disk, PostgreSQL's commit path) makes them take turns.
    const WORKSPACES: usize = 32;
    let keys = more_workspaces(&args.binary, &data, &addr, WORKSPACES).await;
    let spread = run_load(&addr, args.connections, args.sustain_seconds, move |i| {
        (
            "POST".into(),
            "/api/v1/data-definitions/items/data/upsert-many".into(),
            vec![("x-api-key".into(), keys[i % keys.len()].clone())],
            Some(json!({"mode": "insert", "records": [{"id": format!("s{i}"), "attributes": record(i)}]})),
        )
    })
    .await;
    print(
        &format!(
            "the same writes over {WORKSPACES} workspaces, {} s ({} connections)",
            args.sustain_seconds, args.connections
        ),
        &spread,
        None,
    );
    println!();
    println!(
        "server RSS after the run: {:.1} MiB",
        rss_kib(child.id()) as f64 / 1024.0
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
}
