//! The seed documents' own example requests, sent to a real server, with the answers kept
//! as snapshots (`snapshots/`): a change to any field name, shape or status these
//! documents promise shows up as a snapshot diff. Ids, secrets, times and the server's
//! address differ per run, so they are replaced by placeholders first.

use serde_json::{json, Value};

use crate::support::{approvals_agent, Server};

/// Replaces what differs between runs with a placeholder naming its kind.
fn stable(v: Value, base: &str) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, stable(v, base))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|v| stable(v, base)).collect()),
        Value::String(s) => Value::String(placeholder(&s, base)),
        other => other,
    }
}

fn placeholder(s: &str, base: &str) -> String {
    let s = s.replace(base, "<base>");
    let is_time =
        s.len() == 24 && s.ends_with('Z') && andibase_common::Timestamp::parse_iso(&s).is_some();
    let is_uuid = s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4;
    let is_user_code = s.len() == 9
        && s.as_bytes()[4] == b'-'
        && s[..4].bytes().all(|b| b.is_ascii_uppercase())
        && s[5..].bytes().all(|b| b.is_ascii_digit());
    if is_time {
        return "<time>".into();
    }
    if is_uuid {
        return "<uuid>".into();
    }
    if is_user_code {
        return "<user code>".into();
    }
    // Prefixed ids and secrets keep their prefix; what follows is random.
    for prefix in ["dc_", "andi_live_", "key:key_", "key_", "sess_"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            if rest.len() >= 16 {
                return format!("{prefix}<random>");
            }
        }
    }
    // Links that embed an id or a code.
    let mut out = s.clone();
    for marker in ["user_code=", "/sessions/"] {
        if let Some(at) = out.find(marker) {
            out = format!("{}{marker}<id>", &out[..at]);
        }
    }
    if let Some(at) = out.find("/agents/support-assistant-") {
        out = format!("{}/agents/support-assistant-<uuid>", &out[..at]);
    }
    out
}

#[test]
fn seed_000_agent_login_and_sessions() {
    let server = Server::start_with(&["--test-clock"]);
    let (owner, ws) = server.setup_admin();
    let agent = server.anon();
    let base = server.url.clone();

    let start = agent.post(
        "/api/agent/auth/requests",
        json!({"agentName": "YourAgentName", "agentDescription": "What your agent does", "role": "admin"}),
    );
    assert_eq!(start.status, 200, "{}", start.text);
    insta::assert_json_snapshot!("seed000_start", stable(start.body.clone(), &base));

    let device = json!({"deviceCode": start.body["deviceCode"]});
    let pending = agent.post("/api/agent/auth/exchange", device.clone());
    insta::assert_json_snapshot!(
        "seed000_pending",
        json!({"status": pending.status, "body": stable(pending.body, &base)})
    );
    let slow = agent.post("/api/agent/auth/exchange", device.clone());
    insta::assert_json_snapshot!(
        "seed000_slow_down",
        json!({"status": slow.status, "body": stable(slow.body, &base)})
    );

    let code = start.body["userCode"].as_str().unwrap();
    let approved = owner.post(
        &format!("/api/v1/agent/auth/requests/{code}/approve"),
        json!({"workspaceHandle": ws}),
    );
    assert_eq!(approved.status, 200, "{}", approved.text);
    server.advance_clock(5_000);
    let success = agent.post("/api/agent/auth/exchange", device);
    assert_eq!(success.status, 200, "{}", success.text);
    insta::assert_json_snapshot!("seed000_success", stable(success.body.clone(), &base));

    let key = success.body["apiKey"]["key"].as_str().unwrap();
    let c = server.with_key(key);
    let session = c.post(
        "/api/session/new",
        json!({"title": "Help user solve task", "message": "Started working"}),
    );
    insta::assert_json_snapshot!("seed000_session", stable(session.body.clone(), &base));
    let id = session.body["id"].as_str().unwrap();
    let event = c.post(
        &format!("/api/session/{id}/events"),
        json!({"type": "agent.update", "body": {"source": "agent", "message": "Started working"}}),
    );
    insta::assert_json_snapshot!("seed000_event", stable(event.body, &base));
}

#[test]
fn seed_001_agents() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "admin");
    let c = server.with_key(&key);
    let base = server.url.clone();
    let created = c.post(
        "/api/v1/agents",
        json!({
            "name": "Support Assistant",
            "handle": "support-assistant",
            "description": "Handles customer support workflows and escalations.",
            "instructions": "Answer with concise, actionable steps. Be decisive and ask only for missing details that materially change the outcome.",
            "model": "openai/gpt-5.4",
            "capabilities": {"webAccess": true, "browserAccess": true, "objectsAccess": true,
                             "linkedCredentialIds": ["wcred_01JQFQY7XMQJ0TA3A7X7F7WQ4H"]}
        }),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    insta::assert_json_snapshot!("seed001_agent", stable(created.body, &base));
    let list = c.get("/api/v1/agents");
    insta::assert_json_snapshot!("seed001_list", stable(list.body, &base));
}

#[test]
fn seed_004_approvals() {
    let server = Server::start_with(&["--test-clock"]);
    let (owner, _ws, agent, _) = approvals_agent(&server);
    let base = server.url.clone();
    let created = agent.post(
        "/v1/approvals",
        json!({
            "question": "Deploy to production?",
            "context_markdown": "Build #123 passed CI.",
            "options": [{"label": "Approve", "value": "approve"}, {"label": "Reject", "value": "reject"}]
        }),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    insta::assert_json_snapshot!("seed004_created", stable(created.body.clone(), &base));
    let id = created.body["request_id"].as_str().unwrap();
    let pending = agent.get(&format!("/v1/approvals/{id}/result"));
    insta::assert_json_snapshot!("seed004_pending", stable(pending.body, &base));
    owner.post(
        &format!("/api/v1/approvals/{id}/resolve"),
        json!({"optionValue": "approve"}),
    );
    let decided = agent.get(&format!("/v1/approvals/{id}/result"));
    insta::assert_json_snapshot!("seed004_decided", stable(decided.body, &base));
    let unknown = agent.get("/v1/approvals/nope");
    insta::assert_json_snapshot!(
        "seed004_unknown",
        json!({"status": unknown.status, "body": unknown.body})
    );
}

#[test]
fn seed_002_data_model() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "admin"));
    let base = server.url.clone();
    let definition = c.post(
        "/api/v1/data-definitions",
        crate::data_system_names::seed_definition(),
    );
    assert_eq!(definition.status, 201, "{}", definition.text);
    insta::assert_json_snapshot!("seed002_definition", stable(definition.body.clone(), &base));
    let handle = definition.body["handle"].as_str().unwrap();
    let written = c.post(
        &format!("/api/v1/data-definitions/{handle}/data/upsert-many"),
        json!({"records": [crate::data_system_names::seed_record()]}),
    );
    insta::assert_json_snapshot!(
        "seed002_written",
        json!({"status": written.status, "body": stable(written.body, &base)})
    );
    let record = c.get(&format!("/api/v1/data-definitions/{handle}/data/ord_123"));
    insta::assert_json_snapshot!("seed002_record", stable(record.body, &base));
}
