//! Memory spaces (seed 003), first part: spaces, their tokens, the KIP read route and the
//! space's info, with the seed's envelope and refusals.

use serde_json::{json, Value};

use crate::support::{on_postgres, wait_for, Client, Server};

fn issue_path(r: &crate::support::Resp) -> Value {
    r.body["data"]["issues"][0]["path"].clone()
}

/// Creating spaces: an API key with `memory.write` makes one owned by its workspace;
/// every bad input is a 400 naming the field, credentials a 401, in seed 003's
/// `{message, data?}` shape.
#[test]
fn spaces_are_created_by_workspace_keys_and_checked() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));

    let made = admin.post(
        "/admin/create_space",
        json!({"space_id": "team_brain", "name": "Team brain", "user": "olivia"}),
    );
    assert_eq!(made.status, 200, "{}", made.text);
    let info = &made.body["result"];
    assert_eq!(info["id"], "team_brain");
    assert_eq!(info["name"], "Team brain");
    assert_eq!(info["owner"], "olivia");
    assert_eq!(info["public"], false);
    assert_eq!(info["tier"]["tier"], 2, "the default tier");
    assert!(
        info["concepts"].as_i64().unwrap() > 0,
        "the graph starts with KIP's Genesis: {info}"
    );
    // The graph is a file of its own beside the workspace's database, the server's alone;
    // on PostgreSQL a schema of its own.
    if on_postgres() {
        assert_eq!(server.postgres_schemas("kg_").len(), 1);
    } else {
        let spaces_dir = std::fs::read_dir(server.data_dir.join("workspaces"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".spaces"))
            .expect("a <workspace>.spaces folder");
        let graph = spaces_dir.join("team_brain.kip.db");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&spaces_dir), 0o700);
            assert_eq!(mode(&graph), 0o600);
        }
    }

    for (body, path) in [
        (json!({"space_id": "approvals"}), json!(["space_id"])),
        (json!({"space_id": "agents"}), json!(["space_id"])),
        (json!({"space_id": "admin"}), json!(["space_id"])),
        (json!({"space_id": "has space"}), json!(["space_id"])),
        (json!({"space_id": "team_brain"}), json!(["space_id"])),
        (json!({"space_id": "ok", "tier": 99}), json!(["tier"])),
        (json!({"space_id": 7}), json!(["space_id"])),
        (json!({"name": "no id"}), json!([])),
        (json!({"space_id": "x", "bogus": 1}), json!(["bogus"])),
    ] {
        let r = admin.post("/admin/create_space", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(
            r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            r.text
        );
        assert_eq!(issue_path(&r), path, "{body}: {}", r.text);
    }
    let r = admin.post_raw("/admin/create_space", "{not json");
    assert_eq!(r.status, 400, "{}", r.text);

    let r = viewer.post("/admin/create_space", json!({"space_id": "v"}));
    assert_eq!(r.status, 401, "a viewer key lacks memory.write: {}", r.text);
    let r = server
        .anon()
        .post("/admin/create_space", json!({"space_id": "a"}));
    assert_eq!(r.status, 401, "{}", r.text);
    let r = server
        .with_key("andi_live_nope")
        .post("/admin/create_space", json!({"space_id": "a"}));
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.body["message"].is_string(), "{}", r.text);
}

/// An admin key of a fresh server's workspace (and its client), with the space `brain`.
fn brain_with_key(server: &Server) -> (String, Client) {
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "admin");
    let admin = server.with_key(&key);
    let made = admin.post("/admin/create_space", json!({"space_id": "brain"}));
    assert_eq!(made.status, 200, "{}", made.text);
    (key, admin)
}

pub(crate) fn make_space(server: &Server) -> (Client, Client, Client, Client) {
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    let other = owner.other_workspace(server);
    let made = admin.post("/admin/create_space", json!({"space_id": "brain"}));
    assert_eq!(made.status, 200, "{}", made.text);
    (owner, admin, viewer, other)
}

/// Who may read a space: its workspace's keys by permission, its tokens by scope, anyone
/// once it is public; never another workspace's key. KIP runs read-only.
#[test]
fn a_space_is_read_by_its_workspace_and_its_tokens_only() {
    let server = Server::start();
    let (_owner, admin, viewer, other) = make_space(&server);
    assert_eq!(admin.get("/v1/brain/info").status, 200);
    assert_eq!(
        viewer.get("/v1/brain/info").status,
        200,
        "memory.read reads"
    );
    let r = other.get("/v1/brain/info");
    assert_eq!(r.status, 401, "another workspace's key: {}", r.text);
    assert_eq!(server.anon().get("/v1/brain/info").status, 401);
    assert_eq!(
        server.with_key("").get("/v1/brain/info").status,
        401,
        "an empty bearer is a bad credential"
    );
    let r = admin.get("/v1/nowhere/info");
    assert_eq!(r.status, 404, "{}", r.text);

    let primer = admin.post(
        "/v1/brain/execute_kip_readonly",
        json!({"command": "DESCRIBE PRIMER"}),
    );
    assert_eq!(primer.status, 200, "{}", primer.text);
    assert_eq!(primer.body["result"]["identity"]["name"], "$self");
    let write = admin.post(
        "/v1/brain/execute_kip_readonly",
        json!({"command": "UPSERT { CONCEPT ?p { {type: \"Person\", name: \"Ada\"} } }"}),
    );
    assert_eq!(write.status, 200, "{}", write.text);
    assert_eq!(write.body["error"]["code"], "KIP_1001", "{}", write.text);
    let bad = admin.post("/v1/brain/execute_kip_readonly", json!({"commands": 3}));
    assert_eq!(bad.status, 400, "{}", bad.text);
    let status = viewer.get("/v1/brain/formation_status");
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.body["result"]["formation_processing"], false);

    // Public: anyone reads; management still needs the workspace's key.
    let r = viewer.patch("/v1/brain/management/update_space", json!({"public": true}));
    assert_eq!(r.status, 401, "a viewer key cannot manage: {}", r.text);
    let r = admin.patch(
        "/v1/brain/management/update_space",
        json!({"public": true, "description": "What the team knows"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"], true);
    let public = server.anon().get("/v1/brain/info");
    assert_eq!(public.status, 200, "{}", public.text);
    assert_eq!(public.body["result"]["description"], "What the team knows");
    assert_eq!(
        server
            .anon()
            .post(
                "/v1/brain/execute_kip_readonly",
                json!({"command": "DESCRIBE DOMAINS"})
            )
            .status,
        200
    );
    assert_eq!(
        server
            .anon()
            .get("/v1/brain/management/space_tokens")
            .status,
        401
    );
    let r = admin.patch(
        "/v1/brain/management/update_space",
        json!({"public": "yes"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(issue_path(&r), json!(["public"]));
}

/// Space tokens: made with a scope, shown once, listed masked with their use, refused
/// outside their scope (write does not read), after expiry and after revocation; a token
/// cannot manage tokens.
#[test]
fn space_tokens_live_by_their_scope_and_expiry() {
    let server = Server::start_with(&["--test-clock"]);
    let (_owner, admin, viewer, _other) = make_space(&server);
    let add = |body: Value| admin.post("/v1/brain/management/add_space_token", body);
    let reader = add(json!({"scope": "read", "name": "reader"}));
    assert_eq!(reader.status, 200, "{}", reader.text);
    let reader_secret = reader.body["result"]["token"].as_str().unwrap().to_string();
    assert!(reader_secret.starts_with("ST"), "{reader_secret}");
    let writer = add(json!({"scope": "write", "name": "writer"}));
    let writer_secret = writer.body["result"]["token"].as_str().unwrap().to_string();
    // The test clock starts at the real time: an hour from now.
    let in_an_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 3_600_000;
    let soon = add(json!({"scope": "*", "name": "soon", "expires_at": in_an_hour}));
    assert_eq!(soon.status, 200, "{}", soon.text);
    let soon_secret = soon.body["result"]["token"].as_str().unwrap().to_string();

    for (body, path) in [
        (json!({"scope": "admin", "name": "x"}), json!(["scope"])),
        (json!({"scope": "read", "name": ""}), json!(["name"])),
        (json!({"scope": "read"}), json!([])),
        (
            json!({"scope": "read", "name": "past", "expires_at": 1}),
            json!(["expires_at"]),
        ),
    ] {
        let r = add(body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(issue_path(&r), path, "{body}: {}", r.text);
    }
    assert_eq!(
        viewer
            .post(
                "/v1/brain/management/add_space_token",
                json!({"scope": "read", "name": "v"})
            )
            .status,
        401,
        "memory.read cannot mint tokens"
    );

    let as_reader = server.with_key(&reader_secret);
    assert_eq!(as_reader.get("/v1/brain/info").status, 200);
    assert_eq!(as_reader.get("/v1/brain/info").status, 200);
    let as_writer = server.with_key(&writer_secret);
    assert_eq!(
        as_writer.get("/v1/brain/info").status,
        401,
        "a write token does not read (scopes must match, or be *)"
    );
    let as_all = server.with_key(&soon_secret);
    assert_eq!(as_all.get("/v1/brain/info").status, 200);
    let r = as_all.get("/v1/brain/management/space_tokens");
    assert_eq!(
        r.status, 401,
        "a space token cannot manage tokens: {}",
        r.text
    );

    let listed = admin.get("/v1/brain/management/space_tokens");
    assert_eq!(listed.status, 200, "{}", listed.text);
    let tokens = listed.body["result"].as_array().unwrap();
    assert_eq!(tokens.len(), 3);
    assert!(
        !listed.text.contains(&reader_secret[2..]),
        "secrets are never listed: {}",
        listed.text
    );
    let reader_listed = tokens.iter().find(|t| t["name"] == "reader").unwrap();
    assert_eq!(reader_listed["usage"], 2);
    assert_eq!(reader_listed["scope"], "read");

    // Past its expiry the `*` token is refused (the test clock moves two hours).
    server.advance_clock(2 * 3_600_000);
    assert_eq!(as_all.get("/v1/brain/info").status, 401);

    // Revoked by its listed form, the reader token stops working; a second revoke is
    // false; the writer is revoked by its secret.
    let listed_form = reader_listed["token"].as_str().unwrap();
    let r = admin.post(
        "/v1/brain/management/revoke_space_token",
        json!({"token": listed_form}),
    );
    assert_eq!(r.body["result"], true, "{}", r.text);
    assert_eq!(as_reader.get("/v1/brain/info").status, 401);
    let r = admin.post(
        "/v1/brain/management/revoke_space_token",
        json!({"token": listed_form}),
    );
    assert_eq!(r.body["result"], false, "{}", r.text);
    let r = admin.post(
        "/v1/brain/management/revoke_space_token",
        json!({"token": writer_secret}),
    );
    assert_eq!(r.body["result"], true, "{}", r.text);
}

/// `get_or_init_user` makes a principal's Person once and then finds it as it is; it needs
/// write access; KIP then sees the Person.
#[test]
fn get_or_init_user_makes_a_person_once() {
    let server = Server::start();
    let (_owner, admin, viewer, _other) = make_space(&server);
    let made = admin.post(
        "/v1/brain/get_or_init_user",
        json!({"user": "user_42", "name": "Ada"}),
    );
    assert_eq!(made.status, 200, "{}", made.text);
    let person = &made.body["result"];
    assert_eq!(person["type"], "Person");
    assert_eq!(person["name"], "user_42");
    assert_eq!(person["attributes"]["person_class"], "Human");
    assert_eq!(person["attributes"]["display_name"], "Ada");
    let again = admin.post(
        "/v1/brain/get_or_init_user",
        json!({"user": "user_42", "name": "Someone else"}),
    );
    assert_eq!(again.body["result"]["id"], person["id"], "{}", again.text);
    assert_eq!(again.body["result"]["attributes"]["display_name"], "Ada");
    for (body, path) in [
        (json!({"user": ""}), json!(["user"])),
        (json!({"user": "$self"}), json!(["user"])),
        (json!({"name": "x"}), json!([])),
    ] {
        let r = admin.post("/v1/brain/get_or_init_user", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(issue_path(&r), path, "{body}: {}", r.text);
    }
    let r = viewer.post("/v1/brain/get_or_init_user", json!({"user": "u"}));
    assert_eq!(r.status, 401, "memory.read does not write: {}", r.text);
    let found = viewer.post(
        "/v1/brain/execute_kip_readonly",
        json!({"command": "FIND(?p.attributes.display_name) WHERE { ?p {type: \"Person\", name: \"user_42\"} }"}),
    );
    assert_eq!(found.body["result"], json!(["Ada"]), "{}", found.text);
}

/// Formation without a model: the conversation is stored and its id answered at once; a
/// background job files it as an Event involving its participants, which KIP then finds;
/// conversations page newest first and give their deltas; bad input names the field.
#[test]
fn formation_files_conversations_as_events() {
    let server = Server::start();
    let (_owner, admin, _viewer, _other) = make_space(&server);
    let reader = admin.post(
        "/v1/brain/management/add_space_token",
        json!({"scope": "read", "name": "reader"}),
    );
    let reader = server.with_key(reader.body["result"]["token"].as_str().unwrap());
    let writer = admin.post(
        "/v1/brain/management/add_space_token",
        json!({"scope": "write", "name": "writer"}),
    );
    let writer = server.with_key(writer.body["result"]["token"].as_str().unwrap());

    let conversation = |text: &str, at: &str| {
        json!({
            "messages": [
                {"role": "user", "user": "alice", "content": text},
                {"role": "assistant", "content": [{"type": "text", "text": "Noted."}]}
            ],
            "context": {"counterparty": "alice", "topic": "travel"},
            "timestamp": at
        })
    };
    let first = writer.post(
        "/v1/brain/formation",
        conversation(
            "I moved to Lisbon last spring and I prefer window seats",
            "2026-03-05T10:00:00+01:00",
        ),
    );
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["result"]["conversation"], 1);
    assert!(first.body["result"]["content"].is_string());
    for (i, text) in [
        "My sister Maria lives in Porto",
        "Book the dentist for Friday",
    ]
    .iter()
    .enumerate()
    {
        let r = admin.post(
            "/v1/brain/formation",
            conversation(text, "2026-03-06T09:00:00Z"),
        );
        assert_eq!(r.body["result"]["conversation"], i as i64 + 2, "{}", r.text);
    }
    let r = reader.post(
        "/v1/brain/formation",
        conversation("x", "2026-03-06T09:00:00Z"),
    );
    assert_eq!(r.status, 401, "a read token does not form: {}", r.text);

    for (body, path) in [
        (
            json!({"messages": [], "timestamp": "2026-03-06T09:00:00Z"}),
            json!(["messages"]),
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            json!([]),
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "timestamp": "yesterday"}),
            json!(["timestamp"]),
        ),
        (
            json!({"messages": [{"role": "user", "content": ""}], "timestamp": "2026-03-06T09:00:00Z"}),
            json!(["messages", 0, "content"]),
        ),
        (
            json!({"messages": [{"role": "", "content": "hi"}], "timestamp": "2026-03-06T09:00:00Z"}),
            json!(["messages", 0, "role"]),
        ),
        (
            json!({"messages": "hi", "timestamp": "2026-03-06T09:00:00Z"}),
            json!(["messages"]),
        ),
    ] {
        let r = admin.post("/v1/brain/formation", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(issue_path(&r), path, "{body}: {}", r.text);
    }

    wait_for("three formed conversations", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == 3
    });
    let status = reader.get("/v1/brain/formation_status").body;
    assert_eq!(status["result"]["conversations"], 3, "{status}");
    assert_eq!(status["result"]["formation_processing"], false);

    // The Event: its class, its start in UTC, its summary, the participant it involves.
    let event = reader.post(
        "/v1/brain/execute_kip_readonly",
        json!({"command": "FIND(?e.name, ?e.attributes.start_time, ?p.name) WHERE { ?e {type: \"Event\"} (?e, \"involves\", ?p) FILTER(CONTAINS(?e.attributes.content_summary, \"Lisbon\")) }"}),
    );
    assert_eq!(
        event.body["result"],
        json!([
            [["Conversation:2026-03-05:1", "2026-03-05T09:00:00.000Z"]],
            ["alice"]
        ]),
        "{}",
        event.text
    );
    let found = reader.post(
        "/v1/brain/execute_kip_readonly",
        json!({"command": "SEARCH CONCEPT \"Porto\" LIMIT 5"}),
    );
    assert!(
        found.text.contains("Conversation:2026-03-06:2"),
        "{}",
        found.text
    );

    // Conversations: newest first, by cursor; one; its delta; refusals.
    let page = reader.get("/v1/brain/conversations?limit=2");
    assert_eq!(page.status, 200, "{}", page.text);
    let ids: Vec<i64> = page.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [3, 2]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = reader.get(&format!("/v1/brain/conversations?limit=2&cursor={cursor}"));
    assert_eq!(rest.body["result"][0]["_id"], 1, "{}", rest.text);
    assert!(rest.body.get("next_cursor").is_none(), "{}", rest.text);
    let one = reader.get("/v1/brain/conversations/1");
    assert_eq!(one.body["result"]["status"], "completed", "{}", one.text);
    assert_eq!(one.body["result"]["messages"][0]["user"], "alice");
    assert_eq!(
        one.body["result"]["artifacts"][0]["name"],
        "Conversation:2026-03-05:1"
    );
    let delta = reader.get("/v1/brain/conversations/1/delta?messages_offset=1");
    assert_eq!(
        delta.body["result"]["messages"].as_array().map(Vec::len),
        Some(1),
        "{}",
        delta.text
    );
    assert_eq!(delta.body["result"]["status"], "completed");
    for path in [
        "/v1/brain/conversations?limit=0",
        "/v1/brain/conversations?limit=abc",
        "/v1/brain/conversations?collection=secrets",
        "/v1/brain/conversations?bogus=1",
        "/v1/brain/conversations/x",
        "/v1/brain/conversations/1/delta?messages_offset=-1",
    ] {
        let r = reader.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.text);
    }
    assert_eq!(reader.get("/v1/brain/conversations/99").status, 404);
    assert_eq!(
        reader.get("/v1/brain/conversations?collection=recall").body["result"],
        json!([])
    );
}

/// Recall without a model: after formation, a question is answered from the graph with
/// the lines that hold its words, their date and source, within the budget; a question
/// nothing matches says so; each recall is kept in the `recall` collection; a public
/// space recalls for anyone, a private one needs read access.
#[test]
fn recall_answers_from_formed_conversations() {
    let server = Server::start();
    let (_owner, admin, viewer, other) = make_space(&server);
    let conversations = [
        (
            "alice",
            "I moved to Lisbon last spring",
            "2026-03-05T10:00:00Z",
        ),
        (
            "alice",
            "My sister Maria lives in Porto and loves surfing",
            "2026-03-06T10:00:00Z",
        ),
        (
            "bob",
            "I switched from tea to coffee this year",
            "2026-03-07T10:00:00Z",
        ),
    ];
    for (who, text, at) in conversations {
        let r = admin.post(
            "/v1/brain/formation",
            json!({"messages": [
                {"role": "user", "user": who, "content": "Good morning"},
                {"role": "user", "user": who, "content": text},
                {"role": "assistant", "content": "Thanks for telling me."}
            ], "timestamp": at}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    wait_for("three formed conversations", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == 3
    });

    let recall = |c: &Client, body: Value| c.post("/v1/brain/recall", body);
    let r = recall(&viewer, json!({"query": "Where does Maria live?"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let content = r.body["result"]["content"].as_str().unwrap();
    assert!(content.contains("Porto"), "{content}");
    assert!(
        content.contains("2026-03-06") && content.contains("conversation 2"),
        "{content}"
    );
    assert!(
        content.find("Porto") < content.find("Lisbon").or(Some(usize::MAX)),
        "the best match comes first: {content}"
    );
    assert!(r.body["result"]["conversation"].as_i64().is_some());

    let r = recall(&admin, json!({"query": "coffee", "max_chars": 120}));
    let content = r.body["result"]["content"].as_str().unwrap();
    assert!(content.contains("coffee"), "{content}");
    assert!(content.chars().count() <= 120, "{content}");

    let r = recall(&admin, json!({"query": "kangaroo"}));
    assert!(
        r.body["result"]["content"]
            .as_str()
            .unwrap()
            .contains("Nothing"),
        "{}",
        r.text
    );
    for (body, path) in [
        (json!({"query": ""}), json!(["query"])),
        (json!({"query": "x", "max_chars": 5}), json!(["max_chars"])),
        (json!({"question": "x"}), json!(["question"])),
    ] {
        let r = recall(&admin, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(issue_path(&r), path, "{body}: {}", r.text);
    }
    assert_eq!(recall(&other, json!({"query": "Porto"})).status, 401);
    assert_eq!(
        recall(&server.anon(), json!({"query": "Porto"})).status,
        401
    );
    let kept = admin.get("/v1/brain/conversations?collection=recall&limit=100");
    assert_eq!(
        kept.body["result"].as_array().map(Vec::len),
        Some(3),
        "{}",
        kept.text
    );
    assert_eq!(kept.body["result"][0]["messages"][0]["content"], "kangaroo");

    admin.patch("/v1/brain/management/update_space", json!({"public": true}));
    let r = recall(&server.anon(), json!({"query": "Lisbon"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Lisbon"), "{}", r.text);
}

/// A server killed with formations queued loses none and forms none twice: after the
/// restart every conversation is formed, each into one Event. `restart_formation` queues
/// an unformed conversation again and refuses a formed or unknown one.
#[test]
fn formation_survives_a_kill_and_restarts_on_demand() {
    let dir = crate::support::temp_dir("memory-restart");
    let server = Server::start_in(dir.to_path_buf(), &[]);
    let (key, admin) = brain_with_key(&server);
    let n = 30;
    for i in 0..n {
        let r = admin.post(
            "/v1/brain/formation",
            json!({"messages": [{"role": "user", "user": format!("u{}", i % 3), "content": format!("fact number {i}")}],
                   "timestamp": "2026-03-05T10:00:00Z"}),
        );
        assert_eq!(r.body["result"]["conversation"], i + 1, "{}", r.text);
    }
    drop(server); // SIGKILL, whatever it was doing

    let server = Server::start_in(dir.to_path_buf(), &[]);
    let admin = server.with_key(&key);
    wait_for("every conversation formed after the restart", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == n
    });
    let page = admin.get("/v1/brain/conversations?limit=100");
    let statuses: Vec<&str> = page.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["completed"; n as usize], "{}", page.text);
    let events = admin.post(
        "/v1/brain/execute_kip_readonly",
        json!({"command": "FIND(COUNT(?e)) WHERE { ?e {type: \"Event\"} }"}),
    );
    assert_eq!(
        events.body["result"],
        json!(n),
        "one Event each: {}",
        events.text
    );

    let restart = |body: Value| admin.patch("/v1/brain/management/restart_formation", body);
    let r = restart(json!({"conversation": 1}));
    assert_eq!(r.status, 400, "a formed conversation: {}", r.text);
    assert_eq!(issue_path(&r), json!(["conversation"]));
    assert_eq!(restart(json!({"conversation": 999})).status, 400);
    assert_eq!(restart(json!({"conversation": "one"})).status, 400);
}

/// A request in any of seed 003's formats, answered in the one `accept` names.
fn raw_request(
    server: &Server,
    key: &str,
    method: &str,
    path: &str,
    content_type: &str,
    accept: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let req = ureq::request(method, &format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {key}"))
        .set("Content-Type", content_type)
        .set("Accept", accept);
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{path}: {e}"),
    };
    let (status, ct) = (resp.status(), resp.content_type().to_string());
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).unwrap();
    (status, ct, bytes)
}

/// Seed 003's content negotiation: bodies in JSON, CBOR or Markdown (plain text for
/// formation and recall), answers by `Accept` in JSON, CBOR or Markdown (formation and
/// recall: only their content); `/info` and `/` for agents.
#[test]
fn bodies_and_answers_in_json_cbor_and_markdown() {
    let server = Server::start();
    let (key, admin) = brain_with_key(&server);

    // CBOR in, CBOR out.
    let mut cbor = Vec::new();
    ciborium::into_writer(
        &json!({"messages": [{"role": "user", "user": "zoe", "content": "I collect vintage synthesizers"}], "timestamp": "2026-03-05T10:00:00Z"}),
        &mut cbor,
    )
    .unwrap();
    let (status, ct, bytes) = raw_request(
        &server,
        &key,
        "POST",
        "/v1/brain/formation",
        "application/cbor",
        "application/cbor",
        &cbor,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(ct, "application/cbor");
    let answer: Value = ciborium::from_reader(bytes.as_slice()).unwrap();
    assert_eq!(answer["result"]["conversation"], 1, "{answer}");

    // Plain Markdown text is a conversation, answered with its content alone.
    let (status, ct, bytes) = raw_request(
        &server,
        &key,
        "POST",
        "/v1/brain/formation",
        "text/markdown",
        "text/markdown",
        b"My cat is called Miso",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(ct, "text/markdown");
    assert!(
        String::from_utf8_lossy(&bytes).contains("Conversation 2"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    wait_for("both formed", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == 2
    });

    let (status, _, bytes) = raw_request(
        &server,
        &key,
        "POST",
        "/v1/brain/recall",
        "text/markdown",
        "text/markdown",
        b"synthesizers",
    );
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("vintage synthesizers") && !text.starts_with('{'),
        "{text}"
    );
    let (status, _, bytes) = raw_request(
        &server,
        &key,
        "POST",
        "/v1/brain/recall",
        "application/json",
        "application/json",
        br#"{"query": "Miso"}"#,
    );
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        v["result"]["content"].as_str().unwrap().contains("Miso"),
        "{v}"
    );

    // Markdown answers of other routes: pretty JSON of the result.
    let (status, _, bytes) = raw_request(
        &server,
        &key,
        "GET",
        "/v1/brain/info",
        "application/json",
        "text/markdown",
        b"",
    );
    assert_eq!(status, 200);
    let info: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(info["id"], "brain");

    // Bad bodies in each format name what is wrong.
    let (status, _, _) = raw_request(
        &server,
        &key,
        "POST",
        "/v1/brain/formation",
        "application/cbor",
        "application/json",
        b"\xff\x00",
    );
    assert_eq!(status, 400);
    let (status, _, bytes) = raw_request(
        &server,
        &key,
        "POST",
        "/v1/brain/get_or_init_user",
        "text/markdown",
        "application/json",
        b"just words",
    );
    assert_eq!(
        status,
        400,
        "only formation and recall take plain text: {}",
        String::from_utf8_lossy(&bytes)
    );

    // The service's own pages for agents.
    let info = server.anon().get("/info");
    assert_eq!(info.body["name"], "andibase", "{}", info.text);
    assert!(info.body["version"].is_string());
    let home = server.anon().header("Accept", "text/markdown").get("/");
    assert_eq!(home.status, 200);
    assert!(
        home.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.starts_with("text/markdown")),
        "{:?}",
        home.headers
    );
    let browser = server
        .anon()
        .header("Accept", "text/html,application/xhtml+xml")
        .get("/");
    assert!(
        browser.text.contains("<html") || browser.status == 303 || browser.status == 307,
        "{}",
        browser.status
    );
}

/// A CWT as the reference mints them: claims (sub, aud, exp, scope at key 9) in a
/// COSE_Sign1 signed with Ed25519, tagged, base64url.
fn cwt(
    key: &ed25519_dalek::SigningKey,
    sub: &str,
    aud: &str,
    scope: &str,
    exp_secs: i64,
) -> String {
    use base64::Engine as _;
    use coset::{cwt, iana, CborSerializable, TaggedCborSerializable};
    use ed25519_dalek::Signer as _;
    let claims = cwt::ClaimsSetBuilder::new()
        .subject(sub.into())
        .audience(aud.into())
        .expiration_time(cwt::Timestamp::WholeSeconds(exp_secs))
        .claim(
            iana::CwtClaimName::Scope,
            coset::cbor::value::Value::Text(scope.into()),
        )
        .build();
    let sign1 = coset::CoseSign1Builder::new()
        .protected(
            coset::HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .build(),
        )
        .payload(claims.to_vec().unwrap())
        .create_signature(b"", |data| key.sign(data).to_bytes().to_vec())
        .build();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sign1.to_tagged_vec().unwrap())
}

/// CWT bearer tokens: accepted when a configured key signed them, for their space (or
/// `*`) and scope, until they expire; a platform admin's creates spaces for a workspace;
/// management takes a CWT too; forged, expired, wrong-audience and wrong-scope tokens
/// are 401s. Without configured keys CWT is off.
#[test]
fn cwt_tokens_by_signature_audience_scope_and_expiry() {
    use base64::Engine as _;
    let signer = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let public =
        base64::engine::general_purpose::STANDARD.encode(signer.verifying_key().to_bytes());
    let server = Server::start_with(&["--ed25519-pubkeys", &public, "--memory-managers", "boss"]);
    let (owner, ws) = server.setup_admin();
    let admin_key = server.with_key(&owner.create_key(&ws, "admin"));
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 3600;
    let as_cwt = |sub: &str, aud: &str, scope: &str, exp: i64| {
        server.with_key(&cwt(&signer, sub, aud, scope, exp))
    };

    // A platform admin creates a space for a workspace; a non-admin CWT cannot.
    let boss = as_cwt("boss", "*", "*", later);
    let made = boss.post(
        "/admin/create_space",
        json!({"space_id": "brain", "workspace": ws}),
    );
    assert_eq!(made.status, 200, "{}", made.text);
    let r = as_cwt("nobody", "*", "*", later).post(
        "/admin/create_space",
        json!({"space_id": "b2", "workspace": ws}),
    );
    assert_eq!(r.status, 401, "{}", r.text);
    let r = boss.post(
        "/admin/create_space",
        json!({"space_id": "b3", "workspace": "nowhere"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        admin_key.get("/v1/brain/info").status,
        200,
        "the workspace owns it"
    );

    assert_eq!(
        as_cwt("u", "brain", "read", later)
            .get("/v1/brain/info")
            .status,
        200
    );
    assert_eq!(
        as_cwt("u", "*", "read", later).get("/v1/brain/info").status,
        200
    );
    assert_eq!(
        as_cwt("u", "other", "read", later)
            .get("/v1/brain/info")
            .status,
        401,
        "wrong audience"
    );
    assert_eq!(
        as_cwt("u", "brain", "write", later)
            .get("/v1/brain/info")
            .status,
        401,
        "wrong scope"
    );
    assert_eq!(
        as_cwt("u", "brain", "read", 1_000)
            .get("/v1/brain/info")
            .status,
        401,
        "expired"
    );
    let forger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    assert_eq!(
        server
            .with_key(&cwt(&forger, "u", "brain", "*", later))
            .get("/v1/brain/info")
            .status,
        401,
        "signed by a key nobody configured"
    );
    let tampered = {
        let mut t = cwt(&signer, "u", "brain", "read", later);
        t.replace_range(40..41, if &t[40..41] == "A" { "B" } else { "A" });
        t
    };
    assert_eq!(server.with_key(&tampered).get("/v1/brain/info").status, 401);

    // Management takes a CWT with write: tokens are minted with it.
    let writer = as_cwt("u", "brain", "write", later);
    let minted = writer.post(
        "/v1/brain/management/add_space_token",
        json!({"scope": "read", "name": "via cwt"}),
    );
    assert_eq!(minted.status, 200, "{}", minted.text);
    assert_eq!(
        as_cwt("u", "brain", "read", later)
            .post(
                "/v1/brain/management/add_space_token",
                json!({"scope": "read", "name": "x"})
            )
            .status,
        401
    );

    // Without keys, a CWT is just an unknown token.
    let plain = Server::start();
    let (o2, w2) = plain.setup_admin();
    plain
        .with_key(&o2.create_key(&w2, "admin"))
        .post("/admin/create_space", json!({"space_id": "brain"}));
    assert_eq!(
        plain
            .with_key(&cwt(&signer, "u", "brain", "read", later))
            .get("/v1/brain/info")
            .status,
        401
    );
}

/// BYOK: a space's model configuration is stored sealed (the key is nowhere in the
/// database files) and shown with its key masked; only managers set or read it. A
/// platform admin's CWT changes a space's tier; nobody else can.
#[test]
fn byok_is_sealed_and_tiers_are_for_platform_admins() {
    use base64::Engine as _;
    let signer = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let public =
        base64::engine::general_purpose::STANDARD.encode(signer.verifying_key().to_bytes());
    let server = Server::start_with(&["--ed25519-pubkeys", &public, "--memory-managers", "boss"]);
    let (_key, admin) = brain_with_key(&server);
    let secret = "sk-live-0123456789abcdefWXYZ";
    let config = json!({"family": "openai", "model": "gpt-test", "api_base": "https://models.example/v1", "api_key": secret, "disabled": false});
    let r = admin.patch("/v1/brain/management/space_byok", config.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    let shown = admin.get("/v1/brain/management/space_byok");
    assert_eq!(shown.body["result"]["model"], "gpt-test", "{}", shown.text);
    assert_eq!(shown.body["result"]["api_key"], "…WXYZ");
    assert!(!shown.text.contains(secret));
    assert!(
        !server.stores_in_the_clear(secret),
        "the key is kept in the clear"
    );
    let mut bad = config.clone();
    bad["api_base"] = json!("ftp://x");
    let r = admin.patch("/v1/brain/management/space_byok", bad);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(issue_path(&r), json!(["api_base"]));

    // Disabled, the space's model is kept but not used: formation below is model-free.
    let mut disabled = config.clone();
    disabled["disabled"] = json!(true);
    let r = admin.patch("/v1/brain/management/space_byok", disabled);
    assert_eq!(r.status, 200, "{}", r.text);

    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 3600;
    let boss = server.with_key(&cwt(&signer, "boss", "*", "write", later));
    // Tier 0 allows 100 concepts: fill the space past that (Genesis holds some), and
    // formation is refused, saying why, until the tier is raised.
    let hello = json!({"messages": [{"role": "user", "content": "hello"}], "timestamp": "2026-03-05T10:00:00Z"});
    let concepts = admin.get("/v1/brain/info").body["result"]["concepts"]
        .as_i64()
        .unwrap();
    for i in 0..(100 - concepts).max(0) {
        let mut one = hello.clone();
        one["messages"][0]["user"] = json!(format!("person{i}"));
        assert_eq!(admin.post("/v1/brain/formation", one).status, 200);
    }
    wait_for("the space past 100 concepts", || {
        admin.get("/v1/brain/info").body["result"]["concepts"]
            .as_i64()
            .unwrap()
            >= 100
    });
    let r = boss.post("/admin/brain/update_space_tier", json!({"tier": 0}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"]["tier"], 0);
    assert_eq!(
        admin.get("/v1/brain/info").body["result"]["tier"]["tier"],
        0
    );
    let r = admin.post("/v1/brain/formation", hello.clone());
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("tier 0"), "{}", r.text);
    assert_eq!(
        boss.post("/admin/brain/update_space_tier", json!({"tier": 2}))
            .status,
        200
    );
    assert_eq!(admin.post("/v1/brain/formation", hello).status, 200);
    assert_eq!(
        admin
            .post("/admin/brain/update_space_tier", json!({"tier": 9}))
            .status,
        401
    );
    let user = server.with_key(&cwt(&signer, "someone", "*", "write", later));
    assert_eq!(
        user.post("/admin/brain/update_space_tier", json!({"tier": 9}))
            .status,
        401
    );
    assert_eq!(
        boss.post("/admin/brain/update_space_tier", json!({"tier": 99}))
            .status,
        400
    );
    assert_eq!(
        boss.post("/admin/nowhere/update_space_tier", json!({"tier": 1}))
            .status,
        404
    );
}

/// Every file under `dir`.
/// Maintenance without a model: queued and run on its own; stale pending Events are
/// archived, expired archived ones deleted; the scope's watermark moves to the formation
/// high-water mark; its report is its conversation; bad input names the field; after 21
/// formations a daydream runs by itself.
#[test]
fn maintenance_archives_deletes_and_keeps_watermarks() {
    let server = Server::start();
    let (_key, admin) = brain_with_key(&server);
    let form = |i: usize, at: &str| {
        let r = admin.post(
            "/v1/brain/formation",
            json!({"messages": [{"role": "user", "user": "ann", "content": format!("note {i}")}], "timestamp": at}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    };
    for i in 0..3 {
        form(i, "2026-01-01T10:00:00Z");
    }
    form(3, "2026-02-25T10:00:00Z");
    wait_for("four formed", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == 4
    });
    let events = |filter: &str| {
        admin
            .post(
                "/v1/brain/execute_kip_readonly",
                json!({"command": format!("FIND(COUNT(?e)) WHERE {{ ?e {{type: \"Event\"}} FILTER(?e.attributes.consolidation_status == \"{filter}\") }}")}),
            )
            .body["result"]
            .clone()
    };
    let run = |body: Value| {
        let r = admin.post("/v1/brain/maintenance", body);
        assert_eq!(r.status, 200, "{}", r.text);
        let id = r.body["result"]["conversation"].as_i64().unwrap();
        wait_for("the maintenance done", || {
            admin
                .get(&format!(
                    "/v1/brain/conversations/{id}?collection=maintenance"
                ))
                .body["result"]["status"]
                == "completed"
        });
        admin
            .get(&format!(
                "/v1/brain/conversations/{id}?collection=maintenance"
            ))
            .body["result"]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let report = run(json!({"timestamp": "2026-03-01T00:00:00Z", "scope": "quick"}));
    assert!(report.contains("stale Events archived: 3"), "{report}");
    assert_eq!(events("archived"), json!(3));
    assert_eq!(events("pending"), json!(1));
    let info = admin.get("/v1/brain/info").body;
    assert_eq!(info["result"]["maintenance_at"]["quick"], 4, "{info}");
    assert_eq!(info["result"]["maintenance_processed_id"], 4);

    // 90 days after the first three, they have expired: deleted.
    let report = run(
        json!({"timestamp": "2026-04-15T00:00:00Z", "parameters": {"stale_event_threshold_days": 365}}),
    );
    assert!(
        report.contains("expired archived Events deleted: 3"),
        "{report}"
    );
    assert_eq!(events("archived"), json!(0));
    assert_eq!(
        events("pending"),
        json!(1),
        "not stale under a 365-day threshold"
    );

    for (body, path) in [
        (
            json!({"timestamp": "2026-03-01T00:00:00Z", "scope": "weekly"}),
            json!(["scope"]),
        ),
        (json!({"timestamp": "soon"}), json!(["timestamp"])),
        (
            json!({"timestamp": "2026-03-01T00:00:00Z", "parameters": {"confidence_decay_factor": 2}}),
            json!(["parameters"]),
        ),
        (
            json!({"timestamp": "2026-03-01T00:00:00Z", "parameters": {"bogus": 1}}),
            json!(["parameters", "bogus"]),
        ),
    ] {
        let r = admin.post("/v1/brain/maintenance", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(issue_path(&r), path, "{body}: {}", r.text);
    }

    // The schedule: 21 formed conversations past the watermarks start a daydream.
    for i in 0..21 {
        form(100 + i, "2026-03-02T10:00:00Z");
    }
    wait_for("a daydream started by formation", || {
        admin
            .get("/v1/brain/conversations?collection=maintenance&limit=100")
            .body["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["user"] == "$system")
    });
}

/// The console's memory pages: the workspace's spaces; a space's conversations and graph,
/// its concepts by type, one concept with its links and their provenance; another
/// workspace's space is not found.
#[test]
fn the_console_browses_a_space() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    admin.post(
        "/admin/create_space",
        json!({"space_id": "brain", "name": "Team brain"}),
    );
    let r = admin.post(
        "/v1/brain/formation",
        json!({"messages": [{"role": "user", "user": "alice", "content": "I moved to Lisbon"}], "timestamp": "2026-03-05T10:00:00Z"}),
    );
    assert_eq!(r.status, 200);
    wait_for("formed", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == 1
    });

    let list = owner.get(&format!("/w/{ws}/memory"));
    assert_eq!(list.status, 200);
    assert!(
        list.text.contains("id=\"spaces\"") && list.text.contains("/memory/brain"),
        "{}",
        list.text
    );
    let page = owner.get(&format!("/w/{ws}/memory/brain"));
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("Team brain") && page.text.contains("I moved to Lisbon"),
        "{}",
        page.text
    );
    assert!(page.text.contains("?type=Event"), "{}", page.text);
    let events = owner.get(&format!("/w/{ws}/memory/brain?type=Event"));
    assert!(
        events.text.contains("Conversation:2026-03-05:1"),
        "{}",
        events.text
    );
    let id = admin
        .post(
            "/v1/brain/execute_kip_readonly",
            json!({"command": "FIND(?e) WHERE { ?e {type: \"Event\"} }"}),
        )
        .body["result"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let concept = owner.get(&format!("/w/{ws}/memory/brain?concept={id}"));
    assert!(
        concept.text.contains("id=\"links-out\""),
        "{}",
        concept.text
    );
    assert!(
        concept.text.contains("involves") && concept.text.contains("source: formation"),
        "{}",
        concept.text
    );
    assert!(
        concept.text.contains("I moved to Lisbon"),
        "attributes shown"
    );

    let r = owner.post("/api/v1/workspaces", json!({"name": "Other"}));
    assert_eq!(r.status, 201);
    assert_eq!(
        owner.get("/w/other/memory/brain").status,
        404,
        "another workspace's space"
    );
    assert!(owner
        .get("/w/other/memory")
        .text
        .contains("id=\"no-spaces\""));
}

/// A space's graph is closed once unused for `--memory-idle-seconds`, and opens again on
/// the next use with everything in it.
#[test]
fn idle_spaces_are_closed_and_reopen_on_use() {
    let server = Server::start_with(&["--memory-idle-seconds", "1"]);
    let (_key, admin) = brain_with_key(&server);
    let open_graphs = || {
        let metrics = server.anon().get("/metrics").text;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("andibase_memory_open_graphs "))
            .expect("the gauge is exported")
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let r = admin.post(
        "/v1/brain/get_or_init_user",
        json!({"user": "alice", "name": "Alice"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(open_graphs(), 1);
    wait_for("the idle space closing", || open_graphs() == 0);
    let r = admin.post(
        "/v1/brain/execute_kip_readonly",
        json!({"command": "FIND(?p.attributes.display_name) WHERE { ?p {type: \"Person\", name: \"alice\"} }"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"], json!(["Alice"]), "{}", r.text);
    assert_eq!(open_graphs(), 1);
}

/// Every route of seed 003 takes its body and gives its answer in each of the three
/// formats, and the JSON and CBOR answers are the same value.
#[test]
fn every_route_speaks_json_cbor_and_markdown() {
    let server = Server::start();
    let (key, admin) = brain_with_key(&server);
    let r = admin.post(
        "/v1/brain/formation",
        json!({"messages": [{"role": "user", "user": "zoe", "content": "hello there"}], "timestamp": "2026-03-05T10:00:00Z"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    wait_for("formed", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == 1
    });
    let encode = |format: &str, body: &Value| -> Vec<u8> {
        match format {
            "application/cbor" => {
                let mut out = Vec::new();
                ciborium::into_writer(body, &mut out).unwrap();
                out
            }
            _ => body.to_string().into_bytes(),
        }
    };
    let decode = |format: &str, bytes: &[u8]| -> Value {
        match format {
            "application/cbor" => ciborium::from_reader(bytes).unwrap(),
            "application/json" => serde_json::from_slice(bytes).unwrap(),
            // Markdown: a string result as it is, anything else as pretty JSON.
            _ => {
                let text = String::from_utf8(bytes.to_vec()).unwrap();
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
        }
    };
    for format in ["application/json", "application/cbor", "text/markdown"] {
        let tag = format.rsplit('/').next().unwrap();
        let token = admin.post(
            "/v1/brain/management/add_space_token",
            json!({"scope": "read", "name": format!("revoke-{tag}")}),
        );
        let token = token.body["result"]["token"].as_str().unwrap().to_string();
        let routes: Vec<(&str, String, Option<Value>, u16)> = vec![
            ("GET", "/v1/brain/info".into(), None, 200),
            ("GET", "/v1/brain/formation_status".into(), None, 200),
            ("GET", "/v1/brain/conversations?limit=5".into(), None, 200),
            ("GET", "/v1/brain/conversations/1".into(), None, 200),
            (
                "GET",
                "/v1/brain/conversations/1/delta?messages_offset=0".into(),
                None,
                200,
            ),
            ("GET", "/v1/brain/management/space_tokens".into(), None, 200),
            ("GET", "/v1/brain/management/space_byok".into(), None, 200),
            (
                "POST",
                "/v1/brain/execute_kip_readonly".into(),
                Some(json!({"command": "DESCRIBE PRIMER"})),
                200,
            ),
            (
                "POST",
                "/v1/brain/get_or_init_user".into(),
                Some(json!({"user": format!("user-{tag}")})),
                200,
            ),
            (
                "POST",
                "/v1/brain/recall".into(),
                Some(json!({"query": "hello"})),
                200,
            ),
            (
                "POST",
                "/v1/brain/maintenance".into(),
                Some(json!({"timestamp": "2026-03-06T00:00:00Z"})),
                200,
            ),
            (
                "POST",
                "/v1/brain/management/add_space_token".into(),
                Some(json!({"scope": "read", "name": tag})),
                200,
            ),
            (
                "POST",
                "/v1/brain/management/revoke_space_token".into(),
                Some(json!({"token": token})),
                200,
            ),
            (
                "PATCH",
                "/v1/brain/management/update_space".into(),
                Some(json!({"name": format!("Brain {tag}")})),
                200,
            ),
            (
                "PATCH",
                "/v1/brain/management/space_byok".into(),
                Some(
                    json!({"family": "openai", "model": "m", "api_base": "https://example.com/v1", "api_key": "sk-secret-WXYZ", "disabled": true}),
                ),
                200,
            ),
            (
                "POST",
                "/admin/create_space".into(),
                Some(json!({"space_id": format!("space-{tag}")})),
                200,
            ),
            // Refusals are JSON in every format.
            (
                "PATCH",
                "/v1/brain/management/restart_formation".into(),
                Some(json!({"conversation": 1})),
                400,
            ),
            (
                "POST",
                "/admin/brain/update_space_tier".into(),
                Some(json!({"tier": 3})),
                401,
            ),
        ];
        for (method, path, body, want) in routes {
            let bytes = body.as_ref().map(|b| encode(format, b)).unwrap_or_default();
            let (status, ct, answer) =
                raw_request(&server, &key, method, &path, format, format, &bytes);
            let shown = String::from_utf8_lossy(&answer).to_string();
            assert_eq!(status, want, "{method} {path} as {format}: {shown}");
            if status != 200 {
                assert!(ct.starts_with("application/json"), "{path}: {ct}");
                let refusal: Value = serde_json::from_slice(&answer).unwrap();
                assert!(refusal["message"].is_string(), "{shown}");
                continue;
            }
            assert!(ct.starts_with(format), "{method} {path}: {ct} for {format}");
            let value = decode(format, &answer);
            assert!(!value.is_null(), "{method} {path} as {format}");
            // (Routes whose answer cannot change between the two asks.)
            if method == "GET"
                && format != "text/markdown"
                && (path.contains("conversations/1") || path.contains("space_byok"))
            {
                let (_, _, as_json) = raw_request(
                    &server,
                    &key,
                    method,
                    &path,
                    "application/json",
                    "application/json",
                    &[],
                );
                assert_eq!(
                    value,
                    serde_json::from_slice::<Value>(&as_json).unwrap(),
                    "{path}: CBOR and JSON differ"
                );
            }
        }
    }
}
