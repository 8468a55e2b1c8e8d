//! Human approvals: the FinalSay Agent API (`/v1`) and the inbox side (`/api/v1/approvals`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{approvals_agent, Client, Receiver, Server};

/// A workspace with an agent; returns (owner session, workspace, agent client, agent id).
fn setup(server: &Server) -> (Client, String, Client, String) {
    approvals_agent(server)
}

pub(crate) fn ask() -> Value {
    json!({
        "question": "Deploy to production?",
        "context_markdown": "Build #123 passed CI.",
        "options": [{"label": "Approve", "value": "approve"}, {"label": "Reject", "value": "reject"}]
    })
}

#[test]
fn create_poll_and_resolve_with_every_field() {
    let server = Server::start();
    let (owner, ws, agent, agent_id) = setup(&server);
    let mut body = ask();
    body["correlation_id"] = json!("exec-42");
    body["notification_summary"] = json!("Deploy #123?");
    body["timeout"] = json!({"seconds": 600});
    let r = agent.post("/v1/approvals", body);
    assert_eq!(r.status, 201, "{}", r.text);
    let a = &r.body;
    let id = a["request_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID is assigned");
    assert_eq!(a["status"], "pending");
    assert_eq!(a["agent_id"], agent_id.as_str());
    assert_eq!(a["question"], "Deploy to production?");
    assert_eq!(
        a["options"][1],
        json!({"label": "Reject", "value": "reject"})
    );
    assert_eq!(a["correlation_id"], "exec-42");
    assert_eq!(
        a["timeout"],
        json!({"seconds": 600, "mode": "expire_no_action", "instruction": null})
    );
    assert!(
        a.get("result_delivery_status").is_none(),
        "delivery fields only on GET /v1/approvals/{{id}}"
    );

    assert_eq!(
        agent.get(&format!("/v1/approvals/{id}/result")).body,
        json!({"request_id": id, "status": "pending"})
    );
    let full = agent.get(&format!("/v1/approvals/{id}"));
    assert_eq!(full.body["result_delivery_status"], "pending");
    assert!(full.body["result_delivery_error"].is_null());

    // The human side sees it, camelCased, and decides.
    let listed = owner.get("/api/v1/approvals?status=pending");
    assert_eq!(listed.body[0]["requestId"], id.as_str());
    assert_eq!(listed.body[0]["timeout"]["mode"], "expire_no_action");
    let r = owner.post(
        &format!("/api/v1/approvals/{id}/resolve"),
        json!({"optionIndex": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let result = agent.get(&format!("/v1/approvals/{id}/result")).body;
    assert_eq!(result["status"], "selected_option");
    assert_eq!(result["selected_option_index"], 1);
    assert_eq!(result["selected_option_label"], "Reject");
    assert_eq!(result["selected_option_value"], "reject");
    assert!(result["custom_instruction"].is_null());
    assert_eq!(result["resolved_by"], "owner@example.com");
    assert!(result["resolved_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(result["correlation_id"], "exec-42");
    assert_eq!(result["agent_id"], agent_id.as_str());
    owner
        .post(
            &format!("/api/v1/approvals/{id}/resolve"),
            json!({"optionIndex": 0}),
        )
        .expect_error(409, "approval_closed");

    // A custom instruction, by value errors, and bad decisions.
    let id2 = agent.post("/v1/approvals", ask()).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let resolve = format!("/api/v1/approvals/{id2}/resolve");
    owner
        .post(&resolve, json!({"optionIndex": 5}))
        .expect_error(400, "invalid_request");
    owner
        .post(&resolve, json!({"optionValue": "maybe"}))
        .expect_error(400, "invalid_request");
    owner
        .post(&resolve, json!({}))
        .expect_error(400, "invalid_request");
    owner
        .post(
            &resolve,
            json!({"optionIndex": 0, "customInstruction": "x"}),
        )
        .expect_error(400, "invalid_request");
    assert_eq!(
        owner
            .post(&resolve, json!({"customInstruction": "Deploy after 6pm"}))
            .status,
        200
    );
    let result = agent.get(&format!("/v1/approvals/{id2}/result")).body;
    assert_eq!(
        (
            result["status"].as_str(),
            result["custom_instruction"].as_str()
        ),
        (Some("custom_instruction"), Some("Deploy after 6pm"))
    );
    assert!(result.get("correlation_id").is_none());
    owner
        .post("/api/v1/approvals/nope/resolve", json!({"optionIndex": 0}))
        .expect_error(404, "not_found");

    // Viewers see but cannot decide.
    let viewer = server.add_member(&owner, &ws, "v@example.com", "viewer pass", "viewer");
    let id3 = agent.post("/v1/approvals", ask()).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(viewer.get(&format!("/api/v1/approvals/{id3}")).status, 200);
    let r = viewer.post(
        &format!("/api/v1/approvals/{id3}/resolve"),
        json!({"optionIndex": 0}),
    );
    r.expect_error(403, "insufficient_permissions");
    assert_eq!(r.body["details"]["requiredPermission"], "approvals.write");
}

#[test]
fn agent_api_authentication_errors() {
    let server = Server::start();
    let (owner, ws, agent, agent_id) = setup(&server);
    let v1 = |c: &Client, code: u16, error: &str, r: crate::support::Resp| {
        let _ = c;
        assert_eq!(r.status, code, "{}", r.text);
        assert_eq!(r.body["error"], error, "{}", r.text);
        assert_eq!(r.body["code"], error);
    };
    v1(
        &agent,
        401,
        "missing_agent_auth",
        server.anon().post("/v1/approvals", ask()),
    );
    v1(
        &agent,
        401,
        "missing_agent_auth",
        agent
            .clone()
            .without("X-Api-Key")
            .post("/v1/approvals", ask()),
    );
    v1(
        &agent,
        401,
        "missing_agent_auth",
        agent
            .clone()
            .without("X-Agent-Id")
            .get("/v1/approvals/x/result"),
    );
    v1(
        &agent,
        401,
        "invalid_api_key",
        agent
            .clone()
            .header("X-Api-Key", "andi_live_wrong")
            .post("/v1/approvals", ask()),
    );
    v1(
        &agent,
        401,
        "invalid_agent",
        agent
            .clone()
            .header("X-Agent-Id", "00000000-0000-0000-0000-000000000000")
            .post("/v1/approvals", ask()),
    );
    // A viewer key may read but not create.
    let viewer_key = owner.create_key(&ws, "viewer");
    v1(
        &agent,
        403,
        "insufficient_permissions",
        agent
            .clone()
            .header("X-Api-Key", &viewer_key)
            .post("/v1/approvals", ask()),
    );

    // GET /v1/agents takes the key alone.
    let agents = server
        .anon()
        .header("X-Api-Key", &viewer_key)
        .get("/v1/agents");
    assert_eq!(agents.status, 200);
    assert_eq!(agents.body[0]["id"], agent_id.as_str());
    assert_eq!(agents.body[0]["name"], "Deploy Bot");
    v1(
        &agent,
        401,
        "missing_agent_auth",
        server.anon().get("/v1/agents"),
    );
    assert_eq!(server.anon().get("/health").body["status"], "ok");

    // Another agent of the same workspace cannot read this agent's approvals.
    let other = server.with_key(&owner.create_key(&ws, "admin")).post(
        "/api/v1/agents",
        json!({"name": "Other", "handle": "other"}),
    );
    let other_id = other.body["id"].as_str().unwrap();
    let id = agent.post("/v1/approvals", ask()).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    v1(
        &agent,
        404,
        "not_found",
        agent
            .clone()
            .header("X-Agent-Id", other_id)
            .get(&format!("/v1/approvals/{id}/result")),
    );
    v1(&agent, 404, "not_found", agent.get("/v1/approvals/nope"));

    // Another workspace's agent with this key: invalid_agent; this agent with the other workspace's key: invalid_agent.
    let r = owner.post("/api/v1/workspaces", json!({"name": "Elsewhere"}));
    assert_eq!(r.status, 201);
    let else_key = owner.create_key("elsewhere", "admin");
    v1(
        &agent,
        401,
        "invalid_agent",
        agent
            .clone()
            .header("X-Api-Key", &else_key)
            .get(&format!("/v1/approvals/{id}/result")),
    );
    // The human API of the other workspace does not see it either.
    server
        .with_key(&else_key)
        .get(&format!("/api/v1/approvals/{id}"))
        .expect_error(404, "not_found");
}

#[test]
fn invalid_payloads_name_the_field() {
    let server = Server::start();
    let (_owner, _ws, agent, _) = setup(&server);
    let check = |body: Value, path: Value| {
        let r = agent.post("/v1/approvals", body);
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.body["error"], "invalid_payload");
        let paths: Vec<Value> = r.body["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].clone())
            .collect();
        assert!(paths.contains(&path), "{path} in {}", r.text);
    };
    let mut b = ask();
    b.as_object_mut().unwrap().remove("question");
    check(b, json!(["question"]));
    check(
        json!({"question": "q", "context_markdown": "", "options": []}),
        json!(["options"]),
    );
    let many: Vec<Value> = (0..11)
        .map(|i| json!({"label": format!("o{i}"), "value": format!("v{i}")}))
        .collect();
    check(
        json!({"question": "q", "context_markdown": "", "options": many}),
        json!(["options"]),
    );
    check(
        json!({"question": "q", "context_markdown": "", "options": [{"label": "x".repeat(101), "value": "v"}]}),
        json!(["options", 0, "label"]),
    );
    check(
        json!({"question": "q", "context_markdown": "", "options": [{"label": "a", "value": 1}]}),
        json!(["options", 0, "value"]),
    );
    check(
        json!({"question": "", "context_markdown": "", "options": [{"label": "a", "value": "a"}]}),
        json!(["question"]),
    );
    let mut b = ask();
    b["request_id"] = json!("has spaces");
    check(b, json!(["request_id"]));
    let mut b = ask();
    b["timeout"] = json!({"seconds": 5});
    check(b, json!(["timeout", "seconds"]));
    let mut b = ask();
    b["timeout"] = json!({"mode": "expire_with_instruction"});
    check(b, json!(["timeout", "instruction"]));
    let mut b = ask();
    b["timeout"] = json!({"mode": "sometimes"});
    check(b, json!(["timeout", "mode"]));
    let mut b = ask();
    b["callback"] = json!({"url": "ftp://example.com/x"});
    check(b, json!(["callback", "url"]));
    // Loopback callbacks are refused unless the operator allows them.
    let mut b = ask();
    b["callback"] = json!({"url": "http://127.0.0.1:9/hook"});
    let r = agent.post("/v1/approvals", b);
    assert_eq!(r.status, 400);
    assert!(
        r.body["issues"][0]["message"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{}",
        r.text
    );
    let mut b = ask();
    b["callback"] = json!({"url": "https://example.com/hook", "headers": {"Host": "evil"}});
    check(b, json!(["callback", "headers", "Host"]));
    let mut b = ask();
    b["surprise"] = json!(1);
    check(b, json!(["surprise"]));
    let r = agent.post_raw("/v1/approvals", "{\"question\":");
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_payload"))
    );
    // Nothing was created by any of these.
    assert_eq!(
        server
            .with_key(&agent.headers[0].1)
            .get("/api/v1/approvals")
            .body,
        json!([])
    );
}

#[test]
fn replays_are_idempotent_even_under_concurrency() {
    let server = Server::start();
    let (owner, _ws, agent, _) = setup(&server);
    let mut body = ask();
    body["request_id"] = json!("n8n-exec-1");
    let first = agent.post("/v1/approvals", body.clone());
    assert_eq!(first.status, 201);
    let again = agent.post("/v1/approvals", body.clone());
    assert_eq!(again.status, 200);
    assert_eq!(again.body["created_at"], first.body["created_at"]);
    let mut changed = body.clone();
    changed["question"] = json!("Something else?");
    let r = agent.post("/v1/approvals", changed);
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("idempotency_conflict"))
    );

    let mut body = ask();
    body["request_id"] = json!("parallel-1");
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (a, b) = (agent.clone(), body.clone());
            std::thread::spawn(move || a.post("/v1/approvals", b).status)
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        19,
        "{statuses:?}"
    );
    let all = owner.get("/api/v1/approvals").body;
    assert_eq!(
        all.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["requestId"] == "parallel-1")
            .count(),
        1
    );
}

#[test]
fn burst_limit_and_monthly_quota() {
    let server = Server::start_with(&["--approval-creates-per-minute", "3", "--test-clock"]);
    let (_owner, _ws, agent, _) = setup(&server);
    for _ in 0..3 {
        assert_eq!(agent.post("/v1/approvals", ask()).status, 201);
    }
    let r = agent.post("/v1/approvals", ask());
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (429, Some("rate_limited"))
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(
        retry, 60,
        "the window of the first request ends in a minute"
    );
    server.advance_clock(59_000);
    let r = agent.post("/v1/approvals", ask());
    assert_eq!(r.header("retry-after"), Some("1"), "{}", r.text);
    server.advance_clock(1_000);
    assert_eq!(
        agent.post("/v1/approvals", ask()).status,
        201,
        "the window moved on"
    );

    let server = Server::start_with(&["--approval-monthly-quota", "2"]);
    let (_owner, _ws, agent, _) = setup(&server);
    assert_eq!(agent.post("/v1/approvals", ask()).status, 201);
    assert_eq!(agent.post("/v1/approvals", ask()).status, 201);
    let r = agent.post("/v1/approvals", ask());
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["error"], "USAGE_APPROVAL_LIMIT");
    assert_eq!(r.body["code"], "USAGE_APPROVAL_LIMIT");
    assert_eq!(r.body["over_limit"], true);
}

#[test]
fn approvals_expire_in_both_modes_and_long_polls_wake() {
    let server = Server::start_with(&["--approval-min-timeout-seconds", "1", "--test-clock"]);
    let (owner, _ws, agent, agent_id) = setup(&server);
    // Agent settings: expire with a predefined instruction.
    let settings = format!("/api/v1/agents/{agent_id}/approval-settings");
    let r = owner.patch(&settings, json!({"timeoutMode": "expire_with_instruction"}));
    assert_eq!(
        r.body["issues"][0]["path"],
        json!(["timeoutInstruction"]),
        "{}",
        r.text
    );
    let r = owner.patch(&settings, json!({"defaultTimeoutSeconds": 1, "timeoutMode": "expire_with_instruction", "timeoutInstruction": "Do not deploy."}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["defaultTimeoutSeconds"], 1);
    owner
        .patch(&settings, json!({"timeoutInstruction": "x".repeat(1001)}))
        .expect_error(400, "invalid_request");

    let with_instruction = agent.post("/v1/approvals", ask()).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut plain = ask();
    plain["timeout"] = json!({"seconds": 1, "mode": "expire_no_action"});
    let no_action = agent.post("/v1/approvals", plain).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();

    // A long-poll returns the moment the approval expires.
    let poller = {
        let (agent, id) = (agent.clone(), with_instruction.clone());
        std::thread::spawn(move || {
            let t = Instant::now();
            let r = agent.get(&format!("/v1/approvals/{id}/result?wait=20"));
            (r, t.elapsed())
        })
    };
    server.wait_for_subscribers(1);
    server.advance_clock(999);
    assert_eq!(
        agent.get(&format!("/v1/approvals/{no_action}/result")).body["status"],
        "pending",
        "not a moment early"
    );
    server.advance_clock(1);
    let (r, took) = poller.join().unwrap();
    assert!(
        took < Duration::from_secs(10),
        "the long-poll returned on expiry"
    );
    assert_eq!(r.body["status"], "expired", "{}", r.text);
    assert_eq!(r.body["custom_instruction"], "Do not deploy.");
    assert_eq!(r.body["resolved_by"], "system:timeout");
    let r = agent.get(&format!("/v1/approvals/{no_action}/result"));
    assert_eq!(r.body["status"], "expired");
    assert!(r.body["custom_instruction"].is_null());
    owner
        .post(
            &format!("/api/v1/approvals/{no_action}/resolve"),
            json!({"optionIndex": 0}),
        )
        .expect_error(409, "approval_closed");

    // A long-poll on a pending approval wakes as soon as a human decides.
    let mut long = ask();
    long["timeout"] = json!({"seconds": 600});
    let id = agent.post("/v1/approvals", long).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let poller = {
        let (agent, id) = (agent.clone(), id.clone());
        std::thread::spawn(move || {
            let t = Instant::now();
            (
                agent.get(&format!("/v1/approvals/{id}/result?wait=30")),
                t.elapsed(),
            )
        })
    };
    server.wait_for_subscribers(1);
    assert_eq!(
        owner
            .post(
                &format!("/api/v1/approvals/{id}/resolve"),
                json!({"optionValue": "approve"})
            )
            .status,
        200
    );
    let (r, took) = poller.join().unwrap();
    assert_eq!(r.body["selected_option_value"], "approve");
    assert!(took < Duration::from_secs(5), "woke after {took:?}");
    let r = agent.get(&format!("/v1/approvals/{id}/result?wait=lots"));
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_payload"))
    );
}

#[test]
fn callbacks_retry_then_deliver_or_fail() {
    let server = Server::start_with(&[
        "--allow-private-callbacks",
        "--callback-retry-base-ms",
        "100",
        "--callback-max-attempts",
        "4",
        "--test-clock",
    ]);
    let (owner, _ws, agent, agent_id) = setup(&server);
    let settings = format!("/api/v1/agents/{agent_id}/approval-settings");
    let r = owner.patch(
        &settings,
        json!({"callbackSecret": {"name": "X-Callback-Secret", "value": "s3cret-value"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["callbackSecretHeader"], "X-Callback-Secret");
    assert_eq!(r.body["hasCallbackSecret"], true);
    assert!(
        !r.text.contains("s3cret-value"),
        "the secret is never shown"
    );

    // Fails twice, then succeeds.
    let flaky = Receiver::start(vec![500, 502], 200);
    let mut body = ask();
    body["correlation_id"] = json!("c-1");
    body["callback"] = json!({"url": flaky.url, "headers": {"X-Trace": "abc"}});
    let id = agent.post("/v1/approvals", body).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        owner
            .post(
                &format!("/api/v1/approvals/{id}/resolve"),
                json!({"optionIndex": 0})
            )
            .status,
        200
    );
    // Each move of the clock past the backoff (100 ms, then 200 ms) runs one more attempt.
    server.advance_clock(0);
    assert_eq!(flaky.count(), 1);
    server.advance_clock(99);
    assert_eq!(flaky.count(), 1, "not before the backoff");
    server.advance_clock(1);
    assert_eq!(flaky.count(), 2);
    server.advance_clock(200);
    let hits = flaky.wait_for(3, 0);
    let (headers, got) = &hits[2];
    assert_eq!(
        got,
        &agent.get(&format!("/v1/approvals/{id}/result")).body,
        "the callback carries the final result"
    );
    assert!(headers.contains(&("x-trace".into(), "abc".into())));
    assert!(headers.contains(&("x-callback-secret".into(), "s3cret-value".into())));
    let state = agent.get(&format!("/v1/approvals/{id}"));
    assert_eq!(state.body["result_delivery_status"], "delivered");
    assert!(
        state.body["result_delivery_error"]
            .as_str()
            .unwrap_or("")
            .contains("502")
            || state.body["result_delivery_error"].is_null()
    );
    server.advance_clock(3_600_000);
    assert_eq!(flaky.count(), 3, "delivered once, not again");

    // Always fails: marked failed after the last attempt, with the reason.
    let broken = Receiver::start(vec![], 500);
    let mut body = ask();
    body["callback"] = json!({"url": broken.url});
    let id = agent.post("/v1/approvals", body).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        owner
            .post(
                &format!("/api/v1/approvals/{id}/resolve"),
                json!({"customInstruction": "stop"})
            )
            .status,
        200
    );
    for _ in 0..4 {
        server.advance_clock(1_000);
    }
    let r = agent.get(&format!("/v1/approvals/{id}"));
    assert_eq!(r.body["result_delivery_status"], "failed");
    assert_eq!(r.body["result_delivery_error"], "HTTP 500");
    assert_eq!(broken.count(), 4);

    // The secret is stored encrypted.
    assert!(!server.stores_in_the_clear("s3cret-value"));
}

#[test]
fn pending_timeouts_and_callbacks_survive_a_restart() {
    let flags = [
        "--approval-min-timeout-seconds",
        "1",
        "--allow-private-callbacks",
        "--callback-retry-base-ms",
        "100",
        "--test-clock",
    ];
    let server = Server::start_with(&flags);
    let (_owner, _ws, agent, _) = setup(&server);
    let hook = Receiver::start(vec![], 200);
    let mut body = ask();
    body["timeout"] = json!({"seconds": 2});
    body["callback"] = json!({"url": hook.url});
    let id = agent.post("/v1/approvals", body).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let headers = agent.headers.clone();
    let dir = server.stop();
    assert_eq!(hook.count(), 0, "nothing fired before the timeout");

    let server = Server::start_in(dir, &flags);
    let agent = Client {
        base: server.url.clone(),
        headers,
    };
    // The restarted server found the pending timeout in the database; its time comes.
    server.advance_clock(3_000);
    let r = agent.get(&format!("/v1/approvals/{id}"));
    assert_eq!(r.body["status"], "expired", "{}", r.text);
    assert_eq!(r.body["result_delivery_status"], "delivered");
    assert_eq!(r.body["resolved_by"], "system:timeout");
    assert_eq!(hook.wait_for(1, 0)[0].1["status"], "expired");
}

#[test]
fn subscribers_or_all_members_are_notified_and_events_stream() {
    let server = Server::start();
    let (owner, ws, agent, agent_id) = setup(&server);
    let ed = server.add_member(&owner, &ws, "ed@example.com", "editor pass", "editor");
    let ed_id = ed.get("/api/v1/auth/me").body["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // No subscribers: every member hears of it.
    let mut body = ask();
    body["notification_summary"] = json!("Deploy #123?");
    agent.post("/v1/approvals", body);
    let mine = owner.get("/api/v1/notifications/inbox?unread=true").body;
    assert_eq!(mine[0]["title"], "Deploy #123?");
    assert_eq!(mine[0]["link"], format!("/w/{ws}/approvals"));
    assert_eq!(
        ed.get("/api/v1/notifications/inbox")
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        owner
            .post("/api/v1/notifications/inbox/read", json!({}))
            .body["marked"],
        1
    );
    assert_eq!(
        owner.get("/api/v1/notifications/inbox?unread=true").body,
        json!([])
    );

    // Only Ed subscribes to this agent now.
    let r = owner.patch(
        &format!("/api/v1/agents/{agent_id}/approval-settings"),
        json!({"subscribers": [ed_id]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    owner
        .patch(
            &format!("/api/v1/agents/{agent_id}/approval-settings"),
            json!({"subscribers": ["not-a-member"]}),
        )
        .expect_error(400, "invalid_request");
    agent.post("/v1/approvals", ask());
    assert_eq!(
        ed.get("/api/v1/notifications/inbox?unread=true")
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        owner.get("/api/v1/notifications/inbox?unread=true").body,
        json!([])
    );
    // Keys have no inbox of their own.
    server
        .with_key(&agent.headers[0].1)
        .get("/api/v1/notifications/inbox")
        .expect_error(401, "session_required");

    // The workspace event stream announces new approvals.
    use std::io::{BufRead, BufReader};
    let stream = ureq::AgentBuilder::new()
        .timeout_read(Duration::from_secs(10))
        .build();
    let resp = stream
        .get(&format!("{}/api/v1/approvals/events", server.url))
        .set("x-api-key", &agent.headers[0].1)
        .call()
        .unwrap();
    let mut body = ask();
    body["request_id"] = json!("streamed-1");
    agent.post("/v1/approvals", body);
    let mut reader = BufReader::new(resp.into_reader());
    let mut line = String::new();
    let mut seen = false;
    for _ in 0..40 {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.starts_with("data:") && line.contains("\"requestId\":\"streamed-1\"") {
            seen = true;
            break;
        }
    }
    assert!(seen, "approval.created arrived on the stream");
}

#[test]
fn the_inbox_renders_context_inert() {
    let server = Server::start();
    let (owner, ws, agent, _) = setup(&server);
    let mut body = ask();
    body["context_markdown"] = json!("**Build #123** <script>window.__pwned=1</script>\n\n<img src=x onerror=\"window.__pwned=2\">\n\n[docs](javascript:window.__pwned=3) ![logo](https://cdn.example/logo.png)");
    agent.post("/v1/approvals", body);
    let page = owner.get(&format!("/w/{ws}/approvals"));
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<strong>Build #123</strong>"));
    assert!(!page.text.contains("<script>window"), "no live script");
    assert!(!page.text.contains("<img src=x"), "no live image tag");
    assert!(
        !page.text.to_lowercase().contains("javascript:window"),
        "no script links"
    );
    assert!(
        !page.text.contains("<img src=\"https://cdn.example"),
        "remote images off by default"
    );
    assert!(page.text.contains("Deploy to production?"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
}
