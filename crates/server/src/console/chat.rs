//! The chat page of an agent (`/w/{ws}/agents/{slug}/chat[?chat=id]`): the agent's chats,
//! one chat's transcript, and a composer. `assets/chat.js` draws the transcript (from the
//! JSON embedded here, then from the streamed turn: text as it comes, each tool call and
//! its result, approval waits) through the chats API, so the page and API clients see the
//! same thing.

use andibase_agents::chats::Chats;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::layout::{esc, url_encode};
use super::{agent_page_of, html, internal, nav, query_param};
use crate::state::AppState;

/// JSON inside a `<script>` element: `<` escaped so no text can close it.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

pub(super) async fn chat_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ws, slug)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let here = format!("/w/{ws}/agents/{slug}/chat");
    let (session, m, db, agent) = match agent_page_of(&state, &headers, &ws, &slug, &here).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let chats = Chats {
        db: &db,
        agent: &agent,
    };
    let list = match chats.list().await {
        Ok(l) => l,
        Err(e) => return internal(&state, e),
    };
    let open = query_param(q.as_deref(), "chat");
    let messages = match &open {
        Some(id) => match chats.get(id).await {
            Ok(chat) => json!(chat.messages),
            Err(andibase_common::DomainError::NotFound) => json!([]),
            Err(e) => return internal(&state, e),
        },
        None => json!([]),
    };
    let h = esc(&m.workspace.handle);
    let items: String = list
        .iter()
        .map(|c| {
            let on = if open.as_deref() == Some(c.chat_id.as_str()) {
                " class=\"on\""
            } else {
                ""
            };
            format!(
                "<li><a{on} href=\"{here}?chat={id}\">{t}</a><div class=\"small muted\">{n} messages</div></li>",
                here = esc(&here),
                id = esc(&url_encode(&c.chat_id)),
                t = esc(&c.title),
                n = c.n_messages
            )
        })
        .collect();
    let data = json!({
        "agentId": agent.id,
        "workspace": m.workspace.handle,
        "chatId": open,
        "messages": messages,
        "approvals": format!("/w/{}/approvals", m.workspace.handle),
    });
    let body = format!(
        r#"<h1><a href="/w/{h}/agents/{slug}">{name}</a> · chat</h1>
<div class="chat-layout"><aside class="card chat-list"><a class="button" href="{here}">New chat</a><ul id="chats">{items}</ul></aside>
<section class="card chat"><div id="transcript" aria-live="polite"></div>
<form id="composer"><label for="chat-text">Message</label><textarea id="chat-text" rows="3" required placeholder="Ask {name}…"></textarea>
<div class="actions"><button type="submit" id="chat-send">Send</button></div><p class="error" id="chat-error" hidden></p></form></section></div>
<script type="application/json" id="chat-data">{data}</script><script src="/assets/chat.js"></script>"#,
        slug = esc(&agent.handle),
        name = esc(&agent.name),
        here = esc(&here),
        data = script_json(&data),
    );
    html(
        &format!("Chat with {}", agent.name),
        Some(&nav(&session, &m, "agents")),
        &body,
        &state,
    )
}
