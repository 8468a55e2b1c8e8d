//! The writer thread of one database file: group commit and checkpoints.
//!
//! Writes are committed in groups: the writes queued while the writer was busy run one
//! after another inside one transaction, each in its own savepoint, and are committed
//! together. A write that fails rolls back to its savepoint and leaves the others
//! untouched, so each caller still gets all-or-nothing; what the group saves is one commit
//! per write, and with it the WAL frames of the pages the writes share (the tail pages of
//! each table, the index pages a batch of records touches).
//!
//! Checkpoints (copying the WAL back into the database file, with two fsyncs) mostly run
//! on a second thread, so the writer goes on writing meanwhile. A checkpoint beside a
//! busy writer can never copy the whole log, though, and SQLite only restarts the log from
//! its beginning when everything in it was copied; so when the log passes
//! [`WAL_HARD_FRAMES`] the writer itself copies the rest, between two groups, and the next
//! write starts the log over. That keeps the WAL bounded under any write load.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use andibase_common::DomainResult;
use rusqlite::Connection;

use crate::database::{internal, Job, Tx};

/// What the writer thread runs.
pub(crate) enum WriterJob {
    /// A write, run in a transaction it may share with other writes.
    Write(Box<dyn WriteJob>),
    /// Work that needs the connection to itself, outside any transaction.
    Alone(Job),
}

/// One caller's write: run inside the group's transaction, then told how it ended.
pub(crate) trait WriteJob: Send {
    /// Runs the write; `false` when it failed and its changes must be rolled back.
    fn run(&mut self, tx: &Tx<'_>) -> bool;
    /// Replies to the caller once the transaction has ended: `ended` is the commit's
    /// failure, if any (a write that failed keeps its own error).
    fn finish(self: Box<Self>, ended: Result<(), String>);
}

/// A write from [`Database::write`] and where its answer goes.
pub(crate) struct PendingWrite<T, F> {
    f: Option<F>,
    result: Option<DomainResult<T>>,
    reply: tokio::sync::oneshot::Sender<DomainResult<T>>,
}

impl<T, F> PendingWrite<T, F> {
    pub(crate) fn new(f: F, reply: tokio::sync::oneshot::Sender<DomainResult<T>>) -> Self {
        PendingWrite {
            f: Some(f),
            result: None,
            reply,
        }
    }
}

impl<T, F> WriteJob for PendingWrite<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Tx<'_>) -> DomainResult<T> + Send + 'static,
{
    fn run(&mut self, tx: &Tx<'_>) -> bool {
        let Some(f) = self.f.take() else { return false };
        // A panic fails this write only; the writer thread and the group go on.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(tx)))
            .unwrap_or_else(|_| Err(internal("a database write panicked")));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, ended: Result<(), String>) {
        let answer = match (self.result, ended) {
            (Some(Err(e)), _) => Err(e),
            (_, Err(e)) => Err(internal(e)),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (None, Ok(())) => Err(internal("a database write did not run")),
        };
        let _ = self.reply.send(answer);
    }
}

/// The most writes one transaction takes: bounds how long the first of them waits.
pub(crate) const MAX_GROUP: usize = 64;

/// WAL frames (pages) past which the checkpoint thread is woken.
const WAL_SOFT_FRAMES: i32 = 1000;
/// WAL frames past which the writer copies the rest itself, so the log can restart
/// (4,000 pages of 4 KiB: the WAL stays near 16 MiB at most, plus one group's pages).
const WAL_HARD_FRAMES: i32 = 4000;

thread_local! {
    /// Frames in this writer thread's WAL after its last commit (from SQLite's WAL hook,
    /// which runs on the committing thread).
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

fn note_wal_frames(_: &rusqlite::hooks::Wal, frames: std::os::raw::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    Ok(())
}

/// The writer thread's state: the write connection and its side of checkpointing.
pub(crate) struct Writer {
    conn: Connection,
    /// Held by whoever checkpoints: SQLite lets one checkpoint run at a time and would
    /// answer the other "busy" rather than wait.
    checkpointing: Arc<Mutex<()>>,
    wake: flume::Sender<()>,
    /// Counts committed groups, so the event bus hears of new outbox rows; dropped with
    /// the writer, which tells listeners the file has closed.
    commits: tokio::sync::watch::Sender<u64>,
}

impl Writer {
    /// Starts the writer thread on `conn` and the checkpoint thread on `checkpoints`.
    pub(crate) fn spawn(
        name: &str,
        conn: Connection,
        checkpoints: Connection,
        jobs: flume::Receiver<WriterJob>,
        commits: tokio::sync::watch::Sender<u64>,
    ) -> DomainResult<[std::thread::JoinHandle<()>; 2]> {
        // Our hook replaces SQLite's auto-checkpoint (itself a WAL hook).
        conn.wal_hook(Some(note_wal_frames));
        let checkpointing = Arc::new(Mutex::new(()));
        let (wake, woken) = flume::bounded::<()>(1);
        let lock = checkpointing.clone();
        let checkpointer = std::thread::Builder::new()
            .name(format!("db-c-{name}"))
            .spawn(move || {
                // Ends when the writer (the only sender) is gone.
                while woken.recv().is_ok() {
                    let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = checkpoint(&checkpoints);
                }
            })
            .map_err(internal)?;
        let writer = Writer {
            conn,
            checkpointing,
            wake,
            commits,
        };
        let writer = std::thread::Builder::new()
            .name(format!("db-w-{name}"))
            .spawn(move || writer.run(jobs))
            .map_err(internal)?;
        Ok([writer, checkpointer])
    }

    /// After a commit: wake the checkpoint thread past the soft mark; past the hard mark,
    /// copy what is left here, so the next write can restart the log.
    fn after_commit(&self) {
        let frames = WAL_FRAMES.with(Cell::get);
        if frames >= WAL_HARD_FRAMES {
            let _held = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
            let _ = checkpoint(&self.conn);
            WAL_FRAMES.with(|f| f.set(0));
        } else if frames >= WAL_SOFT_FRAMES {
            let _ = self.wake.try_send(());
        }
    }

    /// The writer thread's loop: runs each queued write, grouping those that queued up.
    fn run(mut self, jobs: flume::Receiver<WriterJob>) {
        let mut next = None;
        loop {
            let job = match next.take() {
                Some(job) => job,
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            match job {
                WriterJob::Alone(f) => f(&mut self.conn),
                WriterJob::Write(first) => {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match jobs.try_recv() {
                            Ok(WriterJob::Write(w)) => group.push(w),
                            Ok(alone) => {
                                next = Some(alone);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if write_group(&self.conn, group) {
                        self.commits.send_modify(|n| *n = n.wrapping_add(1));
                    }
                    self.after_commit();
                }
            }
        }
    }
}

/// A passive checkpoint: copies what no reader still needs, never waits.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// Runs `group` in one transaction (each write in a savepoint when there are several),
/// commits, then answers every caller. Whether anything was committed.
fn write_group(conn: &Connection, mut group: Vec<Box<dyn WriteJob>>) -> bool {
    let finish_all = |group: Vec<Box<dyn WriteJob>>, ended: Result<(), String>| {
        let committed = ended.is_ok();
        for job in group {
            job.finish(ended.clone());
        }
        committed
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return finish_all(group, Err(e.to_string()));
    }
    let tx = Tx::sqlite(conn);
    if let [only] = group.as_mut_slice() {
        // Alone: no savepoint needed, a failure rolls the transaction back.
        if !only.run(&tx) {
            let _ = conn.execute_batch("ROLLBACK");
            finish_all(group, Ok(()));
            return false;
        }
    } else {
        for job in group.iter_mut() {
            let step = conn.execute_batch("SAVEPOINT write").and_then(|()| {
                if job.run(&tx) {
                    conn.execute_batch("RELEASE write")
                } else {
                    conn.execute_batch("ROLLBACK TO write; RELEASE write")
                }
            });
            if let Err(e) = step {
                let _ = conn.execute_batch("ROLLBACK");
                return finish_all(group, Err(e.to_string()));
            }
        }
    }
    let ended = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    });
    finish_all(group, ended)
}
