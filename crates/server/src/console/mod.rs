//! The web console: server-rendered pages plus one small script, built by `cargo build`
//! alone. Every page is `layout::page` around a body; actions call the JSON API.

mod chat;
mod data;
pub mod layout;
mod markdown;
mod memory;

use std::convert::Infallible;
use std::time::Duration;

use andibase_agents::Agents;
use andibase_identity::{BrowserSession, Membership, Resource};
use andibase_sessions::{SessionEvent, SESSION_EVENT};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::Stream;

use crate::api::sessions::with_sessions;
use crate::error::ApiError;
use crate::extract::{cookie, WorkspaceAccess, SESSION_COOKIE};
use crate::state::AppState;
use layout::{esc, page, url_encode, Nav};

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");
const DATA_JS: &str = include_str!("../../assets/data.js");
const CHAT_JS: &str = include_str!("../../assets/chat.js");
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router() -> Router<AppState> {
    data::routes(Router::new())
        .route("/", get(home))
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .route(
            "/assets/data.js",
            get(|| async { asset("text/javascript; charset=utf-8", DATA_JS) }),
        )
        .route(
            "/assets/chat.js",
            get(|| async { asset("text/javascript; charset=utf-8", CHAT_JS) }),
        )
        .route("/sign-in", get(sign_in_page))
        .route("/setup", get(setup_page))
        .route("/agent-login", get(agent_login_page))
        .route("/invite/{token}", get(invite_page))
        .route(
            "/w/{ws}",
            get(|Path(ws): Path<String>| async move {
                Redirect::to(&format!("/w/{}/sessions", url_encode(&ws)))
            }),
        )
        .route("/w/{ws}/sessions", get(sessions_page))
        .route("/w/{ws}/sessions/{id}", get(session_page))
        .route("/w/{ws}/sessions/{id}/stream", get(session_stream))
        .route("/w/{ws}/agents", get(agents_page))
        .route("/w/{ws}/agents/{slug}", get(agent_page))
        .route("/w/{ws}/agents/{slug}/chat", get(chat::chat_page))
        .route("/w/{ws}/api-keys", get(api_keys_page))
        .route("/w/{ws}/members", get(members_page))
        .route("/w/{ws}/approvals", get(approvals_page))
        .route("/w/{ws}/approvals/stream", get(approvals_stream))
        .route("/w/{ws}/memory", get(memory::spaces_page))
        .route("/w/{ws}/memory/{space}", get(memory::space_page))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

fn html(title: &str, nav: Option<&Nav<'_>>, body: &str, state: &AppState) -> Response {
    let mut resp = Html(page(title, nav, body, &state.config)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    resp
}

fn message_page(state: &AppState, status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<div class=\"card narrow\"><h1>{}</h1><p>{}</p><p><a href=\"/\">Home</a></p></div>",
        esc(title),
        esc(text)
    );
    (status, html(title, None, &body, state)).into_response()
}

pub async fn not_found(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let wants_json = uri.path().starts_with("/api/")
        || uri.path().starts_with("/v1/")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return crate::error::ApiError::not_found().into_response();
    }
    message_page(
        &state,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no page here.",
    )
}

async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<BrowserSession> {
    let token = cookie(headers, SESSION_COOKIE)?;
    state.identity.browser_session(token).await.ok().flatten()
}

fn to_sign_in(path_and_query: &str) -> Response {
    Redirect::to(&format!("/sign-in?next={}", url_encode(path_and_query))).into_response()
}

/// The signed-in member and their workspace, or the response to send instead.
async fn member_page(
    state: &AppState,
    headers: &HeaderMap,
    ws: &str,
    here: &str,
) -> Result<(BrowserSession, Membership), Response> {
    let Some(session) = signed_in(state, headers).await else {
        return Err(to_sign_in(here));
    };
    match state.identity.membership(&session.user.id, ws).await {
        Ok(Some(m)) => Ok((session, m)),
        Ok(None) => Err(message_page(
            state,
            StatusCode::NOT_FOUND,
            "Not found",
            "This workspace does not exist or you are not a member.",
        )),
        Err(e) => {
            tracing::error!(error = %e, "membership lookup failed");
            Err(message_page(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "An unexpected server error occurred.",
            ))
        }
    }
}

/// [`member_page`] and the workspace's database.
async fn workspace_page(
    state: &AppState,
    headers: &HeaderMap,
    ws: &str,
    here: &str,
) -> Result<(BrowserSession, Membership, andibase_storage::Database), Response> {
    let (session, m) = member_page(state, headers, ws, here).await?;
    let db = state
        .workspaces
        .get(&m.workspace.id)
        .await
        .map_err(|e| internal(state, e))?;
    Ok((session, m, db))
}

/// [`workspace_page`] and the agent `slug` names (a 404 page when there is none).
async fn agent_page_of(
    state: &AppState,
    headers: &HeaderMap,
    ws: &str,
    slug: &str,
    here: &str,
) -> Result<
    (
        BrowserSession,
        Membership,
        andibase_storage::Database,
        andibase_agents::Agent,
    ),
    Response,
> {
    let (session, m, db) = workspace_page(state, headers, ws, here).await?;
    let found = Agents {
        db: &db,
        workspace_handle: &m.workspace.handle,
        links: state.links.clone(),
    }
    .get(slug)
    .await;
    match found {
        Ok(agent) => Ok((session, m, db, agent)),
        Err(andibase_common::DomainError::NotFound) => Err(message_page(
            state,
            StatusCode::NOT_FOUND,
            "Not found",
            "No such agent in this workspace.",
        )),
        Err(e) => Err(internal(state, e)),
    }
}

fn nav<'a>(session: &'a BrowserSession, m: &'a Membership, section: &'a str) -> Nav<'a> {
    Nav {
        workspace_handle: &m.workspace.handle,
        workspace_name: &m.workspace.name,
        user_email: &session.user.email,
        section,
    }
}

fn access_of(session: &BrowserSession, m: &Membership) -> WorkspaceAccess {
    WorkspaceAccess {
        workspace: std::sync::Arc::new(m.workspace.clone()),
        access: m.role.access(),
        member_role: Some(m.role),
        user: Some(session.user.clone()),
        key_id: None,
    }
}

fn internal(state: &AppState, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "page failed");
    message_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        "An unexpected server error occurred.",
    )
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // An agent asking for Markdown gets the product page; browsers get the console.
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("text/markdown") && !accept.contains("text/html") {
        return crate::docs::overview_markdown(&state);
    }
    let Some(session) = signed_in(&state, &headers).await else {
        return match state.identity.user_count().await {
            Ok(0) => message_page(
                &state,
                StatusCode::OK,
                "Welcome to andibase",
                "This server has no users yet. Open the one-time setup link printed in the server log, or run `andibase user create --admin`.",
            ),
            _ => Redirect::to("/sign-in").into_response(),
        };
    };
    match state.identity.memberships(&session.user.id).await {
        Ok(ms) if !ms.is_empty() => Redirect::to(&format!(
            "/w/{}/sessions",
            url_encode(&ms[0].workspace.handle)
        ))
        .into_response(),
        Ok(_) => {
            let body = r#"<div class="card narrow"><h1>Create a workspace</h1><form data-api="/api/v1/workspaces" data-redirect="/"><label for="name">Name</label><input id="name" name="name" required maxlength="100"><div class="actions"><button type="submit">Create</button></div><p class="error" hidden></p></form></div>"#;
            html("Create a workspace", None, body, &state)
        }
        Err(e) => internal(&state, e),
    }
}

async fn sign_in_page(State(state): State<AppState>) -> Response {
    let body = r#"<div class="card narrow"><h1>Sign in</h1>
<form id="sign-in" data-api="/api/v1/auth/sign-in" data-redirect="next">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions"><button type="submit" id="sign-in-submit">Sign in</button></div><p class="error" hidden></p></form></div>"#;
    html("Sign in", None, body, &state)
}

async fn setup_page(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let token = query_param(q.as_deref(), "token").unwrap_or_default();
    if !state
        .identity
        .setup_token_valid(&token)
        .await
        .unwrap_or(false)
    {
        return message_page(
            &state,
            StatusCode::NOT_FOUND,
            "Setup link not valid",
            "This setup link is invalid or was already used. Sign in instead.",
        );
    }
    let body = format!(
        r#"<div class="card narrow"><h1>Set up andibase</h1><p class="muted">Create the first admin account and workspace.</p>
<form data-api="/api/v1/auth/setup" data-redirect="/"><input type="hidden" name="token" value="{token}">
<label for="name">Your name</label><input id="name" name="name">
<label for="email">Email</label><input id="email" name="email" type="email" required>
<label for="password">Password (8+ characters)</label><input id="password" name="password" type="password" minlength="8" required>
<label for="workspaceName">Workspace name</label><input id="workspaceName" name="workspaceName" required maxlength="100">
<div class="actions"><button type="submit">Create admin</button></div><p class="error" hidden></p></form></div>"#,
        token = esc(&token)
    );
    html("Setup", None, &body, &state)
}

/// A query parameter's value, percent-decoded.
pub(crate) fn query_param(q: Option<&str>, name: &str) -> Option<String> {
    q?.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&andibase_common::percent::decode(s, true)).into_owned()
}

async fn agent_login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let code = query_param(q.as_deref(), "user_code").unwrap_or_default();
    let here = format!("/agent-login?user_code={}", url_encode(&code));
    let Some(session) = signed_in(&state, &headers).await else {
        return to_sign_in(&here);
    };
    if code.is_empty() {
        let body = r#"<div class="card narrow"><h1>Approve an agent</h1><form method="get" action="/agent-login"><label for="user_code">Code shown by the agent</label><input id="user_code" name="user_code" placeholder="ABCD-1234" required><div class="actions"><button type="submit">Continue</button></div></form></div>"#;
        return html("Approve an agent", None, body, &state);
    }
    let request = match state.identity.agent_login_request(&code).await {
        Ok(r) => r,
        Err(andibase_common::DomainError::NotFound) => {
            return message_page(
                &state,
                StatusCode::NOT_FOUND,
                "Unknown code",
                "No agent login request has this code. Ask the agent to start a new login.",
            )
        }
        Err(e) => return internal(&state, e),
    };
    if request.status != andibase_identity::LoginStatus::Pending {
        return message_page(
            &state,
            StatusCode::OK,
            "Agent login",
            &format!(
                "This request is {}. Nothing more to do here.",
                request.status
            ),
        );
    }
    let memberships = match state.identity.memberships(&session.user.id).await {
        Ok(m) => m,
        Err(e) => return internal(&state, e),
    };
    if memberships.is_empty() {
        return message_page(&state, StatusCode::OK, "No workspace", "You are not a member of any workspace yet, so there is nothing to grant. Create a workspace first.");
    }
    let options: String = memberships
        .iter()
        .map(|m| {
            format!(
                "<option value=\"{h}\">{n} ({h}, your role: {r})</option>",
                h = esc(&m.workspace.handle),
                n = esc(&m.workspace.name),
                r = m.role.as_str()
            )
        })
        .collect();
    let roles: String = ["admin", "editor", "viewer"]
        .iter()
        .filter(|r| andibase_identity::KeyRole::parse(r).is_some_and(|k| k <= request.role))
        .map(|r| {
            format!(
                "<option value=\"{r}\"{}>{r}</option>",
                if *r == request.role.as_str() {
                    " selected"
                } else {
                    ""
                }
            )
        })
        .collect();
    let path_code = url_encode(&request.user_code);
    let body = format!(
        r#"<div class="card narrow"><h1>Approve agent access</h1>
<p><strong id="agent-name">{name}</strong> wants an API key for one of your workspaces.</p>
<p class="muted" id="agent-description">{desc}</p>
<p>Code <span class="mono" id="user-code">{code}</span> · requested role <span class="badge" id="requested-role">{role}</span></p>
<form id="approve-form"><label for="workspaceHandle">Workspace</label><select id="workspaceHandle" name="workspaceHandle">{options}</select>
<label for="role">Role for the key</label><select id="role" name="role">{roles}</select></form>
<div class="actions"><button id="approve" data-action="/api/v1/agent/auth/requests/{path_code}/approve" data-fields-from="approve-form" data-result="decision" data-result-field="status" data-error="login-error">Approve</button>
<button id="deny" class="danger" data-action="/api/v1/agent/auth/requests/{path_code}/deny" data-result="decision" data-result-field="status" data-error="login-error" data-confirm="Deny this agent?">Deny</button></div>
<p class="error" id="login-error" hidden></p>
<p class="success" id="decision-wrap" hidden>Done: <span id="decision"></span>. The agent can continue now.</p></div>"#,
        name = esc(&request.agent_name),
        desc = esc(request
            .agent_description
            .as_deref()
            .unwrap_or("No description given.")),
        code = esc(&request.user_code),
        role = request.role.as_str(),
    );
    html("Approve agent access", None, &body, &state)
}

async fn invite_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let Ok(Some((inv, ws))) = state.identity.invitation_by_token(&token).await else {
        return message_page(
            &state,
            StatusCode::NOT_FOUND,
            "Invitation not valid",
            "This invitation is invalid, expired or already used.",
        );
    };
    let api = format!("/api/v1/invitations/{}/accept", url_encode(&token));
    let body = match signed_in(&state, &headers).await {
        Some(s) => format!(
            r#"<div class="card narrow"><h1>Join {ws}</h1><p>You were invited as <strong>{role}</strong> ({email}). You are signed in as {me}.</p>
<div class="actions"><button data-action="{api}" data-body="{{}}" data-redirect="/w/{h}/sessions">Accept invitation</button></div><p class="error" hidden></p></div>"#,
            ws = esc(&ws.name),
            role = inv.role.as_str(),
            email = esc(&inv.email),
            me = esc(&s.user.email),
            h = esc(&ws.handle)
        ),
        None => format!(
            r#"<div class="card narrow"><h1>Join {ws}</h1><p>You were invited as <strong>{role}</strong>. Create your account for <strong>{email}</strong>, or <a href="/sign-in?next={next}">sign in</a> if you have one.</p>
<form data-api="{api}" data-redirect="/w/{h}/sessions"><label for="name">Your name</label><input id="name" name="name">
<label for="password">Password (8+ characters)</label><input id="password" name="password" type="password" minlength="8" required>
<div class="actions"><button type="submit">Create account and join</button></div><p class="error" hidden></p></form></div>"#,
            ws = esc(&ws.name),
            role = inv.role.as_str(),
            email = esc(&inv.email),
            h = esc(&ws.handle),
            next = url_encode(&format!("/invite/{token}"))
        ),
    };
    html("Invitation", None, &body, &state)
}

async fn sessions_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
) -> Response {
    let (session, m) = match member_page(&state, &headers, &ws, &format!("/w/{ws}/sessions")).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let wa = access_of(&session, &m);
    let list = match with_sessions(&state, &wa, async |s| s.list(200).await).await {
        Ok(l) => l,
        Err(e) => return internal(&state, e.message),
    };
    let rows: String = list
        .iter()
        .map(|s| {
            format!(
                "<tr><td><a href=\"/w/{h}/sessions/{id}\">{t}</a></td><td class=\"muted\">{msg}</td><td class=\"small muted\">{u}</td></tr>",
                h = esc(&m.workspace.handle), id = esc(&s.id), t = esc(&s.title), msg = esc(s.message.as_deref().unwrap_or("")), u = s.updated_at.to_iso()
            )
        })
        .collect();
    let body = if list.is_empty() {
        "<h1>Sessions</h1><div class=\"card\"><p>No sessions yet.</p><p class=\"muted\">Agents open one with <code>POST /api/session/new</code> and share its link with you. See <a href=\"/docs/agent-get-started\">Get started (for AI agents)</a>.</p></div>".to_string()
    } else {
        format!("<h1>Sessions</h1><div class=\"card table-wrap\"><table><thead><tr><th>Title</th><th>First message</th><th>Last activity</th></tr></thead><tbody>{rows}</tbody></table></div>")
    };
    html(
        "Sessions",
        Some(&nav(&session, &m, "sessions")),
        &body,
        &state,
    )
}

async fn session_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Response {
    let (session, m) =
        match member_page(&state, &headers, &ws, &format!("/w/{ws}/sessions/{id}")).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let wa = access_of(&session, &m);
    let loaded = with_sessions(&state, &wa, async |s| {
        Ok((s.get(&id).await?, s.events(&id, None, 1000).await?))
    })
    .await;
    let (s, events) = match loaded {
        Ok(x) => x,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return message_page(
                &state,
                StatusCode::NOT_FOUND,
                "Not found",
                "This session does not exist in this workspace.",
            )
        }
        Err(e) => return internal(&state, e.message),
    };
    let items: String = events
        .iter()
        .map(|e| {
            format!(
                "<li data-id=\"{id}\"><span class=\"type\">{t}</span><span class=\"ts\">{ts}</span><pre>{b}</pre></li>",
                id = esc(&e.id), t = esc(&e.kind), ts = e.ts.to_iso(), b = esc(&serde_json::to_string_pretty(&e.body).unwrap_or_default())
            )
        })
        .collect();
    let body = format!(
        r#"<h1 id="session-title">{title}</h1><p class="muted"><span id="live-dot" class="live"></span>Live timeline · started {created}</p>
<div class="card"><p id="timeline-empty" class="muted"{hidden}>No events yet. New events appear here as the agent posts them.</p>
<ul class="timeline" id="timeline" data-stream="/w/{h}/sessions/{id}/stream">{items}</ul></div>"#,
        title = esc(&s.title),
        created = s.created_at.to_iso(),
        hidden = if events.is_empty() { "" } else { " hidden" },
        h = esc(&m.workspace.handle),
        id = esc(&s.id)
    );
    html(
        &s.title,
        Some(&nav(&session, &m, "sessions")),
        &body,
        &state,
    )
}

/// Server-sent events for one session's timeline (cookie-authenticated, same origin).
async fn session_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let (session, m) =
        member_page(&state, &headers, &ws, &format!("/w/{ws}/sessions/{id}")).await?;
    let wa = access_of(&session, &m);
    with_sessions(&state, &wa, async |s| s.get(&id).await)
        .await
        .map_err(IntoResponse::into_response)?;
    let rx = state
        .events
        .subscribe(&m.workspace.id)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let id = id.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(change) if change.subject_id == id => {
                        let Some(event) = SessionEvent::from_outbox(&change.kind, &change.payload)
                        else {
                            continue;
                        };
                        let data = serde_json::to_string(&event).unwrap_or_default();
                        return Some((
                            Ok(Event::default()
                                .event(SESSION_EVENT)
                                .id(event.id)
                                .data(data)),
                            rx,
                        ));
                    }
                    Ok(_) => continue,
                    // A slow page missed some events; it keeps going (a reload shows all).
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

async fn agents_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
) -> Response {
    let (session, m, db) =
        match workspace_page(&state, &headers, &ws, &format!("/w/{ws}/agents")).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let list = match (Agents {
        db: &db,
        workspace_handle: &m.workspace.handle,
        links: state.links.clone(),
    })
    .list()
    .await
    {
        Ok(l) => l,
        Err(e) => return internal(&state, e),
    };
    let rows: String = list
        .iter()
        .map(|a| {
            format!(
                "<tr><td><a href=\"{url}\">{n}</a><div class=\"small muted mono\">{h}</div></td><td>{d}</td><td class=\"mono small\">{model}</td></tr>",
                url = esc(&a.url), n = esc(&a.name), h = esc(&a.handle), d = esc(a.description.as_deref().unwrap_or("")), model = esc(a.model.as_deref().unwrap_or("—"))
            )
        })
        .collect();
    let can_write = m.role.access().allows(Resource::Agents.write());
    let form = if can_write {
        format!(
            r#"<h2>New agent</h2><div class="card"><form data-api="/api/v1/agents" data-ws="{h}" data-redirect="reload">
<label for="name">Name</label><input id="name" name="name" required><label for="handle">Handle</label><input id="handle" name="handle" placeholder="support-assistant" required pattern="[a-z0-9][a-z0-9-]*">
<label for="model">Model</label><input id="model" name="model" placeholder="openai/gpt-5.4"><label for="description">Description</label><input id="description" name="description">
<label for="instructions">Instructions</label><textarea id="instructions" name="instructions" rows="4"></textarea>
<div class="actions"><button type="submit">Create agent</button></div><p class="error" hidden></p></form></div>"#,
            h = esc(&m.workspace.handle)
        )
    } else {
        String::new()
    };
    let table = if list.is_empty() {
        "<div class=\"card\"><p class=\"muted\">No agents yet.</p></div>".to_string()
    } else {
        format!("<div class=\"card table-wrap\"><table><thead><tr><th>Agent</th><th>Description</th><th>Model</th></tr></thead><tbody>{rows}</tbody></table></div>")
    };
    html(
        "Agents",
        Some(&nav(&session, &m, "agents")),
        &format!("<h1>Agents</h1>{table}{form}"),
        &state,
    )
}

async fn agent_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ws, slug)): Path<(String, String)>,
) -> Response {
    let (session, m, db, agent) = match agent_page_of(
        &state,
        &headers,
        &ws,
        &slug,
        &format!("/w/{ws}/agents/{slug}"),
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let c = &agent.capabilities;
    // Linked credentials by name and kind (never their secrets); ids that no longer exist
    // are shown as such. Attached skills with their descriptions.
    let known = andibase_agents::credentials::Credentials {
        db: &db,
        vault: &state.vault,
    }
    .list()
    .await
    .unwrap_or_default();
    let creds: Vec<String> = c
        .linked_credential_ids
        .iter()
        .map(|id| match known.iter().find(|k| &k.id == id) {
            Some(k) => format!(
                "<span class=\"badge\" title=\"{}\">{} · {}</span>",
                esc(id),
                esc(&k.name),
                if k.kind == andibase_agents::credentials::CredentialKind::McpServer {
                    "MCP server"
                } else {
                    "model provider"
                }
            ),
            None => format!("<span class=\"badge muted\">{} (missing)</span>", esc(id)),
        })
        .collect();
    let skills = andibase_agents::skills::Skills { db: &db }
        .of_agent(&agent.id)
        .await
        .unwrap_or_default();
    let skills_html = if skills.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Skills</h2><ul id=\"agent-skills\">{}</ul>",
            skills
                .iter()
                .map(|s| format!(
                    "<li><strong>{}</strong> <span class=\"muted\">{}</span></li>",
                    esc(&s.name),
                    esc(s.description.as_deref().unwrap_or(""))
                ))
                .collect::<String>()
        )
    };
    let delete = if m.role.access().allows(Resource::Agents.write()) {
        format!(
            r#"<div class="actions"><button class="danger" data-action="/api/v1/agents/{id}" data-method="DELETE" data-ws="{h}" data-confirm="Delete this agent?" data-redirect="/w/{h}/agents">Delete agent</button></div><p class="error" hidden></p>"#,
            id = esc(&agent.id),
            h = esc(&m.workspace.handle)
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<h1>{n}</h1><div class="card"><p class="muted">{d}</p><table><tbody>
<tr><th>Handle</th><td class="mono">{h}</td></tr><tr><th>Id</th><td class="mono">{id}</td></tr><tr><th>Model</th><td class="mono">{model}</td></tr>
<tr><th>Capabilities</th><td>web {w} · browser {b} · objects {o}</td></tr><tr><th>Credentials</th><td id="agent-credentials">{creds}</td></tr><tr><th>Updated</th><td>{u}</td></tr></tbody></table>
<h2>Instructions</h2><pre>{ins}</pre>{skills_html}<div class="actions"><a class="button" id="open-chat" href="/w/{wsh}/agents/{h}/chat">Chat with this agent</a></div>{delete}</div>"#,
        wsh = esc(&m.workspace.handle),
        n = esc(&agent.name),
        d = esc(agent.description.as_deref().unwrap_or("")),
        h = esc(&agent.handle),
        id = esc(&agent.id),
        model = esc(agent.model.as_deref().unwrap_or("—")),
        w = c.web_access,
        b = c.browser_access,
        o = c.objects_access,
        creds = if creds.is_empty() {
            "—".to_string()
        } else {
            creds.join(" ")
        },
        u = agent.updated_at.to_iso(),
        ins = esc(agent.instructions.as_deref().unwrap_or(""))
    );
    html(
        &agent.name,
        Some(&nav(&session, &m, "agents")),
        &body,
        &state,
    )
}

async fn api_keys_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
) -> Response {
    let (session, m) = match member_page(&state, &headers, &ws, &format!("/w/{ws}/api-keys")).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let keys = match state
        .identity
        .list_api_keys(&m.workspace, &session.user.id, m.role)
        .await
    {
        Ok(k) => k,
        Err(e) => return internal(&state, e),
    };
    let h = esc(&m.workspace.handle);
    let rows: String = keys
        .iter()
        .map(|k| {
            format!(
                r#"<tr><td>{n}<div class="small muted mono">{start}…</div></td><td><span class="badge">{role}</span>{off}</td><td class="small"><span class="muted phone-only">Last used </span>{last}</td><td class="small"><span class="muted phone-only">Expires </span>{exp}</td><td><button class="secondary" data-action="/api/v1/workspaces/{h}/api-keys/{id}" data-method="PATCH" data-body="{toggle}" data-redirect="reload">{toggle_label}</button> <button class="secondary" data-action="/api/v1/workspaces/{h}/api-keys/{id}" data-method="DELETE" data-confirm="Revoke this key? Agents using it stop working at once." data-redirect="reload">Revoke</button></td></tr>"#,
                n = esc(&k.name), start = esc(&k.start), role = k.role.as_str(), id = esc(&k.id),
                toggle = esc(&format!("{{\"enabled\":{}}}", !k.enabled)),
                toggle_label = if k.enabled { "Disable" } else { "Enable" },
                off = if k.enabled { "" } else { " <span class=\"badge\">disabled</span>" },
                last = k.last_request.map(|t| t.to_iso()).unwrap_or_else(|| "never".into()),
                exp = k.expires_at.map(|t| t.to_iso()).unwrap_or_else(|| "never".into()),
            )
        })
        .collect();
    let roles: String = ["admin", "editor", "viewer"]
        .iter()
        .filter(|r| andibase_identity::KeyRole::parse(r).is_some_and(|k| k <= m.role.acting_role()))
        .map(|r| format!("<option>{r}</option>"))
        .collect();
    let body = format!(
        r#"<h1>API keys</h1><p class="muted">Keys act in <strong>{name}</strong> with their role. Agents can also get one by <a href="/docs/agent-get-started">agent login</a>.</p>
<div class="card table-wrap"><table><thead><tr><th>Name</th><th>Role</th><th>Last used</th><th>Expires</th><th></th></tr></thead><tbody>{rows}</tbody></table><p class="error" hidden></p></div>
<h2>New key</h2><div class="card"><form data-api="/api/v1/workspaces/{h}/api-keys" data-result="secret" data-result-field="key">
<label for="key-name">Name</label><input id="key-name" name="name" required maxlength="100"><label for="key-role">Role</label><select id="key-role" name="role">{roles}</select>
<div class="actions"><button type="submit">Create key</button></div><p class="error" hidden></p></form>
<div id="secret-wrap" hidden><p><strong>Copy this secret now.</strong> It is shown once.</p><div class="secret" id="secret"></div><p><a href="">Done</a></p></div></div>"#,
        name = esc(&m.workspace.name)
    );
    html(
        "API keys",
        Some(&nav(&session, &m, "api-keys")),
        &body,
        &state,
    )
}

async fn members_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
) -> Response {
    let (session, m) = match member_page(&state, &headers, &ws, &format!("/w/{ws}/members")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (members, invitations) = match (
        state.identity.list_members(&m.workspace).await,
        state.identity.list_invitations(&m.workspace).await,
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return internal(&state, e),
    };
    let h = esc(&m.workspace.handle);
    let can_manage = m.role.access().allows(Resource::Members.write());
    let rows: String = members
        .iter()
        .map(|u| {
            let remove = if can_manage && u.id != session.user.id {
                format!(r#"<button class="secondary" data-action="/api/v1/workspaces/{h}/users/{id}" data-method="DELETE" data-confirm="Remove this member and revoke their keys?" data-redirect="reload">Remove</button>"#, id = esc(&u.id))
            } else {
                String::new()
            };
            format!("<tr><td>{n}<div class=\"small muted\">{e}</div></td><td><span class=\"badge\">{r}</span></td><td>{remove}</td></tr>", n = esc(&u.name), e = esc(&u.email), r = u.role.as_str())
        })
        .collect();
    let invites: String = invitations
        .iter()
        .map(|i| format!("<tr><td>{e}</td><td><span class=\"badge\">{r}</span></td><td class=\"small\">{x}</td></tr>", e = esc(&i.email), r = i.role.as_str(), x = i.expires_at.to_iso()))
        .collect();
    let invite_form = if can_manage {
        format!(
            r#"<h2>Invite</h2><div class="card"><form data-api="/api/v1/workspaces/{h}/invitations" data-result="invite-url" data-result-field="url">
<label for="invite-email">Email</label><input id="invite-email" name="email" type="email" required><label for="invite-role">Role</label><select id="invite-role" name="role"><option>editor</option><option>viewer</option><option>admin</option></select>
<div class="actions"><button type="submit">Create invitation link</button></div><p class="error" hidden></p></form>
<div id="invite-url-wrap" hidden><p>Send this link to them (shown once):</p><div class="secret" id="invite-url"></div></div></div>"#
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<h1>Members</h1><div class="card table-wrap"><table><thead><tr><th>Member</th><th>Role</th><th></th></tr></thead><tbody>{rows}</tbody></table><p class="error" hidden></p></div>
<h2>Pending invitations</h2><div class="card table-wrap"><table><thead><tr><th>Email</th><th>Role</th><th>Expires</th></tr></thead><tbody>{invites}</tbody></table></div>{invite_form}"#
    );
    html(
        "Members",
        Some(&nav(&session, &m, "members")),
        &body,
        &state,
    )
}

/// One pending approval as a card with its sanitized context and one button per option.
fn approval_card(
    a: &andibase_approvals::Approval,
    ws: &str,
    agent_name: &str,
    can_resolve: bool,
    allow_images: bool,
) -> String {
    let id = esc(&a.request_id);
    let buttons: String = if can_resolve {
        let opts: String = a
            .options
            .iter()
            .enumerate()
            .map(|(i, o)| {
                format!(
                    r#"<button class="option" data-action="/api/v1/approvals/{path}/resolve" data-ws="{ws}" data-body="{body}" data-redirect="reload">{label}</button>"#,
                    path = url_encode(&a.request_id), ws = esc(ws), body = esc(&format!("{{\"optionIndex\":{i}}}")), label = esc(&o.label)
                )
            })
            .collect();
        format!(
            r#"<div class="actions">{opts}</div><form class="instruction" id="instr-{id}"><label for="ci-{id}">Or answer with an instruction</label><textarea id="ci-{id}" name="customInstruction" rows="2"></textarea></form>
<div class="actions"><button class="secondary" data-action="/api/v1/approvals/{path}/resolve" data-ws="{ws}" data-fields-from="instr-{id}" data-redirect="reload">Send instruction</button></div><p class="error" hidden></p>"#,
            path = url_encode(&a.request_id),
            ws = esc(ws)
        )
    } else {
        "<p class=\"muted small\">Viewers cannot decide approvals.</p>".to_string()
    };
    format!(
        r#"<div class="card approval" data-request-id="{id}"><p class="muted small">{agent} · asked {created} · expires {expires}</p><h2 class="question">{q}</h2><div class="context">{ctx}</div>{buttons}</div>"#,
        agent = esc(agent_name),
        created = a.created_at.to_iso(),
        expires = a.expires_at.to_iso(),
        q = esc(&a.question),
        ctx = markdown::render_untrusted(&a.context_markdown, allow_images)
    )
}

async fn approvals_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let (session, m) = match member_page(&state, &headers, &ws, &format!("/w/{ws}/approvals")).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let pending = state
        .approvals
        .list(
            &m.workspace.id,
            andibase_approvals::ListFilter {
                status: Some("pending".into()),
                agent_id: None,
                limit: Some(200),
            },
        )
        .await;
    let decided = state
        .approvals
        .list(
            &m.workspace.id,
            andibase_approvals::ListFilter {
                status: None,
                agent_id: None,
                limit: Some(20),
            },
        )
        .await;
    let db = state.workspaces.get(&m.workspace.id).await;
    let (pending, decided, db) = match (pending, decided, db) {
        (Ok(p), Ok(d), Ok(db)) => (p, d, db),
        _ => return internal(&state, "could not load approvals"),
    };
    let names: std::collections::HashMap<String, String> = (Agents {
        db: &db,
        workspace_handle: &m.workspace.handle,
        links: state.links.clone(),
    })
    .list()
    .await
    .unwrap_or_default()
    .into_iter()
    .map(|a| (a.id, a.name))
    .collect();
    let can_resolve = m.role.access().allows(Resource::Approvals.write());
    let cards: String = pending
        .iter()
        .map(|a| {
            approval_card(
                a,
                &m.workspace.handle,
                names
                    .get(&a.agent_id)
                    .map(String::as_str)
                    .unwrap_or("Unknown agent"),
                can_resolve,
                state.config.allow_remote_images,
            )
        })
        .collect();
    let list = if pending.is_empty() {
        "<div class=\"card\"><p class=\"muted\" id=\"inbox-empty\">Nothing is waiting for you.</p></div>".to_string()
    } else {
        cards
    };
    if query_param(q.as_deref(), "fragment").is_some() {
        return Html(list).into_response();
    }
    let history: String = decided
        .iter()
        .filter(|a| !a.is_pending())
        .map(|a| {
            let outcome = a.selected_option_label.clone().or(a.custom_instruction.clone()).unwrap_or_default();
            format!(
                "<tr><td>{q}</td><td><span class=\"badge\">{s}</span> {o}</td><td class=\"small\">{by}</td></tr>",
                q = esc(&a.question), s = a.status.as_str(), o = esc(&outcome), by = esc(a.resolved_by.as_deref().unwrap_or(""))
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Approvals</h1><p class="muted"><span id="live-dot" class="live"></span>Requests from agents appear here as they arrive.</p>
<div id="inbox" data-approval-stream="/w/{h}/approvals/stream" data-fragment="/w/{h}/approvals?fragment=1">{list}</div>
<h2>Recently decided</h2><div class="card table-wrap"><table><thead><tr><th>Question</th><th>Outcome</th><th>By</th></tr></thead><tbody>{history}</tbody></table></div>"#,
        h = esc(&m.workspace.handle)
    );
    html(
        "Approvals",
        Some(&nav(&session, &m, "approvals")),
        &body,
        &state,
    )
}

async fn approvals_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
) -> Response {
    match member_page(&state, &headers, &ws, &format!("/w/{ws}/approvals")).await {
        Ok((_, m)) => crate::api::approvals::approval_events(&state, m.workspace.id.clone())
            .await
            .into_response(),
        Err(r) => r,
    }
}

fn data_of<'a>(
    state: &'a AppState,
    db: &'a andibase_storage::Database,
    m: &'a Membership,
) -> andibase_data::Data<'a> {
    andibase_data::Data {
        db,
        workspace_handle: &m.workspace.handle,
        hooks: &state.data_hooks,
        definitions: &state.definitions,
        usage: &state.query_log,
        role: m.role.acting_role(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_param(Some("a=1&user_code=AB%2DCD+1"), "user_code").as_deref(),
            Some("AB-CD 1")
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(query_param(None, "x"), None);
    }
}
