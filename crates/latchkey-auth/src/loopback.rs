//! The loopback redirect receiver (RFC 8252 §7.3): an HTTP server on 127.0.0.1 that lives only
//! while one sign-in is pending. It hands the one genuine callback (right path, right state) to
//! the flow, shows the flow's verdict as a page, and answers anything else with 400. On Linux
//! it answers 403 to a connection whose socket another user owns (see [`crate::peer`]).

use crate::callback::{parse_callback, same_secret};
use crate::flow::{Delivery, Verdict};
use crate::pages;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// A slow client gets this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// No connection lives longer than this, whatever it does.
const CONNECTION_LIMIT: Duration = Duration::from_secs(90);
/// Largest request head accepted (hyper answers 431 beyond it).
const MAX_HEAD: usize = 16 * 1024;

struct Shared {
    path: String,
    state: String,
    app_link: Option<String>,
    tx: mpsc::Sender<Delivery>,
    used: AtomicBool,
    wrong_state: Arc<AtomicBool>,
    /// Fired once the genuine callback's page has been written to the browser.
    served: std::sync::Mutex<Option<oneshot::Sender<()>>>,
}

/// A listening receiver. Dropping it stops listening.
pub(crate) struct LoopbackReceiver {
    pub addr: SocketAddr,
    served: Option<oneshot::Receiver<()>>,
    _stop: oneshot::Sender<()>,
}

impl LoopbackReceiver {
    /// Binds `127.0.0.1:port` (ephemeral when `None`) before anything is shown to the user, so a
    /// fast browser never meets a closed port.
    pub async fn bind(
        port: Option<u16>,
        path: String,
        state: String,
        app_link: Option<String>,
        tx: mpsc::Sender<Delivery>,
        wrong_state: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port.unwrap_or(0))).await?;
        let addr = listener.local_addr()?;
        let (served_tx, served_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            path,
            state,
            app_link,
            tx,
            used: AtomicBool::new(false),
            wrong_state,
            served: std::sync::Mutex::new(Some(served_tx)),
        });
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    accepted = listener.accept() => {
                        let Ok((stream, peer)) = accepted else { continue };
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            let same_user = stream.local_addr().is_ok_and(|l| same_user(peer, l));
                            let genuine = Arc::new(AtomicBool::new(false));
                            let (s, g) = (shared.clone(), genuine.clone());
                            let service = service_fn(move |req| {
                                handle(req, s.clone(), g.clone(), same_user)
                            });
                            let conn = http1::Builder::new()
                                .timer(TokioTimer::new())
                                .header_read_timeout(HEADER_TIMEOUT)
                                .max_buf_size(MAX_HEAD)
                                .keep_alive(false)
                                .serve_connection(TokioIo::new(stream), service);
                            let _ = tokio::time::timeout(CONNECTION_LIMIT, conn).await;
                            if genuine.load(Ordering::SeqCst) {
                                let sender = shared.served.lock().ok().and_then(|mut s| s.take());
                                if let Some(tx) = sender {
                                    let _ = tx.send(());
                                }
                            }
                        });
                    }
                }
            }
        });
        Ok(Self {
            addr,
            served: Some(served_rx),
            _stop: stop_tx,
        })
    }

    /// Waits (at most `limit`) until the genuine callback's page has reached the browser, so
    /// the process does not exit (closing the connection) before the user sees it.
    pub async fn page_delivered(&mut self, limit: Duration) {
        if let Some(rx) = self.served.take() {
            let _ = tokio::time::timeout(limit, rx).await;
        }
    }
}

/// Whether the socket at `peer` belongs to this process's user. On Linux the kernel's table
/// says; a connection it does not list (or no `/proc`) is refused, since nothing vouches for
/// it. Elsewhere there is no such table and every loopback connection is accepted.
#[cfg(target_os = "linux")]
fn same_user(peer: SocketAddr, local: SocketAddr) -> bool {
    matches!(
        (crate::peer::peer_uid(peer, local), crate::peer::own_uid()),
        (Some(theirs), Some(ours)) if theirs == ours
    )
}

#[cfg(not(target_os = "linux"))]
fn same_user(_peer: SocketAddr, _local: SocketAddr) -> bool {
    true
}

fn html(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        "text/html; charset=utf-8".parse().expect("static header"),
    );
    h.insert("cache-control", "no-store".parse().expect("static header"));
    h.insert(
        "referrer-policy",
        "no-referrer".parse().expect("static header"),
    );
    h.insert(
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
            .parse()
            .expect("static header"),
    );
    resp
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    genuine: Arc<AtomicBool>,
    same_user: bool,
) -> Result<Response<Full<Bytes>>, Infallible> {
    const AGAIN: &str = "Go back to Latchkey and start signing in again.";
    if !same_user {
        // Another user of this computer: nothing of theirs may finish this user's sign-in. The
        // pending sign-in keeps waiting for its own user's browser.
        return Ok(html(
            StatusCode::FORBIDDEN,
            pages::failure(
                "This sign-in belongs to another user of this computer.",
                "Sign in from your own session.",
            ),
        ));
    }
    if req.method() != Method::GET || req.uri().path() != shared.path {
        return Ok(html(
            StatusCode::BAD_REQUEST,
            pages::failure("This address is not a Latchkey sign-in link.", AGAIN),
        ));
    }
    let callback = match parse_callback(req.uri().query().unwrap_or("")) {
        Ok(cb) => cb,
        Err(e) => {
            return Ok(html(
                StatusCode::BAD_REQUEST,
                pages::failure(&format!("This sign-in link is malformed: {e}."), AGAIN),
            ))
        }
    };
    if !callback
        .state()
        .is_some_and(|s| same_secret(s, &shared.state))
    {
        shared.wrong_state.store(true, Ordering::SeqCst);
        return Ok(html(
            StatusCode::BAD_REQUEST,
            pages::failure(
                "This sign-in link does not belong to the sign-in Latchkey is waiting for \
                 (its state does not match). It may be old, or not from Latchkey.",
                AGAIN,
            ),
        ));
    }
    if shared.used.swap(true, Ordering::SeqCst) {
        return Ok(html(
            StatusCode::BAD_REQUEST,
            pages::failure("This sign-in link was already used.", AGAIN),
        ));
    }
    genuine.store(true, Ordering::SeqCst);
    let (reply_tx, reply_rx) = oneshot::channel();
    let delivery = Delivery {
        callback,
        reply: Some(reply_tx),
    };
    if shared.tx.send(delivery).await.is_err() {
        return Ok(html(
            StatusCode::GONE,
            pages::failure("Latchkey is no longer waiting for this sign-in.", AGAIN),
        ));
    }
    Ok(
        match tokio::time::timeout(CONNECTION_LIMIT, reply_rx).await {
            Ok(Ok(Verdict::SignedIn { who })) => html(
                StatusCode::OK,
                pages::success(&who, shared.app_link.as_deref()),
            ),
            Ok(Ok(Verdict::Failed { what })) => {
                html(StatusCode::BAD_REQUEST, pages::failure(&what, AGAIN))
            }
            _ => html(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::failure("Latchkey stopped before it finished signing you in.", AGAIN),
            ),
        },
    )
}
