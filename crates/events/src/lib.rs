//! The event bus. Every change inside a workspace writes an outbox row (`events`) in the
//! same transaction; the bus reads those rows once they are committed and hands each to
//! the subscribers of its workspace: live pages, the approvals inbox, long-polls, and
//! later realtime, automations and notifications. Nothing slow runs inside a write: a
//! consumer reacts after the commit.
//!
//! A workspace's rows are read by one relay task, which runs while the workspace has
//! subscribers and wakes at each commit of its database ([`CommitSignal`]). A subscriber
//! gets every event committed after it subscribed, in commit order; one that falls more
//! than [`BACKLOG`] events behind is told how many it missed (and can read them from the
//! outbox by `seq`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use andibase_common::{DomainResult, Timestamp};
use andibase_storage::{params, Database, Row, Sql, WorkspaceDatabases};
use tokio::sync::broadcast;

/// One committed change, as its outbox row has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub workspace_id: String,
    /// Its place in the workspace's outbox: later events have larger numbers.
    pub seq: i64,
    pub id: String,
    /// `approval.resolved`, `session.event`, `record.created`, …
    pub kind: String,
    /// The id of what changed.
    pub subject_id: String,
    pub actor: Option<String>,
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
}

/// What a subscriber receives.
pub type Subscription = broadcast::Receiver<Arc<Event>>;

/// Events a subscriber may fall behind before it misses some.
pub const BACKLOG: usize = 1024;

/// Rows a relay reads at a time.
const BATCH: i64 = 500;

/// How the bus hears that a workspace's database committed. In one process it is the
/// database's own commit counter ([`Database::commits`]); with several replicas on
/// PostgreSQL it will be the LISTEN side of the NOTIFY each commit sends.
pub trait CommitSignal: Send + 'static {
    /// Resolves at the next commit; `false` once the database has closed.
    fn next(&mut self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

impl CommitSignal for tokio::sync::watch::Receiver<u64> {
    fn next(&mut self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move { self.changed().await.is_ok() })
    }
}

type Listen = dyn Fn(&Database) -> Box<dyn CommitSignal> + Send + Sync;

/// Fans committed outbox rows out per workspace. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    workspaces: Arc<WorkspaceDatabases>,
    listen: Box<Listen>,
    /// The live relays, by workspace id.
    topics: Mutex<HashMap<String, broadcast::Sender<Arc<Event>>>>,
}

const EVENT_COLUMNS: &str = "seq, id, kind, subject_id, actor, payload, created_at";

fn event_from_row(workspace_id: &str, r: &Row) -> DomainResult<Event> {
    Ok(Event {
        workspace_id: workspace_id.to_string(),
        seq: r.int(0)?,
        id: r.text(1)?,
        kind: r.text(2)?,
        subject_id: r.text(3)?,
        actor: r.opt_text(4)?,
        payload: r.json(5)?,
        created_at: r.time(6)?,
    })
}

/// The outbox's last `seq` (0 when empty).
async fn end_of_outbox(db: &Database) -> DomainResult<i64> {
    db.read(|r| {
        r.query_one("SELECT coalesce(max(seq), 0) FROM events", &[])?
            .map_or(Ok(0), |row| row.int(0))
    })
    .await
}

impl EventBus {
    /// A bus over the workspaces' databases, hearing of commits from each database.
    pub fn new(workspaces: Arc<WorkspaceDatabases>) -> EventBus {
        EventBus::with_signal(workspaces, |db| Box::new(db.commits()))
    }

    /// A bus that hears of commits through `listen` (another process's notifications).
    pub fn with_signal(
        workspaces: Arc<WorkspaceDatabases>,
        listen: impl Fn(&Database) -> Box<dyn CommitSignal> + Send + Sync + 'static,
    ) -> EventBus {
        EventBus {
            inner: Arc::new(Inner {
                workspaces,
                listen: Box::new(listen),
                topics: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Every event of the workspace committed from now on. Must run inside a tokio
    /// runtime (it may start the workspace's relay).
    pub async fn subscribe(&self, workspace_id: &str) -> DomainResult<Subscription> {
        if let Some(topic) = self.topic(workspace_id) {
            return Ok(topic.subscribe());
        }
        let db = self.inner.workspaces.get(workspace_id).await?;
        // Listen before reading where the outbox ends, so no commit falls in between.
        let signal = (self.inner.listen)(&db);
        let start = end_of_outbox(&db).await?;
        let mut topics = self.inner.topics.lock().expect("event topics poisoned");
        if let Some(topic) = topics.get(workspace_id) {
            return Ok(topic.subscribe());
        }
        let (sender, receiver) = broadcast::channel(BACKLOG);
        topics.insert(workspace_id.to_string(), sender.clone());
        let relay = Relay {
            bus: self.inner.clone(),
            workspace_id: workspace_id.to_string(),
            db,
            sender,
            after: start,
        };
        tokio::spawn(relay.run(signal));
        Ok(receiver)
    }

    fn topic(&self, workspace_id: &str) -> Option<broadcast::Sender<Arc<Event>>> {
        self.inner
            .topics
            .lock()
            .expect("event topics poisoned")
            .get(workspace_id)
            .cloned()
    }

    /// Workspaces with a relay running (for tests and metrics).
    pub fn live_workspaces(&self) -> usize {
        self.inner
            .topics
            .lock()
            .expect("event topics poisoned")
            .len()
    }

    /// Live subscriptions over every workspace (for metrics).
    pub fn subscriber_count(&self) -> usize {
        let topics = self.inner.topics.lock().expect("event topics poisoned");
        topics.values().map(|t| t.receiver_count()).sum()
    }
}

/// Reads one workspace's new outbox rows after each commit and sends them on. It keeps
/// the database open while anyone listens, and ends when the last subscriber has gone.
struct Relay {
    bus: Arc<Inner>,
    workspace_id: String,
    db: Database,
    sender: broadcast::Sender<Arc<Event>>,
    /// The last `seq` sent.
    after: i64,
}

impl Relay {
    async fn run(mut self, mut signal: Box<dyn CommitSignal>) {
        loop {
            tokio::select! {
                open = signal.next() => {
                    if !open {
                        break;
                    }
                    if let Err(e) = self.send_new().await {
                        tracing::warn!(workspace = %self.workspace_id, error = %e, "event relay could not read the outbox");
                    }
                }
                () = self.sender.closed() => {
                    if self.retire() {
                        return;
                    }
                }
            }
        }
        self.retire_now();
    }

    /// Sends every row committed since the last one sent.
    async fn send_new(&mut self) -> DomainResult<()> {
        loop {
            let (ws, after) = (self.workspace_id.clone(), self.after);
            let events = self
                .db
                .read(move |r| {
                    r.query(
                        &format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT {BATCH}"),
                        &params![after],
                    )?
                    .iter()
                    .map(|row| event_from_row(&ws, row))
                    .collect::<DomainResult<Vec<_>>>()
                })
                .await?;
            let full = events.len() as i64 == BATCH;
            for event in events {
                self.after = event.seq;
                // No receiver right now is fine: one may come before the next commit.
                let _ = self.sender.send(Arc::new(event));
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Removes the topic if nobody subscribed again meanwhile; whether it did.
    fn retire(&self) -> bool {
        let mut topics = self.bus.topics.lock().expect("event topics poisoned");
        if self.sender.receiver_count() > 0 {
            return false;
        }
        topics.remove(&self.workspace_id);
        true
    }

    /// The database closed under the relay: its subscribers see the stream end.
    fn retire_now(&self) {
        let mut topics = self.bus.topics.lock().expect("event topics poisoned");
        if topics
            .get(&self.workspace_id)
            .is_some_and(|t| t.same_channel(&self.sender))
        {
            topics.remove(&self.workspace_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use andibase_storage::record_event;
    use std::time::Duration;

    const WS: &str = "0190e2a0-0000-7000-8000-0000000000ee";

    fn workspaces() -> (andibase_common::temp::TempDir, Arc<WorkspaceDatabases>) {
        let dir = andibase_common::temp::TempDir::new("events");
        let workspaces = Arc::new(WorkspaceDatabases::new(dir.path().to_path_buf()));
        (dir, workspaces)
    }

    async fn write(db: &Database, kind: &'static str, subject: &'static str) {
        db.write(move |tx| {
            record_event(
                tx,
                kind,
                subject,
                Some("test"),
                &serde_json::json!({"n": 1}),
                Timestamp(7),
            )
        })
        .await
        .unwrap();
    }

    async fn next(sub: &mut Subscription) -> Arc<Event> {
        tokio::time::timeout(Duration::from_secs(5), sub.recv())
            .await
            .expect("an event within 5 s")
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscribers_get_what_commits_after_they_subscribe_in_order() {
        let (_dir, workspaces) = workspaces();
        let bus = EventBus::new(workspaces.clone());
        let db = workspaces.get(WS).await.unwrap();
        write(&db, "before", "s0").await;
        let mut a = bus.subscribe(WS).await.unwrap();
        let mut b = bus.subscribe(WS).await.unwrap();
        assert_eq!(bus.live_workspaces(), 1, "one relay per workspace");
        // A rolled-back write sends nothing.
        let _ = db
            .write(|tx| {
                record_event(tx, "lost", "x", None, &serde_json::json!({}), Timestamp(1))?;
                Err::<(), _>(andibase_common::DomainError::NotFound)
            })
            .await;
        write(&db, "first", "s1").await;
        write(&db, "second", "s2").await;
        for sub in [&mut a, &mut b] {
            let first = next(sub).await;
            assert_eq!(
                (
                    first.kind.as_str(),
                    first.subject_id.as_str(),
                    first.workspace_id.as_str()
                ),
                ("first", "s1", WS)
            );
            assert_eq!(first.payload, serde_json::json!({"n": 1}));
            let second = next(sub).await;
            assert_eq!(second.kind, "second");
            assert!(second.seq > first.seq);
        }
        // The relay stops once its subscribers are gone, and lets the file close.
        drop((a, b));
        for _ in 0..100 {
            if bus.live_workspaces() == 0 {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(bus.live_workspaces(), 0);
        drop(db);
        assert_eq!(workspaces.close_idle(Duration::ZERO), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_larger_than_a_read_arrives_whole() {
        let (_dir, workspaces) = workspaces();
        let bus = EventBus::new(workspaces.clone());
        let db = workspaces.get(WS).await.unwrap();
        let mut sub = bus.subscribe(WS).await.unwrap();
        let subjects: Vec<String> = (0..(BATCH as usize * 2 + 7))
            .map(|i| format!("r{i}"))
            .collect();
        let n = subjects.len();
        db.write(move |tx| {
            andibase_storage::record_events(
                tx,
                "record.created",
                &subjects,
                None,
                &serde_json::json!({}),
                Timestamp(1),
            )
        })
        .await
        .unwrap();
        for i in 0..n {
            assert_eq!(next(&mut sub).await.subject_id, format!("r{i}"));
        }
    }
}
