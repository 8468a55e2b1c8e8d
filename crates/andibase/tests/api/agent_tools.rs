//! What agents work with beyond the workspace's own data: skills, credentials (a model
//! provider's key, a remote MCP server's tools), the web, and the session their tool
//! calls are logged to. A scripted fake model and a fake MCP server run on loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use andibase_llm::fake::{Answer, FakeProvider};
use andibase_mcp::fake::FakeMcpServer;
use serde_json::{json, Value};

use crate::data::issue_paths;
use crate::support::{Client, Server};

fn post_ok(c: &Client, path: &str, body: Value) -> Value {
    let r = c.post(path, body);
    assert!(r.status == 200 || r.status == 201, "{path}: {}", r.text);
    r.body
}

#[test]
fn skills_are_attached_to_agents_and_read_by_their_turns() {
    let fake = FakeProvider::start(|_| Answer::Text("ok".into()));
    let base = fake.openai_base();
    let server = Server::start_with_env(
        &[],
        &[
            ("OPENAI_BASE_URL", base.as_str()),
            ("ANDIBASE_DEFAULT_MODEL", "openai/m"),
        ],
    );
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    let agent = post_ok(
        &admin,
        "/api/v1/agents",
        json!({"name": "Support", "handle": "support", "instructions": "Be kind."}),
    );
    post_ok(
        &admin,
        "/api/v1/agents",
        json!({"name": "Other", "handle": "other"}),
    );

    let skill = post_ok(
        &admin,
        "/api/v1/skills",
        json!({"name": "Refunds", "description": "How we refund", "instructions": "Refund within 30 days; ask for the order id.", "agentIds": ["support"]}),
    );
    assert_eq!(skill["agentIds"], json!([agent["id"]]));
    // The agent's console page lists it.
    let page = owner.get(&format!("/w/{ws}/agents/support"));
    assert!(
        page.text.contains("agent-skills") && page.text.contains("How we refund"),
        "{}",
        page.text
    );
    let id = skill["id"].as_str().unwrap().to_string();

    // Bad input names its field; a taken name is a conflict; a viewer cannot write.
    for (body, path) in [
        (json!({"name": "", "instructions": "x"}), json!(["name"])),
        (
            json!({"name": "A", "instructions": "  "}),
            json!(["instructions"]),
        ),
        (
            json!({"name": "A", "instructions": "x", "agentIds": ["nobody"]}),
            json!(["agentIds", 0]),
        ),
        (
            json!({"name": "A", "instructions": "x", "extra": 1}),
            json!(["extra"]),
        ),
        (
            json!({"name": "A", "instructions": 3}),
            json!(["instructions"]),
        ),
    ] {
        let r = admin.post("/api/v1/skills", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(issue_paths(&r), vec![path], "{body}: {}", r.text);
    }
    admin
        .post(
            "/api/v1/skills",
            json!({"name": "Refunds", "instructions": "again"}),
        )
        .expect_error(409, "conflict");
    viewer
        .post("/api/v1/skills", json!({"name": "B", "instructions": "x"}))
        .expect_error(403, "insufficient_permissions");
    assert_eq!(
        viewer.get("/api/v1/skills").body.as_array().unwrap().len(),
        1
    );
    assert_eq!(viewer.get("/api/v1/skills/Refunds").body["id"], id.as_str());

    // The attached agent's turn reads the skill after its instructions; the other's not.
    post_ok(
        &viewer,
        "/api/v1/agents/support/chats/c1/messages",
        json!({"text": "Refund?"}),
    );
    post_ok(
        &viewer,
        "/api/v1/agents/other/chats/c1/messages",
        json!({"text": "Refund?"}),
    );
    let seen = fake.seen();
    assert_eq!(
        seen[0].system,
        "Be kind.\n\n## Skill: Refunds\nRefund within 30 days; ask for the order id."
    );
    assert_eq!(seen[1].system, "");

    // Detached, then deleted.
    let r = admin.patch(
        &format!("/api/v1/skills/{id}"),
        json!({"agentIds": [], "instructions": "Changed"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["agentIds"].clone(), r.body["instructions"].clone()),
        (json!([]), json!("Changed"))
    );
    post_ok(
        &viewer,
        "/api/v1/agents/support/chats/c1/messages",
        json!({"text": "Again"}),
    );
    assert_eq!(fake.seen()[2].system, "Be kind.");
    assert_eq!(admin.delete(&format!("/api/v1/skills/{id}")).status, 204);
    admin
        .get(&format!("/api/v1/skills/{id}"))
        .expect_error(404, "not_found");

    // Another workspace sees none of it.
    let other = owner.other_workspace(&server);
    post_ok(
        &other,
        "/api/v1/skills",
        json!({"name": "Mine", "instructions": "x"}),
    );
    assert_eq!(admin.get("/api/v1/skills").body, json!([]));
    other
        .post(
            "/api/v1/skills",
            json!({"name": "B", "instructions": "x", "agentIds": [agent["id"]]}),
        )
        .expect_error(400, "invalid_request");
}

#[test]
fn a_model_credential_is_sealed_and_answers_for_the_agents_that_link_it() {
    let fake = FakeProvider::start(|seen| Answer::Text(format!("{} here", seen.model)));
    let secret = "sk-ant-test-0123456789-f00d";
    for allow_private in [true, false] {
        let extra: &[&str] = if allow_private {
            &["--allow-private-callbacks"]
        } else {
            &[]
        };
        let server = Server::start_with(extra);
        let (owner, ws) = server.setup_admin();
        let admin = server.with_key(&owner.create_key(&ws, "admin"));
        let editor = server.with_key(&owner.create_key(&ws, "editor"));
        let creds = format!("/api/v1/workspaces/{ws}/credentials");
        let cred = post_ok(
            &admin,
            &creds,
            json!({"name": "claude", "kind": "model_provider", "format": "anthropic", "url": fake.anthropic_base(), "secret": secret}),
        );
        assert_eq!(cred["secretHint"], "…f00d");
        assert!(!cred.to_string().contains(secret), "{cred}");
        let listed = editor.get(&creds);
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert!(!listed.text.contains(secret));
        assert!(
            !server.stores_in_the_clear(secret),
            "the secret is sealed at rest"
        );
        editor
            .post(
                &creds,
                json!({"name": "x", "kind": "model_provider", "secret": "k"}),
            )
            .expect_error(403, "insufficient_permissions");
        let agent = post_ok(
            &admin,
            "/api/v1/agents",
            json!({"name": "Writer", "handle": "writer", "model": "claude/claude-fake", "capabilities": {"linkedCredentialIds": [cred["id"]]}}),
        );
        let url = format!(
            "/api/v1/agents/{}/chats/c1/messages",
            agent["id"].as_str().unwrap()
        );
        // The console names the linked credential, never its secret.
        let page = owner.get(&format!("/w/{ws}/agents/writer"));
        assert!(
            page.text.contains("claude · model provider"),
            "{}",
            page.text
        );
        assert!(!page.text.contains(secret));
        let before = fake.seen().len();
        let r = editor.post(&url, json!({"text": "Hi"}));
        if allow_private {
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(
                r.body["assistantMessage"]["message"]["parts"][0]["text"],
                "claude-fake here"
            );
            let seen = fake.seen();
            let last = seen.last().unwrap();
            assert_eq!(
                (last.wire, last.key.as_deref()),
                (andibase_llm::Wire::Anthropic, Some(secret))
            );
            // Usage is kept on the reply.
            let usage = &r.body["assistantMessage"]["usage"];
            assert!(usage["inputTokens"].as_u64().unwrap() > 0, "{usage}");
            assert_eq!(usage["requests"], 1);
        } else {
            // The user's own URL on loopback is refused by the outbound guard.
            r.expect_error(502, "model_failed");
            assert_eq!(fake.seen().len(), before, "nothing reached the provider");
        }
        // Deleted: the agent falls back to the server's providers (none here).
        assert_eq!(
            admin
                .delete(&format!("{creds}/{}", cred["id"].as_str().unwrap()))
                .status,
            204
        );
        admin
            .delete(&format!("{creds}/{}", cred["id"].as_str().unwrap()))
            .expect_error(404, "not_found");
        editor
            .post(&url, json!({"text": "Still there?"}))
            .expect_error(400, "model_not_configured");
    }
}

#[test]
fn credential_input_is_checked_field_by_field() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let creds = format!("/api/v1/workspaces/{ws}/credentials");
    for (body, path) in [
        (
            json!({"name": "Bad Name", "kind": "mcp_server", "url": "https://mcp.example.com/mcp"}),
            json!(["name"]),
        ),
        (json!({"name": "m", "kind": "mcp_server"}), json!(["url"])),
        (
            json!({"name": "m", "kind": "mcp_server", "url": "ftp://x"}),
            json!(["url"]),
        ),
        (
            json!({"name": "m", "kind": "model_provider", "format": "gemini"}),
            json!(["format"]),
        ),
        (json!({"name": "m", "kind": "vault"}), json!(["kind"])),
        (
            json!({"name": "m", "kind": "mcp_server", "url": "https://a.example/mcp", "token": "t"}),
            json!(["token"]),
        ),
    ] {
        let r = admin.post(&creds, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(issue_paths(&r), vec![path], "{body}: {}", r.text);
    }
    post_ok(
        &admin,
        &creds,
        json!({"name": "m", "kind": "mcp_server", "url": "https://mcp.example.com/mcp"}),
    );
    admin
        .post(
            &creds,
            json!({"name": "m", "kind": "mcp_server", "url": "https://mcp.example.com/mcp"}),
        )
        .expect_error(409, "conflict");
    admin
        .get(&format!("{creds}/wcred_nope/tools"))
        .expect_error(404, "not_found");
    // Another workspace's credentials are out of reach, by path or by id.
    let other = owner.other_workspace(&server);
    other.get(&creds).expect_error(404, "not_found");
    let id = admin.get(&creds).body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    other
        .get(&format!("/api/v1/workspaces/other/credentials/{id}/tools"))
        .expect_error(404, "not_found");
}

/// Calls the shop's `lookup_order`, then its failing tool, then answers with what it got.
fn shopper(seen: &andibase_llm::fake::Seen) -> Answer {
    match seen.tool_results().len() {
        0 => Answer::Tools(
            String::new(),
            vec![
                ("shop__lookup_order".into(), json!({"order_id": "A-42"})),
                ("shop__fail".into(), json!({})),
            ],
        ),
        _ => Answer::Text(seen.tool_texts()),
    }
}

#[test]
fn an_agent_calls_a_remote_mcp_servers_tools_through_a_credential() {
    let mcp = FakeMcpServer::start(Some("shop-token"));
    let fake = FakeProvider::start(shopper);
    let base = fake.openai_base();
    let server = Server::start_with_env(
        &["--allow-private-callbacks"],
        &[
            ("OPENAI_BASE_URL", base.as_str()),
            ("ANDIBASE_DEFAULT_MODEL", "openai/m"),
        ],
    );
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    let creds = format!("/api/v1/workspaces/{ws}/credentials");
    let cred = post_ok(
        &admin,
        &creds,
        json!({"name": "shop", "kind": "mcp_server", "url": mcp.url(), "secret": "shop-token"}),
    );
    let cred_id = cred["id"].as_str().unwrap();

    // The server's tools, as it lists them, with the credential's token.
    let tools = viewer.get(&format!("{creds}/{cred_id}/tools"));
    assert_eq!(tools.status, 200, "{}", tools.text);
    let names: Vec<&str> = tools
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lookup_order", "fail"]);
    assert_eq!(
        (
            tools.body[0]["readOnly"].clone(),
            tools.body[1]["readOnly"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(
        tools.body[0]["inputSchema"]["required"],
        json!(["order_id"])
    );
    assert!(mcp
        .authorizations()
        .iter()
        .all(|a| a == "Bearer shop-token"));

    // A wrong token: the server refuses the handshake, a gateway error.
    let wrong = post_ok(
        &admin,
        &creds,
        json!({"name": "shop2", "kind": "mcp_server", "url": mcp.url(), "secret": "nope"}),
    );
    let r = viewer.get(&format!("{creds}/{}/tools", wrong["id"].as_str().unwrap()));
    r.expect_error(502, "mcp_server_unreachable");

    // An agent linked to it calls its tools; a tool error comes back as a tool error.
    let agent = post_ok(
        &admin,
        "/api/v1/agents",
        json!({"name": "Shopper", "handle": "shopper", "capabilities": {"linkedCredentialIds": [cred_id]}}),
    );
    let agent_id = agent["id"].as_str().unwrap();
    // A viewer's turn may use the server's read-only tool, not the other one.
    let r = viewer.post(
        &format!("/api/v1/agents/{agent_id}/chats/v1/messages"),
        json!({"text": "Where is A-42?"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        fake.seen()[0]
            .tools
            .iter()
            .filter(|t| t.starts_with("shop__"))
            .collect::<Vec<_>>(),
        ["shop__lookup_order"]
    );
    assert_eq!(
        mcp.calls(),
        [("lookup_order".to_string(), json!({"order_id": "A-42"}))]
    );
    assert_eq!(
        r.body["assistantMessage"]["message"]["parts"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["text"],
        "Order A-42 shipped on 2026-12-01 | there is no tool named `shop__fail`"
    );
    // An admin's turn uses both; the server's tool error is a tool error.
    let r = admin.post(
        &format!("/api/v1/agents/{agent_id}/chats/c1/messages"),
        json!({"text": "Where is A-42?"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        mcp.calls()[1..],
        [
            ("lookup_order".to_string(), json!({"order_id": "A-42"})),
            ("fail".to_string(), json!({}))
        ]
    );
    let parts = r.body["assistantMessage"]["message"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    let results: Vec<(Value, Value)> = parts
        .iter()
        .filter(|p| p["type"] == "tool-result")
        .map(|p| (p["output"].clone(), p["isError"].clone()))
        .collect();
    assert_eq!(
        results,
        [
            (json!("Order A-42 shipped on 2026-12-01"), json!(false)),
            (json!("the warehouse is offline"), json!(true))
        ]
    );
    assert_eq!(
        parts.last().unwrap()["text"],
        "Order A-42 shipped on 2026-12-01 | the warehouse is offline"
    );

    // Each tool call is an event of the chat's session, which humans can watch.
    let chats = viewer.get(&format!("/api/v1/agents/{agent_id}/chats"));
    assert_eq!(chats.body[0]["chatId"], "c1");
    let session = chats.body[0]["sessionId"]
        .as_str()
        .expect("a session")
        .to_string();
    let events = admin.get(&format!("/api/v1/session/{session}/events"));
    assert_eq!(events.status, 200, "{}", events.text);
    let calls: Vec<(Value, Value)> = events
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "tool.call")
        .map(|e| (e["body"]["toolName"].clone(), e["body"]["isError"].clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (json!("shop__lookup_order"), json!(false)),
            (json!("shop__fail"), json!(true))
        ]
    );

    // An unreachable server leaves its tools out and the model is told why.
    let calls_before = mcp.calls().len();
    let gone = post_ok(
        &admin,
        &creds,
        json!({"name": "gone", "kind": "mcp_server", "url": "http://127.0.0.1:9/mcp"}),
    );
    let r = admin.patch(
        &format!("/api/v1/agents/{agent_id}"),
        json!({"capabilities": {"linkedCredentialIds": [gone["id"]]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = viewer.post(
        &format!("/api/v1/agents/{agent_id}/chats/c2/messages"),
        json!({"text": "Again"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let last = fake.seen().last().unwrap().clone();
    assert!(
        last.system.contains("The MCP server `gone` is unavailable"),
        "{}",
        last.system
    );
    assert!(!last.tools.iter().any(|t| t.starts_with("shop__")));
    assert_eq!(mcp.calls().len(), calls_before);
}

#[test]
fn without_the_operators_permission_a_credential_cannot_reach_the_servers_network() {
    let mcp = FakeMcpServer::start(None);
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let creds = format!("/api/v1/workspaces/{ws}/credentials");
    for url in [
        mcp.url().to_string(),
        mcp.url().replace("127.0.0.1", "localhost"),
    ] {
        let name = if url.contains("localhost") {
            "by-name"
        } else {
            "by-ip"
        };
        let cred = post_ok(
            &admin,
            &creds,
            json!({"name": name, "kind": "mcp_server", "url": url}),
        );
        let r = admin.get(&format!("{creds}/{}/tools", cred["id"].as_str().unwrap()));
        r.expect_error(502, "mcp_server_unreachable");
        assert!(
            r.body["message"].as_str().unwrap().contains("refused"),
            "{}",
            r.text
        );
    }
    assert!(
        mcp.authorizations().is_empty(),
        "nothing reached the server"
    );
}

/// Serves one HTML page on loopback for every request; answers its address.
fn web_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = "<html><head><title>Opening hours</title><script>x()</script></head><body><h1>Hours</h1><p>Mon&ndash;Fri: 9&nbsp;to 17</p></body></html>";
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    format!("http://{addr}/hours")
}

#[test]
fn web_fetch_reads_pages_for_agents_with_web_access_within_the_guard() {
    let page = web_page();
    let wanted = page.clone();
    let fake = FakeProvider::start(move |seen| match seen.tool_results().last() {
        None if seen.tools.contains(&"web_fetch".to_string()) => Answer::Tools(
            String::new(),
            vec![("web_fetch".into(), json!({"url": wanted}))],
        ),
        None => Answer::Text("no web".into()),
        Some(r) => Answer::Text(r.text.clone()),
    });
    let base = fake.openai_base();
    for allow_private in [true, false] {
        let mut extra = vec!["--model-timeout-seconds", "5"];
        if allow_private {
            extra.push("--allow-private-callbacks");
        }
        let server = Server::start_with_env(
            &extra,
            &[
                ("OPENAI_BASE_URL", base.as_str()),
                ("ANDIBASE_DEFAULT_MODEL", "openai/m"),
            ],
        );
        let (owner, ws) = server.setup_admin();
        let c = server.with_key(&owner.create_key(&ws, "admin"));
        post_ok(
            &c,
            "/api/v1/agents",
            json!({"name": "Web", "handle": "web", "capabilities": {"webAccess": true}}),
        );
        post_ok(
            &c,
            "/api/v1/agents",
            json!({"name": "Offline", "handle": "offline"}),
        );
        let r = post_ok(
            &c,
            "/api/v1/agents/web/chats/c1/messages",
            json!({"text": "When are they open?"}),
        );
        let text = r["assistantMessage"]["message"]["parts"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string();
        let answer: Value = serde_json::from_str(&text).unwrap();
        if allow_private {
            assert_eq!(answer["status"], 200, "{answer}");
            assert_eq!(answer["text"], "Opening hours\nHours\nMon–Fri: 9 to 17");
        } else {
            assert!(
                answer["error"].as_str().unwrap().contains("refused"),
                "{answer}"
            );
        }
        // Without webAccess the tool is not offered.
        let r = post_ok(
            &c,
            "/api/v1/agents/offline/chats/c1/messages",
            json!({"text": "When?"}),
        );
        assert_eq!(
            r["assistantMessage"]["message"]["parts"][0]["text"],
            "no web"
        );
    }
}

#[test]
fn a_provider_that_hangs_or_limits_is_retried_then_reported() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = calls.clone();
    let fake = FakeProvider::start(move |seen| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match (seen.last_input(), i) {
            ("limited", 0) => Answer::Fail(429, "slow down".into()),
            ("limited", _) => Answer::Text("after the limit".into()),
            _ => Answer::Stall(Duration::from_secs(3)),
        }
    });
    let base = fake.openai_base();
    let server = Server::start_with_env(
        &["--model-timeout-seconds", "1", "--model-retries", "1"],
        &[
            ("OPENAI_BASE_URL", base.as_str()),
            ("ANDIBASE_DEFAULT_MODEL", "openai/m"),
        ],
    );
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "admin"));
    post_ok(&c, "/api/v1/agents", json!({"name": "A", "handle": "a"}));
    // 429 then an answer: retried once, answered.
    let r = post_ok(
        &c,
        "/api/v1/agents/a/chats/c1/messages",
        json!({"text": "limited"}),
    );
    assert_eq!(
        r["assistantMessage"]["message"]["parts"][0]["text"],
        "after the limit"
    );
    // Usage counts every request made, the refused one too.
    assert_eq!(r["assistantMessage"]["usage"]["requests"], 2);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    // A provider that never answers: a timeout per attempt, then a clear 502.
    let r = c.post(
        "/api/v1/agents/a/chats/c2/messages",
        json!({"text": "hang"}),
    );
    r.expect_error(502, "model_failed");
    assert!(
        r.body["message"].as_str().unwrap().contains("time"),
        "{}",
        r.text
    );
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "one retry"
    );
    let chat = c.get("/api/v1/agents/a/chats/c2");
    assert_eq!(
        chat.body["messages"][0]["message"]["parts"][0]["text"],
        "hang"
    );
}

#[test]
fn turns_past_the_servers_limit_are_refused_until_one_ends() {
    let fake = FakeProvider::start(|seen| match seen.last_input() {
        "slow" => Answer::Stall(Duration::from_secs(2)),
        _ => Answer::Text("quick".into()),
    });
    let base = fake.openai_base();
    let server = Server::start_with_env(
        &[
            "--max-concurrent-turns",
            "1",
            "--model-timeout-seconds",
            "1",
            "--model-retries",
            "0",
        ],
        &[
            ("OPENAI_BASE_URL", base.as_str()),
            ("ANDIBASE_DEFAULT_MODEL", "openai/m"),
        ],
    );
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "admin"));
    post_ok(&c, "/api/v1/agents", json!({"name": "A", "handle": "a"}));
    let slow = {
        let c = c.clone();
        std::thread::spawn(move || {
            c.post(
                "/api/v1/agents/a/chats/c1/messages",
                json!({"text": "slow"}),
            )
        })
    };
    crate::support::wait_for("the slow turn reached the model", || fake.seen().len() == 1);
    let r = c.post(
        "/api/v1/agents/a/chats/c2/messages",
        json!({"text": "fast"}),
    );
    r.expect_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some(), "{}", r.text);
    // Refused before anything was stored.
    c.get("/api/v1/agents/a/chats/c2")
        .expect_error(404, "not_found");
    slow.join().unwrap().expect_error(502, "model_failed");
    let r = post_ok(
        &c,
        "/api/v1/agents/a/chats/c2/messages",
        json!({"text": "fast"}),
    );
    assert_eq!(
        r["assistantMessage"]["message"]["parts"][0]["text"],
        "quick"
    );
}
