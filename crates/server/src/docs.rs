//! Documentation for agents and humans: the OpenAPI document, `/skill.md`, `/docs.md`,
//! and an HTML page for each Markdown page (every HTML page has its `.md` twin). Links
//! and examples carry this server's own base URL.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub struct Docs {
    openapi_json: String,
    reference_md: String,
}

const SKILL_MD: &str = include_str!("../assets/skill.md");
const MCP_MD: &str = include_str!("../assets/mcp.md");
const OVERVIEW_MD: &str = include_str!("../assets/docs.md");

impl Docs {
    pub fn new(doc: utoipa::openapi::OpenApi) -> Docs {
        let value = serde_json::to_value(&doc).unwrap_or_default();
        Docs {
            openapi_json: serde_json::to_string_pretty(&value).unwrap_or_default(),
            reference_md: reference_markdown(&value),
        }
    }
}

/// The API reference in Markdown, generated from the OpenAPI document.
fn reference_markdown(doc: &serde_json::Value) -> String {
    let mut out = String::from("# API reference\n\nGenerated from [`/api/openapi.json`](/api/openapi.json). Base URL: `{{BASE}}/api/v1`.\n\n");
    let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
        return out;
    };
    let mut by_tag: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let tag = op["tags"][0].as_str().unwrap_or("Other").to_string();
            let mut s = String::new();
            let summary = op["summary"].as_str().unwrap_or("");
            let _ = writeln!(s, "### {} `{}`\n", method.to_uppercase(), path);
            if !summary.is_empty() {
                let _ = writeln!(
                    s,
                    "**{summary}** (`{}`)\n",
                    op["operationId"].as_str().unwrap_or("")
                );
            }
            if let Some(d) = op["description"].as_str() {
                let _ = writeln!(s, "{d}\n");
            }
            if let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") {
                let name = schema["$ref"]
                    .as_str()
                    .and_then(|r| r.rsplit('/').next())
                    .unwrap_or("object");
                let _ = writeln!(s, "Request body: `{name}`{}\n", schema_fields(doc, schema));
            }
            if let Some(resps) = op["responses"].as_object() {
                let codes: Vec<String> = resps
                    .iter()
                    .map(|(code, r)| {
                        format!("`{code}` {}", r["description"].as_str().unwrap_or(""))
                    })
                    .collect();
                let _ = writeln!(s, "Responses: {}\n", codes.join("; "));
            }
            by_tag.entry(tag).or_default().push(s);
        }
    }
    for (tag, ops) in by_tag {
        let _ = writeln!(out, "## {tag}\n");
        for op in ops {
            out.push_str(&op);
        }
    }
    out
}

fn schema_fields(doc: &serde_json::Value, schema: &serde_json::Value) -> String {
    let resolved = schema["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .and_then(|name| doc.pointer(&format!("/components/schemas/{name}")))
        .unwrap_or(schema);
    let Some(props) = resolved["properties"].as_object() else {
        return String::new();
    };
    let required: Vec<&str> = resolved["required"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let fields: Vec<String> = props
        .keys()
        .map(|k| {
            if required.contains(&k.as_str()) {
                format!("`{k}` (required)")
            } else {
                format!("`{k}`")
            }
        })
        .collect();
    format!(" with {}", fields.join(", "))
}

/// The product's `skill.md` with this server's base URL.
pub(crate) fn skill_md(public_url: &str) -> String {
    SKILL_MD.replace("{{BASE}}", public_url.trim_end_matches('/'))
}

fn base(state: &AppState) -> String {
    state.config.public_url.trim_end_matches('/').to_string()
}

/// The product page in Markdown, for agents that ask for it at `/`.
pub(crate) fn overview_markdown(state: &AppState) -> Response {
    markdown(OVERVIEW_MD.replace("{{BASE}}", &base(state)))
}

fn markdown(text: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        text,
    )
        .into_response()
}

/// Markdown of ours served at `path` as a page and at `path.md` as Markdown, with this
/// server's base URL.
fn with_doc(
    router: Router<AppState>,
    path: &'static str,
    title: &'static str,
    md: &'static str,
) -> Router<AppState> {
    let twin = format!("{path}.md");
    router
        .route(
            path,
            get(move |State(s): State<AppState>| async move {
                html_page(
                    &s,
                    title,
                    &md.replace("{{BASE}}", &base(&s)),
                    &format!("{path}.md"),
                )
            }),
        )
        .route(
            &twin,
            get(move |State(s): State<AppState>| async move {
                markdown(md.replace("{{BASE}}", &base(&s)))
            }),
        )
}

fn html_page(state: &AppState, title: &str, md: &str, twin: &str) -> Response {
    let mut body = String::new();
    let parser = pulldown_cmark::Parser::new_ext(md, pulldown_cmark::Options::ENABLE_TABLES);
    // Our own Markdown, so raw HTML in it is trusted; user text never reaches here.
    pulldown_cmark::html::push_html(&mut body, parser);
    let nav = format!(
        r#"<p class="muted"><a href="{twin}">Open Markdown</a> · <a href="/docs">Overview</a> · <a href="/docs/agent-get-started">Get started (for AI agents)</a> · <a href="/docs/mcp">MCP</a> · <a href="/docs/api-reference">API reference</a> · <a href="/api/openapi.json">OpenAPI</a></p>"#
    );
    Html(crate::console::layout::page(
        title,
        None,
        &format!("{nav}<article class=\"doc\">{body}</article>"),
        &state.config,
    ))
    .into_response()
}

pub fn router(docs: Arc<Docs>) -> Router<AppState> {
    let d1 = docs.clone();
    let d2 = docs.clone();
    let d3 = docs.clone();
    let router = with_doc(
        Router::new(),
        "/docs/agent-get-started",
        "Get started (for AI agents)",
        SKILL_MD,
    );
    with_doc(router, "/docs/mcp", "MCP", MCP_MD)
        .route(
            "/api/openapi.json",
            get(move || {
                let d = d1.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        d.openapi_json.clone(),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/skill.md",
            get(|State(s): State<AppState>| async move {
                markdown(SKILL_MD.replace("{{BASE}}", &base(&s)))
            }),
        )
        .route(
            "/SKILL.md",
            get(|State(s): State<AppState>| async move {
                markdown(SKILL_MD.replace("{{BASE}}", &base(&s)))
            }),
        )
        .route(
            "/docs.md",
            get(move |State(s): State<AppState>| {
                let d = d2.clone();
                async move {
                    markdown(
                        format!("{}\n\n{}\n\n{}", OVERVIEW_MD, SKILL_MD, d.reference_md)
                            .replace("{{BASE}}", &base(&s)),
                    )
                }
            }),
        )
        .route(
            "/docs",
            get(|State(s): State<AppState>| async move {
                html_page(
                    &s,
                    "Docs",
                    &OVERVIEW_MD.replace("{{BASE}}", &base(&s)),
                    "/docs.md",
                )
            }),
        )
        .route(
            "/docs/api-reference",
            get({
                let d = docs.clone();
                move |State(s): State<AppState>| {
                    let d = d.clone();
                    async move {
                        html_page(
                            &s,
                            "API reference",
                            &d.reference_md.replace("{{BASE}}", &base(&s)),
                            "/docs/api-reference.md",
                        )
                    }
                }
            }),
        )
        .route(
            "/docs/api-reference.md",
            get(move |State(s): State<AppState>| {
                let d = d3.clone();
                async move { markdown(d.reference_md.replace("{{BASE}}", &base(&s))) }
            }),
        )
}
