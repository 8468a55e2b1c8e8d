//! Agent chats (seed 001) against a scripted fake model provider on loopback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use andibase_llm::fake::{Answer, FakeProvider};
use serde_json::json;

use crate::data::issue_paths;
use crate::support::{Client, Server};

fn make_agent(c: &Client, model: Option<&str>) -> String {
    let mut body = json!({"name": "Helper", "handle": "helper", "instructions": "Be brief."});
    if let Some(m) = model {
        body["model"] = json!(m);
    }
    let r = c.post("/api/v1/agents", body);
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

#[test]
fn a_chat_is_made_by_its_first_message_and_answered_by_the_agents_model() {
    let fake = FakeProvider::start(|seen| Answer::Text(format!("You said: {}", seen.last_input())));
    let base = fake.openai_base();
    let server = Server::start_with_env(&[], &[("OPENAI_BASE_URL", base.as_str())]);
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "viewer"));
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let agent = make_agent(&admin, Some("openai/fake-chat"));
    let url = format!("/api/v1/agents/{agent}/chats/chat_01/messages");

    let r = c.post(&url, json!({"text": "Hello there"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["chatId"], "chat_01");
    let user = &r.body["userMessage"];
    assert_eq!(
        (user["role"].as_str(), user["source"].as_str()),
        (Some("user"), Some("client"))
    );
    assert_eq!(
        user["message"]["parts"],
        json!([{"type": "text", "text": "Hello there"}])
    );
    let reply = &r.body["assistantMessage"];
    assert_eq!(
        (reply["role"].as_str(), reply["source"].as_str()),
        (Some("assistant"), Some("model"))
    );
    assert_eq!(
        reply["message"]["parts"][0]["text"],
        "You said: Hello there"
    );
    assert!(reply["messageId"]
        .as_str()
        .unwrap()
        .starts_with("msg_assistant_"));

    // The second turn carries the history and the agent's instructions.
    let r = c.post(
        &url,
        json!({"text": "And this?", "attachments": [
            {"mediaType": "image/png", "filename": "dot.png", "url": "data:image/png;base64,iVBORw0KGgo="},
            {"mediaType": "text/csv", "filename": "q3.csv", "url": "data:text/csv,region%2Csales%0Anorth%2C12"},
            {"mediaType": "application/pdf", "filename": "deck.pdf", "url": "data:application/pdf;base64,JVBERi0="}
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["userMessage"]["message"]["parts"][1]["type"], "file");
    let seen = fake.seen();
    let last = seen.last().unwrap();
    assert_eq!(
        (last.model.as_str(), last.system.as_str()),
        ("fake-chat", "Be brief.")
    );
    let said: Vec<&str> = last.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        said,
        [
            "Hello there",
            "You said: Hello there",
            "And this?\n[attached image: dot.png (image/png)]\n[attached file: q3.csv (text/csv)]\nregion,sales\nnorth,12\n[attached file: deck.pdf (application/pdf)]"
        ]
    );
    // The image reaches the model as an image (OpenAI's `image_url` part).
    assert_eq!(
        last.messages[2].images,
        [andibase_llm::Image {
            media_type: "image/png".into(),
            data: "iVBORw0KGgo=".into()
        }]
    );

    let chats = c.get(&format!("/api/v1/agents/{agent}/chats"));
    assert_eq!(chats.status, 200, "{}", chats.text);
    assert_eq!(chats.body[0]["chatId"], "chat_01");
    assert_eq!(chats.body[0]["title"], "Hello there");
    assert_eq!(chats.body[0]["nMessages"], 4);
    assert!(
        chats.body[0]["firstMessageAt"].is_string() && chats.body[0]["lastMessageAt"].is_string()
    );
    let chat = c.get(&format!("/api/v1/agents/{agent}/chats/chat_01"));
    let roles: Vec<&str> = chat.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    // The handle names the agent too.
    assert_eq!(c.get("/api/v1/agents/helper/chats").body[0]["nMessages"], 4);

    // Bad input names its field and stores nothing.
    for (body, path) in [
        (json!({}), json!(["text"])),
        (json!({"text": "   "}), json!(["text"])),
        (
            json!({"text": "x", "attachments": [{"mediaType": "image/png", "url": "https://example.com/a.png"}]}),
            json!(["attachments", 0, "url"]),
        ),
        (
            json!({"text": "x", "attachments": [{"mediaType": "", "url": "data:,"}]}),
            json!(["attachments", 0, "mediaType"]),
        ),
        (json!({"text": 3}), json!(["text"])),
        (json!({"text": "x", "extra": 1}), json!(["extra"])),
    ] {
        let r = c.post(&url, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(issue_paths(&r), vec![path], "{body}: {}", r.text);
    }
    let r = c.post(
        &format!("/api/v1/agents/{agent}/chats/bad%20id/messages"),
        json!({"text": "x"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        c.get(&format!("/api/v1/agents/{agent}/chats/chat_01")).body["messages"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    c.get(&format!("/api/v1/agents/{agent}/chats/nope"))
        .expect_error(404, "not_found");
    c.get("/api/v1/agents/nobody/chats")
        .expect_error(404, "not_found");

    // Another workspace sees neither the agent nor its chats.
    let other = owner.other_workspace(&server);
    other
        .get(&format!("/api/v1/agents/{agent}/chats"))
        .expect_error(404, "not_found");
    other
        .get(&format!("/api/v1/agents/{agent}/chats/chat_01"))
        .expect_error(404, "not_found");
    other
        .post(&url, json!({"text": "hi"}))
        .expect_error(404, "not_found");
    assert_eq!(
        fake.seen().len(),
        2,
        "only the two good messages reached the model"
    );
}

#[test]
fn a_missing_or_failing_model_keeps_the_message_and_says_why() {
    // No model anywhere.
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "admin"));
    let agent = make_agent(&c, None);
    let r = c.post(
        &format!("/api/v1/agents/{agent}/chats/c1/messages"),
        json!({"text": "Anyone?"}),
    );
    r.expect_error(400, "model_not_configured");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("ANDIBASE_DEFAULT_MODEL"),
        "{}",
        r.text
    );
    let chat = c.get(&format!("/api/v1/agents/{agent}/chats/c1"));
    assert_eq!(
        chat.body["messages"][0]["message"]["parts"][0]["text"], "Anyone?",
        "{}",
        chat.text
    );

    // A provider that fails, then heals: the chat stays usable.
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let fake = FakeProvider::start(move |seen| {
        if flag.load(Ordering::SeqCst) {
            Answer::Text(format!("{} messages seen", seen.messages.len()))
        } else {
            Answer::Fail(503, "overloaded".into())
        }
    });
    let base = fake.anthropic_base();
    let server = Server::start_with_env(
        &["--model-retries", "1"],
        &[
            ("ANTHROPIC_BASE_URL", base.as_str()),
            ("ANDIBASE_DEFAULT_MODEL", "anthropic/fake"),
        ],
    );
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "admin"));
    let agent = make_agent(&c, None);
    let url = format!("/api/v1/agents/{agent}/chats/c1/messages");
    let r = c.post(&url, json!({"text": "First"}));
    r.expect_error(502, "model_failed");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 503: overloaded"),
        "{}",
        r.text
    );
    assert_eq!(fake.seen().len(), 2, "one retry");
    healthy.store(true, Ordering::SeqCst);
    let r = c.post(&url, json!({"text": "Second"}));
    assert_eq!(r.status, 200, "{}", r.text);
    // Both user messages reach the model (Anthropic's format merges them into one turn).
    assert_eq!(
        r.body["assistantMessage"]["message"]["parts"][0]["text"],
        "1 messages seen"
    );
    let seen = fake.seen();
    // (The fake joins a turn's text blocks without a separator.)
    assert_eq!(seen.last().unwrap().messages[0].text, "FirstSecond");
    let chat = c.get(&format!("/api/v1/agents/{agent}/chats/c1"));
    assert_eq!(chat.body["messages"].as_array().unwrap().len(), 3);
}

/// Calls tools in order: the definitions and a create, then a list, then answers with the
/// last tool result.
fn worker(seen: &andibase_llm::fake::Seen) -> Answer {
    let results = seen.tool_results();
    match results.len() {
        0 => Answer::Tools(
            "Let me look.".into(),
            vec![
                ("get_data_definitions".into(), json!({})),
                (
                    "create_data_records".into(),
                    json!({"definition": "tasks", "records": [{"name": "Write the report", "attributes": {"title": "Write the report"}}]}),
                ),
            ],
        ),
        2 => Answer::Tools(
            String::new(),
            vec![("list_data_records".into(), json!({"definition": "tasks"}))],
        ),
        _ => Answer::Text(format!("Done. {}", results.last().unwrap().text)),
    }
}

/// A server whose default model is the `worker` script over `wire`'s format, with a
/// `tasks` definition and a `worker` agent that may touch records: the server, the
/// workspace's owner session and handle, and an admin key.
pub(crate) fn worker_server(
    fake: &FakeProvider,
    wire: andibase_llm::Wire,
) -> (Server, Client, String, String) {
    let (base_var, base, model) = match wire {
        andibase_llm::Wire::OpenAi => ("OPENAI_BASE_URL", fake.openai_base(), "openai/worker"),
        andibase_llm::Wire::Anthropic => (
            "ANTHROPIC_BASE_URL",
            fake.anthropic_base(),
            "anthropic/worker",
        ),
    };
    let server = Server::start_with_env(
        &[],
        &[(base_var, base.as_str()), ("ANDIBASE_DEFAULT_MODEL", model)],
    );
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "admin");
    let admin = server.with_key(&key);
    admin.tasks_and_agent("Worker", "worker", json!({"objectsAccess": true}));
    (server, owner, ws, key)
}

#[test]
fn an_agent_works_on_records_through_tools_within_the_callers_access() {
    let fake = FakeProvider::start(worker);
    let (server, owner, ws, key) = worker_server(&fake, andibase_llm::Wire::OpenAi);
    let admin = server.with_key(&key);
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));

    let r = admin.post(
        "/api/v1/agents/worker/chats/w1/messages",
        json!({"text": "Add a task"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let parts = r.body["assistantMessage"]["message"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    let kinds: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
    // In the order the turn went: the text said before the first tool calls stays.
    assert_eq!(
        kinds,
        [
            "text",
            "tool-call",
            "tool-call",
            "tool-result",
            "tool-result",
            "tool-call",
            "tool-result",
            "text"
        ],
        "{parts:?}"
    );
    assert_eq!(parts[0]["text"], "Let me look.", "{parts:?}");
    let parts = parts[1..].to_vec();
    assert_eq!(parts[2]["output"][0]["handle"], "tasks", "{parts:?}");
    assert_eq!(parts[3]["output"]["created"], 1, "{parts:?}");
    assert_eq!(
        parts[5]["output"]["items"][0]["name"], "Write the report",
        "{parts:?}"
    );
    assert!(parts[6]["text"].as_str().unwrap().starts_with("Done."));
    // The record is really there, made by the caller's key.
    let page = admin.get("/api/v1/data-definitions/tasks/query");
    assert_eq!(
        page.body["items"][0]["name"], "Write the report",
        "{}",
        page.text
    );
    // The model is told what data the workspace has.
    assert!(
        fake.seen()[0]
            .system
            .contains("- `tasks` (Tasks): fields title"),
        "{}",
        fake.seen()[0].system
    );
    let offered = &fake.seen()[0].tools;
    for t in [
        "get_data_definitions",
        "list_data_records",
        "query_data_records",
        "create_data_records",
        "update_data_records",
        "delete_data_records",
    ] {
        assert!(
            offered.iter().any(|o| o == t),
            "{t} not offered: {offered:?}"
        );
    }
    assert_eq!(
        r.body["assistantMessage"]["message"]["parts"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    // A viewer's agent is offered only reading tools, and a write it tries is refused.
    let before = fake.seen().len();
    let r = viewer.post(
        "/api/v1/agents/worker/chats/w2/messages",
        json!({"text": "Add a task"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let offered = &fake.seen()[before].tools;
    assert_eq!(
        offered,
        &[
            "get_data_definitions",
            "list_data_records",
            "query_data_records",
            "run_sql_query",
            "get_approval_result",
            "recall_memory",
            "execute_kip_readonly"
        ]
    );
    let parts = r.body["assistantMessage"]["message"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    // (parts[0] is the text said before the calls.)
    assert_eq!(parts[4]["isError"], true, "{parts:?}");
    assert!(
        parts[4]["output"]
            .to_string()
            .contains("no tool named `create_data_records`")
            || parts[4]["output"].to_string().contains("cannot use"),
        "{parts:?}"
    );
    let page = admin.get("/api/v1/data-definitions/tasks/query");
    assert_eq!(
        page.body["items"].as_array().unwrap().len(),
        1,
        "the viewer's agent wrote nothing"
    );

    // An agent without objectsAccess is offered no data tools, only approvals and memory.
    let r = admin.post(
        "/api/v1/agents",
        json!({"name": "Talker", "handle": "talker"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let before = fake.seen().len();
    let r = admin.post(
        "/api/v1/agents/talker/chats/t1/messages",
        json!({"text": "hi"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        fake.seen()[before].tools,
        [
            "request_human_approval",
            "get_approval_result",
            "recall_memory",
            "remember",
            "execute_kip_readonly",
            "execute_kip"
        ]
    );
}

/// The events of a streamed turn: `(name, data)` in order.
fn stream_turn(
    server: &Server,
    key: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, Vec<(String, serde_json::Value)>) {
    let resp = match ureq::post(&format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {key}"))
        .set("Accept", "text/event-stream")
        .send_json(body)
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap();
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut name = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if !name.is_empty() {
            events.push((
                name,
                serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            ));
        } else if status != 200 && !block.trim().is_empty() {
            events.push((
                "body".into(),
                serde_json::from_str(block).unwrap_or_default(),
            ));
        }
    }
    (status, events)
}

#[test]
fn a_turn_streams_its_text_tool_calls_and_results() {
    let fake = FakeProvider::start(worker);
    let (server, _owner, _ws, key) = worker_server(&fake, andibase_llm::Wire::Anthropic);
    let admin = server.with_key(&key);

    let (status, events) = stream_turn(
        &server,
        &key,
        "/api/v1/agents/worker/chats/s1/messages",
        json!({"text": "Add a task"}),
    );
    assert_eq!(status, 200);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"user-message"), "{names:?}");
    assert_eq!(names.last(), Some(&"message"), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| **n == "tool-call").count(),
        3,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| **n == "tool-result").count(),
        3,
        "{names:?}"
    );
    // The text arrives in pieces, and the pieces make the stored reply.
    let streamed: String = events
        .iter()
        .filter(|(n, _)| n == "text-delta")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    assert!(
        events.iter().filter(|(n, _)| n == "text-delta").count() > 2,
        "{names:?}"
    );
    let last = &events.last().unwrap().1;
    let stored = last["assistantMessage"]["message"]["parts"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(streamed.ends_with(&stored), "{streamed:?} / {stored:?}");
    assert!(
        fake.seen().iter().all(|s| s.stream),
        "the provider was asked to stream"
    );
    let chat = admin.get("/api/v1/agents/worker/chats/s1");
    assert_eq!(
        chat.body["messages"].as_array().unwrap().len(),
        2,
        "{}",
        chat.text
    );

    // Bad input is a plain 400 before anything streams; a failure mid-turn is an `error` event.
    let (status, events) = stream_turn(
        &server,
        &key,
        "/api/v1/agents/worker/chats/s1/messages",
        json!({}),
    );
    assert_eq!(status, 400, "{events:?}");
    let r = admin.post(
        "/api/v1/agents",
        json!({"name": "Lost", "handle": "lost", "model": "nowhere/x"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let (status, events) = stream_turn(
        &server,
        &key,
        "/api/v1/agents/lost/chats/s2/messages",
        json!({"text": "hi"}),
    );
    assert_eq!(status, 200);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["user-message", "error"], "{events:?}");
    assert_eq!(events[1].1["code"], "model_not_configured");
}

/// Sends `text` to `agent`'s chat `chat`; the reply's parts, and its tool results.
fn turn_parts(
    c: &Client,
    agent: &str,
    chat: &str,
    text: &str,
) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let r = c.post(
        &format!("/api/v1/agents/{agent}/chats/{chat}/messages"),
        json!({"text": text}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let parts = r.body["assistantMessage"]["message"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    let results = parts
        .iter()
        .filter(|p| p["type"] == "tool-result")
        .cloned()
        .collect();
    (parts, results)
}

/// Asks the workspace in SQL, tries a write through SQL, then answers with both results.
fn analyst(seen: &andibase_llm::fake::Seen) -> Answer {
    let results = seen.tool_results();
    if results.is_empty() {
        return Answer::Tools(
            String::new(),
            vec![
                (
                    "run_sql_query".into(),
                    json!({"sql": "SELECT count(*) AS n FROM tasks"}),
                ),
                ("run_sql_query".into(), json!({"sql": "DELETE FROM tasks"})),
            ],
        );
    }
    Answer::Text(format!("{} | {}", results[0].text, results[1].text))
}

#[test]
fn an_agent_reads_the_workspace_in_sql_and_cannot_write_through_it() {
    let fake = FakeProvider::start(analyst);
    let (server, _owner, _ws, key) = worker_server(&fake, andibase_llm::Wire::OpenAi);
    let admin = server.with_key(&key);
    let r = admin.post(
        "/api/v1/data-definitions/tasks/data/upsert-many",
        json!({"records": [{"name": "One"}, {"name": "Two"}]}),
    );
    assert!(r.status < 300, "{}", r.text);
    let (parts, results) = turn_parts(&admin, "worker", "q1", "How many tasks?");
    assert_eq!(results[0]["isError"], false, "{parts:?}");
    assert_eq!(results[0]["output"]["rows"][0][0], 2, "{parts:?}");
    assert_eq!(results[1]["isError"], true, "{parts:?}");
    let page = admin.get("/api/v1/data-definitions/tasks/query");
    assert_eq!(
        page.body["items"].as_array().unwrap().len(),
        2,
        "nothing was deleted"
    );
}

/// Asks a human, then answers with the decision.
fn asker(seen: &andibase_llm::fake::Seen) -> Answer {
    match seen.tool_results().last() {
        None => Answer::Tools(
            String::new(),
            vec![(
                "request_human_approval".into(),
                json!({
                    "question": "Deploy build 7?",
                    "context_markdown": "**CI is green.**",
                    "options": [{"label": "Ship", "value": "ship"}, {"label": "Hold", "value": "hold"}]
                }),
            )],
        ),
        Some(r) => Answer::Text(format!("Decision: {}", r.text)),
    }
}

#[test]
fn a_turn_waits_for_a_humans_decision_and_goes_on_with_it() {
    let fake = FakeProvider::start(asker);
    let (server, owner, _ws, key) = worker_server(&fake, andibase_llm::Wire::OpenAi);
    let admin = server.with_key(&key);
    let turn = std::thread::spawn(move || {
        admin.post(
            "/api/v1/agents/worker/chats/a1/messages",
            json!({"text": "Deploy"}),
        )
    });
    // The human finds the request in the inbox while the turn waits, and decides.
    owner.decide_first_approval(0);
    let r = turn.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let parts = r.body["assistantMessage"]["message"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(parts[0]["toolName"], "request_human_approval", "{parts:?}");
    assert_eq!(parts[1]["output"]["status"], "selected_option", "{parts:?}");
    assert_eq!(
        parts[1]["output"]["selected_option_value"], "ship",
        "{parts:?}"
    );
    assert!(
        parts[2]["text"].as_str().unwrap().contains("ship"),
        "{parts:?}"
    );
}

/// Remembers, recalls, then tries another workspace's space; answers with the results.
fn memorist(seen: &andibase_llm::fake::Seen) -> Answer {
    let results = seen.tool_results();
    if results.is_empty() {
        return Answer::Tools(
            String::new(),
            vec![
                (
                    "remember".into(),
                    json!({"space_id": "brain", "text": "The launch moved to May 5"}),
                ),
                (
                    "recall_memory".into(),
                    json!({"space_id": "brain", "query": "Where did alice move?"}),
                ),
                (
                    "recall_memory".into(),
                    json!({"space_id": "elsewhere", "query": "anything"}),
                ),
            ],
        );
    }
    Answer::Text(seen.tool_texts())
}

#[test]
fn an_agent_recalls_and_remembers_in_its_workspaces_memory_only() {
    let fake = FakeProvider::start(memorist);
    // The agent names its own model; with no server default, memory stays model-free.
    let base = fake.openai_base();
    let server = Server::start_with_env(&[], &[("OPENAI_BASE_URL", base.as_str())]);
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let r = admin.post(
        "/api/v1/agents",
        json!({"name": "Worker", "handle": "worker", "model": "openai/memorist"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.post("/admin/create_space", json!({"space_id": "brain"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin.post(
        "/v1/brain/formation",
        json!({"messages": [{"role": "user", "user": "alice", "content": "I moved to Lisbon"}], "timestamp": "2026-03-05T10:00:00Z"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    crate::support::wait_for("formed", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == 1
    });
    // A space of another workspace.
    let other = owner.other_workspace(&server);
    let r = other.post("/admin/create_space", json!({"space_id": "elsewhere"}));
    assert_eq!(r.status, 200, "{}", r.text);

    let (parts, results) = turn_parts(&admin, "worker", "m1", "Remember and recall");
    assert_eq!(results[0]["output"]["conversation"], 2, "{parts:?}");
    assert!(
        results[1]["output"]["content"]
            .as_str()
            .unwrap()
            .contains("Lisbon"),
        "{parts:?}"
    );
    assert_eq!(results[2]["isError"], true, "{parts:?}");
    assert_eq!(results[2]["output"]["error"], "not found", "{parts:?}");
    // What it remembered is formed like any conversation.
    crate::support::wait_for("remembered", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == 2
    });
}
