//! Tenant isolation: nothing of one workspace is reachable from another.

use serde_json::json;

use crate::support::Server;

#[test]
fn another_workspace_is_invisible() {
    let server = Server::start();
    let (alice, ws_a) = server.setup_admin();
    // Bob has his own workspace on the same server.
    let bob = server.add_member(&alice, &ws_a, "bob@example.com", "bob password", "viewer");
    let r = bob.post("/api/v1/workspaces", json!({"name": "Bob Corp"}));
    assert_eq!(r.status, 201);
    let ws_b = "bob-corp";
    let bob_b = bob.clone().header("x-workspace-handle", ws_b);
    let key_b = bob.create_key(ws_b, "admin");
    let key_b_id = bob.get(&format!("/api/v1/workspaces/{ws_b}/api-keys")).body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = server.with_key(&key_b);
    let agent_b = b
        .post(
            "/api/v1/agents",
            json!({"name": "Secret", "handle": "secret"}),
        )
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sess_b = b
        .post("/api/v1/session/new", json!({"title": "private"}))
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();

    let a = server.with_key(&alice.create_key(&ws_a, "admin"));
    // Agents of B by id, handle, slug: 404 for every verb.
    for p in [
        agent_b.clone(),
        "secret".into(),
        format!("secret-{agent_b}"),
    ] {
        a.get(&format!("/api/v1/agents/{p}"))
            .expect_error(404, "not_found");
        a.patch(&format!("/api/v1/agents/{p}"), json!({"name": "pwned"}))
            .expect_error(404, "not_found");
        a.delete(&format!("/api/v1/agents/{p}"))
            .expect_error(404, "not_found");
    }
    // Sessions of B.
    a.get(&format!("/api/v1/session/{sess_b}"))
        .expect_error(404, "not_found");
    a.get(&format!("/api/v1/session/{sess_b}/events"))
        .expect_error(404, "not_found");
    a.post(
        &format!("/api/v1/session/{sess_b}/events"),
        json!({"type": "x"}),
    )
    .expect_error(404, "not_found");
    // B's members and invitations through A's key.
    a.get(&format!("/api/v1/workspaces/{ws_b}/users"))
        .expect_error(404, "not_found");
    a.post(
        &format!("/api/v1/workspaces/{ws_b}/users"),
        json!({"email": "x@example.com"}),
    )
    .expect_error(401, "session_required");
    for path in ["users", "invitations"] {
        alice
            .post(
                &format!("/api/v1/workspaces/{ws_b}/{path}"),
                json!({"email": "x@example.com"}),
            )
            .expect_error(404, "not_found");
    }
    a.get(&format!("/api/v1/workspaces/{ws_b}/invitations"))
        .expect_error(404, "not_found");
    // B's keys through Alice's session, by B's path or by A's path with B's key id.
    alice
        .get(&format!("/api/v1/workspaces/{ws_b}/api-keys"))
        .expect_error(404, "not_found");
    alice
        .delete(&format!("/api/v1/workspaces/{ws_b}/api-keys/{key_b_id}"))
        .expect_error(404, "not_found");
    alice
        .delete(&format!("/api/v1/workspaces/{ws_a}/api-keys/{key_b_id}"))
        .expect_error(404, "not_found");
    alice
        .clone()
        .header("x-workspace-handle", ws_b)
        .get("/api/v1/agents")
        .expect_error(404, "not_found");
    // Pages of B for Alice.
    assert_eq!(alice.get(&format!("/w/{ws_b}/sessions")).status, 404);
    assert_eq!(
        alice.get(&format!("/w/{ws_b}/sessions/{sess_b}")).status,
        404
    );
    assert_eq!(
        alice.get(&format!("/w/{ws_a}/sessions/{sess_b}")).status,
        404
    );
    assert_eq!(
        alice
            .get(&format!("/w/{ws_b}/sessions/{sess_b}/stream"))
            .status,
        404
    );
    // B's key on A's workspace path.
    b.get(&format!("/api/v1/workspaces/{ws_a}/users"))
        .expect_error(404, "not_found");

    // Everything of B is intact.
    assert_eq!(b.get("/api/v1/agents/secret").body["name"], "Secret");
    assert_eq!(b.get(&format!("/api/v1/session/{sess_b}")).status, 200);
    assert_eq!(server.with_key(&key_b).get("/api/v1/agents").status, 200);
    assert_eq!(bob_b.get("/api/v1/agents").status, 200);
    // And the two workspaces are two databases (files, or schemas on PostgreSQL).
    assert_eq!(server.workspace_databases(), 2);
}
