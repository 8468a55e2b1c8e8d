//! What formation, recall and maintenance share: their conversations (rows of the
//! workspace's database, numbered per space and collection), the jobs that work on them,
//! the per-space lock, and running KIP on a space's graph.

use std::sync::Arc;

use andibase_common::{DomainError, DomainResult, Timestamp};
use andibase_jobs::Job;
use andibase_kip::{Graph, Mode, Request};
use andibase_storage::{params, Sql, Tx};
use serde_json::{json, Value};

use crate::{Memory, Space};

/// A new conversation of `collection`, to be written.
pub(crate) struct NewConversation<'a> {
    pub space_id: &'a str,
    pub collection: &'a str,
    pub user: &'a str,
    /// The request as sent (JSON text).
    pub input: &'a str,
    /// Its messages (a JSON array, as text).
    pub messages: &'a str,
    pub status: &'a str,
    /// What answering it cost (JSON text; `{}` when nothing was spent yet).
    pub usage: &'a str,
    /// The job that works on it, queued in the same transaction.
    pub job: Option<&'a str>,
}

impl NewConversation<'_> {
    /// Writes it (and queues its job) in `tx`; its id, the next of its space and collection
    /// (one statement: on PostgreSQL each is a round trip under the workspace's lock).
    pub fn insert(&self, tx: &Tx<'_>, now: Timestamp) -> DomainResult<i64> {
        let id = tx
            .query_one(
                "INSERT INTO memory_conversations (space_id, collection, id, \"user\", input, messages, status, usage, created_at, updated_at) \
                 VALUES (?1, ?2, (SELECT coalesce(max(id), 0) + 1 FROM memory_conversations WHERE space_id = ?1 AND collection = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
                 RETURNING id",
                &params![self.space_id, self.collection, self.user, self.input, self.messages, self.status, self.usage, now],
            )?
            .ok_or_else(|| DomainError::Internal("a conversation was not written".into()))?
            .int(0)?;
        if let Some(kind) = self.job {
            andibase_jobs::enqueue(
                tx,
                kind,
                &json!({"space_id": self.space_id, "conversation": id}),
                now,
                now,
            )?;
        }
        Ok(id)
    }
}

/// The space and conversation a formation or maintenance job names.
pub(crate) fn job_target(job: &Job) -> Option<(String, i64)> {
    Some((
        job.payload["space_id"].as_str()?.to_string(),
        job.payload["conversation"].as_i64()?,
    ))
}

/// Runs one KIP command with its parameters on `graph` (blocking); the whole envelope.
pub(crate) fn run_kip(
    graph: &Graph,
    command: &str,
    parameters: Value,
    mode: Mode,
) -> DomainResult<Value> {
    let request: Request =
        serde_json::from_value(json!({"command": command, "parameters": parameters}))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
    Ok(graph.execute(request, mode))
}

/// An envelope's result; a KIP error is an internal error (the commands are ours).
pub(crate) fn kip_result(envelope: Value) -> DomainResult<Value> {
    match envelope.get("error") {
        Some(e) => Err(DomainError::Internal(format!("KIP: {e}"))),
        None => Ok(envelope["result"].clone()),
    }
}

impl Memory {
    /// Runs one of our KIP commands on the space's graph; its result.
    pub(crate) async fn kip(
        &self,
        space: &Space,
        command: String,
        parameters: Value,
        mode: Mode,
    ) -> DomainResult<Value> {
        let graph = self.graph(space).await?;
        tokio::task::spawn_blocking(move || run_kip(&graph, &command, parameters, mode))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))?
            .and_then(kip_result)
    }

    /// Runs our KIP commands (text and parameters) as one batch on the space's graph, in
    /// one trip to it; each command's result, or `None` where that command failed.
    pub(crate) async fn kip_batch(
        &self,
        space: &Space,
        commands: Vec<(String, Value)>,
        mode: Mode,
    ) -> DomainResult<Vec<Option<Value>>> {
        let n = commands.len();
        let items: Vec<Value> = commands
            .into_iter()
            .map(|(command, parameters)| json!({"command": command, "parameters": parameters}))
            .collect();
        let request: Request = serde_json::from_value(json!({"commands": items}))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let graph = self.graph(space).await?;
        let envelope = tokio::task::spawn_blocking(move || graph.execute(request, mode))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let results = kip_result(envelope)?;
        let mut out: Vec<Option<Value>> = results
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r.get("error").is_none().then(|| r["result"].clone()))
            .collect();
        out.resize(n, None);
        Ok(out)
    }

    /// The lock that makes a space's formations and maintenance run one at a time.
    pub(crate) fn space_lock(&self, space: &Space) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.forming.lock().expect("formation locks poisoned");
        locks.entry(space.id.clone()).or_default().clone()
    }
}
