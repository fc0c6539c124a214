//! Vouchers issued by the service: Ed25519 keys that only the service holds (in PostgreSQL,
//! never served or logged), the token format and checks of `latchkey-wallet`'s
//! [`latchkey_wallet::voucher`] (one format for the desktop and the service), redemption once
//! across all users and machines (`credit_sources` row `voucher:<id>`, UNIQUE).
//!
//! Key rotation: `keys rotate` makes a new active key and signs its public key text with the
//! previous active key, so a client that pinned the old key can trust the new one:
//! signature = Ed25519(previous seed, ASCII `latchkey-key-rotation:v1:` + `LKVP1.…`), base64url.

pub mod routes;
pub mod seal;

pub use seal::SealKey;

use crate::db::DbError;
use crate::ledger::{Account, Credit, Credited, EntryKind, Ledger, LedgerError, Receipt, Source};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use latchkey_wallet::voucher::{self, PrivateKey, PublicKey, VoucherSpec};
use latchkey_wallet::{AccountKey, Credits, Timestamp, VoucherRejection};
use serde::Serialize;

/// What a rotation signature signs, before the new key's `LKVP1.` text (the wallet's).
pub use latchkey_wallet::voucher::ROTATION_CONTEXT;

/// Why a voucher operation changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VoucherError {
    /// The voucher is malformed, forged, expired or bound to another account.
    #[error("{0}")]
    Invalid(VoucherRejection),
    /// Already redeemed (by this account with another key, or by another account).
    #[error("this voucher was already redeemed")]
    AlreadyRedeemed,
    /// No voucher key exists yet (nothing was ever issued).
    #[error("this service has issued no vouchers")]
    NoKeys,
    /// Bad input (credits out of range...).
    #[error("{0}")]
    InvalidInput(String),
    /// A sealed seed needs the seal key (missing, or not the one it was sealed with).
    #[error("{0}")]
    Sealed(String),
    /// The ledger or database failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<tokio_postgres::Error> for VoucherError {
    fn from(e: tokio_postgres::Error) -> Self {
        VoucherError::Ledger(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for VoucherError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        VoucherError::Ledger(e.into())
    }
}

/// One published key, as `/.well-known/latchkey-keys` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PublishedKey {
    /// The key id vouchers name (`kid`).
    pub kid: String,
    /// `LKVP1.<base64url>`, as the wallet reads it.
    pub public_key: String,
    /// Whether new vouchers are signed with it.
    pub active: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The key that signed this one at rotation (the previous active key), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// That signature, base64url, over [`ROTATION_CONTEXT`] + `public_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `/.well-known/latchkey-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KeySet {
    /// Every key ever used, oldest first (old vouchers stay verifiable).
    pub keys: Vec<PublishedKey>,
}

/// The public keys, oldest first, with their rotation signatures.
pub async fn published(ledger: &Ledger) -> Result<KeySet, VoucherError> {
    let client = ledger.pool().get().await?;
    let rows = client
        .query(
            "SELECT kid, public_key, active, created_at, signed_by, signature
             FROM voucher_keys ORDER BY created_at, kid",
            &[],
        )
        .await?;
    Ok(KeySet {
        keys: rows
            .iter()
            .map(|r| PublishedKey {
                kid: r.get(0),
                public_key: r.get(1),
                active: r.get(2),
                created_at: r.get(3),
                signed_by: r.get(4),
                signature: r.get(5),
            })
            .collect(),
    })
}

fn new_seed() -> Result<[u8; 32], VoucherError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| VoucherError::InvalidInput(format!("no randomness: {e}")))?;
    Ok(seed)
}

/// The seed of the key in `row` (`kid, seed, sealed_seed`): stored plainly, or sealed and
/// opened with `seal`.
fn seed_of(row: &tokio_postgres::Row, seal: Option<&SealKey>) -> Result<[u8; 32], VoucherError> {
    let kid: String = row.get(0);
    let plain: Option<Vec<u8>> = row.get(1);
    let sealed: Option<Vec<u8>> = row.get(2);
    match (plain, sealed, seal) {
        (Some(seed), _, _) => seed
            .try_into()
            .map_err(|_| LedgerError::Db(DbError::Corrupt("a voucher key seed".into())).into()),
        (None, Some(sealed), Some(key)) => key.open(&kid, &sealed),
        (None, Some(_), None) => Err(VoucherError::Sealed(
            "the voucher keys are sealed: configure voucher_seal_key_env or \
             voucher_seal_key_file with the seal key"
                .into(),
        )),
        (None, None, _) => {
            Err(LedgerError::Db(DbError::Corrupt("a voucher key seed".into())).into())
        }
    }
}

/// Seals every seed still stored plainly (keys made before a seal key was configured).
async fn seal_plain_seeds(
    tx: &deadpool_postgres::Transaction<'_>,
    seal: &SealKey,
) -> Result<(), VoucherError> {
    let rows = tx
        .query(
            "SELECT kid, seed FROM voucher_keys WHERE seed IS NOT NULL FOR UPDATE",
            &[],
        )
        .await?;
    for r in rows {
        let kid: String = r.get(0);
        let seed: [u8; 32] = r
            .get::<_, Vec<u8>>(1)
            .try_into()
            .map_err(|_| LedgerError::Db(DbError::Corrupt("a voucher key seed".into())))?;
        tx.execute(
            "UPDATE voucher_keys SET seed = NULL, sealed_seed = $2 WHERE kid = $1",
            &[&kid, &seal.seal(&kid, &seed)?],
        )
        .await?;
    }
    Ok(())
}

/// Makes a new active key; the previous active key (if any) signs it and stops being active.
/// Safe against concurrent rotations (the table is locked for the transaction). With `seal`,
/// the new seed is stored only sealed, and any seed still stored plainly is sealed too.
pub async fn rotate(
    ledger: &Ledger,
    seal: Option<&SealKey>,
    now: DateTime<Utc>,
) -> Result<PublishedKey, VoucherError> {
    let mut client = ledger.pool().get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("LOCK TABLE voucher_keys IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    let previous = tx
        .query_opt(
            "SELECT kid, seed, sealed_seed FROM voucher_keys WHERE active",
            &[],
        )
        .await?;
    let seed = new_seed()?;
    let public = PrivateKey::from_seed(seed).public_key();
    let (kid, text) = (public.key_id(), public.to_text());
    let (signed_by, signature) = match &previous {
        None => (None, None),
        Some(r) => {
            let prev_seed = seed_of(r, seal)?;
            // The wallet's signing, so the desktop's `verifies_rotation` accepts it.
            let sig = PrivateKey::from_seed(prev_seed).sign_rotation(&public);
            (Some(r.get::<_, String>(0)), Some(sig))
        }
    };
    tx.execute("UPDATE voucher_keys SET active = false WHERE active", &[])
        .await?;
    let (plain, sealed) = match seal {
        Some(key) => (None, Some(key.seal(&kid, &seed)?)),
        None => (Some(seed.to_vec()), None),
    };
    tx.execute(
        "INSERT INTO voucher_keys (kid, public_key, seed, sealed_seed, active, created_at,
                                   signed_by, signature)
         VALUES ($1, $2, $3, $4, true, $5, $6, $7)",
        &[&kid, &text, &plain, &sealed, &now, &signed_by, &signature],
    )
    .await?;
    if let Some(key) = seal {
        seal_plain_seeds(&tx, key).await?;
    }
    tx.commit().await?;
    Ok(PublishedKey {
        kid,
        public_key: text,
        active: true,
        created_at: now,
        signed_by,
        signature,
    })
}

/// Whether `signature` (base64url) is `previous`'s rotation signature over `new_key` (LKVP1
/// text): what a client checks before trusting a new key. The wallet's check
/// ([`PublicKey::verifies_rotation`]), the one the desktop runs; unreadable keys are `false`.
pub fn verify_rotation(previous: &str, new_key: &str, signature: &str) -> bool {
    match (previous.parse::<PublicKey>(), new_key.parse::<PublicKey>()) {
        (Ok(prev), Ok(new)) => prev.verifies_rotation(&new, signature),
        _ => false,
    }
}

/// Issues a voucher for `credits`, bound to `bound_to` if given, signed with the active key
/// (made first if there is none). Recorded in `vouchers_issued`.
pub async fn issue(
    ledger: &Ledger,
    seal: Option<&SealKey>,
    credits: i64,
    bound_to: Option<&Account>,
    now: DateTime<Utc>,
) -> Result<String, VoucherError> {
    if !(1..=crate::ledger::MAX_AMOUNT).contains(&credits) {
        return Err(VoucherError::InvalidInput(format!(
            "credits must be 1 to {}",
            crate::ledger::MAX_AMOUNT
        )));
    }
    if bound_to.is_some_and(|a| a.issuer.is_empty() || a.subject.is_empty()) {
        return Err(VoucherError::InvalidInput(
            "--for needs a non-empty issuer and subject".into(),
        ));
    }
    if let Some(key) = seal {
        let mut client = ledger.pool().get().await?;
        let tx = client.transaction().await?;
        seal_plain_seeds(&tx, key).await?;
        tx.commit().await?;
    }
    const ACTIVE: &str = "SELECT kid, seed, sealed_seed FROM voucher_keys WHERE active";
    let active = {
        let client = ledger.pool().get().await?;
        client.query_opt(ACTIVE, &[]).await?
    };
    let row = match active {
        Some(r) => r,
        None => {
            rotate(ledger, seal, now).await?;
            let client = ledger.pool().get().await?;
            client.query_one(ACTIVE, &[]).await?
        }
    };
    let kid: String = row.get(0);
    let seed = seed_of(&row, seal)?;
    let id = B64.encode(
        crate::shop::random::<16>().map_err(|e| VoucherError::InvalidInput(e.to_string()))?,
    );
    let spec = VoucherSpec {
        credits: Credits(credits),
        issuer: bound_to.map(|a| a.issuer.clone()),
        subject: bound_to.map(|a| a.subject.clone()),
        expires_at: None,
        id: Some(id.clone()),
    };
    let token = voucher::issue(&PrivateKey::from_seed(seed), &spec)
        .map_err(|e| VoucherError::InvalidInput(e.to_string()))?;
    let client = ledger.pool().get().await?;
    client
        .execute(
            "INSERT INTO vouchers_issued (id, kid, credits, issuer, subject, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&id, &kid, &credits, &spec.issuer, &spec.subject, &now],
        )
        .await?;
    Ok(token)
}

/// Redeems `token` for `who`: verified against every key this service ever published (with
/// latchkey-wallet's rules: signature, expiry, binding), then credited once across all users.
/// The same idempotency `key` and voucher again replays the first receipt.
pub async fn redeem(
    ledger: &Ledger,
    who: &Account,
    token: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Receipt, VoucherError> {
    let keys: Vec<PublicKey> = published(ledger)
        .await?
        .keys
        .iter()
        .filter_map(|k| k.public_key.parse().ok())
        .collect();
    let account = AccountKey::new(who.issuer.clone(), who.subject.clone());
    let v = voucher::verify(
        token,
        &keys,
        &account,
        Timestamp::from_unix_millis(now.timestamp_millis()),
    )
    .map_err(VoucherError::Invalid)?;
    let memo = "Voucher";
    match ledger
        .credit_once(
            who,
            Some(key),
            &Credit {
                kind: EntryKind::Voucher,
                amount: v.credits.0,
                memo,
                source: &Source::Voucher(v.id.clone()),
            },
            now,
        )
        .await?
    {
        Credited::New(r) | Credited::Replayed(r) => Ok(r),
        Credited::Already { .. } => Err(VoucherError::AlreadyRedeemed),
    }
}
