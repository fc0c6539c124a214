//! Redeeming a voucher the way a question to the user needs it: [`Core::preview_voucher`]
//! verifies the voucher fully (a trusted key's signature, not expired, meant for the active
//! account, not already redeemed on this machine) before a face shows its amount, and
//! [`Core::redeem_voucher_for`] applies it only to the account the question named, refusing
//! when another account became active meanwhile. With a credit service that cannot be reached,
//! [`Core::redeem_at_service`] queues the voucher (`sync/queue.rs`): checked here, sent by the
//! next sync under the same key, not counted until the service confirms it.

use crate::core::Core;
use crate::error::{Code, Error, Result};
use crate::service::ServiceReceipt;
use crate::sync::{QueueAnswer, QueuedVoucher};
use latchkey_wallet::voucher::{self, Voucher};
use latchkey_wallet::{AccountKey, Receipt, VoucherRejection};
use serde::Serialize;

/// A voucher checked for the active account: what the question shows, and the account to
/// hand back to [`Core::redeem_voucher_for`].
#[derive(Debug, Clone, Serialize)]
pub struct VoucherPreview {
    /// What the voucher grants (its id, credits, binding and expiry), verified.
    #[serde(flatten)]
    pub voucher: Voucher,
    /// The account it would be redeemed into (the active one).
    pub account: RedeemAccount,
}

/// The account a redemption is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedeemAccount {
    /// Its provider's issuer.
    pub issuer: String,
    /// Its subject at that issuer.
    pub subject: String,
    /// How faces name the person ([`crate::AccountView::display_name`]).
    pub display_name: String,
}

/// What a redemption did, at the credit service or in the local wallet (`{entry, balance,
/// replayed}` either way), or that it waits for the service (`{queued: true, ...}`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Redeemed {
    /// Into the local wallet.
    Local(Receipt),
    /// At the credit service.
    Service(ServiceReceipt),
    /// The service could not be reached: checked here and queued for the next sync; not
    /// counted yet.
    Queued(QueuedVoucher),
}

impl Core {
    /// Verifies `token` for the active account before anything shows its amount: signed by a
    /// key this machine trusts (the credit service's pinned keys, or the user's own in the
    /// modes that trust them), not expired, not bound to another account, and, for the local
    /// wallet, not already redeemed here. Changes nothing.
    ///
    /// # Errors
    /// [`Code::NotSignedIn`]; [`Code::VoucherRejected`] with the reason;
    /// [`Code::ServiceUnavailable`] when the credit service's keys were never read, so the
    /// signature cannot be checked yet.
    pub async fn preview_voucher(&self, token: &str) -> Result<VoucherPreview> {
        let token = token.trim();
        let record = self.active_account()?;
        let account = AccountKey::new(
            record.identity.issuer.clone(),
            record.identity.subject.clone(),
        );
        let service = self.wallet_uses_service();
        if service {
            self.check_service_keys_once().await;
        }
        let keys = self.voucher_keys()?;
        let checked = voucher::verify(token, &keys, &account, self.now().into());
        let v = match checked {
            Ok(v) => v,
            Err(VoucherRejection::UnknownKey { .. })
                if service && self.pinned_service_keys().is_empty() =>
            {
                return Err(Error::new(
                    Code::ServiceUnavailable,
                    "The credit service has not been reached yet, so the voucher's signature \
                     cannot be checked",
                ))
            }
            Err(reason) => return Err(self.voucher_refusal(&reason)),
        };
        if !service && self.with_wallet_file(|w| w.voucher_redeemed(&v.id))? {
            return Err(
                self.voucher_refusal(&VoucherRejection::AlreadyRedeemed { voucher_id: v.id })
            );
        }
        let view = crate::views::view(&record, true, false);
        Ok(VoucherPreview {
            voucher: v,
            account: RedeemAccount {
                issuer: account.issuer,
                subject: account.subject,
                display_name: view.display_name().to_string(),
            },
        })
    }

    /// Redeems `token` into `expected`, the account the user was asked about, under the
    /// idempotency `key`: at the credit service when one is configured, else in the local
    /// wallet. Refused, changing nothing, when `expected` is no longer the active account.
    ///
    /// # Errors
    /// [`Code::VoucherRejected`] (also when the active account changed), and the wallet's or
    /// the service's errors.
    pub async fn redeem_voucher_for(
        &self,
        expected: &AccountKey,
        key: &str,
        token: &str,
    ) -> Result<Redeemed> {
        let active = self.active_account()?;
        if active.identity.issuer != expected.issuer || active.identity.subject != expected.subject
        {
            let now = crate::views::view(&active, true, false);
            return Err(Error::new(
                Code::VoucherRejected,
                format!(
                    "Nothing was redeemed: the active account changed after the question named \
                     another one; {} is active now. Open the voucher again to redeem it into \
                     this account",
                    now.display_name()
                ),
            ));
        }
        let token = token.trim();
        if self.wallet_uses_service() {
            return self
                .redeem_at_service(Some(&expected.subject), key, token)
                .await;
        }
        self.redeem_voucher_locally(Some(&expected.subject), key, token)
            .map(Redeemed::Local)
    }

    /// Redeems `token` at the credit service for the active account (or `subject`) under
    /// `key`. When the service cannot be reached, the voucher is checked with what this
    /// machine knows (a pinned key of the service signed it, not expired, meant for this
    /// account) and queued: [`Redeemed::Queued`], nothing counted; the next sync sends it
    /// with the same key. A voucher already queued is sent under its queued key, so it is
    /// credited once; after a redeem the service answered, the rest of the queue is sent too
    /// (best effort).
    ///
    /// # Errors
    /// [`Code::VoucherRejected`] (offline too, at once: forged, expired, someone else's);
    /// [`Code::IdempotencyConflict`]; [`Code::ServiceUnavailable`] offline before the first
    /// contact with the service (no pinned keys to check it with); the account errors.
    pub async fn redeem_at_service(
        &self,
        subject: Option<&str>,
        key: &str,
        token: &str,
    ) -> Result<Redeemed> {
        let token = token.trim();
        let record = self.account_record(subject)?;
        let subject = Some(record.identity.subject.as_str());
        let queued = self.queued_key_of(&record, token)?;
        let key = queued.as_deref().unwrap_or(key);
        match self.service_redeem(subject, key, token).await {
            Ok(r) => {
                // The service answers: what waits in the queue goes now too.
                let _ = self.send_queued_vouchers(&record).await;
                Ok(Redeemed::Service(r))
            }
            Err(e) if e.code == Code::ServiceUnavailable => {
                match self.queue_voucher(&record, key, token)? {
                    QueueAnswer::Queued(q) => Ok(Redeemed::Queued(q)),
                    QueueAnswer::Credited(r) => Ok(Redeemed::Service(r)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Redeems `token` into the local wallet of the active account (or `subject`). A voucher
    /// signed by one of the user's own `[wallet] voucher_keys` that this mode does not trust
    /// is refused in words that say so and what to do ([`Core::own_key_refusal`]).
    ///
    /// # Errors
    /// As the wallet's `redeem_voucher`.
    pub fn redeem_voucher_locally(
        &self,
        subject: Option<&str>,
        key: &str,
        token: &str,
    ) -> Result<Receipt> {
        let mut refused = None;
        self.with_wallet(subject, |w, a| {
            w.redeem_voucher(a, key, token).inspect_err(|e| {
                if let latchkey_wallet::Error::VoucherRejected { reason } = e {
                    refused = Some(reason.clone());
                }
            })
        })
        .map_err(|e| {
            refused
                .and_then(|reason| self.own_key_refusal(&reason))
                .unwrap_or(e)
        })
    }
}

/// The desktop shell runs these futures on a multi-threaded runtime: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(app: &Core, account: &AccountKey) {
    fn send<T: Send>(_: T) {}
    send(app.preview_voucher("v"));
    send(app.redeem_voucher_for(account, "k", "v"));
    send(app.redeem_at_service(None, "k", "v"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{signed_in, t0, Rig};
    use latchkey_wallet::{Credits, PrivateKey, VoucherSpec};

    fn seller() -> PrivateKey {
        PrivateKey::from_seed([3; 32])
    }

    /// A core (debug build: trusts `[wallet] voucher_keys`) with alice and bob signed in,
    /// bob active.
    fn two_accounts(rig: &Rig) -> Core {
        let mut app = rig.at(t0());
        app.config.wallet.voucher_keys = vec![seller().public_key().to_text()];
        for who in ["alice", "bob"] {
            app.store_session("p", signed_in(who)).unwrap();
        }
        app
    }

    fn balance(app: &Core, who: &str) -> i64 {
        app.with_wallet(Some(who), |w, a| w.balance(a))
            .unwrap()
            .available
            .get()
    }

    #[tokio::test]
    async fn the_preview_verifies_before_it_shows_an_amount() {
        let rig = Rig::new();
        let app = two_accounts(&rig);
        let good = voucher::issue(&seller(), &VoucherSpec::new(Credits(25))).unwrap();
        let p = app.preview_voucher(&good).await.expect("a trusted voucher");
        assert_eq!(p.voucher.credits, Credits(25));
        assert_eq!(p.account.subject, "bob", "the active account is named");

        let forger = PrivateKey::from_seed([4; 32]);
        let forged = voucher::issue(&forger, &VoucherSpec::new(Credits(900))).unwrap();
        let e = app.preview_voucher(&forged).await.unwrap_err();
        assert_eq!(e.code, Code::VoucherRejected, "an untrusted key: {e:?}");

        // The trusted key's id on a forger's signature.
        let (_, payload, _) = split(&good);
        let (_, _, sig) = split(&forged);
        let e = app
            .preview_voucher(&format!("LKV1.{payload}.{sig}"))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::VoucherRejected, "a bad signature: {e:?}");

        app.redeem_voucher_for(&key(&p.account), "k1", &good)
            .await
            .unwrap();
        let e = app.preview_voucher(&good).await.unwrap_err();
        assert_eq!(
            e.code,
            Code::VoucherRejected,
            "already redeemed here: {e:?}"
        );
    }

    fn split(token: &str) -> (String, String, String) {
        let mut parts = token.splitn(3, '.').map(str::to_string);
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    }

    fn key(a: &RedeemAccount) -> AccountKey {
        AccountKey::new(a.issuer.clone(), a.subject.clone())
    }

    #[tokio::test]
    async fn a_redeem_goes_only_to_the_account_the_question_named() {
        let rig = Rig::new();
        let app = two_accounts(&rig);
        let good = voucher::issue(&seller(), &VoucherSpec::new(Credits(25))).unwrap();
        let asked = app.preview_voucher(&good).await.unwrap().account;
        assert_eq!(asked.subject, "bob");
        app.switch("alice").unwrap();
        let e = app
            .redeem_voucher_for(&key(&asked), "k1", &good)
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::VoucherRejected, "{e:?}");
        assert!(e.message.contains("active account changed"), "{e:?}");
        assert_eq!(
            (balance(&app, "alice"), balance(&app, "bob")),
            (0, 0),
            "a refused redeem changes nothing"
        );
        app.switch("bob").unwrap();
        app.redeem_voucher_for(&key(&asked), "k1", &good)
            .await
            .unwrap();
        assert_eq!((balance(&app, "alice"), balance(&app, "bob")), (0, 25));
    }
}
