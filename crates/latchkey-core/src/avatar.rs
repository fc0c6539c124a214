//! The account's picture, fetched once by the core and kept in the data folder, so a face
//! shows it from there (offline too) and the picture host never learns when a face starts.
//!
//! A fetch is refused unless it is `https:` (or `http:` to a loopback IP literal, for tests),
//! answers within [`AVATAR_TIMEOUT`] without a redirect, declares an image type Latchkey shows
//! (PNG, JPEG, GIF, WebP), is at most [`MAX_AVATAR_BYTES`], and its bytes really begin like
//! one of those (the header alone proves nothing). The kept copy is one 0600 file per account,
//! `<data dir>/avatars/<sha256 of issuer and subject>.json`, replaced only by a good fetch.

use crate::core::Core;
use crate::error::{Code, Error, Result};
use crate::views::AccountView;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The largest picture kept: real avatars are a few kilobytes to a few hundred.
pub const MAX_AVATAR_BYTES: usize = 1024 * 1024;

/// How long a picture may take, from the request to its last byte.
pub const AVATAR_TIMEOUT: Duration = Duration::from_secs(10);

/// The types a face may show, as `Content-Type` declares them.
const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The kept picture, as stored.
#[derive(Serialize, Deserialize)]
struct Kept {
    /// Where it was fetched from (a new address is fetched again).
    url: String,
    /// Its sniffed type.
    content_type: String,
    /// Its bytes, base64.
    data: String,
}

/// Fetches already tried in this run, by kept file and address: a picture is fetched once,
/// not at every status check, even when its host refuses.
static TRIED: Mutex<Option<HashSet<(PathBuf, String)>>> = Mutex::new(None);

/// The image type the first bytes show: PNG, JPEG, GIF or WebP; `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn refused(why: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Provider,
        format!("The account's picture was not kept: {why}"),
    )
}

/// Fetches the picture at `url` under the rules of this module's header, within `timeout`.
/// Returns its sniffed type and its bytes.
///
/// # Errors
/// [`Code::Offline`] when its host cannot be reached in time; [`Code::Provider`] when the
/// answer is refused (not an image, too large, a redirect, an error status, a plain-http host).
pub async fn fetch_avatar(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(&'static str, Vec<u8>)> {
    let u = url::Url::parse(url).map_err(|_| refused("its address is not a URL"))?;
    let allowed = match u.scheme() {
        "https" => true,
        "http" => latchkey_auth::is_loopback_host(u.host_str()),
        _ => false,
    };
    if !allowed {
        return Err(refused("its address is not https"));
    }
    let fetch = async {
        let resp = http.get(u).send().await.map_err(|e| {
            Error::new(
                Code::Offline,
                format!("The picture's host cannot be reached: {e}"),
            )
        })?;
        if !resp.status().is_success() {
            return Err(refused(format_args!("its host answered {}", resp.status())));
        }
        let declared = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !IMAGE_TYPES.contains(&declared.as_str()) {
            return Err(refused(format_args!(
                "it is not a PNG, JPEG, GIF or WebP image (its host says {:?})",
                declared
            )));
        }
        let body = latchkey_auth::read_capped(resp, MAX_AVATAR_BYTES)
            .await
            .map_err(|e| match e {
                latchkey_auth::CappedError::TooLarge => refused(format_args!(
                    "it is larger than {} MiB",
                    MAX_AVATAR_BYTES >> 20
                )),
                latchkey_auth::CappedError::Read(e) => {
                    Error::new(Code::Offline, format!("The picture could not be read: {e}"))
                }
            })?;
        let sniffed = sniff(&body).ok_or_else(|| {
            refused("its bytes are not a PNG, JPEG, GIF or WebP image, whatever its host says")
        })?;
        Ok((sniffed, body))
    };
    tokio::time::timeout(timeout, fetch).await.map_err(|_| {
        Error::new(
            Code::Offline,
            format!(
                "The picture's host did not answer within {} s",
                timeout.as_secs_f32()
            ),
        )
    })?
}

impl Core {
    fn avatar_path(&self, issuer: &str, subject: &str) -> PathBuf {
        let digest = Sha256::digest(format!("{issuer}\n{subject}").as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.data_dir().join("avatars").join(format!("{name}.json"))
    }

    fn read_kept(&self, view: &AccountView) -> Option<Kept> {
        let bytes = std::fs::read(self.avatar_path(&view.issuer, &view.subject)).ok()?;
        serde_json::from_slice::<Kept>(&bytes)
            .ok()
            .filter(|k| IMAGE_TYPES.contains(&k.content_type.as_str()))
    }

    /// The kept picture of this account as a `data:` URL, from the data folder only (no
    /// network): what a face shows. `None` when none was kept.
    pub fn kept_avatar(&self, view: &AccountView) -> Option<String> {
        self.read_kept(view)
            .map(|k| format!("data:{};base64,{}", k.content_type, k.data))
    }

    /// Fetches the account's picture (its `picture` claim) unless the one kept came from the
    /// same address, or a fetch of it was already tried in this run; keeps it on success.
    /// Returns the kept picture as a `data:` URL (the previous one when the fetch fails).
    ///
    /// # Errors
    /// As [`fetch_avatar`], only for a fetch tried now; [`Code::Storage`] when the file cannot
    /// be written.
    pub async fn keep_avatar(&self, view: &AccountView) -> Result<Option<String>> {
        self.keep_avatar_within(view, AVATAR_TIMEOUT).await
    }

    pub(crate) async fn keep_avatar_within(
        &self,
        view: &AccountView,
        timeout: Duration,
    ) -> Result<Option<String>> {
        let Some(url) = view.picture.clone() else {
            return Ok(self.kept_avatar(view));
        };
        if self.read_kept(view).is_some_and(|k| k.url == url) {
            return Ok(self.kept_avatar(view));
        }
        let path = self.avatar_path(&view.issuer, &view.subject);
        let first = TRIED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(HashSet::new)
            .insert((path.clone(), url.clone()));
        if !first {
            return Ok(self.kept_avatar(view));
        }
        let (content_type, bytes) = fetch_avatar(&self.http, &url, timeout).await?;
        let kept = Kept {
            url,
            content_type: content_type.to_string(),
            data: base64::engine::general_purpose::STANDARD.encode(&bytes),
        };
        let json =
            serde_json::to_vec(&kept).map_err(|e| Error::new(Code::Internal, e.to_string()))?;
        latchkey_auth::write_private(&path, &json, latchkey_auth::Existing::Replace)
            .map_err(|e| Error::new(Code::Storage, format!("{}: {e}", path.display())))?;
        Ok(self.kept_avatar(view))
    }

    /// Forgets the kept picture of this account (when it is signed out, or its session ends).
    pub(crate) fn forget_avatar(&self, issuer: &str, subject: &str) {
        let _ = std::fs::remove_file(self.avatar_path(issuer, subject));
    }
}

/// The desktop shell runs these futures on a multi-threaded runtime: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(app: &Core, view: &AccountView) {
    fn send<T: Send>(_: T) {}
    send(app.keep_avatar(view));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{t0, Rig};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A 1x1 PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8,
        0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    /// What the loopback picture server answers at each path.
    #[derive(Clone, Copy)]
    enum Answer {
        Image(&'static str, &'static [u8]),
        Huge,
        Silent,
    }

    /// A loopback picture server: `/png`, `/html`, `/disguised` (HTML bytes declared as PNG),
    /// `/huge` (a PNG past the limit), `/slow` (never answers). Returns its base URL.
    async fn picture_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&req);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let answer = match path.as_str() {
                        "/png" | "/png2" => Answer::Image("image/png", PNG),
                        "/html" => Answer::Image("text/html", b"<html>hi</html>"),
                        "/disguised" => Answer::Image("image/png", b"<html>hi</html>"),
                        "/huge" => Answer::Huge,
                        _ => Answer::Silent,
                    };
                    let (ctype, body): (&str, Vec<u8>) = match answer {
                        Answer::Image(t, b) => (t, b.to_vec()),
                        Answer::Huge => {
                            let mut b = PNG.to_vec();
                            b.resize(MAX_AVATAR_BYTES + 1, 0);
                            ("image/png", b)
                        }
                        Answer::Silent => {
                            std::future::pending::<()>().await;
                            return;
                        }
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\
                         connection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&body).await;
                });
            }
        });
        base
    }

    fn view(picture: Option<String>) -> AccountView {
        AccountView {
            provider: "p".into(),
            issuer: "http://127.0.0.1:9".into(),
            subject: "alice".into(),
            email: None,
            name: None,
            username: None,
            picture,
            active: true,
            expires_at: None,
            session_expires_at: t0(),
            offline: false,
        }
    }

    #[test]
    fn sniffing_knows_the_four_image_types_and_nothing_else() {
        assert_eq!(sniff(PNG), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a...."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        for other in [&b"<html>"[..], b"<svg xmlns=", b"RIFF\0\0\0\0WAVE", b""] {
            assert_eq!(sniff(other), None, "{other:?}");
        }
    }

    #[tokio::test]
    async fn a_png_is_kept_private_and_shown_from_the_data_folder_offline_too() {
        let base = picture_server().await;
        let rig = Rig::new();
        let app = rig.at(t0());
        let v = view(Some(format!("{base}/png")));
        assert_eq!(app.kept_avatar(&v), None, "nothing kept yet");
        let shown = app.keep_avatar(&v).await.unwrap().expect("kept");
        let want = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(PNG)
        );
        assert_eq!(shown, want);
        let path = app.avatar_path(&v.issuer, &v.subject);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the kept picture is its owner's only");
        }

        // Offline: the host is gone, the kept picture is still shown, and not fetched again.
        let offline = view(Some("http://127.0.0.1:9/png".into()));
        let again = rig.at(t0());
        assert_eq!(again.kept_avatar(&offline), Some(want.clone()));
        let e = again.keep_avatar(&offline).await.unwrap_err();
        assert_eq!(e.code, Code::Offline, "a new address is fetched: {e:?}");
        assert_eq!(
            again.kept_avatar(&offline),
            Some(want.clone()),
            "a failed fetch keeps the kept picture"
        );
        assert_eq!(
            again.keep_avatar(&offline).await.unwrap(),
            Some(want),
            "once per run: a failed address is not tried again"
        );
    }

    #[tokio::test]
    async fn signing_out_deletes_the_kept_picture() {
        let base = picture_server().await;
        let rig = Rig::new();
        let app = rig.at(t0());
        let mut who = crate::testing::signed_in("alice");
        who.identity.picture = Some(format!("{base}/png"));
        let view = app.store_session("p", who).unwrap();
        app.keep_avatar(&view).await.unwrap().expect("kept");
        let path = app.avatar_path(&view.issuer, &view.subject);
        assert!(path.exists());
        app.logout(crate::LogoutTarget::Active, false)
            .await
            .unwrap();
        assert!(
            !path.exists(),
            "a signed-out account leaves no picture behind"
        );
    }

    #[tokio::test]
    async fn html_oversized_slow_and_plain_http_pictures_are_refused() {
        let base = picture_server().await;
        let http = latchkey_auth::http_client().unwrap();
        let short = Duration::from_millis(300);
        for (path, code, why) in [
            ("/html", Code::Provider, "declared as HTML"),
            ("/disguised", Code::Provider, "HTML bytes declared as PNG"),
            ("/huge", Code::Provider, "past 1 MiB"),
            ("/slow", Code::Offline, "no answer in time"),
        ] {
            let e = fetch_avatar(&http, &format!("{base}{path}"), short)
                .await
                .expect_err(why);
            assert_eq!(e.code, code, "{why}: {e:?}");
        }
        for url in [
            "http://example.com/a.png",
            "file:///etc/passwd",
            "data:image/png;base64,AA",
        ] {
            let e = fetch_avatar(&http, url, short).await.unwrap_err();
            assert_eq!(e.code, Code::Provider, "{url}: never fetched");
        }
        let (t, bytes) = fetch_avatar(&http, &format!("{base}/png2"), short)
            .await
            .expect("a PNG passes");
        assert_eq!((t, bytes.as_slice()), ("image/png", PNG));

        let rig = Rig::new();
        let app = rig.at(t0());
        let v = view(Some(format!("{base}/html")));
        assert!(app.keep_avatar(&v).await.is_err());
        assert_eq!(app.kept_avatar(&v), None, "nothing refused is kept");
        assert!(!app.avatar_path(&v.issuer, &v.subject).exists());
    }
}
