//! Seed 002's `Order` verbatim, whose attribute `createdAt` shares its name with the
//! record's own `createdAt`: both stay distinct through every route, and each has one
//! spelling in filters, sorts, CSV and SQL (`createdAt` is the record's, `attributes.createdAt`
//! the attribute).

use serde_json::{json, Value};

use crate::support::{item_ids as ids, Client, Server};

pub fn seed_definition() -> Value {
    json!({
        "key": "Order",
        "name": "Order",
        "description": "Represents a customer purchase order",
        "attributes": {
            "customerId": { "type": "string", "required": true },
            "amount": { "type": "number", "required": true },
            "status": { "type": "string", "required": true },
            "createdAt": { "type": "datetime", "required": true }
        }
    })
}

pub fn seed_record() -> Value {
    json!({
        "id": "ord_123",
        "name": "Order #123",
        "attributes": {
            "customerId": "cus_789",
            "amount": 1499,
            "status": "pending",
            "createdAt": "2026-03-05T12:00:00Z"
        }
    })
}

fn order(id: &str, created: &str, amount: i64) -> Value {
    json!({"id": id, "name": format!("Order {id}"), "attributes": {
        "customerId": "cus_1", "amount": amount, "status": "pending", "createdAt": created}})
}

fn query(c: &Client, handle: &str, params: &[(&str, &str)]) -> crate::support::Resp {
    let qs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::support::url_encode(v)))
        .collect();
    c.get(&format!(
        "/api/v1/data-definitions/{handle}/query?{}",
        qs.join("&")
    ))
}

#[test]
fn seed_002_order_round_trips_through_every_route() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "admin"));

    // The definition and the record exactly as the seed prints them.
    let def = c.post("/api/v1/data-definitions", seed_definition());
    assert_eq!(def.status, 201, "{}", def.text);
    let handle = def.body["handle"].as_str().unwrap().to_string();
    assert_eq!(def.body["fields"]["createdAt"]["type"], "datetime");
    assert_eq!(def.body["fields"]["createdAt"]["required"], true);
    let base = format!("/api/v1/data-definitions/{handle}");

    let created = c.post(
        &format!("{base}/data/upsert-many"),
        json!({"mode": "insert", "records": [seed_record()]}),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["results"][0]["action"], "created");

    let got = c.get(&format!("{base}/data/ord_123"));
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["id"], "ord_123");
    assert_eq!(got.body["name"], "Order #123");
    assert_eq!(
        got.body["attributes"],
        seed_record()["attributes"],
        "the attributes come back exactly as sent"
    );
    let own_created = got.body["createdAt"].as_str().unwrap().to_string();
    assert_ne!(
        own_created, "2026-03-05T12:00:00Z",
        "the record's own createdAt is when it was written"
    );

    // Upsert (by id) changes the attribute and leaves the record's own createdAt alone.
    let up = c.post(
        &format!("{base}/data/upsert-many"),
        json!({"records": [{"id": "ord_123", "attributes": {"customerId": "cus_789", "amount": 1499, "status": "paid", "createdAt": "2026-03-06T08:30:00.250Z"}}]}),
    );
    assert_eq!(up.body["results"][0]["action"], "updated", "{}", up.text);
    let got = c.get(&format!("{base}/data/ord_123")).body;
    assert_eq!(got["attributes"]["createdAt"], "2026-03-06T08:30:00.250Z");
    assert_eq!(got["createdAt"], own_created.as_str());

    // Patch the attribute back.
    let patched = c.patch(
        &format!("{base}/data/patch-many"),
        json!({"ids": ["ord_123"], "attributes": {"createdAt": "2026-03-05T12:00:00Z", "status": "pending"}}),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    let got = c.get(&format!("{base}/data/ord_123")).body;
    assert_eq!(got["attributes"], seed_record()["attributes"]);
    assert_eq!(got["createdAt"], own_created.as_str());

    // Three more orders whose attribute dates run against the order they were written in.
    let more = c.post(
        &format!("{base}/data/upsert-many"),
        json!({"records": [order("ord_a", "2025-01-10T00:00:00Z", 10), order("ord_b", "2026-06-01T00:00:00Z", 20), order("ord_c", "2024-12-31T23:59:59Z", 30)]}),
    );
    assert_eq!(more.status, 200, "{}", more.text);

    // Filters: the attribute by `attributes.createdAt`, the record's own by `createdAt`,
    // in both spellings.
    let march = [("filter", "attributes.createdAt >= \"2026-03-01T00:00:00Z\"")];
    assert_eq!(ids(&query(&c, &handle, &march)), ["ord_123", "ord_b"]);
    let json_march =
        json!({"field": "attributes.createdAt", "op": "gte", "value": "2026-03-01T00:00:00Z"})
            .to_string();
    assert_eq!(
        ids(&query(&c, &handle, &[("filter", &json_march)])),
        ["ord_123", "ord_b"]
    );
    let own = [("filter", "createdAt >= \"2026-03-01T00:00:00Z\"")];
    assert_eq!(
        ids(&query(&c, &handle, &own)).len(),
        4,
        "every record was written after March"
    );
    let exact = [(
        "filter",
        "attributes.createdAt = \"2026-03-05T12:00:00.000Z\"",
    )];
    assert_eq!(ids(&query(&c, &handle, &exact)), ["ord_123"]);

    // Sorts: by the attribute, by the record's own field, and paged with the cursor.
    let by_attr = ids(&query(&c, &handle, &[("sort", "-attributes.createdAt")]));
    assert_eq!(by_attr, ["ord_b", "ord_123", "ord_a", "ord_c"]);
    let first = query(
        &c,
        &handle,
        &[("sort", "attributes.createdAt"), ("limit", "2")],
    );
    assert_eq!(ids(&first), ["ord_c", "ord_a"]);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_string();
    let second = query(
        &c,
        &handle,
        &[
            ("sort", "attributes.createdAt"),
            ("limit", "2"),
            ("cursor", &cursor),
        ],
    );
    assert_eq!(ids(&second), ["ord_123", "ord_b"]);
    let by_own = ids(&query(&c, &handle, &[("sort", "createdAt,id")]));
    assert_eq!(by_own[0], "ord_123", "written first");
    // `fields` chooses attributes, so `createdAt` there is the attribute.
    let projected = query(&c, &handle, &[("fields", "createdAt"), ("limit", "1")]);
    assert_eq!(
        projected.body["items"][0]["attributes"],
        json!({"createdAt": "2026-03-05T12:00:00Z"}),
        "{}",
        projected.text
    );
    // A system name that is not an attribute of this definition is still the system field.
    assert_eq!(
        ids(&query(&c, &handle, &[("filter", "name = \"Order #123\"")])),
        ["ord_123"]
    );
    let bad = query(&c, &handle, &[("filter", "attributes.version = 1")]);
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(
        bad.text.contains("no field `version`"),
        "names the missing attribute: {}",
        bad.text
    );

    // Read-only SQL: the record's own fields by their names, the attribute as
    // `attributes.createdAt`; datetimes in SQL keep their sortable stored form.
    let sql = c.post(
        "/api/v1/data/sql/query",
        json!({"sql": format!("SELECT id, \"createdAt\", \"attributes.createdAt\", amount FROM \"{handle}\" WHERE \"attributes.createdAt\" < ? ORDER BY \"attributes.createdAt\""), "params": ["2026-01-01T00:00:00.000Z"]}),
    );
    assert_eq!(sql.status, 200, "{}", sql.text);
    let names: Vec<&str> = sql.body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "createdAt", "attributes.createdAt", "amount"]);
    assert_eq!(
        sql.body["rows"],
        json!([
            [
                "ord_c",
                sql.body["rows"][0][1],
                "2024-12-31T23:59:59.000Z",
                30
            ],
            [
                "ord_a",
                sql.body["rows"][1][1],
                "2025-01-10T00:00:00.000Z",
                10
            ]
        ])
    );
    assert_ne!(sql.body["rows"][0][1], "2024-12-31T23:59:59.000Z");

    // Soft delete and restore keep both.
    let del = c.post(
        &format!("{base}/data/delete-many"),
        json!({"ids": ["ord_123"]}),
    );
    assert_eq!(del.status, 200, "{}", del.text);
    let restore = c.post(
        &format!("{base}/data/delete-many"),
        json!({"ids": ["ord_123"], "restore": true}),
    );
    assert_eq!(restore.status, 200, "{}", restore.text);
    let got = c.get(&format!("{base}/data/ord_123")).body;
    assert_eq!(got["attributes"], seed_record()["attributes"]);

    // Export and import (the CLI): CSV names the attribute `attributes.createdAt`; both
    // formats come back into a fresh definition exactly.
    let run = |args: &[&str]| {
        let (code, out, err) = server.cli(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        out
    };
    let dir = crate::support::temp_dir("seed002-export");
    let csv_path = dir.join("orders.csv");
    run(&[
        "data",
        "export",
        &ws,
        &handle,
        "--format",
        "csv",
        "--out",
        csv_path.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "id,name,createdAt,updatedAt,amount,attributes.createdAt,customerId,status"
    );
    assert!(
        csv.contains(",2026-03-05T12:00:00Z,cus_789,pending"),
        "{csv}"
    );
    let jsonl = run(&["data", "export", &ws, &handle]);
    let jsonl_path = dir.join("orders.jsonl");
    std::fs::write(&jsonl_path, &jsonl).unwrap();

    for (copy, file) in [("order-csv", &csv_path), ("order-jsonl", &jsonl_path)] {
        let mut def = seed_definition();
        def["key"] = json!(copy);
        assert_eq!(c.post("/api/v1/data-definitions", def).status, 201);
        let out = run(&["data", "import", &ws, copy, file.to_str().unwrap()]);
        assert!(out.contains("imported 4 records"), "{out}");
        let got = c.get(&format!("/api/v1/data-definitions/{copy}/data/ord_123"));
        assert_eq!(
            got.body["attributes"],
            seed_record()["attributes"],
            "{copy}: {}",
            got.text
        );
        assert_eq!(got.body["name"], "Order #123");
    }

    // An attribute named like every system field, and matchOn one of them.
    let all = c.post(
        "/api/v1/data-definitions",
        json!({"name": "Everything", "attributes": {
            "id": {"type": "text", "unique": true}, "name": {"type": "text"}, "updatedAt": {"type": "date"},
            "deletedAt": {"type": "text"}, "createdBy": {"type": "text"}, "updatedBy": {"type": "text"},
            "version": {"type": "number"}, "attributes": {"type": "text"}}}),
    );
    assert_eq!(all.status, 201, "{}", all.text);
    let rec = json!({"id": "e1", "name": "own name", "attributes": {"id": "ext-1", "name": "attr name", "updatedAt": "2020-01-02",
        "deletedAt": "never", "createdBy": "someone", "updatedBy": "else", "version": 42, "attributes": "nested"}});
    let w = c.post(
        "/api/v1/data-definitions/everything/data/upsert-many",
        json!({"records": [rec]}),
    );
    assert_eq!(w.status, 200, "{}", w.text);
    let got = c.get("/api/v1/data-definitions/everything/data/e1").body;
    assert_eq!(got["attributes"], rec["attributes"]);
    assert_eq!(
        (got["name"].as_str(), got["version"].as_i64()),
        (Some("own name"), Some(1))
    );
    assert!(got["deletedAt"].is_null());
    // Matching on the attribute `id` (a unique text field), not the record id.
    let m = c.post(
        "/api/v1/data-definitions/everything/data/upsert-many",
        json!({"matchOn": "attributes.id", "records": [{"attributes": {"id": "ext-1", "version": 43}}]}),
    );
    assert_eq!(m.status, 200, "{}", m.text);
    assert_eq!(m.body["results"][0]["id"], "e1", "{}", m.text);
    let everything = |f: &str| ids(&query(&c, "everything", &[("filter", f)]));
    assert_eq!(everything("attributes.version = 43 && version = 2"), ["e1"]);
    assert_eq!(everything("attributes.name = \"attr name\""), ["e1"]);
    assert_eq!(everything("name = \"attr name\"").len(), 0);
    assert_eq!(everything("attributes.attributes = \"nested\""), ["e1"]);
    assert_eq!(
        everything("attributes.deletedAt = \"never\" && deletedAt = null"),
        ["e1"]
    );
}
