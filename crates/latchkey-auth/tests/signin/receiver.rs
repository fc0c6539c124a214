//! The loopback receiver is robust: stray, oversized, idle and repeated requests don't end or
//! block the sign-in, it can be cancelled, and it listens on 127.0.0.1 only while pending.

use crate::rogue::{Defect, Gate, SUBJECT};
use crate::{approve, assert_failed_page, browse, finish, rig, Page, GENEROUS};
use chrono::Utc;
use latchkey_auth::{AuthError, PendingSignIn};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

fn port_of(pending: &PendingSignIn) -> u16 {
    url::Url::parse(pending.redirect_uri())
        .expect("redirect URI")
        .port()
        .expect("a loopback redirect names its port")
}

/// Waits (generously) until nothing listens on `addr` any more. The receiver's accept loop
/// stops on its own task, so this polls instead of assuming it already has.
async fn assert_closed_eventually(addr: SocketAddr) {
    for _ in 0..200 {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("the loopback receiver still listens on {addr} after the sign-in ended");
}

async fn assert_refused(addr: SocketAddr, why: &str) {
    match TcpStream::connect(addr).await {
        Ok(_) => panic!("{addr} accepted a connection: {why}"),
        Err(e) => assert_ne!(e.kind(), ErrorKind::TimedOut, "{addr}: {e}"),
    }
}

#[tokio::test]
async fn wrong_path_gets_400_and_the_sign_in_keeps_waiting() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let port = port_of(&pending);
    let a = approve(&rig, &pending);
    let browser = async {
        let stray = browse(
            &rig.http,
            &format!(
                "http://127.0.0.1:{port}/favicon.ico?code={}&state={}",
                a.code, a.state
            ),
        )
        .await;
        let genuine = browse(&rig.http, a.callback()).await;
        (stray, genuine)
    };
    let (result, (stray, genuine)) = tokio::join!(finish(pending, &rig.http), browser);
    assert_failed_page(&rig, &stray);
    assert!(
        stray.body.contains("not a Latchkey sign-in link"),
        "{}",
        stray.body
    );
    result.expect("the genuine callback after a stray request signs in");
    assert_eq!(genuine.status, 200);
}

#[tokio::test]
async fn oversized_request_head_is_rejected_and_the_sign_in_keeps_waiting() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let a = approve(&rig, &pending);
    let browser = async {
        let huge = "a".repeat(64 * 1024);
        let oversized = rig
            .http
            .get(a.callback())
            .header("x-padding", huge)
            .send()
            .await;
        match oversized {
            Ok(resp) => assert_eq!(
                resp.status().as_u16(),
                431,
                "a 64 KiB request head gets 431 Request Header Fields Too Large"
            ),
            // Closing the connection mid-request is the other acceptable refusal.
            Err(e) => assert!(!e.is_timeout(), "refused, not hung: {e}"),
        }
        browse(&rig.http, a.callback()).await
    };
    let (result, genuine) = tokio::join!(finish(pending, &rig.http), browser);
    let (signed_in, _) =
        result.expect("an oversized request neither consumes the callback nor ends the sign-in");
    assert_eq!(signed_in.identity.subject, SUBJECT);
    assert_eq!(genuine.status, 200);
}

#[tokio::test]
async fn idle_connections_do_not_block_the_genuine_callback() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port_of(&pending)));
    let a = approve(&rig, &pending);
    // One connection that says nothing, one that stops half-way through its request line.
    let _silent = TcpStream::connect(addr).await.expect("connect");
    let mut half = TcpStream::connect(addr).await.expect("connect");
    half.write_all(b"GET /callback?code=").await.expect("write");
    let (result, genuine) =
        tokio::join!(finish(pending, &rig.http), browse(&rig.http, a.callback()));
    result.expect("idle connections must not hold up the sign-in");
    assert_eq!(genuine.status, 200);
}

#[tokio::test]
async fn a_replayed_callback_is_told_it_was_already_used() {
    let gate = Arc::new(Gate::default());
    let rig = rig(Defect::HoldTokenEndpoint(gate.clone())).await;
    let pending = rig.start().await;
    let a = approve(&rig, &pending);
    let browser = async {
        let first = browse(&rig.http, a.callback());
        let replay = async {
            // The first callback is being exchanged (held at the token endpoint): replay it.
            gate.arrived.notified().await;
            let replay = browse(&rig.http, a.callback()).await;
            gate.release.notify_one();
            replay
        };
        tokio::join!(first, replay)
    };
    let (result, (first, replay)) = tokio::join!(finish(pending, &rig.http), browser);
    result.expect("the first callback signs in");
    assert_eq!(first.status, 200, "{}", first.body);
    assert_failed_page(&rig, &replay);
    assert!(
        replay.body.contains("already used"),
        "the replay is told why: {}",
        replay.body
    );
    assert_eq!(rig.rogue.token_hits(), 1, "the code is exchanged once");
}

#[tokio::test]
async fn cancelling_ends_the_sign_in_and_closes_the_port() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port_of(&pending)));
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    let cancel = async {
        let _ = cancel_rx.await;
    };
    let (result, ()) = tokio::join!(
        pending.finish(&rig.http, Utc::now, GENEROUS, cancel),
        async {
            // The receiver answers before we cancel: it was really listening.
            let page: Page = browse(&rig.http, &format!("http://{addr}/nope")).await;
            assert_eq!(page.status, 400);
            cancel_tx.send(()).expect("the sign-in is still waiting");
        }
    );
    let err = result.expect_err("a cancelled sign-in fails");
    assert!(
        matches!(err, AuthError::Cancelled),
        "expected Cancelled, got {err:?}"
    );
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert_closed_eventually(addr).await;
    assert_eq!(rig.rogue.token_hits(), 0);
}

/// A non-loopback address of this machine, if it has one (the source address of a route to a
/// documentation-only network; nothing is sent).
fn non_loopback_local_ip() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect(("192.0.2.1", 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn listens_on_127_0_0_1_only_and_only_while_pending() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let port = port_of(&pending);
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));

    drop(
        TcpStream::connect(v4)
            .await
            .expect("listening on 127.0.0.1"),
    );
    assert_refused(
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        "the receiver binds 127.0.0.1, not [::1]",
    )
    .await;
    if cfg!(target_os = "linux") {
        // All of 127/8 is local on Linux, but a socket bound to 127.0.0.1 answers only there.
        assert_refused(
            SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), port)),
            "the receiver binds 127.0.0.1, not 0.0.0.0",
        )
        .await;
    }
    if let Some(ip) = non_loopback_local_ip() {
        assert_refused(
            SocketAddr::new(ip, port),
            "the receiver must not be reachable from the network",
        )
        .await;
    }

    let a = approve(&rig, &pending);
    let (result, page) = tokio::join!(finish(pending, &rig.http), browse(&rig.http, a.callback()));
    result.expect("signed in");
    assert_eq!(page.status, 200);
    assert_closed_eventually(v4).await;
}

#[tokio::test]
async fn no_callback_at_all_times_out() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port_of(&pending)));
    let err = pending
        .finish(
            &rig.http,
            Utc::now,
            Duration::from_secs(1),
            std::future::pending(),
        )
        .await
        .expect_err("nobody came back from the browser");
    assert!(
        matches!(err, AuthError::TimedOut(1)),
        "expected TimedOut(1), got {err:?}"
    );
    assert!(
        err.to_string().contains("timed out after 1 seconds"),
        "{err}"
    );
    assert_closed_eventually(addr).await;
}

/// Loads `url` with curl running as `nobody` (the tests run as root), returning the status and
/// body; `None` when no other user can be used here (not root, or no `runuser`).
#[cfg(target_os = "linux")]
async fn browse_as_another_user(url: &str) -> Option<Page> {
    let out = tokio::process::Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            "curl",
            "-s",
            "-w",
            "\n%{http_code}",
            url,
        ])
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n')?;
    Some(Page {
        status: status.trim().parse().ok()?,
        body: body.to_string(),
    })
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn another_users_browser_gets_403_and_the_sign_in_keeps_waiting() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let a = approve(&rig, &pending);
    let browser = async {
        let other = browse_as_another_user(&a.callback()).await;
        let genuine = browse(&rig.http, a.callback()).await;
        (other, genuine)
    };
    let (result, (other, genuine)) = tokio::join!(finish(pending, &rig.http), browser);
    let Some(other) = other else {
        // Not root (or no runuser/curl): the /proc parsing is still covered by the unit tests
        // in src/peer.rs with real sockets of this uid and synthetic lines.
        eprintln!("skipped: no other user can run curl here");
        result.expect("the genuine callback signs in");
        return;
    };
    assert_eq!(
        other.status, 403,
        "a callback from another user's socket is refused: {}",
        other.body
    );
    assert!(other.body.contains("another user"), "{}", other.body);
    rig.assert_no_secrets("the refusal page", &other.body);
    let (signed_in, _) =
        result.expect("another user's attempt neither consumes the callback nor ends the sign-in");
    assert_eq!(signed_in.identity.subject, SUBJECT);
    assert_eq!(genuine.status, 200);
}
