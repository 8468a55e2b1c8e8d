//! Agent chats (seed 001): a chat is created by its first message to a client-chosen
//! `chatId`; each message is stored with its `parts` as the wire carries them. Sending a
//! message stores the user's message first, in its own transaction, so a model that fails
//! loses nothing and the chat stays usable; the assistant's reply is stored after it,
//! with the tool calls the model made (`andibase_tools`, inside the caller's access) and
//! their results as parts before its text.

use std::sync::Arc;

use andibase_common::{id, DomainError, DomainResult, FieldIssue, Timestamp};
use andibase_llm as llm;
use andibase_storage::{params, Database, Row, Sql};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use andibase_tools::WorkspaceTools;

use crate::credentials::{CredentialKind, Opened};
use crate::skills::Skill;
use crate::Agent;

const MAX_TEXT: usize = 100_000;
const MAX_ATTACHMENTS: usize = 10;
const MAX_CHAT_ID: usize = 128;
/// A chat's title: its first message's first characters.
const TITLE_CHARS: usize = 80;

/// Seed 001's `AgentChatSummary`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatSummary {
    pub chat_id: String,
    pub title: String,
    pub n_messages: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub first_message_at: Option<Timestamp>,
    pub last_message_at: Option<Timestamp>,
    /// The agent session the chat's tool calls are logged to, once it made one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// Seed 001's `AgentChatMessage`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: String,
    pub message_id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// `client` for what was sent, `model` for replies.
    pub source: String,
    /// `{parts: [{type: "text", text} | {type: "file", mediaType, filename?, url}]}`.
    #[schema(value_type = Object)]
    pub message: Value,
    pub created_at: Timestamp,
    /// A reply's token usage: `{inputTokens, outputTokens, cachedTokens, requests}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
}

/// A chat and its messages (`GET …/chats/{chatId}`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    pub chat_id: String,
    pub messages: Vec<ChatMessage>,
}

/// Seed 001's `MessageAttachmentInput`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attachment {
    pub media_type: String,
    #[serde(default)]
    pub filename: Option<String>,
    /// A `data:` URL.
    pub url: String,
}

/// Seed 001's `SendAgentMessageInput`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendMessage {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// What sending a message answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    pub chat_id: String,
    pub user_message: ChatMessage,
    pub assistant_message: ChatMessage,
}

/// What a streamed turn reports as it goes (`POST …/messages` with `Accept:
/// text/event-stream`); the event name is `type`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ChatEvent {
    /// The user's message, stored.
    UserMessage { message: ChatMessage },
    /// A piece of the reply's text.
    TextDelta { text: String },
    #[serde(rename_all = "camelCase")]
    ToolCall {
        tool_call_id: String,
        tool_name: String,
        input: Value,
    },
    #[serde(rename_all = "camelCase")]
    ToolResult {
        tool_call_id: String,
        output: Value,
        is_error: bool,
    },
    /// The end: what the plain answer would have been.
    Message(Sent),
    /// The end, failed: the error's code and message (the user's message stays stored).
    Error { code: String, message: String },
}

impl ChatEvent {
    /// The event's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            ChatEvent::UserMessage { .. } => "user-message",
            ChatEvent::TextDelta { .. } => "text-delta",
            ChatEvent::ToolCall { .. } => "tool-call",
            ChatEvent::ToolResult { .. } => "tool-result",
            ChatEvent::Message(_) => "message",
            ChatEvent::Error { .. } => "error",
        }
    }
}

/// Where a streamed turn's events go.
pub type Events = tokio::sync::mpsc::UnboundedSender<ChatEvent>;

/// Checks a message and its chat id before anything is stored or streamed.
pub fn check(chat_id: &str, input: &SendMessage) -> DomainResult<()> {
    if !valid_chat_id(chat_id) {
        return Err(DomainError::from_issues(vec![FieldIssue::at(
            ["chatId"],
            format!("must be 1 to {MAX_CHAT_ID} letters, digits, _, -, . or :"),
        )]));
    }
    input.parts().map(|_| ())
}

/// Whether `id` can name a chat: 1 to 128 letters, digits, `_`, `-`, `.`, `:`.
fn valid_chat_id(id: &str) -> bool {
    (1..=MAX_CHAT_ID).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

impl SendMessage {
    /// The message's parts, after checking it.
    fn parts(&self) -> DomainResult<Vec<Value>> {
        let text = self.text.as_deref().map(str::trim).unwrap_or("");
        if text.is_empty() && self.attachments.is_empty() {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["text"],
                "a message needs text or attachments",
            )]));
        }
        if text.chars().count() > MAX_TEXT {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["text"],
                format!("must be at most {MAX_TEXT} characters"),
            )]));
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(DomainError::from_issues(vec![FieldIssue::at(
                ["attachments"],
                format!("holds at most {MAX_ATTACHMENTS} files"),
            )]));
        }
        let mut parts = Vec::new();
        if !text.is_empty() {
            parts.push(json!({"type": "text", "text": text}));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            let at = |field: &str, message: &str| {
                DomainError::from_issues(vec![FieldIssue::at(
                    vec![json!("attachments"), json!(i), json!(field)],
                    message,
                )])
            };
            if a.media_type.trim().is_empty() || a.media_type.len() > 200 {
                return Err(at("mediaType", "must be 1 to 200 characters"));
            }
            if !a.url.starts_with("data:") || a.url.len() > 20 << 20 {
                return Err(at(
                    "url",
                    "must be a data: URL of at most 20 MiB (workspace files come with the files issue)",
                ));
            }
            let mut part = json!({"type": "file", "mediaType": a.media_type, "url": a.url});
            if let Some(name) = a.filename.as_deref().filter(|n| !n.trim().is_empty()) {
                part["filename"] = json!(name);
            }
            parts.push(part);
        }
        Ok(parts)
    }
}

const MESSAGE_COLUMNS: &str = "id, message_id, role, source, message, created_at, usage";

fn message_from_row(r: &Row) -> DomainResult<ChatMessage> {
    Ok(ChatMessage {
        id: r.text(0)?,
        message_id: r.text(1)?,
        role: r.text(2)?,
        source: r.text(3)?,
        message: serde_json::from_str(&r.text(4)?).unwrap_or(Value::Null),
        created_at: Timestamp(r.int(5)?),
        usage: r
            .opt_text(6)?
            .and_then(|u| serde_json::from_str::<Value>(&u).ok())
            .filter(|u| u.as_object().is_some_and(|o| !o.is_empty())),
    })
}

/// The text a stored message gives the model: its text parts, and a line per file.
fn model_text(message: &Value) -> String {
    message["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| match p["type"].as_str() {
            Some("text") => Some(p["text"].as_str().unwrap_or("").to_string()),
            Some("file") => Some(format!(
                "[attached file: {} ({})]",
                p["filename"].as_str().unwrap_or("unnamed"),
                p["mediaType"].as_str().unwrap_or("unknown type")
            )),
            // Tool calls and results stay in the transcript, not in the next prompt.
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Characters of one text attachment the model reads, at most.
const MAX_ATTACHED_TEXT: usize = 50_000;

/// A `data:` URL's bytes.
fn data_url_bytes(url: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let (head, data) = url.strip_prefix("data:")?.split_once(',')?;
    if head.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .ok()
    } else {
        Some(andibase_common::percent::decode(data, false))
    }
}

/// Whether a media type is text the model can read inline.
fn is_text(media_type: &str) -> bool {
    let m = media_type.to_ascii_lowercase();
    m.starts_with("text/")
        || ["json", "xml", "yaml", "csv", "javascript", "x-sh", "toml"]
            .iter()
            .any(|t| m.contains(t))
}

/// A stored message as the model reads it: text parts; text attachments inline (up to
/// 50,000 characters each); images as images when `images` (the latest message), else
/// a line naming the file, as for other files.
fn model_message(m: &ChatMessage, images: bool) -> llm::Message {
    let mut text = Vec::new();
    let mut attached = Vec::new();
    for p in m.message["parts"].as_array().into_iter().flatten() {
        match p["type"].as_str() {
            Some("text") => text.push(p["text"].as_str().unwrap_or("").to_string()),
            Some("file") => {
                let (media, name) = (
                    p["mediaType"].as_str().unwrap_or("unknown type"),
                    p["filename"].as_str().unwrap_or("unnamed"),
                );
                let url = p["url"].as_str().unwrap_or("");
                // Decoded only when read as text (an image can be 20 MiB).
                let text_bytes = is_text(media).then(|| data_url_bytes(url)).flatten();
                match text_bytes {
                    Some(b) => {
                        let body: String = String::from_utf8_lossy(&b)
                            .chars()
                            .take(MAX_ATTACHED_TEXT)
                            .collect();
                        text.push(format!("[attached file: {name} ({media})]\n{body}"));
                    }
                    None if images
                        && matches!(
                            media,
                            "image/png" | "image/jpeg" | "image/gif" | "image/webp"
                        )
                        && url.contains(";base64,") =>
                    {
                        text.push(format!("[attached image: {name} ({media})]"));
                        attached.push(llm::Image {
                            media_type: media.to_string(),
                            data: url
                                .split_once(";base64,")
                                .map_or("", |(_, d)| d)
                                .trim()
                                .to_string(),
                        });
                    }
                    _ => text.push(format!("[attached file: {name} ({media})]")),
                }
            }
            _ => {}
        }
    }
    let mut message = match m.role.as_str() {
        "assistant" => llm::Message::assistant(text.join("\n"), Vec::new()),
        _ => llm::Message::user(text.join("\n")),
    };
    message.images = attached;
    message
}

/// What a turn works with besides the message: the model providers, the workspace's tools
/// as far as the caller may use them, where streamed events go, and what the agent is
/// given in its workspace (its skills and linked credentials).
pub struct Turn {
    pub providers: Arc<llm::Providers>,
    pub tools: Option<WorkspaceTools>,
    pub events: Option<Events>,
    pub skills: Vec<Skill>,
    pub credentials: Vec<Opened>,
    /// Where credentials' servers may be (the operator's outbound policy).
    pub outbound: andibase_outbound::Policy,
    /// The workspace's handle and the console's links: each chat's tool calls are logged
    /// as events of an agent session (made at its first tool call), which humans watch.
    pub session_links: Option<(String, Arc<dyn andibase_common::Links>)>,
}

/// Logs a chat's tool calls as events of its session (`tool.call`).
struct ToolLog {
    db: Database,
    agent_id: String,
    title: String,
    chat_id: String,
    workspace_handle: String,
    links: Arc<dyn andibase_common::Links>,
    clock: andibase_common::Clock,
    session: Option<String>,
}

/// At most this much of a tool's input and output goes in its session event.
const LOGGED_CHARS: usize = 8_000;

fn clipped(v: &Value) -> Value {
    let text = v.to_string();
    if text.len() <= LOGGED_CHARS {
        return v.clone();
    }
    Value::String(format!(
        "{}…",
        text.chars().take(LOGGED_CHARS).collect::<String>()
    ))
}

impl ToolLog {
    async fn session(&mut self) -> DomainResult<String> {
        if let Some(id) = &self.session {
            return Ok(id.clone());
        }
        let (agent, chat) = (self.agent_id.clone(), self.chat_id.clone());
        let known = self
            .db
            .read(move |r| {
                r.query_one(
                    "SELECT session_id FROM agent_chats WHERE agent_id = ? AND chat_id = ?",
                    &params![agent, chat],
                )?
                .map_or(Ok(None), |r| r.opt_text(0))
            })
            .await?;
        let id = match known {
            Some(id) => id,
            None => {
                let sessions = andibase_sessions::Sessions {
                    db: &self.db,
                    workspace_handle: &self.workspace_handle,
                    links: &*self.links,
                };
                let made = sessions
                    .create(
                        andibase_sessions::NewSession {
                            title: Some(self.title.clone()),
                            message: Some(format!("Tool calls of chat `{}`", self.chat_id)),
                        },
                        Some(&format!("agent:{}", self.agent_id)),
                        self.clock.now(),
                    )
                    .await?;
                let (agent, chat, id) =
                    (self.agent_id.clone(), self.chat_id.clone(), made.id.clone());
                self.db
                    .write(move |tx| {
                        tx.execute(
                            "UPDATE agent_chats SET session_id = ? WHERE agent_id = ? AND chat_id = ?",
                            &params![id, agent, chat],
                        )
                        .map(|_| ())
                    })
                    .await?;
                made.id
            }
        };
        self.session = Some(id.clone());
        Ok(id)
    }

    async fn tool_call(&mut self, call: &llm::ToolCall, out: &llm::ToolOutput) -> DomainResult<()> {
        let session = self.session().await?;
        let output: Value =
            serde_json::from_str(&out.text).unwrap_or(Value::String(out.text.clone()));
        andibase_sessions::Sessions {
            db: &self.db,
            workspace_handle: &self.workspace_handle,
            links: &*self.links,
        }
        .post_event(
            &session,
            andibase_sessions::NewEvent {
                kind: "tool.call".into(),
                body: json!({
                    "chatId": self.chat_id,
                    "toolCallId": call.id,
                    "toolName": call.name,
                    "input": clipped(&call.arguments),
                    "output": clipped(&output),
                    "isError": out.is_error,
                }),
            },
            self.clock.now(),
        )
        .await
        .map(|_| ())
    }
}

/// A chat's title from its first message: its first characters, or "New chat".
fn title_of(m: &ChatMessage) -> String {
    let t = model_text(&m.message)
        .chars()
        .take(TITLE_CHARS)
        .collect::<String>()
        .trim()
        .to_string();
    if t.is_empty() {
        "New chat".into()
    } else {
        t
    }
}

/// The chats of one agent, over its workspace's database.
pub struct Chats<'a> {
    pub db: &'a Database,
    pub agent: &'a Agent,
}

impl Chats<'_> {
    /// The agent's chats, most recently active first.
    pub async fn list(&self) -> DomainResult<Vec<ChatSummary>> {
        let agent = self.agent.id.clone();
        self.db
            .read(move |r| {
                r.query(
                    "SELECT chat_id, title, n_messages, created_at, updated_at, first_message_at, last_message_at, session_id \
                     FROM agent_chats WHERE agent_id = ? ORDER BY updated_at DESC, chat_id LIMIT 200",
                    &params![agent],
                )?
                .iter()
                .map(|r| {
                    Ok(ChatSummary {
                        chat_id: r.text(0)?,
                        title: r.text(1)?,
                        n_messages: r.int(2)?,
                        created_at: Timestamp(r.int(3)?),
                        updated_at: Timestamp(r.int(4)?),
                        first_message_at: r.opt_int(5)?.map(Timestamp),
                        last_message_at: r.opt_int(6)?.map(Timestamp),
                        session_id: r.opt_text(7)?,
                    })
                })
                .collect()
            })
            .await
    }

    /// A chat with all its messages, oldest first.
    pub async fn get(&self, chat_id: &str) -> DomainResult<Chat> {
        let (agent, chat) = (self.agent.id.clone(), chat_id.to_string());
        self.db
            .read(move |r| {
                if r.query_one(
                    "SELECT 1 FROM agent_chats WHERE agent_id = ? AND chat_id = ?",
                    &params![agent.clone(), chat.clone()],
                )?
                .is_none()
                {
                    return Err(DomainError::NotFound);
                }
                let messages = r
                    .query(
                        &format!("SELECT {MESSAGE_COLUMNS} FROM agent_chat_messages WHERE agent_id = ? AND chat_id = ? ORDER BY seq"),
                        &params![agent, chat.clone()],
                    )?
                    .iter()
                    .map(message_from_row)
                    .collect::<DomainResult<Vec<_>>>()?;
                Ok(Chat {
                    chat_id: chat,
                    messages,
                })
            })
            .await
    }

    /// Stores one message (making the chat if it is new); gives it as stored.
    async fn append(
        &self,
        chat_id: &str,
        role: &str,
        source: &str,
        message: Value,
        usage: Value,
        now: Timestamp,
    ) -> DomainResult<ChatMessage> {
        let stored = ChatMessage {
            id: id::uuid7(),
            message_id: id::prefixed(if role == "user" {
                "msg_user"
            } else {
                "msg_assistant"
            }),
            role: role.to_string(),
            source: source.to_string(),
            message,
            created_at: now,
            usage: Some(usage).filter(|u| u.as_object().is_some_and(|o| !o.is_empty())),
        };
        let (agent, chat, row) = (self.agent.id.clone(), chat_id.to_string(), stored.clone());
        let title = title_of(&stored);
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO agent_chats (agent_id, chat_id, title, n_messages, created_at, updated_at, first_message_at, last_message_at) \
                     VALUES (?, ?, ?, 0, ?, ?, ?, ?) ON CONFLICT (agent_id, chat_id) DO NOTHING",
                    &params![agent.clone(), chat.clone(), title, now, now, now, now],
                )?;
                let seq = tx
                    .query_one(
                        "SELECT n_messages FROM agent_chats WHERE agent_id = ? AND chat_id = ?",
                        &params![agent.clone(), chat.clone()],
                    )?
                    .map_or(Ok(0), |r| r.int(0))?;
                tx.execute(
                    &format!("INSERT INTO agent_chat_messages (agent_id, chat_id, seq, {MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    &params![
                        agent.clone(), chat.clone(), seq, row.id, row.message_id, row.role, row.source,
                        row.message.to_string(), now, row.usage.map_or_else(|| "{}".to_string(), |u| u.to_string())
                    ],
                )?;
                tx.execute(
                    "UPDATE agent_chats SET n_messages = n_messages + 1, updated_at = ?, last_message_at = ? WHERE agent_id = ? AND chat_id = ?",
                    &params![now, now, agent, chat],
                )?;
                Ok(())
            })
            .await?;
        Ok(stored)
    }

    /// Sends a user message and answers it with the agent's model: its `model` string
    /// (`provider/model`, where the provider may be a linked model credential's name),
    /// else the server's default. The user's message is stored before the model is
    /// called; a missing or failing model is a refusal after that.
    pub async fn send(
        &self,
        chat_id: &str,
        input: SendMessage,
        turn: Turn,
        now: impl Fn() -> Timestamp,
    ) -> DomainResult<Sent> {
        check(chat_id, &input)?;
        let parts = input.parts()?;
        let history = match self.get(chat_id).await {
            Ok(chat) => chat.messages,
            Err(DomainError::NotFound) => Vec::new(),
            Err(e) => return Err(e),
        };
        let user_message = self
            .append(
                chat_id,
                "user",
                "client",
                json!({"parts": parts}),
                json!({}),
                now(),
            )
            .await?;
        let Turn {
            providers,
            tools,
            events,
            skills,
            credentials,
            outbound,
            session_links,
        } = turn;
        let mut log = match (&tools, session_links) {
            (Some(t), Some((workspace_handle, links))) => Some(ToolLog {
                db: self.db.clone(),
                agent_id: self.agent.id.clone(),
                title: format!("{}: {}", self.agent.name, title_of(&user_message)),
                chat_id: chat_id.to_string(),
                workspace_handle,
                links,
                clock: t.clock.clone(),
                session: None,
            }),
            _ => None,
        };
        let streaming = events.is_some();
        let emit = move |e: ChatEvent| {
            if let Some(tx) = &events {
                let _ = tx.send(e);
            }
        };
        emit(ChatEvent::UserMessage {
            message: user_message.clone(),
        });
        let model = self.model(&providers, &credentials, outbound)?;
        // Remote MCP servers the agent is linked to: their tools join the workspace's. A
        // server that cannot be reached is left out, and the model is told why.
        let mut notes = Vec::new();
        let mut remote = Vec::new();
        let mut connecting = tokio::task::JoinSet::new();
        let servers = credentials
            .iter()
            .filter(|c| c.credential.kind == CredentialKind::McpServer);
        for (i, c) in servers.enumerate() {
            let name = c.credential.name.clone();
            if i >= MAX_MCP_SERVERS {
                notes.push(format!(
                    "- The MCP server `{name}` is left out: a turn connects to at most {MAX_MCP_SERVERS}"
                ));
                continue;
            }
            let (url, secret) = (
                c.credential.url.clone().unwrap_or_default(),
                c.secret.clone(),
            );
            // All at once: one slow server delays the turn by its timeout, not by the sum.
            connecting.spawn(async move {
                let connected = andibase_mcp::remote::RemoteServer::connect(
                    &url,
                    Some(&secret),
                    &name,
                    outbound,
                )
                .await;
                (name, connected)
            });
        }
        for (name, connected) in connecting.join_all().await {
            match connected {
                Ok(server) => remote.push(Arc::new(server)),
                Err(why) => notes.push(format!("- The MCP server `{name}` is unavailable: {why}")),
            }
        }
        let tools = tools.map(|mut t| {
            t.remote = remote
                .iter()
                .map(|r| r.clone() as Arc<dyn andibase_tools::RemoteTools>)
                .collect();
            t
        });
        // The workspace's tools, as far as the caller may use them and the agent may
        // touch records (`objectsAccess`).
        let specs = tools
            .as_ref()
            .map(|t| t.available(self.agent.capabilities.objects_access))
            .unwrap_or_default();
        let system = self.system_prompt(&tools, &skills, &notes).await;
        let mut offered: Vec<llm::Tool> = specs
            .iter()
            .map(|t| llm::Tool {
                name: t.name.to_string(),
                description: t.description.to_string(),
                parameters: t.input_schema.clone(),
            })
            .collect();
        if tools.is_none() {
            // A chat without a workspace has one tool, which says so (as the original
            // product names it), so a model that reaches for data learns why it cannot.
            offered.push(llm::Tool {
                name: andibase_tools::NO_WORKSPACE.into(),
                description: "Explains why workspace data, approvals and memory are unavailable in this chat.".into(),
                parameters: json!({"type": "object", "properties": {}}),
            });
        }
        let request = llm::Request {
            system,
            messages: trimmed(&history, &user_message, model.context_window),
            tools: offered,
            ..llm::Request::default()
        };
        // The loop blocks (the provider client does); tools are async, run on this runtime.
        let runtime = tokio::runtime::Handle::current();
        let run = tokio::task::spawn_blocking(move || {
            let mut call = |c: &llm::ToolCall| {
                let out = match &tools {
                    Some(t) => {
                        let out = runtime.block_on(t.call(&c.name, c.arguments.clone()));
                        llm::ToolOutput {
                            text: out.text,
                            is_error: out.is_error,
                        }
                    }
                    None => llm::ToolOutput::error(
                        json!({
                            "error": andibase_tools::NO_WORKSPACE,
                            "message": "This chat has no workspace: its data, approvals and memory cannot be reached from here.",
                        })
                        .to_string(),
                    ),
                };
                if let Some(log) = log.as_mut() {
                    if let Err(e) = runtime.block_on(log.tool_call(c, &out)) {
                        tracing::warn!(error = %e, "a chat's tool call was not logged to its session");
                    }
                }
                out
            };
            let limits = llm::Limits {
                stream: streaming,
                ..TURN_LIMITS
            };
            llm::run_tools(
                &model,
                request,
                limits,
                &mut call,
                &mut |e| match e {
                    llm::Event::Text(t) => emit(ChatEvent::TextDelta {
                        text: t.to_string(),
                    }),
                    llm::Event::ToolCall(c) => emit(ChatEvent::ToolCall {
                        tool_call_id: c.id.clone(),
                        tool_name: c.name.clone(),
                        input: c.arguments.clone(),
                    }),
                },
                &mut |c, out| {
                    emit(ChatEvent::ToolResult {
                        tool_call_id: c.id.clone(),
                        output: serde_json::from_str(&out.text)
                            .unwrap_or(Value::String(out.text.clone())),
                        is_error: out.is_error,
                    })
                },
            )
        })
        .await
        .map_err(|e| DomainError::Internal(e.to_string()));
        for server in remote {
            if let Ok(server) = Arc::try_unwrap(server) {
                server.close().await;
            }
        }
        let run = run?.map_err(DomainError::from)?;
        let usage = json!({
            "inputTokens": run.usage.input_tokens,
            "outputTokens": run.usage.output_tokens,
            "cachedTokens": run.usage.cached_tokens,
            "requests": run.usage.requests,
        });
        let assistant_message = self
            .append(
                chat_id,
                "assistant",
                "model",
                json!({"parts": reply_parts(&run)}),
                usage,
                now(),
            )
            .await?;
        Ok(Sent {
            chat_id: chat_id.to_string(),
            user_message,
            assistant_message,
        })
    }

    /// The agent's model: `provider/model` where the provider is a linked model
    /// credential's name (its own key and base URL, through the outbound guard) or a
    /// provider of the server; no model string means the server's default.
    fn model(
        &self,
        providers: &llm::Providers,
        credentials: &[Opened],
        outbound: andibase_outbound::Policy,
    ) -> DomainResult<llm::Model> {
        let wanted = self
            .agent
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let Some(wanted) = wanted else {
            return providers.default_model().map_err(DomainError::from);
        };
        let linked = wanted.split_once('/').and_then(|(provider, name)| {
            credentials
                .iter()
                .find(|c| {
                    c.credential.kind == CredentialKind::ModelProvider
                        && c.credential.name == provider
                })
                .map(|c| (c, name))
        });
        match linked {
            Some((c, name)) => {
                let endpoint = llm::Endpoint::byok(
                    c.credential.format.as_deref().unwrap_or("openai"),
                    c.credential.url.as_deref().unwrap_or_default(),
                    &c.secret,
                    outbound,
                );
                let mut model = llm::Model::new(endpoint, name);
                model.settings = providers.settings;
                Ok(model)
            }
            None => providers.resolve(wanted).map_err(DomainError::from),
        }
    }

    /// The agent's instructions, its skills, the workspace's data (when the agent may use
    /// it) and notes about tools that are missing.
    async fn system_prompt(
        &self,
        tools: &Option<WorkspaceTools>,
        skills: &[Skill],
        notes: &[String],
    ) -> String {
        let mut sections = vec![self.agent.instructions.clone().unwrap_or_default()];
        for skill in skills {
            sections.push(format!("## Skill: {}\n{}", skill.name, skill.instructions));
        }
        if let (Some(t), true) = (tools, self.agent.capabilities.objects_access) {
            if let Some(summary) = t.data_summary().await {
                sections.push(summary);
            }
        }
        if !notes.is_empty() {
            sections.push(format!("## Unavailable tools\n{}", notes.join("\n")));
        }
        sections
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// Remote MCP servers one turn connects to, at most.
const MAX_MCP_SERVERS: usize = 10;

/// A turn's budgets: model calls and time.
const TURN_LIMITS: llm::Limits = llm::Limits {
    max_turns: 8,
    budget: std::time::Duration::from_secs(180),
    stream: false,
};

/// The assistant message's parts, in the order the turn made them: each answer's text,
/// its tool calls, their results, and so on to the last answer's text.
fn reply_parts(run: &llm::Run) -> Vec<Value> {
    let mut parts = Vec::new();
    for m in &run.messages {
        if m.role == llm::Role::Tool {
            let output: Value =
                serde_json::from_str(&m.text).unwrap_or(Value::String(m.text.clone()));
            parts.push(json!({"type": "tool-result", "toolCallId": m.tool_call_id, "output": output, "isError": m.is_error}));
            continue;
        }
        if !m.text.is_empty() {
            parts.push(json!({"type": "text", "text": m.text}));
        }
        for c in &m.tool_calls {
            parts.push(json!({"type": "tool-call", "toolCallId": c.id, "toolName": c.name, "input": c.arguments}));
        }
    }
    if parts.last().is_none_or(|p| p["type"] != "text") {
        parts.push(json!({"type": "text", "text": run.text}));
    }
    parts
}

/// The history as the model sees it, newest last, cut from the oldest end to fit the
/// context window (four characters a token, a quarter of the window left for the answer).
fn trimmed(history: &[ChatMessage], latest: &ChatMessage, window: u32) -> Vec<llm::Message> {
    let budget = (window as usize).saturating_mul(3);
    let mut used = 0;
    let mut out: Vec<llm::Message> = Vec::new();
    for m in history.iter().chain([latest]).rev() {
        let message = model_message(m, std::ptr::eq(m, latest));
        used += message.text.len();
        if used > budget && !out.is_empty() {
            break;
        }
        out.push(message);
    }
    out.reverse();
    // A conversation starts with the user.
    while out.first().is_some_and(|m| m.role != llm::Role::User) {
        out.remove(0);
    }
    out
}
