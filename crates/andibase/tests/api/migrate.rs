//! `andibase migrate-to-postgres`: a SQLite installation copied into PostgreSQL answers
//! every read as it did.

use serde_json::{json, Value};

use crate::support::{cli_in, on_postgres, Client, Server};

/// What a client of the installation reads: records (searched, and as a role that may not
/// see a hidden field), read-only SQL, definitions, workspaces, memory, an API key that
/// still works.
fn reads(server: &Server, owner: &Client, admin: &Client, viewer: &Client) -> Vec<Value> {
    let (owner, admin, viewer) = (owner.on(server), admin.on(server), viewer.on(server));
    let query = "/api/v1/data-definitions/customers/query?search=words&sort=name";
    vec![
        admin.get(query).body["items"].clone(),
        viewer.get(query).body["items"].clone(),
        admin
            .get("/api/v1/data-definitions/customers/query?filter=label%20~%20%22other%22&count=true")
            .body["total"]
            .clone(),
        admin
            .post(
                "/api/v1/data/sql/query",
                json!({"sql": "SELECT name, label FROM customers ORDER BY name"}),
            )
            .body["rows"]
            .clone(),
        admin.get("/api/v1/data-definitions").body["items"].clone(),
        owner.get("/api/v1/workspaces").body.clone(),
        admin
            .post(
                "/v1/brain/execute_kip_readonly",
                json!({"command": "FIND(?p.name, ?p.attributes.display_name) WHERE { ?p {type: \"Person\"} }"}),
            )
            .body["result"]
            .clone(),
        admin
            .post(
                "/v1/brain/execute_kip_readonly",
                json!({"command": "SEARCH CONCEPT \"user_42\" LIMIT 3"}),
            )
            .body["result"][0]["name"]
            .clone(),
        admin.get("/v1/brain/info").body["result"]["concepts"].clone(),
    ]
}

/// An installation worth copying: a workspace with a memory space and a Person in it, a
/// definition with a hidden field; its owner, admin and viewer and what they read.
fn populate(server: &Server) -> (Client, Client, Client, Vec<Value>) {
    let (owner, admin, viewer, _other) = crate::memory::make_space(server);
    crate::security::hidden_setup(&admin);
    let made = admin.post(
        "/v1/brain/get_or_init_user",
        json!({"user": "user_42", "name": "Ada"}),
    );
    assert_eq!(made.status, 200, "{}", made.text);
    let before = reads(server, &owner, &admin, &viewer);
    assert_eq!(before[1][0]["attributes"].get("secret"), None);
    assert_eq!(
        before[3],
        json!([["Ada", "visible words"], ["Bob", "other words"]])
    );
    (owner, admin, viewer, before)
}

#[test]
fn a_sqlite_installation_moves_to_postgres_and_reads_the_same() {
    // The source is a SQLite installation, which the PostgreSQL pass would not start.
    if on_postgres() {
        return;
    }
    let Some(db) = andibase_storage::ScratchDatabase::for_test() else {
        return;
    };
    let key = "7".repeat(64);
    let source = Server::start_with_env(&[], &[("ANDIBASE_SECRET_KEY", &key)]);
    let (owner, admin, viewer, before) = populate(&source);

    let from = source.data_dir.clone();
    let _kept = source.stop();
    let migrate = || {
        cli_in(
            &from,
            &[
                "migrate-to-postgres",
                "--from",
                from.to_str().unwrap(),
                "--database-url",
                db.url(),
            ],
        )
    };
    let (code, out, err) = migrate();
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("verified"), "{out}");
    // Again: the same result, nothing doubled.
    let (code, again, err) = migrate();
    assert_eq!(code, Some(0), "{again}\n{err}");
    assert_eq!(again, out);

    // The copied tables were vacuumed: counts through an index need not read them.
    let tables = andibase_storage::record_table_visibility(db.url()).unwrap();
    assert!(!tables.is_empty());
    for (table, pages, visible) in tables {
        assert_eq!(visible, pages, "{table}: every page marked all-visible");
    }
    let target = Server::replica(db.url(), &[]);
    let after = reads(&target, &owner, &admin, &viewer);
    assert_eq!(after, before);
    // And it goes on: a write on PostgreSQL takes a new id.
    let r = admin.on(&target).post(
        "/api/v1/data-definitions/customers/data/upsert-many",
        json!({"records": [{"id": "c9", "name": "Cy", "attributes": {"label": "new words"}}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin
        .on(&target)
        .get("/api/v1/data-definitions/customers/query?search=new");
    assert_eq!(r.body["items"][0]["id"], "c9", "{}", r.text);
}

/// `andibase backup` on PostgreSQL: a `pg_dump` taken while serving, which `pg_restore`
/// puts into an empty database where a replica answers every read as before (read-only
/// SQL included: its schemas are left out of the dump and rebuilt on first use).
#[test]
fn a_postgres_backup_restores_and_reads_the_same() {
    // It makes its own two databases, so one pass is enough.
    if on_postgres() {
        return;
    }
    let (Some(db), Some(empty)) = (
        andibase_storage::ScratchDatabase::for_test(),
        andibase_storage::ScratchDatabase::for_test(),
    ) else {
        return;
    };
    let source = Server::replica(db.url(), &[]);
    let (owner, admin, viewer, before) = populate(&source);

    let out = crate::support::temp_dir("pg-backup").join("b");
    let backup = || {
        cli_in(
            &source.data_dir,
            &["backup", "--out", out.to_str().unwrap()],
        )
    };
    let (code, said, err) = backup();
    assert_eq!(code, Some(0), "{said}\n{err}");
    let dump = out.join("andibase.pgdump");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dump).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (code, _, err) = backup();
    assert_eq!(code, Some(1));
    assert!(err.contains("already holds a backup"), "{err}");

    let restore = std::process::Command::new("pg_restore")
        .arg("--exit-on-error")
        .arg(format!("--dbname={}", empty.url()))
        .arg(&dump)
        .output()
        .expect("pg_restore, from PostgreSQL's client tools");
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let restored = Server::replica(empty.url(), &[]);
    assert_eq!(reads(&restored, &owner, &admin, &viewer), before);
}
