//! The vault against this OS's own keychain: Secret Service on Linux (gnome-keyring under
//! `scripts/with-keyring.sh`), Keychain Services on macOS, Credential Manager on Windows.
//!
//! Like the CLI's tests, these need `LATCHKEY_TEST_KEYCHAIN=1`, the promise that a usable,
//! unlocked keychain is there (a developer's own may be locked and prompt):
//! `scripts/with-keyring.sh` sets it on Linux, `.github/workflows/ci.yml` on macOS and Windows.

use std::sync::Arc;
use std::time::Duration;

use latchkey_auth::{
    account_id, AccessToken, IdToken, KeyStore, Keychain, RefreshToken, TokenSet, Vault,
};

fn keychain() -> Keychain {
    assert!(
        std::env::var_os("LATCHKEY_TEST_KEYCHAIN").is_some(),
        "these tests use the real keychain: run them with scripts/with-keyring.sh (make test)"
    );
    // A service name of its own per run, so parallel runs and earlier failures never collide.
    let mut tag = [0u8; 6];
    getrandom::fill(&mut tag).expect("randomness");
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    Keychain::new(
        format!("latchkey-keychain-test-{tag}"),
        Duration::from_secs(20),
    )
}

#[test]
fn a_secret_goes_in_comes_back_and_goes_away() {
    let store = keychain();
    assert!(store.get("alice").unwrap().is_none(), "nothing there yet");
    store.set("alice", "s3cret-one").unwrap();
    assert_eq!(store.get("alice").unwrap().unwrap().as_str(), "s3cret-one");
    store.set("alice", "s3cret-two").unwrap();
    assert_eq!(
        store.get("alice").unwrap().unwrap().as_str(),
        "s3cret-two",
        "a second set replaces the first"
    );
    assert!(store.get("bob").unwrap().is_none(), "entries are per name");
    store.delete("alice").unwrap();
    assert!(store.get("alice").unwrap().is_none(), "deleted means gone");
    store.delete("alice").unwrap();
}

#[test]
fn the_vault_round_trips_a_long_refresh_token_through_the_keychain() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(keychain());
    let vault = Vault::new(store.clone(), dir.path());
    let id = account_id("https://issuer.example", "alice");
    // Longer than Windows' 2,560-byte credential blob: only the key goes to the keychain.
    let refresh = format!("refresh-{}", "r".repeat(4000));
    let tokens = TokenSet {
        access_token: AccessToken::new("access-value".to_string()),
        access_expires_at: None,
        refresh_token: Some(RefreshToken::new(refresh.clone())),
        id_token: Some(IdToken::new("id-value".to_string())),
    };
    vault.save(&id, &tokens).unwrap();
    let back = vault.load(&id).unwrap().expect("the tokens load back");
    assert_eq!(back.access_token.expose(), "access-value");
    assert_eq!(back.refresh_token.unwrap().expose(), refresh);
    assert_eq!(back.id_token.unwrap().expose(), "id-value");

    vault.forget(&id).unwrap();
    assert!(
        store.get(&id).unwrap().is_none(),
        "the key left the keychain"
    );
    assert!(vault.load(&id).unwrap().is_none(), "and the tokens with it");
}
