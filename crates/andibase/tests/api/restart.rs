//! Durability across restarts, and the operator CLI.

use serde_json::json;

use crate::support::{temp_dir, Server};

#[test]
fn data_survives_a_restart() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "admin");
    let c = server.with_key(&key);
    assert_eq!(
        c.post(
            "/api/v1/agents",
            json!({"name": "Keeper", "handle": "keeper"})
        )
        .status,
        201
    );
    let s = c.post(
        "/api/v1/session/new",
        json!({"title": "Long job", "message": "go"}),
    );
    let id = s.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.post(
            &format!("/api/v1/session/{id}/events"),
            json!({"type": "step", "body": 1})
        )
        .status,
        200
    );
    let dir = server.stop();

    let server = Server::start_in(dir, &[]);
    assert!(
        server.setup_token.is_none(),
        "no setup link once a user exists"
    );
    let c = server.with_key(&key);
    assert_eq!(c.get("/api/v1/agents/keeper").body["name"], "Keeper");
    let events = c.get(&format!("/api/v1/session/{id}/events")).body;
    assert_eq!(events.as_array().unwrap().len(), 2);
    let again = server.sign_in("owner@example.com", "correct horse");
    assert_eq!(
        again.get("/api/v1/workspaces").body["items"][0]["handle"],
        ws.as_str()
    );
    // The old setup token is gone for good.
    let r = server.anon().post(
        "/api/v1/auth/setup",
        json!({"token": "x", "email": "a@b.co", "password": "password1", "workspaceName": "W"}),
    );
    r.expect_error(401, "authentication_required");
}

#[test]
fn operator_cli_creates_users_workspaces_and_keys() {
    let dir = temp_dir("cli");
    let run = |args: &[&str]| {
        let (code, out, err) = crate::support::cli_in(&dir, args);
        (code == Some(0), out, err)
    };
    let (ok, out, _) = run(&[
        "user",
        "create",
        "--email",
        "op@example.com",
        "--password",
        "operator pass",
        "--admin",
    ]);
    assert!(ok, "{out}");
    let (ok, _, err) = run(&[
        "user",
        "create",
        "--email",
        "op@example.com",
        "--password",
        "operator pass",
    ]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(&[
        "user",
        "create",
        "--email",
        "x@example.com",
        "--password",
        "short",
    ]);
    assert!(!ok && err.contains("8 characters"), "{err}");
    let (ok, out, _) = run(&[
        "workspace",
        "create",
        "--name",
        "Ops Team",
        "--owner",
        "op@example.com",
    ]);
    assert!(ok && out.contains("ops-team"), "{out}");
    let (ok, key, err) = run(&[
        "key",
        "create",
        "--workspace",
        "ops-team",
        "--role",
        "editor",
        "--name",
        "deploy bot",
    ]);
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    assert!(key.starts_with("andi_live_"));
    let (ok, _, _) = run(&[
        "key",
        "create",
        "--workspace",
        "nope",
        "--role",
        "editor",
        "--name",
        "x",
    ]);
    assert!(!ok);
    let (ok, out, _) = run(&["--help"]);
    assert!(ok && out.contains("serve") && out.contains("user") && out.contains("workspace"));

    let server = Server::start_in(dir.to_path_buf(), &[]);
    assert!(server.setup_token.is_none());
    let c = server.with_key(&key);
    assert_eq!(
        c.post("/api/v1/agents", json!({"name": "A", "handle": "a"}))
            .status,
        201
    );
    c.post(
        "/api/v1/workspaces/ops-team/users",
        json!({"email": "z@example.com"}),
    )
    .expect_error(401, "session_required");
    let op = server.sign_in("op@example.com", "operator pass");
    assert_eq!(op.get("/api/v1/auth/me").body["user"]["isAdmin"], true);

    // A backup taken while serving opens as a working data dir, memory spaces included.
    let made = c.post("/admin/create_space", json!({"space_id": "kept"}));
    assert_eq!(made.status, 200, "{}", made.text);
    let concepts = made.body["result"]["concepts"].clone();
    let backup = temp_dir("backup");
    let (ok, out, err) = run(&["backup", "--out", backup.join("copy").to_str().unwrap()]);
    assert!(ok, "{out} {err}");
    assert!(out.contains("1 memory space"), "{out}");
    drop(server);
    let restored = Server::start_in(backup.join("copy"), &[]);
    assert_eq!(restored.with_key(&key).get("/api/v1/agents/a").status, 200);
    let info = restored.with_key(&key).get("/v1/kept/info");
    assert_eq!(info.status, 200, "{}", info.text);
    assert_eq!(info.body["result"]["concepts"], concepts);
}
