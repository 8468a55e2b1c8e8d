//! Several replicas on one PostgreSQL: what one does, the others see, at once.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{approvals_agent, eventually, Receiver, Server};

/// A replica on a fresh database, and a way to start more on it; `None` (with a line
/// saying why) where no PostgreSQL is reachable. Set the first up before starting more:
/// a replica started on a database without users prints a setup link of its own, which
/// replaces the one before.
fn first_replica(extra: &[&str]) -> Option<(andibase_storage::ScratchDatabase, Server)> {
    let db = andibase_storage::ScratchDatabase::for_test()?;
    let first = Server::replica(db.url(), extra);
    Some((db, first))
}

/// The approvals tests' request, with a timeout and optionally a callback.
fn ask(timeout_seconds: u64, callback: Option<&str>) -> serde_json::Value {
    let mut body = crate::approvals::ask();
    body["timeout"] = json!({"seconds": timeout_seconds});
    if let Some(url) = callback {
        body["callback"] = json!({"url": url});
    }
    body
}

#[test]
fn replicas_share_decisions_revocations_jobs_and_writes() {
    let flags = [
        "--approval-min-timeout-seconds",
        "1",
        "--allow-private-callbacks",
        "--job-sweep-ms",
        "200",
    ];
    let Some((db, a)) = first_replica(&flags) else {
        return;
    };
    let (owner, ws, agent, _) = approvals_agent(&a);
    let (b, c) = (
        Server::replica(db.url(), &flags),
        Server::replica(db.url(), &flags),
    );

    // An approval asked on A, long-polled on A, decided through B: A's poll wakes at once.
    let id = agent.post("/v1/approvals", ask(600, None)).body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let poller = {
        let (agent, id) = (agent.clone(), id.clone());
        std::thread::spawn(move || {
            let r = agent.get(&format!("/v1/approvals/{id}/result?wait=30"));
            (r, Instant::now())
        })
    };
    a.wait_for_subscribers(1);
    let decided = owner.on(&b).post(
        &format!("/api/v1/approvals/{id}/resolve"),
        json!({"optionValue": "approve"}),
    );
    assert_eq!(decided.status, 200, "{}", decided.text);
    let answered = Instant::now();
    let (r, woke) = poller.join().unwrap();
    assert_eq!(r.body["selected_option_value"], "approve", "{}", r.text);
    let lag = woke.saturating_duration_since(answered);
    assert!(
        lag < Duration::from_millis(100),
        "A's long-poll woke {lag:?} after B's decision"
    );

    // Records written through one replica are read through the others.
    let key = owner.create_key(&ws, "editor");
    let writer = b.with_key(&key);
    let s = writer.post("/api/session/new", json!({"title": "Shared"}));
    assert_eq!(s.status, 200, "{}", s.text);
    let sid = s.body["id"].as_str().unwrap().to_string();
    for (i, server) in [&a, &b, &c].into_iter().enumerate() {
        let r = server.with_key(&key).post(
            &format!("/api/v1/session/{sid}/events"),
            json!({"type": "step", "body": i}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for server in [&a, &c] {
        let events = server
            .with_key(&key)
            .get(&format!("/api/v1/session/{sid}/events"));
        assert_eq!(
            events.body.as_array().map(Vec::len),
            Some(3),
            "{}",
            events.text
        );
    }

    // Records written through one replica are read through the others, and a definition
    // changed through one is seen so by the others at once (they cached the old one).
    let admin = owner.create_key(&ws, "admin");
    let r = a.with_key(&admin).post(
        "/api/v1/data-definitions",
        json!({"name": "Tasks", "handle": "tasks", "fields": {"title": {"type": "text"}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = b.with_key(&admin).post(
        "/api/v1/data-definitions/tasks/data/upsert-many",
        json!({"records": [{"id": "t1", "attributes": {"title": "Ship the release"}}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    for server in [&a, &c] {
        let r = server
            .with_key(&admin)
            .get("/api/v1/data-definitions/tasks/query?search=ship");
        assert_eq!(r.body["items"][0]["id"], "t1", "{}", r.text);
    }
    let r = c.with_key(&admin).patch(
        "/api/v1/data-definitions/tasks",
        json!({"fields": {"title": {"type": "text"}, "done": {"type": "boolean"}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = a.with_key(&admin).post(
        "/api/v1/data-definitions/tasks/data/upsert-many",
        json!({"records": [{"id": "t1", "attributes": {"title": "Ship the release", "done": true}}]}),
    );
    assert_eq!(r.status, 200, "A knows the new field: {}", r.text);
    let r = b
        .with_key(&admin)
        .get("/api/v1/data-definitions/tasks/data/t1");
    assert_eq!(r.body["attributes"]["done"], true, "{}", r.text);

    // A key revoked through C is refused by every replica within a second, although each
    // had it cached from a request a moment before.
    let doomed = owner.create_key(&ws, "viewer");
    for server in [&a, &b, &c] {
        assert_eq!(server.with_key(&doomed).get("/api/v1/agents").status, 200);
    }
    let keys = owner
        .on(&c)
        .get(&format!("/api/v1/workspaces/{ws}/api-keys"));
    let doomed_id = keys
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = owner
        .on(&c)
        .delete(&format!("/api/v1/workspaces/{ws}/api-keys/{doomed_id}"));
    assert!(revoked.status < 300, "{}", revoked.text);
    let at = Instant::now();
    for server in [&a, &b, &c] {
        eventually(1, || {
            (server.with_key(&doomed).get("/api/v1/agents").status == 401).then_some(())
        });
    }
    assert!(
        at.elapsed() < Duration::from_secs(1),
        "refused everywhere after {:?}",
        at.elapsed()
    );

    // An approval's expiry, with a callback, runs once across the three replicas, though
    // each of them looks for due jobs.
    let hook = Receiver::start(vec![], 200);
    let id = agent
        .on(&c)
        .post("/v1/approvals", ask(1, Some(&hook.url)))
        .body["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(hook.wait_for(1, 20)[0].1["status"], "expired");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(hook.count(), 1, "the expiry's callback fired once");
    let r = agent.on(&b).get(&format!("/v1/approvals/{id}"));
    assert_eq!(r.body["status"], "expired", "{}", r.text);
    assert_eq!(r.body["result_delivery_status"], "delivered");
}

/// A replica killed with SIGKILL in the middle of a stream of writes loses none that it
/// acknowledged: every one is read back through another replica.
#[test]
fn a_killed_replica_loses_no_acknowledged_write() {
    let Some((db, a)) = first_replica(&[]) else {
        return;
    };
    let (owner, ws) = a.setup_admin();
    let (b, c) = (
        Server::replica(db.url(), &[]),
        Server::replica(db.url(), &[]),
    );
    let key = owner.create_key(&ws, "editor");
    let s = a
        .with_key(&key)
        .post("/api/session/new", json!({"title": "Load"}));
    let sid = s.body["id"].as_str().unwrap().to_string();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let client = b.with_key(&key);
            let sid = sid.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..10_000 {
                    let body = json!({"type": "write", "body": format!("{w}-{i}")});
                    let path = format!("/api/v1/session/{sid}/events");
                    let r = client.try_request("POST", &path, Some(&body.to_string()));
                    let Some(r) = r.ok().filter(|r| r.status == 200) else {
                        break;
                    };
                    acknowledged.push(r.body["id"].as_str().unwrap().to_string());
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    b.kill();
    let acknowledged: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() > 20,
        "the load ran ({} writes)",
        acknowledged.len()
    );
    // Read back through C, a page (of 1,000 at most) at a time.
    let reader = c.with_key(&key);
    let mut stored = std::collections::HashSet::new();
    let mut after = String::new();
    loop {
        let page = reader.get(&format!(
            "/api/v1/session/{sid}/events?limit=1000&after={after}"
        ));
        let page = page.body.as_array().cloned().unwrap_or_default();
        let Some(last) = page.last() else { break };
        after = last["id"].as_str().unwrap().to_string();
        stored.extend(page.iter().map(|e| e["id"].as_str().unwrap().to_string()));
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    drop(a);
}

/// The approvals burst window is counted from the approvals' rows: two replicas share
/// it, so an agent cannot get twice the limit by spreading its requests.
#[test]
fn rate_windows_are_shared_by_replicas() {
    let flags = [
        "--approval-creates-per-minute",
        "2",
        "--agent-login-per-minute",
        "2",
    ];
    let Some((db, a)) = first_replica(&flags) else {
        return;
    };
    let (_owner, _ws, agent, _) = approvals_agent(&a);
    let b = Server::replica(db.url(), &flags);
    assert_eq!(agent.post("/v1/approvals", ask(600, None)).status, 201);
    assert_eq!(
        agent.on(&b).post("/v1/approvals", ask(600, None)).status,
        201
    );
    for server in [&a, &b] {
        let r = agent.on(server).post("/v1/approvals", ask(600, None));
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (429, Some("rate_limited")),
            "{}",
            r.text
        );
        assert!(r.header("retry-after").is_some());
    }
    // Starting agent logins, per client address: one window for every replica.
    let start = |server: &Server| {
        server
            .anon()
            .post("/api/agent/auth/requests", json!({"agentName": "Burst"}))
    };
    assert_eq!(start(&a).status, 200);
    assert_eq!(start(&b).status, 200);
    for server in [&a, &b] {
        start(server).expect_error(429, "rate_limited");
    }
}

/// A memory space's graph is a schema of the shared database: what a replica writes to
/// it, every replica reads.
#[test]
fn replicas_share_memory_spaces() {
    let Some((db, a)) = first_replica(&[]) else {
        return;
    };
    let (_owner, admin, _viewer, _other) = crate::memory::make_space(&a);
    let b = Server::replica(db.url(), &[]);
    let made = admin.on(&b).post(
        "/v1/brain/get_or_init_user",
        json!({"user": "user_42", "name": "Ada"}),
    );
    assert_eq!(made.status, 200, "{}", made.text);
    let find = json!({"command": "FIND(?p.name, ?p.attributes.display_name) WHERE { ?p {type: \"Person\", name: \"user_42\"} }"});
    for server in [&a, &b] {
        let found = admin
            .on(server)
            .post("/v1/brain/execute_kip_readonly", find.clone());
        assert_eq!(
            found.body["result"],
            json!([["user_42", "Ada"]]),
            "{}",
            found.text
        );
    }
    let info = |s: &Server| admin.on(s).get("/v1/brain/info").body["result"]["concepts"].clone();
    assert_eq!(info(&a), info(&b));
}
