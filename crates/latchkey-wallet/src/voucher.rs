//! Signed credit vouchers: how paid credits reach an offline wallet.
//!
//! A token is `LKV1.<payload>.<signature>`, both parts base64url without padding. The payload
//! is compact JSON (`{"id":…,"c":credits,"iss":…,"sub":…,"exp":unix seconds,"kid":…}`,
//! optional fields left out); the signature is Ed25519 over the ASCII bytes of
//! `LKV1.<payload>`, so the version prefix is signed too. Keys are text as well:
//! `LKVS1.<seed>` (private, keep secret) and `LKVP1.<key>` (public, goes in
//! `[wallet] voucher_keys`); a key id is the first 8 bytes of the public key, base64url.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, VoucherRejection};
use crate::types::{AccountKey, Credits, Timestamp};

const TOKEN_PREFIX: &str = "LKV1";
const PRIVATE_PREFIX: &str = "LKVS1.";
const PUBLIC_PREFIX: &str = "LKVP1.";

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Randomness {
        source: Box::new(e),
    })?;
    Ok(bytes)
}

fn decode_32(text: &str) -> Option<[u8; 32]> {
    URL_SAFE_NO_PAD.decode(text.trim()).ok()?.try_into().ok()
}

/// What a key-rotation signature signs, before the new key's `LKVP1.` text (the credit
/// service's `keys rotate`: the previous key signs its successor).
pub const ROTATION_CONTEXT: &str = "latchkey-key-rotation:v1:";

/// A voucher signing key. Secret: `Debug` prints `[redacted]` and it is not `Clone`.
pub struct PrivateKey(SigningKey);

impl PrivateKey {
    /// A new random key from the operating system's random source.
    pub fn generate() -> Result<PrivateKey> {
        Ok(PrivateKey::from_seed(random_bytes()?))
    }

    /// The key for a 32-byte seed (tests, or keys kept elsewhere).
    pub fn from_seed(seed: [u8; 32]) -> PrivateKey {
        PrivateKey(SigningKey::from_bytes(&seed))
    }

    /// The public half, for `[wallet] voucher_keys`.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `new` as this key's successor (a service's key rotation): base64url of
    /// Ed25519 over [`ROTATION_CONTEXT`] + `new`'s `LKVP1.` text.
    pub fn sign_rotation(&self, new: &PublicKey) -> String {
        let message = format!("{ROTATION_CONTEXT}{}", new.to_text());
        URL_SAFE_NO_PAD.encode(self.0.sign(message.as_bytes()).to_bytes())
    }

    /// `LKVS1.<base64url seed>`: write it to a file only the seller can read.
    pub fn to_text(&self) -> String {
        format!(
            "{PRIVATE_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0.to_bytes())
        )
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([redacted])")
    }
}

impl FromStr for PrivateKey {
    type Err = Error;
    fn from_str(text: &str) -> Result<PrivateKey> {
        text.trim()
            .strip_prefix(PRIVATE_PREFIX)
            .and_then(decode_32)
            .map(PrivateKey::from_seed)
            .ok_or_else(|| Error::InvalidVoucherKey {
                reason: format!(
                    "a private key is {PRIVATE_PREFIX} followed by 43 base64url characters"
                ),
            })
    }
}

/// A trusted voucher verification key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// `LKVP1.<base64url key>`, as written in `[wallet] voucher_keys`.
    pub fn to_text(&self) -> String {
        format!(
            "{PUBLIC_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0.as_bytes())
        )
    }

    /// Whether `signature` (base64url) is this key's signature of `new` as its successor
    /// ([`PrivateKey::sign_rotation`]): how a desktop that pinned this key comes to trust
    /// the next one.
    pub fn verifies_rotation(&self, new: &PublicKey, signature: &str) -> bool {
        use ed25519_dalek::Verifier as _;
        let Some(sig) = URL_SAFE_NO_PAD
            .decode(signature.trim())
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        let message = format!("{ROTATION_CONTEXT}{}", new.to_text());
        self.0
            .verify(message.as_bytes(), &Signature::from_bytes(&sig))
            .is_ok()
    }

    /// Short id carried in each token to pick the key: base64url of the first 8 bytes.
    pub fn key_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0.as_bytes()[..8])
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_text())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for PublicKey {
    type Err = Error;
    fn from_str(text: &str) -> Result<PublicKey> {
        let bytes = text
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .and_then(decode_32)
            .ok_or_else(|| Error::InvalidVoucherKey {
                reason: format!(
                    "a public key is {PUBLIC_PREFIX} followed by 43 base64url characters, \
                     got {text:?}"
                ),
            })?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| Error::InvalidVoucherKey {
                reason: format!("{text:?} is not a valid Ed25519 public key"),
            })
    }
}

/// A fresh signing key pair for a seller (`latchkey wallet voucher keygen`).
pub fn keygen() -> Result<(PrivateKey, PublicKey)> {
    let private = PrivateKey::generate()?;
    let public = private.public_key();
    Ok((private, public))
}

/// What a seller's voucher grants. Build one with [`VoucherSpec::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VoucherSpec {
    /// How many credits it grants.
    pub credits: Credits,
    /// Only this account's issuer may redeem it.
    pub issuer: Option<String>,
    /// Only this subject may redeem it.
    pub subject: Option<String>,
    /// After this it is refused.
    pub expires_at: Option<Timestamp>,
    /// The voucher id; random (128 bits) when `None`.
    pub id: Option<String>,
}

impl VoucherSpec {
    /// A voucher for `credits`, for anyone, forever, with a random id.
    pub fn new(credits: Credits) -> VoucherSpec {
        VoucherSpec {
            credits,
            ..VoucherSpec::default()
        }
    }
}

/// A decoded voucher, as a wallet saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voucher {
    /// Its id: redeemed once per machine.
    pub id: String,
    /// How many credits it grants.
    pub credits: Credits,
    /// The issuer it is bound to, if any.
    pub issuer: Option<String>,
    /// The subject it is bound to, if any.
    pub subject: Option<String>,
    /// When it stops being accepted, if ever.
    pub expires_at: Option<Timestamp>,
    /// The id of the key that signed it.
    pub key_id: String,
}

/// The signed payload's wire form: short names keep tokens short.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    id: String,
    c: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    kid: String,
}

/// Issues a signed voucher token for `spec` (`latchkey wallet voucher issue`).
///
/// Errors: [`Error::InvalidAmount`] for credits ≤ 0, [`Error::Randomness`] if no id was given
/// and the system random source failed.
pub fn issue(key: &PrivateKey, spec: &VoucherSpec) -> Result<String> {
    spec.credits.positive()?;
    let id = match &spec.id {
        Some(id) => id.clone(),
        None => URL_SAFE_NO_PAD.encode(random_bytes::<16>()?),
    };
    let payload = Payload {
        id,
        c: spec.credits.0,
        iss: spec.issuer.clone(),
        sub: spec.subject.clone(),
        exp: spec.expires_at.map(|t| t.unix_millis().div_euclid(1000)),
        kid: key.public_key().key_id(),
    };
    // Serialising a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    let signed = format!("{TOKEN_PREFIX}.{}", URL_SAFE_NO_PAD.encode(json));
    let signature = key.0.sign(signed.as_bytes());
    Ok(format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

fn malformed(detail: &str) -> VoucherRejection {
    VoucherRejection::Malformed {
        detail: detail.to_owned(),
    }
}

/// Reads a token's fields without checking its signature (to show what it claims), and
/// returns the signed text and signature for [`verify`].
fn parse(token: &str) -> Result<(Voucher, String, Signature), VoucherRejection> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(prefix), Some(payload_b64), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    if prefix != TOKEN_PREFIX {
        return Err(malformed("unknown token version"));
    }
    let json = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| malformed("payload is not base64url"))?;
    let payload: Payload =
        serde_json::from_slice(&json).map_err(|_| malformed("payload is not a voucher"))?;
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("signature is not 64 base64url bytes"))?;
    if payload.c <= 0 {
        return Err(malformed("credits must be positive"));
    }
    let expires_at = match payload.exp {
        Some(secs) => Some(Timestamp::from_unix_millis(
            secs.checked_mul(1000)
                .ok_or_else(|| malformed("expiry out of range"))?,
        )),
        None => None,
    };
    let voucher = Voucher {
        id: payload.id,
        credits: Credits(payload.c),
        issuer: payload.iss,
        subject: payload.sub,
        expires_at,
        key_id: payload.kid,
    };
    let signed = format!("{prefix}.{payload_b64}");
    Ok((voucher, signed, Signature::from_bytes(&sig)))
}

/// Decodes a token without checking its signature: what it claims, for display only.
pub fn decode(token: &str) -> Result<Voucher, VoucherRejection> {
    parse(token).map(|(voucher, _, _)| voucher)
}

/// Checks a token against the trusted keys, the redeeming account and the time. Whether it
/// was already redeemed is the wallet's check ([`crate::Wallet::redeem_voucher`]).
pub fn verify(
    token: &str,
    trusted: &[PublicKey],
    account: &AccountKey,
    now: Timestamp,
) -> Result<Voucher, VoucherRejection> {
    let (voucher, signed, signature) = parse(token)?;
    let mut candidates = trusted
        .iter()
        .filter(|k| k.key_id() == voucher.key_id)
        .peekable();
    if candidates.peek().is_none() {
        return Err(VoucherRejection::UnknownKey {
            key_id: voucher.key_id,
        });
    }
    if !candidates.any(|k| k.0.verify_strict(signed.as_bytes(), &signature).is_ok()) {
        return Err(VoucherRejection::BadSignature);
    }
    if let Some(expired_at) = voucher.expires_at.filter(|exp| now >= *exp) {
        return Err(VoucherRejection::Expired { expired_at });
    }
    let other_issuer = voucher
        .issuer
        .as_ref()
        .is_some_and(|i| *i != account.issuer);
    let other_subject = voucher
        .subject
        .as_ref()
        .is_some_and(|s| *s != account.subject);
    if other_issuer || other_subject {
        return Err(VoucherRejection::BoundToAnotherAccount);
    }
    Ok(voucher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn seller() -> PrivateKey {
        PrivateKey::from_seed([7; 32])
    }

    fn alice() -> AccountKey {
        AccountKey::new("https://idp.example", "alice")
    }

    const NOW: Timestamp = Timestamp::from_unix_millis(1_767_225_600_000);

    #[test]
    fn keys_round_trip_through_text() {
        let key = seller();
        let again: PrivateKey = key.to_text().parse().expect("private key text parses");
        assert_eq!(again.public_key(), key.public_key(), "same seed, same key");
        let public: PublicKey = key
            .public_key()
            .to_text()
            .parse()
            .expect("public key parses");
        assert_eq!(public, key.public_key(), "public key text round-trips");
        assert_eq!(
            format!("{key:?}"),
            "PrivateKey([redacted])",
            "secrets never print"
        );
    }

    #[test]
    fn a_valid_voucher_verifies_and_is_compact() {
        let token = issue(&seller(), &VoucherSpec::new(Credits(500))).expect("issues");
        assert!(token.starts_with("LKV1."), "tokens carry their version");
        assert!(
            token.len() < 200,
            "tokens stay copy-pasteable, got {}",
            token.len()
        );
        let voucher = verify(&token, &[seller().public_key()], &alice(), NOW).expect("valid");
        assert_eq!(voucher.credits, Credits(500));
    }

    fn tamper(token: &str) -> String {
        let (signed, sig) = token.rsplit_once('.').expect("three parts");
        let (prefix, _) = signed.split_once('.').expect("prefix");
        let forged = Payload {
            id: "x".into(),
            c: 1_000_000,
            iss: None,
            sub: None,
            exp: None,
            kid: seller().public_key().key_id(),
        };
        let json = serde_json::to_vec(&forged).expect("json");
        format!("{prefix}.{}.{sig}", URL_SAFE_NO_PAD.encode(json))
    }

    #[rstest]
    #[case::other_key(VoucherSpec::new(Credits(5)), PrivateKey::from_seed([9; 32]), "unknown_key")]
    #[case::expired(
        VoucherSpec { expires_at: Some(NOW), ..VoucherSpec::new(Credits(5)) },
        seller(),
        "expired"
    )]
    #[case::other_subject(
        VoucherSpec { subject: Some("bob".into()), ..VoucherSpec::new(Credits(5)) },
        seller(),
        "bound_to_another_account"
    )]
    #[case::other_issuer(
        VoucherSpec { issuer: Some("https://evil".into()), ..VoucherSpec::new(Credits(5)) },
        seller(),
        "bound_to_another_account"
    )]
    fn refused_vouchers_say_why(
        #[case] spec: VoucherSpec,
        #[case] signer: PrivateKey,
        #[case] reason: &str,
    ) {
        let token = issue(&signer, &spec).expect("issues");
        let refused = verify(&token, &[seller().public_key()], &alice(), NOW)
            .expect_err("this voucher must be refused");
        let json = serde_json::to_value(&refused).expect("json");
        assert_eq!(
            json["reason"], reason,
            "refusal reason is machine-readable: {refused}"
        );
    }

    #[rstest]
    #[case::garbage("hello")]
    #[case::wrong_version("LKV2.e30.AAAA")]
    #[case::bad_base64("LKV1.!!!.AAAA")]
    #[case::short_signature("LKV1.e30.AAAA")]
    fn malformed_tokens_are_refused(#[case] token: &str) {
        assert!(
            matches!(
                verify(token, &[seller().public_key()], &alice(), NOW),
                Err(VoucherRejection::Malformed { .. })
            ),
            "{token:?} is not a voucher"
        );
    }

    #[test]
    fn altered_payload_fails_the_signature() {
        let token = issue(&seller(), &VoucherSpec::new(Credits(5))).expect("issues");
        assert_eq!(
            verify(&tamper(&token), &[seller().public_key()], &alice(), NOW),
            Err(VoucherRejection::BadSignature),
            "raising the credits of a voucher must break its signature"
        );
    }

    #[test]
    fn bound_voucher_redeems_for_its_account_only() {
        let spec = VoucherSpec {
            issuer: Some(alice().issuer),
            subject: Some(alice().subject),
            expires_at: Some(Timestamp::from_unix_millis(NOW.unix_millis() + 1000)),
            ..VoucherSpec::new(Credits(5))
        };
        let token = issue(&seller(), &spec).expect("issues");
        assert!(
            verify(&token, &[seller().public_key()], &alice(), NOW).is_ok(),
            "the bound account may redeem before expiry"
        );
    }

    #[test]
    fn a_rotation_is_trusted_only_with_the_previous_keys_signature() {
        let old = PrivateKey::from_seed([1; 32]);
        let new = PrivateKey::from_seed([2; 32]).public_key();
        let other = PrivateKey::from_seed([3; 32]);
        let sig = old.sign_rotation(&new);
        assert!(old.public_key().verifies_rotation(&new, &sig));
        assert!(
            !other.public_key().verifies_rotation(&new, &sig),
            "another key's signature proves nothing"
        );
        assert!(
            !old.public_key()
                .verifies_rotation(&other.public_key(), &sig),
            "the signature names one successor"
        );
        assert!(!old.public_key().verifies_rotation(&new, "not base64!"));
    }
}
