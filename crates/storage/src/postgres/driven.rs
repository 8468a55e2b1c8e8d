//! A pool thread's connection: the async driver run by a small runtime of the thread's
//! own, as the blocking `postgres` client runs it, but able to send two requests in one
//! round trip.
//!
//! That is what a write group needs: after each write, the savepoint is renewed (with
//! the rows the write held back), and nothing needs the answer before the next write's
//! first statement goes out. Sent together, a grouped single-record write is one round
//! trip under the workspace's lock instead of two.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use postgres::{NoTls, Row, Statement};
use tokio_postgres::{Client, Error};

type Params<'a> = [&'a (dyn postgres::types::ToSql + Sync)];

/// How what went ahead went, and the answer to what followed it.
pub(super) type Answers<T> = (Result<(), Error>, Result<T, Error>);

pub(super) struct Driven {
    /// Drives the connection's task whenever this thread waits on an answer.
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// Counts the waits for an answer (round trips) of every connection of a server.
    round_trips: Arc<AtomicUsize>,
}

impl Driven {
    pub(super) fn connect(url: &str, round_trips: Arc<AtomicUsize>) -> Result<Driven, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let config: tokio_postgres::Config = url.parse().map_err(|e: Error| e.to_string())?;
        let (client, connection) = runtime
            .block_on(config.connect(NoTls))
            .map_err(|e| e.to_string())?;
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL pool connection ended");
            }
        });
        Ok(Driven {
            runtime,
            client,
            round_trips,
        })
    }

    /// Waits for `answer`: one round trip.
    fn wait<T>(&self, answer: impl std::future::Future<Output = T>) -> T {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        self.runtime.block_on(answer)
    }

    /// The counter this connection adds its round trips to.
    pub(super) fn round_trips(&self) -> Arc<AtomicUsize> {
        self.round_trips.clone()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Runs statements without parameters, in one round trip.
    pub(super) fn batch(&self, sql: &str) -> Result<(), Error> {
        self.wait(self.client.batch_execute(sql))
    }

    /// `ahead`, then `sql`, both statements without parameters, in one round trip.
    pub(super) fn batch_after(&self, ahead: &str, sql: &str) -> Answers<()> {
        let client = &self.client;
        self.wait(Self::after(ahead, client, client.batch_execute(sql)))
    }

    pub(super) fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.wait(self.client.prepare(sql))
    }

    pub(super) fn prepare_typed(
        &self,
        sql: &str,
        types: &[postgres::types::Type],
    ) -> Result<Statement, Error> {
        self.wait(self.client.prepare_typed(sql, types))
    }

    /// `ahead` (statements without parameters; none when empty), then the statement, in
    /// one round trip; the answer to each. When `ahead` fails, the statement fails too
    /// (the transaction is aborted), so the first error is `ahead`'s.
    pub(super) fn execute(
        &self,
        ahead: &str,
        statement: &Statement,
        params: &Params<'_>,
    ) -> Answers<u64> {
        let client = &self.client;
        self.wait(Self::after(
            ahead,
            client,
            client.execute(statement, params),
        ))
    }

    /// As [`Driven::execute`], for a statement's rows.
    pub(super) fn query(
        &self,
        ahead: &str,
        statement: &Statement,
        params: &Params<'_>,
    ) -> Answers<Vec<Row>> {
        let client = &self.client;
        self.wait(Self::after(ahead, client, client.query(statement, params)))
    }

    /// Sends `ahead`, then what `then` sends, before waiting for either answer: the
    /// driver sends requests in the order they are first polled, which `biased` fixes.
    async fn after<T>(
        ahead: &str,
        client: &Client,
        then: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Answers<T> {
        match ahead.is_empty() {
            true => (Ok(()), then.await),
            false => tokio::join!(biased; client.batch_execute(ahead), then),
        }
    }
}
