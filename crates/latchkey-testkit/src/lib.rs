//! Real components for Latchkey's tests (a dev-dependency only): a throwaway PostgreSQL
//! cluster ([`pg`]), the test OpenID Provider in `tests/idp` ([`idp`]), and the real
//! `latchkey-server` process over them ([`server`]), Microsoft-shaped tenants ([`tenants`]). Each is stopped and removed when dropped
//! (the shared cluster when the test process exits).

pub mod idp;
pub mod pg;
pub mod server;
pub mod tenants;

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}
