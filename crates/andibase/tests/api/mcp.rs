//! `/mcp`: the workspace's tools over MCP (Streamable HTTP), driven by rmcp's client (the
//! one `andibase_mcp::remote` wraps) and, in `mcp_python`, by the official Python SDK.

use andibase_mcp::remote::RemoteServer;
use serde_json::{json, Value};

use crate::support::{Client, Server};

/// Connects rmcp's client to the server's `/mcp` with `key`.
pub fn connect(server: &Server, key: &str, query: &str) -> (tokio::runtime::Runtime, RemoteServer) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = format!("{}/mcp{query}", server.url);
    let policy = andibase_outbound::Policy {
        allow_private: true,
    };
    let session = runtime
        .block_on(RemoteServer::connect(&url, Some(key), "ab", policy))
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    (runtime, session)
}

/// An `initialize` request at protocol 2025-06-18.
const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// `c` (which accepts JSON and SSE) in a new MCP session at 2025-06-18, by raw JSON-RPC:
/// initialized, with the session's headers set.
fn raw_session(c: &Client) -> Client {
    let init = c.post_raw("/mcp", INIT);
    assert_eq!(init.status, 200, "{}", init.text);
    let session = init
        .header("mcp-session-id")
        .expect("a session")
        .to_string();
    let c = c
        .clone()
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18");
    let r = c.post_raw(
        "/mcp",
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert!(r.status < 300, "{}", r.text);
    c
}

fn names(session: &RemoteServer) -> Vec<String> {
    session
        .listed()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn call(
    rt: &tokio::runtime::Runtime,
    session: &RemoteServer,
    tool: &str,
    input: Value,
) -> (Value, bool) {
    let out = rt.block_on(session.call_tool(tool, input));
    let v = serde_json::from_str(&out.text).unwrap_or(Value::String(out.text.clone()));
    (v, out.is_error)
}

/// A workspace with a `tasks` definition and an agent `bot`: the server, the owner, the
/// workspace's handle and an admin key.
fn workspace() -> (Server, Client, String, String) {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "admin");
    let admin = server.with_key(&key);
    admin.tasks_and_agent("Bot", "bot", json!({}));
    (server, owner, ws, key)
}

#[test]
fn an_mcp_client_works_on_records_within_its_keys_permissions() {
    let (server, owner, ws, key) = workspace();
    let (rt, admin) = connect(&server, &key, "");
    let listed = names(&admin);
    for t in [
        "get_data_definitions",
        "query_data_records",
        "create_data_records",
        "run_sql_query",
        "execute_kip_readonly",
        "execute_kip",
        "start_session",
        "log_session_event",
    ] {
        assert!(listed.iter().any(|n| n == t), "{t} missing from {listed:?}");
    }
    // Without an agent, there is no one to ask approvals as.
    assert!(
        !listed.iter().any(|n| n == "request_human_approval"),
        "{listed:?}"
    );
    let writer = admin
        .listed()
        .into_iter()
        .find(|t| t["name"] == "create_data_records")
        .unwrap();
    assert_eq!(
        writer["inputSchema"]["required"],
        json!(["definition", "records"])
    );

    // Records made through MCP are real records.
    let (made, failed) = call(
        &rt,
        &admin,
        "create_data_records",
        json!({"definition": "tasks", "records": [{"name": "From MCP", "attributes": {"title": "From MCP"}}]}),
    );
    assert!(!failed, "{made}");
    assert_eq!(made["created"], 1);
    let (page, _) = call(
        &rt,
        &admin,
        "query_data_records",
        json!({"definition": "tasks", "filter": "title = \"From MCP\""}),
    );
    assert_eq!(page["items"][0]["name"], "From MCP", "{page}");
    let over_http = server
        .with_key(&key)
        .get("/api/v1/data-definitions/tasks/query");
    assert_eq!(over_http.body["items"][0]["name"], "From MCP");
    // A refusal is a tool error with the HTTP API's message and issue paths.
    let (refused, failed) = call(
        &rt,
        &admin,
        "create_data_records",
        json!({"definition": "tasks", "records": [{"name": "x", "attributes": {"title": 3}}]}),
    );
    assert!(failed, "{refused}");
    assert_eq!(
        refused["issues"][0]["path"],
        json!(["records", 0, "attributes", "title"]),
        "{refused}"
    );
    let (unknown, failed) = call(
        &rt,
        &admin,
        "query_data_records",
        json!({"definition": "nope"}),
    );
    assert!(failed && unknown["error"] == "not found", "{unknown}");
    // Sessions: the agent's work, watched by humans.
    let (session, failed) = call(
        &rt,
        &admin,
        "start_session",
        json!({"title": "Triage", "message": "Starting"}),
    );
    assert!(!failed, "{session}");
    assert!(session["url"]
        .as_str()
        .unwrap()
        .contains(&format!("/w/{ws}/sessions/")));
    let (_, failed) = call(
        &rt,
        &admin,
        "log_session_event",
        json!({"session_id": session["id"], "type": "agent.update", "body": {"done": 1}}),
    );
    assert!(!failed);

    // A viewer's key: no writers listed, and naming one is a tool error, not a failure.
    let viewer_key = owner.create_key(&ws, "viewer");
    let (_rt2, viewer) = connect(&server, &viewer_key, "");
    let listed = names(&viewer);
    assert!(listed.iter().any(|n| n == "query_data_records"));
    assert!(
        !listed
            .iter()
            .any(|n| n == "create_data_records" || n == "execute_kip"),
        "{listed:?}"
    );
    let (refused, failed) = call(
        &rt,
        &viewer,
        "create_data_records",
        json!({"definition": "tasks", "records": [{"name": "x"}]}),
    );
    assert!(failed, "{refused}");
    assert_eq!(
        refused["error"],
        "there is no tool named `create_data_records` for this key"
    );
    // Read-only mode hides the writers of an admin's key too, and refuses them by name.
    let (_rt3, read_only) = connect(&server, &key, "?readOnly=true");
    let listed = names(&read_only);
    assert!(listed.iter().any(|n| n == "query_data_records"));
    assert!(
        !listed.iter().any(|n| [
            "create_data_records",
            "update_data_records",
            "delete_data_records",
            "execute_kip",
            "start_session"
        ]
        .contains(&n.as_str())),
        "{listed:?}"
    );
    let (refused, failed) = call(
        &rt,
        &read_only,
        "delete_data_records",
        json!({"definition": "tasks", "ids": [made["results"][0]["id"]]}),
    );
    assert!(
        failed && refused["error"].as_str().unwrap().contains("read-only"),
        "{refused}"
    );
    assert_eq!(
        server
            .with_key(&key)
            .get("/api/v1/data-definitions/tasks/query")
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Another workspace's key reaches only its own workspace.
    let other = owner.other_workspace(&server);
    let other_key = owner.create_key("other", "admin");
    drop(other);
    let (_rt4, theirs) = connect(&server, &other_key, "");
    let (refused, failed) = call(
        &rt,
        &theirs,
        "query_data_records",
        json!({"definition": "tasks"}),
    );
    assert!(failed && refused["error"] == "not found", "{refused}");
    let (rows, failed) = call(
        &rt,
        &theirs,
        "run_sql_query",
        json!({"sql": "SELECT count(*) FROM tasks"}),
    );
    assert!(failed, "{rows}");
}

#[test]
fn an_mcp_client_without_a_key_is_told_where_to_get_one() {
    let server = Server::start();
    let anon = server.anon();
    for c in [
        anon.clone(),
        anon.clone()
            .header("Authorization", "Bearer andi_live_nope"),
    ] {
        let r = c
            .header("Accept", "application/json, text/event-stream")
            .post_raw("/mcp", INIT);
        assert_eq!(r.status, 401, "{}", r.text);
        let challenge = r.header("www-authenticate").unwrap_or_default().to_string();
        assert!(
            challenge.contains("/.well-known/oauth-protected-resource/mcp"),
            "{challenge}"
        );
    }
    let meta = anon.get("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(meta.status, 200, "{}", meta.text);
    assert_eq!(meta.body["resource"], format!("{}/mcp", server.url));
    assert!(meta.body["andibase_agent_login"]["start"]
        .as_str()
        .unwrap()
        .ends_with("/api/agent/auth/requests"));
}

#[test]
fn a_malformed_message_is_an_error_and_the_session_goes_on() {
    let (server, _owner, _ws, key) = workspace();
    let c = server
        .with_key(&key)
        .header("Accept", "application/json, text/event-stream");
    let c = raw_session(&c);
    for junk in ["{not json", r#"{"jsonrpc":"2.0","id":2,"method":42}"#, "[]"] {
        let r = c.post_raw("/mcp", junk);
        assert!(
            (400..500).contains(&r.status),
            "{junk}: {} {}",
            r.status,
            r.text
        );
    }
    let r = c.post_raw("/mcp", r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("query_data_records"), "{}", r.text);
}

#[test]
fn an_mcp_approval_waits_for_the_humans_decision() {
    let (server, owner, _ws, key) = workspace();
    let (rt, bot) = connect(&server, &key, "?agent=bot");
    assert!(names(&bot).iter().any(|n| n == "request_human_approval"));
    let asked = std::thread::spawn(move || {
        let out = call(
            &rt,
            &bot,
            "request_human_approval",
            json!({"question": "Ship it?", "context_markdown": "All green.", "options": [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}]}),
        );
        drop(bot);
        out
    });
    owner.decide_first_approval(1);
    let (decided, failed) = asked.join().unwrap();
    assert!(!failed, "{decided}");
    assert_eq!(
        (
            decided["status"].as_str(),
            decided["selected_option_value"].as_str()
        ),
        (Some("selected_option"), Some("no")),
        "{decided}"
    );
    // An unknown agent is refused before anything starts.
    let r = server
        .with_key(&key)
        .header("Accept", "application/json, text/event-stream")
        .header("X-Agent-Id", "nobody")
        .post_raw("/mcp", INIT);
    r.expect_error(400, "invalid_agent");
}

/// The official MCP Python SDK (`pip install mcp`; `.ci/run` installs it) drives the
/// server through `tests/mcp_client.py`. Without it the test fails under CI and is
/// skipped with a line saying so elsewhere.
#[test]
fn the_official_python_sdk_drives_the_server() {
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import mcp"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_sdk {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install the MCP Python SDK (pip install mcp)"
        );
        eprintln!("skipped: the MCP Python SDK is not installed (pip install mcp)");
        return;
    }
    let (server, owner, ws, key) = workspace();
    let viewer = owner.create_key(&ws, "viewer");
    let other = owner.other_workspace(&server);
    drop(other);
    let other_key = owner.create_key("other", "admin");
    // A definition with a field hidden from viewers, for the resource reads.
    let admin = server.with_key(&key);
    let r = admin.post(
        "/api/v1/data-definitions",
        json!({"name": "People", "handle": "people", "fields": {"salary": {"type": "number", "hiddenFrom": ["viewer"]}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.post(
        "/api/v1/data-definitions/people/data/upsert-many",
        json!({"records": [{"name": "Ada", "attributes": {"salary": 100}}]}),
    );
    assert!(r.status < 300, "{}", r.text);
    let person = r.body["results"][0]["id"].as_str().unwrap().to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client.py");
    let out = std::process::Command::new("python3")
        .args([script, &server.url, &key, &viewer, &other_key, &person])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_mcp_docs_give_copy_paste_configuration_for_this_server() {
    let server = Server::start();
    let anon = server.anon();
    let md = anon.get("/docs/mcp.md");
    assert_eq!(md.status, 200);
    for want in [
        format!("{}/mcp", server.url),
        "claude mcp add".into(),
        "mcpServers".into(),
        "request_human_approval".into(),
        "readOnly=true".into(),
    ] {
        assert!(md.text.contains(&want), "{want} missing");
    }
    let html = anon.get("/docs/mcp");
    assert_eq!(html.status, 200);
    assert!(html.text.contains("<table>") && html.text.contains("X-Agent-Id"));
}

#[test]
fn an_mcp_client_speaks_kip_to_its_workspaces_memory_only() {
    let (server, owner, ws, key) = workspace();
    let admin = server.with_key(&key);
    let r = admin.post(
        "/admin/create_space",
        json!({"space_id": "team", "name": "Team"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let (rt, session) = connect(&server, &key, "");
    let (wrote, failed) = call(
        &rt,
        &session,
        "execute_kip",
        json!({"space_id": "team", "command": "UPSERT { CONCEPT ?p { {type: \"Person\", name: \"Ada\"} } }"}),
    );
    assert!(!failed, "{wrote}");
    let (found, failed) = call(
        &rt,
        &session,
        "execute_kip_readonly",
        json!({"space_id": "team", "command": "FIND(?p.name) WHERE { ?p {type: \"Person\"} }"}),
    );
    assert!(!failed, "{found}");
    assert!(found.to_string().contains("Ada"), "{found}");
    // KML through the read-only tool is the engine's refusal, as a tool error.
    let (refused, failed) = call(
        &rt,
        &session,
        "execute_kip_readonly",
        json!({"space_id": "team", "command": "UPSERT { CONCEPT ?p { {type: \"Person\", name: \"Bob\"} } }"}),
    );
    assert!(
        failed && refused.to_string().contains("KIP_1001"),
        "{refused}"
    );
    // A viewer may read but not write; another workspace cannot reach the space.
    let (_rt2, viewer) = connect(&server, &owner.create_key(&ws, "viewer"), "");
    let (_, failed) = call(
        &rt,
        &viewer,
        "execute_kip_readonly",
        json!({"space_id": "team", "command": "DESCRIBE PRIMER"}),
    );
    assert!(!failed);
    let (refused, failed) = call(
        &rt,
        &viewer,
        "execute_kip",
        json!({"space_id": "team", "command": "DESCRIBE PRIMER"}),
    );
    assert!(failed, "{refused}");
    drop(owner.other_workspace(&server));
    let (_rt3, theirs) = connect(&server, &owner.create_key("other", "admin"), "");
    let (refused, failed) = call(
        &rt,
        &theirs,
        "execute_kip_readonly",
        json!({"space_id": "team", "command": "DESCRIBE PRIMER"}),
    );
    assert!(failed && refused["error"] == "not found", "{refused}");
}

#[test]
fn a_client_cancelling_an_approval_wait_stops_it_and_the_approval_stays() {
    let (server, owner, _ws, key) = workspace();
    let c = server
        .with_key(&key)
        .header("Accept", "application/json, text/event-stream")
        .header("X-Agent-Id", "bot");
    let c = raw_session(&c);
    let waiting = {
        let c = c.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let r = c.post_raw(
                "/mcp",
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"request_human_approval","arguments":{"question":"Wait?","context_markdown":"-","options":[{"label":"Yes","value":"yes"}]}}}"#,
            );
            (started.elapsed(), r)
        })
    };
    // The approval exists; the client gives up on the call.
    let id = crate::support::eventually(20, || {
        owner.get("/api/v1/approvals").body[0]["requestId"]
            .as_str()
            .map(str::to_string)
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!waiting.is_finished(), "the call waits for the decision");
    let r = c.post_raw(
        "/mcp",
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"user gave up"}}"#,
    );
    assert!(r.status < 300, "{}", r.text);
    let (took, _answer) = waiting.join().unwrap();
    assert!(
        took < std::time::Duration::from_secs(20),
        "the wait went on for {took:?}"
    );
    // The approval is still there for the human, pending; the session still answers.
    let approval = owner.get(&format!("/api/v1/approvals/{id}"));
    assert_eq!(approval.body["status"], "pending", "{}", approval.text);
    let r = c.post_raw("/mcp", r#"{"jsonrpc":"2.0","id":8,"method":"tools/list"}"#);
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn the_current_protocol_revision_and_the_previous_ones_are_accepted() {
    let (server, _owner, _ws, key) = workspace();
    let c = server
        .with_key(&key)
        .header("Accept", "application/json, text/event-stream");
    for version in ["2025-11-25", "2025-06-18", "2025-03-26"] {
        let init = c.post_raw(
            "/mcp",
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).to_string(),
        );
        assert_eq!(init.status, 200, "{version}: {}", init.text);
        assert!(
            init.text
                .contains(&format!("\"protocolVersion\":\"{version}\"")),
            "{version}: {}",
            init.text
        );
        let session = init
            .header("mcp-session-id")
            .expect("a session")
            .to_string();
        let s = c
            .clone()
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", version);
        s.post_raw(
            "/mcp",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        );
        let r = s.post_raw("/mcp", r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
        assert_eq!(r.status, 200, "{version}: {}", r.text);
        assert!(
            r.text.contains("query_data_records"),
            "{version}: {}",
            r.text
        );
    }
}

#[test]
fn sessions_past_the_servers_limit_are_refused_until_one_closes() {
    let server = Server::start_with(&["--max-mcp-sessions", "2"]);
    let (owner, ws) = server.setup_admin();
    let c = server
        .with_key(&owner.create_key(&ws, "admin"))
        .header("Accept", "application/json, text/event-stream");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = c.post_raw("/mcp", INIT);
        assert_eq!(r.status, 200, "{}", r.text);
        ids.push(r.header("mcp-session-id").unwrap().to_string());
    }
    c.post_raw("/mcp", INIT)
        .expect_error(503, "too_many_sessions");
    // An open session still works; closing one makes room.
    let open = c
        .clone()
        .header("mcp-session-id", &ids[0])
        .header("mcp-protocol-version", "2025-06-18");
    open.post_raw(
        "/mcp",
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(
        open.post_raw("/mcp", r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
            .status,
        200
    );
    let r = open.request("DELETE", "/mcp", None);
    assert!(r.status < 300, "{} {}", r.status, r.text);
    crate::support::wait_for("the session to close", || {
        c.post_raw("/mcp", INIT).status == 200
    });
}
