//! The data pages: definitions, a definition's records (list, form) and its fields. Pages
//! are rendered here; `assets/data.js` turns forms into API calls (typed values, the
//! relationship search), shows times in the viewer's zone and copies ids. What a member
//! may change decides what is rendered; the API checks it again on every call.

use andibase_common::DomainError;
use andibase_data::{DataDefinition, FieldSpec, FieldType, QueryParams};
use andibase_identity::{Membership, Resource};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::layout::{esc, url_encode};
use super::{data_of, html, internal, message_page, nav, query_param, workspace_page};
use crate::state::AppState;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/w/{ws}/data", get(definitions_page))
        .route("/w/{ws}/data/{definition}", get(records_page))
        .route("/w/{ws}/data/{definition}/new", get(new_record_page))
        .route("/w/{ws}/data/{definition}/records/{id}", get(record_page))
        .route("/w/{ws}/data/{definition}/fields", get(fields_page))
}

/// What the signed-in member may do on the data pages.
struct Can {
    write_records: bool,
    change_definitions: bool,
}

fn can(m: &Membership) -> Can {
    let access = m.role.access();
    Can {
        write_records: access.allows(Resource::Data.write()),
        change_definitions: access.allows(Resource::DataDefinitions.write()),
    }
}

/// The member, their workspace's database, and the definition named in the path.
struct DefinitionPage {
    session: andibase_identity::BrowserSession,
    m: Membership,
    db: andibase_storage::Database,
    def: DataDefinition,
    /// Every definition of the workspace (relationship targets).
    all: Vec<DataDefinition>,
}

async fn open_definition(
    state: &AppState,
    headers: &HeaderMap,
    ws: &str,
    definition: &str,
    here: &str,
) -> Result<DefinitionPage, Response> {
    let (session, m, db) = workspace_page(state, headers, ws, here).await?;
    let data = data_of(state, &db, &m);
    let def = match data.get_definition(definition).await {
        Ok(d) => d,
        Err(DomainError::NotFound) => {
            return Err(message_page(
                state,
                StatusCode::NOT_FOUND,
                "Not found",
                "No such data definition in this workspace.",
            ))
        }
        Err(e) => return Err(internal(state, e)),
    };
    let all = data
        .list_definitions()
        .await
        .map_err(|e| internal(state, e))?;
    Ok(DefinitionPage {
        session,
        m,
        db,
        def,
        all,
    })
}

const COPY_ICON: &str = r#"<svg viewBox="0 0 16 16" width="13" height="13" aria-hidden="true"><rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M11 3.5V3a1 1 0 0 0-1-1H3a1 1 0 0 0-1 1v7a1 1 0 0 0 1 1h.5" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>"#;

/// Who wrote a record: a member by name, a key by its short id.
fn actor_html(actor: &str, members: &[andibase_identity::Member]) -> String {
    match actor.split_once(':') {
        Some(("user", id)) => match members.iter().find(|m| m.id == id) {
            Some(m) => format!(
                "<span title=\"{}\">{}</span>",
                esc(&m.email),
                esc(if m.name.is_empty() { &m.email } else { &m.name })
            ),
            None => id_html(actor),
        },
        Some(("key", id)) => format!("API key {}", id_html(id)),
        _ => id_html(actor),
    }
}

/// An id shortened to its ends, with the whole id on hover and a copy button.
fn id_html(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let short = if chars.len() > 14 {
        format!(
            "{}…{}",
            chars[..6].iter().collect::<String>(),
            chars[chars.len() - 4..].iter().collect::<String>()
        )
    } else {
        id.to_string()
    };
    format!(
        r#"<span class="id mono" title="{id}">{short}</span><button type="button" class="copy" data-copy="{id}" title="Copy {id}" aria-label="Copy id">{COPY_ICON}</button>"#,
        id = esc(id),
        short = esc(&short)
    )
}

/// A time the script shows in the viewer's zone and as a relative time.
fn time_html(iso: &str) -> String {
    format!(
        r#"<time datetime="{t}" title="{t}">{t}</time>"#,
        t = esc(iso)
    )
}

/// A select option as a chip in its colour.
fn chip(spec: &FieldSpec, value: &str) -> String {
    let option = spec.options.iter().flatten().find(|o| o.value == value);
    let label = option.and_then(|o| o.label.as_deref()).unwrap_or(value);
    let color = option.and_then(|o| o.color.as_deref()).unwrap_or("");
    format!(
        r#"<span class="chip" data-color="{}">{}</span>"#,
        esc(color),
        esc(label)
    )
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    format!("{}…", s.chars().take(max).collect::<String>())
}

/// One attribute's value in a list cell.
fn cell_html(spec: &FieldSpec, v: &Value) -> String {
    match (spec.field_type(), v) {
        (_, Value::Null) => String::new(),
        (FieldType::Select, Value::String(s)) => chip(spec, s),
        (FieldType::MultiSelect, Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| chip(spec, s))
            .collect(),
        (FieldType::DateTime, Value::String(s)) => time_html(s),
        (FieldType::Boolean, Value::Bool(b)) => if *b { "✓" } else { "–" }.to_string(),
        (FieldType::Relationship, Value::Array(items)) => items
            .iter()
            .map(|v| cell_html(spec, v))
            .collect::<Vec<_>>()
            .join(" "),
        // Expanded: the related record; its id alone when it is gone.
        (FieldType::Relationship, Value::Object(r)) => {
            let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
            let name = r
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty());
            format!(
                r#"<span class="chip" title="{}">{}</span>"#,
                esc(id),
                esc(name.unwrap_or(id))
            )
        }
        (FieldType::Relationship, Value::String(id)) => id_html(id),
        (FieldType::Url, Value::String(s))
            if s.starts_with("https://") || s.starts_with("http://") =>
        {
            format!(
                r#"<a href="{}" rel="noopener noreferrer nofollow">{}</a>"#,
                esc(s),
                esc(&shorten(s, 40))
            )
        }
        (_, Value::String(s)) => esc(&shorten(s, 120)),
        (_, other) => format!("<code>{}</code>", esc(&shorten(&other.to_string(), 80))),
    }
}

/// The fields the member's role may see, in key order.
fn visible_fields<'d>(def: &'d DataDefinition, m: &Membership) -> Vec<(&'d String, &'d FieldSpec)> {
    let role = m.role.acting_role();
    def.fields
        .iter()
        .filter(|(_, f)| !f.hidden_from.contains(&role))
        .collect()
}

fn field_label(key: &str, spec: &FieldSpec) -> String {
    esc(spec.name.as_deref().unwrap_or(key))
}

async fn definitions_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
) -> Response {
    let (session, m, db) =
        match workspace_page(&state, &headers, &ws, &format!("/w/{ws}/data")).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let defs = match data_of(&state, &db, &m).list_definitions().await {
        Ok(d) => d,
        Err(e) => return internal(&state, e),
    };
    let h = esc(&m.workspace.handle);
    let rows: String = defs
        .iter()
        .map(|d| {
            format!(
                "<tr><td><a href=\"/w/{h}/data/{handle}\">{n}</a><div class=\"small muted mono\">{handle}</div></td><td>{desc}</td><td class=\"small\"><a href=\"/w/{h}/data/{handle}/fields\">{f} fields</a></td></tr>",
                handle = esc(&d.handle), n = esc(&d.name), desc = esc(d.description.as_deref().unwrap_or("")), f = d.fields.len()
            )
        })
        .collect();
    let list = if defs.is_empty() {
        "<div class=\"card\"><p class=\"muted\">No data definitions yet.</p></div>".to_string()
    } else {
        format!("<div class=\"card table-wrap\"><table><thead><tr><th>Definition</th><th>Description</th><th>Fields</th></tr></thead><tbody>{rows}</tbody></table></div>")
    };
    let create = if can(&m).change_definitions {
        format!(
            r#"<h2>New definition</h2><div class="card"><form id="new-definition" data-api="/api/v1/data-definitions" data-ws="{h}" data-redirect="/w/{h}/data/{{handle}}/fields">
<label for="def-name">Name</label><input id="def-name" name="name" required maxlength="100" placeholder="Orders">
<label for="def-description">Description</label><input id="def-description" name="description" maxlength="1000">
<div class="actions"><button type="submit" id="create-definition">Create definition</button></div><p class="error" hidden></p></form></div>"#
        )
    } else {
        String::new()
    };
    let body = format!("<h1>Data</h1>{list}{create}");
    html("Data", Some(&nav(&session, &m, "data")), &body, &state)
}

async fn records_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ws, definition)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let here = format!("/w/{ws}/data/{definition}");
    let p = match open_definition(&state, &headers, &ws, &definition, &here).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (def, m) = (&p.def, &p.m);
    let data = data_of(&state, &p.db, m);
    let filter = query_param(q.as_deref(), "filter").filter(|f| !f.trim().is_empty());
    let search = query_param(q.as_deref(), "search").filter(|f| !f.trim().is_empty());
    let cursor = query_param(q.as_deref(), "cursor");
    let deleted = query_param(q.as_deref(), "deleted").is_some_and(|v| v == "1");
    // Related records by name, not id.
    let related: Vec<&str> = visible_fields(def, m)
        .into_iter()
        .filter(|(_, f)| f.field_type() == FieldType::Relationship)
        .map(|(k, _)| k.as_str())
        .collect();
    let params = QueryParams {
        filter: filter.clone(),
        search: search.clone(),
        expand: (!related.is_empty()).then(|| related.join(",")),
        limit: Some(50),
        cursor: cursor.clone(),
        // Counting a million records exactly for every page costs more than the page.
        count: Some(andibase_data::Count::Estimate),
        include_deleted: Some(deleted),
        ..Default::default()
    };
    let (page, problem) = match data.query(&def.handle, params).await {
        Ok(p) => (Some(p), None),
        Err(DomainError::Invalid { message, issues }) => {
            let detail: Vec<String> = issues.iter().map(|i| i.message.clone()).collect();
            (
                None,
                Some(if detail.is_empty() {
                    message
                } else {
                    detail.join("; ")
                }),
            )
        }
        Err(e) => return internal(&state, e),
    };
    let can = can(m);
    let h = esc(&m.workspace.handle);
    let dh = esc(&def.handle);
    let fields = visible_fields(def, m);
    let head: String = fields
        .iter()
        .map(|(k, f)| format!("<th>{}</th>", field_label(k, f)))
        .collect();
    let api = format!("/api/v1/data-definitions/{dh}/data/delete-many");
    let rows: String = page
        .iter()
        .flat_map(|p| p.items.iter())
        .map(|r| {
            let id = r["id"].as_str().unwrap_or_default();
            let is_deleted = !r["deletedAt"].is_null();
            let cells: String = fields
                .iter()
                .map(|(k, f)| {
                    format!(
                        "<td data-label=\"{}\">{}</td>",
                        field_label(k, f),
                        cell_html(f, &r["attributes"][k.as_str()])
                    )
                })
                .collect();
            let action = match (can.write_records, is_deleted) {
                (false, _) => String::new(),
                (true, false) => format!(
                    r#"<button type="button" class="secondary small-button" data-action="{api}" data-ws="{h}" data-body='{{"ids":[{ids}]}}' data-redirect="reload" data-error="records-error">Delete</button>"#,
                    ids = esc(&Value::from(id).to_string())
                ),
                (true, true) => format!(
                    r#"<button type="button" class="secondary small-button" data-action="{api}" data-ws="{h}" data-body='{{"ids":[{ids}],"restore":true}}' data-redirect="reload" data-error="records-error">Restore</button>"#,
                    ids = esc(&Value::from(id).to_string())
                ),
            };
            let badge = if is_deleted {
                r#" <span class="badge">deleted</span>"#
            } else {
                ""
            };
            format!(
                "<tr data-id=\"{idq}\"{cls}><td data-label=\"Id\">{idh}</td><td data-label=\"Name\"><a href=\"/w/{h}/data/{dh}/records/{ide}\">{name}</a>{badge}</td>{cells}<td data-label=\"Updated\">{updated}</td><td>{action}</td></tr>",
                idq = esc(id),
                cls = if is_deleted { " class=\"deleted\"" } else { "" },
                idh = id_html(id),
                ide = esc(&url_encode(id)),
                name = match r["name"].as_str() {
                    Some(n) if !n.is_empty() => esc(n),
                    _ => "<span class=\"muted\">(no name)</span>".into(),
                },
                updated = r["updatedAt"].as_str().map(time_html).unwrap_or_default(),
            )
        })
        .collect();
    let query_of = |cursor: Option<&str>, deleted: bool| {
        let mut parts = Vec::new();
        if let Some(f) = &filter {
            parts.push(format!("filter={}", url_encode(f)));
        }
        if let Some(s) = &search {
            parts.push(format!("search={}", url_encode(s)));
        }
        if deleted {
            parts.push("deleted=1".into());
        }
        if let Some(c) = cursor {
            parts.push(format!("cursor={}", url_encode(c)));
        }
        if parts.is_empty() {
            here.clone()
        } else {
            format!("{here}?{}", parts.join("&"))
        }
    };
    let mut pager = Vec::new();
    if cursor.is_some() {
        pager.push(format!(
            "<a id=\"first-page\" href=\"{}\">First page</a>",
            esc(&query_of(None, deleted))
        ));
    }
    if let Some(c) = page.as_ref().and_then(|p| p.next_cursor.as_deref()) {
        pager.push(format!(
            "<a id=\"next-page\" href=\"{}\">Next page</a>",
            esc(&query_of(Some(c), deleted))
        ));
    }
    let total = page
        .as_ref()
        .and_then(|p| Some((p.total?, p.total_estimated.is_some())))
        .map(|(t, estimated)| match estimated {
            true => format!("about {t} records"),
            false => format!("{t} records"),
        })
        .unwrap_or_default();
    let error = problem
        .map(|p| format!("<p class=\"error\" id=\"filter-error\">{}</p>", esc(&p)))
        .unwrap_or_default();
    let toggle = if deleted {
        format!(
            "<a id=\"toggle-deleted\" href=\"{}\">Hide deleted</a>",
            esc(&query_of(None, false))
        )
    } else {
        format!(
            "<a id=\"toggle-deleted\" href=\"{}\">Show deleted</a>",
            esc(&query_of(None, true))
        )
    };
    let new = if can.write_records {
        format!(r#"<a class="button" id="new-record" href="/w/{h}/data/{dh}/new">New record</a>"#)
    } else {
        r#"<span class="badge" id="read-only">read only</span>"#.into()
    };
    let body = format!(
        r#"<div class="title-row"><h1>{name}</h1>{new}</div><p class="muted">{desc} <a href="/w/{h}/data/{dh}/fields">Fields</a></p>
<form method="get" action="{here}" class="card filters"><div class="grid2"><div><label for="filter">Filter</label><input id="filter" name="filter" value="{filter_text}" placeholder='status = "open" &amp;&amp; amount &gt; 100'></div>
<div><label for="search">Search</label><input id="search" name="search" type="search" value="{search_text}"></div></div>{keep}
<div class="actions"><button type="submit">Apply</button></div>{error}</form>
<p class="muted small"><span id="record-count">{total}</span> · {toggle}</p><p class="error" id="records-error" hidden></p>
<div class="card table-wrap"><table id="records"><thead><tr><th>Id</th><th>Name</th>{head}<th>Updated</th><th></th></tr></thead><tbody>{rows}</tbody></table></div><p class="pager">{pager}</p>"#,
        name = esc(&def.name),
        desc = esc(def.description.as_deref().unwrap_or("")),
        here = esc(&here),
        filter_text = esc(filter.as_deref().unwrap_or("")),
        search_text = esc(search.as_deref().unwrap_or("")),
        keep = if deleted {
            r#"<input type="hidden" name="deleted" value="1">"#
        } else {
            ""
        },
        pager = pager.join(" · "),
    );
    html(&def.name, Some(&nav(&p.session, m, "data")), &body, &state)
}

/// One attribute's input, for its type.
fn field_input(
    key: &str,
    spec: &FieldSpec,
    value: &Value,
    disabled: bool,
    all: &[DataDefinition],
) -> String {
    let id = format!("f-{key}");
    let name = format!("attr:{key}");
    let off = if disabled { " disabled" } else { "" };
    let text = |v: &Value| v.as_str().map(esc).unwrap_or_default();
    let kind = spec.field_type();
    let input = match kind {
        FieldType::Boolean => format!(
            r#"<label class="check"><input type="checkbox" id="{id}" name="{name}" data-type="boolean"{checked}{off}> {label}</label>"#,
            checked = if value.as_bool() == Some(true) {
                " checked"
            } else {
                ""
            },
            label = field_label(key, spec),
        ),
        FieldType::Number => format!(
            r#"<input type="number" step="any" id="{id}" name="{name}" data-type="number" value="{v}"{off}>"#,
            v = match value {
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            },
        ),
        FieldType::Date => format!(
            r#"<input type="date" id="{id}" name="{name}" data-type="date" value="{v}"{off}>"#,
            v = text(value)
        ),
        FieldType::DateTime => format!(
            r#"<input type="datetime-local" step="1" id="{id}" name="{name}" data-type="datetime" data-utc="{v}"{off}><span class="small muted zone"></span>"#,
            v = text(value)
        ),
        FieldType::Select | FieldType::MultiSelect => {
            let multi = kind == FieldType::MultiSelect;
            let chosen = |v: &str| match value {
                Value::String(s) => s == v,
                Value::Array(items) => items.iter().any(|i| i.as_str() == Some(v)),
                _ => false,
            };
            let chips: String = spec
                .options
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, o)| {
                    format!(
                        r#"<label class="chip pick" data-color="{color}"><input type="{t}" name="{name}" id="{id}-{i}" value="{v}" data-type="{dt}"{checked}{off}>{label}</label>"#,
                        t = if multi { "checkbox" } else { "radio" },
                        dt = if multi { "multiSelect" } else { "select" },
                        color = esc(o.color.as_deref().unwrap_or("")),
                        v = esc(&o.value),
                        checked = if chosen(&o.value) { " checked" } else { "" },
                        label = esc(o.label.as_deref().unwrap_or(&o.value)),
                    )
                })
                .collect();
            let clear = if multi || disabled {
                String::new()
            } else {
                format!(
                    r#"<label class="chip pick none"><input type="radio" name="{name}" value="" data-type="select"{checked}>none</label>"#,
                    checked = if value.is_null() { " checked" } else { "" }
                )
            };
            format!(r#"<div class="chips" id="{id}" role="group">{chips}{clear}</div>"#)
        }
        FieldType::Relationship => {
            let target = all
                .iter()
                .find(|d| Some(&d.id) == spec.data_definition_id.as_ref());
            let ids: Vec<&str> = match value {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let current = esc(&serde_json::to_string(&ids).unwrap_or_default());
            match target {
                Some(t) => format!(
                    r#"<div class="relation" data-target="{th}" data-target-name="{tn}" data-many="{many}"><input type="hidden" id="{id}" name="{name}" data-type="relationship" data-many="{many}" value="{current}"><div class="chips picked"></div>{search}<ul class="found"></ul></div>"#,
                    th = esc(&t.handle),
                    tn = esc(&t.name),
                    many = spec.many,
                    search = if disabled {
                        String::new()
                    } else {
                        format!(
                            r#"<input type="search" id="{id}-search" class="relation-search" autocomplete="off" placeholder="Search {}…">"#,
                            esc(&t.name)
                        )
                    },
                ),
                None => format!("<p class=\"muted small\">The related definition no longer exists.</p><input type=\"hidden\" id=\"{id}\" name=\"{name}\" data-type=\"relationship\" data-many=\"{}\" value=\"{current}\" disabled>", spec.many),
            }
        }
        FieldType::Json => format!(
            r#"<textarea id="{id}" name="{name}" data-type="json" rows="4" class="mono"{off}>{v}</textarea>"#,
            v = if value.is_null() {
                String::new()
            } else {
                esc(&serde_json::to_string_pretty(value).unwrap_or_default())
            }
        ),
        FieldType::Email | FieldType::Url | FieldType::Text | FieldType::File => format!(
            r#"<input type="{t}" id="{id}" name="{name}" data-type="text" value="{v}"{off}>"#,
            t = match kind {
                FieldType::Email => "email",
                FieldType::Url => "url",
                _ => "text",
            },
            v = text(value)
        ),
    };
    let label = if kind == FieldType::Boolean {
        String::new()
    } else {
        format!(
            "<label for=\"{id}\">{}{}</label>",
            field_label(key, spec),
            if spec.required {
                " <span class=\"muted\">*</span>"
            } else {
                ""
            }
        )
    };
    let description = spec
        .description
        .as_deref()
        .map(|d| format!("<div class=\"small muted\">{}</div>", esc(d)))
        .unwrap_or_default();
    format!(
        "<div class=\"field\" data-attr=\"{k}\">{label}{input}{description}<div class=\"error field-error\" hidden></div></div>",
        k = esc(key)
    )
}

/// The record form: a new record (`record` none) or one to edit; read-only for members
/// who may not write records.
fn record_form(p: &DefinitionPage, record: Option<&Value>, can_write: bool) -> String {
    let (def, m) = (&p.def, &p.m);
    let h = esc(&m.workspace.handle);
    let dh = esc(&def.handle);
    let disabled = !can_write;
    let fields: String = visible_fields(def, m)
        .into_iter()
        .map(|(k, f)| {
            let value = match record {
                Some(r) => r["attributes"][k.as_str()].clone(),
                None => f.default.clone().unwrap_or(Value::Null),
            };
            field_input(k, f, &value, disabled, &p.all)
        })
        .collect();
    let off = if disabled { " disabled" } else { "" };
    let name = record
        .and_then(|r| r["name"].as_str())
        .map(esc)
        .unwrap_or_default();
    let id_field = match record {
        Some(_) => String::new(),
        None => r#"<div class="field" data-system="id"><label for="record-id">Id</label><input id="record-id" name="id" maxlength="100" placeholder="left empty, one is made"><div class="error field-error" hidden></div></div>"#.into(),
    };
    let save = if can_write {
        format!(
            r#"<div class="actions"><button type="submit" id="save-record">{}</button></div>"#,
            if record.is_some() {
                "Save"
            } else {
                "Create record"
            }
        )
    } else {
        String::new()
    };
    format!(
        r#"<form id="record-form" class="card" data-record data-ws="{h}" data-definition="{dh}" data-record-id="{rid}" data-redirect-base="/w/{h}/data/{dh}/records/">{id_field}
<div class="field" data-system="name"><label for="record-name">Name</label><input id="record-name" name="name" maxlength="1000" value="{name}"{off}><div class="error field-error" hidden></div></div>
{fields}{save}<p class="error" hidden></p><p class="success" id="record-saved" hidden>Saved.</p></form>"#,
        rid = esc(record.and_then(|r| r["id"].as_str()).unwrap_or("")),
    )
}

async fn new_record_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ws, definition)): Path<(String, String)>,
) -> Response {
    let here = format!("/w/{ws}/data/{definition}/new");
    let p = match open_definition(&state, &headers, &ws, &definition, &here).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !can(&p.m).write_records {
        return message_page(
            &state,
            StatusCode::FORBIDDEN,
            "Read only",
            "Your role in this workspace may read records but not create them.",
        );
    }
    let body = format!(
        r#"<p class="small"><a href="/w/{h}/data/{dh}">← {name}</a></p><h1>New record</h1>{form}"#,
        h = esc(&p.m.workspace.handle),
        dh = esc(&p.def.handle),
        name = esc(&p.def.name),
        form = record_form(&p, None, true),
    );
    html(
        "New record",
        Some(&nav(&p.session, &p.m, "data")),
        &body,
        &state,
    )
}

async fn record_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ws, definition, id)): Path<(String, String, String)>,
) -> Response {
    let here = format!("/w/{ws}/data/{definition}/records/{id}");
    let p = match open_definition(&state, &headers, &ws, &definition, &here).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let data = data_of(&state, &p.db, &p.m);
    let record = match data.get_record(&p.def.handle, &id, true, None).await {
        Ok(r) => r,
        Err(DomainError::NotFound) => {
            return message_page(
                &state,
                StatusCode::NOT_FOUND,
                "Not found",
                "No such record in this definition.",
            )
        }
        Err(e) => return internal(&state, e),
    };
    let can = can(&p.m);
    let h = esc(&p.m.workspace.handle);
    let dh = esc(&p.def.handle);
    let deleted = !record["deletedAt"].is_null();
    let ids = esc(&Value::from(id.as_str()).to_string());
    let api = format!("/api/v1/data-definitions/{dh}/data/delete-many");
    let lifecycle = match (can.write_records, deleted) {
        (false, _) => String::new(),
        (true, false) => format!(
            r#"<button type="button" class="secondary" id="delete-record" data-action="{api}" data-ws="{h}" data-body='{{"ids":[{ids}]}}' data-redirect="reload">Delete</button>"#
        ),
        (true, true) => format!(
            r#"<button type="button" id="restore-record" data-action="{api}" data-ws="{h}" data-body='{{"ids":[{ids}],"restore":true}}' data-redirect="reload">Restore</button>"#
        ),
    };
    let members = state
        .identity
        .list_members(&p.m.workspace)
        .await
        .unwrap_or_default();
    let when = |k: &str| record[k].as_str().map(time_html).unwrap_or_default();
    let who = |k: &str| actor_html(record[k].as_str().unwrap_or(""), &members);
    let body = format!(
        r#"<p class="small"><a href="/w/{h}/data/{dh}">← {def_name}</a></p><div class="title-row"><h1>{title}</h1>{badge}</div>
<p class="muted small meta">{idh} · created {created} by {created_by} · updated {updated} by {updated_by} · version <span id="record-version">{version}</span></p>
{form}<div class="actions">{lifecycle}</div><p class="error" hidden></p>"#,
        def_name = esc(&p.def.name),
        title = esc(record["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(&id)),
        badge = if deleted {
            r#"<span class="badge" id="deleted-badge">deleted</span>"#
        } else {
            ""
        },
        idh = id_html(&id),
        created = when("createdAt"),
        updated = when("updatedAt"),
        created_by = who("createdBy"),
        updated_by = who("updatedBy"),
        version = record["version"],
        form = record_form(&p, Some(&record), can.write_records && !deleted),
    );
    html(
        record["name"].as_str().unwrap_or("Record"),
        Some(&nav(&p.session, &p.m, "data")),
        &body,
        &state,
    )
}

const TYPES: [FieldType; 12] = [
    FieldType::Text,
    FieldType::Number,
    FieldType::Boolean,
    FieldType::Date,
    FieldType::DateTime,
    FieldType::Select,
    FieldType::MultiSelect,
    FieldType::Relationship,
    FieldType::Json,
    FieldType::Email,
    FieldType::Url,
    FieldType::File,
];

/// The declared indexes (those naming only fields the member sees), with a remove button
/// each and a form to add one, for those who change definitions.
fn indexes_section(
    def: &DataDefinition,
    m: &Membership,
    change: bool,
    api: &str,
    h: &str,
) -> String {
    let visible: Vec<&String> = visible_fields(def, m).into_iter().map(|(k, _)| k).collect();
    let shown = |spec: &andibase_data::IndexSpec| {
        spec.fields.iter().all(|name| {
            match andibase_data::FieldName::parse(name.trim_start_matches('-')) {
                andibase_data::FieldName::System(_) => true,
                andibase_data::FieldName::Attribute(k) => visible.iter().any(|v| v.as_str() == k),
            }
        })
    };
    let rows: String = def
        .indexes
        .iter()
        .enumerate()
        .filter(|(_, spec)| shown(spec))
        .map(|(i, spec)| {
            let remove = if change {
                let rest: Vec<_> = def.indexes.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, s)| s).collect();
                format!(
                    r#"<button type="button" class="danger small-button" data-action="{api}" data-method="PATCH" data-ws="{h}" data-body='{body}' data-confirm="Remove this index?" data-redirect="reload" data-error="fields-error">Remove</button>"#,
                    body = esc(&serde_json::json!({"indexes": rest}).to_string()),
                )
            } else {
                String::new()
            };
            let why = spec
                .auto
                .as_ref()
                .map(|a| format!("built for slow queries: {}", a.reason))
                .unwrap_or_default();
            format!(
                "<tr><td data-label=\"Fields\" class=\"mono\">{}</td><td data-label=\"Kind\">{}</td><td data-label=\"Why\" class=\"small muted\">{}</td><td>{remove}</td></tr>",
                esc(&spec.fields.join(", ")),
                match (spec.unique, spec.substring) {
                    (true, _) => "unique",
                    (_, true) => "substring (~)",
                    _ => "",
                },
                esc(&why),
            )
        })
        .collect();
    let table = if rows.is_empty() {
        r#"<p class="muted small" id="no-indexes">No indexes over several fields.</p>"#.to_string()
    } else {
        format!(
            r#"<div class="card table-wrap"><table id="indexes"><thead><tr><th>Fields</th><th>Kind</th><th>Why</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>"#
        )
    };
    let form = if change {
        format!(
            r#"<div class="card"><form id="index-form" data-index-form data-definition-api="{api}" data-ws="{h}" data-indexes="{existing}"><label for="index-fields">Fields in order, comma-separated; <code>-</code> before a field sorts it descending</label><input id="index-fields" name="fields" required placeholder="status, -amount"><div class="flags"><label class="check"><input type="checkbox" id="index-unique" name="unique"> unique</label><label class="check"><input type="checkbox" id="index-substring" name="substring"> substring: serves <code>~</code> on one text field</label></div><div class="actions"><button type="submit" id="add-index">Add index</button></div><p class="error" hidden></p></form></div>"#,
            existing = esc(&serde_json::to_string(&def.indexes).unwrap_or_default()),
        )
    } else {
        String::new()
    };
    format!("<h2>Indexes</h2><p class=\"muted small\">A filter on an index's first fields and a sort on the next ones are served by it together.</p>{table}{form}")
}

async fn fields_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ws, definition)): Path<(String, String)>,
) -> Response {
    let here = format!("/w/{ws}/data/{definition}/fields");
    let p = match open_definition(&state, &headers, &ws, &definition, &here).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let change = can(&p.m).change_definitions;
    let h = esc(&p.m.workspace.handle);
    let dh = esc(&p.def.handle);
    let api = format!("/api/v1/data-definitions/{dh}");
    let all = &p.all;
    let rows: String = visible_fields(&p.def, &p.m)
        .into_iter()
        .map(|(k, f)| {
            let mut flags: Vec<String> = Vec::new();
            for (on, name) in [(f.required, "required"), (f.unique, "unique"), (f.indexed, "indexed"), (f.many, "many")] {
                if on {
                    flags.push(name.into());
                }
            }
            if !f.hidden_from.is_empty() {
                let roles: Vec<&str> = f.hidden_from.iter().map(|r| r.as_str()).collect();
                flags.push(format!("hidden from {}", roles.join(", ")));
            }
            let detail = match f.field_type() {
                FieldType::Select | FieldType::MultiSelect => f
                    .options
                    .iter()
                    .flatten()
                    .map(|o| chip(f, &o.value))
                    .collect(),
                FieldType::Relationship => all
                    .iter()
                    .find(|d| Some(&d.id) == f.data_definition_id.as_ref())
                    .map(|d| format!("→ <a href=\"/w/{h}/data/{t}\">{n}</a>", t = esc(&d.handle), n = esc(&d.name)))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let actions = if change {
                let spec = serde_json::to_string(f).unwrap_or_default();
                format!(
                    r#"<button type="button" class="secondary small-button" data-edit-field="{k}" data-spec="{spec}">Edit</button> <button type="button" class="danger small-button" data-action="{api}" data-method="PATCH" data-ws="{h}" data-body='{body}' data-confirm="Remove the field {k} and its values from every record?" data-redirect="reload" data-error="fields-error">Remove</button>"#,
                    k = esc(k),
                    spec = esc(&spec),
                    body = esc(&serde_json::json!({"fields": {k.as_str(): null}}).to_string()),
                )
            } else {
                String::new()
            };
            format!(
                "<tr data-key=\"{ke}\"><td data-label=\"Key\" class=\"mono\">{ke}</td><td data-label=\"Name\">{name}</td><td data-label=\"Type\">{t}</td><td data-label=\"Rules\" class=\"small\">{flags}</td><td data-label=\"Options\">{detail}</td><td>{actions}</td></tr>",
                ke = esc(k),
                name = field_label(k, f),
                t = f.field_type().name(),
                flags = esc(&flags.join(", ")),
            )
        })
        .collect();
    let types: String = TYPES
        .iter()
        .map(|t| format!("<option value=\"{n}\">{n}</option>", n = t.name()))
        .collect();
    let targets: String = all
        .iter()
        .map(|d| format!("<option value=\"{}\">{}</option>", esc(&d.id), esc(&d.name)))
        .collect();
    let editor = if change {
        format!(
            r#"<h2 id="field-form-title">Add a field</h2><div class="card"><form id="field-form" data-field-form data-definition-api="{api}" data-ws="{h}">
<div class="grid2"><div><label for="field-key">Key</label><input id="field-key" name="key" required maxlength="63" pattern="[A-Za-z][A-Za-z0-9_]*" placeholder="status"></div>
<div class="rename" hidden><label for="field-rename">Rename to</label><input id="field-rename" name="rename" maxlength="63" pattern="[A-Za-z][A-Za-z0-9_]*"></div>
<div><label for="field-name">Display name</label><input id="field-name" name="name" maxlength="200"></div>
<div><label for="field-type">Type</label><select id="field-type" name="type">{types}</select></div></div>
<div class="flags"><label class="check"><input type="checkbox" id="field-required" name="required"> required</label><label class="check"><input type="checkbox" id="field-unique" name="unique"> unique</label><label class="check"><input type="checkbox" id="field-indexed" name="indexed"> indexed</label></div>
<div data-for-types="select multiSelect"><label for="field-options">Options, one a line: <code>value</code>, or <code>value | Label | colour</code></label><textarea id="field-options" name="options" rows="4" placeholder="open | Open | green&#10;closed | Closed | gray"></textarea></div>
<div data-for-types="relationship"><label for="field-target">Related definition</label><select id="field-target" name="dataDefinitionId">{targets}</select><label class="check"><input type="checkbox" id="field-many" name="many"> many</label></div>
<label for="field-description">Description</label><input id="field-description" name="description" maxlength="1000">
<div class="actions"><button type="submit" id="save-field">Save field</button><button type="reset" class="secondary" id="field-reset">Clear</button></div><p class="error" hidden></p></form></div>
<h2>Definition</h2><div class="card"><form id="definition-form" data-api="{api}" data-method="PATCH" data-ws="{h}" data-redirect="reload"><label for="definition-name">Name</label><input id="definition-name" name="name" value="{name}" maxlength="100"><label for="definition-description">Description</label><input id="definition-description" name="description" value="{desc}" maxlength="1000"><div class="actions"><button type="submit">Save</button></div><p class="error" hidden></p></form></div>"#,
            name = esc(&p.def.name),
            desc = esc(p.def.description.as_deref().unwrap_or("")),
        )
    } else {
        r#"<p class="muted small" id="read-only">Only admins change fields.</p>"#.into()
    };
    let indexes = indexes_section(&p.def, &p.m, change, &api, &h);
    let body = format!(
        r#"<p class="small"><a href="/w/{h}/data/{dh}">← {name} records</a></p><h1>{name}: fields</h1><p class="error" id="fields-error" hidden></p>
<div class="card table-wrap"><table id="fields"><thead><tr><th>Key</th><th>Name</th><th>Type</th><th>Rules</th><th>Options</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>{indexes}{editor}"#,
        name = esc(&p.def.name),
    );
    html(
        &format!("{}: fields", p.def.name),
        Some(&nav(&p.session, &p.m, "data")),
        &body,
        &state,
    )
}
