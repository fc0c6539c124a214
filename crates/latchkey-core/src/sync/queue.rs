//! Vouchers redeemed while the credit service cannot be reached (issue 9: "vouchers need the
//! service; queued offline, not counted until confirmed"). The voucher is checked here first
//! with what this machine knows (it decodes, a pinned key of the service signed it, it has not
//! expired, it is meant for this account), then kept in `sync.sqlite`'s `voucher_queue` under
//! the redeem's idempotency key. Nothing is credited here: the next sync (or the next online
//! redeem) sends each queued voucher to `/v1/redeem` with that same key, so a lost answer and
//! its retry credit it once (the service replays the first receipt for the key), and records
//! the outcome. A row with an outcome is no longer queued; it is kept to answer a repeat of the
//! same key.

use crate::accounts::AccountRecord;
use crate::core::Core;
use crate::error::{Code, Error, Result};
use crate::service::{LedgerEntry, ServiceBalance};
use chrono::{DateTime, Utc};
use latchkey_wallet::voucher::{self, Voucher};
use latchkey_wallet::AccountKey;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

const SCHEMA: &str = r#"
-- A voucher redeemed while the service could not be reached. `outcome` NULL: still queued.
CREATE TABLE IF NOT EXISTS voucher_queue (
    account    TEXT NOT NULL,
    key        TEXT NOT NULL,
    voucher    TEXT NOT NULL,
    voucher_id TEXT NOT NULL,
    credits    INTEGER NOT NULL CHECK (credits > 0),
    queued_at  TEXT NOT NULL,
    outcome    TEXT CHECK (outcome IN ('credited', 'already_redeemed', 'refused')),
    reason     TEXT,
    receipt    TEXT,
    done_at    TEXT,
    PRIMARY KEY (account, key)
);
-- One queued entry per voucher: a second redeem of it offline answers with the first.
CREATE UNIQUE INDEX IF NOT EXISTS voucher_queue_once
    ON voucher_queue (account, voucher_id) WHERE outcome IS NULL;
CREATE TRIGGER IF NOT EXISTS voucher_queue_outcome_once
BEFORE UPDATE ON voucher_queue WHEN OLD.outcome IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a queued voucher gets its outcome once'); END;
"#;

/// A voucher waiting for the service, as a redeem answers it.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedVoucher {
    /// Always `true`: tells faces this redeem is queued, not counted.
    pub queued: bool,
    /// The idempotency key it will be sent with (the first redeem's, when queued before).
    pub key: String,
    /// Whether it was queued before (with this key, or this voucher under another key).
    pub replayed: bool,
    /// The voucher's id.
    pub voucher_id: String,
    /// What it will credit once the service confirms it.
    pub credits: i64,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// The last balance read from the service (unchanged by the queue), if any.
    pub balance: Option<ServiceBalance>,
}

/// What one sending of the queue did (`"vouchers"` in `sync --json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueReport {
    /// Queued vouchers sent now.
    pub sent: usize,
    /// Credits the service counted for them.
    pub credited: i64,
    /// Each one sent, with its outcome.
    pub outcomes: Vec<QueueOutcome>,
    /// Still queued after this (0 unless the service stopped answering).
    pub still_queued: usize,
}

/// One queued voucher's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct QueueOutcome {
    /// The key it was sent with.
    pub key: String,
    /// The voucher's id.
    pub voucher_id: String,
    /// Its credits.
    pub credits: i64,
    /// `credited`, `already_redeemed` or `refused`.
    pub outcome: &'static str,
    /// For `refused`: why, in words.
    pub reason: Option<String>,
}

/// The receipt kept for a credited voucher (to answer a repeat of its key offline).
#[derive(serde::Deserialize, Serialize)]
struct KeptReceipt {
    entry: LedgerEntry,
    balance: ServiceBalance,
}

/// A row still queued: (key, voucher text, voucher id, credits).
type Row = (String, String, String, i64);

fn storage(e: impl std::fmt::Display) -> Error {
    Error::new(Code::Storage, format!("the sync state (sync.sqlite): {e}"))
}

/// The data dir's `sync.sqlite` (as `store.rs` opens it), with the queue's table.
fn open(data_dir: &std::path::Path) -> Result<Connection> {
    let conn = super::store::connect(data_dir)?;
    conn.execute_batch(SCHEMA).map_err(storage)?;
    Ok(conn)
}

fn queued_rows(conn: &Connection, account: &str) -> Result<Vec<Row>> {
    let mut q = conn
        .prepare(
            "SELECT key, voucher, voucher_id, credits FROM voucher_queue
             WHERE account = ?1 AND outcome IS NULL ORDER BY queued_at, key",
        )
        .map_err(storage)?;
    let rows = q
        .query_map(params![account], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(storage)?;
    rows.collect::<std::result::Result<_, _>>().map_err(storage)
}

impl Core {
    /// Checks `token` with what this machine knows of the credit service (a key of the
    /// service pinned here signed it, not expired, meant for `account`); changes nothing.
    fn verify_offline(&self, token: &str, account: &AccountKey) -> Result<Voucher> {
        let pinned = self.pinned_service_keys();
        if pinned.is_empty() {
            return Err(Error::new(
                Code::ServiceUnavailable,
                "The credit service has not been reached yet, so the voucher's signature \
                 cannot be checked; nothing was redeemed or queued",
            ));
        }
        voucher::verify(token, &pinned, account, self.now().into())
            .map_err(|reason| self.voucher_refusal(&reason))
    }

    /// Queues `token` for the service under `key` (the service could not be reached): checked
    /// here first, then kept until a sync sends it. Queuing the same key, or the same voucher
    /// under another key, again answers with the first entry (`replayed`). Nothing is
    /// credited.
    ///
    /// # Errors
    /// [`Code::VoucherRejected`] (not the service's key, bad signature, expired, someone
    /// else's; and a key or voucher whose queued redeem the service refused);
    /// [`Code::IdempotencyConflict`] when `key` queued another voucher;
    /// [`Code::ServiceUnavailable`] before the first contact (no pinned keys);
    /// [`Code::Storage`].
    pub(crate) fn queue_voucher(
        &self,
        record: &AccountRecord,
        key: &str,
        token: &str,
    ) -> Result<QueueAnswer> {
        let account = AccountKey::new(
            record.identity.issuer.clone(),
            record.identity.subject.clone(),
        );
        let v = self.verify_offline(token, &account)?;
        let conn = open(self.data_dir())?;
        type Kept = (
            String,
            String,
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let find = |clause: &str, value: &str| -> Result<Option<Kept>> {
            conn.query_row(
                &format!(
                    "SELECT key, voucher_id, credits, queued_at, outcome, reason, receipt
                     FROM voucher_queue WHERE account = ?1 AND {clause} = ?2
                     ORDER BY outcome IS NOT NULL LIMIT 1"
                ),
                params![record.id, value],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()
            .map_err(storage)
        };
        let now = self.now();
        let mut kept = find("key", key)?;
        if kept.as_ref().is_some_and(|k| k.1 != v.id) {
            return Err(Error::new(
                Code::IdempotencyConflict,
                format!(
                    "The idempotency key {key} was used to redeem another voucher; nothing \
                     changed (use a new key)"
                ),
            ));
        }
        if kept.is_none() {
            // The same voucher queued under another key: that entry is its redeem.
            kept = find("voucher_id", &v.id)?.filter(|k| k.4.is_none());
        }
        let replayed = kept.is_some();
        if kept.is_none() {
            // OR IGNORE: another process that queued this key or voucher meanwhile wins, and
            // its entry is the answer.
            conn.execute(
                "INSERT OR IGNORE INTO voucher_queue
                 (account, key, voucher, voucher_id, credits, queued_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![record.id, key, token, v.id, v.credits.0, now.to_rfc3339()],
            )
            .map_err(storage)?;
            kept = match find("key", key)? {
                Some(k) => Some(k),
                None => find("voucher_id", &v.id)?.filter(|k| k.4.is_none()),
            };
        }
        let (key, voucher_id, credits, queued_at, outcome, reason, receipt) =
            kept.ok_or_else(|| storage("a queued voucher vanished"))?;
        match outcome.as_deref() {
            None => {}
            Some("credited") => {
                let r: KeptReceipt = receipt
                    .as_deref()
                    .and_then(|r| serde_json::from_str(r).ok())
                    .ok_or_else(|| storage("a credited voucher's receipt is unreadable"))?;
                return Ok(QueueAnswer::Credited(crate::ServiceReceipt {
                    entry: r.entry,
                    balance: r.balance,
                    replayed: true,
                }));
            }
            Some("already_redeemed") => {
                return Err(Error::new(
                    Code::VoucherRejected,
                    "This voucher cannot be used: it was already redeemed (the credit service \
                     said so when this device sent it).",
                ))
            }
            Some(_) => {
                return Err(Error::new(
                    Code::VoucherRejected,
                    format!(
                        "This voucher cannot be used: the credit service refused it when this \
                         device sent it ({}).",
                        reason.unwrap_or_default()
                    ),
                ))
            }
        }
        Ok(QueueAnswer::Queued(QueuedVoucher {
            queued: true,
            key,
            replayed,
            voucher_id,
            credits,
            queued_at: DateTime::parse_from_rfc3339(&queued_at)
                .map(|t| t.with_timezone(&Utc))
                .map_err(storage)?,
            balance: self.read_cached_balance(record),
        }))
    }

    /// The key `token` waits under in `record`'s queue, if it is queued (then it is sent with
    /// that key, whatever key a later redeem of it brings: credited once either way).
    ///
    /// # Errors
    /// [`Code::Storage`].
    pub(crate) fn queued_key_of(
        &self,
        record: &AccountRecord,
        token: &str,
    ) -> Result<Option<String>> {
        let account = AccountKey::new(
            record.identity.issuer.clone(),
            record.identity.subject.clone(),
        );
        let Ok(v) = self.verify_offline(token, &account) else {
            return Ok(None);
        };
        open(self.data_dir())?
            .query_row(
                "SELECT key FROM voucher_queue
                 WHERE account = ?1 AND voucher_id = ?2 AND outcome IS NULL",
                params![record.id, v.id],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)
    }

    /// The active account's (or `subject`'s) vouchers waiting for the service, oldest first,
    /// from local files only.
    ///
    /// # Errors
    /// The account errors; [`Code::Storage`].
    pub fn queued_vouchers(&self, subject: Option<&str>) -> Result<Vec<QueuedVoucher>> {
        let record = self.account_record(subject)?;
        let conn = open(self.data_dir())?;
        let mut q = conn
            .prepare(
                "SELECT key, voucher_id, credits, queued_at FROM voucher_queue
                 WHERE account = ?1 AND outcome IS NULL ORDER BY queued_at, key",
            )
            .map_err(storage)?;
        let rows: Vec<(String, String, i64, String)> = q
            .query_map(params![record.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(storage)?
            .collect::<std::result::Result<_, _>>()
            .map_err(storage)?;
        let balance = self.read_cached_balance(&record);
        rows.into_iter()
            .map(|(key, voucher_id, credits, at)| {
                Ok(QueuedVoucher {
                    queued: true,
                    key,
                    replayed: false,
                    voucher_id,
                    credits,
                    queued_at: DateTime::parse_from_rfc3339(&at)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(storage)?,
                    balance,
                })
            })
            .collect()
    }

    /// Sends every queued voucher of `record` to the service with its own key, oldest first,
    /// recording each outcome (the row then leaves the queue). A voucher the service refuses
    /// while it still verifies here was redeemed meanwhile (`already_redeemed`: the service
    /// checks the same rules with every key it published); one that no longer verifies
    /// (expired meanwhile) is `refused` with the reason.
    ///
    /// # Errors
    /// [`Code::ServiceUnavailable`] and the token errors: the voucher stays queued (a retry
    /// sends it with the same key, so it is never credited twice); [`Code::Storage`].
    pub(crate) async fn send_queued_vouchers(&self, record: &AccountRecord) -> Result<QueueReport> {
        // The service's voucher keys, pinned (or their rotation followed) once per run: a
        // device that only ever syncs can still check a voucher offline later.
        self.check_service_keys_once().await;
        let conn = open(self.data_dir())?;
        let account = AccountKey::new(
            record.identity.issuer.clone(),
            record.identity.subject.clone(),
        );
        let mut report = QueueReport::default();
        for (key, token, voucher_id, credits) in queued_rows(&conn, &record.id)? {
            let (outcome, reason, receipt) = match self
                .service_redeem(Some(&record.identity.subject), &key, &token)
                .await
            {
                Ok(r) => {
                    let kept = serde_json::to_string(&KeptReceipt {
                        entry: r.entry,
                        balance: r.balance,
                    })
                    .map_err(|e| Error::new(Code::Internal, e.to_string()))?;
                    ("credited", None, Some(kept))
                }
                Err(e) if e.code == Code::VoucherRejected => {
                    match self.verify_offline(&token, &account) {
                        Ok(_) => ("already_redeemed", None, None),
                        Err(now) => ("refused", Some(now.message), None),
                    }
                }
                Err(e) if matches!(e.code, Code::IdempotencyConflict | Code::InvalidInput) => {
                    ("refused", Some(e.message), None)
                }
                Err(e) => return Err(e),
            };
            let changed = conn
                .execute(
                    "UPDATE voucher_queue SET outcome = ?3, reason = ?4, receipt = ?5,
                     done_at = ?6 WHERE account = ?1 AND key = ?2 AND outcome IS NULL",
                    params![
                        record.id,
                        key,
                        outcome,
                        reason,
                        receipt,
                        self.now().to_rfc3339()
                    ],
                )
                .map_err(storage)?;
            // Another process sent it meanwhile (the same key: credited once) and reported it.
            if changed == 0 {
                continue;
            }
            report.sent += 1;
            if outcome == "credited" {
                report.credited += credits;
            }
            report.outcomes.push(QueueOutcome {
                key,
                voucher_id,
                credits,
                outcome,
                reason,
            });
        }
        report.still_queued = queued_rows(&conn, &record.id)?.len();
        Ok(report)
    }
}

/// A redeem with the service unreachable: queued, or (a repeat of a key the queue already
/// sent) the service's first answer.
#[derive(Debug, Clone)]
pub(crate) enum QueueAnswer {
    /// Waiting for the service.
    Queued(QueuedVoucher),
    /// Credited by an earlier sync: its receipt, replayed.
    Credited(crate::ServiceReceipt),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redeem::Redeemed;
    use crate::testing::{signed_in, t0, Rig};
    use latchkey_wallet::{Credits, PrivateKey, VoucherSpec};

    fn service_key() -> PrivateKey {
        PrivateKey::from_seed([7; 32])
    }

    /// alice signed in (with an ID token), a credit service on a closed port whose key
    /// `service_key()` is pinned here when `pinned`.
    async fn offline(rig: &Rig, pinned: bool) -> Core {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let mut app = rig.at(t0());
        app.config.service = Some(crate::config::ServiceConfig {
            url: url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
        });
        let mut alice = signed_in("alice");
        alice.tokens.id_token = Some(latchkey_auth::IdToken::new("h.p.s"));
        app.store_session("p", alice).unwrap();
        if pinned {
            let dir = app.data_dir().join("service-keys");
            std::fs::create_dir_all(&dir).unwrap();
            let pins = serde_json::json!({
                "service": format!("http://127.0.0.1:{port}/"),
                "keys": [service_key().public_key().to_text()],
            });
            std::fs::write(dir.join(format!("127.0.0.1_{port}.json")), pins.to_string()).unwrap();
        }
        app
    }

    fn issue(key: &PrivateKey, credits: i64) -> String {
        voucher::issue(key, &VoucherSpec::new(Credits(credits))).unwrap()
    }

    #[tokio::test]
    async fn an_offline_redeem_is_checked_then_queued_once() {
        let rig = Rig::new();
        let app = offline(&rig, true).await;
        let v = issue(&service_key(), 25);
        let Redeemed::Queued(q) = app.redeem_at_service(None, "k1", &v).await.unwrap() else {
            panic!("the service is unreachable: queued");
        };
        assert_eq!((q.credits, q.replayed, q.key.as_str()), (25, false, "k1"));
        for key in ["k1", "k2"] {
            let Redeemed::Queued(again) = app.redeem_at_service(None, key, &v).await.unwrap()
            else {
                panic!("queued again");
            };
            assert!(
                again.replayed,
                "the same voucher again is the same entry ({key})"
            );
            assert_eq!(again.key, "k1", "sent with its first key");
        }
        assert_eq!(app.queued_vouchers(None).unwrap().len(), 1, "one entry");

        let other = issue(&service_key(), 5);
        let e = app.redeem_at_service(None, "k1", &other).await.unwrap_err();
        assert_eq!(
            e.code,
            Code::IdempotencyConflict,
            "k1 queued another voucher"
        );

        let forged = issue(&PrivateKey::from_seed([8; 32]), 900);
        let e = app
            .redeem_at_service(None, "k3", &forged)
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::VoucherRejected, "refused at once: {e:?}");
        assert_eq!(
            app.queued_vouchers(None).unwrap().len(),
            1,
            "a refused voucher is not queued"
        );
    }

    #[tokio::test]
    async fn without_pinned_keys_nothing_can_be_checked_so_nothing_is_queued() {
        let rig = Rig::new();
        let app = offline(&rig, false).await;
        let e = app
            .redeem_at_service(None, "k1", &issue(&service_key(), 25))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::ServiceUnavailable, "{e:?}");
        assert!(app.queued_vouchers(None).unwrap().is_empty());
    }
}
