//! The storage engine.
//!
//! Every SQLite file is a [`Database`]: one writer thread owning the only write
//! connection (jobs arrive over a channel; those queued together share a transaction,
//! each in its own savepoint), a checkpoint thread, and a few reader threads with
//! read-only connections. Async code never blocks on a lock.
//!
//! Domain crates talk to it through [`Sql`] with `?` placeholders and [`Value`]
//! parameters and keep to portable DML; everything dialect-specific (DDL, full-text
//! search, JSON functions, boolean literals, error codes, the rendering of filters) stays
//! in this crate so a PostgreSQL backend can be added beside it.

pub mod copy;
mod database;
pub mod files;
mod migrations;
mod outbox;
mod postgres;
mod predicate;
mod sandbox;
pub mod schema;
pub mod search;
mod value;
mod workspaces;
mod writer;

pub use database::{Database, DatabaseOptions, Dialect, Reader, Sql, Tx, SEGMENT_FUNCTION};
pub use migrations::{
    Migration, MAIN_MIGRATIONS, POSTGRES_MAIN_MIGRATIONS, POSTGRES_WORKSPACE_MIGRATIONS,
    WORKSPACE_MIGRATIONS,
};
pub use outbox::{record_event, record_events};
pub use postgres::{
    database_holds, record_table_visibility, schemas_in, split_password, test_server_url,
    Announcement, Postgres, PostgresOptions, ScratchDatabase, MISSED,
};
pub use predicate::{quote_ident, render_predicate, render_predicate_avoiding, Rendered};
pub use sandbox::{QueryOutput, SandboxView, SandboxedQuery};
pub use value::{Columns, Row, RowRef, Value, ValueRef};
pub use workspaces::WorkspaceDatabases;

/// Builds an array of [`Value`]s (borrow it as `&params![…]`; `.to_vec()` for a `Vec`).
#[macro_export]
macro_rules! params {
    () => { [] as [$crate::Value; 0] };
    ($($v:expr),+ $(,)?) => { [$($crate::Value::from($v)),+] };
}
