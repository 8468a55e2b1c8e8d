//! Rate windows every replica shares: each hit is a row of the main database
//! (`rate_hits`), counted inside a write, so replicas on one PostgreSQL count one window
//! (the sign-in and agent-login limits per client address). One process on SQLite keeps
//! its windows in memory instead (`andibase_common::rate::LocalRateWindows`).

use std::sync::atomic::{AtomicU64, Ordering};

use andibase_common::rate::{limited, RateFuture, RateWindows};
use andibase_common::{Clock, DomainResult};
use andibase_storage::{params, Database, Sql};

/// Hits between sweeps of rows older than a day (every window here is shorter).
const SWEEP_EVERY: u64 = 1_000;
const KEEP_MS: i64 = 24 * 60 * 60 * 1000;

pub struct SharedRateWindows {
    db: Database,
    clock: Clock,
    hits: AtomicU64,
}

impl SharedRateWindows {
    /// Windows kept in `db` (the main database), on `clock`.
    pub fn new(db: Database, clock: Clock) -> SharedRateWindows {
        SharedRateWindows {
            db,
            clock,
            hits: AtomicU64::new(0),
        }
    }
}

impl RateWindows for SharedRateWindows {
    fn hit<'a>(
        &'a self,
        key: &'a str,
        limit: usize,
        window_ms: i64,
    ) -> RateFuture<'a, DomainResult<()>> {
        let now = self.clock.now().0;
        let sweep = self
            .hits
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY);
        let (key, limit) = (key.to_string(), i64::try_from(limit).unwrap_or(i64::MAX));
        Box::pin(self.db.write(move |tx| {
            if sweep {
                tx.execute(
                    "DELETE FROM rate_hits WHERE at <= ?",
                    &params![now - KEEP_MS],
                )?;
            }
            tx.execute(
                "DELETE FROM rate_hits WHERE key = ? AND at <= ?",
                &params![key.clone(), now - window_ms],
            )?;
            let row = tx
                .query_one(
                    "SELECT count(*), min(at) FROM rate_hits WHERE key = ?",
                    &params![key.clone()],
                )?
                .expect("an aggregate has a row");
            if row.int(0)? >= limit {
                return Err(limited(row.opt_int(1)?.unwrap_or(now), window_ms, now));
            }
            tx.execute(
                "INSERT INTO rate_hits (key, at) VALUES (?, ?)",
                &params![key, now],
            )?;
            Ok(())
        }))
    }

    fn is_full<'a>(&'a self, key: &'a str, limit: usize, window_ms: i64) -> RateFuture<'a, bool> {
        let now = self.clock.now().0;
        let (key, limit) = (key.to_string(), i64::try_from(limit).unwrap_or(i64::MAX));
        Box::pin(async move {
            let count = self
                .db
                .read(move |r| {
                    r.query_one(
                        "SELECT count(*) FROM rate_hits WHERE key = ? AND at > ?",
                        &params![key, now - window_ms],
                    )?
                    .map(|row| row.int(0))
                    .transpose()
                })
                .await;
            // A limit that cannot be read does not lock anyone out.
            count.ok().flatten().unwrap_or(0) >= limit
        })
    }
}
