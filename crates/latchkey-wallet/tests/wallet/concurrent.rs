//! Two processes spending from the same wallet at once never overspend.

use std::io::{BufRead, BufReader};
use std::path::Path;

use latchkey_wallet::{Credits, Error, OpenOptions, Synchronous};

use crate::{alice, open};

const PATH_VAR: &str = "LATCHKEY_WALLET_SPENDER_PATH";
const NAME_VAR: &str = "LATCHKEY_WALLET_SPENDER_NAME";
const BUDGET: i64 = 300;

fn options() -> OpenOptions {
    // Durability is not what this test is about; NORMAL keeps it quick.
    OpenOptions {
        synchronous: Synchronous::Normal,
        ..OpenOptions::default()
    }
}

/// The child: spends 1 credit at a time until the wallet says there is nothing left.
#[test]
#[ignore = "child process of concurrent::two_processes_never_overspend"]
fn child_spender() {
    let (Ok(path), Ok(name)) = (std::env::var(PATH_VAR), std::env::var(NAME_VAR)) else {
        return;
    };
    let w = open(Path::new(&path), options());
    for n in 0.. {
        match w.spend(&alice(), &format!("{name}-{n}"), Credits(1), None) {
            Ok(receipt) => println!("SPENT {}", receipt.entry.id),
            Err(Error::InsufficientCredits { .. }) => break,
            Err(Error::Busy { .. }) => continue,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
}

#[test]
fn two_processes_never_overspend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wallet.db");
    let w = open(&path, options());
    w.grant(&alice(), "budget", Credits(BUDGET), None)
        .expect("grant");
    let spenders: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            crate::child("concurrent::child_spender")
                .env(PATH_VAR, &path)
                .env(NAME_VAR, name)
                .spawn()
                .expect("spender starts")
        })
        .collect();
    let mut spent = Vec::new();
    for mut proc in spenders {
        let out = BufReader::new(proc.stdout.take().expect("piped"));
        let lines: Vec<String> = out.lines().map(|l| l.expect("line")).collect();
        assert!(proc.wait().expect("exit").success(), "a spender failed");
        spent.push(lines.iter().filter(|l| l.contains("SPENT ")).count() as i64);
    }
    assert_eq!(
        spent.iter().sum::<i64>(),
        BUDGET,
        "together they spend exactly the budget, never more (per process: {spent:?})"
    );
    let balance = w.balance(&alice()).expect("balance");
    assert_eq!(
        balance.available,
        Credits(0),
        "everything was spent, nothing overdrawn"
    );
    let report = w.verify().expect("verify");
    assert!(report.is_clean(), "{:?}", report.violations);
}
