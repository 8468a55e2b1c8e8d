//! The MCP server: the workspace tool registry (`andibase_tools`) over the Model Context
//! Protocol, served by rmcp's Streamable HTTP service at `/mcp`. The HTTP layer
//! authenticates each request (a workspace API key) and puts an [`McpCaller`] in the
//! request's extensions; this handler reads it on every request, so the tools a client
//! sees and may call are always those of the key that sent the request, whatever the MCP
//! session.

use std::sync::Arc;

use andibase_identity::Action;
use andibase_tools::{Called, ToolSpec, WorkspaceTools};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, Prompt, PromptMessage, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

/// Who is calling, as the HTTP layer found out: their tools on their workspace.
#[derive(Clone)]
pub struct McpCaller {
    pub tools: WorkspaceTools,
    /// Hide (and refuse) every tool that writes (`?readOnly=true`).
    pub read_only: bool,
}

impl McpCaller {
    /// The tools this caller sees: what their key may do, without writers when read-only.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .available(true)
            .into_iter()
            .filter(|t| !self.read_only || t.permission.action == Action::Read)
            .collect()
    }
}

/// The handler; one serves every session.
#[derive(Clone)]
pub struct WorkspaceServer {
    /// The product's `skill.md`, offered as the prompt `andibase-skill`.
    pub skill: Arc<String>,
}

const SKILL_PROMPT: &str = "andibase-skill";

fn caller(context: &RequestContext<RoleServer>) -> Result<McpCaller, ErrorData> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<McpCaller>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("the request was not authenticated", None))
}

fn mcp_tool(t: ToolSpec) -> Tool {
    let schema = match t.input_schema {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    let read_only = t.permission.action == Action::Read;
    Tool::new(t.name, t.description, Arc::new(schema)).annotate(
        ToolAnnotations::new()
            .read_only(read_only)
            .destructive(t.permission.action == Action::Write && !read_only),
    )
}

/// A refusal to list or read resources, as JSON-RPC errors: not found (-32002) for what
/// does not exist or is another workspace's, invalid params for the rest.
fn resource_error(e: andibase_common::DomainError) -> ErrorData {
    match e {
        andibase_common::DomainError::NotFound => {
            ErrorData::resource_not_found("resource not found in this workspace", None)
        }
        andibase_common::DomainError::Internal(_) => {
            ErrorData::internal_error("the server failed", None)
        }
        other => ErrorData::invalid_params(other.to_string(), None),
    }
}

/// A registry answer as an MCP tool result: the JSON as text (and as structured content
/// when it is an object), `isError` for a refusal; never a transport failure.
fn result_of(called: Called) -> CallToolResult {
    let structured = serde_json::from_str::<Value>(&called.text)
        .ok()
        .filter(Value::is_object);
    let mut result = if called.is_error {
        CallToolResult::error(vec![ContentBlock::text(called.text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(called.text)])
    };
    result.structured_content = structured;
    result
}

impl ServerHandler for WorkspaceServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("andibase", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "andibase: your workspace's data (definitions, records, read-only SQL), human approvals, memory spaces (recall, remember, KIP) and agent sessions. The tools you see are those your API key may use.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context)?;
        Ok(ListToolsResult::with_all_items(
            caller.specs().into_iter().map(mcp_tool).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut caller = caller(&context)?;
        let name = request.name.to_string();
        // Only what the list offers this caller: a read-only session cannot reach a
        // writer by naming it.
        let why = match caller.tools.offers(&name, true) {
            None => Some(format!("there is no tool named `{name}` for this key")),
            Some(p) if caller.read_only && p.action != Action::Read => {
                Some(format!("`{name}` writes, and this session is read-only"))
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            return Ok(result_of(Called::error(why)).into());
        }
        // A wait for a human's decision reports progress to a client that asked for it.
        if let (Some(token), Some(approvals)) = (
            context.meta.get_progress_token(),
            caller.tools.approvals.as_mut(),
        ) {
            let peer = context.peer.clone();
            approvals.progress = Some(Arc::new(move |waited| {
                let (peer, token) = (peer.clone(), token.clone());
                tokio::spawn(async move {
                    let _ = peer
                        .notify_progress(
                            ProgressNotificationParam::new(token, waited.as_secs_f64())
                                .with_message("waiting for a human's decision"),
                        )
                        .await;
                });
            }));
        }
        let input = Value::Object(request.arguments.unwrap_or_default());
        let called = tokio::select! {
            called = caller.tools.call(&name, input) => called,
            // The client cancelled: stop waiting (the approval, if one was made, stays).
            () = context.ct.cancelled() => Called::error("cancelled by the client"),
        };
        Ok(result_of(called).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = caller(&context)?;
        let listed = caller.tools.resources().await.map_err(resource_error)?;
        Ok(ListResourcesResult::with_all_items(
            listed
                .into_iter()
                .map(|r| {
                    let mut resource =
                        Resource::new(r.uri, r.name).with_mime_type("application/json");
                    if let Some(d) = r.description {
                        resource = resource.with_description(d);
                    }
                    resource
                })
                .collect(),
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            andibase_tools::resource_templates()
                .into_iter()
                .map(|(template, name, description)| {
                    let mut t = ResourceTemplate::new(template, name);
                    t.description = Some(description.into());
                    t.mime_type = Some("application/json".into());
                    t
                })
                .collect(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let caller = caller(&context)?;
        let value = caller
            .tools
            .read_resource(&request.uri)
            .await
            .map_err(resource_error)?;
        let contents = ResourceContents::text(value.to_string(), request.uri)
            .with_mime_type("application/json");
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            SKILL_PROMPT,
            Some("How to use this andibase server as an agent: login, sessions, data, approvals, memory."),
            None,
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != SKILL_PROMPT {
            return Err(ErrorData::invalid_params(
                format!("there is no prompt named `{}`", request.name),
                None,
            ));
        }
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            self.skill.as_str(),
        )])
        .with_description("andibase skill.md")
        .into())
    }
}
