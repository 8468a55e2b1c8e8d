//! Maintenance without a model: asynchronous and single-flight per space (formation waits
//! while it runs). Every `MaintenanceParameters` value acts in code:
//! - `confidence_decay_factor` (0.95): links below full confidence, not changed for a
//!   week, lose that factor (`belongs_to_domain` links and facts at 1.0 are exempt);
//! - `stale_event_threshold_days` (7): pending Events older than that are archived;
//!   Events archived a week or more before and past their `expires_at` are deleted (the
//!   only hard delete);
//! - `unsorted_max_backlog` (20) and `orphan_max_count` (20): the `Unsorted` inbox and the
//!   Events with no domain are counted and reported against them.
//!
//! The scope's watermark (`maintenance_at.daydream|quick|full`) becomes the formation
//! high-water mark it ran at. After formations it runs on its own: `full` every 168,
//! `quick` every 42, `daydream` every 21, as in the reference.

use andibase_common::{DomainError, DomainResult, FieldIssue, Timestamp};
use andibase_jobs::{BoxFuture, Handler, Job, Outcome};
use andibase_kip::Mode;
use andibase_storage::{params, Database, Sql};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::agents::Agent;
use crate::conversations::{job_target, kip_result, run_kip, NewConversation};
use crate::{Memory, Space};

/// The job that runs one maintenance.
pub const MAINTENANCE_JOB: &str = "memory.maintenance";
/// The collection maintenance conversations are in.
pub const MAINTENANCE: &str = "maintenance";
/// Predicates whose links decay (the profile's episodic and semantic links).
const DECAYING: [&str; 6] = [
    "involves",
    "mentions",
    "prefers",
    "learned",
    "committed_to",
    "derived_from",
];

/// Seed 003's `MaintenanceParameters`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_event_threshold_days: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_decay_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsorted_max_backlog: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphan_max_count: Option<i64>,
}

/// Seed 003's `MaintenanceInput`, with the reference's `scope` and `trigger`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceInput {
    /// ISO 8601: "now" for the maintenance (what is stale, what expired).
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<MaintenanceParameters>,
    /// `daydream` (default), `quick` or `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

fn invalid(path: &str, message: impl Into<String>) -> DomainError {
    DomainError::from_issues(vec![FieldIssue::at([path], message)])
}

impl MaintenanceInput {
    fn check(&self) -> DomainResult<(Timestamp, String)> {
        let at = Timestamp::parse_iso_with_offset(&self.timestamp)
            .ok_or_else(|| invalid("timestamp", "is not an ISO 8601 time"))?;
        let scope = self.scope.clone().unwrap_or_else(|| "daydream".into());
        if !["daydream", "quick", "full"].contains(&scope.as_str()) {
            return Err(invalid("scope", "is daydream, quick or full"));
        }
        let p = self.parameters.clone().unwrap_or_default();
        if p.stale_event_threshold_days
            .is_some_and(|d| !(0.0..=3650.0).contains(&d))
        {
            return Err(invalid(
                "parameters",
                "stale_event_threshold_days is 0 to 3650",
            ));
        }
        if p.confidence_decay_factor
            .is_some_and(|f| !(0.0..=1.0).contains(&f))
        {
            return Err(invalid("parameters", "confidence_decay_factor is 0 to 1"));
        }
        if p.unsorted_max_backlog.is_some_and(|n| n < 0)
            || p.orphan_max_count.is_some_and(|n| n < 0)
        {
            return Err(invalid("parameters", "counts are 0 or more"));
        }
        Ok((at, scope))
    }
}

impl Memory {
    /// Queues a maintenance (answering its conversation's id), or names the one already
    /// queued or running.
    pub async fn maintenance(
        &self,
        space: &Space,
        input: MaintenanceInput,
        caller: &str,
    ) -> DomainResult<Value> {
        input.check()?;
        let db = self.workspaces.get(&space.workspace_id).await?;
        let now = self.clock.now();
        let (space_id, user) = (space.id.clone(), caller.to_string());
        let body =
            serde_json::to_string(&input).map_err(|e| DomainError::Internal(e.to_string()))?;
        let (id, fresh) = db
            .write(move |tx| {
                if let Some(row) = tx.query_one(
                    "SELECT id FROM memory_conversations WHERE space_id = ? AND collection = 'maintenance' AND status IN ('submitted', 'working') ORDER BY id LIMIT 1",
                    &params![space_id.clone()],
                )? {
                    return Ok((row.int(0)?, false));
                }
                let id = enqueue_maintenance(tx, &space_id, &user, &body, now)?;
                Ok((id, true))
            })
            .await?;
        if fresh {
            self.scheduler.wake(&space.workspace_id, now);
        }
        Ok(json!({
            "content": match fresh {
                true => format!("Maintenance {id} is queued."),
                false => format!("Maintenance {id} is already queued or running."),
            },
            "conversation": id,
        }))
    }

    /// Runs maintenance `id` (the job's work), with formation paused.
    pub async fn maintain(&self, db: &Database, space: &Space, id: i64) -> DomainResult<()> {
        let lock = self.space_lock(space);
        let _formation_waits = lock.lock().await;
        let (space_id, now) = (space.id.clone(), self.clock.now());
        let input: Option<MaintenanceInput> = db
            .write(move |tx| {
                let Some(row) = tx.query_one(
                    "SELECT input, status FROM memory_conversations WHERE space_id = ? AND collection = 'maintenance' AND id = ?",
                    &params![space_id.clone(), id],
                )?
                else {
                    return Ok(None);
                };
                if !["submitted", "working"].contains(&row.text(1)?.as_str()) {
                    return Ok(None);
                }
                tx.execute(
                    "UPDATE memory_conversations SET status = 'working', updated_at = ? WHERE space_id = ? AND collection = 'maintenance' AND id = ?",
                    &params![now, space_id, id],
                )?;
                serde_json::from_str(&row.text(0)?).map(Some).map_err(|e| DomainError::Internal(e.to_string()))
            })
            .await?;
        let Some(input) = input else {
            return Ok(());
        };
        let result = match self.run_maintenance(space, &input).await {
            Ok(report) => self.model_phases(space, &input, report).await,
            Err(e) => Err(e),
        };
        let (space_id, now) = (space.id.clone(), self.clock.now());
        let (status, reason, messages, usage) = match &result {
            Ok((report, agent, usage)) => {
                let mut messages = agent.clone();
                messages.push(json!({"role": "assistant", "content": report}));
                ("completed", None, Value::Array(messages), usage.clone())
            }
            Err(e) => ("failed", Some(e.to_string()), json!([]), json!({})),
        };
        let (messages, usage) = (messages.to_string(), usage.to_string());
        db.write(move |tx| {
            tx.execute(
                "UPDATE memory_conversations SET status = ?, failed_reason = ?, messages = ?, usage = ?, updated_at = ? \
                 WHERE space_id = ? AND collection = 'maintenance' AND id = ?",
                &params![status, reason, messages, usage, now, space_id, id],
            )
            .map(|_| ())
        })
        .await?;
        result.map(|_| ())
    }

    /// With a model, the maintenance agent's phases after the mechanical ones: the whole
    /// report, the agent's messages and usage. Without one, the mechanical report alone.
    async fn model_phases(
        &self,
        space: &Space,
        input: &MaintenanceInput,
        report: String,
    ) -> DomainResult<(String, Vec<Value>, Value)> {
        let Some(model) = self.model_for(space).await? else {
            return Ok((report, Vec::new(), json!({})));
        };
        let (at, scope) = input.check()?;
        let text = format!(
            "Scope: {scope}\nNow: {}\nParameters: {}\n\nWhat the mechanical phases did:\n{report}",
            at.to_iso(),
            serde_json::to_string(&input.parameters.clone().unwrap_or_default())
                .unwrap_or_default()
        );
        let run = self
            .run_agent(space, model, Agent::Maintenance, text, None)
            .await?;
        Ok((
            format!("{report}\n\n## Model-driven phases\n\n{}", run.text),
            run.messages,
            run.usage,
        ))
    }

    /// The maintenance itself; a report in Markdown.
    async fn run_maintenance(
        &self,
        space: &Space,
        input: &MaintenanceInput,
    ) -> DomainResult<String> {
        let (at, scope) = input.check()?;
        let p = input.parameters.clone().unwrap_or_default();
        let stale_days = p.stale_event_threshold_days.unwrap_or(7.0);
        let factor = p.confidence_decay_factor.unwrap_or(0.95);
        let backlog_max = p.unsorted_max_backlog.unwrap_or(20);
        let orphans_max = p.orphan_max_count.unwrap_or(20);
        let stale_before = Timestamp(at.0 - (stale_days * 86_400_000.0) as i64).to_iso();
        let week_before = Timestamp(at.0 - 7 * 86_400_000).to_iso();
        let now_iso = at.to_iso();
        let graph = self.graph(space).await?;
        let formed = self.formation_counts(space).await?.1;
        let report = tokio::task::spawn_blocking(move || -> DomainResult<String> {
            let kip = |command: String, parameters: Value| {
                run_kip(&graph, &command, parameters, Mode::ReadWrite).and_then(kip_result)
            };
            let mut decayed = 0;
            for predicate in DECAYING {
                let r = kip(
                    format!("UPDATE ?l SET METADATA {{ confidence: MUL(?l.metadata.confidence, :factor) }} WHERE {{ ?l (?s, {}, ?o) FILTER(?l.metadata.confidence < 1 && ?l.metadata._updated_at < :week) }}", serde_json::to_string(predicate).unwrap_or_default()),
                    json!({"factor": factor, "week": week_before}),
                )?;
                decayed += r["updated"].as_i64().unwrap_or(0);
            }
            let archived = kip(
                r#"UPDATE ?e SET ATTRIBUTES { consolidation_status: "archived", archived_at: :now } WHERE { ?e {type: "Event"} FILTER(?e.attributes.consolidation_status == "pending" && ?e.attributes.start_time < :before) }"#.into(),
                json!({"before": stale_before, "now": now_iso}),
            )?["updated"]
                .as_i64()
                .unwrap_or(0);
            let deleted = kip(
                // Only what an earlier run archived, a week or more before: nothing is
                // archived and deleted in one go (without a model nothing consolidates
                // an Event first, so an old conversation just formed would vanish).
                r#"DELETE CONCEPT ?e DETACH WHERE { ?e {type: "Event"} FILTER(?e.attributes.consolidation_status == "archived" && ?e.attributes.expires_at < :now && ?e.attributes.archived_at < :week) }"#.into(),
                json!({"now": now_iso, "week": week_before}),
            )?["deleted_concepts"]
                .as_i64()
                .unwrap_or(0);
            let backlog = kip(
                r#"FIND(COUNT(?c)) WHERE { (?c, "belongs_to_domain", {type: "Domain", name: "Unsorted"}) }"#.into(),
                json!({}),
            )?
            .as_i64()
            .unwrap_or(0);
            let orphans = kip(
                r#"FIND(COUNT(?e)) WHERE { ?e {type: "Event"} NOT { (?e, "belongs_to_domain", ?d) } }"#.into(),
                json!({}),
            )?
            .as_i64()
            .unwrap_or(0);
            let over = |n: i64, max: i64| if n > max { " (over the target)" } else { "" };
            Ok(format!(
                "Status: success\nScope: {scope}\n- links decayed by {factor}: {decayed}\n- stale Events archived: {archived}\n- expired archived Events deleted: {deleted}\n- Unsorted backlog: {backlog} of at most {backlog_max}{}\n- Events without a domain: {orphans} of at most {orphans_max}{}\n",
                over(backlog, backlog_max),
                over(orphans, orphans_max)
            ))
        })
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))??;
        self.set_watermark(space, scope_name(input), formed).await?;
        Ok(report)
    }

    async fn set_watermark(&self, space: &Space, scope: String, formed: i64) -> DomainResult<()> {
        let id = space.id.clone();
        self.main
            .write(move |tx| {
                let Some(row) = tx.query_one(
                    "SELECT maintenance_at FROM memory_spaces WHERE id = ?",
                    &params![&id],
                )?
                else {
                    return Ok(());
                };
                let mut marks = row.json(0)?;
                marks[scope.as_str()] = formed.into();
                tx.execute(
                    "UPDATE memory_spaces SET maintenance_at = ? WHERE id = ?",
                    &params![marks.to_string(), id],
                )
                .map(|_| ())
            })
            .await
    }

    /// After conversation `formed` is formed: queues the maintenance the reference's
    /// schedule asks for (full every 168, quick every 42, daydream every 21).
    pub(crate) async fn after_formation(
        &self,
        db: &Database,
        space: &Space,
        formed: i64,
    ) -> DomainResult<()> {
        let marks = self.watermarks(space).await?;
        let (daydream, quick, full) = (
            marks["daydream"].as_i64().unwrap_or(0),
            marks["quick"].as_i64().unwrap_or(0),
            marks["full"].as_i64().unwrap_or(0),
        );
        let scope = if formed >= full + 168 {
            "full"
        } else if formed >= quick.max(full) + 42 {
            "quick"
        } else if formed >= daydream.max(quick).max(full) + 21 {
            "daydream"
        } else {
            return Ok(());
        };
        let now = self.clock.now();
        let input =
            json!({"timestamp": now.to_iso(), "scope": scope, "trigger": "formation"}).to_string();
        let space_id = space.id.clone();
        let queued = db
            .write(move |tx| {
                let running = tx
                    .query_one(
                        "SELECT 1 FROM memory_conversations WHERE space_id = ? AND collection = 'maintenance' AND status IN ('submitted', 'working')",
                        &params![space_id.clone()],
                    )?
                    .is_some();
                if running {
                    return Ok(false);
                }
                enqueue_maintenance(tx, &space_id, "$system", &input, now).map(|_| true)
            })
            .await?;
        if queued {
            self.scheduler.wake(&space.workspace_id, now);
        }
        Ok(())
    }

    /// `maintenance_at`: the formation high-water mark each scope last ran at.
    pub(crate) async fn watermarks(&self, space: &Space) -> DomainResult<Value> {
        let id = space.id.clone();
        self.main
            .read(move |r| {
                let text = r
                    .query_one(
                        "SELECT maintenance_at FROM memory_spaces WHERE id = ?",
                        &params![id],
                    )?
                    .map(|row| row.text(0))
                    .transpose()?
                    .unwrap_or_default();
                Ok(serde_json::from_str(&text)
                    .unwrap_or_else(|_| json!({"daydream": 0, "quick": 0, "full": 0})))
            })
            .await
    }

    /// Whether a maintenance is queued or running.
    pub async fn maintenance_processing(&self, space: &Space) -> DomainResult<bool> {
        let db = self.workspaces.get(&space.workspace_id).await?;
        let id = space.id.clone();
        db.read(move |r| {
            Ok(r
                .query_one(
                    "SELECT 1 FROM memory_conversations WHERE space_id = ? AND collection = 'maintenance' AND status IN ('submitted', 'working')",
                    &params![id],
                )?
                .is_some())
        })
        .await
    }
}

fn scope_name(input: &MaintenanceInput) -> String {
    input.scope.clone().unwrap_or_else(|| "daydream".into())
}

/// Writes a maintenance conversation and its job; its id.
fn enqueue_maintenance(
    tx: &andibase_storage::Tx<'_>,
    space_id: &str,
    user: &str,
    input: &str,
    now: Timestamp,
) -> DomainResult<i64> {
    NewConversation {
        space_id,
        collection: MAINTENANCE,
        user,
        input,
        messages: "[]",
        status: "submitted",
        usage: "{}",
        job: Some(MAINTENANCE_JOB),
    }
    .insert(tx, now)
}

/// The job handler for [`MAINTENANCE_JOB`].
pub struct MaintenanceJob(pub std::sync::Arc<Memory>);

impl Handler for MaintenanceJob {
    fn run(&self, _workspace_id: String, db: Database, job: Job) -> BoxFuture<Outcome> {
        let memory = self.0.clone();
        Box::pin(async move {
            let Some((space_id, id)) = job_target(&job) else {
                return Outcome::Failed(
                    "a maintenance job without its space and conversation".into(),
                );
            };
            let space = match memory.space(&space_id).await {
                Ok(s) => s,
                Err(e) => return Outcome::Failed(e.to_string()),
            };
            match memory.maintain(&db, &space, id).await {
                Ok(()) => Outcome::Done,
                Err(e) => Outcome::Failed(e.to_string()),
            }
        })
    }
}
