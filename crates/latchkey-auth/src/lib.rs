//! Signing a desktop user in with OpenID Connect, the RFC 8252 way.
//!
//! - [`Provider`] describes one configured OpenID Provider; [`ProviderInfo`] is its discovery
//!   document and signing keys, fetched once and cached by the caller.
//! - [`PendingSignIn`] runs one authorization-code + PKCE (S256) sign-in: it opens a loopback
//!   receiver on `127.0.0.1` (or waits on a [`DeepLinkInbox`]), hands back the URL for the
//!   browser, and on the genuine callback exchanges the code and validates the ID token fully.
//! - [`DeviceSignIn`] (RFC 8628) and [`PastedCallbacks`] sign in where no browser can reach
//!   the loopback port: on another device, or by pasting back the address the browser ended on.
//! - [`refresh`], [`revoke`] and [`end_session_url`] serve an existing session.
//! - [`verify_bearer_id_token`] checks an ID token presented to a service (the credit
//!   service's `Authorization: Bearer`) by the same rules as a sign-in.
//! - [`Vault`] keeps token sets sealed: the key in the OS keychain, the ciphertext in a file.
//!
//! Secrets are typed ([`AccessToken`], [`RefreshToken`], [`IdToken`], [`ClientSecret`]); their
//! `Debug` prints `[redacted]`. This crate never logs; it
//! returns [`AuthError`]s whose messages never contain a token.

#![warn(missing_docs)]

mod callback;
mod deeplink;
mod device;
mod discovery;
mod error;
mod flow;
mod http;
mod loopback;
mod pages;
mod peer;
mod private_file;
mod provider;
mod secret;
mod session;
mod tenant;
mod vault;
mod verify;

pub use callback::{parse_callback, Callback, CallbackError};
pub use deeplink::{DeepLinkError, DeepLinkInbox};
pub use device::{DeviceSignIn, PastedCallbacks};
pub use discovery::ProviderInfo;
pub use error::AuthError;
pub use flow::{display_name, Identity, PendingSignIn, SignInOptions, SignedIn};
pub use http::{http_client, read_capped, CappedError, MAX_ANSWER_BYTES};
pub use private_file::{create_private_dir, open_private, write_private, Existing};
pub use provider::{is_loopback_host, issuer_from_metadata_url, Provider, Redirect, WELL_KNOWN};
pub use secret::{AccessToken, ClientSecret, IdToken, RefreshToken, Secret, TokenSet};
pub use session::{end_session_url, refresh, revoke, Refreshed};
pub use tenant::{CONSUMER_TENANT, TENANT_PLACEHOLDER};
pub use vault::{
    account_id, InsecureFileKeyStore, KeyStore, Keychain, MemoryKeyStore, Vault,
    DEFAULT_KEYCHAIN_TIMEOUT,
};
pub use verify::verify_bearer_id_token;
#[doc(hidden)]
pub use zeroize as __zeroize;
