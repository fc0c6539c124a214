//! Which `latchkey://` link is which: the pure routing of links the OS hands the app (a
//! redeem, a purchase, a bare "open", or possibly a sign-in callback for the core's inbox), with
//! every parameter checked. No Tauri here, so the fuzz workspace calls it directly
//! (`fuzz/fuzz_targets/deeplink.rs`); the shell's `deeplink.rs` acts on the answer.

use latchkey_wallet::voucher;
use url::Url;

/// The app's URL scheme (tauri.conf.json `plugins.deep-link.desktop.schemes`).
pub const SCHEME: &str = "latchkey";
/// The longest voucher accepted from a link (real ones are ~200 characters).
const MAX_VOUCHER: usize = 2048;

/// What a link asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Link {
    /// A well-formed voucher to offer for redemption (not yet verified).
    Redeem(String),
    /// Possibly a sign-in callback: only the core can tell.
    MaybeCallback(Url),
    /// `latchkey://`: show the app.
    Open,
    /// `latchkey://purchase?checkout=ID`: show the app and its balance.
    Purchase(String),
    /// Anything else: not acted on.
    Ignored,
}

/// The longest checkout id accepted from a link.
const MAX_CHECKOUT: usize = 128;

/// Classifies a URL without acting on it. Never panics, whatever the text.
pub fn classify(url: &str) -> Link {
    let Ok(u) = Url::parse(url) else {
        return Link::Ignored;
    };
    if u.scheme() != SCHEME {
        return Link::Ignored;
    }
    match u.host_str() {
        Some("redeem") => {
            let vouchers: Vec<String> = u
                .query_pairs()
                .filter(|(k, _)| k == "voucher")
                .map(|(_, v)| v.into_owned())
                .collect();
            match vouchers.as_slice() {
                [v] if well_formed_voucher(v) => Link::Redeem(v.clone()),
                _ => Link::Ignored,
            }
        }
        Some("purchase") => {
            let ids: Vec<String> = u
                .query_pairs()
                .filter(|(k, _)| k == "checkout")
                .map(|(_, v)| v.into_owned())
                .collect();
            match ids.as_slice() {
                [id] if well_formed_checkout(id) => Link::Purchase(id.clone()),
                _ => Link::Ignored,
            }
        }
        None | Some("") if matches!(u.path(), "" | "/") && u.query().is_none() => Link::Open,
        _ => Link::MaybeCallback(u),
    }
}

/// A checkout id as the service makes them (`[A-Za-z0-9_-]`, short).
fn well_formed_checkout(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CHECKOUT
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Length, charset (`LKV1.<base64url>.<base64url>`), then the wallet's own decoder: the
/// signature, expiry and account are checked by [`crate::Core::preview_voucher`] before a
/// face shows the amount, and again when the user confirms.
fn well_formed_voucher(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_VOUCHER
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && voucher::decode(v).is_ok()
}

/// `scheme://host/path` only: queries and fragments may carry codes or vouchers.
pub fn shown(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.path()
        ),
        Err(_) => "(not a URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_voucher() -> String {
        use latchkey_wallet::{voucher, Credits, VoucherSpec};
        let (private, _) = voucher::keygen().unwrap();
        voucher::issue(&private, &VoucherSpec::new(Credits(5))).unwrap()
    }

    #[test]
    fn redeem_links_carry_one_well_formed_voucher() {
        let v = a_voucher();
        assert_eq!(
            classify(&format!("latchkey://redeem?voucher={v}")),
            Link::Redeem(v.clone())
        );
        for bad in [
            "latchkey://redeem?voucher=<script>".to_string(),
            "latchkey://redeem?voucher=LKV1.abc.def".into(),
            format!("latchkey://redeem?voucher={v}&voucher={v}"),
            "latchkey://redeem".into(),
            format!("latchkey://redeem?voucher={}", "a".repeat(3000)),
            format!("https://redeem?voucher={v}"),
        ] {
            assert_eq!(classify(&bad), Link::Ignored, "{bad}");
        }
    }

    #[test]
    fn other_links_are_callbacks_for_the_core_to_judge_or_nothing() {
        assert!(matches!(
            classify("latchkey://auth/callback?code=x&state=y"),
            Link::MaybeCallback(_)
        ));
        assert_eq!(classify("latchkey://"), Link::Open);
        assert_eq!(classify("not a url"), Link::Ignored);
        assert_eq!(classify("file:///etc/passwd"), Link::Ignored);
    }

    #[test]
    fn purchase_links_carry_one_checkout_id() {
        assert_eq!(
            classify("latchkey://purchase?checkout=cs_demo_42-x"),
            Link::Purchase("cs_demo_42-x".into())
        );
        for bad in [
            "latchkey://purchase".to_string(),
            "latchkey://purchase?checkout=".into(),
            "latchkey://purchase?checkout=a&checkout=b".into(),
            "latchkey://purchase?checkout=%3Cscript%3E".into(),
            "latchkey://purchase?checkout=../../etc".into(),
            format!("latchkey://purchase?checkout={}", "a".repeat(200)),
            "https://purchase?checkout=cs_1".into(),
        ] {
            assert_eq!(classify(&bad), Link::Ignored, "{bad}");
        }
    }

    #[test]
    fn logged_links_lose_their_query() {
        assert_eq!(
            shown("latchkey://auth/callback?code=secret#frag"),
            "latchkey://auth/callback"
        );
    }
}
