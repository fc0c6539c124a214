//! The API fuzzer's rig (`make api-fuzz`, see `scripts/api-fuzz.sh`): starts a throwaway
//! PostgreSQL cluster, the test OpenID Provider and the REAL `latchkey-server serve` process,
//! signs a user in for a real ID token, gives it credits, then runs the command given as
//! arguments with `LATCHKEY_API` (the server's base URL) and `LATCHKEY_TOKEN` (the ID token) in
//! its environment, and exits with the command's status. Everything it started is stopped and
//! removed when it exits, also on failure. `API_FUZZ_SERVER_TOML` is added to the server's
//! configuration. The server binary is `LATCHKEY_SERVER_BIN` (else
//! latchkey-testkit builds it).

#[path = "../tests/server/support/mod.rs"]
#[allow(dead_code)]
mod support;

use chrono::Utc;
use latchkey_server::ledger::{Account, Operation};
use latchkey_testkit::server::Service;
use std::process::{Command, ExitCode};
use support::idp::{idp, IdTokens, PUBLIC_CLIENT};

const LOGIN: &str = "fuzz";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: api_fuzz COMMAND [ARGS...]");
        return ExitCode::from(2);
    };
    let (ledger, url) = support::ledger().await;
    let token = idp().id_token(PUBLIC_CLIENT, LOGIN).await;
    let who = Account {
        issuer: idp().issuer.clone(),
        subject: LOGIN.into(),
    };
    // Enough that generated spends and holds succeed as well as fail.
    let grant = Operation::Grant {
        amount: 1_000_000_000,
        memo: None,
    };
    ledger
        .apply(&who, None, &grant, Utc::now())
        .await
        .expect("the grant");
    // More configuration (packs, `[payment]`) for the server, from the script.
    let extra = std::env::var("API_FUZZ_SERVER_TOML").unwrap_or_default();
    let server = Service::start(&url, &idp().issuer, &extra);
    eprintln!("api_fuzz: latchkey-server at {}", server.base);
    let status = Command::new(&program)
        .args(args)
        .env("LATCHKEY_API", &server.base)
        .env("LATCHKEY_TOKEN", &token)
        .status();
    drop(server);
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => {
            eprintln!("api_fuzz: {program} cannot run: {e}");
            ExitCode::from(127)
        }
    }
}
