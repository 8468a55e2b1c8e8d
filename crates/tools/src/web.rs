//! `web_fetch`: a page of the public web as text, for agents with `webAccess`. Every
//! connection (redirects too) goes through the outbound guard, so a model cannot make the
//! server read its own network unless the operator allows private destinations.

use std::borrow::Cow;
use std::time::Duration;

use andibase_identity::Resource;
use andibase_outbound::Policy;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{schema, ToolSpec};

/// How long a fetch may take, and how much of a page is read.
const TIMEOUT: Duration = Duration::from_secs(20);
const MAX_BYTES: usize = 2 << 20;
/// Characters of text given back, by default and at most.
const DEFAULT_CHARS: usize = 20_000;
const MAX_CHARS: usize = 100_000;

pub fn web_tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "web_fetch".into(),
        description: Cow::Borrowed("Fetches a web page (http or https) and answers its text: HTML reduced to readable text, JSON and plain text as they are. Private and loopback addresses are refused."),
        input_schema: schema(
            json!({
                "url": {"type": "string", "description": "The page's absolute URL."},
                "max_characters": {"type": "integer", "minimum": 100, "maximum": MAX_CHARS}
            }),
            &["url"],
        ),
        // Reading the web touches nothing of the workspace; anyone who may talk to the
        // agent may have it read a page.
        permission: Resource::Agents.read(),
    }]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fetch {
    url: String,
    #[serde(default)]
    max_characters: Option<usize>,
}

/// Fetches the page; `Err` says why not, in words for the model.
pub(crate) async fn fetch(input: Fetch, policy: Policy) -> Result<Value, String> {
    let url = input.url.trim().to_string();
    let limit = input
        .max_characters
        .unwrap_or(DEFAULT_CHARS)
        .clamp(100, MAX_CHARS);
    let page = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            andibase_outbound::get_text(&url, policy, TIMEOUT, MAX_BYTES)
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let readable = if page.content_type.contains("html") {
        html_to_text(&page.text)
    } else if page.content_type.starts_with("text/")
        || page.content_type.contains("json")
        || page.content_type.contains("xml")
        || page.content_type.is_empty()
    {
        page.text
    } else {
        return Err(format!(
            "the page is `{}`, not text; web_fetch reads only text, HTML and JSON",
            page.content_type
        ));
    };
    let total = readable.chars().count();
    let text: String = readable.chars().take(limit).collect();
    Ok(json!({
        "url": url,
        "status": page.status,
        "contentType": page.content_type,
        "text": text,
        "truncated": page.truncated || total > limit,
    }))
}

/// HTML as readable text: scripts, styles and tags dropped, block ends as line breaks,
/// the common entities decoded, runs of blank space folded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with('<') {
            let lrest = &lower[i..];
            // Skip whole script/style/noscript/head elements and comments.
            let skipped = ["script", "style", "noscript", "template"]
                .iter()
                .find(|t| {
                    lrest[1..].starts_with(**t)
                        && lrest[1 + t.len()..].starts_with(|c: char| c == '>' || c.is_whitespace())
                })
                .map(|t| {
                    let close = format!("</{t}");
                    lrest.find(&close).map_or(html.len() - i, |p| {
                        let after = p + close.len();
                        lrest[after..]
                            .find('>')
                            .map_or(lrest.len(), |q| after + q + 1)
                    })
                });
            let skip = if let Some(n) = skipped {
                n
            } else if lrest.starts_with("<!--") {
                lrest.find("-->").map_or(html.len() - i, |p| p + 3)
            } else {
                let end = rest.find('>').map_or(rest.len(), |p| p + 1);
                let tag = lrest[1..end.min(lrest.len())]
                    .trim_start_matches('/')
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("");
                if matches!(
                    tag,
                    "p" | "br"
                        | "div"
                        | "li"
                        | "tr"
                        | "h1"
                        | "h2"
                        | "h3"
                        | "h4"
                        | "h5"
                        | "h6"
                        | "section"
                        | "article"
                        | "header"
                        | "footer"
                        | "table"
                        | "ul"
                        | "ol"
                        | "pre"
                        | "blockquote"
                        | "title"
                ) {
                    out.push('\n');
                } else {
                    out.push(' ');
                }
                end
            };
            i += skip.max(1);
            continue;
        }
        let next = rest.find('<').unwrap_or(rest.len());
        out.push_str(&decode_entities(&rest[..next]));
        i += next;
    }
    fold_space(&out)
}

fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "nbsp" => Some(' '),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "amp" => Some('&'),
                "ndash" => Some('–'),
                "mdash" => Some('—'),
                "hellip" => Some('…'),
                "rsquo" => Some('’'),
                "lsquo" => Some('‘'),
                "rdquo" => Some('”'),
                "ldquo" => Some('“'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .map(|h| u32::from_str_radix(h, 16))
                    .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Spaces and tabs folded to one; blank lines dropped.
fn fold_space(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_readable_text() {
        let html = "<html><head><title>Prices</title><style>p{color:red}</style></head><body>\
            <script>var x = '<p>no</p>';</script><h1>Plans</h1><p>Team &amp; Pro:<br>12&nbsp;EUR &#8211; &#x2014; &bogus; &</p>\
            <!-- hidden --><ul><li>one</li><li>two</li></ul></body></html>";
        assert_eq!(
            html_to_text(html),
            "Prices\nPlans\nTeam & Pro:\n12 EUR – — &bogus; &\none\ntwo"
        );
    }
}
