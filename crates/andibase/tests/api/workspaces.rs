//! Workspaces, members, invitations and key management.

use serde_json::json;

use crate::support::Server;

#[test]
fn workspaces_are_listed_and_created() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let list = owner.get("/api/v1/workspaces");
    assert_eq!(list.status, 200);
    let item = &list.body["items"][0];
    assert_eq!(item["handle"], ws.as_str());
    assert_eq!(item["name"], "Acme Growth Team");
    assert_eq!(item["role"], "owner");
    assert!(item["deletedAt"].is_null());
    assert!(item.get("id").is_none());

    let r = owner.post(
        "/api/v1/workspaces",
        json!({"name": "Weekly Report Delivery"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["handle"], "weekly-report-delivery");
    owner
        .post(
            "/api/v1/workspaces",
            json!({"name": "Again", "handle": "weekly-report-delivery"}),
        )
        .expect_error(409, "conflict");
    let r = owner.post(
        "/api/v1/workspaces",
        json!({"name": "X", "handle": "Bad Handle"}),
    );
    assert_eq!(r.body["issues"][0]["path"], json!(["handle"]));
    let r = owner.post("/api/v1/workspaces", json!({"name": ""}));
    assert_eq!(r.body["issues"][0]["path"], json!(["name"]));
}

#[test]
fn members_are_added_listed_and_removed() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let users = format!("/api/v1/workspaces/{ws}/users");
    // Adding a member invites them: no password is taken, and the answer is the same
    // whether or not the email has an account (nothing tells which emails do).
    let r = owner.post(
        &users,
        json!({"email": "Ed@Example.com", "password": "editor pass"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["issues"][0]["path"], json!(["password"]));
    let invited = owner.post(&users, json!({"email": "Ed@Example.com"}));
    assert_eq!(invited.status, 201, "{}", invited.text);
    assert_eq!(invited.body["email"], "ed@example.com");
    assert_eq!(invited.body["role"], "editor");
    let existing = owner.post(
        &users,
        json!({"email": "owner@example.com", "role": "viewer"}),
    );
    assert_eq!(existing.status, 201, "{}", existing.text);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&invited.body), keys(&existing.body));
    let r = owner.post(&users, json!({"email": "not-an-email"}));
    assert_eq!(r.body["issues"][0]["path"], json!(["email"]));
    // Nobody is a member until they accept.
    assert_eq!(owner.get(&users).body.as_array().unwrap().len(), 1);
    let token = crate::support::invitation_token(&invited);
    let r = server.anon().post(
        &format!("/api/v1/invitations/{token}/accept"),
        json!({"password": "short"}),
    );
    assert_eq!(
        r.body["issues"][0]["path"],
        json!(["password"]),
        "{}",
        r.text
    );
    let r = server.anon().post(
        &format!("/api/v1/invitations/{token}/accept"),
        json!({"name": "Ed", "password": "editor pass"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let list = owner.get(&users);
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    let ed_id = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "ed@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Ed signs in, makes a key; removing Ed revokes it.
    let ed = server.sign_in("ed@example.com", "editor pass");
    let ed_key = ed.create_key(&ws, "editor");
    ed.post(
        &format!("/api/v1/workspaces/{ws}/api-keys"),
        json!({"name": "too much", "role": "admin"}),
    )
    .expect_error(403, "insufficient_permissions");
    // Ed may not remove the owner; an editor cannot manage members at all.
    let owner_id = owner.get("/api/v1/auth/me").body["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    ed.delete(&format!("{users}/{owner_id}"))
        .expect_error(403, "insufficient_permissions");
    // The last owner cannot be removed.
    owner
        .delete(&format!("{users}/{owner_id}"))
        .expect_error(409, "conflict");
    assert_eq!(owner.delete(&format!("{users}/{ed_id}")).status, 204);
    server
        .with_key(&ed_key)
        .get("/api/v1/agents")
        .expect_error(401, "invalid_api_key");
    ed.get("/api/v1/agents")
        .expect_error(400, "workspace_context_required");
    owner
        .delete(&format!("{users}/{ed_id}"))
        .expect_error(404, "not_found");
}

#[test]
fn invitations_are_accepted_from_the_link() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let inv_path = format!("/api/v1/workspaces/{ws}/invitations");
    let r = owner.post(
        &inv_path,
        json!({"email": "ivy@example.com", "role": "viewer"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let url = r.body["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/invite/", server.url)));
    let token = url.rsplit('/').next().unwrap().to_string();
    let listed = owner.get(&inv_path);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(
        listed.body[0].get("url").is_none(),
        "the link is shown once"
    );

    // The page works without an account.
    let page = server.anon().get(&format!("/invite/{token}"));
    assert_eq!(page.status, 200);
    assert!(page.text.contains("ivy@example.com"));

    let accept = format!("/api/v1/invitations/{token}/accept");
    server
        .anon()
        .post(&accept, json!({}))
        .expect_error(401, "session_required");
    let r = server
        .anon()
        .post(&accept, json!({"name": "Ivy", "password": "ivy password"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["workspaces"][0]["role"], "viewer");
    let ivy = server.session_from(&r);
    assert_eq!(ivy.get("/api/v1/agents").status, 200);
    // Used up.
    server
        .anon()
        .post(&accept, json!({"password": "another one"}))
        .expect_error(404, "not_found");
    assert_eq!(owner.get(&inv_path).body, json!([]));

    // An invitation for someone else cannot be taken by a signed-in stranger.
    let r = owner.post(&inv_path, json!({"email": "other@example.com"}));
    let token = crate::support::invitation_token(&r);
    ivy.post(&format!("/api/v1/invitations/{token}/accept"), json!({}))
        .expect_error(403, "insufficient_permissions");
    // Withdrawn invitations stop working.
    let id = owner.get(&inv_path).body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(owner.delete(&format!("{inv_path}/{id}")).status, 204);
    owner
        .delete(&format!("{inv_path}/{id}"))
        .expect_error(404, "not_found");
    server
        .anon()
        .post(
            &format!("/api/v1/invitations/{token}/accept"),
            json!({"password": "password1"}),
        )
        .expect_error(404, "not_found");
    owner
        .post(
            &inv_path,
            json!({"email": "o@example.com", "role": "owner"}),
        )
        .expect_error(400, "invalid_request");
}

#[test]
fn key_listing_never_shows_secrets() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let keys = format!("/api/v1/workspaces/{ws}/api-keys");
    let created = owner.post(&keys, json!({"name": "ci"}));
    assert_eq!(created.status, 201);
    assert_eq!(
        created.body["apiKey"]["role"], "admin",
        "defaults to the creator's highest role"
    );
    let secret = created.body["key"].as_str().unwrap();
    let list = owner.get(&keys);
    assert_eq!(list.status, 200);
    assert!(!list.text.contains(secret));
    assert!(!list.text.contains(&secret[10..]));
    assert_eq!(list.body[0]["name"], "ci");
    assert!(list.body[0].get("key").is_none());
    // The stored form is a hash: the secret appears nowhere in the databases.
    assert!(!server.stores_in_the_clear(secret));
    let r = owner.post(&keys, json!({"name": ""}));
    assert_eq!(r.body["issues"][0]["path"], json!(["name"]));
    owner
        .post(&keys, json!({"name": "x", "role": "superuser"}))
        .expect_error(400, "invalid_request");
}
