//! The page pattern every console page uses: one layout, escaped text, small helpers.

use crate::state::ServerConfig;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a string for a query parameter.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Navigation context for pages inside a workspace.
pub struct Nav<'a> {
    pub workspace_handle: &'a str,
    pub workspace_name: &'a str,
    pub user_email: &'a str,
    /// Which section is open: `approvals`, `sessions`, `agents`, `api-keys`, `members`.
    pub section: &'a str,
}

pub fn page(title: &str, nav: Option<&Nav<'_>>, body: &str, _config: &ServerConfig) -> String {
    let header = match nav {
        Some(n) => {
            let link = |section: &str, label: &str| {
                let on = if n.section == section { " class=\"on\"" } else { "" };
                format!("<a{on} href=\"/w/{}/{section}\">{label}</a>", esc(n.workspace_handle))
            };
            format!(
                r#"<header class="top"><a class="brand" href="/w/{h}">andibase</a><span class="badge" title="workspace">{name}</span><nav>{ap}{d}{mem}{s}{a}{k}{m}<a href="/docs">Docs</a></nav><span class="who">{email}</span><button class="secondary" data-action="/api/v1/auth/sign-out" data-redirect="/sign-in">Sign out</button></header>"#,
                h = esc(n.workspace_handle),
                name = esc(n.workspace_name),
                ap = link("approvals", "Approvals"),
                d = link("data", "Data"),
                mem = link("memory", "Memory"),
                s = link("sessions", "Sessions"),
                a = link("agents", "Agents"),
                k = link("api-keys", "API keys"),
                m = link("members", "Members"),
                email = esc(n.user_email),
            )
        }
        None => r#"<header class="top"><a class="brand" href="/">andibase</a><nav><a href="/docs">Docs</a></nav></header>"#.to_string(),
    };
    // The data pages' script (typed forms, times, ids) loads only where it is used.
    let data_script = if nav.is_some_and(|n| n.section == "data") {
        r#"<script src="/assets/data.js"></script>"#
    } else {
        ""
    };
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{title} · andibase</title><link rel="stylesheet" href="/assets/app.css"></head><body>{header}<main>{body}</main><script src="/assets/app.js"></script>{data_script}</body></html>"#,
        title = esc(title),
    )
}
