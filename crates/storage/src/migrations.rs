//! Embedded, versioned migrations, applied at open inside one transaction.

use andibase_common::{DomainError, DomainResult};
use rusqlite::Connection;

#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The main database: identity and tenancy.
pub const MAIN_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "identity",
        sql: include_str!("../migrations/sqlite/main/0001_identity.sql"),
    },
    Migration {
        version: 2,
        name: "memory_spaces",
        sql: include_str!("../migrations/sqlite/main/0002_memory_spaces.sql"),
    },
    Migration {
        version: 3,
        name: "rate_hits",
        sql: include_str!("../migrations/sqlite/main/0003_rate_hits.sql"),
    },
];

/// Each workspace's own database.
pub const WORKSPACE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "agents_and_sessions",
        sql: include_str!("../migrations/sqlite/workspace/0001_agents_sessions.sql"),
    },
    Migration {
        version: 2,
        name: "jobs_and_approvals",
        sql: include_str!("../migrations/sqlite/workspace/0002_jobs_approvals.sql"),
    },
    Migration {
        version: 3,
        name: "data_definitions",
        sql: include_str!("../migrations/sqlite/workspace/0003_data.sql"),
    },
    Migration {
        version: 4,
        name: "events_without_id_index",
        sql: include_str!("../migrations/sqlite/workspace/0004_events_without_id_index.sql"),
    },
    Migration {
        version: 5,
        name: "definition_indexes",
        sql: include_str!("../migrations/sqlite/workspace/0005_definition_indexes.sql"),
    },
    Migration {
        version: 6,
        name: "data_settings",
        sql: include_str!("../migrations/sqlite/workspace/0006_data_settings.sql"),
    },
    Migration {
        version: 7,
        name: "memory_tokens_and_conversations",
        sql: include_str!("../migrations/sqlite/workspace/0007_memory_tokens.sql"),
    },
    Migration {
        version: 8,
        name: "agent_chats",
        sql: include_str!("../migrations/sqlite/workspace/0008_agent_chats.sql"),
    },
    Migration {
        version: 9,
        name: "credentials_and_skills",
        sql: include_str!("../migrations/sqlite/workspace/0009_credentials_and_skills.sql"),
    },
    Migration {
        version: 10,
        name: "job_lease_owner",
        sql: include_str!("../migrations/sqlite/workspace/0010_job_lease_owner.sql"),
    },
];

/// The main schema (`andibase`) on PostgreSQL. Its versions are its own: PostgreSQL
/// started from the schema SQLite's migrations had reached.
pub const POSTGRES_MAIN_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "identity",
        sql: include_str!("../migrations/postgres/main/0001_identity.sql"),
    },
    Migration {
        version: 2,
        name: "rate_hits",
        sql: include_str!("../migrations/postgres/main/0002_rate_hits.sql"),
    },
];

/// Each workspace's schema (`ws_<id>`) on PostgreSQL.
pub const POSTGRES_WORKSPACE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "workspace",
        sql: include_str!("../migrations/postgres/workspace/0001_workspace.sql"),
    },
    Migration {
        version: 2,
        name: "job_lease_owner",
        sql: include_str!("../migrations/postgres/workspace/0002_job_lease_owner.sql"),
    },
];

pub(crate) fn apply_migrations(
    conn: &mut Connection,
    migrations: &[Migration],
) -> DomainResult<()> {
    let err = |e: rusqlite::Error| DomainError::Internal(format!("migration: {e}"));
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS _migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )
    .map_err(err)?;
    let current: i64 = tx
        .query_row(
            "SELECT coalesce(max(version), 0) FROM _migrations",
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    let newest = migrations.iter().map(|m| m.version).max().unwrap_or(0);
    if current > newest {
        return Err(DomainError::Internal(format!(
            "database is at schema version {current}, newer than this binary knows ({newest}); refusing to open"
        )));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    for m in migrations.iter().filter(|m| m.version > current) {
        tx.execute_batch(m.sql).map_err(|e| {
            DomainError::Internal(format!("migration {} ({}): {e}", m.version, m.name))
        })?;
        tx.execute(
            "INSERT INTO _migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, now],
        )
        .map_err(err)?;
        tracing::debug!(version = m.version, name = m.name, "applied migration");
    }
    tx.commit().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rebuilding `events` without its id index keeps every row and the sequence: a seq
    /// handed out before the migration (even if deleted since) is not handed out again.
    #[test]
    fn events_rebuild_keeps_rows_and_sequence() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply_migrations(&mut conn, &WORKSPACE_MIGRATIONS[..3]).unwrap();
        conn.execute_batch(
            "INSERT INTO events (id, kind, subject_id, created_at) VALUES ('a', 'k', 's', 1), ('b', 'k', 's', 2), ('c', 'k', 's', 3);
             DELETE FROM events WHERE seq = 3;",
        )
        .unwrap();
        apply_migrations(&mut conn, WORKSPACE_MIGRATIONS).unwrap();
        conn.execute(
            "INSERT INTO events (id, kind, subject_id, created_at) VALUES ('d', 'k', 's', 4)",
            [],
        )
        .unwrap();
        let rows: Vec<(i64, String)> = conn
            .prepare("SELECT seq, id FROM events ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![(1, "a".into()), (2, "b".into()), (4, "d".into())]
        );
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 0);
    }
}
