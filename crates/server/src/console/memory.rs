//! The console's memory pages: a workspace's spaces, and one space's conversations and
//! graph (concepts by type, one concept with its links and their provenance). Read only;
//! members need `memory.read`. Everything is read through `memory` as the API reads it.

use andibase_identity::Resource;
use andibase_memory::Space;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::layout::{esc, url_encode};
use super::{html, internal, member_page, message_page, nav};
use crate::state::AppState;

/// `/w/{ws}/memory`: the workspace's spaces.
pub(super) async fn spaces_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
) -> Response {
    let (session, m) = match member_page(&state, &headers, &ws, &format!("/w/{ws}/memory")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !m.role.access().allows(Resource::Memory.read()) {
        return message_page(
            &state,
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your role cannot read memory.",
        );
    }
    let spaces = match state.memory.spaces_of(&m.workspace.id).await {
        Ok(s) => s,
        Err(e) => return internal(&state, e),
    };
    let h = esc(&m.workspace.handle);
    let rows: String = spaces
        .iter()
        .map(|s| {
            format!(
                "<tr><td data-label=\"Space\"><a href=\"/w/{h}/memory/{id}\">{id}</a></td><td data-label=\"Name\">{name}</td><td data-label=\"Visibility\">{vis}</td><td data-label=\"Tier\">{tier}</td></tr>",
                id = esc(&s.id),
                name = esc(s.name.as_deref().unwrap_or("")),
                vis = if s.public { "public" } else { "private" },
                tier = s.tier,
            )
        })
        .collect();
    let body = if rows.is_empty() {
        r#"<h1>Memory</h1><p class="muted" id="no-spaces">No memory spaces yet. An API key with memory.write makes one: <code>POST /admin/create_space {"space_id": "…"}</code>.</p>"#.to_string()
    } else {
        format!(
            r#"<h1>Memory</h1><div class="card table-wrap"><table id="spaces"><thead><tr><th>Space</th><th>Name</th><th>Visibility</th><th>Tier</th></tr></thead><tbody>{rows}</tbody></table></div>"#
        )
    };
    html("Memory", Some(&nav(&session, &m, "memory")), &body, &state)
}

#[derive(Deserialize, Default)]
pub(super) struct SpaceQuery {
    #[serde(default)]
    r#type: Option<String>,
    #[serde(default)]
    concept: Option<String>,
}

/// A KIP read on the space; its result, or null.
async fn kip(state: &AppState, space: &Space, command: &str, parameters: Value) -> Value {
    let out = state
        .memory
        .execute_kip_readonly(space, json!({"command": command, "parameters": parameters}))
        .await
        .unwrap_or(Value::Null);
    out["result"].clone()
}

/// `/w/{ws}/memory/{space}`: its conversations and its graph; `?type=` lists that type's
/// concepts, `?concept=C:n` shows one with its links.
pub(super) async fn space_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ws, space_id)): Path<(String, String)>,
    Query(q): Query<SpaceQuery>,
) -> Response {
    let here = format!("/w/{ws}/memory/{space_id}");
    let (session, m) = match member_page(&state, &headers, &ws, &here).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let space = match state.memory.space(&space_id).await {
        Ok(s)
            if s.workspace_id == m.workspace.id
                && m.role.access().allows(Resource::Memory.read()) =>
        {
            s
        }
        // Another workspace's space is as missing as one that does not exist.
        _ => {
            return message_page(
                &state,
                StatusCode::NOT_FOUND,
                "Not found",
                "No such memory space in this workspace.",
            )
        }
    };
    let h = esc(&m.workspace.handle);
    let base = format!("/w/{h}/memory/{}", esc(&space.id));
    let info = match state.memory.info(&space).await {
        Ok(i) => i,
        Err(e) => return internal(&state, e),
    };
    let (conversations, _) = state
        .memory
        .conversations(&space, andibase_memory::FORMATION, None, 20)
        .await
        .unwrap_or_default();
    let conv_rows: String = conversations
        .iter()
        .map(|c| {
            let first = c["messages"][0]["content"].as_str().unwrap_or("");
            let first: String = first.chars().take(80).collect();
            format!(
                "<tr><td data-label=\"#\">{}</td><td data-label=\"Status\" class=\"status-{s}\">{s}</td><td data-label=\"User\">{}</td><td data-label=\"Begins\">{}</td></tr>",
                c["_id"],
                esc(c["user"].as_str().unwrap_or("")),
                esc(&first),
                s = esc(c["status"].as_str().unwrap_or("")),
            )
        })
        .collect();
    let types = kip(
        &state,
        &space,
        "DESCRIBE CONCEPT TYPES LIMIT 200",
        json!({}),
    )
    .await;
    let type_links: String = types
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| !t.starts_with('$'))
        .map(|t| {
            format!(
                "<a class=\"chip\" href=\"{base}?type={}\">{}</a> ",
                url_encode(t),
                esc(t)
            )
        })
        .collect();
    let detail = if let Some(id) = q.concept.as_deref() {
        concept_detail(&state, &space, &base, id).await
    } else if let Some(t) = q.r#type.as_deref() {
        let found = kip(
            &state,
            &space,
            "FIND(?c) WHERE { ?c {type: :t} } LIMIT 200",
            json!({"t": t}),
        )
        .await;
        let items: String = found
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "<li><a href=\"{base}?concept={}\">{}</a></li>",
                    url_encode(c["id"].as_str().unwrap_or("")),
                    esc(c["name"].as_str().unwrap_or(""))
                )
            })
            .collect();
        format!(
            "<h2 id=\"type-title\">{}</h2><ul id=\"concepts\">{items}</ul>",
            esc(t)
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<p class="small"><a href="/w/{h}/memory">← Memory</a></p><h1>{title}</h1><p class="muted small" id="space-stats">{concepts} concepts · {props} propositions · {convs} conversations · formed up to {formed} · {vis}</p>
<h2>Conversations</h2><div class="card table-wrap"><table id="conversations"><thead><tr><th>#</th><th>Status</th><th>User</th><th>Begins</th></tr></thead><tbody>{conv_rows}</tbody></table></div>
<h2>Graph</h2><p id="types">{type_links}</p>{detail}"#,
        title = esc(space.name.as_deref().unwrap_or(&space.id)),
        concepts = info.concepts,
        props = info.propositions,
        convs = info.conversations,
        formed = info.formation_processed_id,
        vis = if space.public { "public" } else { "private" },
    );
    html(&space.id, Some(&nav(&session, &m, "memory")), &body, &state)
}

/// One concept: its attributes, and its links out and in with their provenance.
async fn concept_detail(state: &AppState, space: &Space, base: &str, id: &str) -> String {
    let found = kip(
        state,
        space,
        "FIND(?c) WHERE { ?c {id: :id} }",
        json!({"id": id}),
    )
    .await;
    let Some(c) = found.as_array().and_then(|a| a.first()).cloned() else {
        return "<p class=\"error\" id=\"no-concept\">No such concept.</p>".into();
    };
    let attributes = serde_json::to_string_pretty(&c["attributes"]).unwrap_or_default();
    let row = |l: &Value, other: &str| {
        let md = &l["metadata"];
        let provenance: Vec<String> = ["source", "author", "confidence", "_updated_at"]
            .iter()
            .filter(|k| !md[**k].is_null())
            .map(|k| {
                format!(
                    "{k}: {}",
                    md[*k]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| md[*k].to_string())
                )
            })
            .collect();
        format!(
            "<tr><td data-label=\"Predicate\">{}</td><td data-label=\"Concept\"><a href=\"{base}?concept={}\">{}</a></td><td data-label=\"Provenance\" class=\"small muted\">{}</td></tr>",
            esc(l["predicate"].as_str().unwrap_or("")),
            url_encode(l[other].as_str().unwrap_or("")),
            esc(l[other].as_str().unwrap_or("")),
            esc(&provenance.join(", ")),
        )
    };
    let (outgoing, incoming) = (
        kip(
            state,
            space,
            "FIND(?l) WHERE { ?c {id: :id} ?l (?c, ?p, ?o) } LIMIT 200",
            json!({"id": id}),
        )
        .await,
        kip(
            state,
            space,
            "FIND(?l) WHERE { ?c {id: :id} ?l (?s, ?p, ?c) } LIMIT 200",
            json!({"id": id}),
        )
        .await,
    );
    let out: String = outgoing
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| row(l, "object"))
        .collect();
    let inc: String = incoming
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| row(l, "subject"))
        .collect();
    format!(
        r#"<h2 id="concept-title">{ty}: {name}</h2><pre class="card" id="attributes">{attrs}</pre><h3>Links out</h3><div class="card table-wrap"><table id="links-out"><tbody>{out}</tbody></table></div><h3>Links in</h3><div class="card table-wrap"><table id="links-in"><tbody>{inc}</tbody></table></div>"#,
        ty = esc(c["type"].as_str().unwrap_or("")),
        name = esc(c["name"].as_str().unwrap_or("")),
        attrs = esc(&attributes),
    )
}
