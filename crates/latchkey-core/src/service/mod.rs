//! The credit service (`latchkey-server`) as the desktop sees it: balance, history and
//! writes on the service's ledger, credit packs and purchases, with the active account's ID
//! token as the bearer credential.
//!
//! Which ledger the wallet commands use ([`Core::wallet_uses_service`]): the service's when
//! `[service] url` is set; the local SQLite wallet when `[wallet] offline_only = true` or no
//! service is configured (today's behaviour, so existing setups keep working).
//!
//! Every answer is read in chunks and refused past [`MAX_ANSWER_BYTES`]; the service's
//! `{code, message}` errors become the core's [`Code`]s; a service that cannot be reached is
//! [`Code::ServiceUnavailable`]. What was last read from the service (balance and entries) is
//! kept per account in `<data dir>/service-cache/`, so balance and history can still be
//! shown, marked `stale`, while the service is unreachable. Offline, spends and holds come from
//! this device's lease only (`sync/offline.rs`); every other write needs the service.

use crate::accounts::AccountRecord;
use crate::core::Core;
use crate::error::{capitalise_first, Code, Error, Result};
use crate::sessions::REFRESH_MARGIN_SECS;
use chrono::{DateTime, Utc};
use latchkey_wallet::{Credits, HistoryQuery, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

mod keys;
mod pay;
mod purchase;
pub use keys::{trusted_voucher_keys, KeyTrust};
pub use purchase::{Checkout, Pack, PurchaseState};

/// The largest answer read from the service; past it the answer is refused.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// How long one request to the service may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The service's history page size (its maximum).
const HISTORY_PAGE: usize = 500;

/// Credits as the service counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceBalance {
    /// Everything posted.
    pub posted: i64,
    /// What open holds keep aside.
    pub held: i64,
    /// `posted - held`: what can be spent now.
    pub available: i64,
}

/// A value read from the service, or the last known one when it cannot be reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Known<T> {
    /// The value.
    pub value: T,
    /// `true` when the service could not be reached and this is the last value read.
    pub stale: bool,
    /// When it was read from the service.
    pub as_of: DateTime<Utc>,
}

/// One entry of the service's ledger, in the local wallet's JSON shape (`id`, `kind`,
/// `amount`, `posted_after`, `held_after`, `available_after`, `idempotency_key`, `memo`,
/// `related`, `expires_at`, `created_at`). `kind` uses the local words (`reserve` for the
/// service's `hold`) and adds `purchase`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The service's `seq`.
    pub id: i64,
    /// grant, purchase, voucher, refund, spend, reserve, capture, release, expire.
    pub kind: String,
    /// Credits moved (positive; `kind` says which way).
    pub amount: Credits,
    /// Posted credits right after it.
    pub posted_after: Credits,
    /// Held credits right after it.
    pub held_after: Credits,
    /// Available credits right after it.
    pub available_after: Credits,
    /// The key of the request that wrote it, when this desktop knows it.
    pub idempotency_key: Option<String>,
    /// The note given with it.
    pub memo: Option<String>,
    /// The hold a capture, release or expire settles.
    pub related: Option<i64>,
    /// When a hold lapses.
    pub expires_at: Option<Timestamp>,
    /// When the service wrote it.
    pub created_at: Timestamp,
    /// For a hold (`reserve`) that was captured: the capture's id. History views show the
    /// two as one line ("held then paid"), not as two spends.
    #[serde(default)]
    pub captured_by: Option<i64>,
}

/// A page of history, newest first, in the local wallet's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerPage {
    /// Entries, newest first.
    pub entries: Vec<LedgerEntry>,
    /// Pass as the next query's cursor; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What a write on the service did.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReceipt {
    /// The first entry the request wrote (the hold, for a reserve).
    pub entry: LedgerEntry,
    /// The balance right after the request's entries.
    pub balance: ServiceBalance,
    /// Whether this repeats an earlier request with the same key (then nothing changed now).
    /// The service answers a retry with the first answer byte for byte; a receipt is taken
    /// as a replay when its entry is more than 2 s older than the service's `Date`.
    pub replayed: bool,
}

/// The service's `{code, message}`.
#[derive(Deserialize)]
struct ApiError {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct WireEntry {
    seq: i64,
    kind: String,
    amount: i64,
    #[serde(default)]
    hold: Option<i64>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    memo: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct WireReceipt {
    entries: Vec<WireEntry>,
    balance: ServiceBalance,
}

#[derive(Deserialize)]
struct WireHistory {
    entries: Vec<WireEntry>,
    next_after: Option<i64>,
}

/// What the last contact with the service showed, kept per account.
#[derive(Serialize, Deserialize)]
struct Cache {
    balance: ServiceBalance,
    balance_at: DateTime<Utc>,
    #[serde(default)]
    entries: Option<Vec<LedgerEntry>>,
    #[serde(default)]
    entries_at: Option<DateTime<Utc>>,
}

/// How an entry kind moves (posted, held).
fn effect(kind: &str, amount: i64) -> (i64, i64) {
    match kind {
        "grant" | "purchase" | "voucher" | "refund" => (amount, 0),
        // reversal: bought credits taken back after their payment was refunded ("Refund of
        // purchase"), a debit like a spend; without this arm it would read as a release.
        "spend" | "reversal" => (-amount, 0),
        "reserve" => (0, amount),
        "capture" => (-amount, -amount),
        _ => (0, -amount), // release, expire
    }
}

fn local_kind(kind: &str) -> String {
    match kind {
        "hold" => "reserve".into(),
        other => other.into(),
    }
}

fn entry_from_wire(w: WireEntry, after: (i64, i64), key: Option<&str>) -> LedgerEntry {
    LedgerEntry {
        id: w.seq,
        kind: local_kind(&w.kind),
        amount: Credits(w.amount),
        posted_after: Credits(after.0),
        held_after: Credits(after.1),
        available_after: Credits(after.0 - after.1),
        idempotency_key: key.map(str::to_string),
        memo: w.memo,
        related: w.hold,
        expires_at: w.expires_at.map(Timestamp::from),
        created_at: Timestamp::from(w.created_at),
        captured_by: None,
    }
}

/// Marks each captured hold with its capture (entries in any order).
fn mark_captured(entries: &mut [LedgerEntry]) {
    let captures: std::collections::HashMap<i64, i64> = entries
        .iter()
        .filter(|e| e.kind == "capture")
        .filter_map(|e| Some((e.related?, e.id)))
        .collect();
    for e in entries.iter_mut().filter(|e| e.kind == "reserve") {
        e.captured_by = captures.get(&e.id).copied();
    }
}

/// The page `query` asks for, from every entry newest first (the local wallet's filters and
/// cursor `before:ID`).
fn page_of(entries: Vec<LedgerEntry>, query: &HistoryQuery) -> Result<LedgerPage> {
    let before = match query.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            c.strip_prefix("before:")
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| {
                    Error::new(
                        Code::InvalidInput,
                        format!("{c} is not a history cursor of the credit service"),
                    )
                })?,
        ),
    };
    let kinds: Vec<&str> = query.kinds.iter().map(|k| k.as_str()).collect();
    let mut matching = entries.into_iter().filter(|e| {
        before.is_none_or(|b| e.id < b)
            && (kinds.is_empty() || kinds.contains(&e.kind.as_str()))
            && query.since.is_none_or(|t| e.created_at >= t)
            && query.until.is_none_or(|t| e.created_at < t)
    });
    let limit = query.limit.clamp(1, 1000);
    let page: Vec<LedgerEntry> = matching.by_ref().take(limit).collect();
    let next_cursor = match (matching.next(), page.last()) {
        (Some(_), Some(last)) => Some(format!("before:{}", last.id)),
        _ => None,
    };
    Ok(LedgerPage {
        entries: page,
        next_cursor,
    })
}

/// The `exp` of a JWT, read WITHOUT verifying it: only to decide when to refresh our own
/// token (the service verifies it).
fn jwt_expiry(jwt: &str) -> Option<DateTime<Utc>> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

/// `true` when the service cannot be reached and the caller may fall back to what it knew.
fn unreachable(e: &Error) -> bool {
    e.code == Code::ServiceUnavailable
}

pub(crate) fn malformed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Provider,
        format!("the credit service's answer to {what} is not what was expected ({e})"),
    )
}

/// A lease taken meanwhile by another process (the offline words of `Store::take` do not fit
/// while the service answers): the refusal naming both amounts.
fn lease_short(e: Error, short: &Error) -> Error {
    if e.code == Code::InsufficientCredits {
        short.clone()
    } else {
        e
    }
}

/// The core's error for the service's `{code, message}` (or a bare status).
fn service_error(status: reqwest::StatusCode, body: &[u8]) -> Error {
    let parsed: Option<ApiError> = serde_json::from_slice(body).ok();
    let (word, message) = match parsed {
        Some(a) => (a.code, a.message),
        None => (String::new(), format!("HTTP {status}")),
    };
    let code = match word.as_str() {
        "insufficient_credits" => Code::InsufficientCredits,
        "idempotency_conflict" => Code::IdempotencyConflict,
        "unknown_entry" | "unknown_checkout" | "unknown_device" => Code::UnknownEntry,
        "invalid_input" | "payload_too_large" | "unknown_pack" => Code::InvalidInput,
        "voucher_rejected" | "invalid_voucher" | "already_redeemed" => Code::VoucherRejected,
        "checkout_closed" => Code::PurchaseNotCompleted,
        "lease_hold" => Code::LeaseHold,
        "unauthorized" => Code::SessionExpired,
        "unavailable" | "timeout" | "payments_not_configured" | "payment_provider_error" => {
            Code::ServiceUnavailable
        }
        _ if status.is_server_error() => Code::ServiceUnavailable,
        _ => Code::Provider,
    };
    let message = match code {
        Code::SessionExpired => {
            format!("the credit service did not accept this sign-in ({message}); sign in again")
        }
        Code::ServiceUnavailable => {
            format!("the credit service cannot serve this now ({message}); nothing changed")
        }
        Code::Provider => format!("the credit service answered with an error: {message}"),
        _ => message,
    };
    Error::new(code, capitalise_first(&message))
}

impl Core {
    /// Whether the wallet commands act on the credit service: `[service] url` is set (and
    /// `[wallet] offline_only` is not, which the configuration refuses anyway).
    pub fn wallet_uses_service(&self) -> bool {
        self.config.service.is_some() && !self.config.wallet.offline_only
    }

    fn service_url(&self, path: &str) -> Result<url::Url> {
        let Some(service) = &self.config.service else {
            return Err(Error::new(
                Code::Config,
                "no credit service is configured; add [service] url to the configuration",
            ));
        };
        service
            .url
            .join(path)
            .map_err(|e| Error::new(Code::Internal, format!("bad service path {path}: {e}")))
    }

    pub(crate) fn account_record(&self, subject: Option<&str>) -> Result<AccountRecord> {
        self.end_expired_sessions()?;
        match subject {
            Some(s) => self.find_account(s),
            None => self.active_account(),
        }
    }

    /// The account's current ID token, refreshed (with the access token) when either is
    /// close to expiry.
    async fn bearer(&self, record: &AccountRecord) -> Result<latchkey_auth::IdToken> {
        let id_expiring = |t: &latchkey_auth::TokenSet, now: DateTime<Utc>| {
            t.refresh_token.is_some()
                && t.id_token
                    .as_ref()
                    .and_then(|id| jwt_expiry(id.expose()))
                    .is_some_and(|exp| exp <= now + chrono::Duration::seconds(REFRESH_MARGIN_SECS))
        };
        let (tokens, _) = self.fresh_tokens_when(record, id_expiring).await?;
        tokens.id_token.ok_or_else(|| {
            Error::new(
                Code::NotSignedIn,
                "this session has no ID token for the credit service; sign in again",
            )
        })
    }

    /// One request to the service; the body of a 2xx answer (at most [`MAX_ANSWER_BYTES`])
    /// and its `Date`, else the mapped error.
    pub(crate) async fn call(
        &self,
        record: Option<&AccountRecord>,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(Vec<u8>, Option<DateTime<Utc>>)> {
        let url = self.service_url(path)?;
        let mut request = self
            .http
            .request(method, url.clone())
            .timeout(REQUEST_TIMEOUT);
        if let Some(record) = record {
            let token = self.bearer(record).await?;
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let down = |e: reqwest::Error| {
            let host = url.host_str().unwrap_or("?").to_string();
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            Error::new(
                Code::ServiceUnavailable,
                format!(
                    "the credit service at {host}{port} cannot be reached ({}); nothing changed",
                    e.without_url()
                ),
            )
        };
        let mut response = request.send().await.map_err(down)?;
        let status = response.status();
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&Utc));
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(down)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Error::new(
                    Code::Provider,
                    format!(
                        "the credit service's answer is larger than {} KiB; it was not read",
                        MAX_ANSWER_BYTES / 1024
                    ),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(service_error(status, &bytes));
        }
        Ok((bytes, date))
    }

    pub(crate) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        record: Option<&AccountRecord>,
        path: &str,
    ) -> Result<T> {
        let (bytes, _) = self.call(record, reqwest::Method::GET, path, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| malformed(path, e))
    }

    fn cache_path(&self, record: &AccountRecord) -> std::path::PathBuf {
        self.data_dir()
            .join("service-cache")
            .join(format!("{}.json", record.id))
    }

    fn read_cache(&self, record: &AccountRecord) -> Option<Cache> {
        let bytes = std::fs::read(self.cache_path(record)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Remembers what the service said; failing to is not an error (it is only a cache).
    fn update_cache(&self, record: &AccountRecord, f: impl FnOnce(&mut Option<Cache>)) {
        let path = self.cache_path(record);
        let mut cache = self.read_cache(record);
        f(&mut cache);
        if let (Some(cache), Some(dir)) = (cache, path.parent()) {
            if let Ok(bytes) = serde_json::to_vec(&cache) {
                let tmp = path.with_extension("tmp");
                let _ = std::fs::create_dir_all(dir)
                    .and_then(|_| std::fs::write(&tmp, bytes))
                    .and_then(|_| std::fs::rename(&tmp, &path));
            }
        }
    }

    /// The last balance read from the service for this account, if any (no adjustment).
    pub(crate) fn read_cached_balance(&self, record: &AccountRecord) -> Option<ServiceBalance> {
        self.read_cache(record).map(|c| c.balance)
    }

    pub(crate) fn remember_balance(&self, record: &AccountRecord, balance: ServiceBalance) {
        let now = self.now();
        self.update_cache(record, |c| match c {
            Some(c) => {
                c.balance = balance;
                c.balance_at = now;
            }
            None => {
                *c = Some(Cache {
                    balance,
                    balance_at: now,
                    entries: None,
                    entries_at: None,
                })
            }
        });
    }

    /// The account's balance at the service (the active account, or `subject`'s); when the
    /// service cannot be reached, the last one read, marked `stale`.
    ///
    /// # Errors
    /// [`Code::ServiceUnavailable`] when the service cannot be reached and nothing is known
    /// yet; [`Code::NotSignedIn`], [`Code::SessionExpired`] as for tokens.
    pub async fn service_balance(&self, subject: Option<&str>) -> Result<Known<ServiceBalance>> {
        let record = self.account_record(subject)?;
        match self
            .get::<ServiceBalance>(Some(&record), "v1/balance")
            .await
        {
            Ok(balance) => {
                self.remember_balance(&record, balance);
                // The service's voucher keys: pinned on first contact, rotations followed
                // once per run (best effort: the balance stands either way).
                self.check_service_keys_once().await;
                Ok(Known {
                    // Offline spends not pushed yet are not in the service's balance.
                    value: self.with_offline_spends(&record, balance)?,
                    stale: false,
                    as_of: self.now(),
                })
            }
            Err(e) if unreachable(&e) => match self.read_cache(&record) {
                Some(c) => Ok(Known {
                    value: self.with_offline_spends(&record, c.balance)?,
                    stale: true,
                    as_of: c.balance_at,
                }),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Every entry of the account at the service, newest first, with the balance after each.
    async fn service_entries(&self, record: &AccountRecord) -> Result<Vec<LedgerEntry>> {
        let mut after = 0;
        let mut wire = Vec::new();
        loop {
            let page: WireHistory = self
                .get(
                    Some(record),
                    &format!("v1/history?limit={HISTORY_PAGE}&after={after}"),
                )
                .await?;
            wire.extend(page.entries);
            match page.next_after {
                Some(next) if next > after => after = next,
                _ => break,
            }
        }
        let mut running = (0i64, 0i64);
        let mut out: Vec<LedgerEntry> = wire
            .into_iter()
            .map(|w| {
                let (p, h) = effect(&local_kind(&w.kind), w.amount);
                running = (running.0 + p, running.1 + h);
                entry_from_wire(w, running, None)
            })
            .collect();
        out.reverse();
        mark_captured(&mut out);
        Ok(out)
    }

    /// A page of the account's history at the service, newest first, filtered and paged as
    /// the local wallet's `history` is (cursor `before:ID`); when the service cannot be
    /// reached, from the last entries read, marked `stale`.
    ///
    /// # Errors
    /// [`Code::InvalidInput`] for a bad cursor; otherwise as [`Core::service_balance`].
    pub async fn service_history(
        &self,
        subject: Option<&str>,
        query: &HistoryQuery,
    ) -> Result<Known<LedgerPage>> {
        // A bad cursor is refused before any request.
        page_of(Vec::new(), query)?;
        let record = self.account_record(subject)?;
        let (entries, stale, as_of) = match self.service_entries(&record).await {
            Ok(entries) => {
                let now = self.now();
                let balance = entries.first().map(|e| ServiceBalance {
                    posted: e.posted_after.0,
                    held: e.held_after.0,
                    available: e.available_after.0,
                });
                let kept = entries.clone();
                self.update_cache(&record, |c| {
                    let c = c.get_or_insert(Cache {
                        balance: balance.unwrap_or(ServiceBalance {
                            posted: 0,
                            held: 0,
                            available: 0,
                        }),
                        balance_at: now,
                        entries: None,
                        entries_at: None,
                    });
                    c.entries = Some(kept);
                    c.entries_at = Some(now);
                });
                (entries, false, now)
            }
            Err(e) if unreachable(&e) => match self.read_cache(&record) {
                Some(Cache {
                    entries: Some(entries),
                    entries_at: Some(at),
                    ..
                }) => (entries, true, at),
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        };
        Ok(Known {
            value: page_of(entries, query)?,
            stale,
            as_of,
        })
    }

    /// The last balance read from the service, marked `stale`, without asking it (the
    /// window's first screen, from local files only); `None` before the first contact.
    ///
    /// # Errors
    /// [`Code::NotSignedIn`] and the other account errors.
    pub fn service_balance_cached(
        &self,
        subject: Option<&str>,
    ) -> Result<Option<Known<ServiceBalance>>> {
        let record = self.account_record(subject)?;
        self.read_cache(&record)
            .map(|c| {
                Ok(Known {
                    value: self.with_offline_spends(&record, c.balance)?,
                    stale: true,
                    as_of: c.balance_at,
                })
            })
            .transpose()
    }

    /// The last history read from the service, paged as `query` asks, marked `stale`,
    /// without asking it; `None` before the first contact.
    ///
    /// # Errors
    /// As [`Core::service_balance_cached`]; [`Code::InvalidInput`] for a bad cursor.
    pub fn service_history_cached(
        &self,
        subject: Option<&str>,
        query: &HistoryQuery,
    ) -> Result<Option<Known<LedgerPage>>> {
        let record = self.account_record(subject)?;
        match self.read_cache(&record) {
            Some(Cache {
                entries: Some(mut entries),
                entries_at: Some(at),
                ..
            }) => {
                mark_captured(&mut entries);
                Ok(Some(Known {
                    value: page_of(entries, query)?,
                    stale: true,
                    as_of: at,
                }))
            }
            _ => Ok(None),
        }
    }

    async fn service_write(
        &self,
        subject: Option<&str>,
        path: &str,
        key: &str,
        body: serde_json::Value,
    ) -> Result<ServiceReceipt> {
        let record = self.account_record(subject)?;
        let (bytes, date) = self
            .call(Some(&record), reqwest::Method::POST, path, Some(body))
            .await?;
        let wire: WireReceipt = serde_json::from_slice(&bytes).map_err(|e| malformed(path, e))?;
        // Balances after each entry, from the final one backwards.
        let mut after = (wire.balance.posted, wire.balance.held);
        let mut entries: Vec<LedgerEntry> = Vec::new();
        for w in wire.entries.into_iter().rev() {
            let (p, h) = effect(&local_kind(&w.kind), w.amount);
            let e = entry_from_wire(w, after, Some(key));
            after = (after.0 - p, after.1 - h);
            entries.push(e);
        }
        let entry = entries
            .pop()
            .ok_or_else(|| malformed(path, "a receipt without entries"))?;
        let written: DateTime<Utc> = entry.created_at.into();
        let replayed = date.is_some_and(|d| written + chrono::Duration::seconds(2) < d);
        self.remember_balance(&record, wire.balance);
        Ok(ServiceReceipt {
            entry,
            balance: wire.balance,
            replayed,
        })
    }

    /// Spends `amount` credits at the service (idempotent on `key`). When the service cannot
    /// be reached, from this device's offline lease (sync/offline.rs): the entry's id is then
    /// local and negative, and it is pushed at the next sync. When the service answers but its
    /// available credits fall short, from this device's own lease too, made to cover it when
    /// available + lease can ([`Core::lease_to_cover`]), then pushed at once (the service
    /// captures it from the lease). A key used from the lease before answers with that spend
    /// again, online too.
    ///
    /// # Errors
    /// [`Code::InsufficientCredits`] (offline: "available offline: N"; online: what is
    /// available at the service and in this device's lease),
    /// [`Code::IdempotencyConflict`], [`Code::InvalidInput`], [`Code::ServiceUnavailable`]
    /// (unreachable and no lease; nothing changed).
    pub async fn service_spend(
        &self,
        subject: Option<&str>,
        key: &str,
        amount: i64,
        memo: Option<&str>,
    ) -> Result<ServiceReceipt> {
        let op = crate::sync::OfflineOp::Spend { amount, memo };
        if let Some(r) = self.offline_replay(subject, key, op)? {
            return Ok(r);
        }
        let mut body = serde_json::json!({"amount": amount, "idempotency_key": key});
        if let Some(m) = memo {
            body["memo"] = m.into();
        }
        match self.service_write(subject, "v1/spend", key, body).await {
            Err(e) if unreachable(&e) => self.offline_spend(subject, key, amount, memo, e),
            // Not enough available at the service: this device's own lease may pay.
            Err(e) if e.code == Code::InsufficientCredits => {
                let short = self.lease_to_cover(subject, amount, e).await?;
                let made = self
                    .offline_spend(subject, key, amount, memo, short.clone())
                    .map_err(|e| lease_short(e, &short))?;
                self.push_now(subject).await;
                // The receipt again, with the balance the push left.
                Ok(self
                    .offline_replay(subject, key, op)?
                    .map(|again| ServiceReceipt {
                        replayed: made.replayed,
                        ..again
                    })
                    .unwrap_or(made))
            }
            other => other,
        }
    }

    /// After the service refused `amount` for want of available credits (`refused`), makes
    /// this device's own open lease cover it when the service's available credits and the
    /// lease together can: a sync first (it pushes what waits, reads the lease afresh and
    /// renews it as every sync does), then, when the lease alone is still short, a renewal
    /// asking the service for the difference from its available credits. Credits only move
    /// from available to this device's lease: nothing is spent here. Returns the refusal to
    /// give should the lease be taken meanwhile (by a run in another process).
    ///
    /// # Errors
    /// `refused` when this device holds no lease; [`Code::InsufficientCredits`] naming what
    /// is available at the service and in the lease when the two cannot cover `amount` (or
    /// the sync fails: then the service's refusal stands).
    pub(crate) async fn lease_to_cover(
        &self,
        subject: Option<&str>,
        amount: i64,
        refused: Error,
    ) -> Result<Error> {
        if self.sync_state(subject)?.offline_available.is_none() {
            return Err(refused);
        }
        let Ok(report) = self.sync(subject, None).await else {
            return Err(refused);
        };
        let record = self.account_record(subject)?;
        let available = |app: &Core| app.read_cached_balance(&record).map_or(0, |b| b.available);
        let mut left = report.offline_available;
        if left < amount && left + available(self) >= amount {
            let remaining = match self.devices(subject).await {
                Ok(list) => list
                    .into_iter()
                    .find(|d| d.this_device)
                    .and_then(|d| d.lease_remaining),
                Err(_) => None,
            };
            if let Some(r) = remaining {
                // The lease's hold grows to what it holds plus the shortfall (at most what is
                // available), and keeps every credit already spent from it.
                if let Ok(again) = self.sync(subject, Some(r + amount - left)).await {
                    left = again.offline_available;
                }
            }
        }
        let short = Error::new(
            Code::InsufficientCredits,
            format!(
                "Not enough credits: {} available at the credit service and {left} available \
                 offline on this device (its lease), {amount} needed; nothing changed",
                available(self)
            ),
        );
        if left >= amount {
            Ok(short)
        } else {
            Err(short)
        }
    }

    /// Pushes what this device just paid from its lease while the service answers, so the
    /// service captures it from the lease now; best effort (what is not sent now goes with
    /// the next sync).
    pub(crate) async fn push_now(&self, subject: Option<&str>) {
        let _ = self.sync(subject, None).await;
    }

    /// Holds `amount` credits at the service for `ttl_secs` (idempotent on `key`); the
    /// receipt's entry is the hold. When the service cannot be reached, or its available
    /// credits fall short (as for [`Core::service_spend`]), an offline hold on this device's
    /// lease, with a negative id (captured or released here; a capture is pushed at the next
    /// sync).
    ///
    /// # Errors
    /// As [`Core::service_spend`].
    pub async fn service_reserve(
        &self,
        subject: Option<&str>,
        key: &str,
        amount: i64,
        ttl_secs: u64,
        memo: Option<&str>,
    ) -> Result<ServiceReceipt> {
        let op = crate::sync::OfflineOp::Reserve { amount, memo };
        if let Some(r) = self.offline_replay(subject, key, op)? {
            return Ok(r);
        }
        match self
            .service_reserve_online(subject, key, amount, ttl_secs, memo)
            .await
        {
            Err(e) if unreachable(&e) => {
                self.offline_reserve(subject, key, amount, ttl_secs, memo, e)
            }
            // Not enough available at the service: a hold on this device's own lease.
            Err(e) if e.code == Code::InsufficientCredits => {
                let short = self.lease_to_cover(subject, amount, e).await?;
                self.offline_reserve(subject, key, amount, ttl_secs, memo, short.clone())
                    .map_err(|e| lease_short(e, &short))
            }
            other => other,
        }
    }

    /// [`Core::service_reserve`] at the service only: [`Code::ServiceUnavailable`] when it
    /// cannot be reached. Paid runs use this and pay from the lease their own way
    /// (`Core::pay_from_lease`: no time limit while the run works).
    pub(crate) async fn service_reserve_online(
        &self,
        subject: Option<&str>,
        key: &str,
        amount: i64,
        ttl_secs: u64,
        memo: Option<&str>,
    ) -> Result<ServiceReceipt> {
        let mut body = serde_json::json!({
            "amount": amount, "idempotency_key": key, "ttl_secs": ttl_secs,
        });
        if let Some(m) = memo {
            body["memo"] = m.into();
        }
        self.service_write(subject, "v1/reserve", key, body).await
    }

    /// Spends `amount` of the open hold `hold` and releases the rest (idempotent on `key`).
    /// A negative `hold` is an offline hold of this device, settled here (its capture is a
    /// spend from the lease, pushed at the next sync).
    ///
    /// # Errors
    /// [`Code::UnknownEntry`] when the hold is not open; [`Code::LeaseHold`] when it is a
    /// device's lease; otherwise as [`Core::service_spend`].
    pub async fn service_capture(
        &self,
        subject: Option<&str>,
        key: &str,
        hold: i64,
        amount: i64,
    ) -> Result<ServiceReceipt> {
        if hold < 0 {
            return self.offline_capture(subject, key, hold, amount);
        }
        let body = serde_json::json!({"hold": hold, "amount": amount, "idempotency_key": key});
        self.service_write(subject, "v1/capture", key, body).await
    }

    /// Gives the open hold `hold` back (idempotent on `key`).
    ///
    /// # Errors
    /// As [`Core::service_capture`].
    pub async fn service_release(
        &self,
        subject: Option<&str>,
        key: &str,
        hold: i64,
    ) -> Result<ServiceReceipt> {
        if hold < 0 {
            return self.offline_release(subject, key, hold);
        }
        let body = serde_json::json!({"hold": hold, "idempotency_key": key});
        self.service_write(subject, "v1/release", key, body).await
    }

    /// Redeems a voucher at the service, which records it once for the account everywhere.
    ///
    /// # Errors
    /// [`Code::VoucherRejected`]; otherwise as [`Core::service_spend`].
    pub async fn service_redeem(
        &self,
        subject: Option<&str>,
        key: &str,
        voucher: &str,
    ) -> Result<ServiceReceipt> {
        let body = serde_json::json!({"voucher": voucher, "idempotency_key": key});
        self.service_write(subject, "v1/redeem", key, body).await
    }
}

/// The desktop shell runs these futures on a multi-threaded runtime: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(app: &Core, query: &HistoryQuery) {
    fn send<T: Send>(_: T) {}
    send(app.service_balance(None));
    send(app.service_history(None, query));
    send(app.service_spend(None, "k", 1, None));
    send(app.service_reserve(None, "k", 1, 60, None));
    send(app.service_capture(None, "k", 1, 1));
    send(app.service_release(None, "k", 1));
    send(app.service_redeem(None, "k", "v"));
    send(app.refresh_service_keys());
    send(app.credit_packs());
    send(app.begin_purchase(None));
    send(app.wait_for_purchase("c", Duration::from_secs(1)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_become_the_cores_codes() {
        let cases = [
            (402, "insufficient_credits", Code::InsufficientCredits),
            (409, "idempotency_conflict", Code::IdempotencyConflict),
            (404, "unknown_entry", Code::UnknownEntry),
            (400, "invalid_input", Code::InvalidInput),
            (401, "unauthorized", Code::SessionExpired),
            (503, "unavailable", Code::ServiceUnavailable),
            (500, "internal", Code::ServiceUnavailable),
            (404, "not_found", Code::Provider),
            (409, "lease_hold", Code::LeaseHold),
        ];
        for (status, word, code) in cases {
            let body = serde_json::json!({"code": word, "message": "not enough credits"});
            let e = service_error(
                reqwest::StatusCode::from_u16(status).unwrap(),
                body.to_string().as_bytes(),
            );
            assert_eq!(e.code, code, "{status} {word}");
        }
        let e = service_error(reqwest::StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(
            e.code,
            Code::ServiceUnavailable,
            "a proxy's 5xx page is a service that cannot serve now"
        );
    }

    /// A port where nothing listens.
    async fn closed_port() -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn answers_past_the_cap_are_refused_and_a_closed_port_is_unavailable() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rig = crate::testing::Rig::new();
        let mut app = rig.at(crate::testing::t0());
        // A stand-in service that answers every request with 2 MiB of body.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let body = vec![b' '; 2 * MAX_ANSWER_BYTES];
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&body).await;
                });
            }
        });
        let at = |port: u16| {
            Some(crate::config::ServiceConfig {
                url: url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            })
        };
        app.config.service = at(addr.port());
        let e = app.credit_packs().await.unwrap_err();
        assert_eq!(e.code, Code::Provider, "{}", e.message);
        assert!(e.message.contains("larger than 1024 KiB"), "{}", e.message);

        app.config.service = at(closed_port().await);
        let e = app.credit_packs().await.unwrap_err();
        assert_eq!(e.code, Code::ServiceUnavailable, "{}", e.message);
        assert!(e.message.contains("cannot be reached"), "{}", e.message);
    }

    #[tokio::test]
    async fn nothing_known_and_nothing_reachable_is_unavailable_not_zero() {
        let rig = crate::testing::Rig::new();
        let mut app = rig.at(crate::testing::t0());
        app.config.service = Some(crate::config::ServiceConfig {
            url: url::Url::parse(&format!("http://127.0.0.1:{}/", closed_port().await)).unwrap(),
        });
        app.store_session("p", crate::testing::signed_in("bob"))
            .unwrap();
        let e = app.service_balance(None).await.unwrap_err();
        assert_eq!(
            e.code,
            Code::NotSignedIn,
            "a session without an ID token cannot call the service: {}",
            e.message
        );

        let mut alice = crate::testing::signed_in("alice");
        alice.tokens.id_token = Some(latchkey_auth::IdToken::new("h.p.s"));
        app.store_session("p", alice).unwrap();
        let e = app.service_balance(None).await.unwrap_err();
        assert_eq!(
            e.code,
            Code::ServiceUnavailable,
            "no last known balance yet: an error, never a made-up 0: {}",
            e.message
        );
        let e = app.service_spend(None, "k", 1, None).await.unwrap_err();
        assert_eq!(e.code, Code::ServiceUnavailable, "{}", e.message);
    }

    #[test]
    fn the_id_tokens_expiry_is_read_to_refresh_in_time() {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let jwt = format!(
            "{}.{}.sig",
            b64(serde_json::json!({"alg": "RS256"})),
            b64(serde_json::json!({"sub": "a", "exp": 1_800_000_000}))
        );
        assert_eq!(jwt_expiry(&jwt).map(|t| t.timestamp()), Some(1_800_000_000));
        assert_eq!(jwt_expiry("not a jwt"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
    }

    #[test]
    fn receipts_and_history_carry_the_balance_after_each_entry() {
        let mut running = (0, 0);
        let mut afters = Vec::new();
        for (kind, amount) in [
            ("grant", 10),
            ("reserve", 4),
            ("capture", 3),
            ("release", 1),
        ] {
            let (p, h) = effect(kind, amount);
            running = (running.0 + p, running.1 + h);
            afters.push(running);
        }
        assert_eq!(afters, vec![(10, 0), (10, 4), (7, 1), (7, 0)]);
        assert_eq!(local_kind("hold"), "reserve", "the local word for a hold");
    }

    #[test]
    fn a_reversal_is_a_debit_of_posted_credits() {
        assert_eq!(
            effect("reversal", 7),
            (-7, 0),
            "a refund's reversal takes bought credits back; it is not a release of held ones"
        );
        assert_eq!(
            local_kind("reversal"),
            "reversal",
            "shown under its own name"
        );
    }
}
