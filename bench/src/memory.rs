//! `--memory`: a memory space holding `--records` formed conversations (model-free
//! formation), then recall at 32 connections over varied questions.
//!
//! - formation throughput: conversations submitted over 4 connections, and the time until
//!   every one is formed (the durable queue, one conversation at a time per space);
//! - recall latency p50/p99 for questions about a person, a place, a rare word and a
//!   question nothing matches.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::data::{fresh_andibase, run_load};
use super::{Args, Conn};

const PEOPLE: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const PLACES: [&str; 8] = [
    "Lisbon", "Porto", "Berlin", "Osaka", "Quito", "Nairobi", "Oslo", "Perth",
];
const TOPICS: [&str; 8] = [
    "coffee",
    "cycling",
    "piano",
    "gardening",
    "chess",
    "sailing",
    "pottery",
    "tennis",
];

fn conversation(i: usize) -> Value {
    let who = PEOPLE[i % PEOPLE.len()];
    let place = PLACES[(i / 8) % PLACES.len()];
    let topic = TOPICS[(i / 64) % TOPICS.len()];
    json!({
        "messages": [
            {"role": "user", "user": who, "content": format!("Last week I was in {place} and took up {topic}; note {i} word{i}")},
            {"role": "assistant", "content": "Noted, thanks."},
            {"role": "user", "user": who, "content": format!("Remind me about {topic} lessons on day {}", i % 28 + 1)}
        ],
        "timestamp": format!("2026-{:02}-{:02}T10:00:00Z", i % 12 + 1, i % 28 + 1)
    })
}

pub async fn bench_memory(args: &Args) {
    let n = args.records;
    let (data, key, addr, mut child) = fresh_andibase(args, "memory").await;
    let auth = vec![("Authorization".to_string(), format!("Bearer {key}"))];
    let mut c = Conn::open(&addr).await.unwrap();
    let hs: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, b) = c
        .send(
            "POST",
            "/admin/create_space",
            &hs,
            Some(&json!({"space_id": "bench", "tier": 4})),
        )
        .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));

    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (addr, auth) = (addr.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await.unwrap();
            let hs: Vec<(&str, &str)> =
                auth.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut i = w;
            while i < n {
                let (s, b) = conn
                    .send("POST", "/v1/bench/formation", &hs, Some(&conversation(i)))
                    .await;
                assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
                i += 4;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let submitted = started.elapsed();
    let mut c = Conn::open(&addr).await.unwrap();
    loop {
        let (_, body) = c.send("GET", "/v1/bench/info", &hs, None).await;
        let info: Value = serde_json::from_slice(&body).unwrap();
        if info["result"]["formation_processed_id"].as_u64() == Some(n as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let formed = started.elapsed();
    let (_, body) = c.send("GET", "/v1/bench/info", &hs, None).await;
    let info: Value = serde_json::from_slice(&body).unwrap();

    println!("andibase-bench --memory: {n} conversations formed without a model; {} connections, {} s a question; loopback; client and server share one 2-core VM", args.connections, args.seconds);
    println!();
    println!(
        "formation: {n} submitted in {:.1} s ({:.0}/s over 4 connections); all formed after {:.1} s ({:.0} conversations/s); the graph then held {} concepts and {} propositions ({:.1} MiB)",
        submitted.as_secs_f64(),
        n as f64 / submitted.as_secs_f64(),
        formed.as_secs_f64(),
        n as f64 / formed.as_secs_f64(),
        info["result"]["concepts"],
        info["result"]["propositions"],
        info["result"]["db_stats"]["file_bytes"].as_f64().unwrap_or(0.0) / 1048576.0
    );
    println!();
    println!("| recall question | req/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    for (name, query) in [
        (
            "a person (`What did carol take up?`)",
            "What did carol take up?",
        ),
        (
            "a place and topic (`who went to Osaka for chess`)",
            "who went to Osaka for chess",
        ),
        ("a rare word (`word4242`)", "word4242"),
        ("nothing matches (`kangaroo`)", "kangaroo"),
    ] {
        let auth = auth.clone();
        let body = json!({"query": query});
        let stats = run_load(&addr, args.connections, args.seconds, move |_| {
            (
                "POST".into(),
                "/v1/bench/recall".into(),
                auth.clone(),
                Some(body.clone()),
            )
        })
        .await;
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} |",
            stats.rps, stats.p50, stats.p99
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
}
