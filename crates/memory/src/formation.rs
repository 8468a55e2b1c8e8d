//! Formation: a conversation is stored and answered at once with its id; a durable job
//! (`crates/jobs`, in the same transaction) forms it later, one conversation at a time per
//! space. With a model (the space's own or the server's default), the formation agent
//! (`agents`) files it with KIP. Without one, formation files the conversation as an `Event` (its class, its
//! start from the conversation's own timestamp, a summary of what was said, its
//! participants as `Person` nodes it `involves`) in the `Unsorted` domain, so KIP and
//! recall find it. A formed conversation is never formed twice.

use std::sync::Arc;

use andibase_common::{DomainError, DomainResult, FieldIssue, Timestamp};
use andibase_jobs::{BoxFuture, Handler, Job, Outcome, Scheduler};
use andibase_kip::Mode;
use andibase_storage::{params, Database, Row, Sql};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::agents::Agent;
use crate::conversations::{job_target, NewConversation};
use crate::dates;
use crate::{GetOrInitUser, Memory, Space};

/// The job that forms one conversation.
pub const FORMATION_JOB: &str = "memory.formation";
/// The collection formation conversations are in.
pub const FORMATION: &str = "conversations";
/// At most this many messages, and characters of text in all, a formation takes.
const MAX_MESSAGES: usize = 1000;
const MAX_TEXT: usize = 400_000;
/// The Person attribute listing the names of that person's latest conversations' Events
/// (newest first), and how many it keeps.
pub(crate) const RECENT_CONVERSATIONS: &str = "recent_conversations";
pub(crate) const RECENT_KEPT: usize = 40;
/// How much of the conversation an Event's summary keeps.
const SUMMARY_CHARS: usize = 4000;

/// Seed 003's `Message` (unknown fields are kept, as content parts may carry any).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub content: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The speaker's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Unix time in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

impl Message {
    /// The message's text: its string content, or its parts' `text`.
    fn text(&self) -> String {
        match &self.content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.as_str().or_else(|| p["text"].as_str()))
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        }
    }
}

/// Seed 003's `InputContext`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// Seed 003's `FormationInput`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormationInput {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<InputContext>,
    /// ISO 8601: when the conversation happened.
    pub timestamp: String,
}

fn invalid(path: Vec<Value>, message: impl Into<String>) -> DomainError {
    DomainError::from_issues(vec![FieldIssue {
        path,
        message: message.into(),
    }])
}

impl FormationInput {
    /// The time it happened, after checking the input.
    fn check(&self) -> DomainResult<Timestamp> {
        if self.messages.is_empty() || self.messages.len() > MAX_MESSAGES {
            return Err(invalid(
                vec![json!("messages")],
                format!("holds 1 to {MAX_MESSAGES} messages"),
            ));
        }
        let mut text = 0;
        for (i, m) in self.messages.iter().enumerate() {
            if m.role.trim().is_empty() {
                return Err(invalid(
                    vec![json!("messages"), json!(i), json!("role")],
                    "is required",
                ));
            }
            let t = m.text();
            if t.trim().is_empty() {
                return Err(invalid(
                    vec![json!("messages"), json!(i), json!("content")],
                    "holds no text",
                ));
            }
            text += t.len();
        }
        if text > MAX_TEXT {
            return Err(invalid(
                vec![json!("messages")],
                format!("hold more than {MAX_TEXT} characters of text"),
            ));
        }
        Timestamp::parse_iso_with_offset(&self.timestamp)
            .ok_or_else(|| invalid(vec![json!("timestamp")], "is not an ISO 8601 time"))
    }

    /// Who took part: the speakers' user ids, then the context's counterparty.
    fn participants(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let named = self
            .messages
            .iter()
            .filter_map(|m| m.user.clone())
            .chain(self.context.as_ref().and_then(|c| c.counterparty.clone()));
        for p in named {
            let p = p.trim().to_string();
            if !p.is_empty() && !p.starts_with('$') && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// What formation answers at once: seed 003's `AgentOutput`.
pub fn submitted(conversation: i64) -> Value {
    json!({
        "content": format!("Conversation {conversation} is stored; it will be formed into memory shortly."),
        "conversation": conversation,
    })
}

fn conversation_json(r: &Row) -> DomainResult<Value> {
    let parse = |s: String| serde_json::from_str::<Value>(&s).unwrap_or(Value::Null);
    Ok(json!({
        "_id": r.int(0)?,
        "user": r.text(1)?,
        "messages": parse(r.text(2)?),
        "resources": [],
        "artifacts": parse(r.text(3)?),
        "status": r.text(4)?,
        "failed_reason": r.opt_text(5)?,
        "period": r.int(8)? / 3_600_000,
        "created_at": r.int(8)?,
        "updated_at": r.int(9)?,
        "usage": parse(r.text(6)?),
        "label": r.opt_text(7)?,
    }))
}

const CONVERSATION_COLUMNS: &str =
    "id, \"user\", messages, artifacts, status, failed_reason, usage, NULL, created_at, updated_at";

impl Memory {
    /// Stores a formation conversation and queues its forming, in one transaction;
    /// answers seed 003's `AgentOutput` with the conversation's id.
    pub async fn submit_formation(
        &self,
        space: &Space,
        input: FormationInput,
        caller: &str,
        scheduler: &Scheduler,
    ) -> DomainResult<Value> {
        input.check()?;
        let graph = self.graph(space).await?;
        let (concepts, _) = tokio::task::spawn_blocking(move || graph.counts())
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))?
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let allowance = space.allowance();
        if concepts >= allowance {
            return Err(invalid(
                vec![],
                format!(
                    "the space holds {concepts} concepts, the most its tier {} allows ({allowance}); a platform admin can raise the tier",
                    space.tier
                ),
            ));
        }
        let db = self.workspaces.get(&space.workspace_id).await?;
        let now = self.clock.now();
        let space_id = space.id.clone();
        let user = input
            .context
            .as_ref()
            .and_then(|c| c.counterparty.clone())
            .unwrap_or_else(|| caller.to_string());
        let (input_json, messages) = (
            serde_json::to_string(&input).map_err(|e| DomainError::Internal(e.to_string()))?,
            serde_json::to_string(&input.messages)
                .map_err(|e| DomainError::Internal(e.to_string()))?,
        );
        let id = db
            .write(move |tx| {
                NewConversation {
                    space_id: &space_id,
                    collection: FORMATION,
                    user: &user,
                    input: &input_json,
                    messages: &messages,
                    status: "submitted",
                    usage: "{}",
                    job: Some(FORMATION_JOB),
                }
                .insert(tx, now)
            })
            .await?;
        scheduler.wake(&space.workspace_id, now);
        Ok(submitted(id))
    }

    /// Queues a failed or stalled formation again (`restart_formation`); a formed one is
    /// refused.
    pub async fn restart_formation(&self, space: &Space, id: i64) -> DomainResult<()> {
        let db = self.workspaces.get(&space.workspace_id).await?;
        let (space_id, now) = (space.id.clone(), self.clock.now());
        db.write(move |tx| {
            let status = tx
                .query_one(
                    "SELECT status FROM memory_conversations WHERE space_id = ? AND collection = 'conversations' AND id = ?",
                    &params![space_id.clone(), id],
                )?
                .map(|r| r.text(0))
                .transpose()?;
            match status.as_deref() {
                None => Err(invalid(vec![json!("conversation")], "no such formation conversation")),
                Some("completed") => Err(invalid(vec![json!("conversation")], "is formed already")),
                Some(_) => {
                    tx.execute(
                        "UPDATE memory_conversations SET status = 'submitted', failed_reason = NULL, updated_at = ?                          WHERE space_id = ? AND collection = 'conversations' AND id = ?",
                        &params![now, space_id.clone(), id],
                    )?;
                    andibase_jobs::enqueue(
                        tx,
                        FORMATION_JOB,
                        &json!({"space_id": space_id, "conversation": id}),
                        now,
                        now,
                    )
                    .map(|_| ())
                }
            }
        })
        .await?;
        self.scheduler.wake(&space.workspace_id, now);
        Ok(())
    }

    /// One conversation of a collection.
    pub async fn conversation(
        &self,
        space: &Space,
        collection: &str,
        id: i64,
    ) -> DomainResult<Value> {
        let db = self.workspaces.get(&space.workspace_id).await?;
        let (space_id, collection) = (space.id.clone(), collection.to_string());
        db.read(move |r| {
            r.query_one(
                &format!("SELECT {CONVERSATION_COLUMNS} FROM memory_conversations WHERE space_id = ? AND collection = ? AND id = ?"),
                &params![space_id, collection, id],
            )?
            .map(|row| conversation_json(&row))
            .transpose()?
            .ok_or(DomainError::NotFound)
        })
        .await
    }

    /// Conversations newest first, `limit` (1–100) after the cursor (the smallest id of
    /// the page before); the next cursor when there are more.
    pub async fn conversations(
        &self,
        space: &Space,
        collection: &str,
        cursor: Option<i64>,
        limit: i64,
    ) -> DomainResult<(Vec<Value>, Option<String>)> {
        let db = self.workspaces.get(&space.workspace_id).await?;
        let (space_id, collection) = (space.id.clone(), collection.to_string());
        let before = cursor.unwrap_or(i64::MAX);
        let rows = db
            .read(move |r| {
                r.query(
                    &format!("SELECT {CONVERSATION_COLUMNS} FROM memory_conversations WHERE space_id = ? AND collection = ? AND id < ? ORDER BY id DESC LIMIT {}", limit + 1),
                    &params![space_id, collection, before],
                )?
                .iter()
                .map(conversation_json)
                .collect::<DomainResult<Vec<_>>>()
            })
            .await?;
        let more = rows.len() as i64 > limit;
        let page: Vec<Value> = rows.into_iter().take(limit as usize).collect();
        let next = match more {
            true => page
                .last()
                .and_then(|c| c["_id"].as_i64())
                .map(|id| id.to_string()),
            false => None,
        };
        Ok((page, next))
    }

    /// How many formation conversations a space holds, and the highest formed id.
    pub(crate) async fn formation_counts(&self, space: &Space) -> DomainResult<(i64, i64, bool)> {
        let db = self.workspaces.get(&space.workspace_id).await?;
        let space_id = space.id.clone();
        db.read(move |r| {
            // The high-water mark: every conversation up to it is processed (formed or
            // failed); a queued one stops it.
            let row = r.query_one(
                "SELECT count(*), \
                 coalesce(min(CASE WHEN status IN ('submitted', 'working') THEN id END) - 1, max(id), 0), \
                 coalesce(max(CASE WHEN status IN ('submitted', 'working') THEN 1 ELSE 0 END), 0) \
                 FROM memory_conversations WHERE space_id = ? AND collection = 'conversations'",
                &params![space_id],
            )?;
            match row {
                Some(r) => Ok((r.int(0)?, r.int(1)?, r.int(2)? != 0)),
                None => Ok((0, 0, false)),
            }
        })
        .await
    }

    /// Forms conversation `id` (the job's work) and, first, every earlier one still
    /// queued, so a space's conversations are formed in order, one at a time; a formed
    /// one is left alone. (Jobs may run in any order; the later ones then find their
    /// conversation formed.)
    pub async fn form(&self, db: &Database, space: &Space, id: i64) -> DomainResult<()> {
        let lock = self.space_lock(space);
        let _one_at_a_time = lock.lock().await;
        let space_id = space.id.clone();
        let earlier: Vec<i64> = db
            .read(move |r| {
                r.query(
                    "SELECT id FROM memory_conversations WHERE space_id = ? AND collection = 'conversations' \
                     AND status IN ('submitted', 'working') AND id < ? ORDER BY id",
                    &params![space_id, id],
                )?
                .iter()
                .map(|row| row.int(0))
                .collect()
            })
            .await?;
        for earlier in earlier {
            // Each has a job of its own too, which will find it formed (or retry it).
            let _ = self.form_one(db, space, earlier).await;
        }
        let formed = self.form_one(db, space, id).await;
        let (_, high_water, _) = self.formation_counts(space).await?;
        self.after_formation(db, space, high_water).await?;
        formed
    }

    /// Forms one conversation, under the space's formation lock.
    async fn form_one(&self, db: &Database, space: &Space, id: i64) -> DomainResult<()> {
        let (space_id, now) = (space.id.clone(), self.clock.now());
        let input: Option<FormationInput> = db
            .write(move |tx| {
                let Some(row) = tx.query_one(
                    "SELECT input, status FROM memory_conversations WHERE space_id = ? AND collection = 'conversations' AND id = ?",
                    &params![space_id.clone(), id],
                )?
                else {
                    return Ok(None);
                };
                if row.text(1)? == "completed" {
                    return Ok(None);
                }
                tx.execute(
                    "UPDATE memory_conversations SET status = 'working', updated_at = ? WHERE space_id = ? AND collection = 'conversations' AND id = ?",
                    &params![now, space_id, id],
                )?;
                serde_json::from_str(&row.text(0)?)
                    .map(Some)
                    .map_err(|e| DomainError::Internal(e.to_string()))
            })
            .await?;
        let Some(input) = input else {
            return Ok(());
        };
        let result = match self.model_for(space).await {
            Ok(Some(model)) => self.form_with_model(space, id, &input, model).await,
            Ok(None) => self
                .file_as_event(space, id, &input)
                .await
                .map(|event| Formed {
                    artifacts: json!([{"type": "Event", "name": event}]),
                    messages: Vec::new(),
                    usage: json!({}),
                }),
            Err(e) => Err(e),
        };
        let (space_id, now) = (space.id.clone(), self.clock.now());
        let (status, reason, artifacts, usage, messages) = match &result {
            Ok(formed) => {
                let mut messages = serde_json::to_value(&input.messages)
                    .map_err(|e| DomainError::Internal(e.to_string()))?;
                if let Value::Array(all) = &mut messages {
                    all.extend(formed.messages.iter().cloned());
                }
                (
                    "completed",
                    None,
                    formed.artifacts.to_string(),
                    formed.usage.to_string(),
                    messages.to_string(),
                )
            }
            Err(e) => (
                "failed",
                Some(e.to_string()),
                "[]".to_string(),
                "{}".to_string(),
                serde_json::to_string(&input.messages)
                    .map_err(|e| DomainError::Internal(e.to_string()))?,
            ),
        };
        db.write(move |tx| {
            tx.execute(
                "UPDATE memory_conversations SET status = ?, failed_reason = ?, artifacts = ?, usage = ?, messages = ?, updated_at = ? \
                 WHERE space_id = ? AND collection = 'conversations' AND id = ?",
                &params![status, reason, artifacts, usage, messages, now, space_id, id],
            )
            .map(|_| ())
        })
        .await?;
        result.map(|_| ())
    }

    /// Formation by the formation agent: the conversation, its context and time as the
    /// agent's input; its answer (`Status`, `Summary`, `Warnings`) the artifact.
    async fn form_with_model(
        &self,
        space: &Space,
        id: i64,
        input: &FormationInput,
        model: andibase_llm::Model,
    ) -> DomainResult<Formed> {
        input.check()?;
        for p in input.participants() {
            self.get_or_init_user(
                space,
                GetOrInitUser {
                    user: p,
                    name: None,
                },
            )
            .await?;
        }
        let counterparty = input.context.as_ref().and_then(|c| c.counterparty.clone());
        let text = format!(
            "Form conversation {id} (cite it as source `conversation:{id}`), which happened at {}:\n```json\n{}\n```",
            input.timestamp,
            json!({"messages": input.messages, "context": input.context})
        );
        let run = self
            .run_agent(space, model, Agent::Formation, text, counterparty)
            .await?;
        Ok(Formed {
            artifacts: json!([{"type": "Summary", "content": run.text}]),
            messages: run.messages,
            usage: run.usage,
        })
    }

    /// The model-free formation: the conversation as an `Event` involving its
    /// participants, in `Unsorted`. Its name is unique to the conversation, so a rerun
    /// updates the same node. Gives the Event's name.
    async fn file_as_event(
        &self,
        space: &Space,
        id: i64,
        input: &FormationInput,
    ) -> DomainResult<String> {
        let start = input.check()?;
        let participants = input.participants();
        let mut people = Vec::new();
        for p in &participants {
            people.push(
                self.get_or_init_user(
                    space,
                    GetOrInitUser {
                        user: p.clone(),
                        name: None,
                    },
                )
                .await?,
            );
        }
        let transcript: Vec<String> = input
            .messages
            .iter()
            .map(|m| {
                let who = m.user.clone().or(m.name.clone()).unwrap_or(m.role.clone());
                let said = m.timestamp.map_or(start, Timestamp);
                format!("{who}: {}", dates::resolve(&m.text(), said))
            })
            .collect();
        let mut summary: String = transcript.join("\n");
        if summary.chars().count() > SUMMARY_CHARS {
            summary = summary.chars().take(SUMMARY_CHARS).collect::<String>() + "…";
        }
        let date = &start.to_iso()[..10];
        let name = format!("Conversation:{date}:{}", id);
        let mut attributes = json!({
            "event_class": "Conversation",
            "start_time": start.to_iso(),
            "participants": participants,
            "content_summary": summary,
            "consolidation_status": "pending",
            "memory_tier": "short-term",
            "expires_at": Timestamp(start.0 + 90 * 86_400_000).to_iso(),
            "conversation": id,
        });
        if let Some(topic) = input.context.as_ref().and_then(|c| c.topic.clone()) {
            attributes["topic"] = json!(topic);
        }
        let mut parameters = json!({"name": name, "attributes": attributes});
        let (mut involves, mut people_blocks) = (String::new(), String::new());
        for (i, (p, node)) in participants.iter().zip(&people).enumerate() {
            involves.push_str(&format!(
                " (\"involves\", {{type: \"Person\", name: :p{i}}})"
            ));
            // Each participant keeps its latest conversations' Events, newest first, so
            // recall reaches them without ranking all of that person's Events.
            let mut recent = vec![json!(name)];
            recent.extend(
                node["attributes"][RECENT_CONVERSATIONS]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|n| n.as_str() != Some(name.as_str()))
                    .take(RECENT_KEPT - 1)
                    .cloned(),
            );
            people_blocks.push_str(&format!(
                " CONCEPT ?p{i} {{ {{type: \"Person\", name: :p{i}}} SET ATTRIBUTES {{ {RECENT_CONVERSATIONS}: :r{i} }} }}"
            ));
            parameters[format!("p{i}")] = json!(p);
            parameters[format!("r{i}")] = json!(recent);
        }
        let command = format!(
            "UPSERT {{{people_blocks} CONCEPT ?e {{ {{type: \"Event\", name: :name}} SET ATTRIBUTES :attributes \
             SET PROPOSITIONS {{ (\"belongs_to_domain\", {{type: \"Domain\", name: \"Unsorted\"}}){involves} }} }} }} \
             WITH METADATA {{ source: \"formation\", author: \"$self\", confidence: 1.0 }}"
        );
        self.kip(space, command, parameters, Mode::ReadWrite)
            .await?;
        Ok(name)
    }
}

/// What forming a conversation made.
struct Formed {
    artifacts: Value,
    /// The agent's messages (none without a model).
    messages: Vec<Value>,
    usage: Value,
}

/// The job handler for [`FORMATION_JOB`].
pub struct FormationJob(pub Arc<Memory>);

impl Handler for FormationJob {
    fn run(&self, _workspace_id: String, db: Database, job: Job) -> BoxFuture<Outcome> {
        let memory = self.0.clone();
        Box::pin(async move {
            let Some((space_id, id)) = job_target(&job) else {
                return Outcome::Failed(
                    "a formation job without its space and conversation".into(),
                );
            };
            let space = match memory.space(&space_id).await {
                Ok(s) => s,
                Err(DomainError::NotFound) => {
                    return Outcome::Failed(format!("no space {space_id}"))
                }
                Err(e) => {
                    return Outcome::Retry {
                        after_ms: 60_000,
                        error: e.to_string(),
                    }
                }
            };
            match memory.form(&db, &space, id).await {
                Ok(()) => Outcome::Done,
                // The reference retries a failed formation once, after a minute.
                Err(e) if job.attempts < 2 => Outcome::Retry {
                    after_ms: 60_000,
                    error: e.to_string(),
                },
                Err(e) => Outcome::Failed(e.to_string()),
            }
        })
    }
}
