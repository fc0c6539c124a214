//! Property test: the PostgreSQL ledger against a simple in-memory model of grants, spends and
//! holds (with expiry), over random operation sequences. After every step: the balance and each
//! receipt equal the model's; the entries (history) add up to the balance row and are exactly as
//! many as the model expects (a refused or replayed step appends nothing, a lapsed hold's
//! `expire` is appended once, by the next write); a succeeded key replays its receipt, the same
//! key with other parameters is a conflict, and a refused step's key stays free.

use crate::support::{ledger, t0};
use chrono::{DateTime, Duration, Utc};
use latchkey_server::ledger::{
    Account, Balance, EntryKind, Ledger, LedgerError, Operation, Receipt,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone)]
enum Step {
    Grant(i64),
    Spend(i64),
    Reserve(i64, i64),
    /// Captures `amount` of the `n`-th hold made so far (modulo their number).
    Capture(usize, i64),
    Release(usize),
    Wait(i64),
    /// Spends `amount` under the idempotency key of the `n`-th step so far (modulo their number).
    Reuse(usize, i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1i64..40).prop_map(Step::Grant),
        (1i64..30).prop_map(Step::Spend),
        (1i64..30, 1i64..120).prop_map(|(a, t)| Step::Reserve(a, t)),
        (any::<usize>(), 1i64..30).prop_map(|(h, a)| Step::Capture(h, a)),
        any::<usize>().prop_map(Step::Release),
        (1i64..90).prop_map(Step::Wait),
        (any::<usize>(), 1i64..30).prop_map(|(n, a)| Step::Reuse(n, a)),
    ]
}

#[derive(Default)]
struct Model {
    posted: i64,
    held: i64,
    /// (seq, amount, expires_at, open)
    holds: Vec<(i64, i64, DateTime<Utc>, bool)>,
    /// How many entries the ledger should hold.
    entries: usize,
    /// Holds that lapsed and whose `expire` entry the next write records: how many, how much.
    pending_expiries: usize,
    pending_expired: i64,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    Insufficient,
    Unknown,
    Invalid,
}

impl Model {
    fn expire(&mut self, now: DateTime<Utc>) {
        for h in self.holds.iter_mut() {
            if h.3 && h.2 <= now {
                h.3 = false;
                self.held -= h.1;
                self.pending_expiries += 1;
                self.pending_expired += h.1;
            }
        }
    }

    fn balance(&self) -> Balance {
        Balance::new(self.posted, self.held)
    }

    /// A write that got past the idempotency check records the lapsed holds' expiries.
    fn record_expiries(&mut self) {
        self.entries += std::mem::take(&mut self.pending_expiries);
        self.pending_expired = 0;
    }

    /// The balance row as the entries make it: lapsed holds count as held until recorded.
    fn row(&self) -> Balance {
        Balance::new(self.posted, self.held + self.pending_expired)
    }
}

/// The ledger's entries for `who`, summed as the balance trigger applies them, and counted.
async fn books(l: &Ledger, who: &Account) -> (Balance, usize) {
    let page = l.history(who, None, Some(500)).await.unwrap();
    let (mut posted, mut held) = (0, 0);
    for e in &page.entries {
        match e.kind {
            EntryKind::Grant | EntryKind::Purchase | EntryKind::Voucher | EntryKind::Refund => {
                posted += e.amount
            }
            EntryKind::Spend | EntryKind::Reversal => posted -= e.amount,
            EntryKind::Hold => held += e.amount,
            EntryKind::Capture => {
                posted -= e.amount;
                held -= e.amount
            }
            EntryKind::Release | EntryKind::Expire => held -= e.amount,
        }
    }
    (Balance::new(posted, held), page.entries.len())
}

async fn run(l: &Ledger, who: &Account, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut m = Model::default();
    let mut now = t0();
    // What each step's key did: the operation and receipt of a success, None when refused.
    let mut keys: Vec<(String, Option<(Operation, Receipt)>)> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if let Step::Reuse(n, amount) = *s {
            let Some((key, first)) = keys.get(n % keys.len().max(1)).cloned() else {
                continue;
            };
            let op = Operation::Spend { amount, memo: None };
            m.expire(now);
            let got = l.apply(who, Some(&key), &op, now).await;
            match first {
                Some((first_op, receipt)) if first_op == op => {
                    prop_assert_eq!(got.unwrap(), receipt, "step {}: a replay", i);
                }
                Some(_) => prop_assert!(
                    matches!(got, Err(LedgerError::IdempotencyConflict)),
                    "step {}: the key of a success with other parameters: {:?}",
                    i,
                    got
                ),
                None => {
                    // The refused step left its key free: this is a fresh spend.
                    m.record_expiries();
                    let ok = amount <= m.posted - m.held;
                    match got {
                        Ok(r) if ok => {
                            m.posted -= amount;
                            m.entries += 1;
                            prop_assert_eq!(r.balance, m.balance());
                            let at = keys.iter().position(|k| k.0 == key).unwrap();
                            keys[at].1 = Some((op, r));
                        }
                        Err(LedgerError::InsufficientCredits { .. }) if !ok => {}
                        other => {
                            return Err(TestCaseError::fail(format!(
                                "step {i}: a refused step's key reused: {other:?}"
                            )))
                        }
                    }
                }
            }
            let (sums, count) = books(l, who).await;
            prop_assert_eq!(sums, m.row(), "entries' sums after step {} {:?}", i, s);
            prop_assert_eq!(count, m.entries, "entries after step {} {:?}", i, s);
            continue;
        }
        if let Step::Wait(secs) = s {
            now += Duration::seconds(*secs);
            m.expire(now);
            prop_assert_eq!(l.balance(who, now).await.unwrap(), m.balance());
            continue;
        }
        m.expire(now);
        let hold_of = |n: usize| m.holds.get(n % m.holds.len().max(1)).map(|h| h.0);
        let (op, want) = match *s {
            Step::Grant(a) => (
                Operation::Grant {
                    amount: a,
                    memo: None,
                },
                Outcome::Ok,
            ),
            Step::Spend(a) => {
                let ok = a <= m.posted - m.held;
                (
                    Operation::Spend {
                        amount: a,
                        memo: None,
                    },
                    if ok {
                        Outcome::Ok
                    } else {
                        Outcome::Insufficient
                    },
                )
            }
            Step::Reserve(a, ttl) => {
                let ok = a <= m.posted - m.held;
                (
                    Operation::Reserve {
                        amount: a,
                        ttl_secs: ttl,
                        memo: None,
                    },
                    if ok {
                        Outcome::Ok
                    } else {
                        Outcome::Insufficient
                    },
                )
            }
            Step::Capture(n, a) => {
                let Some(hold) = hold_of(n) else { continue };
                let h = m.holds.iter().find(|h| h.0 == hold).unwrap();
                let want = if !h.3 {
                    Outcome::Unknown
                } else if a > h.1 {
                    Outcome::Invalid
                } else {
                    Outcome::Ok
                };
                (Operation::Capture { hold, amount: a }, want)
            }
            Step::Release(n) => {
                let Some(hold) = hold_of(n) else { continue };
                let open = m.holds.iter().any(|h| h.0 == hold && h.3);
                (
                    Operation::Release { hold },
                    if open { Outcome::Ok } else { Outcome::Unknown },
                )
            }
            Step::Wait(_) | Step::Reuse(..) => unreachable!(),
        };
        let key = format!("step-{i}");
        let got = l.apply(who, Some(&key), &op, now).await;
        let outcome = match &got {
            Ok(_) => Outcome::Ok,
            Err(LedgerError::InsufficientCredits { .. }) => Outcome::Insufficient,
            Err(LedgerError::UnknownEntry) => Outcome::Unknown,
            Err(LedgerError::InvalidInput(_)) => Outcome::Invalid,
            Err(e) => return Err(TestCaseError::fail(format!("step {i} {s:?}: {e}"))),
        };
        prop_assert_eq!(&outcome, &want, "step {} {:?}", i, s);
        m.record_expiries();
        keys.push((
            key.clone(),
            got.as_ref().ok().map(|r| (op.clone(), r.clone())),
        ));
        if let Ok(r) = got {
            m.entries += r.entries.len();
            prop_assert_eq!(
                r.entries.len(),
                match &op {
                    Operation::Capture { hold, amount } => {
                        let h = m.holds.iter().find(|h| h.0 == *hold).unwrap();
                        if *amount < h.1 {
                            2
                        } else {
                            1
                        }
                    }
                    _ => 1,
                },
                "entries appended by step {} {:?}",
                i,
                s
            );
            match op {
                Operation::Grant { amount, .. } => m.posted += amount,
                Operation::Spend { amount, .. } => m.posted -= amount,
                Operation::Reserve {
                    amount, ttl_secs, ..
                } => {
                    m.held += amount;
                    m.holds.push((
                        r.entries[0].seq,
                        amount,
                        now + Duration::seconds(ttl_secs),
                        true,
                    ));
                }
                Operation::Capture { hold, amount } => {
                    let h = m.holds.iter_mut().find(|h| h.0 == hold).unwrap();
                    h.3 = false;
                    m.held -= h.1;
                    m.posted -= amount;
                }
                Operation::Release { hold } => {
                    let h = m.holds.iter_mut().find(|h| h.0 == hold).unwrap();
                    h.3 = false;
                    m.held -= h.1;
                }
            }
            prop_assert_eq!(r.balance, m.balance(), "receipt after step {} {:?}", i, s);
            // Replaying the step changes nothing and returns the same receipt.
            let again = l.apply(who, Some(&key), &op, now).await.unwrap();
            prop_assert_eq!(again, r);
        }
        prop_assert!(m.held >= 0 && m.posted - m.held >= 0);
        let (sums, count) = books(l, who).await;
        prop_assert_eq!(sums, m.row(), "entries' sums after step {} {:?}", i, s);
        prop_assert_eq!(count, m.entries, "entries after step {} {:?}", i, s);
        prop_assert_eq!(
            l.balance(who, now).await.unwrap(),
            m.balance(),
            "after step {} {:?}",
            i,
            s
        );
    }
    Ok(())
}

#[test]
fn the_ledger_matches_a_simple_model() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (l, _) = rt.block_on(ledger());
    static CASE: AtomicU32 = AtomicU32::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(step(), 1..40), |steps| {
            // A new account per case: cases never see each other's entries.
            let who = Account {
                issuer: "https://issuer.test".into(),
                subject: format!("case-{}", CASE.fetch_add(1, Ordering::SeqCst)),
            };
            rt.block_on(run(&l, &who, &steps))
        })
        .unwrap();
}
