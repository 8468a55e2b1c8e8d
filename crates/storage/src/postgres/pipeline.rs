//! Short reads run on the async runtime itself, over a few connections that each carry
//! many requests at once (the driver pipelines them), with no hand-off to a pool thread.
//!
//! Through the blocking pool a read costs a hand-off to a pool thread and back, and that
//! thread's own wait on its socket. A primary-key `SELECT` from 32 tasks on this
//! project's 2-core machines: 33,000–45,000 per second through 8 pool threads, against
//! 96,000–122,000 pipelined over 2–8 async connections.
//!
//! One connection serves every schema, so it has no `search_path`: a statement sent here
//! names each table with its schema ([`crate::Database::table_name`]), and an unqualified
//! name fails instead of reading whichever schema was last set.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use andibase_common::DomainResult;
use postgres::Statement;
use tokio_postgres::{Client, NoTls};

use super::{
    map_error, param_refs, plan_went_stale, row_values, statement_error, values, Statements,
};
use crate::value::Value;

/// Connections per process. Two carry the point reads of the data benchmark at the
/// same rate as four on two cores (measured), with fewer server connections held.
pub(crate) const CONNECTIONS: usize = 2;

/// What a connection runs first: reads only, no schema of its own, and a bound on any
/// one statement (a pipelined connection answers in order, so a stuck statement would
/// hold up the reads queued behind it).
const SETUP: &str = "SET default_transaction_read_only = on; SET search_path = ''; \
                     SET statement_timeout = 10000; SET application_name = 'andibase reads'";

/// How long connecting may take when the address does not say (`connect_timeout`): a
/// read waits for it.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) struct Pipeline {
    url: String,
    /// Connected on first use, from inside the runtime that then drives them; connected
    /// again when found closed.
    slots: Vec<Slot>,
    next: AtomicUsize,
    /// Connections made so far.
    made: AtomicUsize,
}

#[derive(Default)]
struct Slot {
    connection: Mutex<Option<Arc<Connection>>>,
    /// Held while connecting, so that the reads that find the slot closed together
    /// wait for one new connection rather than each open their own.
    connecting: tokio::sync::Mutex<()>,
}

pub(super) struct Connection {
    pub(super) client: Client,
    statements: Mutex<Statements>,
}

impl Pipeline {
    pub(crate) fn new(url: &str) -> Pipeline {
        Pipeline {
            url: url.to_string(),
            slots: (0..CONNECTIONS).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
            made: AtomicUsize::new(0),
        }
    }

    /// The rows of one read statement (`?` placeholders, tables named with their schema).
    pub(crate) async fn query(&self, sql: &str, params: &[Value]) -> DomainResult<Vec<crate::Row>> {
        self.connection().await?.read(sql, params).await
    }

    /// How many connections were made so far (each slot's first, and any made again).
    #[cfg(test)]
    pub(crate) fn connections_made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }

    async fn connection(&self) -> DomainResult<Arc<Connection>> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(open) = slot.open() {
            return Ok(open);
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(open) = slot.open() {
            return Ok(open);
        }
        let conn = Arc::new(Connection::open(&self.url, SETUP).await?);
        let made = self.made.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(made, "pipelined PostgreSQL connection made");
        *slot.connection.lock().expect("pipeline slot poisoned") = Some(conn.clone());
        Ok(conn)
    }
}

impl Slot {
    fn open(&self) -> Option<Arc<Connection>> {
        let connection = self.connection.lock().expect("pipeline slot poisoned");
        connection
            .as_ref()
            .filter(|c| !c.client.is_closed())
            .cloned()
    }
}

impl Connection {
    /// A connection driven by a task of the runtime it is made on, `setup` run first;
    /// connecting gives up after [`CONNECT_TIMEOUT`] unless `url` says otherwise.
    pub(super) async fn open(url: &str, setup: &str) -> DomainResult<Connection> {
        let mut config: tokio_postgres::Config = url.parse().map_err(map_error)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let (client, connection) = config.connect(NoTls).await.map_err(map_error)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "async PostgreSQL connection ended");
            }
        });
        client.batch_execute(setup).await.map_err(map_error)?;
        Ok(Connection {
            client,
            statements: Mutex::default(),
        })
    }

    /// The rows of one statement; when the tables under its cached statement changed
    /// shape, prepared again once.
    pub(super) async fn read(&self, sql: &str, params: &[Value]) -> DomainResult<Vec<crate::Row>> {
        let refs = param_refs(params);
        let mut rows = self.query(sql, params, &refs).await;
        if matches!(&rows, Err(e) if plan_went_stale(e)) {
            self.statements
                .lock()
                .expect("statement cache poisoned")
                .forget(sql);
            rows = self.query(sql, params, &refs).await;
        }
        rows.map_err(|e| statement_error(e, sql))?
            .iter()
            .map(row_values)
            .collect()
    }

    async fn query(
        &self,
        sql: &str,
        params: &[Value],
        refs: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        let statement = self.statement(sql, params).await?;
        self.client.query(&statement, refs).await
    }

    /// The cached statement for `sql`, prepared on first use; with the values' types when
    /// PostgreSQL cannot infer them (as [`super::Session`] does).
    async fn statement(&self, sql: &str, params: &[Value]) -> Result<Statement, postgres::Error> {
        let cached = self
            .statements
            .lock()
            .expect("statement cache poisoned")
            .get(sql);
        if let Some(statement) = cached {
            return Ok(statement);
        }
        let numbered = values::numbered_placeholders(sql);
        let prepared = match self.client.prepare(&numbered).await {
            Err(e) if values::needs_types(&e) => {
                self.client
                    .prepare_typed(&numbered, &values::types_of(params))
                    .await?
            }
            other => other?,
        };
        self.statements
            .lock()
            .expect("statement cache poisoned")
            .keep(sql, &prepared);
        Ok(prepared)
    }
}
