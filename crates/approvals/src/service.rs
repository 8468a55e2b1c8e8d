//! The approvals service.

use std::sync::Arc;
use std::time::Duration;

use andibase_common::{id, Clock, DomainError, DomainResult, FieldIssue, Links, Timestamp};
use andibase_events::EventBus;
use andibase_jobs::{backoff_ms, enqueue, BoxFuture, Handler, Job, Outcome, Scheduler};
use andibase_outbound::Policy;
use andibase_storage::{params, record_event, Database, Row, Sql, Tx, WorkspaceDatabases};
use andibase_vault::Vault;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use crate::model::*;

pub const EXPIRE_JOB: &str = "approval.expire";
pub const CALLBACK_JOB: &str = "approval.callback";

const MAX_TIMEOUT_SECS: i64 = 30 * 86_400;
const QUESTION_MAX: usize = 1000;
const CONTEXT_MAX_BYTES: usize = 20 * 1024;

#[derive(Clone, Debug)]
pub struct ApprovalsConfig {
    /// Smallest accepted timeout (FinalSay: 30 s).
    pub min_timeout_secs: i64,
    /// Timeout of agents without settings.
    pub default_timeout_secs: i64,
    /// Creates per agent per sliding 60 s.
    pub creates_per_minute: usize,
    /// Approvals a workspace may create per calendar month (UTC); `None` = no cap.
    pub monthly_quota: Option<i64>,
    pub callback_base_backoff_ms: i64,
    pub callback_max_attempts: i64,
    pub callback_timeout: Duration,
    pub outbound: Policy,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            min_timeout_secs: 30,
            default_timeout_secs: 86_400,
            creates_per_minute: 60,
            monthly_quota: None,
            callback_base_backoff_ms: 2_000,
            callback_max_attempts: 8,
            callback_timeout: Duration::from_secs(10),
            outbound: Policy::default(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub status: Option<String>,
    pub agent_id: Option<String>,
    pub limit: Option<i64>,
}

pub struct Approvals {
    workspaces: Arc<WorkspaceDatabases>,
    scheduler: Arc<Scheduler>,
    vault: Vault,
    clock: Clock,
    config: ApprovalsConfig,
    bus: EventBus,
    links: Arc<dyn Links>,
}

const COLUMNS: &str = "request_id, agent_id, status, question, context_markdown, options, correlation_id, notification_summary, \
    callback_url, callback_headers, timeout_seconds, timeout_mode, timeout_instruction, expires_at, selected_option_index, \
    selected_option_label, selected_option_value, custom_instruction, resolved_by, resolved_at, result_delivery_status, \
    result_delivery_error, created_at, updated_at";

fn internal(e: impl std::fmt::Display) -> DomainError {
    DomainError::Internal(e.to_string())
}

fn from_row(r: &Row) -> DomainResult<Approval> {
    let callback = match r.opt_text(8)? {
        Some(url) => Some(CallbackSpec {
            url,
            headers: r
                .opt_text(9)?
                .map(|h| serde_json::from_str(&h))
                .transpose()
                .map_err(internal)?,
        }),
        None => None,
    };
    Ok(Approval {
        request_id: r.text(0)?,
        agent_id: r.text(1)?,
        status: ApprovalStatus::parse(&r.text(2)?)
            .ok_or_else(|| internal("unknown approval status"))?,
        question: r.text(3)?,
        context_markdown: r.text(4)?,
        options: serde_json::from_str(&r.text(5)?).map_err(internal)?,
        correlation_id: r.opt_text(6)?,
        notification_summary: r.opt_text(7)?,
        callback,
        timeout: EffectiveTimeout {
            seconds: r.int(10)?,
            mode: TimeoutMode::parse(&r.text(11)?).ok_or_else(|| internal("bad timeout mode"))?,
            instruction: r.opt_text(12)?,
        },
        expires_at: r.time(13)?,
        selected_option_index: r.opt_int(14)?,
        selected_option_label: r.opt_text(15)?,
        selected_option_value: r.opt_text(16)?,
        custom_instruction: r.opt_text(17)?,
        resolved_by: r.opt_text(18)?,
        resolved_at: r.opt_time(19)?,
        result_delivery_status: DeliveryStatus::parse(&r.text(20)?)
            .ok_or_else(|| internal("unknown delivery status"))?,
        result_delivery_error: r.opt_text(21)?,
        created_at: r.time(22)?,
        updated_at: r.time(23)?,
    })
}

fn load(r: &impl Sql, request_id: &str) -> DomainResult<Option<Approval>> {
    r.query_one(
        &format!("SELECT {COLUMNS} FROM approvals WHERE request_id = ?"),
        &params![request_id],
    )?
    .map(|row| from_row(&row))
    .transpose()
}

/// Rules for the create body; every broken one is reported with its path.
fn validate(input: &CreateApproval, issues: &mut Vec<FieldIssue>) {
    let mut issue = |path: Vec<serde_json::Value>, msg: &str| {
        issues.push(FieldIssue {
            path,
            message: msg.to_string(),
        })
    };
    let p = |parts: &[&str]| {
        parts
            .iter()
            .map(|s| serde_json::json!(s))
            .collect::<Vec<_>>()
    };
    if input.question.trim().is_empty() || input.question.chars().count() > QUESTION_MAX {
        issue(p(&["question"]), "must be 1 to 1000 characters");
    }
    if input.context_markdown.len() > CONTEXT_MAX_BYTES {
        issue(p(&["context_markdown"]), "must be at most 20 KiB");
    }
    if input.options.is_empty() || input.options.len() > 10 {
        issue(p(&["options"]), "must hold 1 to 10 options");
    }
    for (i, o) in input.options.iter().enumerate() {
        if o.label.trim().is_empty() || o.label.chars().count() > 100 {
            issue(
                vec!["options".into(), i.into(), "label".into()],
                "must be 1 to 100 characters",
            );
        }
        if o.value.is_empty() || o.value.chars().count() > 200 {
            issue(
                vec!["options".into(), i.into(), "value".into()],
                "must be 1 to 200 characters",
            );
        }
    }
    if let Some(id) = &input.request_id {
        let ok = !id.is_empty()
            && id.len() <= 200
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !ok {
            issue(
                p(&["request_id"]),
                "must be 1 to 200 characters of A-Z a-z 0-9 - _ . :",
            );
        }
    }
    if input
        .correlation_id
        .as_ref()
        .is_some_and(|c| c.chars().count() > 200)
    {
        issue(p(&["correlation_id"]), "must be at most 200 characters");
    }
    if input
        .notification_summary
        .as_ref()
        .is_some_and(|c| c.chars().count() > 200)
    {
        issue(
            p(&["notification_summary"]),
            "must be at most 200 characters",
        );
    }
    if let Some(cb) = &input.callback {
        if let Err(e) = andibase_outbound::check_url_shape(&cb.url) {
            issue(p(&["callback", "url"]), &e);
        }
        if let Some(h) = &cb.headers {
            if h.len() > 20 {
                issue(p(&["callback", "headers"]), "must hold at most 20 headers");
            }
            for (k, v) in h {
                let bad_name = k.is_empty()
                    || !k
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                let reserved = [
                    "host",
                    "content-length",
                    "content-type",
                    "transfer-encoding",
                    "connection",
                ]
                .contains(&k.to_ascii_lowercase().as_str());
                // A value is visible ASCII and spaces: anything else fails at every delivery.
                let bad_value = v.len() > 1000
                    || !v
                        .bytes()
                        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic());
                if bad_name || reserved || bad_value {
                    issues.push(FieldIssue::at(["callback", "headers", k.as_str()], "must be a token name (not Host, Content-Length, Content-Type, Transfer-Encoding, Connection) with a value of at most 1000 visible ASCII characters and spaces"));
                }
            }
        }
    }
    if let Some(t) = &input.timeout {
        if t.instruction
            .as_ref()
            .is_some_and(|i| i.chars().count() > 1000)
        {
            issues.push(FieldIssue::at(
                ["timeout", "instruction"],
                "must be at most 1000 characters",
            ));
        }
    }
}

/// Start of the UTC month containing `t`.
fn month_start(t: Timestamp) -> Timestamp {
    let iso = t.to_iso();
    Timestamp::parse_iso(&format!("{}-01T00:00:00.000Z", &iso[..7])).unwrap_or(t)
}

fn settings_from_row(
    agent_id: &str,
    r: Option<Row>,
    default_timeout: i64,
) -> DomainResult<AgentApprovalSettings> {
    Ok(match r {
        Some(r) => AgentApprovalSettings {
            agent_id: agent_id.to_string(),
            default_timeout_seconds: r.int(0)?,
            timeout_mode: TimeoutMode::parse(&r.text(1)?).ok_or_else(|| internal("bad mode"))?,
            timeout_instruction: r.opt_text(2)?,
            subscribers: serde_json::from_str(&r.text(3)?).map_err(internal)?,
            callback_secret_header: r.opt_text(4)?,
            has_callback_secret: !matches!(r.value(5), andibase_storage::Value::Null),
        },
        None => AgentApprovalSettings {
            agent_id: agent_id.to_string(),
            default_timeout_seconds: default_timeout,
            timeout_mode: TimeoutMode::ExpireNoAction,
            timeout_instruction: None,
            subscribers: vec![],
            callback_secret_header: None,
            has_callback_secret: false,
        },
    })
}

const SETTINGS_COLUMNS: &str = "default_timeout_seconds, timeout_mode, timeout_instruction, subscribers, callback_secret_header, callback_secret_value";

/// What makes two creates "the same": everything the agent sent, and the agent.
fn payload_hash(agent_id: &str, input: &CreateApproval) -> String {
    let fingerprint = serde_json::json!([
        agent_id,
        input.question,
        input.context_markdown,
        input.options,
        input.correlation_id,
        input.notification_summary,
        input.callback,
        input.timeout
    ]);
    andibase_common::hex::encode(&Sha256::digest(fingerprint.to_string().as_bytes()))
}

/// A checked approval, ready to be written.
struct NewApproval {
    request_id: String,
    payload_hash: String,
    agent_id: String,
    key_id: Option<String>,
    input: CreateApproval,
    timeout: EffectiveTimeout,
    expires_at: Timestamp,
    /// Who is notified, and the link they get.
    recipients: Vec<String>,
    inbox: String,
    now: Timestamp,
}

/// How many approvals may be made: per agent in any minute, and per workspace in a month.
#[derive(Clone, Copy)]
struct Limits {
    per_minute: usize,
    per_month: Option<i64>,
}

impl NewApproval {
    /// Writes the approval, its expiry job, its outbox event and its notifications; or,
    /// for a replayed `request_id` with the same payload, gives the existing approval.
    fn write(self, tx: &Tx<'_>, limits: Limits) -> DomainResult<(Approval, bool)> {
        if !agent_exists(tx, &self.agent_id)? {
            return Err(DomainError::refused(
                ApprovalRefusal::UnknownAgent,
                "The agent does not exist in this workspace.",
            ));
        }
        if let Some(existing) = tx.query_one(
            "SELECT payload_hash FROM approvals WHERE request_id = ?",
            &params![&self.request_id],
        )? {
            if existing.text(0)? != self.payload_hash {
                return Err(DomainError::conflict(
                    "This request_id was already used with a different payload.",
                ));
            }
            return Ok((self.load(tx)?, false));
        }
        // The burst window: approvals this agent made in the last minute, counted from
        // the rows (inside the workspace's write lock), so every replica counts the same.
        let window_start = self.now.0 - 60_000;
        let recent = tx.query(
            &format!(
                "SELECT created_at FROM approvals WHERE agent_id = ? AND created_at > ? \
                 ORDER BY created_at LIMIT {}",
                limits.per_minute
            ),
            &params![&self.agent_id, window_start],
        )?;
        if recent.len() >= limits.per_minute {
            let oldest = recent[0].int(0)?;
            return Err(DomainError::RateLimited {
                retry_after_secs: ((oldest + 60_000 - self.now.0 + 999) / 1000).max(1) as u64,
            });
        }
        if let Some(limit) = limits.per_month {
            let used = tx
                .query_one(
                    "SELECT count(*) FROM approvals WHERE created_at >= ?",
                    &params![month_start(self.now)],
                )?
                .map_or(Ok(0), |r| r.int(0))?;
            if used >= limit {
                return Err(DomainError::refused(
                    ApprovalRefusal::QuotaUsed,
                    "This workspace has used its approval quota for the month.",
                ));
            }
        }
        self.insert(tx)?;
        let (id, now) = (&self.request_id, self.now);
        enqueue(
            tx,
            EXPIRE_JOB,
            &serde_json::json!({"request_id": id}),
            self.expires_at,
            now,
        )?;
        record_event(
            tx,
            APPROVAL_CREATED,
            id,
            Some(&self.agent_id),
            &serde_json::json!({}),
            now,
        )?;
        self.notify(tx)?;
        Ok((self.load(tx)?, true))
    }

    fn insert(&self, tx: &Tx<'_>) -> DomainResult<()> {
        let input = &self.input;
        let options = serde_json::to_string(&input.options).map_err(internal)?;
        let callback_headers = input
            .callback
            .as_ref()
            .and_then(|c| c.headers.as_ref())
            .map(serde_json::to_string)
            .transpose()
            .map_err(internal)?;
        let t = &self.timeout;
        tx.execute(
            "INSERT INTO approvals (request_id, agent_id, key_id, payload_hash, question, context_markdown, options, correlation_id, \
             notification_summary, callback_url, callback_headers, timeout_seconds, timeout_mode, timeout_instruction, status, \
             expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            &params![
                &self.request_id, &self.agent_id, self.key_id.clone(), &self.payload_hash, &input.question,
                &input.context_markdown, options, input.correlation_id.clone(), input.notification_summary.clone(),
                input.callback.as_ref().map(|c| c.url.clone()), callback_headers, t.seconds, t.mode.as_str(),
                t.instruction.clone(), self.expires_at, self.now, self.now
            ],
        )?;
        Ok(())
    }

    /// One inbox notification per recipient.
    fn notify(&self, tx: &Tx<'_>) -> DomainResult<()> {
        let input = &self.input;
        let title = input
            .notification_summary
            .clone()
            .unwrap_or_else(|| input.question.chars().take(200).collect());
        for user in &self.recipients {
            tx.execute(
                "INSERT INTO notifications (id, user_id, kind, title, link, subject_id, created_at) VALUES (?, ?, 'approval.requested', ?, ?, ?, ?)",
                &params![id::uuid7(), user, &title, &self.inbox, &self.request_id, self.now],
            )?;
        }
        Ok(())
    }

    fn load(&self, tx: &Tx<'_>) -> DomainResult<Approval> {
        load(tx, &self.request_id)?.ok_or(DomainError::NotFound)
    }
}

fn agent_exists(r: &impl Sql, agent_id: &str) -> DomainResult<bool> {
    Ok(
        r.query_one("SELECT 1 FROM agents WHERE id = ?", &params![agent_id])?
            .is_some(),
    )
}

/// The server's parts the approvals service works with.
pub struct ApprovalsParts {
    pub workspaces: Arc<WorkspaceDatabases>,
    pub scheduler: Arc<Scheduler>,
    pub vault: Vault,
    pub clock: Clock,
    pub bus: EventBus,
    pub links: Arc<dyn Links>,
}

impl Approvals {
    pub fn new(parts: ApprovalsParts, config: ApprovalsConfig) -> Approvals {
        let ApprovalsParts {
            workspaces,
            scheduler,
            vault,
            clock,
            bus,
            links,
        } = parts;
        Approvals {
            workspaces,
            scheduler,
            vault,
            clock,
            config,
            bus,
            links,
        }
    }

    pub fn config(&self) -> &ApprovalsConfig {
        &self.config
    }

    /// Whether `agent_id` is an agent of the workspace (the Agent API's `X-Agent-Id`).
    pub async fn agent_in_workspace(
        &self,
        workspace_id: &str,
        agent_id: &str,
    ) -> DomainResult<bool> {
        let db = self.workspaces.get(workspace_id).await?;
        let agent_id = agent_id.to_string();
        db.read(move |r| agent_exists(r, &agent_id)).await
    }

    /// Creates an approval, or returns the existing one for a replayed `request_id` with
    /// the same payload (`false` in the pair). `recipients` are the members to notify when
    /// the agent has no subscribers.
    pub async fn create(
        &self,
        workspace_id: &str,
        workspace_handle: &str,
        agent_id: &str,
        key_id: Option<&str>,
        input: CreateApproval,
        members: Vec<String>,
    ) -> DomainResult<(Approval, bool)> {
        let mut issues = Vec::new();
        validate(&input, &mut issues);
        FieldIssue::none_of(std::mem::take(&mut issues))?;
        let db = self.workspaces.get(workspace_id).await?;
        let settings = self.settings(workspace_id, agent_id).await?;
        let timeout = self.effective_timeout(&input, &settings, &mut issues);
        self.check_callback(&input, &mut issues).await?;
        FieldIssue::none_of(issues)?;
        let now = self.clock.now();
        let new = NewApproval {
            request_id: input.request_id.clone().unwrap_or_else(id::uuid7),
            payload_hash: payload_hash(agent_id, &input),
            agent_id: agent_id.to_string(),
            key_id: key_id.map(str::to_string),
            expires_at: now.plus_seconds(timeout.seconds),
            timeout,
            recipients: if settings.subscribers.is_empty() {
                members
            } else {
                settings.subscribers
            },
            inbox: self.links.approvals(workspace_handle),
            input,
            now,
        };
        let limits = Limits {
            per_minute: self.config.creates_per_minute,
            per_month: self.config.monthly_quota,
        };
        let (approval, created) = db.write(move |tx| new.write(tx, limits)).await?;
        if created {
            self.scheduler.wake(workspace_id, approval.expires_at);
        }
        Ok((approval, created))
    }

    /// The timeout of a new approval: the request's fields over the agent's defaults,
    /// checked.
    fn effective_timeout(
        &self,
        input: &CreateApproval,
        settings: &AgentApprovalSettings,
        issues: &mut Vec<FieldIssue>,
    ) -> EffectiveTimeout {
        let t = input.timeout.clone().unwrap_or_default();
        let seconds = t.seconds.unwrap_or(settings.default_timeout_seconds);
        let mode = t.mode.unwrap_or(settings.timeout_mode);
        let instruction = t
            .instruction
            .or(settings.timeout_instruction.clone())
            .filter(|i| !i.trim().is_empty());
        if seconds < self.config.min_timeout_secs || seconds > MAX_TIMEOUT_SECS {
            issues.push(FieldIssue::at(
                ["timeout", "seconds"],
                format!(
                    "must be between {} and {MAX_TIMEOUT_SECS} seconds",
                    self.config.min_timeout_secs
                ),
            ));
        }
        if mode == TimeoutMode::ExpireWithInstruction && instruction.is_none() {
            issues.push(FieldIssue::at(
                ["timeout", "instruction"],
                "is needed for expire_with_instruction (here or in the agent's settings)",
            ));
        }
        EffectiveTimeout {
            seconds,
            mode,
            instruction,
        }
    }

    /// A callback URL must reach a public address (unless the operator allows private
    /// ones).
    async fn check_callback(
        &self,
        input: &CreateApproval,
        issues: &mut Vec<FieldIssue>,
    ) -> DomainResult<()> {
        let Some(cb) = &input.callback else {
            return Ok(());
        };
        let (url, policy) = (cb.url.clone(), self.config.outbound);
        let checked =
            tokio::task::spawn_blocking(move || andibase_outbound::check_destination(&url, policy))
                .await
                .map_err(internal)?;
        if let Err(e) = checked {
            issues.push(FieldIssue::at(["callback", "url"], e));
        }
        Ok(())
    }

    pub async fn get(&self, workspace_id: &str, request_id: &str) -> DomainResult<Approval> {
        let db = self.workspaces.get(workspace_id).await?;
        let id = request_id.to_string();
        db.read(move |r| load(r, &id))
            .await?
            .ok_or(DomainError::NotFound)
    }

    pub async fn list(
        &self,
        workspace_id: &str,
        filter: ListFilter,
    ) -> DomainResult<Vec<Approval>> {
        let status = match filter.status.as_deref() {
            None => None,
            Some(s) => Some(ApprovalStatus::parse(s).ok_or_else(|| {
                DomainError::invalid(
                    "status",
                    "must be pending, selected_option, custom_instruction or expired",
                )
            })?),
        };
        let status = status.map(ApprovalStatus::as_str);
        let db = self.workspaces.get(workspace_id).await?;
        let limit = filter.limit.unwrap_or(100).clamp(1, 500);
        db.read(move |r| {
            r.query(
                &format!(
                    "SELECT {COLUMNS} FROM approvals WHERE status = coalesce(?, status) AND agent_id = coalesce(?, agent_id) \
                     ORDER BY created_at DESC, request_id DESC LIMIT {limit}"
                ),
                &params![status, filter.agent_id],
            )?
            .iter()
            .map(from_row)
            .collect()
        })
        .await
    }

    /// A human's decision. Refused when the approval is no longer pending.
    pub async fn resolve(
        &self,
        workspace_id: &str,
        request_id: &str,
        decision: Resolution,
        resolved_by: &str,
    ) -> DomainResult<Approval> {
        let chosen = [
            decision.option_index.is_some(),
            decision.option_value.is_some(),
            decision.custom_instruction.is_some(),
        ];
        if chosen.iter().filter(|c| **c).count() != 1 {
            return Err(DomainError::invalid(
                "optionIndex",
                "send exactly one of optionIndex, optionValue or customInstruction",
            ));
        }
        if decision
            .custom_instruction
            .as_ref()
            .is_some_and(|c| c.trim().is_empty() || c.chars().count() > 10_000)
        {
            return Err(DomainError::invalid(
                "customInstruction",
                "must be 1 to 10000 characters",
            ));
        }
        let db = self.workspaces.get(workspace_id).await?;
        let (id, by, now) = (
            request_id.to_string(),
            resolved_by.to_string(),
            self.clock.now(),
        );
        let approval = db
            .write(move |tx| {
                let a = load(tx, &id)?.ok_or(DomainError::NotFound)?;
                if !a.is_pending() || a.expires_at <= now {
                    return Err(DomainError::refused(ApprovalRefusal::Closed, format!("This approval is already {}.", if a.is_pending() { "expired" } else { a.status.as_str() })));
                }
                let (status, index, label, value, instruction) = match (&decision.option_index, &decision.option_value, &decision.custom_instruction) {
                    (Some(i), _, _) => {
                        let o = a.options.get(*i as usize).filter(|_| *i >= 0).ok_or_else(|| DomainError::invalid("optionIndex", "is not an option of this approval"))?;
                        (ApprovalStatus::SelectedOption, Some(*i), Some(o.label.clone()), Some(o.value.clone()), None)
                    }
                    (_, Some(v), _) => {
                        let i = a.options.iter().position(|o| &o.value == v).ok_or_else(|| DomainError::invalid("optionValue", "is not an option of this approval"))?;
                        (ApprovalStatus::SelectedOption, Some(i as i64), Some(a.options[i].label.clone()), Some(v.clone()), None)
                    }
                    (_, _, Some(c)) => (ApprovalStatus::CustomInstruction, None, None, None, Some(c.clone())),
                    _ => return Err(DomainError::invalid("optionIndex", "send one decision")),
                };
                tx.execute(
                    "UPDATE approvals SET status = ?, selected_option_index = ?, selected_option_label = ?, selected_option_value = ?, \
                     custom_instruction = ?, resolved_by = ?, resolved_at = ?, updated_at = ? WHERE request_id = ? AND status = 'pending'",
                    &params![status.as_str(), index, label, value, instruction, &by, now, now, &id],
                )?;
                if a.callback.is_some() {
                    enqueue(tx, CALLBACK_JOB, &serde_json::json!({"request_id": id}), now, now)?;
                }
                record_event(tx, APPROVAL_RESOLVED, &id, Some(&by), &serde_json::json!({"status": status}), now)?;
                load(tx, &id)?.ok_or(DomainError::NotFound)
            })
            .await?;
        if approval.callback.is_some() {
            self.scheduler.wake(workspace_id, now);
        }
        Ok(approval)
    }

    /// The expiry job: closes a still-pending approval when its time is up.
    async fn expire(
        &self,
        workspace_id: &str,
        db: &Database,
        request_id: &str,
    ) -> DomainResult<()> {
        let (id, now) = (request_id.to_string(), self.clock.now());
        let expired = db
            .write(move |tx| {
                let Some(a) = load(tx, &id)? else { return Ok(None) };
                if !a.is_pending() {
                    return Ok(None);
                }
                if a.expires_at > now {
                    // Not yet (a clock moved, or the job ran early): try again later.
                    enqueue(tx, EXPIRE_JOB, &serde_json::json!({"request_id": id}), a.expires_at, now)?;
                    return Ok(None);
                }
                let instruction = (a.timeout.mode == TimeoutMode::ExpireWithInstruction).then(|| a.timeout.instruction.clone()).flatten();
                tx.execute(
                    "UPDATE approvals SET status = 'expired', custom_instruction = ?, resolved_by = 'system:timeout', resolved_at = ?, updated_at = ? \
                     WHERE request_id = ? AND status = 'pending'",
                    &params![instruction, now, now, &id],
                )?;
                if a.callback.is_some() {
                    enqueue(tx, CALLBACK_JOB, &serde_json::json!({"request_id": id}), now, now)?;
                }
                record_event(tx, APPROVAL_EXPIRED, &id, Some("system:timeout"), &serde_json::json!({}), now)?;
                load(tx, &id)
            })
            .await?;
        if let Some(a) = expired {
            if a.callback.is_some() {
                self.scheduler.wake(workspace_id, now);
            }
        }
        Ok(())
    }

    /// The callback job: POSTs the final result; retries with backoff; records the outcome.
    async fn deliver(
        &self,
        db: &Database,
        request_id: &str,
        attempt: i64,
    ) -> DomainResult<Outcome> {
        let id = request_id.to_string();
        let Some(a) = db.read(move |r| load(r, &id)).await? else {
            return Ok(Outcome::Done);
        };
        let Some(callback) = a.callback.clone() else {
            return Ok(Outcome::Done);
        };
        let settings = {
            let agent = a.agent_id.clone();
            db.read(move |r| {
                r.query_one(
                    &format!(
                        "SELECT {SETTINGS_COLUMNS} FROM approval_agent_settings WHERE agent_id = ?"
                    ),
                    &params![agent],
                )
            })
            .await?
        };
        let mut headers: Vec<(String, String)> = callback
            .headers
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        if let Some(row) = settings {
            if let (Some(name), andibase_storage::Value::Blob(sealed)) =
                (row.opt_text(4)?, row.value(5).clone())
            {
                headers.push((name, self.vault.open_sealed(&sealed)?));
            }
        }
        let (url, body, policy, timeout) = (
            callback.url.clone(),
            a.result_json(),
            self.config.outbound,
            self.config.callback_timeout,
        );
        let sent = tokio::task::spawn_blocking(move || {
            andibase_outbound::post_json(&url, &headers, &body, policy, timeout)
        })
        .await
        .map_err(internal)?;
        let (status, error, outcome) = match sent {
            Ok(_) => (DeliveryStatus::Delivered, None, Outcome::Done),
            Err(e) if attempt < self.config.callback_max_attempts => (
                DeliveryStatus::Pending,
                Some(e.clone()),
                Outcome::Retry {
                    after_ms: backoff_ms(self.config.callback_base_backoff_ms, attempt),
                    error: e,
                },
            ),
            Err(e) => (DeliveryStatus::Failed, Some(e.clone()), Outcome::Failed(e)),
        };
        let (id, now) = (request_id.to_string(), self.clock.now());
        db.write(move |tx| {
            tx.execute(
                "UPDATE approvals SET result_delivery_status = ?, result_delivery_error = ?, updated_at = ? WHERE request_id = ?",
                &params![status.as_str(), error, now, id],
            )
        })
        .await?;
        Ok(outcome)
    }

    /// Waits up to `wait` for the approval to leave `pending`; returns it either way.
    pub async fn wait_for_result(
        &self,
        workspace_id: &str,
        request_id: &str,
        wait: Duration,
    ) -> DomainResult<Approval> {
        // Subscribe first: a decision committed after this is seen either way.
        let mut rx = self.bus.subscribe(workspace_id).await?;
        let current = self.get(workspace_id, request_id).await?;
        if !current.is_pending() || wait.is_zero() {
            return Ok(current);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => {
                    return self.get(workspace_id, request_id).await
                }
                Ok(Ok(ev)) if ev.subject_id != request_id || !is_approval_event(&ev.kind) => {}
                // This approval changed, or events were missed: look at the row itself.
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    let a = self.get(workspace_id, request_id).await?;
                    if !a.is_pending() {
                        return Ok(a);
                    }
                }
            }
        }
    }

    pub async fn settings(
        &self,
        workspace_id: &str,
        agent_id: &str,
    ) -> DomainResult<AgentApprovalSettings> {
        let db = self.workspaces.get(workspace_id).await?;
        let (agent, default) = (agent_id.to_string(), self.config.default_timeout_secs);
        db.read(move |r| {
            let row = r.query_one(
                &format!(
                    "SELECT {SETTINGS_COLUMNS} FROM approval_agent_settings WHERE agent_id = ?"
                ),
                &params![&agent],
            )?;
            settings_from_row(&agent, row, default)
        })
        .await
    }

    pub async fn update_settings(
        &self,
        workspace_id: &str,
        agent_id: &str,
        patch: SettingsPatch,
        members: &[String],
    ) -> DomainResult<AgentApprovalSettings> {
        let mut s = self.settings(workspace_id, agent_id).await?;
        let mut issues = Vec::new();
        if let Some(t) = patch.default_timeout_seconds {
            if t < self.config.min_timeout_secs || t > MAX_TIMEOUT_SECS {
                issues.push(FieldIssue::new(
                    "defaultTimeoutSeconds",
                    format!(
                        "must be between {} and {MAX_TIMEOUT_SECS}",
                        self.config.min_timeout_secs
                    ),
                ));
            }
            s.default_timeout_seconds = t;
        }
        if let Some(m) = patch.timeout_mode {
            s.timeout_mode = m;
        }
        if let Some(i) = patch.timeout_instruction {
            if i.chars().count() > 1000 {
                issues.push(FieldIssue::new(
                    "timeoutInstruction",
                    "must be at most 1000 characters",
                ));
            }
            s.timeout_instruction = Some(i).filter(|i| !i.trim().is_empty());
        }
        if s.timeout_mode == TimeoutMode::ExpireWithInstruction && s.timeout_instruction.is_none() {
            issues.push(FieldIssue::new(
                "timeoutInstruction",
                "is needed for expire_with_instruction",
            ));
        }
        if let Some(subs) = patch.subscribers {
            for (i, u) in subs.iter().enumerate() {
                if !members.contains(u) {
                    issues.push(FieldIssue::at(
                        [serde_json::json!("subscribers"), serde_json::json!(i)],
                        "is not a member of this workspace",
                    ));
                }
            }
            s.subscribers = subs;
        }
        let mut secret: Option<Option<(String, Vec<u8>)>> = None;
        if let Some(change) = patch.callback_secret {
            secret = Some(match change {
                None => None,
                Some(h) => {
                    let ok = !h.name.is_empty()
                        && h.name.len() <= 100
                        && h.name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    if !ok
                        || h.value.is_empty()
                        || h.value.len() > 1000
                        || h.value.contains(['\r', '\n'])
                    {
                        issues.push(FieldIssue::new("callbackSecret", "needs a header name of letters, digits, - and _, and a one-line value of 1 to 1000 characters"));
                    }
                    Some((h.name, self.vault.seal(&h.value)))
                }
            });
        }
        FieldIssue::none_of(issues)?;
        let db = self.workspaces.get(workspace_id).await?;
        let (agent, now, subs) = (
            agent_id.to_string(),
            self.clock.now(),
            serde_json::to_string(&s.subscribers).map_err(internal)?,
        );
        let s2 = s.clone();
        db.write(move |tx| {
            if !agent_exists(tx, &agent)? {
                return Err(DomainError::NotFound);
            }
            tx.execute(
                "INSERT INTO approval_agent_settings (agent_id, default_timeout_seconds, timeout_mode, timeout_instruction, subscribers, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET default_timeout_seconds = excluded.default_timeout_seconds, \
                 timeout_mode = excluded.timeout_mode, timeout_instruction = excluded.timeout_instruction, subscribers = excluded.subscribers, \
                 updated_at = excluded.updated_at",
                &params![&agent, s2.default_timeout_seconds, s2.timeout_mode.as_str(), s2.timeout_instruction.clone(), subs, now],
            )?;
            if let Some(secret) = secret {
                let (name, value) = secret.map_or((None, None), |(n, v)| (Some(n), Some(v)));
                tx.execute(
                    "UPDATE approval_agent_settings SET callback_secret_header = ?, callback_secret_value = ? WHERE agent_id = ?",
                    &params![name, value, &agent],
                )?;
            }
            Ok(())
        })
        .await?;
        self.settings(workspace_id, agent_id).await
    }

    pub async fn notifications(
        &self,
        workspace_id: &str,
        user_id: &str,
        unread_only: bool,
    ) -> DomainResult<Vec<Notification>> {
        let db = self.workspaces.get(workspace_id).await?;
        let user = user_id.to_string();
        db.read(move |r| {
            r.query(
                "SELECT id, kind, title, link, created_at, read_at FROM notifications WHERE user_id = ? AND (? = 0 OR read_at IS NULL) \
                 ORDER BY created_at DESC LIMIT 200",
                &params![user, unread_only],
            )?
            .iter()
            .map(|r| Ok(Notification { id: r.text(0)?, kind: r.text(1)?, title: r.text(2)?, link: r.opt_text(3)?, created_at: r.time(4)?, read_at: r.opt_time(5)? }))
            .collect()
        })
        .await
    }

    pub async fn mark_notifications_read(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> DomainResult<usize> {
        let db = self.workspaces.get(workspace_id).await?;
        let (user, now) = (user_id.to_string(), self.clock.now());
        db.write(move |tx| {
            tx.execute(
                "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL",
                &params![now, user],
            )
        })
        .await
    }
}

fn request_id_of(job: &Job) -> String {
    job.payload["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Runs [`EXPIRE_JOB`].
pub struct ExpireJob(pub Arc<Approvals>);

impl Handler for ExpireJob {
    fn run(&self, workspace_id: String, db: Database, job: Job) -> BoxFuture<Outcome> {
        let me = self.0.clone();
        Box::pin(async move {
            match me.expire(&workspace_id, &db, &request_id_of(&job)).await {
                Ok(()) => Outcome::Done,
                Err(e) => Outcome::Retry {
                    after_ms: backoff_ms(1000, job.attempts),
                    error: e.to_string(),
                },
            }
        })
    }
}

/// Runs [`CALLBACK_JOB`].
pub struct CallbackJob(pub Arc<Approvals>);

impl Handler for CallbackJob {
    fn run(&self, _workspace_id: String, db: Database, job: Job) -> BoxFuture<Outcome> {
        let me = self.0.clone();
        Box::pin(async move {
            match me.deliver(&db, &request_id_of(&job), job.attempts).await {
                Ok(outcome) => outcome,
                Err(e) => Outcome::Retry {
                    after_ms: backoff_ms(me.config.callback_base_backoff_ms, job.attempts),
                    error: e.to_string(),
                },
            }
        })
    }
}
