//! Reads stopped at a time limit (a list whose filter no index narrows may scan), run on
//! the async runtime with no pool thread in between. Each read has a connection to
//! itself while it runs: on a pipelined connection ([`super::pipeline`]) a slow read
//! would hold up every read queued behind it, and a time limit cannot be set for one
//! statement of many in flight.
//!
//! A connection keeps the `search_path` and `statement_timeout` the last read set, and is
//! set again only when the next read needs others (one round trip, not one per read).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use andibase_common::{DomainError, DomainResult};

use super::pipeline::Connection;
use super::{map_error, QUERY_CANCELED};
use crate::database::internal;
use crate::value::Value;

/// Connections per process: at most this many limited reads run at once, the others wait.
pub(crate) const CONNECTIONS: usize = 4;

const SETUP: &str =
    "SET default_transaction_read_only = on; SET application_name = 'andibase limited reads'";

pub(crate) struct LimitedReads {
    url: String,
    idle: Mutex<Vec<Lent>>,
    free: tokio::sync::Semaphore,
    /// Connections made so far.
    made: AtomicUsize,
}

struct Lent {
    connection: Connection,
    /// The schema and the limit (ms) the connection has now.
    set: Option<(String, u128)>,
}

impl LimitedReads {
    pub(crate) fn new(url: &str) -> LimitedReads {
        LimitedReads {
            url: url.to_string(),
            idle: Mutex::default(),
            free: tokio::sync::Semaphore::new(CONNECTIONS),
            made: AtomicUsize::new(0),
        }
    }

    /// The rows of one read statement in `schema` (its tables named as in that schema),
    /// or `None` when it ran past `limit` and was stopped.
    pub(crate) async fn query(
        &self,
        schema: &str,
        limit: Duration,
        sql: &str,
        params: &[Value],
    ) -> DomainResult<Option<Vec<crate::Row>>> {
        let _turn = self.free.acquire().await.map_err(internal)?;
        let idle = self.idle.lock().expect("idle connections poisoned").pop();
        let mut lent = match idle.filter(|l| !l.connection.client.is_closed()) {
            Some(lent) => lent,
            None => {
                let connection = Connection::open(&self.url, SETUP).await?;
                let made = self.made.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(made, "PostgreSQL connection for limited reads made");
                Lent {
                    connection,
                    set: None,
                }
            }
        };
        let wanted = (
            schema.to_string(),
            limit.as_millis().clamp(1, i32::MAX as u128),
        );
        if lent.set.as_ref() != Some(&wanted) {
            let (schema, ms) = &wanted;
            lent.connection
                .client
                .batch_execute(&format!(
                    "SET search_path TO {schema}; SET statement_timeout = {ms}"
                ))
                .await
                .map_err(map_error)?;
            lent.set = Some(wanted);
        }
        let rows = lent.connection.read(sql, params).await;
        // Given back only here, after a whole answer: a read dropped half-way (its caller
        // went away) drops its connection too, rather than leave a statement running on it.
        self.idle
            .lock()
            .expect("idle connections poisoned")
            .push(lent);
        match rows {
            Err(DomainError::Internal(m)) if m.starts_with(QUERY_CANCELED) => Ok(None),
            other => other.map(Some),
        }
    }

    /// How many connections were made so far.
    #[cfg(test)]
    pub(crate) fn connections_made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }
}
