//! Durable background jobs (DESIGN §4).
//!
//! A job is a row in its workspace's `jobs` table, written in the same transaction as the
//! change that needs it ([`enqueue`]), so it exists exactly when the change does. The
//! [`Runner`] keeps an in-memory heap of "workspace W has work at time T", rebuilt from
//! the rows at start ([`Runner::recover`]); it claims due rows with a lease, runs their
//! handler, and marks them done, schedules a retry, or marks them failed. A job whose
//! process died mid-run is claimed again once its lease lapses (at-least-once).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use andibase_common::{id, Clock, DomainResult, Timestamp};
use andibase_storage::{params, Database, Sql, Tx, WorkspaceDatabases};
use tokio::sync::Notify;

const LEASE_MS: i64 = 60_000;
const BATCH: i64 = 32;

/// A claimed job.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Including this one.
    pub attempts: i64,
}

/// What a handler says about a run.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// Try again after the delay; the error is kept on the row.
    Retry {
        after_ms: i64,
        error: String,
    },
    /// Give up; the error is kept on the row.
    Failed(String),
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Runs one kind of job. `db` is the job's workspace database.
pub trait Handler: Send + Sync {
    fn run(&self, workspace_id: String, db: Database, job: Job) -> BoxFuture<Outcome>;
}

/// Writes a job in the caller's transaction. Call [`Scheduler::wake`] after commit.
pub fn enqueue(
    tx: &Tx<'_>,
    kind: &str,
    payload: &serde_json::Value,
    run_at: Timestamp,
    now: Timestamp,
) -> DomainResult<String> {
    let id = id::uuid7();
    tx.execute(
        "INSERT INTO jobs (id, kind, payload, run_at, created_at) VALUES (?, ?, ?, ?, ?)",
        &params![&id, kind, payload.to_string(), run_at, now],
    )?;
    Ok(id)
}

/// The wake-up heap, shared by whoever enqueues jobs and the runner.
#[derive(Default)]
pub struct Scheduler {
    state: Mutex<Schedule>,
    notify: Notify,
}

#[derive(Default)]
struct Schedule {
    heap: BinaryHeap<Reverse<(i64, String)>>,
    /// Workspaces whose due jobs are being run now.
    running: usize,
}

impl Scheduler {
    fn state(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.state.lock().expect("scheduler poisoned")
    }

    /// Tells the runner that `workspace_id` has a job due at `at`.
    pub fn wake(&self, workspace_id: &str, at: Timestamp) {
        self.state()
            .heap
            .push(Reverse((at.0, workspace_id.to_string())));
        self.notify.notify_one();
    }

    /// Makes the runner look at the clock again (a manual clock moved).
    pub fn poke(&self) {
        self.notify.notify_one();
    }

    fn next_due(&self) -> Option<i64> {
        self.state().heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Removes and returns the workspaces due by `now`, each once, counting them as
    /// running until [`Scheduler::finished`].
    fn take_due(&self, now: i64) -> Vec<String> {
        let mut state = self.state();
        let mut due = Vec::new();
        while state.heap.peek().is_some_and(|Reverse((t, _))| *t <= now) {
            if let Some(Reverse((_, ws))) = state.heap.pop() {
                if !due.contains(&ws) {
                    due.push(ws);
                }
            }
        }
        state.running += due.len();
        due
    }

    fn finished(&self) {
        self.state().running -= 1;
    }

    /// Whether nothing is running and nothing is due by `now`.
    fn settled(&self, now: i64) -> bool {
        let state = self.state();
        state.running == 0 && state.heap.peek().is_none_or(|Reverse((t, _))| *t > now)
    }

    /// Waits until every job due by `clock`'s now has run (with a manual clock, after
    /// moving it: what tests use instead of sleeping). Gives up after `limit`.
    pub async fn settle(&self, clock: &Clock, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.settled(clock.now().0) {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            self.poke();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }
}

pub struct Runner {
    /// Who holds the leases this runner takes: the same across restarts of one replica
    /// (see [`Runner::with_replica`]).
    replica: String,
    workspaces: Arc<WorkspaceDatabases>,
    scheduler: Arc<Scheduler>,
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
    clock: Clock,
}

impl Runner {
    pub fn new(
        workspaces: Arc<WorkspaceDatabases>,
        scheduler: Arc<Scheduler>,
        clock: Clock,
    ) -> Runner {
        Runner {
            replica: id::uuid7(),
            workspaces,
            scheduler,
            handlers: HashMap::new(),
            clock,
        }
    }

    /// Names the replica this runner works for, the same across its restarts, so that
    /// after a crash it frees the leases it held (and only those).
    pub fn with_replica(mut self, replica: &str) -> Runner {
        self.replica = replica.to_string();
        self
    }

    pub fn handle(mut self, kind: &'static str, handler: Arc<dyn Handler>) -> Runner {
        self.handlers.insert(kind, handler);
        self
    }

    /// After a restart: frees the leases this replica held before (on SQLite, every lease:
    /// one process runs jobs there; on PostgreSQL other replicas' leases lapse on their
    /// own) and schedules every workspace with pending jobs.
    pub async fn recover(&self) -> DomainResult<usize> {
        let mine = self
            .workspaces
            .postgres_server()
            .map(|_| self.replica.clone());
        self.sweep(Some(mine)).await
    }

    /// Schedules every workspace with pending jobs, first freeing leases when `free` says
    /// so (`Some(None)`: all of them; `Some(Some(replica))`: that replica's). How many
    /// workspaces have work.
    async fn sweep(&self, free: Option<Option<String>>) -> DomainResult<usize> {
        let mut n = 0;
        for ws in self.workspaces.ids_on_disk() {
            let db = self.workspaces.get(&ws).await?;
            let free = free.clone();
            let next = db
                .write(move |tx| {
                    if let Some(holder) = free {
                        tx.execute(
                            "UPDATE jobs SET locked_until = NULL, locked_by = NULL \
                             WHERE status = 'pending' AND locked_by IS NOT DISTINCT FROM coalesce(?, locked_by)",
                            &params![holder],
                        )?;
                    }
                    tx.query_one("SELECT min(run_at) FROM jobs WHERE status = 'pending'", &[])?
                        .map_or(Ok(None), |r| r.opt_int(0))
                })
                .await?;
            if let Some(at) = next {
                self.scheduler.wake(&ws, Timestamp(at));
                n += 1;
            }
        }
        // The scan opened every workspace file; close them again so a server with many
        // workspaces does not start with all of them (and their threads) open.
        self.workspaces.close_idle(Duration::ZERO);
        Ok(n)
    }

    /// Looks for work every `every` (jobs other replicas enqueued, or left behind when
    /// they died), on PostgreSQL; on SQLite this process enqueued every job itself and
    /// this returns at once. Runs forever; spawn it beside [`Runner::run`].
    pub async fn sweep_every(self: Arc<Self>, every: Duration) {
        if self.workspaces.postgres_server().is_none() {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = self.sweep(None).await {
                tracing::warn!(error = %e, "could not look for other replicas' jobs");
            }
        }
    }

    /// Runs forever; spawn it.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = self.clock.now().0;
            match self.scheduler.next_due() {
                None => self.scheduler.notify.notified().await,
                Some(t) if t > now => {
                    let wait = Duration::from_millis((t - now).min(60_000) as u64);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {},
                        _ = self.scheduler.notify.notified() => {},
                    }
                }
                Some(_) => {
                    for ws in self.scheduler.take_due(now) {
                        let me = self.clone();
                        tokio::spawn(async move {
                            if let Err(e) = me.run_workspace(&ws).await {
                                tracing::error!(workspace = %ws, error = %e, "job batch failed");
                                me.scheduler.wake(&ws, me.clock.now().plus_seconds(5));
                            }
                            me.scheduler.finished();
                        });
                    }
                }
            }
        }
    }

    async fn run_workspace(&self, ws: &str) -> DomainResult<()> {
        let db = self.workspaces.get(ws).await?;
        let now = self.clock.now();
        let replica = self.replica.clone();
        let claimed = db
            .write(move |tx| {
                let rows = tx.query(
                    &format!("SELECT id, kind, payload, attempts FROM jobs WHERE status = 'pending' AND run_at <= ? \
                     AND (locked_until IS NULL OR locked_until < ?) ORDER BY run_at LIMIT {BATCH}"),
                    &params![now, now],
                )?;
                let mut jobs = Vec::new();
                for r in rows {
                    let job = Job { id: r.text(0)?, kind: r.text(1)?, payload: r.json(2)?, attempts: r.int(3)? + 1 };
                    tx.execute("UPDATE jobs SET locked_until = ?, locked_by = ?, attempts = ? WHERE id = ?", &params![now.0 + LEASE_MS, &replica, job.attempts, &job.id])?;
                    jobs.push(job);
                }
                Ok(jobs)
            })
            .await?;
        let mut running = Vec::new();
        for job in claimed {
            let handler = self.handlers.get(job.kind.as_str()).cloned();
            let (db, ws) = (db.clone(), ws.to_string());
            running.push(tokio::spawn(async move {
                let outcome = match handler {
                    Some(h) => h.run(ws, db, job.clone()).await,
                    None => Outcome::Failed(format!("no handler for job kind {}", job.kind)),
                };
                (job, outcome)
            }));
        }
        for task in running {
            let Ok((job, outcome)) = task.await else {
                continue;
            };
            let now = self.clock.now();
            let (status, run_at, error) = match outcome {
                Outcome::Done => ("done", None, None),
                Outcome::Retry { after_ms, error } => {
                    ("pending", Some(now.0 + after_ms.max(0)), Some(error))
                }
                Outcome::Failed(error) => ("failed", None, Some(error)),
            };
            db.write(move |tx| {
                tx.execute(
                    "UPDATE jobs SET status = ?, run_at = coalesce(?, run_at), last_error = ?, locked_until = NULL, \
                     finished_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END WHERE id = ?",
                    &params![status, run_at, error, status, now, &job.id],
                )
            })
            .await?;
        }
        // Whatever is left (later retries, a full batch) gets the next wake-up.
        let next = db
            .read(|r| {
                r.query_one("SELECT min(run_at) FROM jobs WHERE status = 'pending'", &[])?
                    .map_or(Ok(None), |r| r.opt_int(0))
            })
            .await?;
        if let Some(at) = next {
            self.scheduler.wake(ws, Timestamp(at));
        }
        Ok(())
    }
}

/// Exponential backoff: `base_ms * 2^(attempt-1)`, capped at one hour.
pub fn backoff_ms(base_ms: i64, attempt: i64) -> i64 {
    (base_ms.saturating_mul(1i64 << (attempt - 1).clamp(0, 20))).min(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Flaky {
        calls: Arc<AtomicUsize>,
        fail_first: usize,
    }

    impl Handler for Flaky {
        fn run(&self, _ws: String, _db: Database, job: Job) -> BoxFuture<Outcome> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let fail = n < self.fail_first;
            Box::pin(async move {
                if fail {
                    Outcome::Retry {
                        after_ms: 10,
                        error: format!("attempt {} failed", job.attempts),
                    }
                } else {
                    Outcome::Done
                }
            })
        }
    }

    #[tokio::test]
    async fn jobs_retry_then_finish_and_survive_a_new_runner() {
        let dir = andibase_common::temp::TempDir::new("jobs");
        let workspaces = Arc::new(WorkspaceDatabases::new(dir.path().to_path_buf()));
        let ws = "0190e2a0-0000-7000-8000-000000000001";
        let db = workspaces.get(ws).await.unwrap();
        let clock = Clock::manual(Timestamp(1_000_000));
        let now = clock.now();
        db.write(move |tx| {
            enqueue(tx, "flaky", &serde_json::json!({"x": 1}), now, now).map(|_| ())
        })
        .await
        .unwrap();

        // A fresh runner finds the job from the rows alone (as after a restart).
        let calls = Arc::new(AtomicUsize::new(0));
        let scheduler = Arc::new(Scheduler::default());
        let runner = Arc::new(
            Runner::new(workspaces.clone(), scheduler.clone(), clock.clone()).handle(
                "flaky",
                Arc::new(Flaky {
                    calls: calls.clone(),
                    fail_first: 2,
                }),
            ),
        );
        assert_eq!(runner.recover().await.unwrap(), 1);
        let task = tokio::spawn(runner.clone().run());
        let status = || {
            db.read(|r| {
                r.query_one("SELECT status FROM jobs", &[])?
                    .unwrap()
                    .text(0)
            })
        };
        // Each retry waits for its time: the clock stands still until moved.
        for attempt in 1..=3 {
            assert!(scheduler.settle(&clock, Duration::from_secs(10)).await);
            assert_eq!(calls.load(Ordering::SeqCst), attempt);
            let want = if attempt < 3 { "pending" } else { "done" };
            assert_eq!(status().await.unwrap(), want, "after attempt {attempt}");
            clock.advance_millis(9);
            assert!(scheduler.settle(&clock, Duration::from_secs(10)).await);
            assert_eq!(calls.load(Ordering::SeqCst), attempt, "not due yet");
            clock.advance_millis(1);
        }
        task.abort();
        let attempts = db
            .read(|r| {
                r.query_one("SELECT attempts FROM jobs", &[])?
                    .unwrap()
                    .int(0)
            })
            .await
            .unwrap();
        assert_eq!(attempts, 3);
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(
            (backoff_ms(100, 1), backoff_ms(100, 2), backoff_ms(100, 4)),
            (100, 200, 800)
        );
        assert_eq!(backoff_ms(1000, 60), 3_600_000);
    }
}
