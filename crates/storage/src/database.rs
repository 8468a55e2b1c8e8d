//! One SQLite file: a writer thread (see [`crate::writer`]), a pool of reader threads,
//! channels in between.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use andibase_common::{DomainError, DomainResult};
use rusqlite::{functions::FunctionFlags, types::ValueRef as RawRef, Connection, OpenFlags};

use crate::migrations::{apply_migrations, Migration};
use crate::value::{Row, RowRef, Value, ValueRef};
use crate::writer::{PendingWrite, Writer, WriterJob};

pub(crate) type Job = Box<dyn FnOnce(&mut Connection) + Send>;

#[derive(Clone, Debug)]
pub struct DatabaseOptions {
    /// Reader threads, each with a read-only connection, for long reads and overflow.
    pub readers: usize,
    /// Pooled read-only connections used right on the calling thread for short reads.
    pub inline_readers: usize,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            readers: 1,
            inline_readers: 2,
        }
    }
}

/// A handle to one database file; cheap to clone. The threads stop when the last
/// handle is dropped, after finishing every job already queued.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Engine>,
}

/// What a [`Database`] is on each engine.
enum Engine {
    Sqlite(Inner),
    Postgres(crate::postgres::Schema, PathBuf),
}

struct Inner {
    path: PathBuf,
    writer: flume::Sender<WriterJob>,
    commits: tokio::sync::watch::Receiver<u64>,
    readers: flume::Sender<Job>,
    idle_readers: std::sync::Mutex<Vec<Connection>>,
    threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// A thread that owns `conn` and runs the jobs from `jobs` until every sender is gone.
fn spawn_worker(
    name: String,
    mut conn: Connection,
    jobs: flume::Receiver<Job>,
) -> DomainResult<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            while let Ok(job) = jobs.recv() {
                job(&mut conn);
            }
        })
        .map_err(internal)
}

fn open_read_only(path: &Path) -> DomainResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(internal)?;
    configure(&conn, true).map_err(internal)?;
    Ok(conn)
}

pub(crate) fn internal(e: impl std::fmt::Display) -> DomainError {
    DomainError::Internal(e.to_string())
}

/// Maps SQLite's extended codes to precise domain errors: a unique or primary-key
/// violation becomes a conflict naming the column.
fn map_sqlite_error(e: rusqlite::Error) -> DomainError {
    if let rusqlite::Error::SqliteFailure(code, msg) = &e {
        if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return DomainError::Conflict {
                message: "already exists".into(),
                column: msg.as_deref().and_then(violated_column),
            };
        }
    }
    internal(e)
}

/// The column of a unique rule, from SQLite's report of the violation
/// (`UNIQUE constraint failed: table.column`): SQLite gives the column nowhere else. A
/// rule over several columns gives them joined by commas (`f_a,f_b`).
fn violated_column(message: &str) -> Option<String> {
    let (_, columns) = message.split_once("failed: ")?;
    let names: Vec<&str> = columns
        .split(", ")
        .map(|c| c.rsplit('.').next().unwrap_or(c))
        .collect();
    Some(names.join(","))
}

fn configure(conn: &Connection, read_only: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    } else {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Full-text indexes are written through this function so that CJK text is cut
        // into bigrams before SQLite's tokenizer sees it (see `andibase_text`).
        conn.create_scalar_function(
            SEGMENT_FUNCTION,
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| {
                let text: Option<String> = ctx.get(0)?;
                Ok(text.map(|t| andibase_text::split_cjk(&t).into_owned()))
            },
        )?;
    }
    // Searches for common words check each row's own text with it (see `search`).
    conn.create_scalar_function(
        crate::search::WORDS_FUNCTION,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text = match ctx.get_raw(0) {
                RawRef::Text(t) => std::str::from_utf8(t).unwrap_or("\u{80}"),
                RawRef::Null => "",
                _ => "\u{80}",
            };
            let words: String = ctx.get(1)?;
            Ok(crate::search::holds_words(text, &words))
        },
    )?;
    Ok(())
}

/// The SQL function, on write connections, that prepares text for a full-text index.
pub const SEGMENT_FUNCTION: &str = "andibase_segment";

impl Database {
    /// Opens (creating if needed) the file, applies pending migrations in a
    /// transaction, then starts the threads. Blocking: call from a blocking context.
    pub fn open(
        path: &Path,
        migrations: &[Migration],
        options: DatabaseOptions,
    ) -> DomainResult<Database> {
        if let Some(parent) = path.parent() {
            crate::files::private_dir(parent).map_err(internal)?;
        }
        crate::files::private_file(path).map_err(internal)?;
        let mut conn = Connection::open(path).map_err(internal)?;
        configure(&conn, false).map_err(internal)?;
        apply_migrations(&mut conn, migrations)?;

        let (writer, write_rx) = flume::unbounded::<WriterJob>();
        let (readers, read_rx) = flume::unbounded::<Job>();
        let mut threads = Vec::new();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let checkpoints = Connection::open(path).map_err(internal)?;
        configure(&checkpoints, false).map_err(internal)?;
        let (commits_tx, commits) = tokio::sync::watch::channel(0);
        threads.extend(Writer::spawn(
            &name,
            conn,
            checkpoints,
            write_rx,
            commits_tx,
        )?);
        for i in 0..options.readers.max(1) {
            threads.push(spawn_worker(
                format!("db-r{i}-{name}"),
                open_read_only(path)?,
                read_rx.clone(),
            )?);
        }
        let idle_readers = (0..options.inline_readers)
            .map(|_| open_read_only(path))
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(Database {
            inner: Arc::new(Engine::Sqlite(Inner {
                path: path.to_path_buf(),
                writer,
                commits,
                readers,
                idle_readers: std::sync::Mutex::new(idle_readers),
                threads: std::sync::Mutex::new(threads),
            })),
        })
    }

    /// The schema `schema` on a PostgreSQL server, created and migrated if needed.
    /// Blocking: call from a blocking context.
    pub fn open_postgres(
        server: &crate::Postgres,
        schema: &str,
        migrations: &[Migration],
    ) -> DomainResult<Database> {
        let schema = server.open_schema(schema, migrations)?;
        let path = PathBuf::from(format!("postgres:{}", schema.name));
        Ok(Database {
            inner: Arc::new(Engine::Postgres(schema, path)),
        })
    }

    /// Where the database is: its file, or `postgres:<schema>`. Unique per database, so
    /// also a key for caches.
    pub fn path(&self) -> &Path {
        match &*self.inner {
            Engine::Sqlite(db) => &db.path,
            Engine::Postgres(_, path) => path,
        }
    }

    /// The PostgreSQL schema this database is, if it is one.
    pub(crate) fn postgres_schema(&self) -> Option<&crate::postgres::Schema> {
        match &*self.inner {
            Engine::Postgres(schema, _) => Some(schema),
            Engine::Sqlite(_) => None,
        }
    }

    /// On PostgreSQL, vacuums `table` now, so that its pages are marked all-visible for
    /// index-only scans (after a copy, say); nothing on SQLite, which has no such marks.
    /// (Writes ask for it after growth with [`Tx::vacuum_after_commit`].)
    pub async fn vacuum(&self, table: &str) -> DomainResult<()> {
        match &*self.inner {
            Engine::Sqlite(_) => Ok(()),
            Engine::Postgres(schema, _) => schema.vacuum(table).await,
        }
    }

    /// The SQL dialect statements for this database are written in.
    pub fn dialect(&self) -> Dialect {
        match &*self.inner {
            Engine::Sqlite(_) => Dialect::Sqlite,
            Engine::Postgres(..) => Dialect::Postgres,
        }
    }

    /// Whether this database is a PostgreSQL schema.
    pub fn is_postgres(&self) -> bool {
        matches!(&*self.inner, Engine::Postgres(..))
    }

    /// How many handles exist (the registry uses it to close only unused files).
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.inner)
    }

    /// Word of each commit: the count of committed write groups changes after each one.
    /// `changed()` fails once the file has closed. On PostgreSQL the count also moves on
    /// commits made by other processes on the same server (`LISTEN`/`NOTIFY`).
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        match &*self.inner {
            Engine::Sqlite(db) => db.commits.clone(),
            Engine::Postgres(schema, _) => schema.commits(),
        }
    }

    /// What other processes on the same database announce ([`Tx::announce`]); `None` on
    /// SQLite, where one process owns the files and needs no word of its own changes.
    pub fn announcements(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<crate::postgres::Announcement>> {
        match &*self.inner {
            Engine::Sqlite(_) => None,
            Engine::Postgres(schema, _) => Some(schema.announcements()),
        }
    }

    /// Runs `f` on the writer thread, all or nothing: its changes are committed when it
    /// returns `Ok` (the answer comes after the commit), rolled back otherwise. Writes
    /// queued together share one commit (see the module's notes).
    pub async fn write<T, F>(&self, f: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> DomainResult<T> + Send + 'static,
    {
        let db = match &*self.inner {
            Engine::Sqlite(db) => db,
            Engine::Postgres(schema, _) => return schema.write(f).await,
        };
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = WriterJob::Write(Box::new(PendingWrite::new(f, reply)));
        db.writer
            .send(job)
            .map_err(|_| internal("database writer stopped"))?;
        rx.await
            .map_err(|_| internal("database writer dropped a job"))?
    }

    /// Runs a short read. When a pooled read-only connection is free it runs right here,
    /// on the calling thread, which saves two thread hand-offs per request (point lookups
    /// take microseconds); otherwise it waits for a reader thread. Long reads (reports,
    /// user SQL) should use [`Database::read_offloaded`] so they never hold up async work.
    pub async fn read<T, F>(&self, f: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader<'_>) -> DomainResult<T> + Send + 'static,
    {
        let db = match &*self.inner {
            Engine::Sqlite(db) => db,
            Engine::Postgres(schema, _) => return schema.read(f).await,
        };
        let pooled = db.idle_readers.lock().expect("reader pool poisoned").pop();
        match pooled {
            Some(conn) => {
                let result = f(&Reader::sqlite(&conn));
                db.idle_readers
                    .lock()
                    .expect("reader pool poisoned")
                    .push(conn);
                result
            }
            None => self.read_offloaded(f).await,
        }
    }

    /// Runs one short read statement, folding each of its rows into `acc` with `each`
    /// (which answers whether to go on). Its tables must be named by
    /// [`Database::table_name`]. On SQLite this is [`Database::read`]; on PostgreSQL the
    /// statement goes out from the calling task over a pipelined connection, with no pool
    /// thread in between (a point read's hand-offs cost more than the read).
    pub async fn read_rows<A, F>(
        &self,
        sql: String,
        params: Vec<Value>,
        mut acc: A,
        mut each: F,
    ) -> DomainResult<A>
    where
        A: Send + 'static,
        F: FnMut(&mut A, &RowRef<'_>) -> DomainResult<bool> + Send + 'static,
    {
        if let Engine::Postgres(schema, _) = &*self.inner {
            let rows = schema.read_rows(&sql, &params).await?;
            return fold_rows(rows, acc, each);
        }
        self.read(move |r| {
            r.query_each(&sql, &params, &mut |row| each(&mut acc, row))?;
            Ok(acc)
        })
        .await
    }

    /// Runs one read statement stopped once `limit` has passed, folding its rows as
    /// [`Database::read_rows`] does: `None` when it was stopped, else the fold and the
    /// steps the statement took (see [`Reader::within`]). Its tables are named as in
    /// [`Database::read`]. On PostgreSQL it runs from the calling task on a connection
    /// that is its own while it runs (a slow one holds up no other read), no pool thread
    /// in between; on SQLite it is [`Reader::within`] in [`Database::read`].
    pub async fn read_rows_within<A, F>(
        &self,
        limit: std::time::Duration,
        sql: String,
        params: Vec<Value>,
        mut acc: A,
        mut each: F,
    ) -> DomainResult<Option<(A, u64)>>
    where
        A: Send + 'static,
        F: FnMut(&mut A, &RowRef<'_>) -> DomainResult<bool> + Send + 'static,
    {
        if let Engine::Postgres(schema, _) = &*self.inner {
            let Some(rows) = schema.read_rows_within(limit, &sql, &params).await? else {
                return Ok(None);
            };
            return fold_rows(rows, acc, each).map(|acc| Some((acc, 0)));
        }
        self.read(move |r| {
            r.within(limit, |r| {
                r.query_each(&sql, &params, &mut |row| each(&mut acc, row))?;
                Ok(acc)
            })
        })
        .await
    }

    /// `table` as a statement for [`Database::read_rows`] must name it: quoted, and on
    /// PostgreSQL with its schema.
    pub fn table_name(&self, table: &str) -> String {
        match &*self.inner {
            Engine::Sqlite(_) => crate::quote_ident(table),
            Engine::Postgres(schema, _) => schema.table_name(table),
        }
    }

    /// Runs `f` on a reader thread's read-only connection.
    pub async fn read_offloaded<T, F>(&self, f: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader<'_>) -> DomainResult<T> + Send + 'static,
    {
        let db = match &*self.inner {
            Engine::Sqlite(db) => db,
            Engine::Postgres(schema, _) => return schema.read(f).await,
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: &mut Connection| {
            let _ = tx.send(f(&Reader::sqlite(conn)));
        });
        db.readers
            .send(job)
            .map_err(|_| internal("database readers stopped"))?;
        rx.await
            .map_err(|_| internal("database reader dropped a job"))?
    }

    /// Copies a consistent snapshot of the file to `dest` while serving (VACUUM INTO).
    /// On PostgreSQL the server's own tools back up (`pg_dump`).
    pub async fn backup_to(&self, dest: PathBuf) -> DomainResult<()> {
        let Engine::Sqlite(db) = &*self.inner else {
            return Err(internal("back up a PostgreSQL database with pg_dump"));
        };
        // VACUUM INTO writes into an empty file, created private first.
        crate::files::private_file(&dest).map_err(internal)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = WriterJob::Alone(Box::new(move |conn: &mut Connection| {
            let r = conn
                .execute("VACUUM INTO ?1", [dest.to_string_lossy().as_ref()])
                .map(|_| ())
                .map_err(map_sqlite_error);
            let _ = tx.send(r);
        }));
        db.writer
            .send(job)
            .map_err(|_| internal("database writer stopped"))?;
        rx.await
            .map_err(|_| internal("database writer dropped a job"))?
    }

    /// Waits for the threads of this file to finish their queued work. Only the last
    /// handle can do it; with others alive it returns without waiting. (A PostgreSQL
    /// schema has no threads of its own: its writes are done when they answer.)
    pub fn close(self) {
        if let Ok(Engine::Sqlite(inner)) = Arc::try_unwrap(self.inner) {
            let Inner {
                writer,
                readers,
                threads,
                ..
            } = inner;
            drop(writer);
            drop(readers);
            for t in threads.into_inner().unwrap_or_default() {
                let _ = t.join();
            }
        }
    }
}

/// Sealed, so no engine type leaves this crate and no other crate can implement [`Sql`].
mod connected {
    /// The connection under a [`super::Sql`], on either engine.
    #[derive(Clone, Copy)]
    pub enum Conn<'a> {
        Sqlite(&'a rusqlite::Connection),
        Postgres(&'a crate::postgres::Session),
    }

    pub trait Connected {
        fn conn(&self) -> Conn<'_>;
    }
}
use connected::Conn;

/// Statements a transaction or a reader can run.
pub trait Sql: connected::Connected {
    fn execute(&self, sql: &str, params: &[Value]) -> DomainResult<usize> {
        let conn = match self.conn() {
            Conn::Sqlite(conn) => conn,
            Conn::Postgres(session) => return session.execute(sql, params),
        };
        let mut stmt = conn.prepare_cached(sql).map_err(map_sqlite_error)?;
        stmt.execute(rusqlite::params_from_iter(params))
            .map_err(map_sqlite_error)
    }

    fn query(&self, sql: &str, params: &[Value]) -> DomainResult<Vec<Row>> {
        let conn = match self.conn() {
            Conn::Sqlite(conn) => conn,
            Conn::Postgres(session) => return session.query(sql, params),
        };
        let mut stmt = conn.prepare_cached(sql).map_err(map_sqlite_error)?;
        let n = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(map_sqlite_error)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(map_sqlite_error)? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(
                    ValueRef::from_sqlite(r.get_ref(i).map_err(map_sqlite_error)?).to_value(),
                );
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    /// Runs a query and hands each row to `each` as SQLite has it, nothing copied;
    /// `each` answers whether to go on. (PostgreSQL's rows arrive whole first.)
    fn query_each(
        &self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&RowRef<'_>) -> DomainResult<bool>,
    ) -> DomainResult<()> {
        let conn = match self.conn() {
            Conn::Sqlite(conn) => conn,
            Conn::Postgres(session) => {
                for row in session.query(sql, params)? {
                    if !each(&RowRef::values(&row.0))? {
                        break;
                    }
                }
                return Ok(());
            }
        };
        let mut stmt = conn.prepare_cached(sql).map_err(map_sqlite_error)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(map_sqlite_error)?;
        while let Some(r) = rows.next().map_err(map_sqlite_error)? {
            if !each(&RowRef::sqlite(r))? {
                break;
            }
        }
        Ok(())
    }

    fn query_one(&self, sql: &str, params: &[Value]) -> DomainResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Which engine runs the statements, for the SQL that differs between them.
    fn dialect(&self) -> Dialect {
        match self.conn() {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// The two SQL dialects this crate writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The integer under `key` of the JSON object kept as text in `column` (NULL when
    /// missing). Both are names this code chose, never input.
    pub fn json_integer(self, column: &str, key: &str) -> String {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let column = crate::quote_ident(column);
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Dialect::Postgres => format!("(({column})::jsonb ->> '{key}')::bigint"),
        }
    }
}

/// A write transaction.
pub struct Tx<'a> {
    pub(crate) conn: Conn<'a>,
}

impl<'a> Tx<'a> {
    pub(crate) fn sqlite(conn: &'a Connection) -> Tx<'a> {
        Tx {
            conn: Conn::Sqlite(conn),
        }
    }

    pub(crate) fn postgres(session: &'a crate::postgres::Session) -> Tx<'a> {
        Tx {
            conn: Conn::Postgres(session),
        }
    }

    /// Runs `f`, a part of this transaction that may fail while the rest goes on (a
    /// statement refused for a conflict, say): when it fails, its changes are undone
    /// and the transaction stays usable. On SQLite a failed statement undoes itself; on
    /// PostgreSQL, where any error would abort the whole transaction, `f` runs in a
    /// savepoint.
    pub fn attempt<T>(&self, f: impl FnOnce(&Self) -> DomainResult<T>) -> DomainResult<T> {
        let Conn::Postgres(session) = self.conn else {
            return f(self);
        };
        session.batch("SAVEPOINT attempt")?;
        let result = f(self);
        session.batch(match result {
            Ok(_) => "RELEASE SAVEPOINT attempt",
            Err(_) => "ROLLBACK TO SAVEPOINT attempt; RELEASE SAVEPOINT attempt",
        })?;
        result
    }

    /// Inserts `rows` into `table` as part of this transaction: `head` is `INSERT INTO
    /// table (…) VALUES` and `row` a row's `(?, …)`, each of `rows` its parameters. On
    /// SQLite now; on PostgreSQL held back, and sent in the round trip of the next
    /// savepoint or the commit (or before the next statement that names `table`), so a
    /// write does not wait a round trip for rows it does not read back. A failure then
    /// fails that later step rather than this call: use it for rows that cannot conflict
    /// (an event, search terms).
    pub fn insert_later(
        &self,
        table: &str,
        head: &str,
        row: &str,
        rows: Vec<Vec<Value>>,
    ) -> DomainResult<()> {
        match self.conn {
            Conn::Sqlite(_) => {
                let rows: Vec<&[Value]> = rows.iter().map(Vec::as_slice).collect();
                insert_rows(head, row, &rows, |sql, params| self.execute(sql, params))
            }
            Conn::Postgres(session) => session.insert_later(table, head, row, rows),
        }
    }

    /// What `load` reads of `table`. On PostgreSQL it is kept for the rest of this
    /// transaction (the writes grouped into it share it) until a statement other than a
    /// `SELECT` names `table`, or a write is rolled back; on SQLite, where a read costs
    /// no round trip, `load` runs every time.
    pub fn remember<T: Clone + 'static>(
        &self,
        table: &str,
        load: impl FnOnce() -> DomainResult<T>,
    ) -> DomainResult<T> {
        match self.conn {
            Conn::Sqlite(_) => load(),
            Conn::Postgres(session) => session.remember(table, load),
        }
    }

    /// On PostgreSQL, vacuums `table` once this transaction has committed, on a connection
    /// of its own; nothing on SQLite. New rows' pages are not marked all-visible until a
    /// vacuum, and until then a count through a covering index still reads the table (44
    /// ms against 6 ms for 39,000 of 110,000 rows); autovacuum comes a minute or more
    /// after a load, or never where an operator turned it off.
    pub fn vacuum_after_commit(&self, table: &str) {
        if let Conn::Postgres(session) = self.conn {
            session.vacuum_after_commit(table);
        }
    }

    /// Tells every process on the same database, when this transaction commits, that
    /// `message` changed under `topic` (so that they drop what they cached of it). On
    /// SQLite there are no other processes, and this does nothing.
    pub fn announce(&self, topic: &str, message: &str) -> DomainResult<()> {
        match self.conn {
            Conn::Sqlite(_) => Ok(()),
            Conn::Postgres(session) => session
                .execute(
                    "SELECT pg_notify(?, ?)",
                    &[
                        Value::Text(crate::postgres::ANNOUNCE_CHANNEL.into()),
                        Value::Text(format!("{topic}\n{message}")),
                    ],
                )
                .map(|_| ()),
        }
    }
}

/// Inserts `rows` (each the parameters of one `row`, `(?, …)`) with `head` (`INSERT INTO
/// … VALUES`), many to a statement: one statement a row was 12% of a bulk insert's
/// writer time on SQLite (perf), and a round trip each on PostgreSQL.
pub(crate) fn insert_rows(
    head: &str,
    row: &str,
    rows: &[&[Value]],
    mut execute: impl FnMut(&str, &[Value]) -> DomainResult<usize>,
) -> DomainResult<()> {
    // SQLite takes at most 32,766 parameters a statement, PostgreSQL 65,535.
    let width = rows.first().map_or(1, |r| r.len().max(1));
    let per_statement = (30_000 / width).clamp(1, 200);
    for chunk in rows.chunks(per_statement) {
        let sql = format!("{head} {}", vec![row; chunk.len()].join(", "));
        let params: Vec<Value> = chunk.iter().flat_map(|r| r.iter().cloned()).collect();
        execute(&sql, &params)?;
    }
    Ok(())
}

/// A read-only connection from the pool.
pub struct Reader<'a> {
    conn: Conn<'a>,
}

impl<'a> Reader<'a> {
    fn sqlite(conn: &'a Connection) -> Reader<'a> {
        Reader {
            conn: Conn::Sqlite(conn),
        }
    }

    pub(crate) fn postgres(session: &'a crate::postgres::Session) -> Reader<'a> {
        Reader {
            conn: Conn::Postgres(session),
        }
    }
}

impl Reader<'_> {
    /// Runs `f` with its statements stopped once `limit` has passed (checked every 1,000
    /// steps of SQLite's machine, so a scan over many rows stops on time); `None` when it
    /// was stopped. Also gives how many steps the statements took, to the thousand (a
    /// measure of the work that does not depend on the machine's load; PostgreSQL has
    /// none to give, so 0 there and the time alone counts). Nothing else is lost: a read
    /// changes nothing.
    pub fn within<T>(
        &self,
        limit: std::time::Duration,
        f: impl FnOnce(&Self) -> DomainResult<T>,
    ) -> DomainResult<Option<(T, u64)>> {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
        let conn = match self.conn {
            Conn::Sqlite(conn) => conn,
            Conn::Postgres(session) => {
                return session.within(limit, || f(self)).map(|r| r.map(|t| (t, 0)));
            }
        };
        let deadline = std::time::Instant::now() + limit;
        let (stopped, steps) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (flag, counter) = (stopped.clone(), steps.clone());
        conn.progress_handler(
            STEPS_PER_CHECK as i32,
            Some(move || {
                counter.fetch_add(STEPS_PER_CHECK, Relaxed);
                let late = std::time::Instant::now() > deadline;
                if late {
                    flag.store(true, Relaxed);
                }
                late
            }),
        );
        let result = f(self);
        conn.progress_handler(0, None::<fn() -> bool>);
        match result {
            Err(_) if stopped.load(Relaxed) => Ok(None),
            other => other.map(|t| Some((t, steps.load(Relaxed)))),
        }
    }
}

/// Folds rows read on PostgreSQL as a statement run on SQLite folds them.
fn fold_rows<A>(
    rows: Vec<crate::Row>,
    mut acc: A,
    mut each: impl FnMut(&mut A, &RowRef<'_>) -> DomainResult<bool>,
) -> DomainResult<A> {
    for row in rows {
        if !each(&mut acc, &RowRef::values(&row.0))? {
            break;
        }
    }
    Ok(acc)
}

/// How often [`Reader::within`] looks at the clock, in steps of SQLite's machine.
const STEPS_PER_CHECK: u64 = 1000;

impl connected::Connected for Tx<'_> {
    fn conn(&self) -> Conn<'_> {
        self.conn
    }
}

impl connected::Connected for Reader<'_> {
    fn conn(&self) -> Conn<'_> {
        self.conn
    }
}

impl Sql for Tx<'_> {}
impl Sql for Reader<'_> {}

/// Parameters are bound by reference: SQLite copies what it keeps, so no value is cloned
/// first (a bulk insert binds a dozen strings per record).
impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            Value::Null => RawRef::Null,
            Value::Integer(n) => RawRef::Integer(*n),
            Value::Real(f) => RawRef::Real(*f),
            Value::Text(s) => RawRef::Text(s.as_bytes()),
            Value::Blob(b) => RawRef::Blob(b),
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::params;
    use crate::value::Columns;
    use andibase_common::temp::TempDir;

    const TEST: &[Migration] = &[Migration {
        version: 1,
        name: "things",
        sql: "CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL);",
    }];

    /// A database path in a directory removed when the first half is dropped.
    fn temp_path(name: &str) -> (TempDir, PathBuf) {
        let dir = TempDir::new(&format!("storage-{name}"));
        let path = dir.path().join("t.db");
        (dir, path)
    }

    /// A database on each engine: a SQLite file, and a schema in a scratch PostgreSQL
    /// database where a server can be reached. The guard keeps both alive.
    /// A database of each engine (PostgreSQL's where one is reachable), each with what
    /// keeps it alive.
    pub(crate) fn on_each_engine(name: &str) -> Vec<(Database, Box<dyn std::any::Any>)> {
        let (dir, path) = temp_path(name);
        let mut out: Vec<(Database, Box<dyn std::any::Any>)> = vec![(
            Database::open(&path, TEST, DatabaseOptions::default()).unwrap(),
            Box::new(dir),
        )];
        if let Some(scratch) = crate::ScratchDatabase::for_test() {
            let server = crate::Postgres::connect(
                scratch.url(),
                crate::PostgresOptions {
                    writers: 2,
                    readers: 2,
                    secret: None,
                },
            )
            .unwrap();
            let db = Database::open_postgres(&server, "t", TEST).unwrap();
            out.push((db, Box::new(scratch)));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_commit_and_failures_roll_back() {
        for (db, _guard) in on_each_engine("rb") {
            writes_commit_and_failures_roll_back_on(db).await;
        }
    }

    async fn writes_commit_and_failures_roll_back_on(db: Database) {
        db.write(|tx| tx.execute("INSERT INTO things VALUES (?, ?)", &params!["a", 1i64]))
            .await
            .unwrap();
        let err = db
            .write(|tx| {
                tx.execute("INSERT INTO things VALUES (?, ?)", &params!["b", 2i64])?;
                tx.execute("INSERT INTO things VALUES (?, ?)", &params!["a", 3i64])
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DomainError::Conflict { column: Some(c), .. } if c == "id"),
            "{err:?}"
        );
        let n = db
            .read(|r| {
                r.query_one("SELECT count(*) FROM things", &[])?
                    .unwrap()
                    .int(0)
            })
            .await
            .unwrap();
        assert_eq!(n, 1, "the failed transaction left nothing behind");
    }

    /// On PostgreSQL, a table a write asks to have vacuumed (it grew) is vacuumed once the
    /// write commits, so its pages are marked all-visible and index-only scans skip it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_a_write_asks_for_is_vacuumed_after_it_commits() {
        for (db, _guard) in on_each_engine("vacuum") {
            if !db.is_postgres() {
                continue;
            }
            let all_visible = || {
                db.read(|r| {
                    r.query_one(
                        "SELECT relallvisible FROM pg_class WHERE relname = 'things' AND relnamespace = current_schema()::regnamespace",
                        &[],
                    )?
                    .unwrap()
                    .int(0)
                })
            };
            let insert_2000 = |prefix: &'static str| {
                db.write(move |tx| {
                    for i in 0..2000i64 {
                        tx.execute(
                            "INSERT INTO things VALUES (?, ?)",
                            &params![format!("{prefix}{i}"), i],
                        )?;
                    }
                    Ok(())
                })
            };
            insert_2000("t").await.unwrap();
            assert_eq!(all_visible().await.unwrap(), 0, "nothing vacuumed it yet");
            // As a growing table asks: in a write that adds rows. (A transaction that
            // wrote nothing commits without waiting for its record to reach the disk, and
            // until it does a vacuum marks no page all-visible.)
            db.write(|tx| {
                tx.execute("INSERT INTO things VALUES (?, ?)", &params!["last", 1i64])?;
                tx.vacuum_after_commit("things");
                Ok(())
            })
            .await
            .unwrap();
            let mut pages = 0;
            for _ in 0..100 {
                pages = all_visible().await.unwrap();
                if pages > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert!(pages > 0, "the table was vacuumed after the write");
            // And at once, when asked outside a write.
            insert_2000("u").await.unwrap();
            let marked = all_visible().await.unwrap();
            db.vacuum("things").await.unwrap();
            assert!(
                all_visible().await.unwrap() > marked,
                "the new pages were marked"
            );
            assert!(db.vacuum("no_such_table").await.is_err());
        }
    }

    /// `within` stops a long read at its limit, and only the reads inside it: the next read
    /// on the same connection runs as long as it needs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_time_limit_holds_only_within() {
        for (db, _guard) in on_each_engine("within") {
            a_time_limit_holds_only_within_on(db).await;
        }
    }

    async fn a_time_limit_holds_only_within_on(db: Database) {
        let count_to = |n: i64| {
            format!("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < {n}) SELECT count(*) FROM r")
        };
        let (long, short) = (count_to(100_000_000), count_to(1_000_000));
        for _ in 0..3 {
            let (long, short) = (long.clone(), short.clone());
            let (stopped, counted) = db
                .read(move |r| {
                    let stopped = r.within(std::time::Duration::from_millis(20), |r| {
                        r.query_one(&long, &[])?.unwrap().int(0)
                    })?;
                    Ok((stopped, r.query_one(&short, &[])?.unwrap().int(0)?))
                })
                .await
                .unwrap();
            assert!(stopped.is_none(), "the long read was stopped");
            assert_eq!(counted, 1_000_000, "the read after it ran to the end");
        }
    }

    /// A unique violation names its column, or its columns joined by commas when the rule
    /// spans several.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conflicts_name_the_column_of_the_broken_rule() {
        for (db, _guard) in on_each_engine("conflict") {
            conflicts_name_the_column_of_the_broken_rule_on(db).await;
        }
    }

    async fn conflicts_name_the_column_of_the_broken_rule_on(db: Database) {
        let column = |sql: &'static str| {
            let db = db.clone();
            async move {
                match db.write(move |tx| tx.execute(sql, &[])).await {
                    Err(DomainError::Conflict { column, .. }) => column,
                    other => panic!("{sql}: {other:?}"),
                }
            }
        };
        db.write(|tx| {
            tx.execute(
                "CREATE TABLE u (a TEXT UNIQUE, b TEXT, c TEXT, UNIQUE (b, c))",
                &[],
            )?;
            tx.execute("INSERT INTO u VALUES ('x', 'y', 'z')", &[])
        })
        .await
        .unwrap();
        assert_eq!(
            column("INSERT INTO u VALUES ('x', 'b', 'c')")
                .await
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            column("INSERT INTO u VALUES ('a', 'y', 'z')")
                .await
                .as_deref(),
            Some("b,c")
        );
    }

    /// Writes queued together share a transaction; each still commits or rolls back alone,
    /// with the rows it held back ([`Tx::insert_later`]), and a panicking write fails only
    /// itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_writes_stay_all_or_nothing_each() {
        for (db, _guard) in on_each_engine("group") {
            grouped_writes_stay_all_or_nothing_each_on(db).await;
        }
    }

    async fn grouped_writes_stay_all_or_nothing_each_on(db: Database) {
        // The row the failing writes collide with is there before any of them runs: the
        // queued writes reach the writer in no set order.
        db.write(|tx| {
            tx.execute("CREATE TABLE marks (id TEXT PRIMARY KEY)", &[])?;
            tx.execute("INSERT INTO things VALUES ('base', -1)", &[])
        })
        .await
        .unwrap();
        // Hold the writer so the next writes queue up and run as one group.
        let release = hold_the_writer(&db).await;
        let mut writes = Vec::new();
        for i in 0..40i64 {
            let db = db.clone();
            writes.push(tokio::spawn(async move {
                db.write(move |tx| {
                    tx.insert_later(
                        "marks",
                        "INSERT INTO marks (id) VALUES",
                        "(?)",
                        vec![vec![Value::Text(format!("m{i}"))]],
                    )?;
                    // Fails before it sent anything (on PostgreSQL the savepoint set
                    // after the write before it may still wait to be sent): its held
                    // row must go, the writes before it must stay.
                    if i % 4 == 3 {
                        return Err(DomainError::invalid("x", "refused before writing"));
                    }
                    tx.execute(
                        "INSERT INTO things VALUES (?, ?)",
                        &params![format!("k{i}"), i],
                    )?;
                    match i % 4 {
                        // Fails after writing: its rows must go. It reads `marks` first,
                        // which sends the marks the writes before it held back (on
                        // PostgreSQL after their savepoint): they must stay.
                        1 => {
                            tx.query("SELECT id FROM marks", &[])?;
                            tx.execute("INSERT INTO things VALUES ('base', -1)", &[])
                        }
                        2 if i == 2 => panic!("a write that panics"),
                        _ => Ok(1),
                    }
                })
                .await
            }));
        }
        until_queued(&db, 40).await;
        release().await.unwrap();
        for (i, w) in writes.into_iter().enumerate() {
            let r = w.await.unwrap();
            match i % 4 {
                1 => assert!(matches!(r, Err(DomainError::Conflict { .. })), "{i}: {r:?}"),
                3 => assert!(matches!(r, Err(DomainError::Invalid { .. })), "{i}: {r:?}"),
                2 if i == 2 => assert!(matches!(r, Err(DomainError::Internal(_))), "{r:?}"),
                _ => assert!(r.is_ok(), "{i}: {r:?}"),
            }
        }
        let read = |sql: &'static str| {
            let db = db.clone();
            async move {
                db.read(move |r| {
                    r.query(sql, &[])?
                        .into_iter()
                        .map(|row| row.text(0))
                        .collect::<DomainResult<Vec<String>>>()
                })
                .await
                .unwrap()
            }
        };
        let kept = (0..40).filter(|i| i % 4 != 1 && i % 4 != 3 && *i != 2);
        let mut expected: Vec<String> = kept.clone().map(|i| format!("k{i}")).collect();
        expected.push("base".into());
        expected.sort();
        assert_eq!(read("SELECT id FROM things ORDER BY id").await, expected);
        let mut expected: Vec<String> = kept.map(|i| format!("m{i}")).collect();
        expected.sort();
        assert_eq!(read("SELECT id FROM marks ORDER BY id").await, expected);
        // The writer thread survived the panic.
        db.write(|tx| tx.execute("INSERT INTO things VALUES ('after', 99)", &[]))
            .await
            .unwrap();
    }

    /// Rows held back ([`Tx::insert_later`]) keep their values exactly (on PostgreSQL
    /// they are sent as literals), are there for the write's own later statements that
    /// name their table, stay when a part of the write that comes after them fails
    /// ([`Tx::attempt`]), and go with a write that fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_held_back_are_written_as_given() {
        for (db, _guard) in on_each_engine("later") {
            let (real, blob) = match db.dialect() {
                Dialect::Sqlite => ("REAL", "BLOB"),
                Dialect::Postgres => ("DOUBLE PRECISION", "BYTEA"),
            };
            let create = format!(
                "CREATE TABLE vals (id TEXT PRIMARY KEY, t TEXT, n BIGINT, r {real}, b {blob})"
            );
            db.write(move |tx| tx.execute(&create, &[])).await.unwrap();
            let given = vec![
                params![
                    "a",
                    "it's a 'quote'; DROP TABLE vals; --",
                    i64::MIN,
                    0.1,
                    vec![0u8, 39, 92, 255]
                ]
                .to_vec(),
                params![
                    "b",
                    "back\\slash \\' ? $1 ünï 漢字",
                    i64::MAX,
                    -1.5e300,
                    Vec::<u8>::new()
                ]
                .to_vec(),
                vec![
                    "c".into(),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                ],
            ];
            let rows = given.clone();
            let head = "INSERT INTO vals (id, t, n, r, b) VALUES";
            let seen = db
                .write(move |tx| {
                    tx.insert_later("vals", head, "(?, ?, ?, ?, ?)", rows)?;
                    // Kept: held back before a part that fails (here for a row like
                    // one of them, which must be in the table by then).
                    let part =
                        tx.attempt(|tx| tx.execute("INSERT INTO vals (id) VALUES ('a')", &[]));
                    assert!(
                        matches!(part, Err(DomainError::Conflict { .. })),
                        "{part:?}"
                    );
                    tx.insert_later(
                        "vals",
                        head,
                        "(?, ?, ?, ?, ?)",
                        vec![params!["d", "d", 4i64, 4.0, Value::Null].to_vec()],
                    )?;
                    tx.query("SELECT id FROM vals ORDER BY id", &[])
                })
                .await
                .unwrap();
            let ids: Vec<String> = seen.iter().map(|r| r.text(0).unwrap()).collect();
            assert_eq!(ids, ["a", "b", "c", "d"]);
            let failed = db
                .write(move |tx| {
                    tx.insert_later(
                        "vals",
                        head,
                        "(?, ?, ?, ?, ?)",
                        vec![params!["e", "e", 5i64, 5.0, Value::Null].to_vec()],
                    )?;
                    Err::<(), _>(DomainError::invalid("x", "fails"))
                })
                .await;
            assert!(failed.is_err());
            let stored = db
                .read(|r| {
                    r.query(
                        "SELECT id, t, n, r, b FROM vals WHERE id IN ('a', 'b', 'c') ORDER BY id",
                        &[],
                    )
                })
                .await
                .unwrap();
            let stored: Vec<Vec<Value>> = stored.into_iter().map(|r| r.0).collect();
            assert_eq!(stored, given, "{:?}", db.dialect());
            let all = db
                .read(|r| r.query("SELECT id FROM vals ORDER BY id", &[]))
                .await
                .unwrap();
            assert_eq!(all.len(), 4, "held back by a failed write: none kept");
        }
    }

    /// A row held back that the database refuses when it is finally sent (on PostgreSQL,
    /// ahead of the next write's statement, in its round trip) fails the write that held
    /// it: no write is answered as written whose rows are missing, and none of the group
    /// is half-written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_back_row_refused_later_fails_its_write() {
        for (db, _guard) in on_each_engine("refused") {
            db.write(|tx| {
                tx.execute("CREATE TABLE marks (id TEXT PRIMARY KEY)", &[])?;
                tx.execute("INSERT INTO marks VALUES ('taken')", &[])
            })
            .await
            .unwrap();
            let release = hold_the_writer(&db).await;
            // Queued in this order, so they run in it, in one group.
            let mut writes = Vec::new();
            for (i, mark) in ["taken", "free"].into_iter().enumerate() {
                let db2 = db.clone();
                writes.push(tokio::spawn(async move {
                    db2.write(move |tx| {
                        tx.insert_later("marks", "INSERT INTO marks (id) VALUES", "(?)", {
                            vec![vec![Value::Text(mark.into())]]
                        })?;
                        tx.execute("INSERT INTO things VALUES (?, ?)", &params![mark, 1i64])
                    })
                    .await
                }));
                until_queued(&db, i + 1).await;
            }
            // On PostgreSQL the holding write's group grows to take the queued writes:
            // it fails with them (what goes with the commit fails the group).
            let _ = release().await;
            let answers: Vec<bool> = futures_ok(writes).await;
            assert!(!answers[0], "the write whose held row was refused");
            for (mark, written) in ["taken", "free"].into_iter().zip(answers) {
                let rows = db
                    .read(move |r| r.query("SELECT id FROM things WHERE id = ?", &params![mark]))
                    .await
                    .unwrap();
                assert_eq!(rows.len() == 1, written, "{mark} on {:?}", db.dialect());
            }
        }
    }

    /// On PostgreSQL a grouped single-statement write costs one round trip: the group's
    /// `BEGIN` and each savepoint renewal go ahead of the next write's statement (it was
    /// two before: 41 round trips for this group of 20).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_grouped_write_on_postgres_is_one_round_trip() {
        let Some((db, _guard)) = on_each_engine("trips").pop() else {
            return;
        };
        let Engine::Postgres(schema, _) = &*db.inner else {
            return;
        };
        db.write(|tx| tx.execute("CREATE TABLE marks (id TEXT PRIMARY KEY)", &[]))
            .await
            .unwrap();
        let write = |db: &Database, i: usize| {
            let db = db.clone();
            async move {
                db.write(move |tx| {
                    let mark = vec![vec![Value::Text(format!("m{i}"))]];
                    tx.insert_later("marks", "INSERT INTO marks (id) VALUES", "(?)", mark)?;
                    tx.execute(
                        "INSERT INTO things VALUES (?, ?)",
                        &params![format!("k{i}"), 1i64],
                    )
                })
                .await
            }
        };
        // Each pool connection prepares the statement once, on first use.
        for i in 0..6 {
            write(&db, 1000 + i).await.unwrap();
        }
        let release = hold_the_writer(&db).await;
        const N: usize = 20;
        let writes: Vec<_> = (0..N).map(|i| tokio::spawn(write(&db, i))).collect();
        until_queued(&db, N).await;
        let before = schema.round_trips();
        release().await.unwrap();
        assert!(futures_ok(writes).await.into_iter().all(|ok| ok));
        let trips = schema.round_trips() - before;
        // The holding write's commit, one a write, the group's commit; a connection
        // that had not prepared the statement yet adds four (see `with_statement`).
        assert!(
            (N..=N + 2 + 4).contains(&trips),
            "{trips} round trips for {N} writes"
        );
        let marks = db
            .read(|r| r.query("SELECT count(*) FROM marks", &[]))
            .await
            .unwrap();
        assert_eq!(marks[0].0[0], Value::Integer(N as i64 + 6));
    }

    /// On PostgreSQL a connection that last wrote another schema sets its `search_path`
    /// in the round trip of the group's `BEGIN`: a lone write is two round trips (its
    /// statement, the commit) whichever schema the connection wrote before (it was three).
    /// A group rolled back takes its `SET` with it, and the next one sets it again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_to_another_schema_costs_no_round_trip_more() {
        let Some(scratch) = crate::ScratchDatabase::for_test() else {
            return;
        };
        let one_writer = crate::PostgresOptions {
            writers: 1,
            readers: 1,
            secret: None,
        };
        let server = crate::Postgres::connect(scratch.url(), one_writer).unwrap();
        let dbs: Vec<Database> = ["one", "two"]
            .into_iter()
            .map(|name| Database::open_postgres(&server, name, TEST).unwrap())
            .collect();
        let Engine::Postgres(schema, _) = &*dbs[0].inner else {
            unreachable!()
        };
        let write = |db: &Database, key: String| {
            let db = db.clone();
            async move {
                db.write(move |tx| tx.execute("INSERT INTO things VALUES (?, 1)", &params![key]))
                    .await
            }
        };
        // A group that fails after its `SET` reached the server is rolled back with it.
        let failed = dbs[1].write(|tx| tx.execute("INSERT INTO no_such_table VALUES (1)", &[]));
        assert!(failed.await.is_err());
        // Prepared on the one connection at its first use (which also sets again the
        // `statement_timeout` the rollback may have undone).
        write(&dbs[0], "warm".into()).await.unwrap();
        const N: usize = 10;
        let before = schema.round_trips();
        for i in 0..N {
            write(&dbs[(i + 1) % 2], format!("k{i}")).await.unwrap();
        }
        let trips = schema.round_trips() - before;
        assert!(trips <= 2 * N, "{trips} round trips for {N} writes");
        for (n, db) in dbs.iter().enumerate() {
            let rows = db
                .read(|r| r.query("SELECT id FROM things WHERE id LIKE 'k%'", &[]))
                .await
                .unwrap();
            assert_eq!(rows.len(), N / 2, "schema {n}");
        }
    }

    /// On PostgreSQL a write group grows while it runs: writes queued meanwhile join its
    /// transaction (they wait for the lock once), and one that fails is still undone
    /// alone, as is the group's first write, which began alone without a savepoint.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_while_a_group_runs_join_it() {
        let Some((db, _guard)) = on_each_engine("grow").pop() else {
            return;
        };
        if !matches!(&*db.inner, Engine::Postgres(..)) {
            return;
        }
        let txid = |tx: &Tx<'_>| -> DomainResult<Value> {
            Ok(tx.query("SELECT txid_current()", &[])?[0].0[0].clone())
        };
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let first = tokio::spawn({
            let db = db.clone();
            async move {
                db.write(move |tx| {
                    tx.execute("INSERT INTO things VALUES ('first', 0)", &[])?;
                    started.send(()).unwrap();
                    hold.recv().unwrap();
                    txid(tx)
                })
                .await
            }
        });
        running.await.unwrap();
        const N: usize = 12;
        let writes: Vec<_> = (0..N)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |tx| {
                        let id = txid(tx)?;
                        let key = if i % 3 == 1 {
                            "first".into()
                        } else {
                            format!("k{i}")
                        };
                        tx.execute("INSERT INTO things VALUES (?, ?)", &params![key, 1i64])?;
                        Ok(id)
                    })
                    .await
                })
            })
            .collect();
        until_queued(&db, N).await;
        release.send(()).unwrap();
        let group = first.await.unwrap().unwrap();
        for (i, w) in writes.into_iter().enumerate() {
            match (i % 3, w.await.unwrap()) {
                (1, r) => assert!(matches!(r, Err(DomainError::Conflict { .. })), "{i}: {r:?}"),
                (_, r) => assert_eq!(
                    r.unwrap(),
                    group,
                    "write {i} ran in a transaction of its own"
                ),
            }
        }
        let rows = db
            .read(|r| r.query("SELECT id FROM things", &[]))
            .await
            .unwrap();
        let mut ids: Vec<Value> = rows.into_iter().map(|r| r.0[0].clone()).collect();
        ids.sort_by_key(|v| format!("{v:?}"));
        let mut expected = vec![Value::Text("first".into())];
        expected.extend(
            (0..N)
                .filter(|i| i % 3 != 1)
                .map(|i| Value::Text(format!("k{i}"))),
        );
        expected.sort_by_key(|v| format!("{v:?}"));
        assert_eq!(ids, expected);
    }

    /// Holds `db`'s writer inside a write of its own until the returned function is
    /// called (and has let it end, with its answer), so the writes queued meanwhile run
    /// as one group (on PostgreSQL, in the holding write's group).
    async fn hold_the_writer(db: &Database) -> impl FnOnce() -> BoxFuture {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let db = db.clone();
        let blocker = tokio::spawn(async move {
            db.write(move |_| {
                started.send(()).unwrap();
                hold.recv().unwrap();
                Ok(())
            })
            .await
        });
        running.await.unwrap();
        move || {
            release.send(()).unwrap();
            Box::pin(async move { blocker.await.unwrap() })
        }
    }

    type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = DomainResult<()>> + Send>>;

    /// Returns once `n` writes wait for `db`'s writer.
    async fn until_queued(db: &Database, n: usize) {
        let queued = || match &*db.inner {
            Engine::Sqlite(inner) => inner.writer.len(),
            Engine::Postgres(schema, _) => schema.queued(),
        };
        while queued() < n {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Whether each spawned write was answered `Ok`.
    async fn futures_ok<T>(writes: Vec<tokio::task::JoinHandle<DomainResult<T>>>) -> Vec<bool> {
        let mut answers = Vec::new();
        for w in writes {
            answers.push(w.await.unwrap().is_ok());
        }
        answers
    }

    /// Rows `a`, `b` and `c` in `things`.
    async fn insert_abc(db: &Database) {
        let sql = "INSERT INTO things VALUES ('a', 1), ('b', 2), ('c', 3)";
        db.write(move |tx| tx.execute(sql, &[])).await.unwrap();
    }

    /// Schemas `one` and `two` of a scratch database (kept while the first is), each with
    /// one row in `things` that bears its name; none without PostgreSQL.
    async fn schemas_one_and_two() -> Option<(crate::ScratchDatabase, Vec<Database>)> {
        let scratch = crate::ScratchDatabase::for_test()?;
        let server =
            crate::Postgres::connect(scratch.url(), crate::PostgresOptions::default()).unwrap();
        let mut dbs = Vec::new();
        for name in ["one", "two"] {
            let db = Database::open_postgres(&server, name, TEST).unwrap();
            let row = name.to_string();
            db.write(move |tx| tx.execute("INSERT INTO things VALUES (?, 1)", &params![row]))
                .await
                .unwrap();
            dbs.push(db);
        }
        Some((scratch, dbs))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn single_statement_reads_fold_rows_and_follow_a_changed_table() {
        for (db, _guard) in on_each_engine("rows") {
            insert_abc(&db).await;
            let sql = format!("SELECT * FROM {} ORDER BY id", db.table_name("things"));
            let fold = |sql: &str, stop_after: usize| {
                db.read_rows(sql.to_string(), vec![], Vec::new(), move |seen, row| {
                    seen.push((0..3).map(|i| row.get(i).to_value()).collect::<Vec<_>>());
                    Ok(seen.len() < stop_after)
                })
            };
            let rows = fold(&sql, 10).await.unwrap();
            assert_eq!(rows.len(), 3);
            assert_eq!(rows[0][..2], [Value::Text("a".into()), Value::Integer(1)]);
            assert_eq!(fold(&sql, 2).await.unwrap().len(), 2, "stops when asked");
            // The cached statement's table gains a column: the same text reads it.
            db.write(|tx| tx.execute("ALTER TABLE things ADD COLUMN extra TEXT", &[]))
                .await
                .unwrap();
            db.write(|tx| tx.execute("UPDATE things SET extra = 'x'", &[]))
                .await
                .unwrap();
            let rows = fold(&sql, 10).await.unwrap();
            assert_eq!(
                rows[2],
                [
                    Value::Text("c".into()),
                    Value::Integer(3),
                    Value::Text("x".into())
                ]
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn single_statement_reads_on_postgres_read_only_the_named_schema() {
        let Some((_scratch, dbs)) = schemas_one_and_two().await else {
            return;
        };
        async fn ids(db: &Database, sql: String) -> DomainResult<Vec<Value>> {
            db.read_rows(sql, vec![], Vec::new(), |ids, row| {
                ids.push(row.get(0).to_value());
                Ok(true)
            })
            .await
        }
        dbs[0]
            .write(|tx| tx.execute("CREATE TABLE public.things (id TEXT)", &[]))
            .await
            .unwrap();
        for (db, name) in dbs.iter().zip(["one", "two"]) {
            let sql = format!("SELECT id FROM {}", db.table_name("things"));
            assert_eq!(ids(db, sql).await.unwrap(), [Value::Text(name.into())]);
            // No schema is searched: a table named without one is not found, not even
            // one in `public`, which every connection searches by default.
            assert!(ids(db, "SELECT id FROM things".into()).await.is_err());
            let write = format!("DELETE FROM {} RETURNING id", db.table_name("things"));
            assert!(ids(db, write).await.is_err(), "the connection only reads");
        }
        // Connections the server drops are made again for the next reads, one per slot
        // however many reads find it closed at once.
        let reads_connections = "SELECT pid FROM pg_stat_activity \
             WHERE application_name = 'andibase reads' AND datname = current_database()";
        let killed = dbs[0]
            .write(move |tx| {
                tx.query(
                    &format!("SELECT pg_terminate_backend(pid) FROM ({reads_connections}) r"),
                    &[],
                )
            })
            .await
            .unwrap();
        assert!(!killed.is_empty());
        let made = |db: &Database| match &*db.inner {
            Engine::Postgres(schema, _) => schema.pipelined_connections_made(),
            Engine::Sqlite(_) => unreachable!(),
        };
        assert_eq!(made(&dbs[1]), 2);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let reads = (0..16).map(|_| {
            let (db, sql) = (
                dbs[1].clone(),
                format!("SELECT id FROM {}", dbs[1].table_name("things")),
            );
            tokio::spawn(async move { ids(&db, sql).await })
        });
        for read in reads.collect::<Vec<_>>() {
            assert_eq!(read.await.unwrap().unwrap(), [Value::Text("two".into())]);
        }
        assert_eq!(made(&dbs[1]), 4, "two at first, and two again");
    }

    /// Ids read by [`Database::read_rows_within`]; `None` when stopped at `limit`.
    async fn ids_within(
        db: &Database,
        limit_ms: u64,
        sql: &str,
    ) -> DomainResult<Option<Vec<Value>>> {
        let limit = std::time::Duration::from_millis(limit_ms);
        let read = db.read_rows_within(limit, sql.into(), vec![], Vec::new(), |ids, row| {
            ids.push(row.get(0).to_value());
            Ok(ids.len() < 2)
        });
        Ok(read.await?.map(|(ids, _)| ids))
    }

    /// Counts to a hundred million: longer than any limit these tests set.
    const ENDLESS: &str = "SELECT count(*) FROM (WITH RECURSIVE c(n) AS \
        (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 100000000) SELECT n FROM c) x";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_within_a_time_limit_fold_rows_or_stop() {
        for (db, _guard) in on_each_engine("limited") {
            insert_abc(&db).await;
            let sql = "SELECT id FROM things ORDER BY id";
            let ids = ids_within(&db, 5000, sql).await.unwrap();
            assert_eq!(
                ids,
                Some(vec![Value::Text("a".into()), Value::Text("b".into())]),
                "folds until told to stop"
            );
            assert_eq!(
                ids_within(&db, 100, ENDLESS).await.unwrap(),
                None,
                "stopped at the limit"
            );
            // The next read on the same connection has its own limit, not the last one's.
            assert!(ids_within(&db, 60_000, "SELECT count(*) FROM things")
                .await
                .unwrap()
                .is_some());
            assert!(ids_within(&db, 5000, "SELECT nothing FROM things")
                .await
                .is_err());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_within_a_time_limit_on_postgres_have_a_connection_each() {
        let Some((_scratch, dbs)) = schemas_one_and_two().await else {
            return;
        };
        let made = |db: &Database| match &*db.inner {
            Engine::Postgres(schema, _) => schema.limited_connections_made(),
            Engine::Sqlite(_) => unreachable!(),
        };
        // One connection, taken in turn by each schema: each reads its own table.
        for _ in 0..2 {
            for (db, name) in dbs.iter().zip(["one", "two"]) {
                let ids = ids_within(db, 5000, "SELECT id FROM things").await.unwrap();
                assert_eq!(ids, Some(vec![Value::Text(name.into())]));
                let write = "DELETE FROM things RETURNING id";
                assert!(ids_within(db, 5000, write).await.is_err(), "only reads");
            }
        }
        assert_eq!(made(&dbs[0]), 1);
        // A slow read holds up no other: a quick one started after it answers first.
        let (slow_db, quick_db) = (dbs[0].clone(), dbs[1].clone());
        let (done, mut order) = tokio::sync::mpsc::unbounded_channel();
        let slow_done = done.clone();
        let slow = tokio::spawn(async move {
            let read = ids_within(&slow_db, 10_000, "SELECT pg_sleep(1)::text").await;
            slow_done.send("slow").unwrap();
            read
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(ids_within(&quick_db, 5000, "SELECT id FROM things")
            .await
            .unwrap()
            .is_some());
        done.send("quick").unwrap();
        assert!(slow.await.unwrap().unwrap().is_some());
        assert_eq!(
            (order.recv().await, order.recv().await),
            (Some("quick"), Some("slow"))
        );
        assert_eq!(made(&dbs[0]), 2);
        // A read whose caller goes away takes its connection with it; reads go on.
        let gone = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            ids_within(&dbs[0], 10_000, "SELECT pg_sleep(5)::text"),
        );
        assert!(gone.await.is_err());
        for db in &dbs {
            assert!(ids_within(db, 5000, "SELECT id FROM things")
                .await
                .unwrap()
                .is_some());
        }
        assert_eq!(made(&dbs[0]), 2, "the other connection was idle");
        // More reads at once than connections: the rest wait their turn.
        let reads = (0..12).map(|_| {
            let db = dbs[1].clone();
            tokio::spawn(async move { ids_within(&db, 5000, "SELECT pg_sleep(0.05)::text").await })
        });
        for read in reads.collect::<Vec<_>>() {
            assert!(read.await.unwrap().unwrap().is_some());
        }
        let again = 1; // for the connection that went away
        assert_eq!(made(&dbs[0]), crate::postgres::LIMITED_CONNECTIONS + again);
    }

    #[tokio::test]
    async fn offloaded_and_inline_reads_see_the_same_data() {
        let (_dir, path) = temp_path("both");
        let db = Database::open(
            &path,
            TEST,
            DatabaseOptions {
                readers: 1,
                inline_readers: 1,
            },
        )
        .unwrap();
        db.write(|tx| tx.execute("INSERT INTO things VALUES ('a', 1)", &[]))
            .await
            .unwrap();
        let count = |r: &Reader<'_>| {
            r.query_one("SELECT count(*) FROM things", &[])?
                .unwrap()
                .int(0)
        };
        assert_eq!(db.read(count).await.unwrap(), 1);
        assert_eq!(db.read_offloaded(count).await.unwrap(), 1);
        assert!(db
            .read_offloaded(|r| r.execute("DELETE FROM things", &[]))
            .await
            .is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_cannot_write() {
        for (db, _guard) in on_each_engine("ro") {
            let err = db
                .read(|r| r.execute("INSERT INTO things VALUES ('x', 1)", &[]))
                .await
                .unwrap_err();
            assert!(matches!(err, DomainError::Internal(_)), "{err:?}");
        }
    }

    /// What domain code binds comes back the same from either engine, aggregates
    /// included (PostgreSQL's `sum` of integers is a `numeric`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn values_read_back_as_written() {
        for (db, _guard) in on_each_engine("values") {
            let row = db
                .write(|tx| {
                    tx.execute(
                        "CREATE TABLE v (i BIGINT, r DOUBLE PRECISION, t TEXT, b BYTEA, n TEXT)",
                        &[],
                    )
                    .or_else(|_| tx.execute("CREATE TABLE v (i INTEGER, r REAL, t TEXT, b BLOB, n TEXT)", &[]))?;
                    tx.execute(
                        "INSERT INTO v VALUES (?, ?, ?, ?, ?), (?, 0.5, 'x', NULL, NULL)",
                        &params![i64::MAX, 1.25f64, "ünï", vec![0u8, 255], Value::Null, -3i64],
                    )?;
                    tx.query_one(
                        "SELECT i, r, t, b, n, (SELECT sum(i) FROM v) - ?, (SELECT count(*) FROM v), ? = 1 \
                         FROM v WHERE r > 1",
                        &params![i64::MAX, 1i64],
                    )
                })
                .await;
            let Ok(Some(row)) = row else {
                panic!("{}: {row:?}", db.path().display())
            };
            assert_eq!(
                row.0,
                vec![
                    Value::Integer(i64::MAX),
                    Value::Real(1.25),
                    Value::Text("ünï".into()),
                    Value::Blob(vec![0, 255]),
                    Value::Null,
                    Value::Integer(-3),
                    Value::Integer(2),
                    Value::Integer(1),
                ],
                "{}",
                db.path().display()
            );
        }
    }

    /// Under writes that never pause, the checkpoint thread alone could never copy the
    /// whole log; the writer's own catch-up at the hard mark must keep the WAL bounded.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_continuous_writes() {
        let (_dir, path) = temp_path("wal");
        let db = Database::open(&path, TEST, DatabaseOptions::default()).unwrap();
        let wal = path.with_extension("db-wal");
        let mut largest = 0;
        // 64 MiB of rows, 64 writes in flight at any time.
        for round in 0..64i64 {
            let writes: Vec<_> = (0..64i64)
                .map(|i| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        db.write(move |tx| {
                            tx.execute(
                                "INSERT INTO things VALUES (? || randomblob(16384), ?)",
                                &params![format!("{round}-{i}"), i],
                            )
                        })
                        .await
                    })
                })
                .collect();
            for w in writes {
                w.await.unwrap().unwrap();
            }
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
        assert!(
            largest > 4 << 20,
            "the test wrote through the WAL ({largest} bytes)"
        );
        assert!(largest < 40 << 20, "the WAL grew to {largest} bytes");
    }

    #[tokio::test]
    async fn data_survives_reopen() {
        let (_dir, path) = temp_path("reopen");
        let db = Database::open(&path, TEST, DatabaseOptions::default()).unwrap();
        db.write(|tx| tx.execute("INSERT INTO things VALUES ('k', 7)", &[]))
            .await
            .unwrap();
        db.close();
        let db = Database::open(&path, TEST, DatabaseOptions::default()).unwrap();
        let n = db
            .read(|r| r.query_one("SELECT n FROM things", &[])?.unwrap().int(0))
            .await
            .unwrap();
        assert_eq!(n, 7);
    }
}
