//! Importing a single-machine wallet (issue 9): a desktop that kept its credits in its local
//! `wallet.sqlite` before a service was configured sends that wallet's entries, oldest first,
//! with their local ids, on its first sync (`POST /v1/devices/{device_id}/import`).
//!
//! The rule, so that nobody loses credits and nobody mints them:
//! - the service counts only credits it can verify itself: a **voucher** is verified again
//!   against every key this service ever published (signature, expiry at the service's clock,
//!   binding to the caller) and credited once across all users (`credit_sources`
//!   `voucher:<id>`, the same record `/v1/redeem` uses: a voucher redeemed anywhere already is
//!   `already_redeemed`: its credits count for the wallet only when they went to the same user
//!   at the service, and are not credited again); a local **grant** (welcome credits,
//!   `wallet grant`) is `local_grant`;
//! - local **spends** (and captures) are taken first from the credits the service does not
//!   count, then from counted ones: only the counted part is spent at the service (`uncounted`
//!   when nothing is). So the import never credits more than the service verified nor more
//!   than the wallet had left (a spend made while only verified credits were there took them).
//!   A **refund** gives back counted credits a spend took, the rest stays uncounted;
//! - every entry's outcome is recorded under (user, device, local id) in the same transaction
//!   (`migrations/0011_wallet_imports.sql`): a replay (a lost answer, a second run) answers the
//!   first outcome and changes nothing; the same id with other parameters is a conflict. What
//!   the wallet's imported part holds so far (counted, uncounted, spent from counted) is kept
//!   per device, so a wallet larger than one batch is judged as one history.

use super::SyncError;
use crate::ledger::{Account, Entry, Receipt, MAX_AMOUNT, MAX_MEMO_CHARS};
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use latchkey_wallet::voucher::{self, PublicKey};
use latchkey_wallet::{AccountKey, Timestamp};
use latchkey_wire::{
    Balance, EntryKind, ImportAnswer, ImportBatch, ImportEntry, ImportOutcome, ImportReason,
    ImportedEntry, MAX_IMPORT_ENTRIES,
};
use std::collections::HashMap;
use tokio_postgres::types::ToSql;

/// The longest voucher text accepted.
const MAX_VOUCHER_BYTES: usize = 4096;

mod sql {
    pub const FIND_USER: &str = "SELECT id FROM users WHERE issuer = $1 AND subject = $2";
    pub const LOCK_BALANCE: &str =
        "SELECT posted, held FROM balances WHERE user_id = $1 FOR UPDATE";
    pub const DEVICE: &str =
        "SELECT removed_at IS NOT NULL FROM devices WHERE user_id = $1 AND device_id = $2";
    pub const STATE: &str = "SELECT counted, uncounted, spent_counted FROM wallet_import_state
        WHERE user_id = $1 AND device_id = $2";
    pub const SAVE_STATE: &str = "
        INSERT INTO wallet_import_state (user_id, device_id, counted, uncounted, spent_counted)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (user_id, device_id) DO UPDATE SET counted = EXCLUDED.counted,
            uncounted = EXCLUDED.uncounted, spent_counted = EXCLUDED.spent_counted";
    pub const PRIORS: &str = "
        SELECT entry_id, kind, amount, local_time, memo, voucher, outcome, reason, applied,
               entry_seq
        FROM wallet_imports WHERE user_id = $1 AND device_id = $2 AND entry_id = ANY($3)";
    pub const KEYS: &str = "SELECT public_key FROM voucher_keys";
    pub const INSERT_ENTRY: &str = "
        INSERT INTO entries (user_id, kind, amount, memo, created_at)
        VALUES ($1, $2, $3, $4, $5) RETURNING server_seq";
    pub const CLAIM_SOURCE: &str = "
        INSERT INTO credit_sources (source, user_id, entry_seq, result, created_at)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source) DO NOTHING RETURNING source";
    pub const SOURCE_TAKEN: &str = "SELECT user_id FROM credit_sources WHERE source = $1";
    pub const RECORD: &str = "
        INSERT INTO wallet_imports (user_id, device_id, entry_id, kind, amount, local_time, memo,
            voucher, outcome, reason, applied, entry_seq, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
    pub const READ_BALANCE: &str = "SELECT posted, held FROM balances WHERE user_id = $1";
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn opt<C: GenericClient>(
    c: &C,
    q: &str,
    p: Params<'_>,
) -> Result<Option<tokio_postgres::Row>, SyncError> {
    Ok(c.query_opt(&c.prepare_cached(q).await?, p).await?)
}

async fn one<C: GenericClient>(
    c: &C,
    q: &str,
    p: Params<'_>,
) -> Result<tokio_postgres::Row, SyncError> {
    Ok(c.query_one(&c.prepare_cached(q).await?, p).await?)
}

/// What the imported part of one device's wallet holds so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pools {
    /// Credits the service verified and credited, not yet spent.
    pub counted: i64,
    /// Credits the wallet had that the service does not count, not yet spent.
    pub uncounted: i64,
    /// Counted credits that imported spends took (what refunds may give back).
    pub spent_counted: i64,
}

/// What [`judge`] says about one debit or refund: how much moves at the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Credits to spend (a debit) or give back (a refund) at the service; 0: nothing.
    pub at_service: i64,
}

/// The rule for a local debit (`spend`, `capture`) or `refund` of `amount`, given the pools
/// (updated): a debit takes uncounted credits first, then counted ones, never more than the
/// service's `available`; a refund gives back counted credits spent before, the rest uncounted.
pub fn judge(pools: &mut Pools, kind: EntryKind, amount: i64, available: i64) -> Moved {
    if kind == EntryKind::Refund {
        let back = amount.min(pools.spent_counted);
        pools.spent_counted -= back;
        pools.counted += back;
        pools.uncounted += amount - back;
        return Moved { at_service: back };
    }
    let from_uncounted = amount.min(pools.uncounted);
    pools.uncounted -= from_uncounted;
    let rest = amount - from_uncounted;
    let from_counted = rest.min(pools.counted).min(available.max(0));
    // What the wallet spent beyond what the service can still take is not taken twice.
    pools.counted -= rest.min(pools.counted);
    pools.spent_counted += from_counted;
    Moved {
        at_service: from_counted,
    }
}

/// What no entry may carry even to be recorded: the rest is judged entry by entry.
fn check(e: &ImportEntry) -> Result<(), SyncError> {
    let bad = |m: &str| Err(SyncError::InvalidInput(m.to_string()));
    if e.entry_id < 1 {
        return bad("entry_id must be a positive local entry id");
    }
    if !(1..=MAX_AMOUNT).contains(&e.amount) {
        return bad("amount must be 1 to 10^12");
    }
    if e.memo
        .as_deref()
        .is_some_and(|m| m.chars().count() > MAX_MEMO_CHARS || m.chars().any(char::is_control))
    {
        return bad("a memo is at most 200 characters, without control characters");
    }
    if e.voucher
        .as_deref()
        .is_some_and(|v| v.len() > MAX_VOUCHER_BYTES || !v.bytes().all(|b| b.is_ascii_graphic()))
    {
        return bad("a voucher is at most 4096 visible ASCII characters");
    }
    if !(1970..10000).contains(&chrono::Datelike::year(&e.local_time)) {
        return bad("local_time must be between 1970 and 9999");
    }
    Ok(())
}

fn reason_str(r: ImportReason) -> &'static str {
    match r {
        ImportReason::LocalGrant => "local_grant",
        ImportReason::InvalidVoucher => "invalid_voucher",
        ImportReason::AlreadyRedeemed => "already_redeemed",
        ImportReason::Uncounted => "uncounted",
        ImportReason::NotImportable => "not_importable",
        ImportReason::Invalid => "invalid",
    }
}

fn corrupt(what: &str) -> SyncError {
    SyncError::Ledger(crate::ledger::LedgerError::Db(crate::db::DbError::Corrupt(
        what.to_string(),
    )))
}

/// An entry's parameters, as its local id is bound to them.
type Bound = (String, i64, i64, Option<String>, Option<String>);

fn bound(e: &ImportEntry) -> Bound {
    (
        e.kind.as_str().to_string(),
        e.amount,
        e.local_time.timestamp_micros(),
        e.memo.clone(),
        e.voucher.clone(),
    )
}

/// Imports a batch of `device_id`'s local wallet for `who`, in ONE transaction (see the
/// module's rule). The device must be registered and not removed.
///
/// # Errors
/// [`SyncError::InvalidInput`] for a malformed batch (nothing recorded);
/// [`SyncError::UnknownDevice`], [`SyncError::DeviceRemoved`]; database errors.
pub async fn import(
    pool: &Pool,
    who: &Account,
    device_id: &str,
    batch: &ImportBatch,
    now: DateTime<Utc>,
) -> Result<ImportAnswer, SyncError> {
    super::check_device_id(device_id)?;
    if batch.entries.len() > MAX_IMPORT_ENTRIES {
        return Err(SyncError::InvalidInput(format!(
            "at most {MAX_IMPORT_ENTRIES} entries per import; split the batch"
        )));
    }
    for e in &batch.entries {
        check(e)?;
    }
    let mut client = pool.get().await?;
    let user_id: i64 = opt(&client, sql::FIND_USER, &[&who.issuer, &who.subject])
        .await?
        .ok_or(SyncError::UnknownDevice)?
        .get(0);
    let tx = client.transaction().await?;
    let row = one(&tx, sql::LOCK_BALANCE, &[&user_id]).await?;
    let mut available = row.get::<_, i64>(0) - row.get::<_, i64>(1);
    match opt(&tx, sql::DEVICE, &[&user_id, &device_id]).await? {
        None => return Err(SyncError::UnknownDevice),
        Some(r) if r.get::<_, bool>(0) => return Err(SyncError::DeviceRemoved),
        Some(_) => {}
    }
    let mut pools = match opt(&tx, sql::STATE, &[&user_id, &device_id]).await? {
        Some(r) => Pools {
            counted: r.get(0),
            uncounted: r.get(1),
            spent_counted: r.get(2),
        },
        None => Pools::default(),
    };
    let ids: Vec<i64> = batch.entries.iter().map(|e| e.entry_id).collect();
    let mut priors: HashMap<i64, (Bound, ImportOutcome)> = HashMap::new();
    for r in tx
        .query(
            &tx.prepare_cached(sql::PRIORS).await?,
            &[&user_id, &device_id, &ids],
        )
        .await?
    {
        let b: Bound = (
            r.get(1),
            r.get(2),
            {
                let t: DateTime<Utc> = r.get(3);
                t.timestamp_micros()
            },
            r.get(4),
            r.get(5),
        );
        let outcome = match r.get::<_, &str>(6) {
            "imported" => ImportOutcome::Imported {
                server_seq: r
                    .get::<_, Option<i64>>(9)
                    .ok_or_else(|| corrupt("an import"))?,
                amount: r.get::<_, Option<i64>>(8).unwrap_or(0),
            },
            _ => ImportOutcome::Rejected {
                reason: serde_json::from_value(serde_json::Value::String(
                    r.get::<_, Option<String>>(7).unwrap_or_default(),
                ))
                .map_err(|_| corrupt("an import's reason"))?,
            },
        };
        priors.insert(r.get(0), (b, outcome));
    }
    let keys: Vec<PublicKey> = tx
        .query(&tx.prepare_cached(sql::KEYS).await?, &[])
        .await?
        .iter()
        .filter_map(|r| r.get::<_, &str>(0).parse().ok())
        .collect();
    let account = AccountKey::new(who.issuer.clone(), who.subject.clone());

    let mut outcomes = Vec::with_capacity(batch.entries.len());
    for e in &batch.entries {
        let b = bound(e);
        if let Some((first, outcome)) = priors.get(&e.entry_id) {
            outcomes.push(ImportedEntry {
                entry_id: e.entry_id,
                outcome: if *first == b {
                    outcome.clone()
                } else {
                    ImportOutcome::Conflict
                },
                replayed: true,
            });
            continue;
        }
        let outcome = decide(
            &tx,
            user_id,
            e,
            &keys,
            &account,
            &mut pools,
            &mut available,
            now,
        )
        .await?;
        let (word, reason, applied, seq) = match &outcome {
            ImportOutcome::Imported { server_seq, amount } => {
                ("imported", None, Some(*amount), Some(*server_seq))
            }
            ImportOutcome::Rejected { reason } => {
                ("rejected", Some(reason_str(*reason)), None, None)
            }
            ImportOutcome::Conflict => return Err(corrupt("a new import conflicting")),
        };
        tx.execute(
            &tx.prepare_cached(sql::RECORD).await?,
            &[
                &user_id,
                &device_id,
                &e.entry_id,
                &e.kind.as_str(),
                &e.amount,
                &e.local_time,
                &e.memo,
                &e.voucher,
                &word,
                &reason,
                &applied,
                &seq,
                &now,
            ],
        )
        .await?;
        priors.insert(e.entry_id, (b, outcome.clone()));
        outcomes.push(ImportedEntry {
            entry_id: e.entry_id,
            outcome,
            replayed: false,
        });
    }
    tx.execute(
        &tx.prepare_cached(sql::SAVE_STATE).await?,
        &[
            &user_id,
            &device_id,
            &pools.counted,
            &pools.uncounted,
            &pools.spent_counted,
        ],
    )
    .await?;
    let b = one(&tx, sql::READ_BALANCE, &[&user_id]).await?;
    tx.commit().await?;
    let (posted, held): (i64, i64) = (b.get(0), b.get(1));
    Ok(ImportAnswer {
        outcomes,
        balance: Balance {
            posted,
            held,
            available: posted - held,
        },
    })
}

/// Judges and applies one new entry.
#[allow(clippy::too_many_arguments)]
async fn decide(
    tx: &Transaction<'_>,
    user_id: i64,
    e: &ImportEntry,
    keys: &[PublicKey],
    account: &AccountKey,
    pools: &mut Pools,
    available: &mut i64,
    now: DateTime<Utc>,
) -> Result<ImportOutcome, SyncError> {
    let rejected = |reason| Ok(ImportOutcome::Rejected { reason });
    let insert = |kind: &'static str, amount: i64| async move {
        let seq: i64 = one(
            tx,
            sql::INSERT_ENTRY,
            &[&user_id, &kind, &amount, &e.memo, &now],
        )
        .await?
        .get(0);
        Ok::<i64, SyncError>(seq)
    };
    match e.kind {
        EntryKind::Grant => {
            pools.uncounted += e.amount;
            rejected(ImportReason::LocalGrant)
        }
        EntryKind::Voucher => {
            let verified = e.voucher.as_deref().map(|token| {
                voucher::verify(
                    token,
                    keys,
                    account,
                    Timestamp::from_unix_millis(now.timestamp_millis()),
                )
            });
            let v = match verified {
                Some(Ok(v)) if v.credits.0 == e.amount => v,
                Some(Ok(_)) | None => {
                    pools.uncounted += e.amount;
                    return rejected(ImportReason::Invalid);
                }
                Some(Err(_)) => {
                    pools.uncounted += e.amount;
                    return rejected(ImportReason::InvalidVoucher);
                }
            };
            let source = format!("voucher:{}", v.id);
            if let Some(r) = opt(tx, sql::SOURCE_TAKEN, &[&source]).await? {
                // Redeemed at the service already: credited to this user there (then the
                // wallet's credits are counted, once) or to someone else (then not at all).
                if r.get::<_, i64>(0) == user_id {
                    pools.counted += e.amount;
                } else {
                    pools.uncounted += e.amount;
                }
                return rejected(ImportReason::AlreadyRedeemed);
            }
            let seq = insert("voucher", e.amount).await?;
            // The receipt `/v1/redeem` keeps for a source (it reads it back when the same
            // voucher is redeemed again), as if it had been redeemed there.
            let b = one(tx, sql::READ_BALANCE, &[&user_id]).await?;
            let receipt = Receipt {
                entries: vec![Entry {
                    seq,
                    kind: crate::ledger::EntryKind::Voucher,
                    amount: e.amount,
                    hold: None,
                    expires_at: None,
                    memo: e.memo.clone(),
                    created_at: now,
                }],
                balance: crate::ledger::Balance::new(b.get(0), b.get(1)),
            };
            let result = serde_json::to_value(&receipt)
                .map_err(|e| SyncError::InvalidInput(format!("unrecordable receipt: {e}")))?;
            if opt(
                tx,
                sql::CLAIM_SOURCE,
                &[&source, &user_id, &seq, &result, &now],
            )
            .await?
            .is_none()
            {
                // Taken meanwhile by a transaction that committed first: undo everything.
                return Err(SyncError::InvalidInput(
                    "the voucher was redeemed meanwhile; import again".into(),
                ));
            }
            pools.counted += e.amount;
            *available += e.amount;
            Ok(ImportOutcome::Imported {
                server_seq: seq,
                amount: e.amount,
            })
        }
        EntryKind::Spend | EntryKind::Capture | EntryKind::Refund => {
            let moved = judge(pools, e.kind, e.amount, *available);
            if moved.at_service == 0 {
                return rejected(ImportReason::Uncounted);
            }
            let kind = if e.kind == EntryKind::Refund {
                *available += moved.at_service;
                "refund"
            } else {
                *available -= moved.at_service;
                "spend"
            };
            let seq = insert(kind, moved.at_service).await?;
            Ok(ImportOutcome::Imported {
                server_seq: seq,
                amount: moved.at_service,
            })
        }
        _ => rejected(ImportReason::NotImportable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_take_uncounted_credits_first_and_never_mint() {
        // grant 10 (uncounted), voucher 50 (counted), spend 30, refund 5, spend 40.
        let mut p = Pools {
            counted: 50,
            uncounted: 10,
            spent_counted: 0,
        };
        let m = judge(&mut p, EntryKind::Spend, 30, 50);
        assert_eq!(m.at_service, 20, "10 of the 30 were the local grant's");
        assert_eq!((p.counted, p.uncounted, p.spent_counted), (30, 0, 20));
        let m = judge(&mut p, EntryKind::Refund, 5, 30);
        assert_eq!(m.at_service, 5, "a refund gives back counted credits spent");
        assert_eq!((p.counted, p.spent_counted), (35, 15));
        let m = judge(&mut p, EntryKind::Spend, 35, 35);
        assert_eq!(m.at_service, 35, "the wallet's last 35 were all counted");
        assert_eq!(
            p.counted, 0,
            "imported: 50 verified - 15 spent of them, nothing more"
        );
    }

    proptest::proptest! {
        /// Any history a local wallet can have (its balance never negative): what the import
        /// leaves at the service is never more than the verified credits nor more than the
        /// wallet had left, and is what the counted pool says.
        #[test]
        fn an_import_never_mints(
            steps in proptest::collection::vec((0u8..4, 1i64..100), 0..60)
        ) {
            let mut p = Pools::default();
            let (mut local, mut verified, mut net) = (0i64, 0i64, 0i64);
            for (what, amount) in steps {
                match what {
                    0 => {
                        // A verified voucher: credited at once.
                        local += amount;
                        verified += amount;
                        p.counted += amount;
                        net += amount;
                    }
                    1 => {
                        // A local grant or a refused voucher.
                        local += amount;
                        p.uncounted += amount;
                    }
                    2 if amount <= local => {
                        local -= amount;
                        net -= judge(&mut p, EntryKind::Spend, amount, net).at_service;
                    }
                    3 => {
                        local += amount;
                        net += judge(&mut p, EntryKind::Refund, amount, net).at_service;
                    }
                    _ => {}
                }
                proptest::prop_assert!(net >= 0, "available never negative");
                proptest::prop_assert!(net <= local, "never more than the wallet had");
                proptest::prop_assert!(net <= verified, "never more than the service verified");
                proptest::prop_assert_eq!(net, p.counted);
                proptest::prop_assert_eq!(p.counted + p.uncounted, local);
            }
        }
    }

    #[test]
    fn a_spend_of_uncounted_credits_moves_nothing() {
        let mut p = Pools {
            counted: 0,
            uncounted: 10,
            spent_counted: 0,
        };
        assert_eq!(judge(&mut p, EntryKind::Spend, 10, 100).at_service, 0);
        assert_eq!(
            judge(&mut p, EntryKind::Refund, 4, 100).at_service,
            0,
            "a refund of an uncounted spend stays uncounted"
        );
        assert_eq!(p.uncounted, 4);
    }

    #[test]
    fn a_spend_is_never_taken_beyond_what_is_available() {
        let mut p = Pools {
            counted: 50,
            uncounted: 0,
            spent_counted: 0,
        };
        assert_eq!(
            judge(&mut p, EntryKind::Spend, 30, 10).at_service,
            10,
            "another device spent the rest meanwhile: available >= 0 holds"
        );
        assert_eq!(p.counted, 20);
    }
}
