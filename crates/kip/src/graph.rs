//! One graph file served to many callers, with the single-writer discipline the rest of
//! the product keeps: one writer thread owns the read-write [`Engine`] and runs every
//! read-write request, one at a time, in arrival order; read-only requests run on reader
//! threads with read-only connections (WAL lets them read while the writer writes).
//! Callers never open a second writing connection, so two writers never race for
//! SQLite's lock.

use std::path::Path;
use std::thread::JoinHandle;

use serde_json::Value;

use crate::error::{KipError, Result};
use crate::store::SqliteGraph;
use crate::{Engine, Mode, Request};

type Job = Box<dyn FnOnce(&mut Engine) + Send>;

/// A handle to one graph; cheap to share behind an `Arc`. The threads stop once the
/// handle is dropped, after the requests already queued.
pub struct Graph {
    writer: flume::Sender<Job>,
    readers: flume::Sender<Job>,
    threads: Vec<JoinHandle<()>>,
}

fn worker(name: String, mut engine: Engine, jobs: flume::Receiver<Job>) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            while let Ok(job) = jobs.recv() {
                job(&mut engine);
            }
        })
        .map_err(|e| KipError::internal(format!("cannot start a graph thread: {e}")))
}

impl Graph {
    /// Opens (creating and bootstrapping if needed) the graph at `path`, with `readers`
    /// reader threads (at least one).
    pub fn open(path: &Path, readers: usize) -> Result<Graph> {
        let engine = Engine::open(path)?;
        let (writer, write_jobs) = flume::unbounded::<Job>();
        let (read_tx, read_jobs) = flume::unbounded::<Job>();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut threads = vec![worker(format!("kip-w-{stem}"), engine, write_jobs)?];
        for i in 0..readers.max(1) {
            let reader = Engine::reader(SqliteGraph::open_read_only(path)?);
            threads.push(worker(
                format!("kip-r{i}-{stem}"),
                reader,
                read_jobs.clone(),
            )?);
        }
        Ok(Graph {
            writer,
            readers: read_tx,
            threads,
        })
    }

    /// Runs a request envelope (spec §7) and gives its wire response. Read-write
    /// requests queue for the writer; read-only ones go to a reader. Blocks the calling
    /// thread until the answer is there (async callers: a blocking task).
    pub fn execute(&self, request: Request, mode: Mode) -> Value {
        let queue = match mode {
            Mode::ReadWrite => &self.writer,
            Mode::ReadOnly => &self.readers,
        };
        let (reply, answer) = flume::bounded(1);
        let job: Job = Box::new(move |engine| {
            let _ = reply.send(engine.execute(&request, mode));
        });
        let lost = || serde_json::json!({"error": KipError::internal("the graph's threads stopped").to_json()});
        if queue.send(job).is_err() {
            return lost();
        }
        answer.recv().unwrap_or_else(|_| lost())
    }
}

impl Graph {
    /// How many concepts and propositions the graph holds (read on a reader thread).
    pub fn counts(&self) -> Result<(i64, i64)> {
        let (reply, answer) = flume::bounded(1);
        let job: Job = Box::new(move |engine| {
            let _ = reply.send(engine.graph().counts());
        });
        let lost = || KipError::internal("the graph's threads stopped");
        self.readers.send(job).map_err(|_| lost())?;
        answer.recv().map_err(|_| lost())?
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        // Closing the queues ends the threads once they have run what was queued.
        let (closed, _) = flume::unbounded();
        self.writer = closed.clone();
        self.readers = closed;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn request(command: &str) -> Request {
        serde_json::from_value(serde_json::json!({ "command": command })).unwrap()
    }

    /// Writers on many threads all land (none fails on SQLite's write lock), and readers
    /// see what was committed.
    #[test]
    fn concurrent_writes_queue_for_the_one_writer() {
        let dir = andibase_common::temp::TempDir::new("kip-graph");
        let graph = Arc::new(Graph::open(&dir.path().join("g.db"), 2).unwrap());
        let ty = r#"UPSERT { CONCEPT ?t { {type: "$ConceptType", name: "Note"} SET ATTRIBUTES { description: "a note" } } }"#;
        assert!(graph
            .execute(request(ty), Mode::ReadWrite)
            .get("error")
            .is_none());
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let graph = graph.clone();
                std::thread::spawn(move || {
                    let upsert = format!(
                        r#"UPSERT {{ CONCEPT ?n {{ {{type: "Note", name: "n{i}"}} SET ATTRIBUTES {{ i: {i} }} }} }}"#
                    );
                    graph.execute(request(&upsert), Mode::ReadWrite)
                })
            })
            .collect();
        for w in writers {
            let answer = w.join().unwrap();
            assert!(answer.get("error").is_none(), "{answer}");
        }
        let found = graph.execute(
            request(r#"FIND(COUNT(?n)) WHERE { ?n {type: "Note"} }"#),
            Mode::ReadOnly,
        );
        assert_eq!(found["result"], serde_json::json!(8), "{found}");
        // A reader refuses KML.
        let refused = graph.execute(request(ty), Mode::ReadOnly);
        assert_eq!(refused["error"]["code"], "KIP_1001", "{refused}");
    }
}
