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
    record_events(tx, kind, &[subject_id.to_string()], actor, payload, now)
}

/// Rows per `INSERT` in [`record_events`]: one statement per row was 12% of a bulk
/// insert's writer time (perf), each one also reading and writing `sqlite_sequence` for
/// AUTOINCREMENT.
const EVENTS_PER_STATEMENT: usize = 100;

/// One event of `kind` per subject, with the same actor and payload, in as few
/// statements as it takes.
pub fn record_events(
    tx: &Tx<'_>,
    kind: &str,
    subject_ids: &[String],
    actor: Option<&str>,
    payload: &serde_json::Value,
    now: Timestamp,
) -> DomainResult<()> {
    let payload = payload.to_string();
    for chunk in subject_ids.chunks(EVENTS_PER_STATEMENT) {
        // ?1..?4 are shared; each row adds its own id and subject.
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("(?{}, ?1, ?{}, ?2, ?3, ?4)", 5 + 2 * i, 6 + 2 * i))
            .collect();
        let mut p = params![kind, actor, &payload, now].to_vec();
        for subject in chunk {
            p.push(id::uuid7().into());
            p.push(subject.as_str().into());
        }
        tx.execute(
            &format!(
                "INSERT INTO events (id, kind, subject_id, actor, payload, created_at) VALUES {}",
                rows.join(", ")
            ),
            &p,
        )?;
    }
    Ok(())
}
