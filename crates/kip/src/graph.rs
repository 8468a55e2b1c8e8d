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
use crate::store::{PostgresGraph, SqliteGraph};
use crate::{Engine, Mode, Request};

type Job = Box<dyn FnOnce(&mut Engine) + Send>;

/// A handle to one graph; cheap to share behind an `Arc`. The threads stop once the
/// handle is dropped, after the requests already queued.
pub struct Graph {
    writer: flume::Sender<Job>,
    readers: flume::Sender<Job>,
    threads: Vec<JoinHandle<()>>,
}

/// A thread that opens its engine with `open` (a PostgreSQL client cannot be made on a
/// thread inside an async runtime, so each makes its own) and then runs the jobs from
/// `jobs` until every sender is gone. Returns once the engine is open.
fn worker(
    name: String,
    open: impl FnOnce() -> Result<Engine> + Send + 'static,
    jobs: flume::Receiver<Job>,
) -> Result<JoinHandle<()>> {
    let (ready, opened) = flume::bounded::<Result<()>>(1);
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let mut engine = match open() {
                Ok(engine) => engine,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            let _ = ready.send(Ok(()));
            while let Ok(job) = jobs.recv() {
                job(&mut engine);
            }
        })
        .map_err(|e| KipError::internal(format!("cannot start a graph thread: {e}")))?;
    opened
        .recv()
        .map_err(|_| KipError::internal("a graph thread stopped while opening"))??;
    Ok(thread)
}

impl Graph {
    /// Opens (creating and bootstrapping if needed) the graph at `path`, with `readers`
    /// reader threads (at least one).
    pub fn open(path: &Path, readers: usize) -> Result<Graph> {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (writer_path, reader_path) = (path.to_path_buf(), path.to_path_buf());
        Graph::start(
            &stem,
            move || Engine::open(&writer_path),
            move || Ok(Engine::reader(SqliteGraph::open_read_only(&reader_path)?)),
            readers,
        )
    }

    /// Opens (creating and bootstrapping if needed) the graph in the PostgreSQL schema
    /// `schema` of the database at `url`, with `readers` reader threads (at least one).
    /// Graphs on several replicas may be open on one schema: their writers take turns.
    pub fn open_postgres(url: &str, schema: &str, readers: usize) -> Result<Graph> {
        let (w_url, w_schema) = (url.to_string(), schema.to_string());
        let (r_url, r_schema) = (url.to_string(), schema.to_string());
        Graph::start(
            schema,
            move || Engine::with_graph(PostgresGraph::open(&w_url, &w_schema)?),
            move || {
                Ok(Engine::reader(PostgresGraph::open_read_only(
                    &r_url, &r_schema,
                )?))
            },
            readers,
        )
    }

    fn start(
        name: &str,
        writer: impl FnOnce() -> Result<Engine> + Send + 'static,
        reader: impl Fn() -> Result<Engine> + Send + Sync + 'static,
        readers: usize,
    ) -> Result<Graph> {
        let (write_tx, write_jobs) = flume::unbounded::<Job>();
        let (read_tx, read_jobs) = flume::unbounded::<Job>();
        // The writer first: it creates what the readers read.
        let mut threads = vec![worker(format!("kip-w-{name}"), writer, write_jobs)?];
        let reader = std::sync::Arc::new(reader);
        for i in 0..readers.max(1) {
            let reader = reader.clone();
            threads.push(worker(
                format!("kip-r{i}-{name}"),
                move || reader(),
                read_jobs.clone(),
            )?);
        }
        Ok(Graph {
            writer: write_tx,
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
            let _ = reply.send(engine.counts());
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

    /// Upserts notes `n0`…`n{count - 1}` at once, each from a thread of its own, spread
    /// over `graphs`; every one must succeed.
    fn write_notes(graphs: &[Arc<Graph>], count: usize) {
        let writers: Vec<_> = (0..count)
            .map(|i| {
                let graph = graphs[i % graphs.len()].clone();
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
        write_notes(std::slice::from_ref(&graph), 8);
        let found = graph.execute(
            request(r#"FIND(COUNT(?n)) WHERE { ?n {type: "Note"} }"#),
            Mode::ReadOnly,
        );
        assert_eq!(found["result"], serde_json::json!(8), "{found}");
        // A reader refuses KML.
        let refused = graph.execute(request(ty), Mode::ReadOnly);
        assert_eq!(refused["error"]["code"], "KIP_1001", "{refused}");
    }

    /// Two handles on one PostgreSQL schema, as two replicas have: writes through both
    /// all land (their writers take turns), and each reads what the other wrote.
    #[test]
    fn replicas_share_a_graph_on_postgres() {
        let Some(db) = andibase_storage::ScratchDatabase::for_test() else {
            return;
        };
        let a = Arc::new(Graph::open_postgres(db.url(), "kg_shared", 1).unwrap());
        let b = Arc::new(Graph::open_postgres(db.url(), "kg_shared", 1).unwrap());
        let ty = r#"UPSERT { CONCEPT ?t { {type: "$ConceptType", name: "Note"} } }"#;
        let answer = a.execute(request(ty), Mode::ReadWrite);
        assert!(answer.get("error").is_none(), "{answer}");
        write_notes(&[a.clone(), b.clone()], 12);
        for graph in [&a, &b] {
            let found = graph.execute(
                request(r#"FIND(COUNT(?n)) WHERE { ?n {type: "Note"} }"#),
                Mode::ReadOnly,
            );
            assert_eq!(found["result"], serde_json::json!(12), "{found}");
        }
        let hits = b.execute(request(r#"SEARCH CONCEPT "n7" LIMIT 5"#), Mode::ReadOnly);
        assert_eq!(hits["result"][0]["name"], "n7", "{hits}");
        assert_eq!(a.counts().unwrap().0, b.counts().unwrap().0);
    }
}
