//! A remote MCP server on loopback for tests: rmcp's Streamable HTTP server with two
//! tools, `lookup_order {order_id}` (read-only; answers the order's status) and `fail`
//! (not marked read-only; a tool error),
//! optionally requiring a bearer token. It keeps every call and every `Authorization`
//! header it saw.

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::{
    session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Seen {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    auth: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct Shop(Seen);

impl ServerHandler for Shop {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = |v: Value| match v {
            Value::Object(m) => Arc::new(m),
            _ => Arc::default(),
        };
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "lookup_order",
                "Looks up an order's status by its id.",
                schema(
                    json!({"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}),
                ),
            )
            .annotate(ToolAnnotations::new().read_only(true)),
            Tool::new(
                "fail",
                "Always fails.",
                schema(json!({"type": "object", "properties": {}})),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Value::Object(request.arguments.clone().unwrap_or_default());
        self.0
            .calls
            .lock()
            .expect("calls")
            .push((request.name.to_string(), args.clone()));
        let result = match request.name.as_ref() {
            "lookup_order" => CallToolResult::success(vec![ContentBlock::text(format!(
                "Order {} shipped on 2026-12-01",
                args["order_id"].as_str().unwrap_or("?")
            ))]),
            _ => CallToolResult::error(vec![ContentBlock::text("the warehouse is offline")]),
        };
        Ok(result.into())
    }
}

/// A running fake MCP server; it stops with the test process.
pub struct FakeMcpServer {
    url: String,
    seen: Seen,
}

impl FakeMcpServer {
    /// Starts the server; with `token`, requests without `Authorization: Bearer <token>`
    /// are answered 401.
    pub fn start(token: Option<&str>) -> FakeMcpServer {
        let seen = Seen::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (kept, token) = (seen.clone(), token.map(|t| format!("Bearer {t}")));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let shop = Shop(kept.clone());
                let service: StreamableHttpService<Shop, LocalSessionManager> =
                    StreamableHttpService::new(
                        move || Ok(shop.clone()),
                        Default::default(),
                        StreamableHttpServerConfig::default(),
                    );
                let guard = move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let (kept, token) = (kept.clone(), token.clone());
                    async move {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        kept.auth.lock().expect("auth").push(auth.clone());
                        if token.as_ref().is_some_and(|t| *t != auth) {
                            return axum::response::IntoResponse::into_response((
                                axum::http::StatusCode::UNAUTHORIZED,
                                "a bearer token is required",
                            ));
                        }
                        next.run(req).await
                    }
                };
                let router = axum::Router::new()
                    .nest_service("/mcp", service)
                    .layer(axum::middleware::from_fn(guard));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind the fake MCP server");
                let _ = tx.send(listener.local_addr().expect("its address"));
                // Answers go out at once (no Nagle delay), as a production server's do.
                use axum::serve::ListenerExt;
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let _ = axum::serve(listener, router).await;
            });
        });
        let addr = rx.recv().expect("the fake MCP server starts");
        FakeMcpServer {
            url: format!("http://{addr}/mcp"),
            seen,
        }
    }

    /// The Streamable HTTP endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The tool calls so far: `(name, arguments)`.
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.seen.calls.lock().expect("calls").clone()
    }

    /// Every `Authorization` header received (empty when none was sent).
    pub fn authorizations(&self) -> Vec<String> {
        self.seen.auth.lock().expect("auth").clone()
    }
}
