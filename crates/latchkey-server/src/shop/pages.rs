//! The browser pages: the demo checkout, and the success and cancel pages both providers land
//! on. Plain HTML, no scripts, no external anything, a strict Content-Security-Policy.

use super::{CheckoutState, CheckoutStatus};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

/// Nothing but this page's own form may run or load.
pub const CSP: &str =
    "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title></head>\n<body>\n{body}\n</body></html>\n",
        title = escape(title)
    );
    let mut resp = Html(html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `<`, `>`, `&` and quotes escaped.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn price(c: &CheckoutStatus) -> String {
    format!(
        "{}.{:02} {}",
        c.amount / 100,
        c.amount % 100,
        c.currency.to_uppercase()
    )
}

/// The link back to the app.
pub fn app_link(id: &str) -> String {
    format!("latchkey://purchase?checkout={id}")
}

fn back_to_app(id: &str) -> String {
    format!(
        "<p><a href=\"{}\">Back to Latchkey</a></p>\n<p>You can close this tab. Latchkey \
         also checks by itself, so it will show the result even if the link does not open \
         the app.</p>",
        escape(&app_link(id))
    )
}

/// `GET /demo/checkout/{id}`: the demo's "payment" page.
pub fn demo_checkout(c: &CheckoutStatus) -> Response {
    let id = escape(&c.checkout_id);
    let action = match c.status {
        CheckoutState::Pending => format!(
            "<form method=\"post\" action=\"/demo/checkout/{id}/pay\">\
             <button type=\"submit\">Pay (DEMO)</button></form>\n\
             <p><a href=\"/checkout/{id}/cancel\">Cancel</a></p>"
        ),
        CheckoutState::Paid => format!(
            "<p>This DEMO checkout is already paid.</p>{}",
            back_to_app(&c.checkout_id)
        ),
        other => format!(
            "<p>This DEMO checkout is {}. Start a new purchase in Latchkey.</p>",
            other.as_str()
        ),
    };
    page(
        "DEMO checkout — Latchkey",
        &format!(
            "<h1>DEMO checkout</h1>\n<p><strong>DEMO: no money moves and no account is \
             used.</strong> This page stands in for a real payment provider.</p>\n\
             <p>Pack <code>{}</code>: {} credits for {} (DEMO price).</p>\n{action}",
            escape(&c.pack),
            c.credits,
            escape(&price(c)),
        ),
    )
}

/// `GET /checkout/{id}/done`: where both providers send the browser after paying.
pub fn done(c: &CheckoutStatus, demo: bool) -> Response {
    let label = if demo { "DEMO " } else { "" };
    let what = match c.status {
        CheckoutState::Paid => format!(
            "<h1>{label}Payment received</h1>\n<p>{} credits are in your Latchkey balance.</p>",
            c.credits
        ),
        CheckoutState::Pending => format!(
            "<h1>{label}Payment being confirmed</h1>\n<p>The payment provider has not \
             confirmed the payment yet. The {} credits appear in your balance as soon as it \
             does.</p>",
            c.credits
        ),
        other => format!(
            "<h1>{label}Purchase {}</h1>\n<p>Nothing was added to your balance.</p>",
            other.as_str()
        ),
    };
    let title = format!("{label}Purchase — Latchkey");
    page(&title, &format!("{what}\n{}", back_to_app(&c.checkout_id)))
}

/// `GET /checkout/{id}/cancel`: the buyer went back.
pub fn cancelled(c: &CheckoutStatus, demo: bool) -> Response {
    let label = if demo { "DEMO " } else { "" };
    if c.status == CheckoutState::Paid {
        return done(c, demo);
    }
    page(
        &format!("{label}Purchase cancelled — Latchkey"),
        &format!(
            "<h1>{label}Purchase cancelled</h1>\n<p>Nothing was charged and nothing was added to \
             your balance.</p>\n{}",
            back_to_app(&c.checkout_id)
        ),
    )
}
