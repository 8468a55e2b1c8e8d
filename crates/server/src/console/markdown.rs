//! Markdown written by agents, rendered for humans without letting it run anything: raw
//! HTML is shown as text, links keep only http(s), mailto and relative targets, and
//! remote images become plain links unless the operator allows them.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

/// A link target that cannot run script: `javascript:`, `data:`, `vbscript:` and every
/// other scheme but http, https and mailto become `#`.
fn safe_url(url: &str) -> String {
    // Browsers ignore tabs, newlines and leading blanks inside a scheme; so do we.
    let squeezed: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect();
    let lower = squeezed.to_ascii_lowercase();
    let scheme_end = lower.find(':');
    let first_delim = lower.find(['/', '?', '#']);
    let has_scheme = match (scheme_end, first_delim) {
        (Some(c), Some(d)) => c < d,
        (Some(_), None) => true,
        _ => false,
    };
    if !has_scheme
        || lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("mailto:")
    {
        squeezed
    } else {
        "#".to_string()
    }
}

fn is_remote(url: &str) -> bool {
    let l = url.trim().to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://") || l.starts_with("//")
}

pub fn render_untrusted(md: &str, allow_remote_images: bool) -> String {
    let parser = Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    // Images turned into links must close as links.
    let mut image_as_link: Vec<bool> = Vec::new();
    let events = parser.map(|ev| match ev {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::from(safe_url(&dest_url)),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let as_link =
                !allow_remote_images || !is_remote(&dest_url) || safe_url(&dest_url) == "#";
            image_as_link.push(as_link);
            if as_link {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url: CowStr::from(safe_url(&dest_url)),
                    title,
                    id,
                })
            } else {
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                })
            }
        }
        Event::End(TagEnd::Image) => {
            if image_as_link.pop().unwrap_or(true) {
                Event::End(TagEnd::Link)
            } else {
                Event::End(TagEnd::Image)
            }
        }
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_script_links_render_inert() {
        let md = "Hi <script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3)) [tab](java\tscript:alert(4)) \
                  [data](data:text/html,<b>x</b>) [ok](https://example.com/a?b=1) [rel](/w/x) [mail](mailto:a@b.co)\n\n![pic](https://evil.example/p.png)";
        let html = render_untrusted(md, false);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.to_lowercase().contains("javascript:"), "{html}");
        assert!(!html.contains("href=\"data:"), "{html}");
        assert!(
            html.contains("&lt;script&gt;"),
            "raw HTML is shown as text: {html}"
        );
        assert!(html.contains("href=\"https://example.com/a?b=1\""));
        assert!(html.contains("href=\"/w/x\""));
        assert!(html.contains("href=\"mailto:a@b.co\""));
        assert!(
            html.contains("href=\"https://evil.example/p.png\""),
            "remote images become links: {html}"
        );
        let allowed = render_untrusted(
            "![pic](https://cdn.example/p.png) ![bad](javascript:x)",
            true,
        );
        assert!(
            allowed.contains("<img src=\"https://cdn.example/p.png\""),
            "{allowed}"
        );
        assert!(!allowed.to_lowercase().contains("javascript"), "{allowed}");
    }

    #[test]
    fn ordinary_markdown_survives() {
        let html = render_untrusted(
            "# Build #123\n\n- **passed** CI\n- `main` branch\n\n| a | b |\n|---|---|\n| 1 | 2 |",
            false,
        );
        assert!(
            html.contains("<h1>Build #123</h1>")
                && html.contains("<strong>passed</strong>")
                && html.contains("<table>")
        );
    }
}
