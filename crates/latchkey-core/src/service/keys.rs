//! Which voucher keys this desktop trusts, and the pinning of the credit service's keys.
//!
//! | configuration | trusted keys |
//! |---|---|
//! | `[service] url` | the keys the service publishes at `/.well-known/latchkey-keys`, pinned on first contact; later keys only when signed by a key already trusted (the service's `keys rotate`) |
//! | `[wallet] offline_only = true` | `[wallet] voucher_keys` (the user's own keys: there is no service) |
//! | neither | none, except in a developer build |
//!
//! A developer build (`debug_assertions`, or the `developer-keys` feature) also trusts
//! `[wallet] voucher_keys` in every mode, so tests and local sellers keep working.
//!
//! The pins live in `<data dir>/service-keys/<host>_<port>.json`: only the keys' public text.

use crate::core::Core;
use crate::error::{Code, Error, Result};
use latchkey_wallet::PublicKey;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;

/// Whether this is a developer build, whose user-added `[wallet] voucher_keys` are trusted
/// even with a credit service.
pub const DEVELOPER_BUILD: bool = cfg!(debug_assertions) || cfg!(feature = "developer-keys");

/// What decides which voucher keys are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTrust {
    /// `[service] url` is set.
    pub service: bool,
    /// `[wallet] offline_only = true`.
    pub offline_only: bool,
    /// [`DEVELOPER_BUILD`].
    pub developer_build: bool,
}

/// The keys the local wallet trusts: the service's pinned keys when a service is configured,
/// the user's own `[wallet] voucher_keys` only in `offline_only` mode or a developer build.
pub fn trusted_voucher_keys(
    trust: KeyTrust,
    configured: &[PublicKey],
    pinned: &[PublicKey],
) -> Vec<PublicKey> {
    let mut keys = Vec::new();
    if trust.service && !trust.offline_only {
        keys.extend_from_slice(pinned);
    }
    if trust.offline_only || trust.developer_build {
        for k in configured {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

/// Why a voucher signed by `key_id` is refused when that key is one of the user's own
/// `[wallet] voucher_keys` that this build does not trust in this mode (see the module's
/// table), with what to do; `None` when the key is not theirs or is trusted. The wallet alone
/// would say the key "is not in [wallet] voucher_keys", which is untrue here.
pub fn untrusted_own_key(
    trust: KeyTrust,
    configured: &[PublicKey],
    key_id: &str,
) -> Option<String> {
    let own = configured.iter().any(|k| k.key_id() == key_id);
    if !own || trust.offline_only || trust.developer_build {
        return None;
    }
    Some(if trust.service {
        format!(
            "it is signed by key {key_id} from [wallet] voucher_keys, which a release build does \
             not trust while a credit service is configured ([service] url): only the service's \
             own keys are. Redeem a voucher issued by the credit service, or, for a wallet of your \
             own with no service, remove [service] and set [wallet] offline_only = true"
        )
    } else {
        format!(
            "it is signed by key {key_id} from [wallet] voucher_keys, which a release build \
             trusts only in the fully local mode: set [wallet] offline_only = true in the \
             configuration file (the local wallet is then the only ledger), or configure a \
             credit service ([service] url) and redeem vouchers it issued"
        )
    })
}

/// `/.well-known/latchkey-keys`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireKeySet {
    pub keys: Vec<WireKey>,
}

/// One published key.
#[derive(Debug, Deserialize)]
pub(crate) struct WireKey {
    pub kid: String,
    pub public_key: String,
    #[serde(default)]
    pub signed_by: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
}

/// What is pinned for one service.
#[derive(Serialize, Deserialize)]
struct Pins {
    service: String,
    keys: Vec<String>,
}

/// The keys to pin after reading `published`: on first contact (`pinned` empty) every
/// published key whose rotation signature (if any) checks out against its signer in the set;
/// afterwards the pinned keys plus each published key signed by a key already trusted, in
/// chains. A key that is neither is not trusted (and the answer says which).
pub(crate) fn accept(pinned: &[PublicKey], published: &[WireKey]) -> (Vec<PublicKey>, Vec<String>) {
    let parsed: Vec<(&WireKey, PublicKey)> = published
        .iter()
        .filter_map(|w| Some((w, w.public_key.parse::<PublicKey>().ok()?)))
        .collect();
    let signed_by_trusted = |w: &WireKey, new: &PublicKey, trusted: &[PublicKey]| {
        let (Some(by), Some(sig)) = (&w.signed_by, &w.signature) else {
            return false;
        };
        trusted
            .iter()
            .any(|t| &t.key_id() == by && t.verifies_rotation(new, sig))
    };
    let mut trusted: Vec<PublicKey> = pinned.to_vec();
    if trusted.is_empty() {
        // First contact: the roots (keys nobody signed) are taken on trust; the rest must
        // chain to them like later rotations.
        trusted.extend(
            parsed
                .iter()
                .filter(|(w, _)| w.signed_by.is_none())
                .map(|(_, k)| k.clone()),
        );
    }
    loop {
        let before = trusted.len();
        for (w, k) in &parsed {
            if !trusted.contains(k) && signed_by_trusted(w, k, &trusted) {
                trusted.push(k.clone());
            }
        }
        if trusted.len() == before {
            break;
        }
    }
    let refused = published
        .iter()
        .filter(|w| {
            w.public_key
                .parse::<PublicKey>()
                .map_or(true, |k| !trusted.contains(&k))
        })
        .map(|w| w.kid.clone())
        .collect();
    (trusted, refused)
}

impl Core {
    fn pins_path(&self) -> Option<std::path::PathBuf> {
        let url = &self.config.service.as_ref()?.url;
        let name = format!(
            "{}_{}.json",
            url.host_str().unwrap_or("service"),
            url.port_or_known_default().unwrap_or(0)
        )
        .replace(
            |c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)),
            "_",
        );
        Some(self.data_dir().join("service-keys").join(name))
    }

    /// The credit service's keys pinned on this machine (none before the first contact).
    pub fn pinned_service_keys(&self) -> Vec<PublicKey> {
        let Some(path) = self.pins_path() else {
            return Vec::new();
        };
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Pins>(&b).ok())
            .map(|p| p.keys.iter().filter_map(|k| k.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// The voucher keys the local wallet trusts now (see the module's table).
    ///
    /// # Errors
    /// [`Code::Config`] for a malformed `[wallet] voucher_keys` entry.
    pub fn voucher_keys(&self) -> Result<Vec<PublicKey>> {
        let configured = self
            .config
            .wallet
            .voucher_keys
            .iter()
            .map(|k| k.parse::<PublicKey>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::new(Code::Config, format!("[wallet] voucher_keys: {e}")))?;
        Ok(trusted_voucher_keys(
            self.key_trust(),
            &configured,
            &self.pinned_service_keys(),
        ))
    }

    /// A refused voucher as the core's error: [`Code::VoucherRejected`] with the reason in
    /// words ([`Core::own_key_refusal`]'s when the key is the user's own).
    pub fn voucher_refusal(&self, reason: &latchkey_wallet::VoucherRejection) -> Error {
        self.own_key_refusal(reason).unwrap_or_else(|| {
            Error::new(
                Code::VoucherRejected,
                format!("This voucher cannot be used: {reason}."),
            )
        })
    }

    /// For a voucher signed by one of the user's own `[wallet] voucher_keys` that this mode
    /// does not trust: [`Code::VoucherRejected`] naming `[wallet] voucher_keys`, the mode and
    /// what to do (`untrusted_own_key`). `None` for any other refusal.
    pub fn own_key_refusal(&self, reason: &latchkey_wallet::VoucherRejection) -> Option<Error> {
        let latchkey_wallet::VoucherRejection::UnknownKey { key_id } = reason else {
            return None;
        };
        let configured: Vec<PublicKey> = self
            .config
            .wallet
            .voucher_keys
            .iter()
            .filter_map(|k| k.parse().ok())
            .collect();
        let words = untrusted_own_key(self.key_trust(), &configured, key_id)?;
        Some(Error::new(
            Code::VoucherRejected,
            format!("This voucher cannot be used: {words}."),
        ))
    }

    fn key_trust(&self) -> KeyTrust {
        KeyTrust {
            service: self.config.service.is_some(),
            offline_only: self.config.wallet.offline_only,
            developer_build: DEVELOPER_BUILD,
        }
    }

    /// Reads the service's published keys and pins what may be trusted (see [`accept`]).
    /// Returns the pinned keys and the ids of published keys that were not trusted.
    ///
    /// # Errors
    /// [`Code::ServiceUnavailable`]; [`Code::Storage`] when the pins cannot be written.
    pub async fn refresh_service_keys(&self) -> Result<(Vec<PublicKey>, Vec<String>)> {
        let set: WireKeySet = self.get(None, ".well-known/latchkey-keys").await?;
        let pinned = self.pinned_service_keys();
        let (trusted, refused) = accept(&pinned, &set.keys);
        if trusted != pinned {
            let path = self
                .pins_path()
                .ok_or_else(|| Error::new(Code::Config, "no credit service is configured"))?;
            let pins = Pins {
                service: self
                    .config
                    .service
                    .as_ref()
                    .map(|s| s.url.to_string())
                    .unwrap_or_default(),
                keys: trusted.iter().map(PublicKey::to_text).collect(),
            };
            let bytes = serde_json::to_vec_pretty(&pins)
                .map_err(|e| Error::new(Code::Internal, e.to_string()))?;
            let tmp = path.with_extension("tmp");
            path.parent()
                .map(std::fs::create_dir_all)
                .transpose()
                .and_then(|_| std::fs::write(&tmp, bytes))
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| Error::new(Code::Storage, format!("{}: {e}", path.display())))?;
            // The open wallet trusts the keys it was opened with: open it again.
            self.forget_open_wallet();
        }
        Ok((trusted, refused))
    }

    /// [`Core::refresh_service_keys`] once per run, best effort.
    pub(crate) async fn check_service_keys_once(&self) {
        let done = self.wallet_slot().keys_checked();
        if !done.swap(true, Ordering::SeqCst) && self.refresh_service_keys().await.is_err() {
            done.store(false, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_wallet::voucher::PrivateKey;

    fn key(seed: u8) -> PrivateKey {
        PrivateKey::from_seed([seed; 32])
    }

    fn published(k: &PrivateKey, by: Option<&PrivateKey>) -> WireKey {
        let public = k.public_key();
        WireKey {
            kid: public.key_id(),
            public_key: public.to_text(),
            signed_by: by.map(|b| b.public_key().key_id()),
            signature: by.map(|b| b.sign_rotation(&public)),
        }
    }

    #[test]
    fn first_contact_pins_the_published_chain() {
        let (a, b) = (key(1), key(2));
        let (trusted, refused) = accept(&[], &[published(&a, None), published(&b, Some(&a))]);
        assert_eq!(trusted, vec![a.public_key(), b.public_key()]);
        assert!(refused.is_empty());
    }

    #[test]
    fn a_rotation_signed_by_a_pinned_key_is_followed_in_chains() {
        let (a, b, c) = (key(1), key(2), key(3));
        let set = [
            published(&c, Some(&b)), // listed before its signer: chains are followed anyway
            published(&b, Some(&a)),
        ];
        let (trusted, refused) = accept(&[a.public_key()], &set);
        assert_eq!(
            trusted,
            vec![a.public_key(), b.public_key(), c.public_key()]
        );
        assert!(refused.is_empty(), "{refused:?}");
    }

    #[test]
    fn a_key_not_signed_by_a_trusted_key_is_refused_once_pinned() {
        let (a, rogue, other) = (key(1), key(9), key(8));
        let set = [
            published(&a, None),
            published(&rogue, None),         // a new root: not a rotation
            published(&other, Some(&rogue)), // signed, but by the untrusted root
        ];
        let (trusted, refused) = accept(&[a.public_key()], &set);
        assert_eq!(trusted, vec![a.public_key()], "only the pinned key stays");
        assert_eq!(
            refused,
            vec![rogue.public_key().key_id(), other.public_key().key_id()]
        );
        let mut forged = published(&other, Some(&a));
        forged.signature = Some(rogue.sign_rotation(&other.public_key()));
        let (trusted, _) = accept(&[a.public_key()], &[forged]);
        assert_eq!(
            trusted,
            vec![a.public_key()],
            "claiming the pinned key as signer is not enough: the signature must be its"
        );
    }

    #[test]
    fn the_wallet_trusts_the_keys_pinned_for_the_configured_service() {
        let rig = crate::testing::Rig::new();
        let mut app = rig.at(crate::testing::t0());
        app.config.service = Some(crate::config::ServiceConfig {
            url: url::Url::parse("http://127.0.0.1:4000/").unwrap(),
        });
        assert!(app.voucher_keys().unwrap().is_empty(), "nothing pinned yet");
        let pinned = key(1).public_key();
        let path = app.pins_path().unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let pins = Pins {
            service: "http://127.0.0.1:4000/".into(),
            keys: vec![pinned.to_text()],
        };
        std::fs::write(&path, serde_json::to_vec(&pins).unwrap()).unwrap();
        assert_eq!(app.voucher_keys().unwrap(), vec![pinned.clone()]);
        app.config.service = Some(crate::config::ServiceConfig {
            url: url::Url::parse("http://127.0.0.1:4001/").unwrap(),
        });
        assert!(
            app.voucher_keys().unwrap().is_empty(),
            "another service's pins are not this one's"
        );
    }

    fn trust(service: bool, offline_only: bool, developer_build: bool) -> KeyTrust {
        KeyTrust {
            service,
            offline_only,
            developer_build,
        }
    }

    #[test]
    fn an_untrusted_own_key_is_named_with_the_mode_and_what_to_do() {
        let mine = vec![key(5).public_key()];
        let kid = key(5).public_key().key_id();
        let words = untrusted_own_key(trust(false, false, false), &mine, &kid)
            .expect("release build, no service, not offline_only: my key is not trusted");
        assert!(words.contains("[wallet] voucher_keys"), "{words}");
        assert!(
            words.contains("[wallet] offline_only = true"),
            "it says what to do: {words}"
        );
        let words = untrusted_own_key(trust(true, false, false), &mine, &kid).unwrap();
        assert!(
            words.contains("[wallet] voucher_keys") && words.contains("[service] url"),
            "{words}"
        );
        for (t, why) in [
            (trust(false, true, false), "offline_only trusts my keys"),
            (
                trust(false, false, true),
                "a developer build trusts my keys",
            ),
        ] {
            assert_eq!(untrusted_own_key(t, &mine, &kid), None, "{why}");
        }
        let other = key(6).public_key().key_id();
        assert_eq!(
            untrusted_own_key(trust(false, false, false), &mine, &other),
            None,
            "a key that is not mine keeps the wallet's words"
        );
    }

    #[test]
    fn user_added_keys_are_trusted_only_offline_only_or_in_a_developer_build() {
        let mine = vec![key(5).public_key()];
        let pinned = vec![key(1).public_key()];
        let both = vec![key(1).public_key(), key(5).public_key()];
        let cases = [
            // (service, offline_only, developer build) -> trusted
            (
                (true, false, false),
                pinned.clone(),
                "release with a service: its keys only",
            ),
            (
                (true, false, true),
                both.clone(),
                "developer build: the service's and mine",
            ),
            (
                (false, true, false),
                mine.clone(),
                "offline_only: my own keys",
            ),
            (
                (false, true, true),
                mine.clone(),
                "offline_only, developer build",
            ),
            (
                (false, false, false),
                vec![],
                "no service, not offline_only: none",
            ),
            (
                (false, false, true),
                mine.clone(),
                "developer build without a service",
            ),
        ];
        for ((s, o, d), want, why) in cases {
            assert_eq!(
                trusted_voucher_keys(trust(s, o, d), &mine, &pinned),
                want,
                "{why}"
            );
        }
    }
}
