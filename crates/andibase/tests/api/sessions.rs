//! Agent work sessions, their events, the live page and its event stream.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::json;

use crate::support::Server;

#[test]
fn create_post_and_list_events() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "editor");
    let c = server.with_key(&key);

    let s = c.post(
        "/api/session/new",
        json!({"title": "Help user solve task", "message": "Started working"}),
    );
    assert_eq!(s.status, 200, "{}", s.text);
    let id = s.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sess_"));
    assert_eq!(s.body["title"], "Help user solve task");
    assert_eq!(s.body["message"], "Started working");
    assert_eq!(
        s.body["url"],
        format!("{}/w/{ws}/sessions/{id}", server.url)
    );
    assert!(s.body["createdAt"].is_string() && s.body["updatedAt"].is_string());

    let e = c.post(
        &format!("/api/session/{id}/events"),
        json!({"type": "agent.update", "body": {"source": "agent", "message": "Started working"}}),
    );
    assert_eq!(e.status, 200, "{}", e.text);
    assert_eq!(e.body["sessionId"], id.as_str());
    assert_eq!(e.body["type"], "agent.update");
    assert_eq!(
        e.body["body"],
        json!({"source": "agent", "message": "Started working"})
    );
    assert_eq!(e.body["id"].as_str().unwrap().len(), 36);
    assert!(e.body["ts"].as_str().unwrap().ends_with('Z'));
    let e2 = c.post(
        &format!("/api/v1/session/{id}/events"),
        json!({"type": "agent.done", "body": "finished"}),
    );
    assert_eq!(e2.status, 200);

    let list = c.get(&format!("/api/v1/session/{id}/events"));
    assert_eq!(list.status, 200);
    let types: Vec<_> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["session.started", "agent.update", "agent.done"]);
    let after = c.get(&format!(
        "/api/v1/session/{id}/events?after={}",
        e.body["id"].as_str().unwrap()
    ));
    assert_eq!(after.body.as_array().unwrap().len(), 1);
    assert_eq!(c.get("/api/v1/session").body.as_array().unwrap().len(), 1);
    assert_eq!(
        c.get(&format!("/api/v1/session/{id}")).body["title"],
        "Help user solve task"
    );
    c.get("/api/v1/session/sess_nope/events")
        .expect_error(404, "not_found");
    c.post("/api/v1/session/sess_nope/events", json!({"type": "x"}))
        .expect_error(404, "not_found");
    let r = c.post(&format!("/api/v1/session/{id}/events"), json!({"body": {}}));
    assert_eq!(r.body["issues"][0]["path"], json!(["type"]), "{}", r.text);
    let r = c.get(&format!("/api/v1/session/{id}/events?limit=lots"));
    r.expect_error(400, "invalid_request");

    // A viewer key may read the timeline but not write to it.
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    assert_eq!(
        viewer.get(&format!("/api/v1/session/{id}/events")).status,
        200
    );
    let r = viewer.post(
        &format!("/api/v1/session/{id}/events"),
        json!({"type": "x"}),
    );
    r.expect_error(403, "insufficient_permissions");
    assert_eq!(
        r.body["details"]["requiredPermission"],
        "sessionEvents.write"
    );
}

#[test]
fn the_session_url_is_a_live_page() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "editor"));
    let s = c.post("/api/v1/session/new", json!({"title": "Live <b>demo</b>"}));
    let id = s.body["id"].as_str().unwrap().to_string();
    let path = format!("/w/{ws}/sessions/{id}");

    // Not signed in: sent to sign in, coming back afterwards.
    let r = server.anon().get(&path);
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location").unwrap(),
        format!("/sign-in?next={path}")
    );

    let page = owner.get(&path);
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("Live &lt;b&gt;demo&lt;/b&gt;"),
        "titles are escaped"
    );
    assert!(page
        .text
        .contains(&format!("data-stream=\"/w/{ws}/sessions/{id}/stream\"")));

    // The stream delivers events posted after it opened.
    let agent = ureq::AgentBuilder::new()
        .timeout_read(Duration::from_secs(10))
        .build();
    let cookie = owner
        .headers
        .iter()
        .find(|(k, _)| k == "Cookie")
        .unwrap()
        .1
        .clone();
    let resp = agent
        .get(&format!("{}{path}/stream", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap();
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let posted = c.post(
        &format!("/api/v1/session/{id}/events"),
        json!({"type": "agent.update", "body": {"step": 1}}),
    );
    let want = posted.body["id"].as_str().unwrap().to_string();
    let mut reader = BufReader::new(resp.into_reader());
    let mut line = String::new();
    let mut got = false;
    for _ in 0..50 {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.starts_with("data:") && line.contains(&want) && line.contains("\"step\":1") {
            got = true;
            break;
        }
    }
    assert!(got, "the posted event arrived on the stream");
}
