//! The outbox: every change writes an event row in the same transaction, so a
//! dispatcher can fan changes out later without ever missing one.

use andibase_common::{id, DomainResult, Timestamp};

use crate::database::Tx;
use crate::params;

pub fn record_event(
    tx: &Tx<'_>,
    kind: &str,
    subject_id: &str,
    actor: Option<&str>,
    payload: &serde_json::Value,
    now: Timestamp,
) -> DomainResult<()> {
    record_events(tx, kind, &[subject_id.to_string()], actor, payload, now)
}

/// One event of `kind` per subject, with the same actor and payload: inserted many to
/// a statement, and on PostgreSQL held back until the commit ([`Tx::insert_later`]).
pub fn record_events(
    tx: &Tx<'_>,
    kind: &str,
    subject_ids: &[String],
    actor: Option<&str>,
    payload: &serde_json::Value,
    now: Timestamp,
) -> DomainResult<()> {
    let payload = payload.to_string();
    let rows = subject_ids
        .iter()
        .map(|subject| params![id::uuid7(), kind, subject.as_str(), actor, &payload, now].to_vec())
        .collect();
    tx.insert_later(
        "events",
        "INSERT INTO events (id, kind, subject_id, actor, payload, created_at) VALUES",
        "(?, ?, ?, ?, ?, ?)",
        rows,
    )
}
