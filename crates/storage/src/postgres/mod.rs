//! PostgreSQL, the engine for several replicas: one server, a schema per database.
//!
//! Where SQLite has a file per workspace, PostgreSQL has a schema (`andibase` for the
//! main database, `ws_<id>` for each workspace), all on one [`Postgres`] server handle.
//! Domain code is synchronous closures over [`crate::Sql`], as on SQLite; here they run
//! on threads that each own one connection (the `tokio-postgres` driver under a blocking
//! front, [`driven`]), so a write closure runs inside one PostgreSQL transaction exactly
//! as it runs inside one SQLite transaction.
//!
//! Writes to one schema are serialized across every replica by a transaction-scoped
//! advisory lock: SQLite's one writer per file, kept, so read-then-write checks in domain
//! code (quotas, uniqueness by lookup, sequence numbers) hold on both engines. Writes to
//! different workspaces run in parallel. Each commit is announced with `NOTIFY`, which is
//! how listeners on every replica hear of changes (see [`Postgres::commits`]).

mod driven;
mod held_back;
mod limited;
#[cfg(test)]
pub(crate) use limited::CONNECTIONS as LIMITED_CONNECTIONS;
mod pipeline;
pub(crate) mod sandbox;
mod scratch;
mod screen;
mod values;

pub use scratch::{
    database_holds, record_table_visibility, schemas_in, test_server_url, ScratchDatabase,
};

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use andibase_common::{DomainError, DomainResult};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Statement};

use crate::database::{internal, Reader, Tx};
use crate::migrations::Migration;
use crate::value::Value;
use crate::writer::{PendingWrite, WriteJob, MAX_GROUP};

pub(crate) use values::Cell;

/// The channel every commit is announced on; the payload is the schema.
const COMMITS_CHANNEL: &str = "andibase_commits";

/// The channel of [`crate::Tx::announce`]: `topic`, a newline, the message.
pub(crate) const ANNOUNCE_CHANNEL: &str = "andibase_announce";

/// The topic of the announcement made when announcements may have been missed (the
/// listening connection dropped): whoever keeps copies should drop them all.
pub const MISSED: &str = "missed";

/// A change another process made that this one may keep a copy of (a cached key, say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    pub topic: String,
    pub message: String,
}

/// The SQLSTATE of a statement stopped by `statement_timeout`.
const QUERY_CANCELED: &str = "57014";

/// Prepared statements kept per connection before the cache starts over.
const STATEMENT_CACHE: usize = 2000;

/// A connection's prepared statements by their text (with `?` placeholders), up to
/// [`STATEMENT_CACHE`] before it starts over.
#[derive(Default)]
struct Statements(HashMap<String, Statement>);

impl Statements {
    fn get(&self, sql: &str) -> Option<Statement> {
        self.0.get(sql).cloned()
    }

    fn keep(&mut self, sql: &str, statement: &Statement) {
        if self.0.len() >= STATEMENT_CACHE {
            self.0.clear();
        }
        self.0.insert(sql.to_string(), statement.clone());
    }

    fn forget(&mut self, sql: &str) {
        self.0.remove(sql);
    }
}

/// Whether a cached statement was refused because the tables under it changed shape
/// ("cached plan must not change result type"): prepared again, it runs.
fn plan_went_stale(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::FEATURE_NOT_SUPPORTED)
}

/// How many connections run writes, and how many run reads, per process.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    pub writers: usize,
    pub readers: usize,
    /// The key every replica shares (`ANDIBASE_SECRET_KEY`): read-only SQL logs in with
    /// passwords derived from it (see `postgres::sandbox`); without it, read-only SQL is
    /// refused.
    pub secret: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            writers: 4,
            readers: 8,
            secret: None,
        }
    }
}

type Job = Box<dyn FnOnce(&Session) + Send>;

/// A PostgreSQL server: pools of connections shared by every schema on it. Cheap to
/// clone; the threads end when the last handle is gone.
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Server>,
}

struct Server {
    url: String,
    secret: Option<String>,
    writers: flume::Sender<Job>,
    readers: flume::Sender<Job>,
    /// The commit counter of each schema a handle was opened on.
    commits: Arc<Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>>,
    announcements: tokio::sync::broadcast::Sender<Announcement>,
    /// Connections for short reads on the async runtime ([`Schema::read_rows`]).
    pipeline: pipeline::Pipeline,
    /// Connections for reads with a time limit on the async runtime
    /// ([`Schema::read_rows_within`]).
    limited: limited::LimitedReads,
    /// The round trips the pools' connections have made.
    #[cfg_attr(not(test), allow(dead_code))]
    round_trips: Arc<AtomicUsize>,
}

impl Postgres {
    /// Connects the pools (failing at once when the server cannot be reached) and starts
    /// listening for commits made by any process. Blocking.
    pub fn connect(url: &str, options: PostgresOptions) -> DomainResult<Postgres> {
        let (writers, write_jobs) = flume::unbounded::<Job>();
        let (readers, read_jobs) = flume::unbounded::<Job>();
        // Each thread connects its own client: the blocking client runs a runtime of its
        // own, which cannot start on a thread already inside one.
        let (connected, answers) = flume::unbounded::<DomainResult<()>>();
        let round_trips = Arc::new(AtomicUsize::new(0));
        let mut threads = 0;
        for (role, n, jobs) in [
            ("w", options.writers, write_jobs),
            ("r", options.readers, read_jobs),
        ] {
            for i in 0..n.max(1) {
                let (jobs, url, connected) = (jobs.clone(), url.to_string(), connected.clone());
                let trips = round_trips.clone();
                std::thread::Builder::new()
                    .name(format!("pg-{role}{i}"))
                    .spawn(move || match Session::connect(&url, role == "r", trips) {
                        Ok(session) => {
                            let _ = connected.send(Ok(()));
                            session.serve(&url, jobs)
                        }
                        Err(e) => {
                            let _ = connected.send(Err(e));
                        }
                    })
                    .map_err(internal)?;
                threads += 1;
            }
        }
        let commits = Arc::new(Mutex::new(HashMap::new()));
        let (announcements, _) = tokio::sync::broadcast::channel(1024);
        listen(url, commits.clone(), announcements.clone(), connected)?;
        for _ in 0..=threads {
            answers
                .recv()
                .map_err(|_| internal("postgres connection thread stopped"))??;
        }
        Ok(Postgres {
            inner: Arc::new(Server {
                url: url.to_string(),
                secret: options.secret.clone(),
                writers,
                readers,
                commits,
                announcements,
                pipeline: pipeline::Pipeline::new(url),
                limited: limited::LimitedReads::new(url),
                round_trips,
            }),
        })
    }

    /// What every process on this server announces ([`crate::Tx::announce`]), this one
    /// included, from the moment of subscribing.
    pub fn announcements(&self) -> tokio::sync::broadcast::Receiver<Announcement> {
        self.inner.announcements.subscribe()
    }

    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The schema `name`, created and migrated first if needed (once, even when several
    /// processes start together). Blocking.
    pub(crate) fn open_schema(&self, name: &str, migrations: &[Migration]) -> DomainResult<Schema> {
        if !safe_schema_name(name) {
            return Err(internal(format!("not a schema name: {name}")));
        }
        let (name2, migrations) = (name.to_string(), migrations.to_vec());
        self.run_blocking(&self.inner.writers, move |s| s.migrate(&name2, &migrations))?;
        let commits = self
            .inner
            .commits
            .lock()
            .expect("commit map poisoned")
            .entry(name.to_string())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .clone();
        Ok(Schema {
            server: self.clone(),
            name: name.to_string(),
            lock: lock_key(name),
            commits,
            queue: Arc::default(),
        })
    }

    /// Schemas whose names start with `prefix`.
    pub(crate) fn schemas(&self, prefix: &str) -> DomainResult<Vec<String>> {
        let pattern = format!("{}%", prefix.replace('_', "\\_"));
        self.run_blocking(&self.inner.readers, move |s| {
            let rows = s.query(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE ? ORDER BY 1",
                &[Value::Text(pattern)],
            )?;
            rows.into_iter().map(|r| r.text(0)).collect()
        })
    }

    /// Drops a schema and everything in it, with the login roles and views of a
    /// workspace's read-only SQL.
    pub(crate) fn drop_schema(&self, name: &str) -> DomainResult<()> {
        if !safe_schema_name(name) {
            return Err(DomainError::NotFound);
        }
        let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
        self.run_blocking(&self.inner.writers, move |s| s.batch(&sql))?;
        let Some(workspace) = name.strip_prefix("ws_") else {
            return Ok(());
        };
        for login in self.schemas(&format!("sqlv_{workspace}_"))? {
            let sql = format!("DROP SCHEMA IF EXISTS {login} CASCADE; DROP ROLE IF EXISTS {login}");
            self.run_blocking(&self.inner.writers, move |s| s.batch(&sql))?;
        }
        Ok(())
    }

    /// Runs `f` on a pool thread and waits for it on this thread (for blocking callers).
    fn run_blocking<T: Send + 'static>(
        &self,
        pool: &flume::Sender<Job>,
        f: impl FnOnce(&Session) -> DomainResult<T> + Send + 'static,
    ) -> DomainResult<T> {
        let (tx, rx) = flume::bounded(1);
        pool.send(Box::new(move |s: &Session| {
            let _ = tx.send(f(s));
        }))
        .map_err(|_| internal("postgres pool stopped"))?;
        rx.recv()
            .map_err(|_| internal("postgres pool dropped a job"))?
    }

    async fn run<T: Send + 'static>(
        pool: &flume::Sender<Job>,
        f: impl FnOnce(&Session) -> DomainResult<T> + Send + 'static,
    ) -> DomainResult<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        pool.send(Box::new(move |s: &Session| {
            let _ = tx.send(f(s));
        }))
        .map_err(|_| internal("postgres pool stopped"))?;
        rx.await
            .map_err(|_| internal("postgres pool dropped a job"))?
    }
}

/// `url` (`postgres://user:password@host/db`) without its password, and the password:
/// for handing the address to PostgreSQL's own tools (`pg_dump`) with the password in
/// their environment (`PGPASSWORD`), never on a command line other users can read.
/// A `key=value` connection string is given back whole.
pub fn split_password(url: &str) -> DomainResult<(String, Option<String>)> {
    let config: postgres::Config = url.parse().map_err(|e| {
        DomainError::invalid("databaseUrl", format!("is not a PostgreSQL address: {e}"))
    })?;
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok((url.to_string(), password));
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((user_info, hosts)) = authority.rsplit_once('@') else {
        return Ok((url.to_string(), password));
    };
    let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
    Ok((format!("{scheme}://{user}@{hosts}{path}"), password))
}

/// Names we make ourselves (`andibase`, `ws_<hex>`): lowercase letters, digits and `_`,
/// so they are safe to write into statements unquoted.
fn safe_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The advisory lock that serializes writes to a schema (FNV-1a of its name), or other
/// work named so (`pg_trgm`: making that extension).
pub(crate) fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// A thread with its own connection that hears every commit and announcement made on
/// the server: a commit moves the matching schema's counter, an announcement goes to
/// every subscriber. Reconnects when the connection drops.
fn listen(
    url: &str,
    commits: Arc<Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>>,
    announcements: tokio::sync::broadcast::Sender<Announcement>,
    connected: flume::Sender<DomainResult<()>>,
) -> DomainResult<()> {
    let listen = |url: &str| -> DomainResult<Client> {
        let mut client = Client::connect(url, NoTls).map_err(internal)?;
        client
            .batch_execute(&format!(
                "LISTEN {COMMITS_CHANNEL}; LISTEN {ANNOUNCE_CHANNEL}"
            ))
            .map_err(internal)?;
        Ok(client)
    };
    let url = url.to_string();
    std::thread::Builder::new()
        .name("pg-listen".into())
        .spawn(move || {
            let mut client = match listen(&url) {
                Ok(client) => client,
                Err(e) => {
                    let _ = connected.send(Err(e));
                    return;
                }
            };
            let _ = connected.send(Ok(()));
            loop {
                {
                    let mut notifications = client.notifications();
                    let mut heard = notifications.blocking_iter();
                    while let Ok(Some(n)) = heard.next() {
                        if n.channel() == ANNOUNCE_CHANNEL {
                            let (topic, message) =
                                n.payload().split_once('\n').unwrap_or((n.payload(), ""));
                            let _ = announcements.send(Announcement {
                                topic: topic.into(),
                                message: message.into(),
                            });
                            continue;
                        }
                        let map = commits.lock().expect("commit map poisoned");
                        if let Some(counter) = map.get(n.payload()) {
                            counter.send_modify(|c| *c = c.wrapping_add(1));
                        }
                    }
                }
                // The connection dropped: every counter moves (a commit may have been
                // missed meanwhile), then listen again; stop once the server handle is
                // gone.
                if Arc::strong_count(&commits) == 1 {
                    return;
                }
                for counter in commits.lock().expect("commit map poisoned").values() {
                    counter.send_modify(|c| *c = c.wrapping_add(1));
                }
                let _ = announcements.send(Announcement {
                    topic: MISSED.into(),
                    message: String::new(),
                });
                std::thread::sleep(std::time::Duration::from_millis(500));
                if let Ok(fresh) = listen(&url) {
                    client = fresh;
                }
            }
        })
        .map_err(internal)?;
    Ok(())
}

/// One schema on the server: what a [`crate::Database`] is on PostgreSQL.
pub(crate) struct Schema {
    server: Postgres,
    pub(crate) name: String,
    lock: i64,
    commits: tokio::sync::watch::Sender<u64>,
    /// Writes waiting for this process's one flusher of the schema.
    queue: Arc<Mutex<WriteQueue>>,
}

/// The writes to one schema queued in this process. One pool thread at a time flushes
/// them (`flushing`), several per transaction, as SQLite's writer groups them: one lock
/// wait, one commit and one WAL flush for the group, each write in its own savepoint so
/// it still commits or fails alone.
#[derive(Default)]
pub(crate) struct WriteQueue {
    jobs: Vec<Box<dyn WriteJob>>,
    flushing: bool,
}

impl WriteQueue {
    /// The first `most` writes queued, or all of them.
    fn take(&mut self, most: usize) -> Vec<Box<dyn WriteJob>> {
        let n = self.jobs.len().min(most);
        self.jobs.drain(..n).collect()
    }
}

impl Schema {
    pub(crate) fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    pub(crate) fn announcements(&self) -> tokio::sync::broadcast::Receiver<Announcement> {
        self.server.announcements()
    }

    pub(crate) async fn write<T, F>(&self, f: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> DomainResult<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(PendingWrite::new(f, reply));
        let start_flushing = {
            let mut queue = self.queue.lock().expect("write queue poisoned");
            queue.jobs.push(job);
            !std::mem::replace(&mut queue.flushing, true)
        };
        if start_flushing {
            let (queue, schema, lock, commits, writers) = (
                self.queue.clone(),
                self.name.clone(),
                self.lock,
                self.commits.clone(),
                self.server.inner.writers.clone(),
            );
            self.server
                .inner
                .writers
                .send(Box::new(move |s: &Session| {
                    s.flush(&queue, &schema, lock, &commits, &writers)
                }))
                .map_err(|_| internal("postgres pool stopped"))?;
        }
        answer
            .await
            .map_err(|_| internal("postgres writer dropped a job"))?
    }

    /// How many writes wait for this process's flusher of the schema.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue.lock().expect("write queue poisoned").jobs.len()
    }

    /// `VACUUM`s `table` now, on a connection of the write pool (see [`Session::vacuum`]).
    pub(crate) async fn vacuum(&self, table: &str) -> DomainResult<()> {
        let (schema, table) = (self.name.clone(), table.to_string());
        Postgres::run(&self.server.inner.writers, move |s| {
            s.vacuum(&schema, &table)
        })
        .await
    }

    /// The rows of one short read statement whose tables are named with their schema
    /// ([`Schema::table_name`]), run on the calling task (see [`pipeline`]).
    pub(crate) async fn read_rows(
        &self,
        sql: &str,
        params: &[Value],
    ) -> DomainResult<Vec<crate::Row>> {
        self.server.inner.pipeline.query(sql, params).await
    }

    /// The rows of one read statement in this schema, or `None` when it ran past `limit`
    /// and was stopped; run on the calling task (see [`limited`]).
    pub(crate) async fn read_rows_within(
        &self,
        limit: std::time::Duration,
        sql: &str,
        params: &[Value],
    ) -> DomainResult<Option<Vec<crate::Row>>> {
        let limited = &self.server.inner.limited;
        limited.query(&self.name, limit, sql, params).await
    }

    /// How many connections [`Schema::read_rows_within`] has made in this process.
    #[cfg(test)]
    pub(crate) fn limited_connections_made(&self) -> usize {
        self.server.inner.limited.connections_made()
    }

    /// How many round trips the pools' connections to this schema's server have made.
    #[cfg(test)]
    pub(crate) fn round_trips(&self) -> usize {
        self.server
            .inner
            .round_trips
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many connections [`Schema::read_rows`] has made in this process.
    #[cfg(test)]
    pub(crate) fn pipelined_connections_made(&self) -> usize {
        self.server.inner.pipeline.connections_made()
    }

    /// `table` of this schema, named so that it is found whatever the `search_path`.
    pub(crate) fn table_name(&self, table: &str) -> String {
        format!("{}.{}", self.name, crate::quote_ident(table))
    }

    pub(crate) async fn read<T, F>(&self, f: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader<'_>) -> DomainResult<T> + Send + 'static,
    {
        let schema = self.name.clone();
        Postgres::run(&self.server.inner.readers, move |s| {
            s.use_schema(&schema)?;
            f(&Reader::postgres(s))
        })
        .await
    }
}

/// One connection, owned by one pool thread.
pub struct Session {
    connection: driven::Driven,
    /// Statements without parameters to send ahead of the next one, in its round trip:
    /// a write group's `BEGIN` and each savepoint renewal (see [`Session::write_group`]).
    /// While any wait here, nothing else was sent since they were set.
    ahead: RefCell<String>,
    /// The error of statements sent ahead, which is the whole group's.
    ahead_failed: RefCell<Option<String>>,
    statements: RefCell<Statements>,
    /// The `search_path` the connection has now.
    schema: RefCell<String>,
    read_only: bool,
    /// Whether a write transaction is open (statements then prepare in a savepoint).
    in_transaction: std::cell::Cell<bool>,
    /// The `statement_timeout` (ms) the server holds for this connection, when known, and
    /// the one the next statement needs (0: none): set only when they differ, so a run of
    /// reads under the same limit costs no extra round trips.
    timeout_set: std::cell::Cell<Option<u128>>,
    timeout_wanted: std::cell::Cell<u128>,
    /// Tables the open write transaction asked to have vacuumed once it commits.
    vacuums: RefCell<Vec<String>>,
    /// Rows the open write transaction will insert before it commits (see
    /// [`Session::insert_later`]).
    held: RefCell<held_back::HeldBack>,
    /// What the open write transaction keeps of its tables (see [`Session::remember`]).
    memos: RefCell<Vec<Memo>>,
}

/// A value read from `table` in this transaction, kept until a statement names it.
struct Memo {
    table: String,
    value: Box<dyn std::any::Any>,
}

impl Session {
    /// A connection; a reader's refuses every write (`default_transaction_read_only`).
    fn connect(url: &str, read_only: bool, round_trips: Arc<AtomicUsize>) -> DomainResult<Session> {
        let connection = driven::Driven::connect(url, round_trips).map_err(internal)?;
        // Rows held back are sent as literals (`values::with_literals`), which is sound
        // only with standard strings.
        connection
            .batch(match read_only {
                true => {
                    "SET standard_conforming_strings = on; SET default_transaction_read_only = on"
                }
                false => "SET standard_conforming_strings = on",
            })
            .map_err(internal)?;
        Ok(Session {
            connection,
            ahead: RefCell::default(),
            ahead_failed: RefCell::default(),
            statements: RefCell::default(),
            schema: RefCell::new(String::new()),
            read_only,
            in_transaction: std::cell::Cell::new(false),
            timeout_set: std::cell::Cell::new(None),
            timeout_wanted: std::cell::Cell::new(0),
            vacuums: RefCell::new(Vec::new()),
            held: RefCell::default(),
            memos: RefCell::new(Vec::new()),
        })
    }

    /// The pool thread's loop; a dropped connection is replaced before the next job.
    fn serve(mut self, url: &str, jobs: flume::Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            if self.connection.is_closed() {
                let round_trips = self.connection.round_trips();
                match Session::connect(url, self.read_only, round_trips) {
                    Ok(fresh) => self = fresh,
                    Err(e) => tracing::warn!(error = %e, "reconnecting to PostgreSQL"),
                }
            }
            job(&self);
        }
    }

    /// Runs `sql` (statements without parameters) in one round trip. What waits to be
    /// sent ahead goes first, then the rows held back ([`Session::insert_later`]), unless
    /// `sql` rolls back: so they are inserted before a `Tx::attempt` sets its savepoint
    /// and before the commit, and a rollback to that savepoint never undoes rows held
    /// back before it. (Past the savepoint `write` they stay held, see [`held_back`].)
    pub(crate) fn batch(&self, sql: &str) -> DomainResult<()> {
        let (ahead, sql) = match sql.contains("ROLLBACK") {
            // A rollback may also undo a `SET` made in the transaction. A rollback to a
            // savepoint follows statements that took along what waited to go ahead; a
            // rollback of the whole transaction drops it.
            true => {
                self.ahead.take();
                self.timeout_set.set(None);
                match sql == "ROLLBACK" {
                    true => self.forget_transaction(),
                    false => {
                        self.held.borrow_mut().undo_attempt();
                        self.memos.borrow_mut().clear();
                    }
                }
                (String::new(), sql.to_string())
            }
            false => {
                self.forget_changed(sql);
                let held = self.held.borrow_mut().take_statements()?;
                (self.ahead.take(), held + sql)
            }
        };
        match (ahead.is_empty(), sql.is_empty()) {
            (true, true) => Ok(()),
            (true, false) => self.connection.batch(&sql).map_err(map_error),
            (false, true) => self.send_alone(ahead),
            (false, false) => {
                let (sent, result) = self.connection.batch_after(&ahead, &sql);
                self.sent_ahead(sent)?;
                result.map_err(map_error)
            }
        }
    }

    /// Sends `sql` (statements without parameters) with the next statement, in its round
    /// trip; it must not roll back.
    fn send_ahead(&self, sql: &str) {
        let mut ahead = self.ahead.borrow_mut();
        ahead.push_str(sql);
        ahead.push_str(";\n");
    }

    /// Sends `ahead` (what waited to go ahead) in a round trip of its own, if any.
    fn send_alone(&self, ahead: String) -> DomainResult<()> {
        match ahead.is_empty() {
            true => Ok(()),
            false => self.sent_ahead(self.connection.batch(&ahead)),
        }
    }

    /// How what was sent ahead went: a failure is kept for the write group, which fails
    /// whole (see [`Session::write_group`]), and is also the failure of the statement
    /// that took it along.
    fn sent_ahead(&self, sent: Result<(), postgres::Error>) -> DomainResult<()> {
        sent.map_err(|e| {
            let e = map_error(e);
            *self.ahead_failed.borrow_mut() = Some(e.to_string());
            e
        })
    }

    fn use_schema(&self, schema: &str) -> DomainResult<()> {
        if *self.schema.borrow() != schema {
            self.batch(&format!("SET search_path TO {schema}"))?;
            *self.schema.borrow_mut() = schema.to_string();
        }
        Ok(())
    }

    /// Runs `f` in a transaction holding the schema's write lock: committed when it
    /// returns `Ok`, rolled back otherwise (a panic included).
    fn transaction<T>(
        &self,
        schema: &str,
        lock: i64,
        f: impl FnOnce(&Tx<'_>) -> DomainResult<T>,
    ) -> DomainResult<T> {
        self.use_schema(schema)?;
        self.batch(&format!("BEGIN; SELECT pg_advisory_xact_lock({lock})"))?;
        self.in_transaction.set(true);
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&Tx::postgres(self))))
                .unwrap_or_else(|_| Err(internal("a database write panicked")));
        let ended = match result {
            Ok(v) => self.commit(schema).map(|()| v),
            Err(e) => {
                self.rollback();
                Err(e)
            }
        };
        self.in_transaction.set(false);
        ended
    }

    /// Inserts the rows held back, announces the commit to every listener and commits;
    /// rolls back when any of it fails.
    ///
    /// PostgreSQL holds one lock for every `NOTIFY` from the commit until its record is on
    /// disk, so commits that announce take turns across all workspaces (BENCHMARKS, ninth
    /// figures: about 3,800 a second on a machine where the server reached 2,000).
    /// Announcing in a transaction of its own after the commit lifts that ceiling, but a
    /// vacuum after growth then needs a log flush first (that transaction does not wait
    /// for the disk); not done while nothing measured gains from it.
    fn commit(&self, schema: &str) -> DomainResult<()> {
        self.batch(&format!(
            "SELECT pg_notify('{COMMITS_CHANNEL}', '{schema}'); COMMIT"
        ))
        .inspect_err(|_| self.rollback())?;
        self.forget_transaction();
        Ok(())
    }

    /// Rolls the open transaction back, with what it held back and kept. One whose
    /// `BEGIN` still waits to be sent was never opened on the server.
    fn rollback(&self) {
        let opened = !self.ahead.borrow().starts_with("BEGIN");
        match opened {
            true => {
                let _ = self.batch("ROLLBACK");
            }
            false => {
                self.ahead.take();
                self.forget_transaction();
            }
        }
    }

    /// Runs the writes queued for `schema` in groups until the queue is empty, then
    /// hands the flushing back. The vacuums a committed group asked for go to the pool
    /// (`writers`) as jobs of their own, so the next group does not wait for them.
    fn flush(
        &self,
        queue: &Mutex<WriteQueue>,
        schema: &str,
        lock: i64,
        commits: &tokio::sync::watch::Sender<u64>,
        writers: &flume::Sender<Job>,
    ) {
        loop {
            let group = {
                let mut q = queue.lock().expect("write queue poisoned");
                if q.jobs.is_empty() {
                    q.flushing = false;
                    return;
                }
                q.take(MAX_GROUP)
            };
            let committed = self.write_group(schema, lock, group, queue);
            let vacuums = self.vacuums.take();
            if committed {
                commits.send_modify(|c| *c = c.wrapping_add(1));
                for table in vacuums {
                    let schema = schema.to_string();
                    let _ = writers.send(Box::new(move |s: &Session| {
                        // A table dropped since is no failure.
                        if let Err(e) = s.vacuum(&schema, &table) {
                            tracing::debug!(error = %e, table, "vacuum after growth");
                        }
                    }));
                }
            }
        }
    }

    /// Asks for `table` (of the schema being written) to be vacuumed once the open write
    /// transaction has committed.
    pub(crate) fn vacuum_after_commit(&self, table: &str) {
        let mut vacuums = self.vacuums.borrow_mut();
        if !vacuums.iter().any(|t| t == table) {
            vacuums.push(table.to_string());
        }
    }

    /// `VACUUM`s `table`, outside any transaction (as it must be): it marks the table's
    /// pages all-visible, which index-only scans need, and which autovacuum does only a
    /// minute or more after a bulk load, or never where it is off. Pages written by a
    /// transaction whose commit record is not yet on disk stay unmarked (a commit that
    /// wrote nothing else does not wait for it).
    fn vacuum(&self, schema: &str, table: &str) -> DomainResult<()> {
        self.use_schema(schema)?;
        self.batch(&format!("VACUUM {}", crate::quote_ident(table)))
    }

    /// Runs `group` in one transaction holding the schema's write lock, each write in a
    /// savepoint when there are several; commits, then answers every caller. Whether
    /// anything was committed.
    ///
    /// The group grows while it runs: when its last write is done, the writes queued
    /// since join it (up to [`MAX_GROUP`]). So writes that arrived while it waited for
    /// the lock (another replica's group held it) go in this commit, not in a group of
    /// their own that waits for the lock again.
    ///
    /// The `BEGIN` and each savepoint renewal wait to be sent ahead of the next statement,
    /// in its round trip: a grouped single-record write is one round trip. Until they
    /// are sent, nothing else was, so a write that fails before it sent anything has
    /// nothing to undo on the server. If what went ahead fails, the group fails whole.
    fn write_group(
        &self,
        schema: &str,
        lock: i64,
        mut group: Vec<Box<dyn WriteJob>>,
        queue: &Mutex<WriteQueue>,
    ) -> bool {
        let finish_all = |group: Vec<Box<dyn WriteJob>>, ended: Result<(), String>| {
            let committed = ended.is_ok();
            for job in group {
                job.finish(ended.clone());
            }
            committed
        };
        // Several writes each run under the savepoint `write`, set in the same round trip
        // as the lock (or before the second write, when the group grew to it) and then
        // renewed with the release of the one before. A `search_path` the connection
        // lacks is set inside the transaction, so a `SET` that fails aborts the group
        // rather than let its statements run elsewhere; it lasts if the group commits.
        let mut savepoint = group.len() > 1;
        let set_path = match *self.schema.borrow() == schema {
            true => String::new(),
            false => format!(" SET search_path TO {schema};"),
        };
        if !set_path.is_empty() {
            // Unknown until the group commits (a rollback undoes the `SET`).
            self.schema.borrow_mut().clear();
        }
        *self.ahead.borrow_mut() = format!(
            "BEGIN;{set_path} SELECT pg_advisory_xact_lock({lock});{}\n",
            if savepoint { " SAVEPOINT write;" } else { "" }
        );
        *self.ahead_failed.borrow_mut() = None;
        self.in_transaction.set(true);
        let tx = Tx::postgres(self);
        let mut wrote = false;
        let mut i = 0;
        while i < group.len() {
            let ok = group[i].run(&tx);
            wrote |= ok;
            // A failed write is undone to its savepoint, which stays for the next one
            // (nothing to renew), with the rows it held back. A lone write that failed
            // has no savepoint: the group ends with it.
            let step = match (self.ahead_failed.take(), ok, savepoint) {
                (Some(e), ..) => Err(internal(e)),
                (None, false, true) => self.undo_write(),
                (None, _, _) => Ok(()),
            };
            if let Err(e) = step {
                self.rollback();
                self.in_transaction.set(false);
                return finish_all(group, Err(e.to_string()));
            }
            i += 1;
            if i == group.len() && (ok || savepoint) && i < MAX_GROUP {
                let more = queue
                    .lock()
                    .expect("write queue poisoned")
                    .take(MAX_GROUP - i);
                group.extend(more);
            }
            // A good write with another after it releases its savepoint and sets the
            // next, ahead of the next statement; its held-back rows stay held for the
            // commit.
            if ok && i < group.len() {
                self.held.borrow_mut().write_done();
                self.send_ahead(match savepoint {
                    true => "RELEASE SAVEPOINT write; SAVEPOINT write",
                    false => "SAVEPOINT write",
                });
                savepoint = true;
            }
        }
        let ended = match wrote {
            true => self.commit(schema).map_err(|e| e.to_string()),
            false => {
                self.rollback();
                Ok(())
            }
        };
        if ended.is_ok() && wrote {
            *self.schema.borrow_mut() = schema.to_string();
        }
        self.in_transaction.set(false);
        finish_all(group, ended)
    }

    /// Undoes the write that just failed, back to the savepoint `write`: on the server
    /// only when it sent something (else what waits ahead is still unsent).
    fn undo_write(&self) -> DomainResult<()> {
        self.held.borrow_mut().undo_write();
        self.memos.borrow_mut().clear();
        let sent = self.ahead.borrow().is_empty();
        if sent {
            // A rollback may also undo a `SET` made in the transaction.
            self.timeout_set.set(None);
            let undone = self.connection.batch("ROLLBACK TO SAVEPOINT write");
            undone.map_err(map_error)?;
        }
        Ok(())
    }

    /// Creates the schema and applies the migrations it lacks, in one transaction under
    /// an advisory lock, so processes starting together apply each once.
    fn migrate(&self, schema: &str, migrations: &[Migration]) -> DomainResult<()> {
        let step =
            |what: &str, e: DomainError| internal(format!("migration of {schema}: {what}: {e}"));
        self.use_schema(schema)?;
        self.transaction(schema, lock_key(&format!("migrate {schema}")), |_| {
            let s = self;
            s.batch(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema};
                 CREATE TABLE IF NOT EXISTS {schema}._migrations (
                     version BIGINT PRIMARY KEY,
                     name TEXT NOT NULL,
                     applied_at BIGINT NOT NULL
                 )"
            ))
            .map_err(|e| step("schema", e))?;
            let current = s
                .query("SELECT coalesce(max(version), 0) FROM _migrations", &[])?
                .first()
                .map(|r| r.int(0))
                .transpose()?
                .unwrap_or(0);
            let newest = migrations.iter().map(|m| m.version).max().unwrap_or(0);
            if current > newest {
                return Err(internal(format!(
                    "schema {schema} is at version {current}, newer than this binary knows ({newest}); refusing to open"
                )));
            }
            for m in migrations.iter().filter(|m| m.version > current) {
                s.batch(m.sql)
                    .map_err(|e| step(&format!("{} ({})", m.version, m.name), e))?;
                s.execute(
                    "INSERT INTO _migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    &[
                        Value::Integer(m.version),
                        Value::Text(m.name.into()),
                        Value::Integer(andibase_common::Clock::system().now().0),
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// The cached statement for `sql` (with `?` placeholders), prepared on first use.
    /// PostgreSQL infers each parameter's type from where it stands; where it cannot
    /// (`? IS NULL`, a `CASE` of parameters, `max(?)`), the statement is prepared again
    /// with the types of the values at hand, as SQLite would have taken them.
    fn statement(&self, sql: &str, params: &[Value]) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s);
        }
        let numbered = values::numbered_placeholders(sql);
        let prepared = {
            let connection = &self.connection;
            // A failed prepare would abort the transaction around it: try in a savepoint.
            // (What waits to go ahead was sent first, see `with_statement`.)
            let in_tx = !connection.is_closed() && self.in_transaction.get();
            if in_tx {
                connection.batch("SAVEPOINT prepare")?;
            }
            let prepared = match connection.prepare(&numbered) {
                Err(e) if values::needs_types(&e) => {
                    if in_tx {
                        connection.batch("ROLLBACK TO SAVEPOINT prepare")?;
                    }
                    connection.prepare_typed(&numbered, &values::types_of(params))
                }
                other => other,
            };
            if in_tx {
                match &prepared {
                    Ok(_) => connection.batch("RELEASE SAVEPOINT prepare")?,
                    Err(_) => connection.batch("ROLLBACK TO SAVEPOINT prepare")?,
                }
            }
            prepared
        }?;
        self.statements.borrow_mut().keep(sql, &prepared);
        Ok(prepared)
    }

    /// Runs `run` with the prepared statement, and with what waits to go ahead of it
    /// (`run` sends both in one round trip); when the tables under a cached statement
    /// changed shape (PostgreSQL refuses it: "cached plan must not change result type"),
    /// prepares it again once.
    fn with_statement<T>(
        &self,
        sql: &str,
        params: &[Value],
        run: impl Fn(&driven::Driven, &str, &Statement) -> driven::Answers<T>,
    ) -> DomainResult<T> {
        self.before(sql)?;
        let wanted = self.timeout_wanted.get();
        if self.timeout_set.get() != Some(wanted) {
            self.batch(&format!("SET statement_timeout = {wanted}"))?;
            self.timeout_set.set(Some(wanted));
        }
        // Preparing takes round trips of its own, which must come after.
        if self.statements.borrow().get(sql).is_none() {
            self.send_alone(self.ahead.take())?;
        }
        let stmt = self
            .statement(sql, params)
            .map_err(|e| statement_error(e, sql))?;
        let (sent, first) = run(&self.connection, &self.ahead.take(), &stmt);
        self.sent_ahead(sent)?;
        match first {
            Err(e) if plan_went_stale(&e) => {
                self.statements.borrow_mut().forget(sql);
                let stmt = self
                    .statement(sql, params)
                    .map_err(|e| statement_error(e, sql))?;
                let (_, again) = run(&self.connection, "", &stmt);
                again.map_err(|e| statement_error(e, sql))
            }
            other => other.map_err(|e| statement_error(e, sql)),
        }
    }

    /// Inserts rows into `table` (`head` is `INSERT INTO … VALUES`, `row` one row's `(?,
    /// …)`) later in the open write transaction: with the rows of the same kind held back
    /// with them, in one statement sent in the round trip of the next [`Session::batch`]
    /// (a `Tx::attempt` savepoint, the commit), or before the next statement that names
    /// `table`; in a write group, the rows of every write go with the commit
    /// ([`held_back`]). A write then costs no round trip for rows it never reads back
    /// (its event, its search terms).
    pub(crate) fn insert_later(
        &self,
        table: &str,
        head: &str,
        row: &str,
        rows: Vec<Vec<Value>>,
    ) -> DomainResult<()> {
        let full = self.held.borrow_mut().hold(table, head, row, rows);
        match full {
            true => self.batch(""),
            false => Ok(()),
        }
    }

    /// Before `sql` runs in a write transaction: the rows held back for a table it names
    /// are inserted first (it may read them), and what was kept of a table it may change
    /// is forgotten. (A name is found in the statement's text: a false match costs only
    /// an early insert.)
    fn before(&self, sql: &str) -> DomainResult<()> {
        let held = self.held.borrow().named_in(sql);
        if held {
            self.batch("")?;
        }
        self.forget_changed(sql);
        Ok(())
    }

    /// Forgets what was kept of the tables `sql` names, unless it is a `SELECT`.
    fn forget_changed(&self, sql: &str) {
        let reads = sql
            .trim_start()
            .get(..6)
            .is_some_and(|w| w.eq_ignore_ascii_case("SELECT"));
        if !reads && !self.memos.borrow().is_empty() {
            self.memos.borrow_mut().retain(|m| !sql.contains(&m.table));
        }
    }

    /// What `load` reads of `table`, kept for the rest of the open write transaction
    /// until a statement that is not a `SELECT` names `table` or a savepoint is rolled
    /// back: the writes of one group (which hold the workspace's lock) read the
    /// definitions once instead of once each.
    pub(crate) fn remember<T: Clone + 'static>(
        &self,
        table: &str,
        load: impl FnOnce() -> DomainResult<T>,
    ) -> DomainResult<T> {
        let kept = self.memos.borrow().iter().find_map(|m| {
            (m.table == table)
                .then(|| m.value.downcast_ref::<T>().cloned())
                .flatten()
        });
        if let Some(value) = kept {
            return Ok(value);
        }
        let value = load()?;
        self.memos.borrow_mut().push(Memo {
            table: table.to_string(),
            value: Box::new(value.clone()),
        });
        Ok(value)
    }

    /// Once the transaction has ended: nothing held back or kept is left.
    fn forget_transaction(&self) {
        self.held.borrow_mut().clear();
        self.memos.borrow_mut().clear();
    }

    /// Runs `f` with every statement stopped after `limit`; `None` when one was.
    pub(crate) fn within<T>(
        &self,
        limit: std::time::Duration,
        f: impl FnOnce() -> DomainResult<T>,
    ) -> DomainResult<Option<T>> {
        let before = self
            .timeout_wanted
            .replace(limit.as_millis().clamp(1, i32::MAX as u128));
        let result = f();
        self.timeout_wanted.set(before);
        match result {
            Err(DomainError::Internal(m)) if m.starts_with(QUERY_CANCELED) => Ok(None),
            other => other.map(Some),
        }
    }

    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> DomainResult<usize> {
        let refs = param_refs(params);
        self.with_statement(sql, params, |c, ahead, stmt| c.execute(ahead, stmt, &refs))
            .map(|n| n as usize)
    }

    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> DomainResult<Vec<crate::Row>> {
        let refs = param_refs(params);
        let rows =
            self.with_statement(sql, params, |c, ahead, stmt| c.query(ahead, stmt, &refs))?;
        rows.iter().map(row_values).collect()
    }
}

fn param_refs(params: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

fn row_values(row: &postgres::Row) -> DomainResult<crate::Row> {
    (0..row.len())
        .map(|i| row.try_get::<_, Cell>(i).map(|c| c.0).map_err(internal))
        .collect::<DomainResult<Vec<_>>>()
        .map(crate::Row)
}

/// A statement PostgreSQL would not prepare: the error names it (for the log; internal
/// errors never reach a client).
fn statement_error(e: postgres::Error, sql: &str) -> DomainError {
    match map_error(e) {
        DomainError::Internal(m) => {
            let shown: String = sql.chars().take(1500).collect();
            internal(format!("{m} in `{shown}`"))
        }
        other => other,
    }
}

/// PostgreSQL's errors as domain errors: a unique violation becomes a conflict naming
/// its columns (from the detail, `Key (a, b)=(…) already exists.`), joined by commas as
/// on SQLite.
pub(crate) fn map_error(e: postgres::Error) -> DomainError {
    if let Some(db) = e.as_db_error() {
        if *db.code() == postgres::error::SqlState::UNIQUE_VIOLATION {
            let column = db
                .detail()
                .and_then(|d| d.strip_prefix("Key ("))
                .and_then(|d| d.split_once(")="))
                .map(|(cols, _)| cols.split(", ").collect::<Vec<_>>().join(","));
            return DomainError::Conflict {
                message: "already exists".into(),
                column,
            };
        }
        return internal(format!("{}: {}", db.code().code(), db.message()));
    }
    match std::error::Error::source(&e) {
        Some(cause) => internal(format!("{e}: {cause}")),
        None => internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn a_password_is_taken_out_of_the_address() {
        let split = |u: &str| split_password(u).unwrap();
        assert_eq!(
            split("postgres://ann:s%40cret@db.example:5432/app?sslmode=disable"),
            (
                "postgres://ann@db.example:5432/app?sslmode=disable".to_string(),
                Some("s@cret".to_string())
            )
        );
        assert_eq!(
            split("postgresql://ann@127.0.0.1/app"),
            ("postgresql://ann@127.0.0.1/app".to_string(), None)
        );
        assert_eq!(
            split("postgres://127.0.0.1/app"),
            ("postgres://127.0.0.1/app".to_string(), None)
        );
        assert_eq!(
            split("host=/run/postgresql dbname=app password=x"),
            (
                "host=/run/postgresql dbname=app password=x".to_string(),
                Some("x".to_string())
            )
        );
        assert!(split_password("mysql://nope").is_err());
    }
}
