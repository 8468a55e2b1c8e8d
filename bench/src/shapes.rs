//! `--shapes`: the query shapes users write, on `--records` tickets, beside PocketBase
//! (with `--pocketbase`) holding the same records with the same indexes, in one run.
//!
//! Tickets: `title` (text: "printer jam" and one of 10,000 words), `status` (indexed
//! text, 3 values), `ref` (indexed text, one per ticket), `amount` (indexed number,
//! 0–999), `dueAt` (datetime, no index), `customer` (a relationship to 1,000 customers
//! with a `country` of 10), and a declared index `(status, -amount)`. PocketBase gets the
//! same fields, single-field indexes on status, ref, amount, customer and created, and
//! `(status, amount)`.

use serde_json::{json, Value};

use super::data::{
    bulk, fresh_andibase, pocketbase_collection, run_load, start_pocketbase_server, Stats,
};
use super::{Args, Conn};

const WORDS: usize = 10_000;
const COUNTRIES: [&str; 10] = ["DE", "FR", "US", "JP", "BR", "IN", "GB", "ES", "IT", "CA"];

fn ticket(i: usize) -> (String, &'static str, String, i64, String, usize) {
    // A fixed scramble, so every run and both servers hold the same tickets.
    let r = i.wrapping_mul(2_654_435_761) % 1_000_003;
    (
        format!("printer jam w{}", r % WORDS),
        ["open", "closed", "pending"][i % 3],
        format!("REF-{i}"),
        (r % 1000) as i64,
        format!("2026-{:02}-{:02}T10:00:00Z", r % 12 + 1, r % 28 + 1),
        r % 1000,
    )
}

/// One shape: its name, andibase's query string, PocketBase's (none where it has no
/// counterpart).
struct Shape {
    name: &'static str,
    ours: String,
    theirs: Option<String>,
}

fn shapes(cursor: &str, customer0: &str, pb_customer0: &str) -> Vec<Shape> {
    let e = super::url_encode;
    let s = |name, ours: String, theirs: Option<String>| Shape { name, ours, theirs };
    vec![
        s(
            "first page, no filter",
            "limit=50".into(),
            Some("perPage=50&skipTotal=1".into()),
        ),
        s(
            "newest first (`sort=-createdAt`)",
            "sort=-createdAt&limit=50".into(),
            Some("sort=-created&perPage=50&skipTotal=1".into()),
        ),
        s(
            "page 20 of newest first (cursor; PocketBase: page=20)",
            format!("sort=-createdAt&limit=50&cursor={cursor}"),
            Some("sort=-created&perPage=50&page=20&skipTotal=1".into()),
        ),
        s(
            "`status = \"open\"`, low cardinality, `sort=-amount`",
            format!("filter={}&sort=-amount&limit=50", e("status = \"open\"")),
            Some(format!(
                "filter={}&sort=-amount&perPage=50&skipTotal=1",
                e("status='open'")
            )),
        ),
        s(
            "`status = \"open\" && amount > 500`, `sort=-amount`",
            format!(
                "filter={}&sort=-amount&limit=50",
                e("status = \"open\" && amount > 500")
            ),
            Some(format!(
                "filter={}&sort=-amount&perPage=50&skipTotal=1",
                e("status='open' && amount>500")
            )),
        ),
        s(
            "`ref = \"REF-4242\"`, high cardinality",
            format!("filter={}&limit=50", e("ref = \"REF-4242\"")),
            Some(format!(
                "filter={}&perPage=50&skipTotal=1",
                e("ref='REF-4242'")
            )),
        ),
        s(
            "`amount >= 100 && amount < 110`, `sort=amount`",
            format!(
                "filter={}&sort=amount&limit=50",
                e("amount >= 100 && amount < 110")
            ),
            Some(format!(
                "filter={}&sort=amount&perPage=50&skipTotal=1",
                e("amount>=100 && amount<110")
            )),
        ),
        s(
            "a month of `dueAt` (no index), `sort=dueAt`",
            format!(
                "filter={}&sort=dueAt&limit=50",
                e("dueAt >= \"2026-03-01T00:00:00Z\" && dueAt < \"2026-04-01T00:00:00Z\"")
            ),
            Some(format!(
                "filter={}&sort=dueAt&perPage=50&skipTotal=1",
                e("dueAt>='2026-03-01 00:00:00.000Z' && dueAt<'2026-04-01 00:00:00.000Z'")
            )),
        ),
        s(
            "one customer's tickets, newest first",
            format!(
                "filter={}&sort=-createdAt&limit=50",
                e(&format!("customer = \"{customer0}\""))
            ),
            Some(format!(
                "filter={}&sort=-created&perPage=50&skipTotal=1",
                e(&format!("customer='{pb_customer0}'"))
            )),
        ),
        s(
            "relationship path `customer.country = \"DE\"`",
            format!("filter={}&limit=50", e("customer.country = \"DE\"")),
            Some(format!(
                "filter={}&perPage=50&skipTotal=1",
                e("customer.country='DE'")
            )),
        ),
        s(
            "substring `title ~ \"w123\"` (PostgreSQL: a trigram index built on demand)",
            format!("filter={}&limit=50", e("title ~ \"w123\"")),
            Some(format!(
                "filter={}&perPage=50&skipTotal=1",
                e("title~'w123'")
            )),
        ),
        s(
            "search a word in every record (`printer`; PocketBase: `title ~`)",
            "search=printer&limit=50".into(),
            Some(format!(
                "filter={}&perPage=50&skipTotal=1",
                e("title~'printer'")
            )),
        ),
        s(
            "search a rare word (`w4242`; PocketBase: `title ~`)",
            "search=w4242&limit=50".into(),
            Some(format!(
                "filter={}&perPage=50&skipTotal=1",
                e("title~'w4242 '")
            )),
        ),
        s(
            "`status = \"open\"`, `count=true`",
            format!("filter={}&count=true&limit=1", e("status = \"open\"")),
            Some(format!("filter={}&perPage=1", e("status='open'"))),
        ),
        s(
            "`status = \"open\"`, `count=estimate`",
            format!("filter={}&count=estimate&limit=1", e("status = \"open\"")),
            None,
        ),
    ]
}

fn print(name: &str, ours: &Stats, pb: Option<&Stats>) {
    let cell = |s: &Stats| format!("{:.0} | {:.1} | {:.1}", s.rps, s.p50, s.p99);
    match pb {
        Some(p) => println!(
            "| {name} | {} | {} | {:.1}× |",
            cell(ours),
            cell(p),
            ours.rps / p.rps
        ),
        None => println!("| {name} | {} | — | — | — | — |", cell(ours)),
    }
}

pub async fn bench_shapes(args: &Args) {
    let n = args.records;
    let (data, key, addr, mut child) = fresh_andibase(args, "shapes").await;
    let mut c = Conn::open(&addr).await.unwrap();
    let auth = [("x-api-key", key.as_str())];
    let (s, b) = c
        .send(
            "POST",
            "/api/v1/data-definitions",
            &auth,
            Some(&json!({"name": "Customers", "fields": {"country": {"type": "text"}}})),
        )
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    let customers: Vec<Value> = (0..1000)
        .map(|i| json!({"id": format!("c{i}"), "name": format!("Customer {i}"), "attributes": {"country": COUNTRIES[i % 10]}}))
        .collect();
    let (s, b) = c
        .send(
            "POST",
            "/api/v1/data-definitions/customers/data/upsert-many",
            &auth,
            Some(&json!({"records": customers})),
        )
        .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let (s, b) = c
        .send("POST", "/api/v1/data-definitions", &auth, Some(&json!({"name": "Tickets", "fields": {
            "title": {"type": "text"}, "status": {"type": "text", "indexed": true}, "ref": {"type": "text", "indexed": true},
            "amount": {"type": "number", "indexed": true}, "dueAt": {"type": "datetime"},
            "customer": {"type": "relationship", "dataDefinitionId": "customers"}},
            "indexes": [{"fields": ["status", "-amount"]}]})))
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    let k = key.clone();
    let ours_rate = bulk(&addr, n, move |range| {
        let records: Vec<Value> = range
            .map(|i| {
                let (title, status, r, amount, due, customer) = ticket(i);
                json!({"id": format!("t{i:07}"), "attributes": {"title": title, "status": status, "ref": r, "amount": amount, "dueAt": due, "customer": format!("c{customer}")}})
            })
            .collect();
        ("/api/v1/data-definitions/tickets/data/upsert-many".to_string(), vec![("x-api-key".to_string(), k.clone())], json!({"mode": "insert", "records": records}))
    })
    .await;
    // The cursor of page 20 of newest first (on a new connection: the server closes one
    // idle for longer than the bulk load took).
    let mut c = Conn::open(&addr).await.unwrap();
    let mut cursor = String::new();
    for _ in 0..19 {
        let path = format!(
            "/api/v1/data-definitions/tickets/query?sort=-createdAt&limit=50{}",
            if cursor.is_empty() {
                String::new()
            } else {
                format!("&cursor={cursor}")
            }
        );
        let (_, body) = c.send("GET", &path, &auth, None).await;
        cursor = serde_json::from_slice::<Value>(&body).unwrap()["nextCursor"]
            .as_str()
            .unwrap()
            .to_string();
    }

    let pb = match &args.pocketbase {
        Some(bin) => {
            let (pb, mut pc) = start_pocketbase_server(bin, "shapes").await;
            let token = pb.token.clone();
            let customers = pocketbase_collection(
                &mut pc,
                &token,
                &json!({"name": "pb_customers", "type": "base", "viewRule": "", "listRule": "",
                "fields": [{"name": "name", "type": "text"}, {"name": "country", "type": "text"}]}),
            )
            .await;
            let customers_id = customers["id"].as_str().unwrap().to_string();
            pocketbase_collection(&mut pc, &token, &json!({"name": "pb_tickets", "type": "base", "viewRule": "", "listRule": "", "fields": [
                {"name": "title", "type": "text"}, {"name": "status", "type": "text"}, {"name": "ref", "type": "text"},
                {"name": "amount", "type": "number"}, {"name": "dueAt", "type": "date"},
                {"name": "customer", "type": "relation", "collectionId": customers_id, "maxSelect": 1},
                {"name": "created", "type": "autodate", "onCreate": true}],
                "indexes": ["CREATE INDEX idx_t_status ON pb_tickets (status)", "CREATE INDEX idx_t_ref ON pb_tickets (ref)",
                    "CREATE INDEX idx_t_amount ON pb_tickets (amount)", "CREATE INDEX idx_t_customer ON pb_tickets (customer)",
                    "CREATE INDEX idx_t_created ON pb_tickets (created)", "CREATE INDEX idx_t_status_amount ON pb_tickets (status, amount)"]})).await;
            // PocketBase ids are 15 characters; these are made from the numbers.
            let pb_customer = |i: usize| format!("c{i:014}");
            let t = token.clone();
            bulk(&pb.addr, 1000, move |range| {
                let requests: Vec<Value> = range.map(|i| json!({"method": "POST", "url": "/api/collections/pb_customers/records",
                    "body": {"id": pb_customer(i), "name": format!("Customer {i}"), "country": COUNTRIES[i % 10]}})).collect();
                ("/api/batch".to_string(), vec![("Authorization".to_string(), t.clone())], json!({"requests": requests}))
            })
            .await;
            let t = token.clone();
            let rate = bulk(&pb.addr, n, move |range| {
                let requests: Vec<Value> = range.map(|i| {
                    let (title, status, r, amount, due, customer) = ticket(i);
                    json!({"method": "POST", "url": "/api/collections/pb_tickets/records", "body": {
                        "title": title, "status": status, "ref": r, "amount": amount, "dueAt": due.replace('T', " "), "customer": pb_customer(customer)}})
                }).collect();
                ("/api/batch".to_string(), vec![("Authorization".to_string(), t.clone())], json!({"requests": requests}))
            })
            .await;
            Some((pb, rate))
        }
        None => None,
    };

    println!("andibase-bench --shapes: {n} tickets; {} connections, {} s a shape; loopback; client and servers share one 2-core VM", args.connections, args.seconds);
    println!();
    println!(
        "bulk insert (batches of 1,000, 4 connections): andibase {ours_rate:.0} rec/s{}",
        pb.as_ref()
            .map(|(_, r)| format!(", PocketBase {r:.0} rec/s"))
            .unwrap_or_default()
    );
    println!();
    println!(
        "| shape | andibase req/s | p50 ms | p99 ms | PocketBase req/s | p50 ms | p99 ms | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for shape in shapes(&cursor, "c0", "c00000000000000") {
        // Each system gets a second of the shape first (andibase builds the index a slow
        // shape needs then; PocketBase warms its caches), and is measured after it.
        let k = key.clone();
        let path = format!("/api/v1/data-definitions/tickets/query?{}", shape.ours);
        let ours_request = move |_| -> super::Request {
            (
                "GET".into(),
                path.clone(),
                vec![("x-api-key".into(), k.clone())],
                None,
            )
        };
        run_load(&addr, args.connections, 1, ours_request.clone()).await;
        tokio::time::sleep(std::time::Duration::from_millis(args.settle_ms)).await;
        let ours = run_load(&addr, args.connections, args.seconds, ours_request).await;
        let theirs = match (&pb, &shape.theirs) {
            (Some((p, _)), Some(q)) => {
                let (token, path) = (
                    p.token.clone(),
                    format!("/api/collections/pb_tickets/records?{q}"),
                );
                let request = move |_| -> super::Request {
                    (
                        "GET".into(),
                        path.clone(),
                        vec![("Authorization".into(), token.clone())],
                        None,
                    )
                };
                run_load(&p.addr, args.connections, 1, request.clone()).await;
                Some(run_load(&p.addr, args.connections, args.seconds, request).await)
            }
            _ => None,
        };
        print(shape.name, &ours, theirs.as_ref());
    }
    drop(pb);
    write_latency_while_indexing(&addr, &key, args).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
}

/// Single-record writes at 4 connections for 3 s, alone and while the server builds the
/// index a new slow shape asked for (sort by `title`, which has none): what a build costs
/// the writers, who wait for the database's one writer meanwhile.
async fn write_latency_while_indexing(addr: &str, key: &str, args: &Args) {
    let writes = |from: usize| {
        let k = key.to_string();
        move |i: usize| -> super::Request {
            (
                "POST".into(),
                "/api/v1/data-definitions/tickets/data/upsert-many".into(),
                vec![("x-api-key".into(), k.clone())],
                Some(
                    json!({"records": [{"attributes": {"title": format!("written {}", from + i), "status": "open", "amount": 1}}]}),
                ),
            )
        }
    };
    let alone = run_load(addr, 4, 3, writes(10_000_000)).await;
    let load = tokio::spawn({
        let (addr, w) = (addr.to_string(), writes(20_000_000));
        async move { run_load(&addr, 4, 3, w).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut c = Conn::open(addr).await.unwrap();
    let auth = [("x-api-key", key)];
    let started = std::time::Instant::now();
    for _ in 0..args.connections.clamp(5, 8) {
        let (s, b) = c
            .send(
                "GET",
                "/api/v1/data-definitions/tickets/query?sort=title&limit=50",
                &auth,
                None,
            )
            .await;
        // On a large table the sort may run into the query time limit (a 400): that
        // counts as slow too.
        assert!(s == 200 || s == 400, "{}", String::from_utf8_lossy(&b));
    }
    let built = loop {
        let (_, body) = c
            .send("GET", "/api/v1/data-definitions/tickets", &auth, None)
            .await;
        let def: Value = serde_json::from_slice(&body).unwrap();
        let has = def["indexes"]
            .as_array()
            .is_some_and(|l| l.iter().any(|i| i["fields"] == json!(["title"])));
        if has || started.elapsed().as_secs() > 60 {
            break has.then(|| started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let during = load.await.unwrap();
    println!();
    println!("Single-record writes, 4 connections, 3 s (ms):");
    println!();
    println!("| | writes/s | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (name, s) in [
        ("alone", &alone),
        ("while the `title` index is built", &during),
    ] {
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {:.1} |",
            s.rps, s.p50, s.p99, s.max
        );
    }
    println!();
    match built {
        Some(t) => println!("the `title` index was in the definition {:.0} ms after the first of the slow queries that asked for it", t.as_secs_f64() * 1000.0),
        None => println!("the `title` index was not built within 60 s"),
    }
}
