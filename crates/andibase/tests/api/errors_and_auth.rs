//! Authentication, error shapes, permissions by role, key revocation and expiry, CSRF,
//! body limits and rate limits.

use andibase_common::Timestamp;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::Server;

#[test]
fn missing_invalid_and_malformed_credentials() {
    let server = Server::start();
    let (_owner, _ws) = server.setup_admin();
    server
        .anon()
        .get("/api/v1/agents")
        .expect_error(401, "authentication_required");
    server
        .with_key("andi_live_notakey")
        .get("/api/v1/agents")
        .expect_error(401, "invalid_api_key");
    server
        .anon()
        .header("x-api-key", "garbage")
        .get("/api/v1/agents")
        .expect_error(401, "invalid_api_key");
    server
        .anon()
        .header("Authorization", "Bearer ")
        .get("/api/v1/agents")
        .expect_error(401, "invalid_api_key");
    // An unknown or expired cookie is not a session.
    server
        .anon()
        .header("Cookie", "andibase_session=deadbeef")
        .get("/api/v1/agents")
        .expect_error(401, "authentication_required");
}

#[test]
fn decode_errors_carry_paths_and_tags() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "admin");
    let c = server.with_key(&key);

    let r = c.post_raw("/api/v1/agents", "{not json");
    r.expect_error(400, "invalid_request");
    assert_eq!(r.body["_tag"], "HttpApiDecodeError");
    assert_eq!(r.body["issues"][0]["_tag"], "Transformation");

    let r = c.post(
        "/api/v1/agents",
        json!({"name": "A", "handle": "a", "capabilities": {"webAccess": "yes"}}),
    );
    r.expect_error(400, "invalid_request");
    assert_eq!(
        r.body["issues"][0]["path"],
        json!(["capabilities", "webAccess"])
    );
    assert_eq!(r.body["issues"][0]["_tag"], "Type");

    let r = c.post("/api/v1/agents", json!({"handle": "a"}));
    assert_eq!(r.body["issues"][0]["path"], json!(["name"]));
    assert_eq!(r.body["issues"][0]["_tag"], "Missing");

    let r = c.post(
        "/api/v1/agents",
        json!({"name": "A", "handle": "a", "colour": "red"}),
    );
    assert_eq!(r.body["issues"][0]["path"], json!(["colour"]));
    assert_eq!(r.body["issues"][0]["_tag"], "Unexpected");

    let r = c.post(
        "/api/v1/agents",
        json!({"name": "A", "handle": "a", "capabilities": {"linkedCredentialIds": ["ok", ""]}}),
    );
    assert_eq!(
        r.body["issues"][0]["path"],
        json!(["capabilities", "linkedCredentialIds", 1]),
        "{}",
        r.text
    );
    assert_eq!(r.body["issues"][0]["_tag"], "Refinement");

    let r = c.post_raw("/api/v1/agents", "[1,2,3]");
    r.expect_error(400, "invalid_request");

    // Nothing was written by any of the failures.
    assert_eq!(c.get("/api/v1/agents").body, json!([]));
}

#[test]
fn oversized_bodies_are_refused() {
    let server = Server::start_with(&["--body-limit", "2048"]);
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "admin");
    let big = "x".repeat(4096);
    let r = server.with_key(&key).post(
        "/api/v1/agents",
        json!({"name": "A", "handle": "a", "instructions": big}),
    );
    r.expect_error(413, "payload_too_large");
    assert_eq!(server.with_key(&key).get("/api/v1/agents").body, json!([]));
}

#[test]
fn each_role_gets_exactly_its_permissions() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    let editor = server.with_key(&owner.create_key(&ws, "editor"));
    let admin = server.with_key(&owner.create_key(&ws, "admin"));

    assert_eq!(viewer.get("/api/v1/agents").status, 200);
    let r = viewer.post("/api/v1/agents", json!({"name": "A", "handle": "a"}));
    r.expect_error(403, "insufficient_permissions");
    assert_eq!(r.body["details"]["requiredPermission"], "agents.write");
    viewer
        .post("/api/v1/session/new", json!({"title": "t"}))
        .expect_error(403, "insufficient_permissions");
    assert_eq!(
        viewer.get(&format!("/api/v1/workspaces/{ws}/users")).status,
        200
    );

    assert_eq!(
        editor
            .post("/api/v1/agents", json!({"name": "A", "handle": "a"}))
            .status,
        201
    );
    assert_eq!(
        editor
            .post("/api/v1/session/new", json!({"title": "t"}))
            .status,
        200
    );
    // Keys cannot add members or invite, whatever their role: an account is made only by
    // its owner, and a key must not be able to make itself one.
    for key in [&editor, &admin] {
        for (path, body) in [
            (
                "users",
                json!({"email": "e@example.com", "password": "password1", "role": "admin"}),
            ),
            ("users", json!({"email": "e@example.com", "role": "admin"})),
            (
                "invitations",
                json!({"email": "e@example.com", "role": "admin"}),
            ),
        ] {
            key.post(&format!("/api/v1/workspaces/{ws}/{path}"), body)
                .expect_error(401, "session_required");
        }
    }
    assert_eq!(admin.delete("/api/v1/agents/a").status, 204);

    // Keys can never manage keys: that needs a signed-in human.
    admin
        .get(&format!("/api/v1/workspaces/{ws}/api-keys"))
        .expect_error(401, "session_required");
    admin
        .post(
            &format!("/api/v1/workspaces/{ws}/api-keys"),
            json!({"name": "n"}),
        )
        .expect_error(401, "session_required");
    admin
        .get("/api/v1/workspaces")
        .expect_error(401, "session_required");
}

#[test]
fn explicit_permissions_add_to_the_role() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let r = owner.post(
        &format!("/api/v1/workspaces/{ws}/api-keys"),
        json!({"name": "scoped", "role": "viewer", "permissions": {"agents": ["write"]}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["apiKey"]["permissions"],
        json!({"agents": ["write"]})
    );
    let c = server.with_key(r.body["key"].as_str().unwrap());
    assert_eq!(
        c.post("/api/v1/agents", json!({"name": "A", "handle": "a"}))
            .status,
        201
    );
    c.post("/api/v1/session/new", json!({}))
        .expect_error(403, "insufficient_permissions");

    let r = owner.post(
        &format!("/api/v1/workspaces/{ws}/api-keys"),
        json!({"name": "bad", "permissions": {"agents": ["fly"]}}),
    );
    r.expect_error(400, "invalid_request");
}

#[test]
fn revoked_and_expired_keys_stop_working() {
    let server = Server::start_with(&["--test-clock"]);
    let (owner, ws) = server.setup_admin();
    let r = owner.post(
        &format!("/api/v1/workspaces/{ws}/api-keys"),
        json!({"name": "doomed"}),
    );
    let (key, id) = (
        r.body["key"].as_str().unwrap().to_string(),
        r.body["apiKey"]["id"].as_str().unwrap().to_string(),
    );
    assert_eq!(server.with_key(&key).get("/api/v1/agents").status, 200);
    assert_eq!(
        owner
            .delete(&format!("/api/v1/workspaces/{ws}/api-keys/{id}"))
            .status,
        204
    );
    server
        .with_key(&key)
        .get("/api/v1/agents")
        .expect_error(401, "invalid_api_key");
    owner
        .delete(&format!("/api/v1/workspaces/{ws}/api-keys/{id}"))
        .expect_error(404, "not_found");

    // The server's clock stands still until the test moves it.
    let now = Timestamp::parse_iso(&server.advance_clock(0)).unwrap();
    let expires = now.plus_seconds(3600).to_iso();
    let r = owner.post(
        &format!("/api/v1/workspaces/{ws}/api-keys"),
        json!({"name": "short", "expiresAt": expires}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["apiKey"]["expiresAt"], expires);
    let key = r.body["key"].as_str().unwrap().to_string();
    assert_eq!(server.with_key(&key).get("/api/v1/agents").status, 200);
    server.advance_clock(3_599_000);
    assert_eq!(server.with_key(&key).get("/api/v1/agents").status, 200);
    server.advance_clock(1_000);
    server
        .with_key(&key)
        .get("/api/v1/agents")
        .expect_error(401, "invalid_api_key");

    let r = owner.post(
        &format!("/api/v1/workspaces/{ws}/api-keys"),
        json!({"name": "past", "expiresAt": "2001-01-01T00:00:00.000Z"}),
    );
    r.expect_error(400, "invalid_request");
    assert_eq!(r.body["issues"][0]["path"], json!(["expiresAt"]));
    let r = owner.post(
        &format!("/api/v1/workspaces/{ws}/api-keys"),
        json!({"name": "bad", "expiresAt": "tomorrow"}),
    );
    assert_eq!(r.body["issues"][0]["path"], json!(["expiresAt"]));
}

#[test]
fn last_request_is_recorded_in_batches() {
    let server = Server::start_with(&["--test-clock"]);
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "viewer");
    let last_request = || {
        let keys = owner.get(&format!("/api/v1/workspaces/{ws}/api-keys"));
        keys.body
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == "viewer")
            .unwrap()["lastRequest"]
            .clone()
    };
    let now = server.advance_clock(0);
    assert_eq!(server.with_key(&key).get("/api/v1/agents").status, 200);
    assert!(
        last_request().is_null(),
        "not written on the request itself"
    );
    // The batch is written on the background tick (or, on a test server, a clock move).
    server.advance_clock(5_000);
    assert_eq!(last_request(), json!(now));
}

#[test]
fn session_requests_need_a_workspace_when_ambiguous() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    // One workspace: no header needed.
    assert_eq!(owner.get("/api/v1/agents").status, 200);
    let r = owner.post("/api/v1/workspaces", json!({"name": "Second Team"}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["handle"], "second-team");
    owner
        .get("/api/v1/agents")
        .expect_error(400, "workspace_context_required");
    assert_eq!(
        owner
            .clone()
            .header("x-workspace-handle", &ws)
            .get("/api/v1/agents")
            .status,
        200
    );
    assert_eq!(
        owner
            .clone()
            .header("x-workspace-handle", "second-team")
            .get("/api/v1/agents")
            .status,
        200
    );
    owner
        .clone()
        .header("x-workspace-handle", "not-mine")
        .get("/api/v1/agents")
        .expect_error(404, "not_found");
    let list = owner.get("/api/v1/workspaces");
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    let id = owner
        .clone()
        .header("x-workspace-handle", "second-team")
        .post("/api/v1/agents", json!({"name": "A", "handle": "a"}));
    assert_eq!(id.status, 201);
    // The agent lives only in the second workspace.
    owner
        .clone()
        .header("x-workspace-handle", &ws)
        .get("/api/v1/agents/a")
        .expect_error(404, "not_found");
}

#[test]
fn cookie_writes_need_same_origin() {
    let server = Server::start();
    let (owner, _ws) = server.setup_admin();
    let body = json!({"name": "A", "handle": "a"});
    owner
        .clone()
        .without("Origin")
        .post("/api/v1/agents", body.clone())
        .expect_error(403, "csrf_failed");
    owner
        .clone()
        .header("Origin", "https://evil.example")
        .post("/api/v1/agents", body.clone())
        .expect_error(403, "csrf_failed");
    // Reads need no Origin; writes from our own origin pass.
    assert_eq!(
        owner.clone().without("Origin").get("/api/v1/agents").status,
        200
    );
    assert_eq!(owner.post("/api/v1/agents", body).status, 201);
}

#[test]
fn sign_in_sign_out_and_rate_limit() {
    let server = Server::start_with(&["--sign-in-per-minute", "4"]);
    let (owner, _ws) = server.setup_admin();
    assert_eq!(
        owner.get("/api/v1/auth/me").body["user"]["email"],
        "owner@example.com"
    );
    let r = server.anon().post(
        "/api/v1/auth/sign-in",
        json!({"email": "owner@example.com", "password": "wrong password"}),
    );
    r.expect_error(401, "authentication_required");
    let r = server.anon().post(
        "/api/v1/auth/sign-in",
        json!({"email": "nobody@example.com", "password": "wrong password"}),
    );
    r.expect_error(401, "authentication_required");
    let again = server.sign_in("OWNER@example.com", "correct horse");
    let out = again.post("/api/v1/auth/sign-out", json!({}));
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    again
        .get("/api/v1/auth/me")
        .expect_error(401, "authentication_required");
    // The original session is unaffected.
    assert_eq!(owner.get("/api/v1/auth/me").status, 200);
    // Successful sign-ins do not count against the limit.
    for _ in 0..5 {
        server.sign_in("owner@example.com", "correct horse");
    }
}

#[test]
fn failed_sign_ins_slow_guessing_down_without_locking_out_the_right_password() {
    let server =
        Server::start_with(&["--sign-in-per-minute", "3", "--sign-in-slow-path-ms", "600"]);
    server.setup_admin();
    let attempt = |email: &str, password: &str| {
        let started = Instant::now();
        let r = server.anon().post(
            "/api/v1/auth/sign-in",
            json!({"email": email, "password": password}),
        );
        (r.status, started.elapsed())
    };
    for _ in 0..3 {
        let (status, took) = attempt("owner@example.com", "wrong password");
        assert_eq!(status, 401);
        assert!(took < Duration::from_millis(600), "{took:?}");
    }
    // Past the limit, the right password still signs in, after the wait.
    let (status, took) = attempt("owner@example.com", "correct horse");
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(600), "{took:?}");
    // A wrong one waits as long (no answer tells right from wrong sooner), for any
    // account from this address.
    let (status, took) = attempt("nobody@example.com", "guess");
    assert_eq!(status, 401);
    assert!(took >= Duration::from_millis(600), "{took:?}");
    // One at a time: a second guess while one waits is told to retry.
    let racers: Vec<_> = (0..3)
        .map(|i| {
            let c = server.anon();
            std::thread::spawn(move || {
                c.post(
                    "/api/v1/auth/sign-in",
                    json!({"email": "owner@example.com", "password": format!("guess {i}")}),
                )
            })
        })
        .collect();
    let statuses: Vec<u16> = racers
        .into_iter()
        .map(|t| t.join().unwrap().status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}
