//! `--mcp`: a record read as an MCP tool call beside the same read over the HTTP API, in
//! one run against one server, one request at a time.
//!
//! - HTTP: `GET /api/v1/data-definitions/items/query?filter=id = "…"&limit=1`, and the
//!   point read `GET …/data/{id}` for reference;
//! - MCP, raw: `tools/call list_data_records {definition, filter: id = "…", limit: 1}` as
//!   JSON-RPC over the same lean HTTP/1.1 client (the server's cost alone);
//! - MCP, rmcp: the same call through rmcp's client (`andibase_mcp::remote`), as an MCP
//!   client in Rust would make it.

use std::time::Instant;

use serde_json::{json, Value};

use super::data::fresh_andibase;
use super::{Args, Conn};

const READS: usize = 2000;
const WARM: usize = 100;
const RECORDS: usize = 1000;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Runs `$body` `READS` times after `WARM`, with `$i` the round; the times, sorted.
macro_rules! timed {
    ($i:ident => $body:expr) => {{
        let mut times = Vec::with_capacity(READS);
        for $i in 0..READS + WARM {
            let t = Instant::now();
            $body;
            if $i >= WARM {
                times.push(ms(t));
            }
        }
        times.sort_by(f64::total_cmp);
        times
    }};
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn bench_mcp(args: &Args) {
    let (data, key, addr, mut child) = fresh_andibase(args, "mcp").await;
    let auth = format!("Bearer {key}");
    let hs = [("Authorization", auth.as_str())];
    let mut c = Conn::open(&addr).await.unwrap();
    let (s, b) = c
        .send(
            "POST",
            "/api/v1/data-definitions",
            &hs,
            Some(&json!({"name": "Items", "handle": "items", "fields": {"title": {"type": "text"}, "n": {"type": "number"}}})),
        )
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    let mut ids = Vec::new();
    for batch in 0..RECORDS / 100 {
        let records: Vec<Value> = (0..100)
            .map(|i| json!({"name": format!("item {}", batch * 100 + i), "attributes": {"title": "a title of some length", "n": i}}))
            .collect();
        let (s, b) = c
            .send(
                "POST",
                "/api/v1/data-definitions/items/data/upsert-many",
                &hs,
                Some(&json!({"records": records})),
            )
            .await;
        assert!(s < 300, "{}", String::from_utf8_lossy(&b));
        let out: Value = serde_json::from_slice(&b).unwrap();
        ids.extend(
            out["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
    }
    let id = |i: usize| ids[(i * 7919) % ids.len()].clone();

    let http_query = timed!(i => {
        let path = format!(
            "/api/v1/data-definitions/items/query?filter={}&limit=1",
            encode(&format!("id = \"{}\"", id(i)))
        );
        let (s, _) = c.send("GET", &path, &hs, None).await;
        assert_eq!(s, 200);
    });
    let http_point = timed!(i => {
        let path = format!("/api/v1/data-definitions/items/data/{}", id(i));
        let (s, _) = c.send("GET", &path, &hs, None).await;
        assert_eq!(s, 200);
    });

    // MCP over the same client: initialize, then tool calls in the session.
    let accept = ("Accept", "application/json, text/event-stream");
    let (s, _) = c
        .send(
            "POST",
            "/mcp",
            &[hs[0], accept],
            Some(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})),
        )
        .await;
    assert_eq!(s, 200);
    // The session id is a response header the lean client does not keep: open a second
    // connection that reads it.
    let session = session_id(&addr, &auth).await;
    let mcp_hs = [
        hs[0],
        accept,
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    let (s, _) = c
        .send(
            "POST",
            "/mcp",
            &mcp_hs,
            Some(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})),
        )
        .await;
    assert!(s < 300);
    let mcp_raw = timed!(i => {
        let body = json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": {"name": "list_data_records", "arguments": {"definition": "items", "filter": format!("id = \"{}\"", id(i)), "limit": 1}}});
        let (s, b) = c.send("POST", "/mcp", &mcp_hs, Some(&body)).await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    });

    let rmcp = andibase_mcp::remote::RemoteServer::connect(
        &format!("http://{addr}/mcp"),
        Some(&key),
        "ab",
        andibase_outbound::Policy {
            allow_private: true,
        },
    )
    .await
    .unwrap();
    let mcp_rmcp = timed!(i => {
        let input = json!({"definition": "items", "filter": format!("id = \"{}\"", id(i)), "limit": 1});
        let out = rmcp.call_tool("list_data_records", input).await;
        assert!(!out.is_error, "{}", out.text);
    });
    rmcp.close().await;
    // At concurrency: CONNS clients at once for SECONDS each way.
    let http_busy = concurrent(&addr, &auth, &ids, false).await;
    let mcp_busy = concurrent(&addr, &auth, &ids, true).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);

    let base = pct(&http_query, 0.5);
    println!("andibase-bench --mcp: {READS} reads each (after {WARM}), one at a time, of {RECORDS} records; client and server share one 2-core VM");
    println!();
    println!("| a record read | p50 ms | p99 ms | p50 vs the HTTP query |");
    println!("|---|---:|---:|---:|");
    for (name, t) in [
        ("HTTP `GET …/query?filter=id = …&limit=1`", &http_query),
        ("HTTP `GET …/data/{id}` (point read)", &http_point),
        ("MCP `tools/call list_data_records`, raw JSON-RPC", &mcp_raw),
        ("MCP `tools/call list_data_records`, rmcp client", &mcp_rmcp),
    ] {
        println!(
            "| {name} | {:.3} | {:.3} | {:.2}× |",
            pct(t, 0.5),
            pct(t, 0.99),
            pct(t, 0.5) / base
        );
    }
    println!();
    println!("{CONNS} clients at once, {SECONDS} s each way:");
    println!();
    println!("| a record read | reads/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    for (name, (rate, t)) in [
        ("HTTP `GET …/query?filter=id = …&limit=1`", &http_busy),
        (
            "MCP `tools/call list_data_records`, raw JSON-RPC",
            &mcp_busy,
        ),
    ] {
        println!(
            "| {name} | {rate:.0} | {:.3} | {:.3} |",
            pct(t, 0.5),
            pct(t, 0.99)
        );
    }
}

const CONNS: usize = 8;
const SECONDS: u64 = 4;

/// `CONNS` clients reading for `SECONDS`, over HTTP or MCP (a session each): reads per
/// second and the sorted latencies.
async fn concurrent(addr: &str, auth: &str, ids: &[String], mcp: bool) -> (f64, Vec<f64>) {
    super::at_once(CONNS, SECONDS, |n, deadline| {
        let (addr, auth, ids) = (addr.to_string(), auth.to_string(), ids.to_vec());
        async move {
            let mut c = Conn::open(&addr).await.unwrap();
            let session = if mcp {
                Some(session_id(&addr, &auth).await)
            } else {
                None
            };
            let accept = "application/json, text/event-stream";
            let mut times = Vec::new();
            let mut i = n * 131;
            while Instant::now() < deadline {
                i += 1;
                let id = &ids[(i * 7919) % ids.len()];
                let t = Instant::now();
                let status = match &session {
                    None => {
                        let path = format!(
                            "/api/v1/data-definitions/items/query?filter={}&limit=1",
                            encode(&format!("id = \"{id}\""))
                        );
                        c.send("GET", &path, &[("Authorization", auth.as_str())], None).await.0
                    }
                    Some(sid) => {
                        let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "list_data_records", "arguments": {"definition": "items", "filter": format!("id = \"{id}\""), "limit": 1}}});
                        let hs = [
                            ("Authorization", auth.as_str()),
                            ("Accept", accept),
                            ("mcp-session-id", sid.as_str()),
                            ("mcp-protocol-version", "2025-06-18"),
                        ];
                        c.send("POST", "/mcp", &hs, Some(&body)).await.0
                    }
                };
                assert_eq!(status, 200);
                times.push(ms(t));
            }
            times
        }
    })
    .await
}

/// Makes an MCP session over a plain connection and answers its id.
async fn session_id(addr: &str, auth: &str) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}).to_string();
    let req = format!("POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    let mut id = None;
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("mcp-session-id") {
                id = Some(v.trim().to_string());
            }
        }
    }
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest).await;
    id.expect("an MCP session id")
}
