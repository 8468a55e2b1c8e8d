//! Agent work sessions (seed 000): an agent opens a session, shares its URL with the
//! human, and posts events the human watches live.

use andibase_common::{id, DomainError, DomainResult, Links, Timestamp};
use andibase_storage::{params, record_event, Database, Row, Sql};
use serde::{Deserialize, Serialize};

const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSession {
    pub id: String,
    pub title: String,
    /// Absolute URL of the session's live page on this server.
    pub url: String,
    pub message: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionEvent {
    pub id: String,
    pub session_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    pub ts: Timestamp,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSession {
    /// Defaults to "Agent session".
    #[serde(default)]
    pub title: Option<String>,
    /// A first status line; also recorded as a `session.started` event.
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEvent {
    /// Event type such as `agent.update`, 1–100 characters.
    #[serde(rename = "type")]
    pub kind: String,
    /// Any JSON value, at most 64 KiB.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

/// The outbox kind of a posted event; its payload is the [`SessionEvent`], which live
/// pages receive through the event bus.
pub const SESSION_EVENT: &str = "session.event";

impl SessionEvent {
    /// The session event an outbox row carries, if it is one.
    pub fn from_outbox(kind: &str, payload: &serde_json::Value) -> Option<SessionEvent> {
        (kind == SESSION_EVENT)
            .then(|| serde_json::from_value(payload.clone()).ok())
            .flatten()
    }
}

const SESSION_COLUMNS: &str = "id, title, message, created_at, updated_at";
const EVENT_COLUMNS: &str = "id, session_id, type, body, ts";

fn event_from_row(r: &Row) -> DomainResult<SessionEvent> {
    Ok(SessionEvent {
        id: r.text(0)?,
        session_id: r.text(1)?,
        kind: r.text(2)?,
        body: r.json(3)?,
        ts: r.time(4)?,
    })
}

/// The sessions of one workspace.
pub struct Sessions<'a> {
    pub db: &'a Database,
    pub workspace_handle: &'a str,
    /// Where the session pages are: each session's `url`.
    pub links: &'a dyn Links,
}

impl Sessions<'_> {
    fn session_from_row(&self, r: &Row) -> DomainResult<AgentSession> {
        let id = r.text(0)?;
        Ok(AgentSession {
            url: self.links.session(self.workspace_handle, &id),
            id,
            title: r.text(1)?,
            message: r.opt_text(2)?,
            created_at: r.time(3)?,
            updated_at: r.time(4)?,
        })
    }

    pub async fn create(
        &self,
        input: NewSession,
        actor: Option<&str>,
        now: Timestamp,
    ) -> DomainResult<AgentSession> {
        let title = input
            .title
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let title = title.unwrap_or_else(|| "Agent session".to_string());
        if title.chars().count() > 200 {
            return Err(DomainError::invalid(
                "title",
                "must be at most 200 characters",
            ));
        }
        if input
            .message
            .as_ref()
            .is_some_and(|m| m.chars().count() > 10_000)
        {
            return Err(DomainError::invalid(
                "message",
                "must be at most 10000 characters",
            ));
        }
        let session = AgentSession {
            id: id::prefixed("sess"),
            url: String::new(),
            title,
            message: input.message,
            created_at: now,
            updated_at: now,
        };
        let session = AgentSession {
            url: self.links.session(self.workspace_handle, &session.id),
            ..session
        };
        let (s, actor) = (session.clone(), actor.map(str::to_string));
        self.db
            .write(move |tx| {
                tx.execute(
                    &format!("INSERT INTO sessions ({SESSION_COLUMNS}, created_by) VALUES (?, ?, ?, ?, ?, ?)"),
                    &params![&s.id, &s.title, s.message.clone(), now, now, actor.clone()],
                )?;
                record_event(tx, "session.created", &s.id, actor.as_deref(), &serde_json::json!({}), now)?;
                s.message
                    .as_ref()
                    .map(|m| insert_event(tx, &s.id, "session.started", &serde_json::json!({"message": m}), now))
                    .transpose()
            })
            .await?;
        Ok(session)
    }

    pub async fn list(&self, limit: usize) -> DomainResult<Vec<AgentSession>> {
        let rows = self
            .db
            .read(move |r| {
                r.query(
                    &format!("SELECT {SESSION_COLUMNS} FROM sessions ORDER BY updated_at DESC, id DESC LIMIT {limit}"),
                    &[],
                )
            })
            .await?;
        rows.iter().map(|r| self.session_from_row(r)).collect()
    }

    pub async fn get(&self, session_id: &str) -> DomainResult<AgentSession> {
        let id = session_id.to_string();
        let row = self
            .db
            .read(move |r| {
                r.query_one(
                    &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"),
                    &params![id],
                )
            })
            .await?
            .ok_or(DomainError::NotFound)?;
        self.session_from_row(&row)
    }

    pub async fn post_event(
        &self,
        session_id: &str,
        input: NewEvent,
        now: Timestamp,
    ) -> DomainResult<SessionEvent> {
        let kind = input.kind.trim().to_string();
        if kind.is_empty() || kind.chars().count() > 100 {
            return Err(DomainError::invalid("type", "must be 1 to 100 characters"));
        }
        if input.body.to_string().len() > MAX_BODY_BYTES {
            return Err(DomainError::invalid(
                "body",
                "must be at most 64 KiB of JSON",
            ));
        }
        let id = session_id.to_string();
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE sessions SET updated_at = ? WHERE id = ?",
                    &params![now, &id],
                )?;
                if n == 0 {
                    return Err(DomainError::NotFound);
                }
                insert_event(tx, &id, &kind, &input.body, now)
            })
            .await
    }

    /// Events in order, optionally only those after `after` (an event id).
    pub async fn events(
        &self,
        session_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> DomainResult<Vec<SessionEvent>> {
        let (id, after) = (session_id.to_string(), after.map(str::to_string));
        self.db
            .read(move |r| {
                if r.query_one("SELECT 1 FROM sessions WHERE id = ?", &params![&id])?.is_none() {
                    return Err(DomainError::NotFound);
                }
                r.query(
                    &format!(
                        "SELECT {EVENT_COLUMNS} FROM session_events WHERE session_id = ? \
                         AND seq > coalesce((SELECT seq FROM session_events WHERE id = ? AND session_id = ?), 0) ORDER BY seq LIMIT {limit}"
                    ),
                    &params![&id, after.clone(), &id],
                )?
                .iter()
                .map(event_from_row)
                .collect()
            })
            .await
    }
}

fn insert_event(
    tx: &andibase_storage::Tx<'_>,
    session_id: &str,
    kind: &str,
    body: &serde_json::Value,
    now: Timestamp,
) -> DomainResult<SessionEvent> {
    let event = SessionEvent {
        id: id::uuid7(),
        session_id: session_id.to_string(),
        kind: kind.to_string(),
        body: body.clone(),
        ts: now,
    };
    tx.execute(
        &format!("INSERT INTO session_events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?)"),
        &params![
            &event.id,
            &event.session_id,
            &event.kind,
            body.to_string(),
            now
        ],
    )?;
    let payload = serde_json::to_value(&event).map_err(|e| DomainError::Internal(e.to_string()))?;
    record_event(tx, SESSION_EVENT, session_id, None, &payload, now)?;
    Ok(event)
}
