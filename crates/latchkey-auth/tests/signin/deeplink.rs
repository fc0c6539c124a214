//! The deep-link receiver: the app shell feeds URLs; only the right one completes the flow.

use crate::rogue::{Defect, SUBJECT};
use crate::{approve, rig_with, Client};
use chrono::Utc;
use latchkey_auth::{AuthError, DeepLinkError, DeepLinkInbox, Redirect};
use std::time::Duration;

const DEEP_LINK: &str = "latchkey-test://auth/callback";

fn deep_link() -> Redirect {
    Redirect::DeepLink {
        uri: url::Url::parse(DEEP_LINK).expect("deep link URL"),
    }
}

#[tokio::test]
async fn feeding_with_nothing_pending_is_not_pending() {
    let inbox = DeepLinkInbox::new();
    assert!(!inbox.is_pending());
    assert_eq!(
        inbox.feed(&format!("{DEEP_LINK}?code=c&state=s")),
        Err(DeepLinkError::NotPending)
    );
}

#[tokio::test]
async fn wrong_state_completes_nothing_and_the_right_url_completes_the_flow() {
    let rig = rig_with(Client::Public, deep_link(), Defect::None).await;
    let inbox = DeepLinkInbox::new();
    let pending = rig.start_with_inbox(Some(&inbox)).await;
    assert_eq!(pending.redirect_uri(), DEEP_LINK);
    assert!(inbox.is_pending());
    let a = approve(&rig, &pending);
    assert_eq!(
        a.redirect_uri, DEEP_LINK,
        "the provider redirects to the deep link"
    );

    let shell = async {
        let forged = a.callback_with(&[
            ("code", "forged-code"),
            ("state", "not-the-state-of-this-sign-in"),
            ("iss", &a.iss),
        ]);
        assert_eq!(inbox.feed(&forged), Err(DeepLinkError::WrongState));
        assert!(
            inbox.is_pending(),
            "a wrong state leaves the sign-in waiting"
        );
        assert_eq!(
            inbox.feed("https://evil.example/auth/callback?code=x&state=y"),
            Err(DeepLinkError::NotACallback)
        );
        // Let the flow run: it must still be waiting, with nothing sent to the provider.
        tokio::task::yield_now().await;
        assert_eq!(rig.rogue.token_hits(), 0, "nothing completed");
        inbox.feed(&a.callback())
    };
    let (result, fed) = tokio::join!(
        pending.finish(&rig.http, Utc::now, crate::GENEROUS, std::future::pending()),
        shell
    );
    assert_eq!(fed, Ok(()), "the genuine deep link is accepted");
    let (signed_in, _) = result.expect("the deep link completes the sign-in");
    assert_eq!(signed_in.identity.subject, SUBJECT);
    assert_eq!(rig.rogue.token_hits(), 1);
    assert!(!inbox.is_pending(), "finished sign-ins disarm the inbox");
    assert_eq!(inbox.feed(&a.callback()), Err(DeepLinkError::NotPending));
}

#[tokio::test]
async fn only_wrong_state_deep_links_end_in_state_mismatch() {
    let rig = rig_with(Client::Public, deep_link(), Defect::None).await;
    let inbox = DeepLinkInbox::new();
    let pending = rig.start_with_inbox(Some(&inbox)).await;
    let a = approve(&rig, &pending);
    let forged = a.callback_with(&[("code", &a.code), ("state", "stale"), ("iss", &a.iss)]);
    assert_eq!(inbox.feed(&forged), Err(DeepLinkError::WrongState));
    let err = pending
        .finish(
            &rig.http,
            Utc::now,
            Duration::from_secs(2),
            std::future::pending(),
        )
        .await
        .expect_err("no genuine deep link came");
    assert!(
        matches!(err, AuthError::StateMismatch),
        "expected StateMismatch, got {err:?}"
    );
    assert!(!inbox.is_pending());
}
