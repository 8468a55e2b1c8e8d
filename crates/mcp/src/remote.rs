//! A remote MCP server over Streamable HTTP. Every connection goes through the outbound
//! guard: the URL's host is checked before connecting and each DNS answer is filtered by
//! the resolver, so a server given by a user cannot point into the server's own network
//! unless the operator allows private destinations. Redirects are not followed.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use andibase_identity::Resource;
use andibase_outbound::Policy;
use andibase_tools::{Called, Calling, RemoteTools, ToolSpec};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

/// How long connecting (with the MCP handshake and the tool list) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one tool call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Tools listed from one server, at most.
const MAX_TOOLS: usize = 100;
/// Characters of a tool's answer given to the model, at most.
const MAX_ANSWER: usize = 50_000;

/// A connected remote server and the tools it listed.
pub struct RemoteServer {
    /// The prefix its tools get (`<prefix>__<tool>`), from the credential's name.
    prefix: String,
    service: RunningService<RoleClient, ()>,
    tools: Vec<rmcp::model::Tool>,
}

/// Resolves through the outbound guard.
struct Guarded(Policy);

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (host, policy) = (name.as_str().to_string(), self.0);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::task::spawn_blocking(move || {
                andibase_outbound::resolve(&format!("{host}:0"), policy)
            })
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client for `policy`, made once: making one loads the system's root
/// certificates (about 13 ms), which a turn should not pay.
fn http_client(policy: Policy) -> Result<reqwest::Client, String> {
    static CLIENTS: [OnceLock<Result<reqwest::Client, String>>; 2] =
        [OnceLock::new(), OnceLock::new()];
    CLIENTS[usize::from(policy.allow_private)]
        .get_or_init(|| {
            // Several crates may link rustls; the first provider installed wins, which is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .dns_resolver(Arc::new(Guarded(policy)))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(Duration::from_secs(10))
                .user_agent("andibase-mcp-client/1")
                .build()
                .map_err(|e| format!("the HTTP client could not be made: {e}"))
        })
        .clone()
}

/// Whether the server marks the tool as changing nothing (`readOnlyHint`).
fn read_only(t: &rmcp::model::Tool) -> bool {
    t.annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false)
}

/// A tool prefix from a credential's name: letters, digits and `_`, at most 24.
pub fn tool_prefix(name: &str) -> String {
    let p: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    if p.is_empty() {
        "remote".into()
    } else {
        p
    }
}

impl RemoteServer {
    /// Connects to the server at `url` (with `token` as a bearer token when given), makes
    /// the MCP handshake and lists its tools.
    pub async fn connect(
        url: &str,
        token: Option<&str>,
        prefix: &str,
        policy: Policy,
    ) -> Result<RemoteServer, String> {
        // The resolver is not asked for IP-literal hosts; check the URL itself first.
        {
            let url = url.to_string();
            tokio::task::spawn_blocking(move || andibase_outbound::check_destination(&url, policy))
                .await
                .map_err(|e| e.to_string())??;
        }
        let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            config = config.auth_header(t.to_string());
        }
        let transport = StreamableHttpClientTransport::with_client(http_client(policy)?, config);
        let connecting = async {
            let service = ().serve(transport).await.map_err(|e| {
                format!("the MCP server at {url} did not complete the handshake: {e}")
            })?;
            let mut tools = service
                .list_all_tools()
                .await
                .map_err(|e| format!("the MCP server at {url} did not list its tools: {e}"))?;
            tools.truncate(MAX_TOOLS);
            Ok::<_, String>(RemoteServer {
                prefix: tool_prefix(prefix),
                service,
                tools,
            })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                format!(
                    "the MCP server at {url} did not answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )
            })?
    }

    /// The server's tools as it lists them: `{name, description, inputSchema}`.
    pub fn listed(&self) -> Vec<Value> {
        self.tools
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "description": t.description,
                    "inputSchema": Value::Object((*t.input_schema).clone()),
                    "readOnly": read_only(t),
                })
            })
            .collect()
    }

    fn model_name(&self, tool: &str) -> String {
        let mut name = format!("{}__{}", self.prefix, tool);
        // Providers accept at most 64 characters of [A-Za-z0-9_-].
        name = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        name
    }

    /// Closes the session (best effort).
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }
}

impl RemoteTools for RemoteServer {
    fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|t| ToolSpec {
                name: self.model_name(&t.name).into(),
                description: t.description.clone().unwrap_or_default(),
                input_schema: Value::Object((*t.input_schema).clone()),
                // A tool the server marks read-only is for anyone who may talk to the
                // agent; any other may change something elsewhere, so it needs a caller
                // who may change agents' work (`agents.write`): a viewer's turn cannot
                // use it.
                permission: if read_only(t) {
                    Resource::Agents.read()
                } else {
                    Resource::Agents.write()
                },
            })
            .collect()
    }

    fn call<'a>(&'a self, name: &'a str, input: Value) -> Calling<'a> {
        Box::pin(async move {
            match self.tools.iter().find(|t| self.model_name(&t.name) == name) {
                Some(tool) => self.call_tool(&tool.name, input).await,
                None => Called::error(format!("there is no tool named `{name}`")),
            }
        })
    }
}

impl RemoteServer {
    /// Calls the server's tool `name` (its own name, listed or not); the server's errors
    /// and refusals come back as tool errors.
    pub async fn call_tool(&self, name: &str, input: Value) -> Called {
        let arguments = match input {
            Value::Object(m) => Some(m),
            Value::Null => None,
            _ => return Called::error("the input must be an object"),
        };
        let mut params = CallToolRequestParams::new(name.to_string());
        params.arguments = arguments;
        match tokio::time::timeout(CALL_TIMEOUT, self.service.call_tool(params)).await {
            Err(_) => Called::error(format!(
                "the remote tool did not answer within {} s",
                CALL_TIMEOUT.as_secs()
            )),
            Ok(Err(e)) => Called::error(format!("the remote server failed: {e}")),
            Ok(Ok(result)) => {
                let text: Vec<String> = result
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                    .collect();
                let answer = match (&result.structured_content, text.is_empty()) {
                    (Some(v), _) => v.to_string(),
                    (None, false) => text.join("\n"),
                    (None, true) => "{}".to_string(),
                };
                Called {
                    text: answer.chars().take(MAX_ANSWER).collect(),
                    is_error: result.is_error.unwrap_or(false),
                }
            }
        }
    }
}

/// Why a remote server's tools could not be listed: it could not be reached or refused
/// the handshake (`mcp_server_unreachable`, a gateway's error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable;

impl andibase_common::Refusal for Unreachable {
    fn code(&self) -> &'static str {
        "mcp_server_unreachable"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Unreachable {
    pub fn error(message: String) -> andibase_common::DomainError {
        andibase_common::DomainError::Refused {
            refusal: Box::new(Unreachable),
            message,
        }
    }
}
