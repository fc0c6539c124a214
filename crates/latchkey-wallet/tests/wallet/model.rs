//! Property test: random sequences of operations, including replays and conflicting reuse of
//! keys, for two accounts, keep every invariant and match a simple in-memory model.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use latchkey_wallet::{
    AccountKey, Clock, Credits, EntryId, Error, FixedClock, OpenOptions, Operation, Receipt,
    Timestamp, Wallet,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    /// A new operation under a fresh key. `target` picks an earlier hold or spend (or none).
    Fresh {
        account: usize,
        op: OpShape,
        target: usize,
    },
    /// The exact call of an earlier step again.
    Replay(usize),
    /// An earlier step's key with the amount changed.
    Conflict(usize),
    Advance(u64),
}

#[derive(Debug, Clone)]
enum OpShape {
    Grant(i64),
    Spend(i64),
    Refund(i64),
    Reserve(i64, u64),
    Capture(i64),
    Release,
}

fn step() -> impl Strategy<Value = Step> {
    let shape = prop_oneof![
        (1i64..50).prop_map(OpShape::Grant),
        (1i64..60).prop_map(OpShape::Spend),
        (1i64..20).prop_map(OpShape::Refund),
        ((1i64..40), (1u64..5)).prop_map(|(a, t)| OpShape::Reserve(a, t)),
        (1i64..40).prop_map(OpShape::Capture),
        Just(OpShape::Release),
    ];
    prop_oneof![
        6 => ((0usize..2), shape, any::<usize>())
            .prop_map(|(account, op, target)| Step::Fresh { account, op, target }),
        1 => any::<usize>().prop_map(Step::Replay),
        1 => any::<usize>().prop_map(Step::Conflict),
        1 => (0u64..4).prop_map(Step::Advance),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum HoldState {
    Open,
    Settled,
}

/// The whole wallet as plain numbers.
#[derive(Default)]
struct Model {
    posted: [i64; 2],
    held: [i64; 2],
    /// hold id -> (account, amount, expires at ms, state)
    holds: HashMap<i64, (usize, i64, i64, HoldState)>,
    /// spend id -> (account, amount, refunded)
    spends: HashMap<i64, (usize, i64, i64)>,
    /// (account, key) -> (operation, first receipt)
    keys: HashMap<(usize, String), (Operation, Receipt)>,
}

impl Model {
    fn expire(&mut self, now: i64) {
        for (account, amount, expires, state) in self.holds.values_mut() {
            if *state == HoldState::Open && *expires <= now {
                *state = HoldState::Settled;
                self.held[*account] -= *amount;
            }
        }
    }

    fn available(&self, a: usize) -> i64 {
        self.posted[a] - self.held[a]
    }

    /// What the wallet must answer: `Ok(())` with the model updated, or the error's name.
    fn apply(
        &mut self,
        a: usize,
        op: &Operation,
        now: i64,
        new_id: i64,
    ) -> Result<(), &'static str> {
        match op {
            Operation::Grant { amount, .. } => self.posted[a] += amount.0,
            Operation::Spend { amount, .. } => {
                if amount.0 > self.available(a) {
                    return Err("InsufficientCredits");
                }
                self.posted[a] -= amount.0;
                self.spends.insert(new_id, (a, amount.0, 0));
            }
            Operation::Refund { spend, amount, .. } => match self.spends.get_mut(&spend.0) {
                Some((owner, total, refunded)) if *owner == a => {
                    if amount.0 > *total - *refunded {
                        return Err("RefundExceedsSpend");
                    }
                    *refunded += amount.0;
                    self.posted[a] += amount.0;
                }
                _ => return Err("UnknownSpend"),
            },
            Operation::Reserve {
                amount, ttl_secs, ..
            } => {
                if amount.0 > self.available(a) {
                    return Err("InsufficientCredits");
                }
                self.held[a] += amount.0;
                let expires = now + *ttl_secs as i64 * 1000;
                self.holds
                    .insert(new_id, (a, amount.0, expires, HoldState::Open));
            }
            Operation::Capture { hold, .. } | Operation::Release { hold, .. } => {
                let capture = match op {
                    Operation::Capture { .. } => Some(amount_of(op)),
                    _ => None,
                };
                match self.holds.get_mut(&hold.0) {
                    Some((owner, _, _, _)) if *owner != a => return Err("UnknownHold"),
                    None => return Err("UnknownHold"),
                    Some((_, _, _, HoldState::Settled)) => return Err("HoldSettled"),
                    Some((_, held, _, state)) => {
                        if capture.is_some_and(|c| c > *held) {
                            return Err("CaptureExceedsHold");
                        }
                        *state = HoldState::Settled;
                        self.held[a] -= *held;
                        self.posted[a] -= capture.unwrap_or(0);
                    }
                }
            }
            other => unreachable!("not generated: {other:?}"),
        }
        Ok(())
    }
}

fn amount_of(op: &Operation) -> i64 {
    match op {
        Operation::Capture { amount, .. } => amount.0,
        _ => 0,
    }
}

fn name(err: &Error) -> String {
    format!("{err:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn pick(ids: &[i64], target: usize) -> EntryId {
    // One time in five (or when there is none) a made-up id, to exercise the refusals.
    if ids.is_empty() || target.is_multiple_of(5) {
        EntryId(1_000_000 + target as i64 % 7)
    } else {
        EntryId(ids[target % ids.len()])
    }
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let clock = Arc::new(FixedClock::new(Timestamp::from_unix_millis(
        1_700_000_000_000,
    )));
    let w = Wallet::open_in_memory(OpenOptions::default(), clock.clone()).expect("wallet");
    let accounts = [AccountKey::new("iss", "a"), AccountKey::new("iss", "b")];
    let mut model = Model::default();
    let mut calls: Vec<(usize, String, Operation)> = Vec::new();
    let (mut hold_ids, mut spend_ids): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());

    for (n, step) in steps.into_iter().enumerate() {
        let now = clock.now().timestamp_millis();
        let (a, key, op) = match step {
            Step::Advance(secs) => {
                clock.advance(Duration::from_secs(secs));
                continue;
            }
            Step::Fresh {
                account,
                op,
                target,
            } => {
                let op = match op {
                    OpShape::Grant(x) => Operation::Grant {
                        amount: Credits(x),
                        memo: None,
                    },
                    OpShape::Spend(x) => Operation::Spend {
                        amount: Credits(x),
                        memo: None,
                    },
                    OpShape::Refund(x) => Operation::Refund {
                        spend: pick(&spend_ids, target),
                        amount: Credits(x),
                        memo: None,
                    },
                    OpShape::Reserve(x, ttl) => Operation::Reserve {
                        amount: Credits(x),
                        ttl_secs: ttl,
                        memo: None,
                    },
                    OpShape::Capture(x) => Operation::Capture {
                        hold: pick(&hold_ids, target),
                        amount: Credits(x),
                        memo: None,
                    },
                    OpShape::Release => Operation::Release {
                        hold: pick(&hold_ids, target),
                        memo: None,
                    },
                };
                (account, format!("k{n}"), op)
            }
            Step::Replay(i) | Step::Conflict(i) if calls.is_empty() => {
                let _ = i;
                continue;
            }
            Step::Replay(i) => calls[i % calls.len()].clone(),
            Step::Conflict(i) => {
                let (a, key, _) = calls[i % calls.len()].clone();
                (
                    a,
                    key,
                    Operation::Grant {
                        amount: Credits(987_654),
                        memo: Some("conflict".into()),
                    },
                )
            }
        };
        calls.push((a, key.clone(), op.clone()));
        let result = w.apply(&accounts[a], &key, &op);

        model.expire(now);
        let expected: Result<Option<Receipt>, &str> = match model.keys.get(&(a, key.clone())) {
            Some((first, receipt)) if *first == op => Ok(Some(receipt.clone())),
            Some(_) => Err("IdempotencyConflict"),
            None => {
                let new_id = result.as_ref().map(|r| r.entry.id.0).unwrap_or(-1);
                model.apply(a, &op, now, new_id).map(|()| None)
            }
        };
        match (&result, expected) {
            (Ok(receipt), Ok(Some(first))) => {
                prop_assert!(
                    receipt.replayed,
                    "step {n}: same key, same op must be a replay"
                );
                prop_assert_eq!(
                    &receipt.entry,
                    &first.entry,
                    "step {}: replay returns the first entry",
                    n
                );
            }
            (Ok(receipt), Ok(None)) => {
                prop_assert!(!receipt.replayed, "step {n}: a fresh key is not a replay");
                match &op {
                    Operation::Reserve { .. } => hold_ids.push(receipt.entry.id.0),
                    Operation::Spend { .. } => spend_ids.push(receipt.entry.id.0),
                    _ => {}
                }
                model
                    .keys
                    .insert((a, key.clone()), (op.clone(), receipt.clone()));
                prop_assert_eq!(
                    receipt.balance.posted.0,
                    model.posted[a],
                    "step {}: posted",
                    n
                );
                prop_assert_eq!(receipt.balance.held.0, model.held[a], "step {}: held", n);
            }
            (Err(err), Err(want)) => prop_assert_eq!(name(err), want, "step {}: {:?}", n, op),
            (got, want) => prop_assert!(
                false,
                "step {n}: wallet said {got:?}, model {want:?} for {op:?}"
            ),
        }
        for (i, account) in accounts.iter().enumerate() {
            let balance = w.balance(account).expect("balance");
            prop_assert_eq!(
                balance.posted.0,
                model.posted[i],
                "step {}: posted of {}",
                n,
                i
            );
            prop_assert_eq!(balance.held.0, model.held[i], "step {}: held of {}", n, i);
            prop_assert!(balance.available.0 >= 0, "available never below zero");
        }
    }
    let report = w.verify().expect("verify");
    prop_assert!(report.is_clean(), "{:?}", report.violations);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_model(steps in proptest::collection::vec(step(), 1..60)) {
        run(steps)?;
    }
}
