//! Data definitions as real tables, typed records, queries in the filter language.

use serde_json::{json, Value};

use crate::support::{on_postgres, url_encode as enc, Client, Server};

fn admin(server: &Server) -> (Client, Client, String) {
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "admin");
    (owner, server.with_key(&key), ws)
}

pub(crate) fn issue_paths(r: &crate::support::Resp) -> Vec<Value> {
    r.body["issues"]
        .as_array()
        .map(|a| a.iter().map(|i| i["path"].clone()).collect())
        .unwrap_or_default()
}

/// Customers and orders, with every field type on orders.
fn shop(c: &Client) -> (String, String) {
    let customers = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Customers", "attributes": {"email": {"type": "email", "required": true, "unique": true}, "country": {"type": "string"}}}),
    );
    assert_eq!(customers.status, 201, "{}", customers.text);
    let orders = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Orders", "description": "Customer purchase orders", "fields": {
            "title": {"name": "Title", "type": "text", "required": true},
            "amount": {"type": "number", "indexed": true},
            "paid": {"type": "boolean", "default": false},
            "due": {"type": "date"},
            "placedAt": {"type": "datetime"},
            "status": {"type": "select", "options": [{"value": "open", "label": "Open", "color": "sky"}, {"value": "closed"}], "default": "open"},
            "tags": {"type": "multiSelect", "options": [{"value": "vip"}, {"value": "rush"}]},
            "customer": {"type": "relationship", "dataDefinitionId": "customers"},
            "meta": {"type": "json"},
            "site": {"type": "url"},
            "invoice": {"type": "file"}
        }}),
    );
    assert_eq!(orders.status, 201, "{}", orders.text);
    (
        customers.body["id"].as_str().unwrap().to_string(),
        orders.body["id"].as_str().unwrap().to_string(),
    )
}

#[test]
fn definitions_are_created_in_both_shapes_and_checked() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    let (customers_id, _) = shop(&c);
    let d = c.get("/api/v1/data-definitions/orders").body;
    assert_eq!(d["handle"], "orders");
    assert_eq!(d["fields"]["title"]["name"], "Title");
    assert_eq!(
        d["fields"]["amount"]["name"], "amount",
        "the name defaults to the key"
    );
    assert_eq!(
        d["fields"]["customer"]["dataDefinitionId"],
        customers_id.as_str(),
        "handles resolve to ids"
    );
    assert_eq!(
        c.get("/api/v1/data-definitions/customers").body["fields"]["country"]["type"],
        "text",
        "string is an alias of text"
    );
    assert_eq!(
        c.get("/api/v1/data-definitions")
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        c.get("/api/data-definitions").status,
        200,
        "the unversioned alias"
    );

    let r = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Weekly Report Delivery"}),
    );
    assert_eq!(r.body["handle"], "weekly-report-delivery");
    let r = c.post("/api/v1/data-definitions", json!({"name": "Orders"}));
    assert_eq!(issue_paths(&r), vec![json!(["handle"])], "{}", r.text);
    let r = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Bad", "fields": {"x": {"type": "colour"}, "s": {"type": "select"}, "r": {"type": "relationship", "dataDefinitionId": "nope"}, "1st-key": {"type": "text"}, "n": {"type": "number", "default": "ten"}, "h": {"type": "text", "hiddenFrom": ["boss"]}}}),
    );
    let paths = issue_paths(&r);
    for p in [
        json!(["fields", "x", "type"]),
        json!(["fields", "s", "options"]),
        json!(["fields", "r", "dataDefinitionId"]),
        json!(["fields", "1st-key"]),
        json!(["fields", "n", "default"]),
        json!(["fields", "h", "hiddenFrom"]),
    ] {
        assert!(paths.contains(&p), "{p} in {}", r.text);
    }
    assert_eq!(
        c.get("/api/v1/data-definitions/bad").status,
        404,
        "nothing was created"
    );
    c.get("/api/v1/data-definitions/nope")
        .expect_error(404, "not_found");
}

#[test]
fn every_field_type_round_trips_and_bad_values_name_their_field() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    shop(&c);
    let cu = c.post("/api/v1/data-definitions/customers/data/upsert-many", json!({"records": [{"id": "cus_1", "name": "Ada", "attributes": {"email": "ada@example.com", "country": "DE"}}]}));
    assert_eq!(cu.status, 200, "{}", cu.text);
    let r = c.post(
        "/api/v1/data-definitions/orders/data/upsert-many",
        json!({"records": [{"id": "ord_123", "name": "Order #123", "attributes": {
            "title": "First", "amount": 1499, "due": "2026-03-31", "placedAt": "2026-03-05T12:00:00.000+00:00",
            "tags": ["vip", "rush", "vip"], "customer": "cus_1", "meta": {"source": "web", "n": [1, 2]}, "site": "https://example.com", "invoice": "file_1"
        }}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["results"],
        json!([{"index": 0, "id": "ord_123", "action": "created"}])
    );
    let o = c.get("/api/v1/data-definitions/orders/data/ord_123").body;
    assert_eq!(o["name"], "Order #123");
    let a = &o["attributes"];
    assert_eq!(a["amount"], 1499);
    assert_eq!(a["paid"], false, "defaults apply");
    assert_eq!(a["status"], "open");
    assert_eq!(
        a["placedAt"], "2026-03-05T12:00:00Z",
        "times are normalized to UTC, with milliseconds only when they are not zero"
    );
    assert_eq!(a["tags"], json!(["vip", "rush"]));
    assert_eq!(a["meta"], json!({"source": "web", "n": [1, 2]}));
    assert_eq!(o["version"], 1);
    assert!(o["createdAt"].as_str().unwrap().ends_with('Z') && o["deletedAt"].is_null());
    assert!(o["createdBy"].as_str().unwrap().starts_with("key:"));

    let bad = c.post(
        "/api/v1/data-definitions/orders/data/upsert-many",
        json!({"records": [{"attributes": {
            "amount": "lots", "paid": "yes", "due": "31/03/2026", "placedAt": "yesterday", "status": "pending",
            "tags": ["gold"], "customer": "cus_nope", "site": "ftp://x", "nonsense": 1
        }}]}),
    );
    bad.expect_error(400, "invalid_request");
    let paths = issue_paths(&bad);
    for key in [
        "title", "amount", "paid", "due", "placedAt", "status", "tags", "customer", "site",
        "nonsense",
    ] {
        assert!(
            paths.contains(&json!(["records", 0, "attributes", key])),
            "{key} in {}",
            bad.text
        );
    }
}

#[test]
fn batches_are_atomic_and_modes_match_as_asked() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    shop(&c);
    let url = "/api/v1/data-definitions/customers/data/upsert-many";
    let r = c.post(url, json!({"records": [
        {"attributes": {"email": "a@example.com"}}, {"attributes": {"email": "b@example.com"}}, {"attributes": {"email": "not an email"}}
    ]}));
    assert_eq!(
        issue_paths(&r),
        vec![json!(["records", 2, "attributes", "email"])],
        "{}",
        r.text
    );
    assert_eq!(
        c.get("/api/v1/data-definitions/customers/query?count=true")
            .body["total"],
        0,
        "nothing of the batch was written"
    );

    assert_eq!(
        c.post(
            url,
            json!({"records": [{"id": "c1", "attributes": {"email": "a@example.com"}}]})
        )
        .status,
        200
    );
    // Unique violation inside a batch: nothing written, the field named.
    let r = c.post(url, json!({"records": [{"id": "c2", "attributes": {"email": "z@example.com"}}, {"id": "c3", "attributes": {"email": "a@example.com"}}]}));
    assert_eq!(
        issue_paths(&r),
        vec![json!(["records", 1, "attributes", "email"])],
        "{}",
        r.text
    );
    c.get("/api/v1/data-definitions/customers/data/c2")
        .expect_error(404, "not_found");
    // Append mode refuses existing ids; update mode refuses missing ones.
    let r = c.post(url, json!({"mode": "insert", "records": [{"id": "c1", "attributes": {"email": "x@example.com"}}]}));
    assert_eq!(issue_paths(&r), vec![json!(["records", 0, "id"])]);
    let r = c.post(
        url,
        json!({"mode": "update", "records": [{"id": "ghost", "attributes": {"country": "FR"}}]}),
    );
    assert_eq!(issue_paths(&r), vec![json!(["records", 0, "id"])]);
    // A mode that does not exist is refused before anything is read, naming it.
    let r = c.post(
        url,
        json!({"mode": "sometimes", "records": [{"id": "c9", "attributes": {"email": "c9@example.com"}}]}),
    );
    assert_eq!(issue_paths(&r), vec![json!(["mode"])], "{}", r.text);
    c.get("/api/v1/data-definitions/customers/data/c9")
        .expect_error(404, "not_found");
    // The same new id twice in one upsert: created, then updated by the second entry.
    let r = c.post(
        url,
        json!({"records": [
            {"id": "c4", "attributes": {"email": "c4@example.com"}},
            {"id": "c4", "attributes": {"country": "PT"}}
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["results"][0]["action"].as_str(),
            r.body["results"][1]["action"].as_str()
        ),
        (Some("created"), Some("updated"))
    );
    let c4 = c.get("/api/v1/data-definitions/customers/data/c4").body;
    assert_eq!(
        (
            c4["attributes"]["email"].as_str(),
            c4["attributes"]["country"].as_str(),
            c4["version"].as_i64()
        ),
        (Some("c4@example.com"), Some("PT"), Some(2))
    );
    let found = c.get("/api/v1/data-definitions/customers/query?search=PT");
    assert_eq!(
        ids(&found.body),
        vec!["c4"],
        "indexed once, as last written: {}",
        found.text
    );
    // Upsert matching on a unique field updates in place.
    let r = c.post(url, json!({"matchOn": "email", "records": [{"attributes": {"email": "a@example.com", "country": "FR"}}, {"attributes": {"email": "n@example.com"}}]}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["created"].as_u64(), r.body["updated"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        r.body["results"][0],
        json!({"index": 0, "id": "c1", "action": "updated"})
    );
    let c1 = c.get("/api/v1/data-definitions/customers/data/c1").body;
    assert_eq!(
        (c1["attributes"]["country"].as_str(), c1["version"].as_i64()),
        (Some("FR"), Some(2))
    );
    let r = c.post(
        url,
        json!({"matchOn": "country", "records": [{"attributes": {"email": "q@example.com"}}]}),
    );
    assert_eq!(issue_paths(&r), vec![json!(["matchOn"])]);
    let r = c.post(url, json!({"records": []}));
    assert_eq!(issue_paths(&r), vec![json!(["records"])]);
    let r = c.post(
        url,
        json!({"records": [{"id": "has space", "attributes": {"email": "s@example.com"}}]}),
    );
    assert_eq!(issue_paths(&r), vec![json!(["records", 0, "id"])]);

    // New records are written a hundred to a statement: a duplicate deep in a big batch
    // still names its record, and nothing of the batch is written.
    let before = c
        .get("/api/v1/data-definitions/customers/query?count=true")
        .body["total"]
        .clone();
    let bulk = |bad: bool| {
        let records: Vec<Value> = (0..250)
            .map(|i| {
                let id = if bad && i == 170 { "c1".to_string() } else { format!("b{i}") };
                let email = if bad && i == 230 { 10 } else { i };
                json!({"id": id, "name": format!("Bulk {i}"), "attributes": {"email": format!("b{email}@example.com")}})
            })
            .collect();
        c.post(url, json!({"mode": "insert", "records": records}))
    };
    let r = bulk(true);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        issue_paths(&r),
        vec![
            json!(["records", 170, "id"]),
            json!(["records", 230, "attributes", "email"])
        ],
        "{}",
        r.text
    );
    assert_eq!(
        c.get("/api/v1/data-definitions/customers/query?count=true")
            .body["total"],
        before
    );
    let r = bulk(false);
    assert_eq!(r.body["created"], 250, "{}", r.text);
    assert_eq!(
        r.body["results"][249],
        json!({"index": 249, "id": "b249", "action": "created"})
    );
    let found = c.get("/api/v1/data-definitions/customers/query?search=Bulk%20249");
    assert_eq!(ids(&found.body), vec!["b249"], "{}", found.text);

    // A record may relate to one created earlier in the same batch.
    let r = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Staff", "fields": {"title": {"type": "text"}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let staff = r.body["id"].as_str().unwrap().to_string();
    let r = c.patch(
        "/api/v1/data-definitions/staff",
        json!({"fields": {"manager": {"type": "relationship", "dataDefinitionId": staff}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c.post(
        "/api/v1/data-definitions/staff/data/upsert-many",
        json!({"records": [{"id": "boss", "attributes": {"title": "Boss"}}, {"id": "aide", "attributes": {"manager": "boss"}}]}),
    );
    assert_eq!(r.body["created"], 2, "{}", r.text);

    // The widest definition (200 fields) in full statements of a hundred rows: 20,600
    // parameters each, within SQLite's limit.
    let fields: serde_json::Map<String, Value> = (0..200)
        .map(|i| (format!("f{i}"), json!({"type": "number"})))
        .collect();
    let r = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Wide", "fields": fields}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let records: Vec<Value> = (0..250)
        .map(|i| {
            let attrs: serde_json::Map<String, Value> =
                (0..200).map(|f| (format!("f{f}"), json!(i * f))).collect();
            json!({"id": format!("w{i}"), "attributes": attrs})
        })
        .collect();
    let r = c.post(
        "/api/v1/data-definitions/wide/data/upsert-many",
        json!({"records": records}),
    );
    assert_eq!(
        r.body["created"],
        250,
        "{}",
        &r.text[..r.text.len().min(300)]
    );
    let w = c.get("/api/v1/data-definitions/wide/data/w249").body;
    assert_eq!(w["attributes"]["f199"], 249 * 199);
}

fn seed_orders(c: &Client, n: usize) {
    let cu = "/api/v1/data-definitions/customers/data/upsert-many";
    c.post(
        cu,
        json!({"records": [
            {"id": "de", "attributes": {"email": "de@example.com", "country": "DE"}},
            {"id": "fr", "attributes": {"email": "fr@example.com", "country": "FR"}}
        ]}),
    );
    let records: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("o{i:03}"), "name": format!("Order {i}"), "attributes": {
                "title": format!("Order number {i}"),
                "amount": (i * 37 % 1000) as f64,
                "paid": i % 3 == 0,
                "status": if i % 4 == 0 { "closed" } else { "open" },
                "tags": if i % 5 == 0 { json!(["vip"]) } else { json!([]) },
                "customer": if i % 2 == 0 { "de" } else { "fr" },
                "placedAt": format!("2026-03-{:02}T10:00:00.000Z", 1 + i % 28),
            }})
        })
        .collect();
    let r = c.post(
        "/api/v1/data-definitions/orders/data/upsert-many",
        json!({"records": records}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

pub(crate) fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn q(c: &Client, params: &str) -> crate::support::Resp {
    c.get(&format!("/api/v1/data-definitions/orders/query?{params}"))
}

#[test]
fn queries_filter_sort_page_count_and_project() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    shop(&c);
    seed_orders(&c, 60);
    let count = |filter: &str| {
        q(&c, &format!("count=true&limit=1&filter={}", enc(filter))).body["total"]
            .as_i64()
            .unwrap_or(-1)
    };
    // The documented example, and the same in JSON.
    let text = r#"status = "open" && (amount > 500 || tags ?= "vip")"#;
    let json_f = json!({"and": [{"field": "status", "op": "eq", "value": "open"}, {"or": [{"field": "amount", "op": "gt", "value": 500}, {"field": "tags", "op": "contains", "value": "vip"}]}]});
    let want = (0..60usize)
        .filter(|i| i % 4 != 0 && ((i * 37 % 1000) > 500 || i % 5 == 0))
        .count() as i64;
    assert_eq!(count(text), want);
    assert_eq!(count(&json_f.to_string()), want);
    // Every operator once.
    assert_eq!(count(r#"status != "open""#), 15);
    assert_eq!(
        count("amount >= 999 || amount < 1"),
        (0..60usize)
            .filter(|i| {
                let a = i * 37 % 1000;
                !(1..999).contains(&a)
            })
            .count() as i64
    );
    assert_eq!(
        count("amount <= 37"),
        (0..60usize).filter(|i| i * 37 % 1000 <= 37).count() as i64
    );
    assert_eq!(count(r#"id in ["o001", "o002", "nope"]"#), 2);
    assert_eq!(count(r#"id nin ["o001", "o002"]"#), 58);
    assert_eq!(count(r#"title contains "number 1""#), 11);
    assert_eq!(count(r#"title icontains "NUMBER 5""#), 11);
    assert_eq!(count(r#"title startsWith "Order number 4""#), 11);
    assert_eq!(count(r#"title endsWith "9""#), 6);
    assert_eq!(count("due isNull true"), 60);
    assert_eq!(
        count("amount between [100, 200]"),
        (0..60usize)
            .filter(|i| (100..=200).contains(&(i * 37 % 1000)))
            .count() as i64
    );
    assert_eq!(count("paid = true"), 20);
    assert_eq!(count(r#"placedAt < "2026-03-02T00:00:00Z""#), 3);
    assert_eq!(count(r#"!(status = "closed")"#), 45);
    assert_eq!(
        count(r#"customer.country = "DE""#),
        30,
        "relationship paths"
    );
    assert_eq!(
        count(r#"customer.email endsWith "@example.com" && customer.country != "DE""#),
        30
    );
    // A soft-deleted related record no longer matches a path; restored, it does again.
    let customers = "/api/v1/data-definitions/customers/data/delete-many";
    assert_eq!(c.post(customers, json!({"ids": ["de"]})).body["deleted"], 1);
    assert_eq!(count(r#"customer.country = "DE""#), 0);
    assert_eq!(
        c.post(customers, json!({"ids": ["de"], "restore": true}))
            .body["restored"],
        1
    );
    assert_eq!(count(r#"customer.country = "DE""#), 30);
    // Injection attempts are values or unknown fields, never SQL.
    assert_eq!(count(r#"title = "x\" OR 1=1 --""#), 0);
    let r = q(&c, &format!("filter={}", enc(r#"title = "a" OR 1=1"#)));
    r.expect_error(400, "invalid_request");
    assert!(
        r.body["issues"][0]["message"]
            .as_str()
            .unwrap()
            .contains("character"),
        "{}",
        r.text
    );
    let r = q(&c, &format!("filter={}", enc(r#"f_title" = "x""#)));
    r.expect_error(400, "invalid_request");
    let r = q(&c, &format!("filter={}", enc(r#"nope = 1"#)));
    assert!(
        r.body["issues"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no field `nope`"),
        "{}",
        r.text
    );
    let r = q(&c, &format!("filter={}", enc(r#"amount = "ten""#)));
    assert_eq!(r.status, 400);
    let r = q(
        &c,
        &format!(
            "filter={}",
            enc(r#"{"field": "amount", "op": "like", "value": 1}"#)
        ),
    );
    assert!(
        r.body["issues"][0]["message"]
            .as_str()
            .unwrap()
            .contains("/op"),
        "{}",
        r.text
    );

    // Sort, page with cursors, project.
    let page = q(&c, "sort=-amount,title&limit=7&fields=amount").body;
    assert_eq!(page["items"].as_array().unwrap().len(), 7);
    assert_eq!(page["items"][0]["attributes"], json!({"amount": 999}));
    let amounts: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["attributes"]["amount"].as_i64().unwrap())
        .collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "{amounts:?}");
    let mut seen = ids(&page);
    let mut cursor = page["nextCursor"].as_str().unwrap().to_string();
    loop {
        let p = q(&c, &format!("sort=-amount,title&limit=7&cursor={cursor}")).body;
        seen.extend(ids(&p));
        match p["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), sorted.len()), (60, 60), "every record once");
    q(&c, "cursor=zz").expect_error(400, "invalid_request");
    q(&c, "sort=tags").expect_error(400, "invalid_request");
    q(&c, "limit=0").expect_error(400, "invalid_request");
    q(&c, "fields=nope").expect_error(400, "invalid_request");
    q(&c, "bogus=1").expect_error(400, "invalid_request");
}

#[test]
fn pages_stay_stable_while_records_are_inserted() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    shop(&c);
    seed_orders(&c, 30);
    let first = q(&c, "limit=10").body;
    // New records arrive between pages (their ids sort after the existing ones and before).
    c.post("/api/v1/data-definitions/orders/data/upsert-many", json!({"records": [
        {"id": "a-early", "attributes": {"title": "inserted before"}}, {"id": "z-late", "attributes": {"title": "inserted after"}}
    ]}));
    let mut seen = ids(&first);
    let mut cursor = first["nextCursor"].as_str().map(str::to_string);
    while let Some(cur) = cursor {
        let p = q(&c, &format!("limit=10&cursor={cur}")).body;
        seen.extend(ids(&p));
        cursor = p["nextCursor"].as_str().map(str::to_string);
    }
    let originals: Vec<String> = (0..30).map(|i| format!("o{i:03}")).collect();
    for o in &originals {
        assert_eq!(
            seen.iter().filter(|s| *s == o).count(),
            1,
            "{o} seen once: {seen:?}"
        );
    }
    assert!(
        seen.contains(&"z-late".to_string()),
        "later rows show up at the end"
    );
}

#[test]
fn patch_delete_restore_purge_and_select_all() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    shop(&c);
    seed_orders(&c, 20);
    let base = "/api/v1/data-definitions/orders/data";
    let r = c.patch(
        &format!("{base}/patch-many"),
        json!({"filter": "status = \"closed\"", "attributes": {"paid": true}}),
    );
    assert_eq!(r.body["updated"], 5, "{}", r.text);
    assert_eq!(
        c.get(&format!("{base}/o004")).body["attributes"]["paid"],
        true
    );
    // An invalid patch changes nothing.
    let r = c.patch(
        &format!("{base}/patch-many"),
        json!({"ids": ["o001"], "attributes": {"amount": "x"}}),
    );
    assert_eq!(issue_paths(&r), vec![json!(["attributes", "amount"])]);
    let r = c.patch(
        &format!("{base}/patch-many"),
        json!({"ids": ["o001"], "attributes": {"title": null}}),
    );
    assert_eq!(
        issue_paths(&r),
        vec![json!(["attributes", "title"])],
        "required fields cannot be cleared"
    );
    c.patch(
        &format!("{base}/patch-many"),
        json!({"attributes": {"paid": true}}),
    )
    .expect_error(400, "invalid_request");

    let all = c
        .get(&format!("{base}/select-all?filter={}", enc("paid = true")))
        .body;
    assert_eq!(all["total"], 7 + 3, "{all}");

    let r = c.post(
        &format!("{base}/delete-many"),
        json!({"ids": ["o001", "o002"]}),
    );
    assert_eq!(r.body["deleted"], 2);
    c.get(&format!("{base}/o001"))
        .expect_error(404, "not_found");
    assert!(c.get(&format!("{base}/o001?includeDeleted=true")).body["deletedAt"].is_string());
    assert_eq!(q(&c, "count=true").body["total"], 18);
    assert_eq!(q(&c, "count=true&includeDeleted=true").body["total"], 20);
    let r = c.post(
        &format!("{base}/delete-many"),
        json!({"ids": ["o001"], "restore": true}),
    );
    assert_eq!(r.body["restored"], 1);
    assert_eq!(c.get(&format!("{base}/o001")).status, 200);
    let r = c.post(
        &format!("{base}/delete-many"),
        json!({"filter": "id = \"o002\"", "purge": true}),
    );
    assert_eq!(r.body["purged"], 1);
    c.get(&format!("{base}/o002?includeDeleted=true"))
        .expect_error(404, "not_found");
    c.post(&format!("{base}/delete-many"), json!({}))
        .expect_error(400, "invalid_request");
}

#[test]
fn definitions_evolve_with_their_data() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    shop(&c);
    seed_orders(&c, 5);
    let def = "/api/v1/data-definitions/orders";
    // A new field with a default fills existing records.
    let r = c.patch(
        def,
        json!({"fields": {"priority": {"type": "number", "default": 3}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        c.get(&format!("{def}/data/o001")).body["attributes"]["priority"],
        3
    );
    // A new required field without a default is refused while records exist.
    let r = c.patch(
        def,
        json!({"fields": {"owner": {"type": "text", "required": true}}}),
    );
    assert_eq!(
        issue_paths(&r),
        vec![json!(["fields", "owner", "required"])]
    );
    // Rename keeps the data and the filter follows the new name.
    let r = c.patch(def, json!({"renameFields": {"title": "headline"}}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        c.get(&format!("{def}/data/o001")).body["attributes"]["headline"],
        "Order number 1"
    );
    assert_eq!(
        q(
            &c,
            &format!("count=true&filter={}", enc("headline startsWith \"Order\""))
        )
        .body["total"],
        5
    );
    // Unique over duplicate data is refused and nothing changes.
    let r = c.patch(def, json!({"fields": {"status": {"type": "select", "options": [{"value": "open"}, {"value": "closed"}], "unique": true}}}));
    assert_eq!(issue_paths(&r), vec![json!(["fields", "status", "unique"])]);
    assert_eq!(c.get(def).body["fields"]["status"]["unique"], false);
    // Changing a type converts existing values, or refuses with examples and changes nothing.
    let r = c.patch(def, json!({"fields": {"headline": {"type": "number"}}}));
    assert_eq!(issue_paths(&r), vec![json!(["fields", "headline", "type"])]);
    assert!(
        r.body["issues"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("5 existing records cannot become number"),
        "{}",
        r.text
    );
    assert_eq!(
        c.get(&format!("{def}/data/o001")).body["attributes"]["headline"],
        "Order number 1"
    );
    let r = c.patch(def, json!({"fields": {"amount": {"type": "text"}}}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        c.get(&format!("{def}/data/o001")).body["attributes"]["amount"],
        "37"
    );
    assert_eq!(
        q(
            &c,
            &format!("count=true&filter={}", enc("amount startsWith \"3\""))
        )
        .body["total"],
        1
    );
    let r = c.patch(
        def,
        json!({"fields": {"amount": {"type": "number", "indexed": true}}}),
    );
    assert_eq!(r.status, 200, "back to numbers: {}", r.text);
    assert_eq!(
        c.get(&format!("{def}/data/o002")).body["attributes"]["amount"],
        74
    );
    assert_eq!(
        q(&c, "sort=-amount&limit=1&fields=amount").body["items"][0]["attributes"]["amount"],
        148
    );
    let r = c.patch(
        def,
        json!({"fields": {"paid": {"type": "relationship", "dataDefinitionId": "customers"}}}),
    );
    assert_eq!(issue_paths(&r), vec![json!(["fields", "paid", "type"])]);
    // Sort indexes carry the select and boolean columns (see `sort_index_ddl`): renaming
    // and removing those fields rebuilds them, and filtered sorts still answer.
    let r = c.patch(def, json!({"renameFields": {"paid": "settled"}}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c.patch(def, json!({"fields": {"status": null, "stage": {"type": "select", "options": [{"value": "new"}]}}}));
    assert_eq!(r.status, 200, "{}", r.text);
    let page = q(
        &c,
        &format!("sort=-amount&filter={}", enc("settled = true")),
    );
    assert_eq!(ids(&page.body), ["o003", "o000"], "{}", page.text);
    let sql = c.post(
        "/api/v1/data/sql/query",
        json!({"sql": "SELECT count(*) FROM orders WHERE settled = 1"}),
    );
    assert_eq!(sql.body["rows"][0][0], 2, "{}", sql.text);
    // Removing drops the column.
    assert_eq!(c.patch(def, json!({"fields": {"meta": null}})).status, 200);
    assert!(c.get(&format!("{def}/data/o001")).body["attributes"]
        .get("meta")
        .is_none());
    // A definition others point to cannot be deleted; a free one can.
    c.delete("/api/v1/data-definitions/customers")
        .expect_error(409, "conflict");
    assert_eq!(c.delete(def).status, 204);
    assert_eq!(c.delete("/api/v1/data-definitions/customers").status, 204);
    c.get(def).expect_error(404, "not_found");
}

#[test]
fn permissions_and_workspaces_bound_data() {
    let server = Server::start();
    let (owner, c, ws) = admin(&server);
    shop(&c);
    seed_orders(&c, 3);
    let editor = server.with_key(&owner.create_key(&ws, "editor"));
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    let r = editor.post("/api/v1/data-definitions", json!({"name": "Nope"}));
    r.expect_error(403, "insufficient_permissions");
    assert_eq!(
        r.body["details"]["requiredPermission"],
        "dataDefinitions.write"
    );
    assert_eq!(
        editor
            .post(
                "/api/v1/data-definitions/orders/data/upsert-many",
                json!({"records": [{"attributes": {"title": "by editor"}}]})
            )
            .status,
        200
    );
    assert_eq!(
        viewer.get("/api/v1/data-definitions/orders/query").status,
        200
    );
    let r = viewer.post(
        "/api/v1/data-definitions/orders/data/upsert-many",
        json!({"records": [{"attributes": {"title": "x"}}]}),
    );
    assert_eq!(r.body["details"]["requiredPermission"], "data.write");
    viewer
        .post(
            "/api/v1/data-definitions/orders/data/delete-many",
            json!({"ids": ["o001"]}),
        )
        .expect_error(403, "insufficient_permissions");

    // Another workspace sees none of it.
    let other = owner.other_workspace(&server);
    other
        .get("/api/v1/data-definitions/orders")
        .expect_error(404, "not_found");
    other
        .get("/api/v1/data-definitions/orders/data/o001")
        .expect_error(404, "not_found");
    other
        .post(
            "/api/v1/data-definitions/orders/data/delete-many",
            json!({"ids": ["o001"]}),
        )
        .expect_error(404, "not_found");
    assert_eq!(
        c.get("/api/v1/data-definitions/orders/data/o001").status,
        200
    );
}

#[test]
fn read_only_sql_sees_definitions_and_nothing_else() {
    let server = Server::start();
    let (owner, c, ws) = admin(&server);
    shop(&c);
    seed_orders(&c, 20);
    c.post(
        "/api/v1/data-definitions/orders/data/delete-many",
        json!({"ids": ["o000"]}),
    );
    let sql = |body: Value| c.post("/api/v1/data/sql/query", body);

    let r = sql(
        json!({"sql": "SELECT status, count(*) AS n, sum(amount) AS total FROM orders GROUP BY status ORDER BY status"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["columns"],
        json!([{"name": "status", "type": "text"}, {"name": "n", "type": "integer"}, {"name": "total", "type": "real"}])
    );
    assert_eq!(r.body["rows"][0][0], "closed");
    assert_eq!(r.body["rows"][0][1], 4, "soft-deleted o000 is not counted");
    assert_eq!(r.body["rows"][1][1], 15);
    assert_eq!(r.body["truncated"], false);
    assert!(r.body["elapsedMs"].is_number());
    // Parameters, joins through relationships, a viewer key.
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    let r = viewer.post(
        "/api/v1/data/sql/query",
        json!({"sql": "SELECT c.country, count(*) FROM orders o JOIN customers c ON c.id = o.customer WHERE o.amount > ? GROUP BY 1 ORDER BY 1", "params": [100]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rows"].as_array().unwrap().len(), 2);
    // The row cap.
    let r = sql(json!({"sql": "SELECT id FROM orders", "limit": 5}));
    assert_eq!(
        (
            r.body["rows"].as_array().unwrap().len(),
            r.body["truncated"].as_bool()
        ),
        (5, Some(true))
    );

    let refused = |statement: &str| {
        let r = sql(json!({"sql": statement}));
        assert_eq!(r.status, 400, "{statement} → {}", r.text);
        assert_eq!(r.body["issues"][0]["path"], json!(["sql"]), "{statement}");
        r.body["issues"][0]["message"].as_str().unwrap().to_string()
    };
    for statement in [
        "INSERT INTO orders (id) VALUES ('x')",
        "UPDATE orders SET name = 'x'",
        "DELETE FROM orders",
        "CREATE TABLE evil (x)",
        "DROP VIEW orders",
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA table_info(orders)",
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM sqlite_temp_master",
        "SELECT * FROM agents",
        "SELECT * FROM approvals",
        "SELECT * FROM jobs",
        "SELECT * FROM events",
        "SELECT * FROM data_definitions",
        "SELECT 1; DELETE FROM orders",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "SELEKT 1",
    ] {
        refused(statement);
    }
    let msg = refused(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    );
    assert!(msg.contains("stopped"), "{msg}");
    // SQLite's authorizer refuses internal tables by name; on PostgreSQL the login role
    // reads a schema of its own views, where they do not exist.
    let msg = refused("SELECT * FROM agents");
    assert!(
        msg.contains("not authorized")
            || msg.contains("prohibited")
            || (on_postgres() && msg.contains("no such table")),
        "{msg}"
    );
    // The physical table of a definition is not reachable either except through its view.
    let table = format!(
        "rec_{}",
        c.get("/api/v1/data-definitions/orders").body["id"]
            .as_str()
            .unwrap()
            .replace('-', "")
    );
    for statement in [
        format!("SELECT count(*) FROM {table}"),
        format!("SELECT * FROM {table}"),
        format!("SELECT * FROM main.{table}"),
        format!("SELECT f_title FROM orders JOIN {table} USING (id)"),
    ] {
        let msg = refused(&statement);
        assert!(msg.contains("only SELECT over"), "{statement}: {msg}");
    }
    // Through its view, counts and common table expressions work.
    let r = sql(
        json!({"sql": "WITH o AS (SELECT * FROM orders) SELECT (SELECT count(*) FROM orders), count(*) FROM o"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["rows"],
        json!([[r.body["rows"][0][0], r.body["rows"][0][0]]])
    );
    // Another workspace's definitions do not exist here.
    let other = owner.other_workspace(&server);
    let r = other.post(
        "/api/v1/data/sql/query",
        json!({"sql": "SELECT * FROM orders"}),
    );
    assert!(
        r.body["issues"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no such table"),
        "{}",
        r.text
    );
    // Bad input.
    sql(json!({"sql": ""})).expect_error(400, "invalid_request");
    sql(json!({"sql": "SELECT 1", "limit": 0})).expect_error(400, "invalid_request");
    sql(json!({"sql": "SELECT ?", "params": [{"a": 1}]})).expect_error(400, "invalid_request");
    // Nothing was changed by any of it.
    assert_eq!(q(&c, "count=true&includeDeleted=true").body["total"], 20);
}

#[test]
fn full_text_search_and_relationship_expansion() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    shop(&c);
    seed_orders(&c, 12);
    c.post("/api/v1/data-definitions/orders/data/upsert-many", json!({"records": [
        {"id": "s1", "name": "Crème brûlée supplies", "attributes": {"title": "Kitchen restock for the café"}},
        {"id": "s2", "name": "Quarterly report", "attributes": {"title": "Finance \"special\" OR review"}},
        {"id": "s3", "name": "阿司匹林", "attributes": {"title": "用于缓解头痛和发烧"}}
    ]}));
    let search = |s: &str| ids(&q(&c, &format!("search={}", enc(s))).body);
    assert_eq!(search("kitchen"), vec!["s1"]);
    assert_eq!(search("creme"), vec!["s1"], "diacritics fold");
    assert_eq!(search("cafe restock"), vec!["s1"], "every word must match");
    assert_eq!(search("rest"), vec!["s1"], "words match as prefixes");
    assert_eq!(
        search("quarterly finance"),
        vec!["s2"],
        "name and text fields both count"
    );
    assert_eq!(
        search("\"special\" OR"),
        vec!["s2"],
        "query syntax is taken as words"
    );
    assert!(search("NEAR( kitchen").is_empty());
    assert_eq!(search("number 1").len(), 3, "Order number 1, 10, 11");
    // CJK text is cut into bigrams, so a word inside a run of Han characters is found.
    assert_eq!(search("头痛"), vec!["s3"]);
    assert_eq!(search("司匹"), vec!["s3"]);
    assert_eq!(search("阿司匹林 发烧"), vec!["s3"]);
    assert!(search("头疼").is_empty());
    // Search follows edits and deletes, and combines with filters.
    c.patch(
        "/api/v1/data-definitions/orders/data/patch-many",
        json!({"ids": ["s1"], "attributes": {"title": "Pantry"}}),
    );
    assert!(search("kitchen").is_empty());
    assert_eq!(search("pantry"), vec!["s1"]);
    // An upsert that updates replaces the record's old words.
    c.post(
        "/api/v1/data-definitions/orders/data/upsert-many",
        json!({"records": [{"id": "s2", "name": "Yearly summary"}]}),
    );
    assert!(search("quarterly").is_empty());
    assert_eq!(search("yearly"), vec!["s2"]);
    assert_eq!(
        ids(&q(
            &c,
            &format!("search=number&filter={}", enc("status = \"closed\""))
        )
        .body),
        vec!["o000", "o004", "o008"]
    );
    c.post(
        "/api/v1/data-definitions/orders/data/delete-many",
        json!({"ids": ["s1"], "purge": true}),
    );
    assert!(search("pantry").is_empty());
    // A field added later is searchable too.
    c.patch(
        "/api/v1/data-definitions/orders",
        json!({"fields": {"notes": {"type": "text"}}}),
    );
    c.patch(
        "/api/v1/data-definitions/orders/data/patch-many",
        json!({"ids": ["o003"], "attributes": {"notes": "fragile glassware"}}),
    );
    assert_eq!(search("glassware"), vec!["o003"]);

    // Expansion of a relationship, on lists and single records.
    let page = q(
        &c,
        &format!("expand=customer&filter={}", enc("id = \"o001\"")),
    )
    .body;
    assert_eq!(
        page["items"][0]["attributes"]["customer"]["attributes"]["country"],
        "FR"
    );
    let one = c
        .get("/api/v1/data-definitions/orders/data/o002?expand=customer")
        .body;
    assert_eq!(one["attributes"]["customer"]["id"], "de");
    assert_eq!(
        c.get("/api/v1/data-definitions/orders/data/o002").body["attributes"]["customer"],
        "de"
    );
    q(&c, "expand=title").expect_error(400, "invalid_request");
}

#[test]
fn the_cli_imports_csv_and_jsonl_and_exports_both() {
    let server = Server::start();
    let (_owner, c, ws) = admin(&server);
    shop(&c);
    let dir = crate::support::temp_dir("import");
    let csv = dir.join("orders.csv");
    std::fs::write(
        &csv,
        "id,name,title,amount,paid,status,tags\n\
         c1,First,\"Chairs, oak\",120,true,open,\"[\"\"vip\"\"]\"\n\
         c2,Second,\"Two\nlines\",80.5,false,closed,\n\
         c3,Third,Bad amount,lots,false,open,\n\
         c4,Fourth,Unknown status,10,false,pending,\n\
         c5,Fifth,Fine,5,no,open,\n",
    )
    .unwrap();
    let run = |args: &[&str]| server.cli(args);
    let (code, out, err) = run(&[
        "data",
        "import",
        &ws,
        "orders",
        csv.to_str().unwrap(),
        "--batch",
        "10",
    ]);
    assert_eq!(
        code,
        Some(1),
        "rejections make the exit status 1: {out} {err}"
    );
    assert!(out.contains("imported 3 records"), "{out}");
    assert!(
        err.contains("rejected line 5: amount"),
        "line numbers count the quoted newline: {err}"
    );
    assert!(err.contains("rejected line 6: "), "{err}");
    assert!(err.contains("100%"), "a progress line: {err}");
    let c1 = c.get("/api/v1/data-definitions/orders/data/c1").body;
    assert_eq!(
        (
            c1["attributes"]["title"].as_str(),
            c1["attributes"]["amount"].as_i64()
        ),
        (Some("Chairs, oak"), Some(120))
    );
    assert_eq!(c1["attributes"]["tags"], json!(["vip"]));
    assert_eq!(
        c.get("/api/v1/data-definitions/orders/data/c2").body["attributes"]["title"],
        "Two\nlines"
    );
    assert_eq!(
        c.get("/api/v1/data-definitions/orders/data/c5").body["attributes"]["paid"],
        false
    );
    c.get("/api/v1/data-definitions/orders/data/c3")
        .expect_error(404, "not_found");

    let jsonl = dir.join("more.jsonl");
    std::fs::write(&jsonl, "{\"id\": \"j1\", \"attributes\": {\"title\": \"From JSON\", \"amount\": 7}}\n{\"id\": \"j2\", \"title\": \"Flat\"}\nnot json\n{\"id\": \"j3\"}\n").unwrap();
    let (code, out, err) = run(&["data", "import", &ws, "orders", jsonl.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(out.contains("imported 2 records"), "{out} {err}");
    assert!(
        err.contains("rejected line 3: not JSON")
            && err.contains("rejected line 4: title: is required"),
        "{err}"
    );

    let (code, out, _) = run(&["data", "export", &ws, "orders", "--filter", "amount > 50"]);
    assert_eq!(code, Some(0));
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["c1", "c2"]
    );
    let out_file = dir.join("all.csv");
    let (code, _, err) = run(&[
        "data",
        "export",
        &ws,
        "orders",
        "--format",
        "csv",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.starts_with("id,name,createdAt,updatedAt,"), "{text}");
    assert!(
        text.contains("\"Chairs, oak\"") && text.contains("\"Two\nlines\""),
        "{text}"
    );
    // An export imports back into its definition (the CSV reader reads its own CSV)…
    let (code, out, err) = run(&["data", "import", &ws, "orders", out_file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out} {err}");
    assert!(out.contains("imported 5 records"), "{out}");
    assert_eq!(
        c.get("/api/v1/data-definitions/orders/data/c2").body["attributes"]["title"],
        "Two\nlines"
    );
    // …but a file whose columns are not the definition's fields is refused before anything is written.
    let (code, out, err) = run(&[
        "data",
        "import",
        &ws,
        "customers",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{out} {err}");
    assert!(
        err.contains("line 1: column `amount` is not a field of customers"),
        "{err}"
    );
    let (code, _, err) = run(&["data", "import", &ws, "nope", csv.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn fields_hidden_from_a_role_stay_hidden_everywhere() {
    let server = Server::start();
    let (owner, c, ws) = admin(&server);
    shop(&c);
    let r = c.patch(
        "/api/v1/data-definitions/customers",
        json!({"fields": {"margin": {"type": "number", "hiddenFrom": ["viewer"]}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"]["margin"]["hiddenFrom"], json!(["viewer"]));
    let r = c.patch(
        "/api/v1/data-definitions/customers",
        json!({"fields": {"x": {"type": "text", "hiddenFrom": ["intern"]}}}),
    );
    assert_eq!(issue_paths(&r), vec![json!(["fields", "x", "hiddenFrom"])]);
    c.post("/api/v1/data-definitions/customers/data/upsert-many", json!({"records": [{"id": "cu", "attributes": {"email": "m@example.com", "margin": 0.42}}]}));
    c.post(
        "/api/v1/data-definitions/orders/data/upsert-many",
        json!({"records": [{"id": "or", "attributes": {"title": "T", "customer": "cu"}}]}),
    );
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    let editor = server.with_key(&owner.create_key(&ws, "editor"));
    assert_eq!(
        editor
            .get("/api/v1/data-definitions/customers/data/cu")
            .body["attributes"]["margin"],
        0.42
    );
    let seen = viewer
        .get("/api/v1/data-definitions/customers/data/cu")
        .body;
    assert!(
        seen["attributes"].get("margin").is_none()
            && seen["attributes"]["email"] == "m@example.com",
        "{seen}"
    );
    let page = viewer.get("/api/v1/data-definitions/customers/query").body;
    assert!(page["items"][0]["attributes"].get("margin").is_none());
    let expanded = viewer
        .get("/api/v1/data-definitions/orders/data/or?expand=customer")
        .body;
    assert!(
        expanded["attributes"]["customer"]["attributes"]
            .get("margin")
            .is_none(),
        "{expanded}"
    );
    let r = viewer.post(
        "/api/v1/data/sql/query",
        json!({"sql": "SELECT margin FROM customers"}),
    );
    assert!(
        r.body["issues"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no such column"),
        "{}",
        r.text
    );
    let r = editor.post(
        "/api/v1/data/sql/query",
        json!({"sql": "SELECT margin FROM customers"}),
    );
    assert_eq!(r.body["rows"], json!([[0.42]]));
}

#[test]
fn every_operator_means_the_same_in_both_spellings() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    shop(&c);
    seed_orders(&c, 40);
    let cases: Vec<(&str, Value)> = vec![
        (
            r#"status = "open""#,
            json!({"field": "status", "op": "eq", "value": "open"}),
        ),
        (
            r#"status != "open""#,
            json!({"field": "status", "op": "neq", "value": "open"}),
        ),
        (
            "amount > 500",
            json!({"field": "amount", "op": "gt", "value": 500}),
        ),
        (
            "amount >= 518",
            json!({"field": "amount", "op": "gte", "value": 518}),
        ),
        (
            "amount < 100",
            json!({"field": "amount", "op": "lt", "value": 100}),
        ),
        (
            "amount <= 111",
            json!({"field": "amount", "op": "lte", "value": 111}),
        ),
        (
            r#"id in ["o001", "o007"]"#,
            json!({"field": "id", "op": "in", "value": ["o001", "o007"]}),
        ),
        (
            r#"id nin ["o001", "o007"]"#,
            json!({"field": "id", "op": "nin", "value": ["o001", "o007"]}),
        ),
        (
            r#"tags ?= "vip""#,
            json!({"field": "tags", "op": "contains", "value": "vip"}),
        ),
        (
            r#"title contains "er 2""#,
            json!({"field": "title", "op": "contains", "value": "er 2"}),
        ),
        (
            r#"title ~ "NUMBER 3""#,
            json!({"field": "title", "op": "icontains", "value": "NUMBER 3"}),
        ),
        (
            r#"title startsWith "Order number 1""#,
            json!({"field": "title", "op": "startsWith", "value": "Order number 1"}),
        ),
        (
            r#"title endsWith "5""#,
            json!({"field": "title", "op": "endsWith", "value": "5"}),
        ),
        (
            "due = null",
            json!({"field": "due", "op": "isNull", "value": true}),
        ),
        (
            "customer != null",
            json!({"field": "customer", "op": "isNull", "value": false}),
        ),
        (
            "amount between [200, 600]",
            json!({"field": "amount", "op": "between", "value": [200, 600]}),
        ),
        (
            r#"customer.country = "DE""#,
            json!({"field": "customer.country", "op": "eq", "value": "DE"}),
        ),
        (
            r#"!(status = "open" || paid = true)"#,
            json!({"not": {"or": [{"field": "status", "op": "eq", "value": "open"}, {"field": "paid", "op": "eq", "value": true}]}}),
        ),
    ];
    for (text, json_form) in cases {
        let a = q(&c, &format!("limit=1000&filter={}", enc(text)));
        let b = q(
            &c,
            &format!("limit=1000&filter={}", enc(&json_form.to_string())),
        );
        assert_eq!(
            (a.status, b.status),
            (200, 200),
            "{text}: {} / {}",
            a.text,
            b.text
        );
        assert_eq!(ids(&a.body), ids(&b.body), "{text}");
        assert!(
            !ids(&a.body).is_empty() || text.starts_with("due"),
            "{text} matches something"
        );
    }
}

#[test]
fn the_console_browses_definitions_and_records() {
    let server = Server::start();
    let (owner, c, ws) = admin(&server);
    shop(&c);
    seed_orders(&c, 60);
    c.post("/api/v1/data-definitions/orders/data/upsert-many", json!({"records": [{"id": "xss", "name": "<script>alert(1)</script>", "attributes": {"title": "<img src=x onerror=alert(2)>"}}]}));
    let list = owner.get(&format!("/w/{ws}/data"));
    assert_eq!(list.status, 200);
    assert!(list.text.contains(&format!("href=\"/w/{ws}/data/orders\"")));
    let page = owner.get(&format!("/w/{ws}/data/orders"));
    assert_eq!(page.status, 200);
    assert!(page.text.contains("61 records"), "counted");
    assert!(page.text.contains("id=\"next-page\""), "paged by 50");
    assert!(
        !page.text.contains("<script>alert(1)") && !page.text.contains("<img src=x"),
        "escaped"
    );
    let filtered = owner.get(&format!(
        "/w/{ws}/data/orders?filter={}",
        enc("status = \"closed\"")
    ));
    assert!(
        filtered.text.contains("15 records"),
        "{}",
        &filtered.text[..200.min(filtered.text.len())]
    );
    let bad = owner.get(&format!("/w/{ws}/data/orders?filter={}", enc("status ==")));
    assert!(bad.text.contains("id=\"filter-error\""));
    assert_eq!(owner.get(&format!("/w/{ws}/data/nope")).status, 404);
    assert_eq!(server.anon().get(&format!("/w/{ws}/data")).status, 303);
    // A viewer sees the page without fields hidden from viewers.
    c.patch("/api/v1/data-definitions/orders", json!({"fields": {"amount": {"type": "number", "indexed": true, "hiddenFrom": ["viewer"]}}}));
    let viv = server.add_member(&owner, &ws, "viv@example.com", "viewer pass", "viewer");
    let seen = viv.get(&format!(
        "/w/{ws}/data/orders?filter={}",
        enc("id = \"o001\"")
    ));
    assert!(
        !seen.text.contains(">37<"),
        "the hidden amount is not shown"
    );
    assert!(owner
        .get(&format!(
            "/w/{ws}/data/orders?filter={}",
            enc("id = \"o001\"")
        ))
        .text
        .contains(">37<"));
}

#[test]
fn text_fields_can_stay_out_of_search() {
    let server = Server::start();
    let (_owner, c, _ws) = admin(&server);
    let r = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Parts", "fields": {
        "code": {"type": "text", "searchable": false}, "label": {"type": "text"}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["fields"]["code"]["searchable"], false);
    c.post("/api/v1/data-definitions/parts/data/upsert-many", json!({"records": [{"id": "p1", "attributes": {"code": "ZX81", "label": "Flux capacitor"}}]}));
    let found = |s: &str| {
        c.get(&format!("/api/v1/data-definitions/parts/query?search={s}"))
            .body["items"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(found("flux"), 1);
    assert_eq!(found("ZX81"), 0, "code is not indexed");
    // Turning it back on re-indexes existing records.
    c.patch(
        "/api/v1/data-definitions/parts",
        json!({"fields": {"code": {"type": "text", "searchable": true}}}),
    );
    assert_eq!(found("ZX81"), 1);
}
