//! The agent device-code login, exactly as seed 000 describes it.

use serde_json::json;

use crate::support::{agent_login, Server};

#[test]
fn full_flow_with_every_answer_of_the_exchange() {
    let server = Server::start_with(&["--test-clock"]);
    let (owner, ws) = server.setup_admin();
    let agent = server.anon();

    let start = agent.post(
        "/api/agent/auth/requests",
        json!({"agentName": "YourAgentName", "agentDescription": "What your agent does"}),
    );
    assert_eq!(start.status, 200, "{}", start.text);
    let b = &start.body;
    let code = b["userCode"].as_str().unwrap();
    assert!(b["deviceCode"].as_str().unwrap().starts_with("dc_"));
    assert_eq!(code.len(), 9);
    assert_eq!(&code[4..5], "-");
    assert_eq!(b["verificationUri"], format!("{}/agent-login", server.url));
    assert_eq!(
        b["verificationUriComplete"],
        format!("{}/agent-login?user_code={code}", server.url)
    );
    assert_eq!(b["intervalSeconds"], 5);
    assert!(b["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(b["instructions"]["apiKeySecretField"], "apiKey.key");
    for f in ["verificationMessage", "exchangeMessage", "apiKeySaveHint"] {
        assert!(b["instructions"][f].is_string(), "{f}");
    }

    // The approval page reads the public state by user code; role defaults to admin.
    let view = agent.get(&format!("/api/v1/agent/auth/requests/{code}"));
    assert_eq!(view.status, 200);
    assert_eq!(view.body["agentName"], "YourAgentName");
    assert_eq!(view.body["agentDescription"], "What your agent does");
    assert_eq!(view.body["role"], "admin");
    assert_eq!(view.body["status"], "pending");
    // Codes are case- and dash-insensitive.
    assert_eq!(
        agent
            .get(&format!(
                "/api/v1/agent/auth/requests/{}",
                code.to_lowercase().replace('-', "")
            ))
            .status,
        200
    );

    let device = json!({"deviceCode": b["deviceCode"]});
    agent
        .post("/api/agent/auth/exchange", device.clone())
        .expect_error(400, "authorization_pending");
    agent
        .post("/api/agent/auth/exchange", device.clone())
        .expect_error(400, "slow_down");
    // Once the interval (5 s) has passed, polling is welcome again.
    server.advance_clock(4_999);
    agent
        .post("/api/agent/auth/exchange", device.clone())
        .expect_error(400, "slow_down");
    server.advance_clock(5_000);
    agent
        .post("/api/agent/auth/exchange", device.clone())
        .expect_error(400, "authorization_pending");

    // Approving needs a signed-in human: nobody, or an API key, is refused.
    agent
        .post(
            &format!("/api/v1/agent/auth/requests/{code}/approve"),
            json!({}),
        )
        .expect_error(401, "authentication_required");
    let admin_key = owner.create_key(&ws, "admin");
    server
        .with_key(&admin_key)
        .post(
            &format!("/api/v1/agent/auth/requests/{code}/approve"),
            json!({}),
        )
        .expect_error(401, "session_required");

    let approved = owner.post(
        &format!("/api/v1/agent/auth/requests/{code}/approve"),
        json!({"workspaceHandle": ws}),
    );
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.body["status"], "approved");
    // A second decision is refused.
    owner
        .post(
            &format!("/api/v1/agent/auth/requests/{code}/deny"),
            json!({}),
        )
        .expect_error(400, "invalid_request");

    let x = agent.post("/api/agent/auth/exchange", device.clone());
    assert_eq!(x.status, 200, "{}", x.text);
    let x = x.body;
    assert_eq!(x["status"], "approved");
    assert_eq!(x["workspace"]["handle"], ws);
    assert_eq!(x["workspace"]["name"], "Acme Growth Team");
    assert!(x["workspace"]["deletedAt"].is_null());
    for f in ["createdAt", "updatedAt"] {
        assert!(x["workspace"][f].is_string());
    }
    let key = x["apiKey"]["key"].as_str().unwrap();
    assert!(
        key.starts_with("andi_live_") && key.len() >= 10 + 43,
        "{key}"
    );
    let meta = &x["apiKey"]["apiKey"];
    assert!(meta["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(meta["name"], "YourAgentName");
    assert_eq!(meta["start"], "andi_l");
    assert_eq!(meta["prefix"], "andi_");
    assert_eq!(meta["enabled"], true);
    assert_eq!(meta["role"], "admin");
    assert!(meta["expiresAt"].is_null());
    assert!(meta["lastRequest"].is_null());
    assert_eq!(x["usage"]["recommendedEnvVar"], "ANDI_API_KEY");
    assert_eq!(x["usage"]["secretField"], "apiKey.key");
    assert_eq!(
        x["usage"]["authorizationHeader"],
        "Authorization: Bearer <api-key>"
    );
    assert!(x["usage"]["saveHint"].is_string() && x["usage"]["lifecycle"].is_string());

    // The secret is returned once: the code is now used up.
    agent
        .post("/api/agent/auth/exchange", device)
        .expect_error(400, "invalid_grant");
    agent
        .post("/api/agent/auth/exchange", json!({"deviceCode": "dc_nope"}))
        .expect_error(400, "invalid_grant");

    // The key works, with both headers.
    assert_eq!(server.with_key(key).get("/api/v1/agents").status, 200);
    assert_eq!(
        server
            .anon()
            .header("x-api-key", key)
            .get("/api/agents")
            .status,
        200
    );
    assert_eq!(
        agent
            .get(&format!("/api/v1/agent/auth/requests/{code}"))
            .body["status"],
        "consumed"
    );
}

#[test]
fn denied_expired_and_unknown_requests() {
    let server = Server::start_with(&["--agent-login-ttl-seconds", "1", "--test-clock"]);
    let (owner, _ws) = server.setup_admin();
    let agent = server.anon();

    let s = agent.post(
        "/api/v1/agent/auth/requests",
        json!({"agentName": "Mallory"}),
    );
    let code = s.body["userCode"].as_str().unwrap().to_string();
    let d = owner.post(
        &format!("/api/v1/agent/auth/requests/{code}/deny"),
        json!({}),
    );
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["status"], "denied");
    agent
        .post(
            "/api/v1/agent/auth/exchange",
            json!({"deviceCode": s.body["deviceCode"]}),
        )
        .expect_error(400, "access_denied");

    let s = agent.post("/api/v1/agent/auth/requests", json!({"agentName": "Slow"}));
    server.advance_clock(1_000);
    agent
        .post(
            "/api/v1/agent/auth/exchange",
            json!({"deviceCode": s.body["deviceCode"]}),
        )
        .expect_error(400, "expired_token");
    let code = s.body["userCode"].as_str().unwrap();
    assert_eq!(
        agent
            .get(&format!("/api/v1/agent/auth/requests/{code}"))
            .body["status"],
        "expired"
    );
    owner
        .post(
            &format!("/api/v1/agent/auth/requests/{code}/approve"),
            json!({}),
        )
        .expect_error(400, "invalid_request");

    agent
        .get("/api/v1/agent/auth/requests/ZZZZ-0000")
        .expect_error(404, "not_found");
    owner
        .post("/api/v1/agent/auth/requests/ZZZZ-0000/deny", json!({}))
        .expect_error(404, "not_found");
}

#[test]
fn bad_start_requests_name_the_field() {
    let server = Server::start();
    let agent = server.anon();
    let r = agent.post(
        "/api/v1/agent/auth/requests",
        json!({"agentDescription": "no name"}),
    );
    r.expect_error(400, "invalid_request");
    assert_eq!(r.body["_tag"], "HttpApiDecodeError");
    assert_eq!(r.body["issues"][0]["path"], json!(["agentName"]));
    assert_eq!(r.body["issues"][0]["_tag"], "Missing");
    let r = agent.post(
        "/api/v1/agent/auth/requests",
        json!({"agentName": "A", "role": "root"}),
    );
    assert_eq!(r.body["issues"][0]["path"], json!(["role"]), "{}", r.text);
    let r = agent.post("/api/v1/agent/auth/requests", json!({"agentName": "  "}));
    assert_eq!(
        r.body["issues"][0]["path"],
        json!(["agentName"]),
        "{}",
        r.text
    );
    let r = agent.post(
        "/api/v1/agent/auth/requests",
        json!({"agentName": "A", "permissions": {"nukes": ["write"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["issues"][0]["path"], json!(["permissions", "nukes"]));
}

#[test]
fn approval_may_narrow_but_never_widen_the_role() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();

    // Narrowed to viewer by the human: reads work, writes are refused naming the permission.
    let s = server.anon().post(
        "/api/agent/auth/requests",
        json!({"agentName": "Reader", "role": "admin"}),
    );
    let code = s.body["userCode"].as_str().unwrap();
    let a = owner.post(
        &format!("/api/v1/agent/auth/requests/{code}/approve"),
        json!({"workspaceHandle": ws, "role": "viewer"}),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    let x = server.anon().post(
        "/api/agent/auth/exchange",
        json!({"deviceCode": s.body["deviceCode"]}),
    );
    assert_eq!(x.body["apiKey"]["apiKey"]["role"], "viewer");
    let key = x.body["apiKey"]["key"].as_str().unwrap();
    assert_eq!(server.with_key(key).get("/api/v1/agents").status, 200);
    let denied = server
        .with_key(key)
        .post("/api/v1/agents", json!({"name": "X", "handle": "x"}));
    denied.expect_error(403, "insufficient_permissions");
    assert_eq!(denied.body["details"]["requiredPermission"], "agents.write");

    // Asking the approval for more than requested is refused.
    let s = server.anon().post(
        "/api/agent/auth/requests",
        json!({"agentName": "Small", "role": "viewer"}),
    );
    let code = s.body["userCode"].as_str().unwrap();
    owner
        .post(
            &format!("/api/v1/agent/auth/requests/{code}/approve"),
            json!({"role": "admin"}),
        )
        .expect_error(400, "invalid_request");

    // A viewer member cannot approve an admin key.
    let vera = server.add_member(&owner, &ws, "vera@example.com", "viewer pass", "viewer");
    let s = server
        .anon()
        .post("/api/agent/auth/requests", json!({"agentName": "Greedy"}));
    let code = s.body["userCode"].as_str().unwrap();
    let r = vera.post(
        &format!("/api/v1/agent/auth/requests/{code}/approve"),
        json!({"workspaceHandle": ws}),
    );
    r.expect_error(403, "insufficient_permissions");
    // But she may grant a viewer key.
    let r = vera.post(
        &format!("/api/v1/agent/auth/requests/{code}/approve"),
        json!({"workspaceHandle": ws, "role": "viewer"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // Approving for a workspace the human is not in is a 404.
    let s = server
        .anon()
        .post("/api/agent/auth/requests", json!({"agentName": "Lost"}));
    let code = s.body["userCode"].as_str().unwrap();
    owner
        .post(
            &format!("/api/v1/agent/auth/requests/{code}/approve"),
            json!({"workspaceHandle": "someone-else"}),
        )
        .expect_error(404, "not_found");
    let _ = agent_login(&server, &owner, &ws, Some("editor"));
}

#[test]
fn starting_logins_is_rate_limited_per_address() {
    let server = Server::start_with(&["--agent-login-per-minute", "2", "--test-clock"]);
    let agent = server.anon();
    for _ in 0..2 {
        assert_eq!(
            agent
                .post("/api/agent/auth/requests", json!({"agentName": "Burst"}))
                .status,
            200
        );
    }
    let r = agent.post("/api/agent/auth/requests", json!({"agentName": "Burst"}));
    r.expect_error(429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("60"));
    // The window slides: a minute after the first attempts, starting works again.
    server.advance_clock(59_999);
    agent
        .post("/api/agent/auth/requests", json!({"agentName": "Burst"}))
        .expect_error(429, "rate_limited");
    server.advance_clock(1);
    let r = agent.post("/api/agent/auth/requests", json!({"agentName": "Burst"}));
    assert_eq!(r.status, 200, "{}", r.text);
}
