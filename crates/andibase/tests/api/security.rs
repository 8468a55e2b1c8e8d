//! Attacks from outside, each a request that once got through: hidden fields read through
//! every path, the SQL sandbox's memory, time, functions and tables, NUL bytes in query
//! parameters.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{item_ids as ids, on_postgres, url_encode as enc, Client, Server};

fn no_field(r: &crate::support::Resp, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.text);
    assert!(
        r.text.contains("no field `secret`") || r.text.contains("not a relationship field"),
        "{what} is refused as if the field did not exist: {}",
        r.text
    );
}

/// Customers with a `secret` (hidden from viewers and editors, searchable and unique),
/// and tickets that point at them.
pub(crate) fn hidden_setup(admin: &Client) {
    let r = admin.post(
        "/api/v1/data-definitions",
        json!({"name": "Customers", "attributes": {
            "label": {"type": "text"},
            "secret": {"type": "text", "unique": true, "hiddenFrom": ["viewer", "editor"]}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.post(
        "/api/v1/data-definitions",
        json!({"name": "Tickets", "attributes": {
            "title": {"type": "text"},
            "customer": {"type": "relationship", "dataDefinitionId": "customers"}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.post(
        "/api/v1/data-definitions/customers/data/upsert-many",
        json!({"records": [
            {"id": "c1", "name": "Ada", "attributes": {"label": "visible words", "secret": "zanzibar"}},
            {"id": "c2", "name": "Bob", "attributes": {"label": "other words", "secret": "quokka"}},
            {"id": "c3", "name": "Gone", "attributes": {"label": "deleted one", "secret": "xylophone"}}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    admin.post(
        "/api/v1/data-definitions/customers/data/delete-many",
        json!({"ids": ["c3"]}),
    );
    admin.post(
        "/api/v1/data-definitions/tickets/data/upsert-many",
        json!({"records": [{"id": "t1", "attributes": {"title": "Printer", "customer": "c1"}}]}),
    );
}

#[test]
fn fields_hidden_from_a_role_cannot_be_read_sorted_filtered_searched_or_queried() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    hidden_setup(&admin);
    let customers = admin.get("/api/v1/data-definitions/customers").body["id"]
        .as_str()
        .unwrap()
        .replace('-', "");
    let base = "/api/v1/data-definitions";

    for role in ["viewer", "editor"] {
        let c = server.with_key(&owner.create_key(&ws, role));
        let q = |params: &str| c.get(&format!("{base}/customers/query?{params}"));
        // Not shown.
        let all = q("limit=10");
        assert_eq!(ids(&all), ["c1", "c2"], "{role}");
        assert!(
            !all.text.contains("zanzibar") && !all.text.contains("secret"),
            "{role}: {}",
            all.text
        );
        // Not sortable (so no cursor carries it), filterable, choosable or matchable.
        no_field(&q("sort=secret&limit=1"), "sort");
        no_field(&q("sort=-secret"), "sort descending");
        no_field(
            &q(&format!("filter={}", enc("secret = \"zanzibar\""))),
            "filter",
        );
        no_field(
            &q(&format!("filter={}", enc("attributes.secret ~ \"zan\""))),
            "filter by attributes.",
        );
        let json_filter = json!({"field": "secret", "op": "startsWith", "value": "z"}).to_string();
        no_field(&q(&format!("filter={}", enc(&json_filter))), "JSON filter");
        no_field(&q("fields=label,secret"), "fields");
        no_field(
            &c.get(&format!(
                "{base}/tickets/query?filter={}",
                enc("customer.secret = \"zanzibar\"")
            )),
            "relationship path",
        );
        no_field(
            &c.get(&format!(
                "{base}/customers/data/select-all?filter={}",
                enc("secret = \"zanzibar\"")
            )),
            "select-all",
        );
        if role == "editor" {
            no_field(
                &c.patch(
                    &format!("{base}/customers/data/patch-many"),
                    json!({"filter": "secret = \"zanzibar\"", "attributes": {"label": "x"}}),
                ),
                "patch-many filter",
            );
            no_field(
                &c.post(
                    &format!("{base}/customers/data/delete-many"),
                    json!({"filter": "secret = \"zanzibar\""}),
                ),
                "delete-many filter",
            );
            let m = c.post(
                &format!("{base}/customers/data/upsert-many"),
                json!({"matchOn": "secret", "records": [{"attributes": {"secret": "zanzibar", "label": "probe"}}]}),
            );
            assert_eq!(m.status, 400, "matchOn a hidden field: {}", m.text);
            assert_eq!(m.body["issues"][0]["path"], json!(["matchOn"]));
            // Nor written: a unique refusal would tell that a value exists.
            let w = c.post(
                &format!("{base}/customers/data/upsert-many"),
                json!({"records": [{"id": "probe", "attributes": {"secret": "zanzibar"}}]}),
            );
            no_field(&w, "writing a hidden field");
            assert_eq!(
                w.body["issues"][0]["path"],
                json!(["records", 0, "attributes", "secret"])
            );
            no_field(
                &c.patch(
                    &format!("{base}/customers/data/patch-many"),
                    json!({"ids": ["c2"], "attributes": {"secret": "zanzibar"}}),
                ),
                "patching a hidden field",
            );
            // Writing what the role sees leaves the hidden value alone.
            let p = c.patch(
                &format!("{base}/customers/data/patch-many"),
                json!({"ids": ["c2"], "attributes": {"label": "edited"}}),
            );
            assert_eq!(p.status, 200, "{}", p.text);
        }
        // Not searchable: the hidden word finds nothing, a visible one still finds.
        assert!(
            ids(&q("search=zanzibar")).is_empty(),
            "{role}: search finds a hidden value"
        );
        assert!(
            ids(&q("search=zanz")).is_empty(),
            "{role}: prefix of a hidden value"
        );
        assert_eq!(ids(&q("search=visible")), ["c1"]);
        assert_eq!(ids(&q("search=Ada")), ["c1"]);
        // Expanded related records lack it too.
        let t = c.get(&format!("{base}/tickets/query?expand=customer"));
        assert_eq!(t.status, 200, "{}", t.text);
        assert_eq!(t.body["items"][0]["attributes"]["customer"]["name"], "Ada");
        assert!(!t.text.contains("zanzibar"), "{role}: {}", t.text);
        // SQL: the role's view lacks the column, the physical table is out of reach.
        let sql = |s: &str| c.post("/api/v1/data/sql/query", json!({"sql": s}));
        let r = sql("SELECT * FROM customers");
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            !r.text.contains("zanzibar") && !r.text.contains("xylophone"),
            "{}",
            r.text
        );
        assert_eq!(
            r.body["rows"].as_array().unwrap().len(),
            2,
            "live records only"
        );
        for s in [
            format!("SELECT * FROM rec_{customers}"),
            format!("SELECT count(*) FROM rec_{customers}"),
            format!("SELECT f_secret FROM rec_{customers}"),
            format!("SELECT count(*) FROM rec_{customers} WHERE f_secret LIKE 'z%'"),
            format!("SELECT c.id FROM customers c JOIN rec_{customers} r ON r.id = c.id"),
            "SELECT secret FROM customers".to_string(),
            "SELECT \"attributes.secret\" FROM customers".to_string(),
        ] {
            let r = sql(&s);
            assert_eq!(r.status, 400, "{role}: {s} → {}", r.text);
            assert!(!r.text.contains("zanzibar"));
        }
    }

    // The admin sees, sorts, filters and searches it.
    let q = |params: &str| admin.get(&format!("{base}/customers/query?{params}"));
    assert_eq!(
        admin.get(&format!("{base}/customers/data/c2")).body["attributes"]["secret"],
        "quokka",
        "the editor's patch left the hidden value alone"
    );
    assert_eq!(ids(&q("sort=-secret")), ["c1", "c2"]);
    assert_eq!(
        ids(&q(&format!("filter={}", enc("secret = \"quokka\"")))),
        ["c2"]
    );
    assert_eq!(ids(&q("search=zanzibar")), ["c1"]);

    // A field hidden later is moved out of the shared search text at once.
    let r = admin.patch(
        &format!("{base}/customers"),
        json!({"fields": {"label": {"type": "text", "hiddenFrom": ["viewer"]}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let viewer = server.with_key(&owner.create_key(&ws, "viewer"));
    let editor = server.with_key(&owner.create_key(&ws, "editor"));
    let search = |c: &Client, w: &str| ids(&c.get(&format!("{base}/customers/query?search={w}")));
    assert!(
        search(&viewer, "visible").is_empty(),
        "the label is hidden from viewers now"
    );
    assert_eq!(
        search(&editor, "visible"),
        ["c1"],
        "editors still see the label"
    );
    assert!(search(&editor, "zanzibar").is_empty());
    // And records written after that are indexed the same way.
    admin.post(
        &format!("{base}/customers/data/upsert-many"),
        json!({"records": [{"id": "c4", "name": "Dee", "attributes": {"label": "fresh words", "secret": "marmot"}}]}),
    );
    assert!(search(&viewer, "fresh").is_empty());
    assert_eq!(search(&editor, "fresh"), ["c4"]);
    assert!(search(&editor, "marmot").is_empty());
    assert_eq!(search(&admin, "marmot"), ["c4"]);
}

#[test]
fn the_sql_sandbox_bounds_time_memory_functions_and_tables() {
    // Under a capped address space, as a small server would run.
    let server = Server::start_with_address_space_limit(3 << 30);
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    hidden_setup(&admin);
    if on_postgres() {
        return postgres_sandbox_attacks(&server, &owner, &admin);
    }
    let sql = |s: &str| admin.post("/api/v1/data/sql/query", json!({"sql": s}));
    let refused = |s: &str, why: &str| sql_refused(&admin, s, why);
    let rows20 = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 20)";
    // One enormous step, many of them, one enormous string, a pointer leak.
    refused(
        &format!("{rows20} SELECT sum(length(hex(zeroblob(200000000 + x)))) FROM r"),
        "larger than",
    );
    let terms: Vec<String> = (0..10)
        .map(|i| format!("length(hex(zeroblob(200000000 + x + {i})))"))
        .collect();
    refused(
        &format!("{rows20} SELECT sum({}) FROM r", terms.join(" + ")),
        "larger than",
    );
    // printf() past the length limit gives NULL; group_concat() past it is an error.
    let started = Instant::now();
    let r = sql("SELECT printf('%.*c', 900000000, 'x'), length(printf('%.*c', 2000000, 'x'))");
    assert_eq!(r.body["rows"], json!([[null, null]]), "{}", r.text);
    assert!(started.elapsed() < Duration::from_secs(2));
    refused("SELECT length(group_concat(printf('%.*c', 900000, 'x'))) FROM (WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 5000) SELECT x FROM r)", "larger than");
    refused("SELECT hex(fts3_tokenizer('simple'))", "not authorized");
    refused(
        "SELECT fts3_tokenizer('simple', x'0000000000000000')",
        "not authorized",
    );
    refused("SELECT load_extension('/tmp/x.so')", "not authorized");
    refused("SELECT andibase_segment('x')", "");
    // Internal tables cannot even be counted or tested for.
    for table in [
        "agents",
        "sqlite_master",
        "sqlite_schema",
        "events",
        "jobs",
        "notifications",
        "approvals",
        "_migrations",
        "data_definitions",
    ] {
        refused(&format!("SELECT count(*) FROM {table}"), "");
        refused(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), "");
        refused(&format!("SELECT count(*) FROM main.{table}"), "");
    }
    refused("SELECT count(*) FROM pragma_table_info('agents')", "");
    refused("SELECT name FROM pragma_table_list", "");
    refused("SELECT count(*) FROM temp.sqlite_temp_master", "");
    // What analysts write still works: views, CTEs, JSON, dates, windows, math.
    let ok = sql("WITH c AS (SELECT * FROM customers) SELECT count(*), max(length(label)), json_array(1, 2) ->> '$[1]', date('2026-03-05', '+1 day'), round(abs(-4.2)), (SELECT count(*) FROM customers) FROM c");
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["rows"], json!([[2, 13, 2, "2026-03-06", 4, 2]]));
    let ok = sql("SELECT c.id, row_number() OVER (ORDER BY c.id DESC), j.value FROM customers c, json_each('[7]') j");
    assert_eq!(ok.status, 200, "{}", ok.text);
    // A large answer is cut, not built in memory.
    let big = sql("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 9000) SELECT printf('%.*c', 900000, 'x') FROM r");
    assert_eq!(big.status, 200, "{}", &big.text[..200.min(big.text.len())]);
    assert_eq!(big.body["truncated"], true);
    assert!(big.body["rows"].as_array().unwrap().len() < 100);
    // A long query stops at the time limit.
    refused(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "stopped",
    );

    // While attackers run, others are answered quickly, and the process survives.
    let attacks = (0..6)
        .map(|i| {
            let terms: Vec<String> = (0..10)
                .map(|j| format!("length(printf('%.*c', 990000 + x + {j}, 'y'))"))
                .collect();
            format!(
                "WITH RECURSIVE r(x) AS (SELECT {i} UNION ALL SELECT x + 1 FROM r) SELECT sum({}) FROM r",
                terms.join(" + ")
            )
        })
        .collect();
    others_are_answered_while_attacked(&server, &admin, attacks);
    let r: Value = sql("SELECT count(*) FROM customers").body;
    assert_eq!(r["rows"], json!([[2]]));
}

/// Runs each attack at once; meanwhile reads answer quickly, each attack ends in a 400
/// and the process survives.
fn others_are_answered_while_attacked(server: &Server, admin: &Client, attacks: Vec<String>) {
    let attackers: Vec<_> = attacks
        .into_iter()
        .map(|sql| {
            let c = admin.clone();
            std::thread::spawn(move || c.post("/api/v1/data/sql/query", json!({"sql": sql})))
        })
        .collect();
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(
            admin.get("/api/v1/data-definitions/customers/query").status,
            200
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a read took {:?}",
            started.elapsed()
        );
    }
    for a in attackers {
        let r = a.join().unwrap();
        assert_eq!(r.status, 400, "{}", r.text);
    }
    assert_eq!(
        server.anon().get("/healthz").status,
        200,
        "the server survived"
    );
}

/// Asserts that `s` is refused quickly with a message containing `why`.
fn sql_refused(c: &Client, s: &str, why: &str) {
    let started = Instant::now();
    let r = c.post("/api/v1/data/sql/query", json!({"sql": s}));
    assert_eq!(r.status, 400, "{s} → {}", r.text);
    assert_eq!(r.body["issues"][0]["path"], json!(["sql"]));
    assert!(
        r.body["issues"][0]["message"]
            .as_str()
            .unwrap()
            .contains(why),
        "{s}: {}",
        r.text
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{s} took {:?}",
        started.elapsed()
    );
}

/// The same attacks in PostgreSQL's words: the statement runs as a login role that can
/// read its workspace's views and nothing else.
fn postgres_sandbox_attacks(server: &Server, owner: &Client, admin: &Client) {
    let sql = |s: &str| admin.post("/api/v1/data/sql/query", json!({"sql": s}));
    let refused = |s: &str, why: &str| sql_refused(admin, s, why);
    let own = server.postgres_schemas("ws_").remove(0);
    let other = owner.other_workspace(server);
    hidden_setup(&other);
    assert_eq!(
        other
            .post(
                "/api/v1/data/sql/query",
                json!({"sql": "SELECT count(*) FROM customers"})
            )
            .body["rows"],
        json!([[2]])
    );
    let other_views: Vec<String> = server
        .postgres_schemas("sqlv_")
        .into_iter()
        .filter(|s| !s.starts_with(&own.replace("ws_", "sqlv_")))
        .collect();
    assert_eq!(other_views.len(), 1, "{other_views:?}");
    let other_tables = server
        .postgres_schemas("ws_")
        .into_iter()
        .find(|s| *s != own)
        .unwrap();
    // Catalogs, by any spelling, and lookups that tell whether a table exists.
    for s in [
        "SELECT count(*) FROM pg_class",
        "SELECT nspname FROM pg_catalog.pg_namespace",
        "SELECT table_name FROM information_schema.tables",
        "SELECT * FROM \"pg_roles\"",
        &format!("SELECT '{other_tables}.agents'::regclass"),
        "SELECT pg_sleep(5)",
        "SELECT pg_notify('andibase_announce', 'api-key\nx')",
        "SELECT pg_advisory_lock(1)",
    ] {
        refused(s, "catalogs");
    }
    // Functions every role may call that reach past the views: refused by name.
    for (s, why) in [
        ("SELECT set_config('role', 'postgres', true)", "set_config"),
        (
            "SELECT query_to_xml('SELECT 1', true, true, '')",
            "query_to_xml",
        ),
        (
            &format!("SELECT to_regclass('{other_tables}.agents')"),
            "to_regclass",
        ),
        (
            "SELECT current_setting('data_directory')",
            "current_setting",
        ),
        ("SELECT repeat('x', 500000000)", "repeat"),
    ] {
        refused(s, why);
    }
    // Other statements, several statements, writes through a view.
    refused("SET ROLE postgres", "read-only");
    refused("DELETE FROM customers", "read-only");
    refused("SELECT 1; DELETE FROM customers", "one statement");
    // (Refused for standing inside the statement's projection; the counts below show
    // nothing was deleted.)
    refused(
        "WITH d AS (DELETE FROM customers RETURNING id) SELECT count(*) FROM d",
        "data-modifying",
    );
    refused("SELECT * FROM customers FOR UPDATE", "not authorized");
    // Internal tables and other workspaces: PostgreSQL's privileges refuse them.
    for table in [
        "agents",
        "events",
        "jobs",
        "approvals",
        "_migrations",
        "data_definitions",
    ] {
        refused(&format!("SELECT count(*) FROM {table}"), "no such table");
        refused(
            &format!("SELECT count(*) FROM {own}.{table}"),
            "not authorized",
        );
        refused(
            &format!("SELECT count(*) FROM {other_tables}.{table}"),
            "not authorized",
        );
    }
    refused(
        &format!("SELECT count(*) FROM {}.customers", other_views[0]),
        "not authorized",
    );
    refused("SELECT count(*) FROM andibase.users", "not authorized");
    // A deleted record's values never reach the statement's own conditions.
    let r = sql("SELECT count(*) FROM customers WHERE 1 / (CASE WHEN label = 'deleted one' THEN 0 ELSE 1 END) = 1");
    assert_eq!(r.body["rows"], json!([[2]]), "{}", r.text);
    // What analysts write still works: views, CTEs, JSON, dates, windows, math.
    let ok = sql("WITH c AS (SELECT * FROM customers) SELECT count(*), max(length(label)), (jsonb_build_array(1, 2) ->> 1)::int, to_char(date '2026-03-05' + 1, 'YYYY-MM-DD'), round(abs(-4.2)), (SELECT count(*) FROM customers) FROM c");
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["rows"], json!([[2, 13, 2, "2026-03-06", 4, 2]]));
    let ok = sql("SELECT c.id, row_number() OVER (ORDER BY c.id DESC), j.value, date '2026-03-05' FROM customers c, jsonb_array_elements('[7]') AS j(value)");
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["rows"][0], json!(["c2", 1, "7", "2026-03-05"]));
    assert_eq!(
        ok.body["columns"][3],
        json!({"name": "date", "type": "date"})
    );
    // One value past the size limit is refused, not sent; a large answer is cut.
    refused(
        "SELECT string_agg(md5(x::text), '') FROM generate_series(1, 100000) x",
        "larger than",
    );
    let big = sql("WITH v AS MATERIALIZED (SELECT string_agg(md5(y::text), '') AS s FROM generate_series(1, 28000) y) SELECT v.s FROM v, generate_series(1, 9000)");
    assert_eq!(big.status, 200, "{}", &big.text[..200.min(big.text.len())]);
    assert_eq!(big.body["truncated"], true);
    assert!(big.body["rows"].as_array().unwrap().len() < 100);
    // A long query stops at the time limit.
    let forever =
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";
    refused(forever, "stopped");
    // While attackers run, others are answered quickly, and the process survives.
    others_are_answered_while_attacked(server, admin, vec![forever.to_string(); 6]);
    // A definition changed: the views follow at the next statement.
    let r = admin.patch(
        "/api/v1/data-definitions/customers",
        json!({"fields": {"label": null, "tier": {"type": "number"}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    refused("SELECT label FROM customers", "no such column");
    assert_eq!(
        sql("SELECT count(tier) FROM customers").body["rows"],
        json!([[0]])
    );
}

#[test]
fn control_characters_and_bad_encoding_in_query_parameters_are_a_400() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    hidden_setup(&admin);
    for search in ["%00", "a%00b", "%01", "%1F%7F", "%E2%80%AE"] {
        let r = admin.get(&format!(
            "/api/v1/data-definitions/customers/query?search={search}"
        ));
        assert!(
            r.status == 200 || r.status == 400,
            "search={search} → {} {}",
            r.status,
            r.text
        );
        assert_ne!(r.body["code"], "internal_error");
    }
    for bad in ["%FF", "%C3%28", "%ED%A0%80"] {
        let r = admin.get(&format!(
            "/api/v1/data-definitions/customers/query?search={bad}"
        ));
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.body["code"], "invalid_request", "{}", r.text);
    }
}

#[test]
fn callbacks_to_ipv6_forms_of_private_addresses_and_bad_header_values_are_refused() {
    let server = Server::start();
    let (_owner, _ws, agent, _) = crate::support::approvals_agent(&server);
    let ask = |callback: Value| {
        agent.post(
            "/v1/approvals",
            json!({"question": "Deploy?", "context_markdown": "Build #1", "options": [{"label": "Yes", "value": "yes"}], "callback": callback}),
        )
    };
    for url in [
        "http://[::127.0.0.1]:9/hook",
        "http://[::7f00:1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://[64:ff9b::7f00:1]:9/hook",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://[2002:7f00:1::]:9/hook",
        "http://[2002:c0a8:101::1]/hook",
        "http://[2001:0:4136:e378:0:0:80ff:fffe]/hook",
    ] {
        let r = ask(json!({"url": url}));
        assert_eq!(r.status, 400, "{url} → {}", r.text);
        assert_eq!(r.body["code"], "invalid_payload", "{}", r.text);
        assert_eq!(
            r.body["issues"][0]["path"],
            json!(["callback", "url"]),
            "{url}"
        );
    }
    for value in [
        "line\u{7}bell",
        "tab\tok\u{0}nul",
        "naïve",
        "emoji 🎉",
        "del\u{7f}",
    ] {
        let r = ask(json!({"url": "https://example.com/hook", "headers": {"X-Token": value}}));
        assert_eq!(r.status, 400, "{value:?} → {}", r.text);
        assert_eq!(
            r.body["issues"][0]["path"],
            json!(["callback", "headers", "X-Token"])
        );
    }
}

#[test]
fn data_files_and_folders_are_private_to_the_server_user() {
    use std::os::unix::fs::PermissionsExt;
    if crate::support::on_postgres() {
        // The databases are on the PostgreSQL server, and backups are pg_dump's.
        return;
    }
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    hidden_setup(&admin);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = server.data_dir.clone();
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    assert_eq!(mode(&dir.join("workspaces")), 0o700);
    let mut files = vec![dir.join("main.db"), dir.join("secret.key")];
    for entry in std::fs::read_dir(dir.join("workspaces")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for suffix in ["-wal", "-shm"] {
        let mut name = dir.join("main.db").into_os_string();
        name.push(suffix);
        files.push(name.into());
    }
    assert!(files.len() >= 6, "{files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let out = crate::support::temp_dir("backup");
    let target = out.join("b");
    let (code, _, err) = server.cli(&["backup", "--out", target.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(mode(&target), 0o700);
    assert_eq!(mode(&target.join("main.db")), 0o600);
    for entry in std::fs::read_dir(target.join("workspaces")).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
}

/// A connection to the server from the loopback address `from` (127.0.0.0/8 is all this
/// machine's, so one test can be several clients).
fn connect_from(server: &Server, from: &str) -> std::net::TcpStream {
    let to: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    socket.into()
}

/// Whether the server closed the connection within `within`.
fn closed_within(stream: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or similar before the close.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn slow_and_numerous_connections_from_one_client_cannot_starve_others() {
    use std::io::Write;
    let server = Server::start_with(&[
        "--max-connections-per-address",
        "40",
        "--max-connections",
        "60",
        "--header-read-timeout-ms",
        "2000",
    ]);
    // One client opens 50 connections and starts its headers: 40 are held, the rest
    // closed at once.
    let opened: Vec<_> = (0..50)
        .map(|_| {
            let mut s = connect_from(&server, "127.0.0.2");
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut held = Vec::new();
    let mut refused = 0;
    for mut s in opened {
        if closed_within(&mut s, Duration::from_millis(5)) {
            refused += 1;
        } else {
            held.push(s);
        }
    }
    assert_eq!((held.len(), refused), (40, 10));
    // Everyone else is answered at once.
    let started = Instant::now();
    assert!(healthz_from(&server, "127.0.0.1").starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(1));
    // The cap in all: a third client gets the 20 left, no more. (The health check's
    // connection is given back just after its socket closes: let it go first, or it
    // can still count against the 60 when the third client arrives.)
    std::thread::sleep(Duration::from_millis(100));
    let mut third: Vec<_> = (0..21)
        .map(|_| connect_from(&server, "127.0.0.3"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let closed = third
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(5)))
        .filter(|c| *c)
        .count();
    assert_eq!(closed, 1, "the 61st connection is closed");
    // Headers that never finish, even sent a byte at a time, are cut off.
    let deadline = Instant::now() + Duration::from_millis(4000);
    let mut trickle = held.pop().unwrap();
    while Instant::now() < deadline && trickle.write_all(b"X").is_ok() {
        if closed_within(&mut trickle, Duration::from_millis(100)) {
            break;
        }
    }
    assert!(
        Instant::now() < deadline,
        "a trickling client was not cut off"
    );
    for s in held.iter_mut() {
        assert!(
            closed_within(s, Duration::from_millis(1000)),
            "a stalled connection stayed open"
        );
    }
    // Its places are free again.
    let answer = healthz_from(&server, "127.0.0.2");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// `GET /healthz` from `from` on a connection that closes after the answer.
fn healthz_from(server: &Server, from: &str) -> String {
    use std::io::{Read, Write};
    let mut s = connect_from(server, from);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// A small deterministic generator (xorshift), so a failing case can be replayed.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A percent-encoded string of 0 to 40 bytes, often control bytes, NUL, bytes that
    /// are not UTF-8, and filter syntax.
    fn encoded(&mut self) -> String {
        const PIECES: &[&str] = &[
            "%00",
            "%FF",
            "%C3%28",
            "%ED%A0%80",
            "%0A",
            "%7F",
            "%E2%80%AE",
            "%22",
            "%5C",
            "(",
            ")",
            "~",
            "%26",
            "%3D",
            "%25",
            "a",
            "1",
            "-",
            ".",
            ",",
            "*",
            "%20",
        ];
        let n = self.next() % 12;
        (0..n)
            .map(|_| {
                if self.next().is_multiple_of(3) {
                    format!("%{:02X}", self.next() % 256)
                } else {
                    PIECES[(self.next() % PIECES.len() as u64) as usize].to_string()
                }
            })
            .collect()
    }
}

/// Every route's query parameters and every body route, with generated bad input: never
/// a 5xx, and every refusal in the API's error shape.
#[test]
fn generated_bad_query_parameters_and_bodies_never_make_a_server_error() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    hidden_setup(&admin);
    let made = admin.post("/admin/create_space", json!({"space_id": "brain"}));
    assert_eq!(made.status, 200, "{}", made.text);
    let doc = admin.get("/api/openapi.json").body;
    // Longer runs: ANDIBASE_FUZZ_CASES (per route) and ANDIBASE_FUZZ_SEED.
    let cases: usize = std::env::var("ANDIBASE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("ANDIBASE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_0001);
    eprintln!("generated input: {cases} cases a route, seed {seed}");
    let mut gen = Bytes(seed.max(1));
    let fill = |path: &str| {
        path.replace("{workspaceHandle}", &ws)
            .replace("{handle}", &ws)
            .replace("{definitionId}", "customers")
            .replace("{id}", "c1")
            .replace("{idOrHandle}", "customers")
            .replace("{space_id}", "brain")
            .replace("{conversation_id}", "1")
            .replace(['{', '}'], "")
    };
    let (mut sent, deadline) = (0, Instant::now() + Duration::from_secs(60));
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let url = fill(path);
            // Long-polls and streams wait by design; their parameters are checked elsewhere.
            if url.contains("/events") || url.contains("/stream") || url.contains("/result") {
                continue;
            }
            for _ in 0..cases {
                if Instant::now() > deadline {
                    break;
                }
                let mut query = Vec::new();
                for p in &params {
                    if gen.next().is_multiple_of(2) {
                        query.push(format!("{p}={}", gen.encoded()));
                    }
                }
                let target = format!("{url}?{}", query.join("&"));
                let body = match gen.next() % 4 {
                    0 => "{\"a\":".to_string(),
                    1 => format!("{{\"records\": [{{\"id\": \"x\\u0000\", \"attributes\": {{\"label\": {}}}}}]}}", gen.next()),
                    2 => "[]".to_string(),
                    _ => format!("\"{}\"", gen.encoded()),
                };
                let r = match method.as_str() {
                    "get" => admin.get(&target),
                    "delete" => continue,
                    m => admin.request(&m.to_uppercase(), &target, Some(&body)),
                };
                sent += 1;
                assert!(
                    r.status < 500,
                    "{method} {target} {body:?} → {} {}",
                    r.status,
                    r.text
                );
                if r.status >= 400 && path.starts_with("/api/") {
                    assert!(r.body["code"].is_string(), "{method} {target}: {}", r.text);
                }
            }
        }
    }
    assert!(sent > 20 * cases, "only {sent} requests");
    assert_eq!(server.anon().get("/healthz").status, 200);
}

/// The attack of issue 13, item 7: an admin API key made a human account with a
/// password, signed in as it, and minted keys. Now no route a key can call makes or
/// joins an account, and no answer tells which emails have one.
#[test]
fn an_api_key_cannot_make_itself_a_human_account() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let key = server.with_key(&owner.create_key(&ws, "admin"));
    for (path, body) in [
        (
            "users",
            json!({"email": "mallory@example.com", "password": "mallory pass", "role": "admin"}),
        ),
        (
            "users",
            json!({"email": "mallory@example.com", "role": "admin"}),
        ),
        (
            "invitations",
            json!({"email": "mallory@example.com", "role": "admin"}),
        ),
    ] {
        let r = key.post(&format!("/api/v1/workspaces/{ws}/{path}"), body);
        r.expect_error(401, "session_required");
    }
    let r = server.anon().post(
        "/api/v1/auth/sign-in",
        json!({"email": "mallory@example.com", "password": "mallory pass"}),
    );
    r.expect_error(401, "authentication_required");
    assert_eq!(
        owner
            .get(&format!("/api/v1/workspaces/{ws}/invitations"))
            .body,
        json!([])
    );
    assert_eq!(
        owner
            .get(&format!("/api/v1/workspaces/{ws}/users"))
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The owner's own invitation for an existing account and for a new email answer alike.
    let users = format!("/api/v1/workspaces/{ws}/users");
    let a = owner.post(&users, json!({"email": "owner@example.com"}));
    let b = owner.post(&users, json!({"email": "nobody-yet@example.com"}));
    assert_eq!((a.status, b.status), (201, 201));
    assert!(!a.text.contains("no user") && !b.text.contains("no user"));
}
