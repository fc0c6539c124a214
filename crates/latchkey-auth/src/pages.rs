//! The pages the loopback receiver shows in the user's browser. Self-contained: no external
//! fonts, scripts or images; every dynamic value is HTML-escaped.

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>\
body{{font-family:system-ui,-apple-system,\"Segoe UI\",sans-serif;max-width:36rem;\
margin:4rem auto;padding:0 1rem;line-height:1.5;color:#1d2330;background:#fff}}\
h1{{font-size:1.4rem}}a{{color:#2f6fdf}}\
@media (prefers-color-scheme:dark){{body{{color:#e8ebf2;background:#161a22}}a{{color:#8fb3ff}}}}\
</style></head><body>{body}</body></html>",
        title = escape(title),
    )
}

/// "Signed in to Latchkey as <who>. You can close this tab."
pub(crate) fn success(who: &str, app_link: Option<&str>) -> String {
    let link = app_link
        .map(|l| format!("<p><a href=\"{}\">Open Latchkey</a></p>", escape(l)))
        .unwrap_or_default();
    page(
        "Signed in to Latchkey",
        &format!(
            "<h1>You're signed in to Latchkey</h1><p>Signed in as <strong>{}</strong>. \
You can close this tab and go back to Latchkey.</p>{link}",
            escape(who)
        ),
    )
}

/// A failure page that says what went wrong and what to do.
pub(crate) fn failure(what: &str, next: &str) -> String {
    page(
        "Latchkey sign-in failed",
        &format!(
            "<h1>Latchkey could not sign you in</h1><p>{}</p><p>{}</p>",
            escape(what),
            escape(next)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_text_is_escaped() {
        let html = success("<img src=x onerror=alert(1)>", Some("latchkey://\"x"));
        assert!(
            !html.contains("<img"),
            "markup from the provider must show as text"
        );
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("latchkey://&quot;x"));
        assert!(
            !html.contains("http"),
            "pages load nothing from the network"
        );
    }
}
