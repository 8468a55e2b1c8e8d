//! The workspace tool registry: every tool a model or an MCP client may call on
//! a workspace, with its name, description, JSON Schema input, the permission it needs and
//! its handler. A tool runs with the caller's access: the list a caller sees leaves out
//! what it may not do, and a call is checked again, so a viewer's agent cannot write.
//! Handlers go through the domain crates (`data`), which validate and keep their rules
//! (hidden fields, hooks); this crate adds no second copy of them.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use std::time::Duration;

use andibase_approvals::{Approvals, CreateApproval};
use andibase_common::{Clock, DomainError, Role};
use andibase_data::{
    Data, DefinitionCache, DeleteMany, Pipeline, QueryLog, QueryParams, RecordInput, SqlQuery,
    UpsertMany,
};
use andibase_identity::{Access, Permission, Resource};
use andibase_memory::{FormationInput, Memory, RecallInput};
use andibase_storage::Database;
use serde::Deserialize;
use serde_json::{json, Value};

mod resources;
mod web;
pub use resources::{resource_templates, ResourceInfo};
pub use web::{html_to_text, web_tools};

/// A tool as a model is offered it.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    pub name: Cow<'static, str>,
    pub description: Cow<'static, str>,
    /// JSON Schema of the input (an object).
    pub input_schema: Value,
    pub permission: Permission,
}

/// What a call gave: the answer as JSON text, or an error the model can read and correct.
#[derive(Clone, Debug, PartialEq)]
pub struct Called {
    pub text: String,
    pub is_error: bool,
}

impl Called {
    pub fn ok(v: Value) -> Called {
        Called {
            text: v.to_string(),
            is_error: false,
        }
    }

    pub fn error(message: impl Into<String>) -> Called {
        Called {
            text: json!({"error": message.into()}).to_string(),
            is_error: true,
        }
    }
}

/// Which kind of caller has a built-in tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    /// Agents with `objectsAccess` (every MCP client).
    Data,
    /// Callers who ask as an agent.
    Approvals,
    /// Memory and KIP.
    Memory,
    /// Session logging (MCP clients).
    Sessions,
    /// `web_fetch`, for agents with `webAccess`.
    Web,
}

/// Every built-in tool with its group, made once: a call should not rebuild every tool's
/// JSON Schema to find one.
fn built_ins() -> &'static [(Group, ToolSpec)] {
    static ALL: std::sync::LazyLock<Vec<(Group, ToolSpec)>> = std::sync::LazyLock::new(|| {
        let tag = |group: Group, specs: Vec<ToolSpec>| specs.into_iter().map(move |s| (group, s));
        tag(Group::Data, data_tools())
            .chain(tag(Group::Approvals, approval_tools()))
            .chain(tag(Group::Memory, memory_tools()))
            .chain(tag(Group::Memory, kip_tools()))
            .chain(tag(Group::Sessions, session_tools()))
            .chain(tag(Group::Web, web_tools()))
            .collect()
    });
    &ALL
}

/// A built-in tool by name.
fn built_in(name: &str) -> Option<&'static ToolSpec> {
    built_ins().iter().map(|(_, t)| t).find(|t| t.name == name)
}

/// The answer of `workspace_access_unavailable`, the one tool of a chat without a workspace.
pub const NO_WORKSPACE: &str = "workspace_access_unavailable";

/// One caller's tools on one workspace. It owns what it needs, so it can be moved to the
/// blocking thread a tool loop runs on.
#[derive(Clone)]
pub struct WorkspaceTools {
    pub db: Database,
    pub workspace_handle: String,
    pub hooks: Arc<Pipeline>,
    pub definitions: Arc<dyn DefinitionCache>,
    pub usage: Arc<QueryLog>,
    /// The caller's access and role: what the tools may do for them.
    pub access: Access,
    pub role: Role,
    /// Who the writes are recorded as (`agent:<id>`, `key:<id>`…).
    pub actor: String,
    pub clock: Clock,
    /// Approvals, when the caller acts as an agent that may ask a human.
    pub approvals: Option<ApprovalTools>,
    /// The memory service, for the workspace's memory spaces.
    pub memory: Option<Arc<Memory>>,
    /// The workspace's id (whose memory spaces the memory tools reach, and no others).
    pub workspace_id: String,
    /// `web_fetch`, under this outbound policy, when the agent has `webAccess`.
    pub web: Option<andibase_outbound::Policy>,
    /// Tools of remote servers the agent is linked to (MCP servers, by credential).
    pub remote: Vec<Arc<dyn RemoteTools>>,
    /// The session tools, with where session pages are (MCP clients log their work; a
    /// chat's session is kept for it).
    pub sessions: Option<Arc<dyn andibase_common::Links>>,
}

/// A future a remote tool call gives.
pub type Calling<'a> = Pin<Box<dyn Future<Output = Called> + Send + 'a>>;

/// Tools that live elsewhere: a remote MCP server the agent reaches through a workspace
/// credential. Listed once when connected; each named as the model sees it.
pub trait RemoteTools: Send + Sync {
    /// The tools, with names unique across the caller's tools.
    fn specs(&self) -> Vec<ToolSpec>;
    /// Calls one of [`RemoteTools::specs`]; errors come back as tool errors.
    fn call<'a>(&'a self, name: &'a str, input: Value) -> Calling<'a>;
}

/// How often a wait for a decision reports progress, when someone listens.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What the approval tools need: the service, and who asks.
#[derive(Clone)]
pub struct ApprovalTools {
    pub service: Arc<Approvals>,
    pub workspace_id: String,
    pub workspace_handle: String,
    /// The agent the approvals are the requests of.
    pub agent_id: String,
    pub key_id: Option<String>,
    /// The workspace's members, to notify.
    pub members: Vec<String>,
    /// How long `request_human_approval` waits for the decision (within a turn's budget).
    pub wait: Duration,
    /// Told how long it has waited, every 10 s of a wait (MCP progress notifications).
    pub progress: Option<Arc<dyn Fn(Duration) + Send + Sync>>,
}

pub(crate) fn schema(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// The approval tools, as FinalSay's MCP server names them.
pub fn approval_tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "request_human_approval".into(),
            description: Cow::Borrowed("Asks a human of the workspace to decide, and waits for the decision: the approval with its `status` (`selected_option`, `expired`…) and the chosen option. Give a clear question, Markdown context, and 1-10 options."),
            input_schema: schema(
                json!({
                    "question": {"type": "string", "maxLength": 1000},
                    "context_markdown": {"type": "string"},
                    "options": {"type": "array", "minItems": 1, "maxItems": 10, "items": {"type": "object", "properties": {"label": {"type": "string"}, "value": {"type": "string"}}, "required": ["label", "value"]}}
                }),
                &["question", "context_markdown", "options"],
            ),
            permission: Resource::Approvals.write(),
        },
        ToolSpec {
            name: "get_approval_result".into(),
            description: Cow::Borrowed("The current state of an approval this agent asked for, by its request_id."),
            input_schema: schema(json!({"request_id": {"type": "string"}}), &["request_id"]),
            permission: Resource::Approvals.read(),
        },
    ]
}

/// The memory tools: recall from, and remember into, one of the workspace's memory spaces.
pub fn memory_tools() -> Vec<ToolSpec> {
    let space = json!({"type": "string", "description": "The memory space's id (one of this workspace's)."});
    vec![
        ToolSpec {
            name: "recall_memory".into(),
            description: Cow::Borrowed("Answers a question from a memory space: what was said before, about whom, when."),
            input_schema: schema(json!({"space_id": space, "query": {"type": "string"}}), &["space_id", "query"]),
            permission: Resource::Memory.read(),
        },
        ToolSpec {
            name: "remember".into(),
            description: Cow::Borrowed("Stores text in a memory space to be formed into long-term memory (asynchronously); answers the conversation's id."),
            input_schema: schema(json!({"space_id": space, "text": {"type": "string"}}), &["space_id", "text"]),
            permission: Resource::Memory.write(),
        },
    ]
}

/// KIP on one of the workspace's memory spaces: read-only, and (for callers who may write
/// memory) KML.
pub fn kip_tools() -> Vec<ToolSpec> {
    let properties = json!({
        "space_id": {"type": "string", "description": "The memory space's id (one of this workspace's)."},
        "command": {"type": "string", "description": "One KIP command: `FIND(?p) WHERE { ?p {type: \"Person\"} } LIMIT 5`, `DESCRIBE PRIMER`."},
        "parameters": {"type": "object", "description": "Values for `:name` placeholders."}
    });
    vec![
        ToolSpec {
            name: "execute_kip_readonly".into(),
            description: Cow::Borrowed("Runs a KIP query (KQL or META) on a memory space's knowledge graph; KML is refused. Answers the KIP envelope {result} or {error}."),
            input_schema: schema(properties.clone(), &["space_id", "command"]),
            permission: Resource::Memory.read(),
        },
        ToolSpec {
            name: "execute_kip".into(),
            description: Cow::Borrowed("Runs a KIP command on a memory space's knowledge graph, KML (UPSERT, DELETE) included, within the space's tier allowance."),
            input_schema: schema(properties, &["space_id", "command"]),
            permission: Resource::Memory.write(),
        },
    ]
}

/// Session logging: an agent opens a session humans watch live, and logs to it.
pub fn session_tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "start_session".into(),
            description: Cow::Borrowed("Opens an agent work session and answers it with its `url`, a live page to share with the human; log progress to it with log_session_event."),
            input_schema: schema(json!({"title": {"type": "string", "maxLength": 200}, "message": {"type": "string"}}), &[]),
            permission: Resource::SessionEvents.write(),
        },
        ToolSpec {
            name: "log_session_event".into(),
            description: Cow::Borrowed("Adds an event (`type` such as agent.update, a JSON `body`) to a session's live timeline."),
            input_schema: schema(json!({"session_id": {"type": "string"}, "type": {"type": "string", "maxLength": 100}, "body": {}}), &["session_id", "type"]),
            permission: Resource::SessionEvents.write(),
        },
    ]
}

/// Every data tool, as seed 001's agents name them.
pub fn data_tools() -> Vec<ToolSpec> {
    let definition =
        json!({"type": "string", "description": "The data definition's handle or id."});
    let query = json!({
        "definition": definition,
        "filter": {"type": "string", "description": "A filter: `status = \"open\" && amount > 100`."},
        "sort": {"type": "string", "description": "Comma-separated keys, `-` for descending."},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
        "cursor": {"type": "string", "description": "`nextCursor` of the previous page."},
        "search": {"type": "string", "description": "Full-text search over text fields."}
    });
    let records = json!({"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "attributes": {"type": "object"}}}});
    vec![
        ToolSpec {
            name: "get_data_definitions".into(),
            description: Cow::Borrowed("Lists the workspace's data definitions: {handle, name, description} each, or with includeFields the full definitions with their fields."),
            input_schema: schema(json!({"includeFields": {"type": "boolean"}}), &[]),
            permission: Resource::Data.read(),
        },
        ToolSpec {
            name: "list_data_records".into(),
            description: Cow::Borrowed("Lists records of a data definition, filtered, sorted and paged."),
            input_schema: schema(query.clone(), &["definition"]),
            permission: Resource::Data.read(),
        },
        ToolSpec {
            name: "query_data_records".into(),
            description: Cow::Borrowed("Queries records of a data definition (the same surface as list_data_records)."),
            input_schema: schema(query, &["definition"]),
            permission: Resource::Data.read(),
        },
        ToolSpec {
            name: "run_sql_query".into(),
            description: Cow::Borrowed("Runs one read-only SQL statement (SQLite) over the workspace's data definitions, each a table named by its handle holding its live records: `SELECT status, count(*) FROM orders GROUP BY 1`. Writes are refused; at most 2 s and `limit` rows."),
            input_schema: schema(
                json!({
                    "sql": {"type": "string"},
                    "params": {"type": "array", "description": "Values for `?` placeholders."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 10000}
                }),
                &["sql"],
            ),
            permission: Resource::Data.read(),
        },
        ToolSpec {
            name: "create_data_records".into(),
            description: Cow::Borrowed("Creates one or many records in a data definition; answers their ids."),
            input_schema: schema(json!({"definition": definition, "records": records}), &["definition", "records"]),
            permission: Resource::Data.write(),
        },
        ToolSpec {
            name: "update_data_records".into(),
            description: Cow::Borrowed("Updates records by id: each record's given attributes change, the rest stay."),
            input_schema: schema(json!({"definition": definition, "records": records}), &["definition", "records"]),
            permission: Resource::Data.write(),
        },
        ToolSpec {
            name: "delete_data_records".into(),
            description: Cow::Borrowed("Soft-deletes records by id (they can be restored)."),
            input_schema: schema(json!({"definition": definition, "ids": {"type": "array", "minItems": 1, "items": {"type": "string"}}}), &["definition", "ids"]),
            permission: Resource::Data.write(),
        },
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Definitions {
    #[serde(default, rename = "includeFields")]
    include_fields: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    definition: String,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    search: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Records {
    definition: String,
    records: Vec<RecordInput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ids {
    definition: String,
    ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoryInput {
    space_id: String,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KipInput {
    space_id: String,
    command: String,
    #[serde(default)]
    parameters: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionInput {
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    body: Value,
}

impl WorkspaceTools {
    /// One of this workspace's memory spaces (another workspace's is "not found").
    async fn own_space(&self, id: &str) -> Result<(&Memory, andibase_memory::Space), DomainError> {
        let memory = self
            .memory
            .as_deref()
            .ok_or_else(|| DomainError::Internal("no memory service".into()))?;
        let space = memory.space(id).await?;
        if space.workspace_id != self.workspace_id {
            return Err(DomainError::NotFound);
        }
        Ok((memory, space))
    }

    async fn kip_call(&self, name: &str, input: KipInput) -> Result<Value, DomainError> {
        let (memory, space) = self.own_space(&input.space_id).await?;
        let request =
            json!({"command": input.command, "parameters": input.parameters.unwrap_or(json!({}))});
        let envelope = if name == "execute_kip" {
            memory.execute_kip(&space, request).await?
        } else {
            memory.execute_kip_readonly(&space, request).await?
        };
        // A KIP error is the tool's error, with the engine's code and message.
        match envelope.get("error") {
            Some(e) => Err(DomainError::invalid("command", e.to_string())),
            None => Ok(envelope),
        }
    }

    async fn session_call(&self, name: &str, input: SessionInput) -> Result<Value, DomainError> {
        let links = self
            .sessions
            .as_deref()
            .ok_or_else(|| DomainError::Internal("no session pages".into()))?;
        let sessions = andibase_sessions::Sessions {
            db: &self.db,
            workspace_handle: &self.workspace_handle,
            links,
        };
        if name == "start_session" {
            let made = sessions
                .create(
                    andibase_sessions::NewSession {
                        title: input.title,
                        message: input.message,
                    },
                    Some(&self.actor),
                    self.clock.now(),
                )
                .await?;
            return Ok(json!(made));
        }
        let session = input
            .session_id
            .ok_or_else(|| DomainError::invalid("session_id", "is required"))?;
        let event = sessions
            .post_event(
                &session,
                andibase_sessions::NewEvent {
                    kind: input.kind.unwrap_or_default(),
                    body: input.body,
                },
                self.clock.now(),
            )
            .await?;
        Ok(json!(event))
    }

    /// Recalls from or remembers into a memory space of this workspace; another
    /// workspace's space is "not found", as over HTTP.
    async fn memory_call(&self, name: &str, input: MemoryInput) -> Result<Value, DomainError> {
        let (memory, space) = self.own_space(&input.space_id).await?;
        if name == "recall_memory" {
            let query = input.query.unwrap_or_default();
            let recall: RecallInput = serde_json::from_value(json!({"query": query}))
                .map_err(|e| DomainError::Internal(e.to_string()))?;
            memory.recall(&space, recall, &self.actor).await
        } else {
            let text = input.text.unwrap_or_default();
            let formation: FormationInput = serde_json::from_value(json!({
                "messages": [{"role": "user", "content": text}],
                "timestamp": self.clock.now().to_iso(),
            }))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
            memory.formation(&space, formation, &self.actor).await
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalId {
    request_id: String,
}

impl ApprovalTools {
    /// Creates the approval and waits (up to `wait`) for its decision.
    async fn ask_and_wait(&self, ask: CreateApproval) -> Result<Value, DomainError> {
        let (approval, _) = self
            .service
            .create(
                &self.workspace_id,
                &self.workspace_handle,
                &self.agent_id,
                self.key_id.as_deref(),
                ask,
                self.members.clone(),
            )
            .await?;
        let deadline = std::time::Instant::now() + self.wait;
        // A listener hears at once that the wait began.
        if let Some(tell) = &self.progress {
            tell(Duration::ZERO);
        }
        let mut current = approval;
        while current.is_pending() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            current = self
                .service
                .wait_for_result(
                    &self.workspace_id,
                    &current.request_id,
                    left.min(match self.progress {
                        Some(_) => PROGRESS_EVERY,
                        None => Duration::from_secs(60),
                    }),
                )
                .await?;
            if let (Some(tell), true) = (&self.progress, current.is_pending()) {
                tell(self.wait - deadline.saturating_duration_since(std::time::Instant::now()));
            }
        }
        Ok(current.record_json(false))
    }

    /// An approval of this agent's, as it is now.
    async fn result(&self, request_id: &str) -> Result<Value, DomainError> {
        let a = self.service.get(&self.workspace_id, request_id).await?;
        if a.agent_id != self.agent_id {
            return Err(DomainError::NotFound);
        }
        Ok(a.record_json(false))
    }
}

/// A domain error as the model reads it: the message and each issue's path.
fn explain(e: DomainError) -> Called {
    match e {
        DomainError::Invalid { message, issues } => Called {
            text: json!({"error": message, "issues": issues.iter().map(|i| json!({"path": i.path, "message": i.message})).collect::<Vec<_>>()}).to_string(),
            is_error: true,
        },
        DomainError::NotFound => Called::error("not found"),
        DomainError::Internal(_) => Called::error("the tool failed inside the server"),
        other => Called::error(other.to_string()),
    }
}

impl WorkspaceTools {
    /// The tools this caller may use (`objects_access`: the agent may touch records).
    pub fn available(&self, objects_access: bool) -> Vec<ToolSpec> {
        self.all(objects_access)
            .into_iter()
            .filter(|t| self.access.allows(t.permission))
            .collect()
    }

    /// A short description of the workspace's data for a model's context: each definition's
    /// handle, name, description and field keys (at most 50 definitions, 30 fields each).
    /// `None` when the caller may not read data or there is none.
    pub async fn data_summary(&self) -> Option<String> {
        if !self.access.allows(Resource::Data.read()) {
            return None;
        }
        let defs = self.data().list_definitions().await.ok()?;
        if defs.is_empty() {
            return None;
        }
        let lines: Vec<String> = defs
            .iter()
            .take(50)
            .map(|d| {
                let fields: Vec<&str> = d.fields.keys().take(30).map(String::as_str).collect();
                format!(
                    "- `{}` ({}){}: fields {}",
                    d.handle,
                    d.name,
                    d.description
                        .as_deref()
                        .map(|t| format!(", {t}"))
                        .unwrap_or_default(),
                    fields.join(", ")
                )
            })
            .collect();
        Some(format!(
            "## The workspace's data definitions\n{}",
            lines.join("\n")
        ))
    }

    /// The tools this kind of caller has, before permissions.
    fn all(&self, objects_access: bool) -> Vec<ToolSpec> {
        let mut tools: Vec<ToolSpec> = built_ins()
            .iter()
            .filter(|(group, _)| self.has(*group, objects_access))
            .map(|(_, spec)| spec.clone())
            .collect();
        for r in &self.remote {
            tools.extend(r.specs());
        }
        tools
    }

    /// Whether this kind of caller has a group of built-in tools.
    fn has(&self, group: Group, objects_access: bool) -> bool {
        match group {
            Group::Data => objects_access,
            Group::Approvals => self.approvals.is_some(),
            Group::Memory => self.memory.is_some(),
            Group::Sessions => self.sessions.is_some(),
            Group::Web => self.web.is_some(),
        }
    }

    /// The permission tool `name` needs, if this caller has it and may use it: what
    /// [`WorkspaceTools::available`] would list, for one name, without building the list.
    pub fn offers(&self, name: &str, objects_access: bool) -> Option<Permission> {
        let permission = match built_ins().iter().find(|(_, t)| t.name == name) {
            Some((group, spec)) => self.has(*group, objects_access).then_some(spec.permission),
            None => self
                .remote
                .iter()
                .flat_map(|r| r.specs())
                .find(|t| t.name == name)
                .map(|t| t.permission),
        }?;
        self.access.allows(permission).then_some(permission)
    }

    fn data(&self) -> Data<'_> {
        Data {
            db: &self.db,
            workspace_handle: &self.workspace_handle,
            hooks: &self.hooks,
            role: self.role,
            definitions: &self.definitions,
            usage: &self.usage,
        }
    }

    /// Runs tool `name` with `input`, after checking the caller may.
    pub async fn call(&self, name: &str, input: Value) -> Called {
        let remote = self
            .remote
            .iter()
            .find(|r| r.specs().iter().any(|t| t.name == name));
        let permission = match remote {
            Some(r) => r
                .specs()
                .into_iter()
                .find(|t| t.name == name)
                .map(|t| t.permission),
            None => built_in(name).map(|t| t.permission),
        };
        let Some(permission) = permission else {
            return Called::error(format!("there is no tool named `{name}`"));
        };
        if !self.access.allows(permission) {
            return Called::error(format!(
                "this agent acts for a caller without `{}`; it cannot use {name}",
                permission
            ));
        }
        if let Some(r) = remote {
            return r.call(name, input).await;
        }
        fn parse<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, Called> {
            serde_json::from_value(input).map_err(|e| {
                Called::error(format!("the input does not match the tool's schema: {e}"))
            })
        }
        let now = self.clock.now();
        let d = self.data();
        let result = match name {
            "get_data_definitions" => match parse::<Definitions>(input) {
                Ok(q) => d.list_definitions().await.map(|defs| {
                    if q.include_fields {
                        json!(defs)
                    } else {
                        json!(defs
                            .iter()
                            .map(|d| json!({"handle": d.handle, "name": d.name, "description": d.description}))
                            .collect::<Vec<_>>())
                    }
                }),
                Err(c) => return c,
            },
            "list_data_records" | "query_data_records" => match parse::<Query>(input) {
                Ok(q) => {
                    let params = QueryParams {
                        filter: q.filter,
                        sort: q.sort,
                        limit: Some(q.limit.unwrap_or(20).clamp(1, 100)),
                        cursor: q.cursor,
                        search: q.search,
                        ..QueryParams::default()
                    };
                    d.query(&q.definition, params).await.map(|page| json!(page))
                }
                Err(c) => return c,
            },
            "create_data_records" | "update_data_records" => match parse::<Records>(input) {
                Ok(r) => {
                    let mode = if name == "create_data_records" {
                        andibase_data::UpsertMode::Insert
                    } else {
                        andibase_data::UpsertMode::Update
                    };
                    d.upsert_many(
                        &r.definition,
                        UpsertMany {
                            records: r.records,
                            match_on: None,
                            mode,
                        },
                        &self.actor,
                        now,
                    )
                    .await
                    .map(|out| json!(out))
                }
                Err(c) => return c,
            },
            "run_sql_query" => match parse::<SqlQuery>(input) {
                Ok(q) => d
                    .sql_query(q, Data::SQL_TIME_LIMIT)
                    .await
                    .map(|r| json!(r)),
                Err(c) => return c,
            },
            "request_human_approval" | "get_approval_result" => {
                let Some(a) = &self.approvals else {
                    return Called::error("this caller cannot ask for approvals");
                };
                if name == "request_human_approval" {
                    match parse::<CreateApproval>(input) {
                        Ok(ask) => a.ask_and_wait(ask).await,
                        Err(c) => return c,
                    }
                } else {
                    match parse::<ApprovalId>(input) {
                        Ok(q) => a.result(&q.request_id).await,
                        Err(c) => return c,
                    }
                }
            }
            "recall_memory" | "remember" => match parse::<MemoryInput>(input) {
                Ok(m) => self.memory_call(name, m).await,
                Err(c) => return c,
            },
            "web_fetch" => {
                let Some(policy) = self.web else {
                    return Called::error("this agent has no web access (`webAccess` is off)");
                };
                return match parse::<web::Fetch>(input) {
                    Ok(f) => match web::fetch(f, policy).await {
                        Ok(v) => Called::ok(v),
                        Err(e) => Called::error(e),
                    },
                    Err(c) => c,
                };
            }
            "execute_kip_readonly" | "execute_kip" => match parse::<KipInput>(input) {
                Ok(k) => self.kip_call(name, k).await,
                Err(c) => return c,
            },
            "start_session" | "log_session_event" => match parse::<SessionInput>(input) {
                Ok(i) => self.session_call(name, i).await,
                Err(c) => return c,
            },
            "delete_data_records" => match parse::<Ids>(input) {
                Ok(r) => d
                    .delete_many(
                        &r.definition,
                        DeleteMany {
                            ids: Some(r.ids),
                            filter: None,
                            purge: false,
                            restore: false,
                        },
                        &self.actor,
                        now,
                    )
                    .await,
                Err(c) => return c,
            },
            _ => return Called::error(format!("there is no tool named `{name}`")),
        };
        match result {
            Ok(v) => Called::ok(v),
            Err(e) => explain(e),
        }
    }
}
