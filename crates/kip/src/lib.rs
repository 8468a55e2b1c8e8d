//! The KIP 1.x engine (Knowledge Interaction Protocol, as of v1.0-RC11).
//!
//! One knowledge graph per SQLite database. [`Engine::open`] creates the tables and
//! applies the Genesis and cognitive-memory capsules; [`Engine::execute`] runs a request
//! envelope (single or batch, parameters, dry run) in read-write or read-only mode;
//! [`Engine::execute_command`] runs one command text. Parsing ([`parse`]) and printing
//! (`Display` on [`ast::Command`]) are usable alone.

pub mod ast;
pub mod envelope;
pub mod error;
mod graph;
mod lexer;
mod meta;
mod parser;
mod print;
mod query;
mod solve;
pub mod store;
pub mod text;
mod value;
mod write;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub use ast::Command;
pub use envelope::{CommandItem, Request};
pub use error::{ErrorCode, KipError, Position, Result};
pub use graph::Graph;
pub use lexer::{MAX_COMMAND_BYTES, MAX_NESTING};
pub use parser::{parse, MAX_HOPS};

pub const CONCEPT_TYPE: &str = "$ConceptType";
pub const PROPOSITION_TYPE: &str = "$PropositionType";

const GENESIS: &str = include_str!("../capsules/genesis.kip");
const PROFILE: &str = include_str!("../capsules/profile.kip");
const ACTORS: &str = include_str!("../capsules/actors.kip");

/// Read-write runs everything; read-only refuses KML with KIP_1001 (spec §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    ReadOnly,
}

/// The outcome of one command: `{result, next_cursor?}` on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub result: Value,
    pub next_cursor: Option<String>,
}

impl Output {
    pub fn to_json(&self) -> Value {
        let mut out = json!({"result": self.result});
        if let Some(c) = &self.next_cursor {
            out["next_cursor"] = json!(c);
        }
        out
    }
}

pub struct Engine {
    graph: store::GraphDb,
    timeout: Duration,
}

/// Anda Brain wraps read-only KIP in a 15 s budget; the same applies here to every command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

fn now() -> String {
    andibase_common::Clock::system().now().to_iso()
}

impl Engine {
    /// Opens (creating if needed) the graph in the SQLite file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::with_graph(store::SqliteGraph::open(path.as_ref())?)
    }

    /// Runs on a graph the caller opened (in memory, with its own pragmas, or on
    /// PostgreSQL).
    pub fn with_graph(graph: impl Into<store::GraphDb>) -> Result<Self> {
        let mut engine = Engine {
            graph: graph.into(),
            timeout: DEFAULT_TIMEOUT,
        };
        engine.bootstrap()?;
        Ok(engine)
    }

    /// An engine over a read-only connection to a graph that another engine opened (and
    /// bootstrapped): it runs KQL and META only.
    pub fn reader(graph: impl Into<store::GraphDb>) -> Self {
        Engine {
            graph: graph.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The graph's SQLite connection, when it is one (tests inspect its tables).
    pub fn sqlite(&self) -> Option<&store::SqliteGraph> {
        match &self.graph {
            store::GraphDb::Sqlite(g) => Some(g),
            store::GraphDb::Postgres(_) => None,
        }
    }

    /// How many concepts and propositions the graph holds.
    pub fn counts(&mut self) -> Result<(i64, i64)> {
        self.graph.counts()
    }

    /// Runs `f` over the store in a read transaction.
    fn read<T>(&mut self, f: impl FnOnce(&dyn store::GraphStore) -> Result<T>) -> Result<T> {
        let deadline = Instant::now() + self.timeout;
        self.graph.transaction(false, false, deadline, f)
    }

    /// Writes `key` = `value` in the graph's own metadata.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        self.graph
            .transaction(true, true, deadline, |s| s.meta_set(key, value))
    }

    /// Applies Genesis and the profile when their text changed since the last open, and
    /// creates `$self` / `$system` only when missing.
    fn bootstrap(&mut self) -> Result<()> {
        for (key, capsule) in [("capsule:genesis", GENESIS), ("capsule:profile", PROFILE)] {
            let hash = format!("{:x}", Sha256::digest(capsule.as_bytes()));
            let applied = self.read(|s| s.meta_get(key))?;
            if applied.as_deref() != Some(hash.as_str()) {
                let command = parse(capsule)?;
                self.run(&command, Mode::ReadWrite, false, true)?;
                self.set_meta(key, &hash)?;
            }
        }
        let Command::Upsert(statements) = parse(ACTORS)? else {
            return Err(KipError::internal("the actors capsule is not an UPSERT"));
        };
        for statement in statements {
            let Some(ast::UpsertItem::Concept(block)) = statement.items.first() else {
                continue;
            };
            let (ty, name) = (
                block.matcher.ty.as_deref().unwrap_or(""),
                block.matcher.name.as_deref().unwrap_or(""),
            );
            if self.read(|s| s.concept_by_key(ty, name))?.is_none() {
                self.run(
                    &Command::Upsert(vec![statement]),
                    Mode::ReadWrite,
                    false,
                    true,
                )?;
            }
        }
        Ok(())
    }

    /// Parses and runs one command text.
    pub fn execute_command(&mut self, text: &str, mode: Mode, dry_run: bool) -> Result<Output> {
        let command = parse(text)?;
        self.run(&command, mode, dry_run, false)
    }

    /// Runs a parsed command: KML in one write transaction (rolled back on error or dry
    /// run), KQL and META in one read transaction.
    pub fn run(
        &mut self,
        command: &Command,
        mode: Mode,
        dry_run: bool,
        system: bool,
    ) -> Result<Output> {
        if command.is_kml() && mode == Mode::ReadOnly {
            return Err(KipError::syntax(
                "Only KQL and META commands are allowed in read-only mode",
            ));
        }
        let deadline = Instant::now() + self.timeout;
        let (now, kml) = (now(), command.is_kml());
        let answer = self
            .graph
            .transaction(kml, kml && !dry_run, deadline, |store| {
                let ctx = solve::Ctx::new(store, Some(deadline));
                let writer = write::Writer {
                    ctx: &ctx,
                    now,
                    system,
                    dry_run,
                };
                match command {
                    Command::Find(f) => query::find(&ctx, f),
                    Command::Describe(d) => meta::describe(&ctx, d),
                    Command::Search(s) => meta::search(&ctx, s),
                    Command::Export(e) => meta::export(&ctx, e),
                    Command::Upsert(u) => writer.upsert(u).map(plain),
                    Command::Update(u) => writer.update(u).map(plain),
                    Command::Merge(m) => writer.merge(m).map(plain),
                    Command::Delete(d) => writer.delete(d).map(plain),
                }
            })?;
        Ok(Output {
            result: answer.result,
            next_cursor: answer.next_cursor,
        })
    }

    /// Runs a request envelope and returns its wire response (spec §7).
    pub fn execute(&mut self, request: &Request, mode: Mode) -> Value {
        match (&request.command, &request.commands) {
            (Some(command), None) => {
                match self.one(
                    command,
                    &request.parameters,
                    &Map::new(),
                    mode,
                    request.dry_run,
                ) {
                    Ok(out) => out.to_json(),
                    Err((e, _)) => json!({"error": e.to_json()}),
                }
            }
            (None, Some(commands)) => {
                let mut results = Vec::new();
                for item in commands {
                    let (text, own) = match item {
                        CommandItem::Text(t) => (t, Map::new()),
                        CommandItem::WithParameters {
                            command,
                            parameters,
                        } => (command, parameters.clone()),
                    };
                    match self.one(text, &request.parameters, &own, mode, request.dry_run) {
                        Ok(out) => results.push(out.to_json()),
                        Err((e, executed_kml)) => {
                            results.push(json!({"error": e.to_json()}));
                            // The batch stops at the first KML execution error.
                            if executed_kml {
                                break;
                            }
                        }
                    }
                }
                json!({"result": results})
            }
            _ => {
                json!({"error": KipError::syntax("send exactly one of `command` and `commands`").to_json()})
            }
        }
    }

    /// Runs one envelope command; the error says whether it was a KML execution failure.
    fn one(
        &mut self,
        text: &str,
        shared: &Map<String, Value>,
        own: &Map<String, Value>,
        mode: Mode,
        dry_run: bool,
    ) -> std::result::Result<Output, (KipError, bool)> {
        let mut parameters = shared.clone();
        parameters.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        let text = envelope::substitute(text, &parameters).map_err(|e| (e, false))?;
        let command = parse(&text).map_err(|e| (e, false))?;
        let kml = command.is_kml() && mode == Mode::ReadWrite;
        self.run(&command, mode, dry_run, false)
            .map_err(|e| (e, kml))
    }
}

fn plain(result: Value) -> query::Answer {
    query::Answer {
        result,
        next_cursor: None,
    }
}
