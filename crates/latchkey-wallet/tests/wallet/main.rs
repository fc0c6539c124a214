//! The wallet's integration tests: one binary, one module per concern. The crash and
//! concurrency tests re-run this same binary as their child processes (an `#[ignore]`d test
//! selected with `--exact --ignored` and an environment variable), so the crate ships no
//! helper binary.

mod concurrent;
mod crash;
mod foreign;
mod model;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use latchkey_wallet::{AccountKey, OpenOptions, SystemClock, Wallet};

pub fn alice() -> AccountKey {
    AccountKey::new("https://idp.example", "alice")
}

pub fn open(path: &Path, options: OpenOptions) -> Wallet {
    Wallet::open(path, options, Arc::new(SystemClock)).expect("the wallet file opens")
}

/// This test binary, set to run only the ignored test `name`, as a child process.
pub fn child(name: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    cmd
}

/// A small deterministic generator (xorshift64*) for kill timings: reproducible from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}
