//! Issue 14: declared indexes, search that does not rank every match, counts.

use serde_json::{json, Value};

use crate::data::{ids, issue_paths};
use crate::support::{on_postgres, url_encode as enc, wait_for, Client, Server};

fn admin(server: &Server) -> Client {
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "admin");
    server.with_key(&key)
}

/// Declared indexes: created with the definition, shown, checked (each problem named by
/// its path), kept through renames, refused when the records break a unique one, enforced
/// on writes, and the answers of filtered, sorted pages are the same with them.
#[test]
fn declared_indexes_are_checked_shown_and_enforced() {
    let server = Server::start();
    let c = admin(&server);
    let bad = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Tickets", "fields": {"status": {"type": "text"}, "tags": {"type": "multiSelect", "options": [{"value": "a"}]}},
               "indexes": [{"fields": ["status", "nope"]}, {"fields": ["tags"]}, {"fields": ["status"], "sorted": true}]}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(
        bad.text.contains("sorted"),
        "unknown keys are refused: {}",
        bad.text
    );
    let bad = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Tickets", "fields": {"status": {"type": "text"}, "tags": {"type": "multiSelect", "options": [{"value": "a"}]}},
               "indexes": [{"fields": ["status", "nope"]}, {"fields": ["tags"]}]}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(
        issue_paths(&bad),
        [
            json!(["indexes", 0, "fields", 1]),
            json!(["indexes", 1, "fields", 0])
        ]
    );
    assert_eq!(
        c.get("/api/v1/data-definitions")
            .body
            .as_array()
            .map(Vec::len),
        Some(0),
        "nothing was made"
    );

    let made = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Tickets", "fields": {
            "status": {"type": "text"}, "amount": {"type": "number"}, "code": {"type": "text"}, "region": {"type": "text"}},
            "indexes": [{"fields": ["status", "-amount"]}, {"fields": ["region", "code"], "unique": true}]}),
    );
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(
        made.body["indexes"],
        json!([{"fields": ["status", "-amount"], "unique": false}, {"fields": ["region", "code"], "unique": true}])
    );

    let records: Vec<Value> = (0..300)
        .map(|i| {
            json!({"id": format!("t{i:03}"), "attributes": {
                "status": (["open", "closed", "pending"][i % 3]), "amount": (i * 37) % 100,
                "code": format!("c{i}"), "region": (["eu", "us"][i % 2])}})
        })
        .collect();
    let w = c.post(
        "/api/v1/data-definitions/tickets/data/upsert-many",
        json!({"records": records}),
    );
    assert_eq!(w.status, 200, "{}", w.text);

    // A record that repeats another's region and code together is refused, naming them.
    let dup = c.post(
        "/api/v1/data-definitions/tickets/data/upsert-many",
        json!({"records": [{"id": "x1", "attributes": {"region": "us", "code": "c9"}}]}),
    );
    assert_eq!(dup.status, 400, "{}", dup.text);
    assert_eq!(
        issue_paths(&dup),
        [json!(["records", 0, "attributes", "region"])],
        "the rule's first field"
    );
    assert!(dup.text.contains("region, code"), "{}", dup.text);
    let fine = c.post(
        "/api/v1/data-definitions/tickets/data/upsert-many",
        json!({"records": [{"id": "x1", "attributes": {"region": "eu", "code": "c9"}}]}),
    );
    assert_eq!(fine.status, 200, "{}", fine.text);

    // Pages served by the declared index hold what the filter and sort say.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = c.get(&format!(
            "/api/v1/data-definitions/tickets/query?filter={}&sort=-amount&limit=7{cursor}",
            enc("status = \"open\"")
        ));
        assert_eq!(page.status, 200, "{}", page.text);
        for item in page.body["items"].as_array().unwrap() {
            seen.push((
                item["attributes"]["amount"].as_i64().unwrap(),
                item["id"].as_str().unwrap().to_string(),
            ));
        }
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let mut want: Vec<(i64, String)> = (0..300)
        .filter(|i| i % 3 == 0)
        .map(|i| (((i * 37) % 100) as i64, format!("t{i:03}")))
        .collect();
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, want);

    // A unique index the records break is refused, naming the index; nothing changes.
    let refused = c.patch(
        "/api/v1/data-definitions/tickets",
        json!({"indexes": [{"fields": ["status", "-amount"]}, {"fields": ["region", "code"], "unique": true}, {"fields": ["status", "region"], "unique": true}]}),
    );
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(issue_paths(&refused), [json!(["indexes", 2, "unique"])]);
    assert_eq!(
        c.get("/api/v1/data-definitions/tickets").body["indexes"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // Renaming a field renames it in the indexes; removing one drops the indexes naming it.
    let renamed = c.patch(
        "/api/v1/data-definitions/tickets",
        json!({"renameFields": {"amount": "total"}, "fields": {"code": null}}),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(
        renamed.body["indexes"],
        json!([{"fields": ["status", "-total"], "unique": false}])
    );
    // The dropped unique index no longer holds.
    let w = c.post(
        "/api/v1/data-definitions/tickets/data/upsert-many",
        json!({"records": [{"id": "x2", "attributes": {"region": "eu"}}, {"id": "x3", "attributes": {"region": "eu"}}]}),
    );
    assert_eq!(w.status, 200, "{}", w.text);
    let page = c.get(&format!(
        "/api/v1/data-definitions/tickets/query?filter={}&sort=-total&limit=3",
        enc("status = \"open\"")
    ));
    assert_eq!(ids(&page.body).len(), 3, "{}", page.text);
}

/// Every page of a list, following `nextCursor`.
/// A substring index (`{"fields": ["title"], "substring": true}`, a trigram index on
/// PostgreSQL, nothing on SQLite): checked (one text field, not unique), shown, and `~`
/// answers the same with it, `%`, `_` and `\` taken as themselves, only ASCII letters'
/// case ignored; removed again on request.
#[test]
fn substring_indexes_are_checked_and_answer_the_same() {
    let server = Server::start();
    let c = admin(&server);
    let made = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Notes", "fields": {"title": {"type": "text"}, "n": {"type": "number"},
               "tags": {"type": "multiSelect", "options": [{"value": "a"}]}}}),
    );
    assert_eq!(made.status, 201, "{}", made.text);
    let titles = [
        "Hello World",
        "say HELLO",
        "50%_off",
        "50 off",
        "a\\b",
        "ab",
        "Ünïcode",
    ];
    let records: Vec<Value> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"id": format!("t{i}"), "attributes": {"title": t, "n": i}}))
        .chain((0..500).map(|i| json!({"id": format!("f{i:03}"), "attributes": {"title": format!("filler {i}"), "n": i}})))
        .collect();
    let w = c.post(
        "/api/v1/data-definitions/notes/data/upsert-many",
        json!({"records": records}),
    );
    assert_eq!(w.status, 200, "{}", w.text);
    let find = |text: &str| {
        let r = c.get(&format!(
            "/api/v1/data-definitions/notes/query?filter={}&sort=id",
            enc(&format!("title ~ {}", json!(text)))
        ));
        assert_eq!(r.status, 200, "{}", r.text);
        ids(&r.body)
    };
    let asked = ["hello", "%_", "0%", "\\", "_", "Ünï", "ünï", "hello world!"];
    let answers: Vec<Vec<String>> = asked.iter().map(|t| find(t)).collect();
    let t = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        answers,
        [
            t(&["t0", "t1"]),
            t(&["t2"]),
            t(&["t2"]),
            t(&["t4"]),
            t(&["t2"]),
            t(&["t6"]),
            t(&[]),
            t(&[])
        ]
    );

    for (indexes, path) in [
        (
            json!([{"fields": ["title", "n"], "substring": true}]),
            json!(["indexes", 0, "fields"]),
        ),
        (
            json!([{"fields": ["n"], "substring": true}]),
            json!(["indexes", 0, "fields", 0]),
        ),
        (
            json!([{"fields": ["tags"], "substring": true}]),
            json!(["indexes", 0, "fields", 0]),
        ),
        (
            json!([{"fields": ["version"], "substring": true}]),
            json!(["indexes", 0, "fields", 0]),
        ),
        (
            json!([{"fields": ["title"], "substring": true, "unique": true}]),
            json!(["indexes", 0, "unique"]),
        ),
    ] {
        let bad = c.patch(
            "/api/v1/data-definitions/notes",
            json!({"indexes": indexes}),
        );
        assert_eq!(bad.status, 400, "{indexes}: {}", bad.text);
        assert!(issue_paths(&bad).contains(&path), "{indexes}: {}", bad.text);
    }
    let bad = c.patch(
        "/api/v1/data-definitions/notes",
        json!({"indexes": [{"fields": ["title"], "substring": "yes"}]}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text);

    let ok = c.patch(
        "/api/v1/data-definitions/notes",
        json!({"indexes": [{"fields": ["title"], "substring": true}, {"fields": ["title"]}]}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(
        c.get("/api/v1/data-definitions/notes").body["indexes"],
        json!([{"fields": ["title"], "unique": false, "substring": true}, {"fields": ["title"], "unique": false}])
    );
    let again: Vec<Vec<String>> = asked.iter().map(|t| find(t)).collect();
    assert_eq!(again, answers, "the same answers with the index");
    // Written after the index was made, found through it.
    let w = c.post(
        "/api/v1/data-definitions/notes/data/upsert-many",
        json!({"records": [{"id": "late", "attributes": {"title": "HeLLo late"}}]}),
    );
    assert_eq!(w.status, 200, "{}", w.text);
    assert_eq!(find("hello"), t(&["late", "t0", "t1"]));

    let off = c.patch("/api/v1/data-definitions/notes", json!({"indexes": []}));
    assert_eq!(off.status, 200, "{}", off.text);
    assert!(c
        .get("/api/v1/data-definitions/notes")
        .body
        .get("indexes")
        .is_none_or(|i| i == &json!([])));
    assert_eq!(find("hello"), t(&["late", "t0", "t1"]));
}

fn all_pages(c: &Client, query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = c.get(&format!(
            "/api/v1/data-definitions/notes/query?{query}&limit=1000{cursor}"
        ));
        assert_eq!(page.status, 200, "{}", page.text);
        out.extend(ids(&page.body));
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return out,
        }
    }
}

/// `count=estimate` is exact up to 1,000 matches and a close estimate past that (saying
/// so); a bad `count` names the parameter. A word every record holds (searched row by row
/// along the sort) and a rare one (gathered) page through exactly the records that hold
/// them.
#[test]
fn counts_estimate_and_common_words_page_exactly() {
    let server = Server::start();
    let c = admin(&server);
    let r = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Notes", "fields": {"kind": {"type": "text", "indexed": true}, "body": {"type": "text"}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    for batch in 0..12 {
        let records: Vec<Value> = (batch * 1000..(batch + 1) * 1000)
            .map(|i| {
                let kind = if i % 20 == 0 { "rare" } else { "common" };
                json!({"id": format!("n{i:05}"), "name": format!("Note {i}"),
                       "attributes": {"kind": kind, "body": format!("printer {}", if i % 1000 == 7 { "toner" } else { "paper" })}})
            })
            .collect();
        let w = c.post(
            "/api/v1/data-definitions/notes/data/upsert-many",
            json!({"records": records}),
        );
        assert_eq!(w.status, 200, "{}", w.text);
    }
    let count = |filter: &str, mode: &str| {
        let r = c.get(&format!(
            "/api/v1/data-definitions/notes/query?filter={}&count={mode}&limit=1",
            enc(filter)
        ));
        assert_eq!(r.status, 200, "{}", r.text);
        (
            r.body["total"].as_i64().unwrap(),
            r.body["totalEstimated"].clone(),
        )
    };
    assert_eq!(count("kind = \"rare\"", "estimate"), (600, Value::Null));
    assert_eq!(count("kind = \"common\"", "true"), (11400, Value::Null));
    assert_eq!(count("kind = \"common\"", "exact"), (11400, Value::Null));
    let (estimate, flag) = count("kind = \"common\"", "estimate");
    assert_eq!(flag, json!(true));
    assert!(
        (10_800..=12_000).contains(&estimate),
        "{estimate} is within 5% of 11,400"
    );
    let bad = c.get("/api/v1/data-definitions/notes/query?count=maybe");
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("count"), "{}", bad.text);

    let every: Vec<String> = (0..12_000).map(|i| format!("n{i:05}")).collect();
    assert_eq!(all_pages(&c, "search=printer"), every);
    assert_eq!(all_pages(&c, "search=PRINT"), every, "a prefix, any case");
    let mut newest = every.clone();
    newest.reverse();
    assert_eq!(all_pages(&c, "search=printer&sort=-createdAt"), newest);
    let toner: Vec<String> = (0..12).map(|b| format!("n{:05}", b * 1000 + 7)).collect();
    assert_eq!(all_pages(&c, "search=toner"), toner);
    assert_eq!(all_pages(&c, "search=printer%20ton"), toner);
    let rare_common: Vec<String> = every
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 20 == 0)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(
        all_pages(
            &c,
            &format!("search=paper&filter={}", enc("kind = \"rare\""))
        ),
        rare_common
            .iter()
            .filter(|id| !toner.contains(id))
            .cloned()
            .collect::<Vec<_>>()
    );
}

/// Indexes follow use: with every list counted as slow (`--slow-query-ms 0`) a shape seen
/// twice gets its index, shown on the definition with why, answering the same; a
/// substring shape gets a substring index on PostgreSQL and is only counted, as
/// unindexable, on SQLite; a workspace that turned automatic
/// indexes off gets none; and a list that runs past the time limit stops with a 400 that
/// names the filter.
#[test]
fn slow_shapes_get_their_index_unless_turned_off() {
    let server = Server::start_with(&["--slow-query-ms", "0", "--auto-index-after", "2"]);
    let c = admin(&server);
    let r = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Tasks", "fields": {"due": {"type": "datetime"}, "owner": {"type": "text"}, "title": {"type": "text"}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let records: Vec<Value> = (0..200)
        .map(|i| json!({"id": format!("k{i:03}"), "attributes": {"due": format!("2026-{:02}-10T00:00:00Z", i % 12 + 1), "owner": format!("o{}", i % 4), "title": format!("task {i}")}}))
        .collect();
    let w = c.post(
        "/api/v1/data-definitions/tasks/data/upsert-many",
        json!({"records": records}),
    );
    assert_eq!(w.status, 200, "{}", w.text);
    let list = |q: &str| {
        let r = c.get(&format!("/api/v1/data-definitions/tasks/query?{q}"));
        assert_eq!(r.status, 200, "{}", r.text);
        ids(&r.body)
    };
    let march = format!(
        "filter={}&sort=-due",
        enc("owner = \"o1\" && due >= \"2026-03-01T00:00:00Z\"")
    );
    let first = list(&march);
    assert_eq!(
        c.get("/api/v1/data-definitions/tasks/slow-queries").body[0]["status"],
        "waiting"
    );
    assert_eq!(list(&march), first);
    wait_for("the index for owner and -due", || {
        c.get("/api/v1/data-definitions/tasks").body["indexes"][0]["fields"]
            == json!(["owner", "-due"])
    });
    let def = c.get("/api/v1/data-definitions/tasks").body;
    let reason = def["indexes"][0]["auto"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("2 slow queries")
            && reason.contains("owner (equal), due (range); sort -due"),
        "{reason}"
    );
    assert_eq!(list(&march), first, "the same answer through the new index");
    let shapes = c.get("/api/v1/data-definitions/tasks/slow-queries").body;
    assert_eq!(shapes[0]["status"], "built", "{shapes}");
    assert_eq!(shapes[0]["count"], 3, "{shapes}");

    // A substring shape: on PostgreSQL it gets a substring (trigram) index; SQLite has
    // none, and only counts it.
    let sub = format!("filter={}", enc("title ~ \"task 1\""));
    let found = list(&sub);
    for _ in 0..2 {
        assert_eq!(list(&sub), found);
    }
    let substring_shape = || {
        let shapes = c.get("/api/v1/data-definitions/tasks/slow-queries").body;
        shapes
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["shape"] == "filter title (substring)")
            .unwrap_or_else(|| panic!("{shapes}"))
            .clone()
    };
    if on_postgres() {
        wait_for("the substring index on title", || {
            c.get("/api/v1/data-definitions/tasks").body["indexes"][1]["substring"] == true
        });
        assert_eq!(substring_shape()["status"], "built");
        assert_eq!(substring_shape()["index"]["fields"], json!(["title"]));
        assert_eq!(list(&sub), found, "the same answer through the new index");
    } else {
        assert_eq!(substring_shape()["status"], "unindexable");
        assert!(substring_shape().get("index").is_none());
    }
    let built = c.get("/api/v1/data-definitions/tasks").body["indexes"]
        .as_array()
        .map(Vec::len);

    // Turned off: the shape is counted, nothing is built.
    let off = c.patch("/api/v1/data-settings", json!({"autoIndexes": false}));
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body, json!({"autoIndexes": false}));
    assert_eq!(
        c.get("/api/v1/data-settings").body,
        json!({"autoIndexes": false})
    );
    let bad = c.patch("/api/v1/data-settings", json!({"autoIndexes": "no"}));
    assert_eq!(bad.status, 400, "{}", bad.text);
    let by_title = format!("sort={}", enc("title"));
    for _ in 0..3 {
        list(&by_title);
    }
    wait_for("the shape turned off", || {
        c.get("/api/v1/data-definitions/tasks/slow-queries")
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["shape"] == "sort title" && s["status"] == "off")
    });
    assert_eq!(
        c.get("/api/v1/data-definitions/tasks").body["indexes"]
            .as_array()
            .map(Vec::len),
        built
    );
}

/// A list that runs past the query time limit stops, with a 400 naming the filter, and
/// counts as slow.
#[test]
fn lists_stop_at_the_query_time_limit() {
    let server = Server::start_with(&["--query-time-limit-ms", "1", "--auto-index-after", "2"]);
    let c = admin(&server);
    let r = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Logs", "fields": {"line": {"type": "text", "searchable": false}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    for batch in 0..30 {
        let records: Vec<Value> = (0..1000)
            .map(|i| json!({"attributes": {"line": format!("line {batch} {i} of a long log that nobody indexes")}}))
            .collect();
        let w = c.post(
            "/api/v1/data-definitions/logs/data/upsert-many",
            json!({"records": records}),
        );
        assert_eq!(w.status, 200, "{}", w.text);
    }
    let r = c.get(&format!(
        "/api/v1/data-definitions/logs/query?filter={}",
        enc("line ~ \"no such text\" || line ~ \"nor this\"")
    ));
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(issue_paths(&r), [json!(["filter"])]);
    assert!(r.text.contains("ran longer than 1 ms"), "{}", r.text);
    let shapes = c.get("/api/v1/data-definitions/logs/slow-queries").body;
    assert!(
        shapes
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["status"] == "unindexable"),
        "a stopped list counts as slow: {shapes}"
    );
    if on_postgres() {
        // One millisecond is too short for any statement over a connection: what an
        // index serves is not sure to finish within it there.
        return;
    }
    // A page an index serves is not stopped.
    let r = c.get("/api/v1/data-definitions/logs/query?sort=-createdAt&limit=5");
    assert_eq!(r.status, 200, "{}", r.text);

    // Stopped lists count as slow: the substring shape as unindexable, and a sort no
    // index serves gets its index, after which the same list answers.
    for _ in 0..2 {
        let r = c.get("/api/v1/data-definitions/logs/query?sort=-line&limit=5");
        assert_eq!(r.status, 400, "{}", r.text);
    }
    wait_for("the index on -line", || {
        c.get("/api/v1/data-definitions/logs").body["indexes"][0]["fields"] == json!(["-line"])
    });
    let r = c.get("/api/v1/data-definitions/logs/query?sort=-line&limit=5");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["items"][0]["attributes"]["line"],
        "line 9 999 of a long log that nobody indexes"
    );
    let shapes = c.get("/api/v1/data-definitions/logs/slow-queries").body;
    let statuses: Vec<(Value, Value)> = shapes
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["shape"].clone(), s["status"].clone()))
        .collect();
    assert!(
        statuses.contains(&(json!("sort -line"), json!("built"))),
        "{shapes}"
    );
    assert!(
        statuses.iter().any(|(_, status)| status == "unindexable"),
        "{shapes}"
    );
}

/// Slow is the work a list does (steps of SQLite's machine), not only the clock: with a
/// clock threshold no query reaches, a scan of 3,000 records is counted and indexed, and
/// a page an index serves is not counted.
#[test]
fn slow_is_counted_by_the_work_a_list_does() {
    let server = Server::start_with(&[
        "--slow-query-ms",
        "600000",
        "--slow-query-steps",
        "20000",
        "--auto-index-after",
        "1",
    ]);
    let c = admin(&server);
    let r = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Events", "fields": {"at": {"type": "number"}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    for batch in 0..3 {
        let records: Vec<Value> = (0..1000)
            .map(|i| json!({"attributes": {"at": batch * 1000 + i}}))
            .collect();
        let w = c.post(
            "/api/v1/data-definitions/events/data/upsert-many",
            json!({"records": records}),
        );
        assert_eq!(w.status, 200, "{}", w.text);
    }
    let served = c.get("/api/v1/data-definitions/events/query?sort=-createdAt&limit=5");
    assert_eq!(served.status, 200, "{}", served.text);
    let scan = c.get(&format!(
        "/api/v1/data-definitions/events/query?filter={}&limit=5",
        enc("at >= 2990")
    ));
    assert_eq!(scan.status, 200, "{}", scan.text);
    assert_eq!(scan.body["items"].as_array().map(Vec::len), Some(5));
    wait_for("the index on at", || {
        c.get("/api/v1/data-definitions/events").body["indexes"][0]["fields"] == json!(["at"])
    });
    let shapes = c.get("/api/v1/data-definitions/events/slow-queries").body;
    assert_eq!(
        shapes.as_array().map(Vec::len),
        Some(1),
        "only the scan: {shapes}"
    );
    assert_eq!(shapes[0]["shape"], "filter at (range)");
}

/// A reader is not shown slow shapes that name a field hidden from its role.
#[test]
fn slow_shapes_of_hidden_fields_stay_hidden() {
    let server = Server::start_with(&["--slow-query-ms", "0", "--auto-index-after", "100"]);
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    let r = admin.post(
        "/api/v1/data-definitions",
        json!({"name": "Staff", "fields": {"team": {"type": "text"}, "salary": {"type": "number", "hiddenFrom": ["viewer"]}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    for q in ["sort=-salary", "sort=team"] {
        let r = admin.get(&format!("/api/v1/data-definitions/staff/query?{q}"));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let shapes = |c: &Client| -> Vec<Value> {
        c.get("/api/v1/data-definitions/staff/slow-queries")
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["shape"].clone())
            .collect()
    };
    let mut seen = shapes(&admin);
    seen.sort_by_key(|v| v.to_string());
    assert_eq!(seen, [json!("sort -salary"), json!("sort team")]);
    assert_eq!(shapes(&viewer), [json!("sort team")]);
    let refused = viewer.patch("/api/v1/data-settings", json!({"autoIndexes": false}));
    assert_eq!(refused.status, 403, "{}", refused.text);
}
