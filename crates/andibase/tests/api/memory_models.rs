//! Memory spaces with a model: formation, recall and maintenance run their agents against
//! a scripted fake provider on loopback (`andibase_llm::fake`), which makes real KIP tool
//! calls; the server's default model speaks OpenAI's format, a space's BYOK model
//! Anthropic's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use andibase_llm::fake::{Answer, FakeProvider, Seen};
use serde_json::{json, Value};

use crate::support::{eventually, Client, Server};

const REMEMBER: &str = r#"UPSERT {
  CONCEPT ?pref { {type: "Preference", name: "alice:window-seat"} SET ATTRIBUTES { description: "Alice prefers window seats" } SET PROPOSITIONS { ("belongs_to_domain", {type: "Domain", name: "Unsorted"}) } }
  CONCEPT ?alice { {type: "Person", name: "alice"} SET PROPOSITIONS { ("prefers", ?pref) } }
  CONCEPT ?e { {type: "Event", name: "Conversation:2026-03-05:seats"} SET ATTRIBUTES { event_class: "Conversation", start_time: "2026-03-05T09:00:00Z", content_summary: "Alice said she prefers window seats", consolidation_status: "pending" } SET PROPOSITIONS { ("involves", ?alice), ("belongs_to_domain", {type: "Domain", name: "Unsorted"}) } }
} WITH METADATA { source: "conversation:1", author: "$self", confidence: 0.9 }"#;

const PREFERENCES: &str = r#"FIND(?pref.attributes.description) WHERE { ({type: "Person", name: "alice"}, "prefers", ?pref) }"#;

/// The three agents, told apart by their system prompts: each makes one round of KIP
/// calls and then answers with what the tools said.
fn brain(seen: &Seen) -> Answer {
    let results: Vec<String> = seen.tool_results().iter().map(|m| m.text.clone()).collect();
    let kip = |tool: &str, command: &str| (tool.to_string(), json!({"command": command}));
    if seen
        .system
        .starts_with("You are the memory formation agent")
    {
        match results.last() {
            None => Answer::Tools("Filing it.".into(), vec![kip("execute_kip", REMEMBER)]),
            Some(r) if r.contains("\"error\"") => {
                Answer::Text(format!("Status: partial\nWarnings: {r}"))
            }
            Some(_) => Answer::Text("Status: success\nSummary: a seat preference".into()),
        }
    } else if seen.system.starts_with("You are the recall agent") {
        if results.is_empty() {
            // A write through the read-only tool, then the real question.
            Answer::Tools(
                String::new(),
                vec![
                    kip(
                        "execute_kip_readonly",
                        "DELETE CONCEPT ?n DETACH WHERE { ?n {type: \"Person\", name: \"alice\"} }",
                    ),
                    kip("execute_kip_readonly", PREFERENCES),
                ],
            )
        } else {
            Answer::Text(format!(
                "Status: success\nAnswer: {}\nGaps: none\nWrite attempt: {}",
                results[1], results[0]
            ))
        }
    } else if seen.system.starts_with("You are the maintenance agent") {
        match results.last() {
            None => Answer::Tools(
                String::new(),
                vec![kip(
                    "execute_kip",
                    r#"UPDATE ?e SET ATTRIBUTES { consolidation_status: "consolidated" } WHERE { ?e {type: "Event"} FILTER(?e.attributes.consolidation_status == "pending") }"#,
                )],
            ),
            Some(r) => Answer::Text(format!("Status: success\nSummary: {r}")),
        }
    } else {
        Answer::Fail(400, "unexpected system prompt".into())
    }
}

fn make_space(server: &Server) -> Client {
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let made = admin.post("/admin/create_space", json!({"space_id": "brain"}));
    assert_eq!(made.status, 200, "{}", made.text);
    admin
}

fn seats() -> Value {
    json!({
        "messages": [
            {"role": "user", "user": "alice", "content": "I always take a window seat"},
            {"role": "assistant", "content": "Noted."}
        ],
        "context": {"counterparty": "alice"},
        "timestamp": "2026-03-05T09:00:00Z"
    })
}

/// Waits for a conversation to leave `submitted` / `working`; gives it.
fn settled(client: &Client, path: &str) -> Value {
    eventually(30, || {
        let r = client.get(path);
        assert_eq!(r.status, 200, "{}", r.text);
        let c = r.body["result"].clone();
        (!["submitted", "working"].contains(&c["status"].as_str().unwrap_or(""))).then_some(c)
    })
}

fn kip(client: &Client, command: &str) -> Value {
    let r = client.post(
        "/v1/brain/execute_kip_readonly",
        json!({"command": command}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["result"].clone()
}

#[test]
fn formation_recall_and_maintenance_run_their_agents_on_the_default_model() {
    let fake = FakeProvider::start(brain);
    let base = fake.openai_base();
    let server = Server::start_with_env(
        &[],
        &[
            ("OPENAI_BASE_URL", base.as_str()),
            ("OPENAI_API_KEY", "sk-server"),
            ("ANDIBASE_DEFAULT_MODEL", "openai/fake-brain"),
        ],
    );
    let admin = make_space(&server);

    let r = admin.post("/v1/brain/formation", seats());
    assert_eq!(r.status, 200, "{}", r.text);
    let formed = settled(&admin, "/v1/brain/conversations/1");
    assert_eq!(formed["status"], "completed", "{formed}");
    assert_eq!(
        formed["artifacts"][0]["content"],
        "Status: success\nSummary: a seat preference"
    );
    // The input's two messages, then the agent's call, the tool's answer and its reply.
    let messages = formed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5, "{formed}");
    assert_eq!(messages[2]["tool_calls"][0]["name"], "execute_kip");
    assert_eq!(messages[3]["role"], "tool");
    assert!(
        formed["usage"]["input_tokens"].as_i64().unwrap() > 0,
        "{formed}"
    );
    assert_eq!(formed["usage"]["requests"], 2);
    // What the agent wrote is in the graph, with its provenance.
    assert_eq!(
        kip(&admin, PREFERENCES),
        json!(["Alice prefers window seats"])
    );
    let first = &fake.seen()[0];
    assert_eq!(first.model, "fake-brain");
    assert_eq!(first.key.as_deref(), Some("Bearer sk-server"));
    assert_eq!(first.tools, ["execute_kip"]);
    assert!(first.system.contains("DESCRIBE PRIMER") && first.system.contains("`alice`"));
    assert!(first.last_input().contains("I always take a window seat"));
    assert!(first.last_input().contains("2026-03-05T09:00:00Z"));

    let r = admin.post(
        "/v1/brain/recall",
        json!({"query": "Which seat does Alice like?", "context": {"counterparty": "alice"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let answer = r.body["result"]["content"].as_str().unwrap().to_string();
    assert!(
        answer.contains("Answer: {\"result\":[\"Alice prefers window seats\"]}"),
        "{answer}"
    );
    // The recall tool is read-only: the delete was refused and alice is still there.
    assert!(answer.contains("KIP_1001"), "{answer}");
    assert_eq!(
        kip(
            &admin,
            r#"FIND(?p.name) WHERE { ?p {type: "Person", name: "alice"} }"#
        ),
        json!(["alice"])
    );
    let recall = fake
        .seen()
        .into_iter()
        .find(|s| s.system.starts_with("You are the recall agent"))
        .unwrap();
    assert_eq!(recall.tools, ["execute_kip_readonly"]);
    assert!(recall.last_input().contains("Which seat does Alice like?"));
    let kept = r.body["result"]["conversation"].as_i64().unwrap();
    let kept = admin.get(&format!("/v1/brain/conversations/{kept}?collection=recall"));
    assert_eq!(kept.body["result"]["usage"]["requests"], 2, "{}", kept.text);

    let r = admin.post(
        "/v1/brain/maintenance",
        json!({"timestamp": "2026-03-06T00:00:00Z", "scope": "daydream"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["result"]["conversation"].as_i64().unwrap();
    let done = settled(
        &admin,
        &format!("/v1/brain/conversations/{id}?collection=maintenance"),
    );
    assert_eq!(done["status"], "completed", "{done}");
    let report = done["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        report.contains("## Model-driven phases") && report.contains("\"updated\":1"),
        "{report}"
    );
    assert_eq!(
        kip(
            &admin,
            r#"FIND(?e.attributes.consolidation_status) WHERE { ?e {type: "Event", name: "Conversation:2026-03-05:seats"} }"#
        ),
        json!(["consolidated"])
    );

    let info = admin.get("/v1/brain/info");
    for (what, requests) in [
        ("formation_usage", 2),
        ("recall_usage", 2),
        ("maintenance_usage", 2),
    ] {
        assert_eq!(
            info.body["result"][what]["requests"], requests,
            "{what}: {}",
            info.text
        );
    }
}

#[test]
fn a_space_brings_its_own_model_through_the_outbound_guard() {
    let fake = FakeProvider::start(brain);
    let byok = json!({"family": "anthropic", "model": "claude-fake", "api_base": fake.anthropic_base(), "api_key": "k-space"});

    // Without the operator's permission, a loopback model server is refused.
    let strict = Server::start();
    let admin = make_space(&strict);
    let r = admin.patch("/v1/brain/management/space_byok", byok.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin.post("/v1/brain/recall", json!({"query": "seat?"}));
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["data"]["code"], "model_failed", "{}", r.text);
    assert!(
        r.body["message"].as_str().unwrap().contains("refused"),
        "{}",
        r.text
    );
    admin.post("/v1/brain/formation", seats());
    let failed = settled(&admin, "/v1/brain/conversations/1");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["failed_reason"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{failed}"
    );
    assert!(fake.seen().is_empty(), "nothing reached the model server");

    // Allowed, the space's model (Anthropic's format, its own key) does the work.
    let server = Server::start_with(&["--allow-private-callbacks"]);
    let admin = make_space(&server);
    let r = admin.patch("/v1/brain/management/space_byok", byok);
    assert_eq!(r.status, 200, "{}", r.text);
    admin.post("/v1/brain/formation", seats());
    assert_eq!(
        settled(&admin, "/v1/brain/conversations/1")["status"],
        "completed"
    );
    let r = admin.post(
        "/v1/brain/recall",
        json!({"query": "Which seat does Alice like?"}),
    );
    assert!(
        r.body["result"]["content"]
            .as_str()
            .unwrap()
            .contains("Alice prefers window seats"),
        "{}",
        r.text
    );
    let seen = fake.seen();
    assert!(seen
        .iter()
        .all(|s| s.model == "claude-fake" && s.key.as_deref() == Some("k-space")));
    assert!(seen.iter().all(|s| s.wire == andibase_llm::Wire::Anthropic));
    // Disabled, the space falls back to the model-free paths.
    let r = admin.patch(
        "/v1/brain/management/space_byok",
        json!({"family": "anthropic", "model": "claude-fake", "api_base": fake.anthropic_base(), "api_key": "k-space", "disabled": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let before = fake.seen().len();
    let r = admin.post("/v1/brain/recall", json!({"query": "window seat"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(fake.seen().len(), before, "no model call");
}

#[test]
fn a_failing_model_is_a_clear_error_and_loses_nothing() {
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let fake = FakeProvider::start(move |seen| {
        if flag.load(Ordering::SeqCst) {
            brain(seen)
        } else {
            Answer::Fail(500, "the model is down".into())
        }
    });
    let base = fake.openai_base();
    let server = Server::start_with_env(
        &["--model-retries", "1"],
        &[
            ("OPENAI_BASE_URL", base.as_str()),
            ("ANDIBASE_DEFAULT_MODEL", "openai/fake"),
        ],
    );
    let admin = make_space(&server);
    let r = admin.post("/v1/brain/recall", json!({"query": "seat?"}));
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["data"]["code"], "model_failed");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 500: the model is down"),
        "{}",
        r.text
    );
    assert_eq!(fake.seen().len(), 2, "one retry");

    let r = admin.post("/v1/brain/formation", seats());
    assert_eq!(r.status, 200, "the conversation is kept: {}", r.text);
    let failed = settled(&admin, "/v1/brain/conversations/1");
    assert_eq!(failed["status"], "failed");
    assert!(failed["failed_reason"]
        .as_str()
        .unwrap()
        .contains("the model is down"));
    assert_eq!(
        failed["messages"].as_array().unwrap().len(),
        2,
        "the input is kept"
    );

    healthy.store(true, Ordering::SeqCst);
    let r = admin.patch(
        "/v1/brain/management/restart_formation",
        json!({"conversation": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        settled(&admin, "/v1/brain/conversations/1")["status"],
        "completed"
    );
    assert_eq!(
        kip(&admin, PREFERENCES),
        json!(["Alice prefers window seats"])
    );

    // A default model naming no provider stops the server at start, saying why.
    let out = std::process::Command::new(crate::support::binary())
        .args(["--data-dir"])
        .arg(crate::support::temp_dir("badmodel").path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ANDIBASE_DEFAULT_MODEL", "nowhere/model")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ANDIBASE_DEFAULT_MODEL") && stderr.contains("nowhere"),
        "{stderr}"
    );
}
