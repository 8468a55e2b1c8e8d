//! The outbox: every change writes an event row in the same transaction, so a
//! dispatcher can fan changes out later without ever missing one.

use andibase_common::{id, DomainResult, Timestamp};

use crate::database::{Sql, Tx};
use crate::params;

pub fn record_event(
    tx: &Tx<'_>,
    kind: &str,
    subject_id: &str,
    actor: Option<&str>,
    payload: &serde_json::Value,
    now: Timestamp,
) -> DomainResult<()> {
    tx.execute(
        "INSERT INTO events (id, kind, subject_id, actor, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        &params![id::uuid7(), kind, subject_id, actor, payload.to_string(), now],
    )
    .map(|_| ())
}
