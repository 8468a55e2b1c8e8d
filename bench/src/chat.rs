//! `--chat`: the server's own time in an agent's chat turn, against a zero-latency fake
//! model provider on loopback (`andibase_llm::fake`), one request at a time.
//!
//! - the model call alone: the same client code the server uses (`llm::Model::complete`)
//!   calling the fake directly, measured here;
//! - a plain turn: `POST /api/v1/agents/{id}/chats/{chatId}/messages`, a new chat each
//!   time (two writes, one model call);
//! - a tool step: the model asks for `get_data_definitions` once, then answers (two model
//!   calls, one tool call, two writes);
//! - a remote MCP step: the same with a tool of a remote MCP server (`andibase_mcp::fake`
//!   on loopback) the agent links through a credential: the turn connects to the server
//!   (handshake, tool list), calls the tool, and closes the session.
//!
//! The server's overhead is a turn's time less its model calls' (at the median).

use std::time::Instant;

use andibase_llm::fake::{Answer, FakeProvider};
use serde_json::json;

use super::data::fresh_andibase_with_env;
use super::{Args, Conn};

const TURNS: usize = 300;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

pub async fn bench_chat(args: &Args) {
    let fake = FakeProvider::start(|seen| {
        if seen.last_input().contains("use a tool") && seen.tool_results().is_empty() {
            Answer::Tools(
                String::new(),
                vec![("get_data_definitions".into(), json!({}))],
            )
        } else if seen.last_input().contains("remote") && seen.tool_results().is_empty() {
            Answer::Tools(
                String::new(),
                vec![("shop__lookup_order".into(), json!({"order_id": "A-1"}))],
            )
        } else {
            Answer::Text("ok".into())
        }
    });
    let base = fake.openai_base();
    let (data, key, addr, mut child) = fresh_andibase_with_env(
        args,
        "chat",
        &[
            ("OPENAI_BASE_URL", base.as_str()),
            ("ANDIBASE_DEFAULT_MODEL", "openai/fake"),
            // The fake MCP server is on loopback.
            ("ANDIBASE_ALLOW_PRIVATE_CALLBACKS", "true"),
        ],
    )
    .await;
    let mcp = andibase_mcp::fake::FakeMcpServer::start(None);
    let auth = format!("Bearer {key}");
    let hs = [("Authorization", auth.as_str())];
    let mut c = Conn::open(&addr).await.unwrap();
    let (s, b) = c
        .send(
            "POST",
            "/api/v1/agents",
            &hs,
            Some(&json!({"name": "Bench", "handle": "bench", "capabilities": {"objectsAccess": true}})),
        )
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    let (s, b) = c
        .send(
            "POST",
            "/api/v1/workspaces/bench/credentials",
            &hs,
            Some(&json!({"name": "shop", "kind": "mcp_server", "url": mcp.url()})),
        )
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    let credential: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let (s, b) = c
        .send(
            "POST",
            "/api/v1/agents",
            &hs,
            Some(&json!({"name": "Remote", "handle": "remote", "capabilities": {"linkedCredentialIds": [credential["id"]]}})),
        )
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));

    // The model call alone, through the same client.
    let model = {
        let mut m = andibase_llm::Model::new(
            andibase_llm::Endpoint {
                wire: andibase_llm::Wire::OpenAi,
                base_url: base.clone(),
                api_key: None,
                guard: None,
            },
            "fake",
        );
        m.settings.retries = 0;
        m
    };
    let direct = tokio::task::spawn_blocking(move || {
        let request = andibase_llm::Request {
            messages: vec![andibase_llm::Message::user("hello")],
            ..Default::default()
        };
        (0..TURNS)
            .map(|_| {
                let t = Instant::now();
                model.complete(&request).unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect::<Vec<f64>>()
    })
    .await
    .unwrap();
    let direct = sorted(direct);

    let plain = turns(&mut c, &hs, "bench", "hello").await;
    let tool = turns(&mut c, &hs, "bench", "please use a tool").await;
    let remote = turns(&mut c, &hs, "remote", "a remote tool").await;
    // At concurrency: CLIENTS clients sending plain turns and tool steps for SECONDS.
    let busy_plain = concurrent(&addr, &auth, "hello").await;
    let busy_tool = concurrent(&addr, &auth, "please use a tool").await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);

    println!("andibase-bench --chat: {TURNS} turns each, one at a time, a new chat each; zero-latency fake provider on loopback; client, server and fake share one 2-core VM");
    println!();
    println!("| | p50 ms | p99 ms | server's own time at p50 |");
    println!("|---|---:|---:|---:|");
    println!(
        "| the model call alone (client → fake) | {:.2} | {:.2} | |",
        pct(&direct, 0.5),
        pct(&direct, 0.99)
    );
    println!(
        "| a plain turn (1 model call) | {:.2} | {:.2} | {:.2} |",
        pct(&plain, 0.5),
        pct(&plain, 0.99),
        pct(&plain, 0.5) - pct(&direct, 0.5)
    );
    println!(
        "| a tool step (2 model calls, 1 tool call) | {:.2} | {:.2} | {:.2} |",
        pct(&tool, 0.5),
        pct(&tool, 0.99),
        pct(&tool, 0.5) - 2.0 * pct(&direct, 0.5)
    );
    println!(
        "| a remote MCP step (2 model calls; connect, list, 1 call, close) | {:.2} | {:.2} | {:.2} (MCP included) |",
        pct(&remote, 0.5),
        pct(&remote, 0.99),
        pct(&remote, 0.5) - 2.0 * pct(&direct, 0.5)
    );
    println!();
    println!("{CLIENTS} clients at once, {SECONDS} s each:");
    println!();
    println!("| | turns/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    for (name, (rate, t)) in [("plain turns", &busy_plain), ("tool steps", &busy_tool)] {
        println!(
            "| {name} | {rate:.0} | {:.2} | {:.2} |",
            pct(t, 0.5),
            pct(t, 0.99)
        );
    }
}

const CLIENTS: usize = 8;
const SECONDS: u64 = 4;

/// `CLIENTS` clients sending `text` turns (a new chat each) for `SECONDS`: turns per
/// second and the sorted times.
async fn concurrent(addr: &str, auth: &str, text: &str) -> (f64, Vec<f64>) {
    super::at_once(CLIENTS, SECONDS, |n, deadline| {
        let (addr, auth, text) = (addr.to_string(), auth.to_string(), text.to_string());
        async move {
            let mut c = Conn::open(&addr).await.unwrap();
            let mut times = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                i += 1;
                let t = Instant::now();
                let (s, b) = c
                    .send(
                        "POST",
                        &format!(
                            "/api/v1/agents/bench/chats/busy-{}-{n}-{i}/messages",
                            text.len()
                        ),
                        &[("Authorization", auth.as_str())],
                        Some(&json!({"text": text})),
                    )
                    .await;
                assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times
        }
    })
    .await
}

/// `TURNS` turns (after 20 to warm up), each in a chat of its own; their times, sorted.
async fn turns(c: &mut Conn, hs: &[(&str, &str)], agent: &str, text: &str) -> Vec<f64> {
    let mut times = Vec::with_capacity(TURNS);
    for i in 0..TURNS + 20 {
        let t = Instant::now();
        let (s, b) = c
            .send(
                "POST",
                &format!("/api/v1/agents/{agent}/chats/{}-{i}/messages", text.len()),
                hs,
                Some(&json!({"text": text})),
            )
            .await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
        if i >= 20 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    sorted(times)
}
