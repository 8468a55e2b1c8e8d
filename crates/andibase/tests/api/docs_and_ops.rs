//! Documentation and operations endpoints.

use serde_json::json;

use crate::support::Server;

#[test]
fn health_readiness_metrics_and_request_ids() {
    let server = Server::start();
    let c = server.anon();
    let h = c.get("/healthz");
    assert_eq!((h.status, h.body["status"].as_str()), (200, Some("ok")));
    assert!(h.header("x-request-id").is_some_and(|v| !v.is_empty()));
    assert_eq!(c.get("/readyz").status, 200);
    let echoed = c
        .clone()
        .header("x-request-id", "trace-me-123")
        .get("/healthz");
    assert_eq!(echoed.header("x-request-id"), Some("trace-me-123"));
    c.get("/api/v1/agents")
        .expect_error(401, "authentication_required");
    let m = c.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(
        m.text.contains(
            "andibase_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        "{}",
        m.text
    );
    assert!(m.text.contains("route=\"/api/v1/agents\",status=\"401\""));
    assert!(m
        .text
        .contains("andibase_http_request_duration_seconds_bucket"));
    c.get("/api/v1/nothing-here").expect_error(404, "not_found");
    assert_eq!(c.get("/no-such-page").status, 404);
}

#[test]
fn openapi_lists_every_foundation_route() {
    let server = Server::start();
    let doc = server.anon().get("/api/openapi.json").body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        (
            "post",
            "/api/v1/agent/auth/requests",
            "agentAuth.startAgentLogin",
        ),
        (
            "get",
            "/api/v1/agent/auth/requests/{userCode}",
            "agentAuth.getAgentLoginRequest",
        ),
        (
            "post",
            "/api/v1/agent/auth/requests/{userCode}/approve",
            "agentAuth.approveAgentLogin",
        ),
        (
            "post",
            "/api/v1/agent/auth/requests/{userCode}/deny",
            "agentAuth.denyAgentLogin",
        ),
        (
            "post",
            "/api/v1/agent/auth/exchange",
            "agentAuth.exchangeAgentLogin",
        ),
        ("post", "/api/v1/session/new", "sessions.createSession"),
        (
            "post",
            "/api/v1/session/{sessionId}/events",
            "sessions.postSessionEvent",
        ),
        (
            "get",
            "/api/v1/session/{sessionId}/events",
            "sessions.listSessionEvents",
        ),
        ("get", "/api/v1/agents", "agents.listWorkspaceAgents"),
        ("post", "/api/v1/agents", "agents.createAgent"),
        ("get", "/api/v1/agents/{id}", "agents.getWorkspaceAgent"),
        ("patch", "/api/v1/agents/{id}", "agents.updateAgent"),
        ("delete", "/api/v1/agents/{id}", "agents.deleteAgent"),
        ("get", "/api/v1/workspaces", "workspaces.listMyWorkspaces"),
        ("post", "/api/v1/workspaces", "workspaces.createWorkspace"),
        (
            "get",
            "/api/v1/workspaces/{workspaceHandle}/api-keys",
            "workspaces.listWorkspaceApiKeys",
        ),
        (
            "post",
            "/api/v1/workspaces/{workspaceHandle}/api-keys",
            "workspaces.createWorkspaceApiKey",
        ),
        (
            "delete",
            "/api/v1/workspaces/{workspaceHandle}/api-keys/{keyId}",
            "workspaces.deleteWorkspaceApiKey",
        ),
        (
            "get",
            "/api/v1/workspaces/{workspaceHandle}/users",
            "workspaces.listWorkspaceUsers",
        ),
        (
            "post",
            "/api/v1/workspaces/{workspaceHandle}/users",
            "workspaces.createWorkspaceUser",
        ),
        (
            "delete",
            "/api/v1/workspaces/{workspaceHandle}/users/{userId}",
            "workspaces.deleteWorkspaceUser",
        ),
        (
            "get",
            "/api/v1/workspaces/{workspaceHandle}/invitations",
            "workspaces.listWorkspaceInvitations",
        ),
        (
            "post",
            "/api/v1/workspaces/{workspaceHandle}/invitations",
            "workspaces.createWorkspaceInvitation",
        ),
        (
            "delete",
            "/api/v1/workspaces/{workspaceHandle}/invitations/{invitationId}",
            "workspaces.deleteWorkspaceInvitation",
        ),
        ("post", "/api/v1/auth/sign-in", "auth.signIn"),
        ("post", "/v1/approvals", "approvals.create"),
        ("get", "/v1/approvals/{request_id}", "approvals.get"),
        (
            "get",
            "/v1/approvals/{request_id}/result",
            "approvals.getResult",
        ),
        ("get", "/v1/agents", "approvals.listAgents"),
        ("get", "/health", "approvals.health"),
        ("get", "/api/v1/approvals", "approvals.listApprovals"),
        (
            "post",
            "/api/v1/approvals/{requestId}/resolve",
            "approvals.resolveApproval",
        ),
        (
            "get",
            "/api/v1/approvals/events",
            "approvals.streamApprovalEvents",
        ),
        (
            "patch",
            "/api/v1/agents/{id}/approval-settings",
            "approvals.updateAgentSettings",
        ),
        ("post", "/api/v1/auth/sign-out", "auth.signOut"),
    ];
    for (method, path, op) in expected {
        assert_eq!(
            doc["paths"][path][method]["operationId"], op,
            "{method} {path}"
        );
    }
    assert!(doc["components"]["schemas"]["Agent"].is_object());
    assert!(doc["components"]["securitySchemes"]["andibaseKey"].is_object());
    // The shared error responses are on every operation.
    assert!(doc["paths"]["/api/v1/agents"]["get"]["responses"]["401"].is_object());
    // The Agent API documents its own error body, not the workspace API's.
    let v1_400 = &doc["paths"]["/v1/approvals"]["post"]["responses"]["400"];
    assert!(v1_400.to_string().contains("V1ErrorBody"), "{v1_400}");
    // The Memory API: every route, its body in three formats, its own refusal body.
    let memory: Vec<(&str, &str)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .iter()
                .filter(|(_, op)| op["tags"][0] == "Memory")
                .map(move |(method, _)| (method.as_str(), path.as_str()))
        })
        .collect();
    assert_eq!(memory.len(), 20, "{memory:?}");
    let formation = &doc["paths"]["/v1/{space_id}/formation"]["post"];
    assert_eq!(formation["operationId"], "memory.formation");
    for media in ["application/json", "application/cbor", "text/markdown"] {
        assert!(
            formation["requestBody"]["content"][media].is_object(),
            "{media}: {formation}"
        );
    }
    assert!(formation["responses"]["401"]
        .to_string()
        .contains("RpcErrorBody"));
}

#[test]
fn agent_docs_carry_this_servers_url_and_have_markdown_twins() {
    let server = Server::start();
    let c = server.anon();
    let skill = c.get("/skill.md");
    assert_eq!(skill.status, 200);
    assert!(skill
        .header("content-type")
        .unwrap()
        .starts_with("text/markdown"));
    assert!(skill
        .text
        .contains(&format!("{}/api/agent/auth/requests", server.url)));
    assert!(!skill.text.contains("{{BASE}}") && !skill.text.contains("andiapi.com"));
    let all = c.get("/docs.md");
    assert!(
        all.text.contains("## Agents") && all.text.contains("/api/v1/agents/{id}"),
        "docs.md includes the reference"
    );
    for (page, twin) in [
        ("/docs", "/docs.md"),
        ("/docs/agent-get-started", "/docs/agent-get-started.md"),
        ("/docs/api-reference", "/docs/api-reference.md"),
    ] {
        let html = c.get(page);
        assert_eq!(html.status, 200, "{page}");
        assert!(html
            .header("content-type")
            .unwrap()
            .starts_with("text/html"));
        assert!(
            html.text.contains(&format!("href=\"{twin}\"")),
            "{page} links its twin"
        );
        assert_eq!(c.get(twin).status, 200, "{twin}");
    }
}

#[test]
fn console_pages_ask_for_sign_in_and_render_for_members() {
    let server = Server::start();
    let r = server.anon().get("/");
    assert_eq!(r.status, 200, "a fresh server explains setup");
    assert!(r.text.contains("setup"));
    let setup = server.anon().get(&format!(
        "/setup?token={}",
        server.setup_token.as_ref().unwrap()
    ));
    assert_eq!(setup.status, 200);
    assert_eq!(server.anon().get("/setup?token=wrong").status, 404);
    let (owner, ws) = server.setup_admin();
    let r = server.anon().get("/agent-login?user_code=ABCD-1234");
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("/sign-in?next=/agent-login%3Fuser_code%3DABCD-1234")
    );
    for page in ["sessions", "agents", "api-keys", "members"] {
        let p = owner.get(&format!("/w/{ws}/{page}"));
        assert_eq!(p.status, 200, "{page}");
        assert!(p
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'"));
        assert!(p.text.contains("Acme Growth Team"));
    }
    assert_eq!(owner.get("/").status, 303);
    let key = owner.create_key(&ws, "admin");
    let agent = server.with_key(&key).post(
        "/api/v1/agents",
        json!({"name": "<script>alert(1)</script>", "handle": "xss"}),
    );
    let page = owner.get(agent.body["url"].as_str().unwrap());
    assert_eq!(page.status, 200);
    assert!(
        !page.text.contains("<script>alert(1)</script>") && page.text.contains("&lt;script&gt;")
    );
    assert_eq!(server.anon().get("/assets/app.js").status, 200);
    assert_eq!(server.anon().get("/assets/app.css").status, 200);
}
