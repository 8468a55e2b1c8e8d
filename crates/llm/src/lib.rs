//! The model provider layer (DESIGN §5): one way for the product to call a model.
//!
//! - Two wire formats: OpenAI-compatible Chat Completions (OpenAI, DeepSeek, vLLM,
//!   llama.cpp, Ollama, Gemini's compatible endpoint) and Anthropic Messages, each plain
//!   or streamed (SSE), each with tool calling.
//! - Model strings are `provider/model`; [`Providers`] resolves them from the environment
//!   and server configuration, and [`Endpoint::byok`] from a user's own credentials (those
//!   go through the outbound address guard).
//! - Calls retry with backoff on 429, 5xx and network failures, and time out.
//! - [`run_tools`] is the bounded tool loop agents are built on.
//!
//! Everything here blocks: call it from a blocking thread.

mod anthropic;
#[cfg(feature = "fake")]
pub mod fake;
mod openai;
mod providers;
mod sse;
mod tools;

use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant};

pub use providers::{Providers, DEFAULT_MODEL_VAR};
pub use tools::{run_tools, Limits, Run, ToolOutput, MAX_CALLS_PER_ANSWER};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A provider's wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    /// `POST {base}/chat/completions`.
    OpenAi,
    /// `POST {base}/v1/messages`.
    Anthropic,
}

/// Where a provider is and how to authenticate to it.
#[derive(Clone)]
pub struct Endpoint {
    pub wire: Wire,
    /// OpenAI: up to and including `/v1`; Anthropic: the host, without `/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    /// For addresses users gave: the outbound guard's policy. `None` for the operator's
    /// own configuration, which may name a model server on the local network.
    pub guard: Option<andibase_outbound::Policy>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("wire", &self.wire)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Endpoint {
    /// An endpoint from a user's own credentials (BYOK): `family` `anthropic` speaks
    /// Anthropic Messages, every other family the OpenAI-compatible format. Calls are
    /// checked by the outbound guard under `policy`.
    pub fn byok(
        family: &str,
        base_url: &str,
        api_key: &str,
        policy: andibase_outbound::Policy,
    ) -> Endpoint {
        Endpoint {
            wire: if family.eq_ignore_ascii_case("anthropic") {
                Wire::Anthropic
            } else {
                Wire::OpenAi
            },
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: Some(api_key.to_string()).filter(|k| !k.is_empty()),
            guard: Some(policy),
        }
    }
}

/// Timeouts and retries of calls.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The longest wait for any one read from the provider.
    pub timeout: Duration,
    /// Retries after the first attempt, on 429, 5xx and network failures.
    pub retries: u32,
    /// The first retry's delay; each next one doubles it.
    pub backoff: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timeout: Duration::from_secs(120),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// A model to call: an endpoint and the model's name there.
#[derive(Clone, Debug)]
pub struct Model {
    pub endpoint: Endpoint,
    pub name: String,
    /// Tokens the model may write in one answer.
    pub max_output: u32,
    /// Tokens the model reads at most (prompt and answer).
    pub context_window: u32,
    pub settings: Settings,
}

impl Model {
    /// A model with the usual limits.
    pub fn new(endpoint: Endpoint, name: impl Into<String>) -> Model {
        Model {
            endpoint,
            name: name.into(),
            max_output: 4096,
            context_window: 128_000,
            settings: Settings::default(),
        }
    }
}

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    /// A tool's result, answering one tool call.
    Tool,
}

/// A tool call the model made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments, as parsed JSON (an object when the model wrote valid JSON; the raw
    /// text as a string otherwise).
    pub arguments: Value,
}

/// One message of a conversation with a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub text: String,
    /// An assistant message's tool calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// A tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A tool message: whether the tool failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
    /// A user message's images (attachments), after its text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
}

/// An image given to the model inline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub media_type: String,
    /// The bytes, base64.
    pub data: String,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            text: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_error: false,
            images: Vec::new(),
        }
    }

    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Message {
        Message {
            role: Role::Assistant,
            tool_calls,
            ..Message::user(text)
        }
    }

    pub fn tool_result(call_id: &str, text: impl Into<String>, is_error: bool) -> Message {
        Message {
            role: Role::Tool,
            tool_call_id: Some(call_id.to_string()),
            is_error,
            ..Message::user(text)
        }
    }
}

/// A tool the model may call.
#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub parameters: Value,
}

/// Whether the model must, may or must not call a tool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ToolChoice {
    #[default]
    Auto,
    Required,
    None,
}

/// One call to a model.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: ToolChoice,
    pub temperature: Option<f32>,
}

/// Tokens a call used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    /// Calls made (each retry counts).
    pub requests: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_tokens += other.cached_tokens;
        self.requests += other.requests;
    }
}

/// What the model answered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    /// The provider's stop reason, as it names it (`stop`, `tool_calls`, `end_turn`…).
    pub stop_reason: String,
}

/// What a streamed call reports as it comes.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<'a> {
    /// A piece of the answer's text.
    Text(&'a str),
    /// A tool call, once its arguments are complete.
    ToolCall(&'a ToolCall),
}

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No model is configured, or the model string names no provider.
    NotConfigured,
    /// The outbound guard refused the address.
    Refused,
    /// The provider could not be reached, or the connection broke.
    Network,
    /// The provider took longer than the timeout or the budget.
    Timeout,
    /// The provider answered an error status (after retries, for 429 and 5xx).
    Status(u16),
    /// The provider's answer was not what its wire format says.
    Malformed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlmError {
    pub kind: ErrorKind,
    pub message: String,
}

impl LlmError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> LlmError {
        LlmError {
            kind,
            message: message.into(),
        }
    }

    fn retryable(&self) -> bool {
        match self.kind {
            ErrorKind::Network | ErrorKind::Timeout => true,
            ErrorKind::Status(s) => matches!(s, 408 | 409 | 429 | 500..=599),
            _ => false,
        }
    }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LlmError {}

/// Why a model-backed step could not run, as the product's domain refusal: no usable
/// model (`model_not_configured`), or the provider failed (`model_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRefusal {
    NotConfigured,
    Failed,
}

impl andibase_common::Refusal for ModelRefusal {
    fn code(&self) -> &'static str {
        match self {
            ModelRefusal::NotConfigured => "model_not_configured",
            ModelRefusal::Failed => "model_failed",
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl From<LlmError> for andibase_common::DomainError {
    fn from(e: LlmError) -> andibase_common::DomainError {
        andibase_common::DomainError::Refused {
            refusal: Box::new(match e.kind {
                ErrorKind::NotConfigured => ModelRefusal::NotConfigured,
                _ => ModelRefusal::Failed,
            }),
            message: e.message,
        }
    }
}

/// The longest error body kept in a message.
const ERROR_BODY_CHARS: usize = 300;
/// The longest answer read (a guard against a provider that never stops).
const MAX_BODY: u64 = 32 << 20;

impl Model {
    /// Calls the model and waits for the whole answer.
    pub fn complete(&self, request: &Request) -> Result<Reply, LlmError> {
        self.call(request, None)
    }

    /// Calls the model streaming, reporting text and tool calls as they come; the whole
    /// answer at the end. A call that fails before reporting anything is retried.
    pub fn stream(
        &self,
        request: &Request,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Reply, LlmError> {
        self.call(request, Some(on_event))
    }

    fn call(
        &self,
        request: &Request,
        mut on_event: Option<&mut dyn FnMut(Event<'_>)>,
    ) -> Result<Reply, LlmError> {
        let streaming = on_event.is_some();
        let (url, body) = match self.endpoint.wire {
            Wire::OpenAi => openai::request(self, request, streaming),
            Wire::Anthropic => anthropic::request(self, request, streaming),
        };
        if self.endpoint.guard.is_some() {
            andibase_outbound::check_url_shape(&url)
                .map_err(|e| LlmError::new(ErrorKind::Refused, format!("{url}: {e}")))?;
        }
        let mut attempt = 0;
        let mut requests = 0;
        loop {
            requests += 1;
            let mut reported = false;
            let result = self.attempt(&url, &body).and_then(|response| {
                let mut report = |e: Event<'_>| {
                    reported = true;
                    if let Some(f) = on_event.as_mut() {
                        f(e)
                    }
                };
                if streaming {
                    let reader = response.into_reader().take(MAX_BODY);
                    match self.endpoint.wire {
                        Wire::OpenAi => openai::read_stream(reader, &mut report),
                        Wire::Anthropic => anthropic::read_stream(reader, &mut report),
                    }
                } else {
                    let json = read_json(response)?;
                    match self.endpoint.wire {
                        Wire::OpenAi => openai::read_reply(&json),
                        Wire::Anthropic => anthropic::read_reply(&json),
                    }
                }
            });
            match result {
                Ok(mut reply) => {
                    reply.usage.requests = requests;
                    return Ok(reply);
                }
                Err((error, retry_after))
                    if error.retryable() && !reported && attempt < self.settings.retries =>
                {
                    let delay = retry_after
                        .unwrap_or(self.settings.backoff * 2u32.pow(attempt))
                        .min(Duration::from_secs(30));
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// One HTTP request; on failure the error and the provider's `Retry-After`.
    fn attempt(
        &self,
        url: &str,
        body: &Value,
    ) -> Result<ureq::Response, (LlmError, Option<Duration>)> {
        let mut builder = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(self.settings.timeout)
            .timeout_write(self.settings.timeout)
            .user_agent("andibase/1");
        if let Some(policy) = self.endpoint.guard {
            builder =
                builder.resolver(move |netloc: &str| andibase_outbound::resolve(netloc, policy));
        }
        let mut req = builder.build().post(url);
        match (self.endpoint.wire, &self.endpoint.api_key) {
            (Wire::OpenAi, Some(key)) => req = req.set("Authorization", &format!("Bearer {key}")),
            (Wire::Anthropic, Some(key)) => req = req.set("x-api-key", key),
            (_, None) => {}
        }
        if self.endpoint.wire == Wire::Anthropic {
            req = req.set("anthropic-version", "2023-06-01");
        }
        match req.send_json(body) {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(code, response)) => {
                let retry_after = response
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = response.into_string().unwrap_or_default();
                Err((status_error(url, code, &text), retry_after))
            }
            Err(ureq::Error::Transport(t)) => Err((transport_error(url, &t), None)),
        }
    }
}

fn status_error(url: &str, code: u16, body: &str) -> LlmError {
    // Providers put the reason in `error.message` (both formats) or `message`.
    let reason = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or(v["message"].as_str())
                .or(v["error"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(ERROR_BODY_CHARS).collect());
    LlmError::new(
        ErrorKind::Status(code),
        format!("the model provider at {url} answered HTTP {code}: {reason}"),
    )
}

fn transport_error(url: &str, t: &ureq::Transport) -> LlmError {
    let text = t.to_string();
    let kind = if text.contains("refused: the host resolves only") {
        ErrorKind::Refused
    } else if text.contains("timed out") || text.contains("Timeout") {
        ErrorKind::Timeout
    } else {
        ErrorKind::Network
    };
    LlmError::new(
        kind,
        format!("the model provider at {url} could not be reached: {text}"),
    )
}

fn read_json(response: ureq::Response) -> Result<Value, (LlmError, Option<Duration>)> {
    let mut text = String::new();
    response
        .into_reader()
        .take(MAX_BODY)
        .read_to_string(&mut text)
        .map_err(|e| (read_error(&e), None))?;
    serde_json::from_str(&text).map_err(|e| {
        (
            LlmError::new(
                ErrorKind::Malformed,
                format!("the model provider's answer is not JSON: {e}"),
            ),
            None,
        )
    })
}

pub(crate) fn read_error(e: &std::io::Error) -> LlmError {
    let kind = if matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    ) {
        ErrorKind::Timeout
    } else {
        ErrorKind::Network
    };
    LlmError::new(kind, format!("reading the model's answer failed: {e}"))
}

pub(crate) fn malformed(what: impl Into<String>) -> (LlmError, Option<Duration>) {
    (LlmError::new(ErrorKind::Malformed, what), None)
}

/// Parses a tool call's arguments: JSON when they are, the raw text otherwise (the tool
/// then answers that its input is not JSON, and the model can correct itself).
pub(crate) fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// A deadline's remaining time, as an error once it has passed.
pub(crate) fn remaining(deadline: Instant) -> Result<Duration, LlmError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| LlmError::new(ErrorKind::Timeout, "the time budget ran out"))
}
