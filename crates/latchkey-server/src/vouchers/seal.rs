//! Voucher signing seeds sealed at rest: with a seal key configured (`voucher_seal_key_env` or
//! `voucher_seal_key_file`: 64 hex digits, 32 bytes), each seed is stored only as
//! XChaCha20-Poly1305(seal key, random 24-byte nonce, seed, associated data = the key's `kid`),
//! `nonce || ciphertext || tag` (72 bytes), so the database alone reveals no seed and a sealed
//! seed cannot be moved to another key's row. Only `voucher issue` and `keys rotate` need the
//! seal key; `serve` verifies vouchers with the public keys and never reads a seed.

use super::VoucherError;
use crate::config::Secret;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Length of a sealed seed: nonce (24) + seed (32) + tag (16).
pub const SEALED_LEN: usize = 72;

/// The operator's seal key. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey([redacted])")
    }
}

/// A configured seal key that is not 64 hex digits (the message never repeats the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the voucher seal key must be 64 hex digits (32 random bytes)")]
pub struct MalformedSealKey;

impl SealKey {
    /// The key from its configured text: exactly 64 hex digits.
    ///
    /// # Errors
    /// [`MalformedSealKey`] when it is not 64 hex digits.
    pub fn parse(secret: &Secret) -> Result<SealKey, MalformedSealKey> {
        let bytes = hex::decode(secret.expose().trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or(MalformedSealKey)?;
        Ok(SealKey(bytes))
    }

    /// `seed` sealed for the key `kid`.
    pub fn seal(&self, kid: &str, seed: &[u8; 32]) -> Result<Vec<u8>, VoucherError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce)
            .map_err(|e| VoucherError::InvalidInput(format!("no randomness: {e}")))?;
        let sealed = XChaCha20Poly1305::new((&self.0).into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: seed,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| VoucherError::Sealed("a voucher seed cannot be sealed".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// The seed of the key `kid` from its sealed form.
    ///
    /// # Errors
    /// [`VoucherError::Sealed`] when this is not the key it was sealed with (or the row was
    /// tampered with).
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<[u8; 32], VoucherError> {
        let wrong = || {
            VoucherError::Sealed(format!(
                "the voucher key {kid} cannot be unsealed: the configured seal key is not the one \
                 it was sealed with"
            ))
        };
        if sealed.len() != SEALED_LEN {
            return Err(wrong());
        }
        let (nonce, ct) = sealed.split_at(24);
        let seed = XChaCha20Poly1305::new((&self.0).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| wrong())?;
        <[u8; 32]>::try_from(seed).map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SealKey {
        SealKey([b; 32])
    }

    #[test]
    fn a_sealed_seed_opens_only_with_its_key_and_kid() {
        let seed = [7u8; 32];
        let sealed = key(1).seal("kid-a", &seed).unwrap();
        assert_eq!(sealed.len(), SEALED_LEN);
        assert!(
            !sealed.windows(32).any(|w| w == seed),
            "the seed does not appear in its sealed form"
        );
        assert_eq!(key(1).open("kid-a", &sealed).unwrap(), seed);
        assert!(key(2).open("kid-a", &sealed).is_err(), "another seal key");
        assert!(
            key(1).open("kid-b", &sealed).is_err(),
            "moved to another key's row"
        );
        let mut tampered = sealed.clone();
        tampered[40] ^= 1;
        assert!(key(1).open("kid-a", &tampered).is_err(), "tampered");
    }

    #[test]
    fn the_seal_key_is_64_hex_digits() {
        assert!(SealKey::parse(&Secret::new("ab".repeat(32))).is_ok());
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33)] {
            assert!(SealKey::parse(&Secret::new(bad.to_string())).is_err());
        }
        assert_eq!(format!("{:?}", key(9)), "SealKey([redacted])");
    }
}
