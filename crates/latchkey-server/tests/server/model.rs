//! Property test: the PostgreSQL ledger against a simple in-memory model of grants, spends and
//! holds (with expiry), over random operation sequences.

use crate::support::{ledger, t0};
use chrono::{DateTime, Duration, Utc};
use latchkey_server::ledger::{Account, Balance, Ledger, LedgerError, Operation};
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
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1i64..40).prop_map(Step::Grant),
        (1i64..30).prop_map(Step::Spend),
        (1i64..30, 1i64..120).prop_map(|(a, t)| Step::Reserve(a, t)),
        (any::<usize>(), 1i64..30).prop_map(|(h, a)| Step::Capture(h, a)),
        any::<usize>().prop_map(Step::Release),
        (1i64..90).prop_map(Step::Wait),
    ]
}

#[derive(Default)]
struct Model {
    posted: i64,
    held: i64,
    /// (seq, amount, expires_at, open)
    holds: Vec<(i64, i64, DateTime<Utc>, bool)>,
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
            }
        }
    }

    fn balance(&self) -> Balance {
        Balance::new(self.posted, self.held)
    }
}

async fn run(l: &Ledger, who: &Account, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut m = Model::default();
    let mut now = t0();
    for (i, s) in steps.iter().enumerate() {
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
            Step::Wait(_) => unreachable!(),
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
        if let Ok(r) = got {
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
