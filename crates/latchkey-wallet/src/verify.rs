//! `verify`: recompute every invariant from the ledger alone and report each violation.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ledger::kind_from_sql;
use crate::types::{EntryId, Kind};

/// What [`crate::Wallet::verify`] found. Clean when `violations` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    /// How many accounts were checked.
    pub accounts: u64,
    /// How many ledger entries were replayed.
    pub entries: u64,
    /// Every broken invariant found (none in a sound wallet).
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    /// Whether no invariant is broken.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The entry where it shows, if it is about one.
    pub entry: Option<EntryId>,
    /// What is wrong, for people.
    pub problem: String,
}

#[derive(Default)]
struct AccountState {
    posted: i64,
    held: i64,
    keys: HashSet<String>,
}

struct HoldState {
    account: i64,
    amount: i64,
    expires_at: i64,
    settled: bool,
}

struct SpendState {
    account: i64,
    amount: i64,
    refunded: i64,
}

pub(crate) fn verify(conn: &Connection) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut flag = |entry: Option<i64>, problem: String| {
        report.violations.push(Violation {
            entry: entry.map(EntryId),
            problem,
        })
    };

    // SQLite's own check of the file: pages, indexes, constraints.
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let row = row?;
        if row != "ok" {
            flag(None, format!("integrity_check: {row}"));
        }
    }

    let mut accounts: HashMap<i64, AccountState> = HashMap::new();
    let mut holds: HashMap<i64, HoldState> = HashMap::new();
    let mut spends: HashMap<i64, SpendState> = HashMap::new();
    let mut voucher_entries: HashSet<i64> = HashSet::new();
    let mut entries = 0u64;

    let mut stmt = conn.prepare(
        "SELECT id, account_id, kind, amount, posted_after, held_after, idem_key, related, \
         expires_at FROM entries ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        entries += 1;
        let id: i64 = r.get(0)?;
        let account: i64 = r.get(1)?;
        let kind = kind_from_sql(&r.get::<_, String>(2)?)?;
        let amount: i64 = r.get(3)?;
        let (posted_after, held_after): (i64, i64) = (r.get(4)?, r.get(5)?);
        let key: Option<String> = r.get(6)?;
        let related: Option<i64> = r.get(7)?;
        let expires_at: Option<i64> = r.get(8)?;
        let at = Some(id);

        if amount <= 0 {
            flag(at, format!("amount {amount} is not positive"));
        }
        let state = accounts.entry(account).or_default();
        if let Some(key) = key {
            if !state.keys.insert(key.clone()) {
                flag(
                    at,
                    format!("idempotency key {key:?} applied more than once"),
                );
            }
        }

        // Holds settled by this entry: must be an open hold of the same account.
        let mut settle = |what: &str| -> Option<i64> {
            let Some(hold_id) = related else {
                flag(at, format!("{what} names no hold"));
                return None;
            };
            match holds.get_mut(&hold_id) {
                Some(h) if h.account != account => {
                    flag(
                        at,
                        format!("{what} settles hold {hold_id} of another account"),
                    );
                    None
                }
                Some(h) if h.settled => {
                    flag(at, format!("hold {hold_id} settled more than once"));
                    None
                }
                Some(h) => {
                    h.settled = true;
                    Some(h.amount)
                }
                None => {
                    flag(at, format!("{what} names {hold_id}, which is not a hold"));
                    None
                }
            }
        };
        let (posted_delta, held_delta) = match kind {
            Kind::Grant | Kind::Voucher => (amount, 0),
            Kind::Spend => {
                spends.insert(
                    id,
                    SpendState {
                        account,
                        amount,
                        refunded: 0,
                    },
                );
                (-amount, 0)
            }
            Kind::Refund => {
                match related.and_then(|s| spends.get_mut(&s)) {
                    Some(s) if s.account == account => {
                        s.refunded = s.refunded.saturating_add(amount);
                        if s.refunded > s.amount {
                            flag(
                                at,
                                format!("refunds total {} of a spend of {}", s.refunded, s.amount),
                            );
                        }
                    }
                    _ => flag(at, "refund of no spend of this account".to_owned()),
                }
                (amount, 0)
            }
            Kind::Reserve => {
                holds.insert(
                    id,
                    HoldState {
                        account,
                        amount,
                        expires_at: expires_at.unwrap_or(i64::MIN),
                        settled: false,
                    },
                );
                (0, amount)
            }
            Kind::Capture => {
                let held = settle("capture").unwrap_or(amount);
                if amount > held {
                    flag(at, format!("captured {amount} of a hold of {held}"));
                }
                (-amount, -held)
            }
            Kind::Release | Kind::Expire => {
                let held = settle(kind.as_str()).unwrap_or(amount);
                if amount != held {
                    flag(at, format!("{kind} of {amount} for a hold of {held}"));
                }
                (0, -amount)
            }
        };
        state.posted = state.posted.saturating_add(posted_delta);
        state.held = state.held.saturating_add(held_delta);
        if (state.posted, state.held) != (posted_after, held_after) {
            flag(
                at,
                format!(
                    "recorded balance after (posted {posted_after}, held {held_after}) differs \
                     from the sum of entries (posted {}, held {})",
                    state.posted, state.held
                ),
            );
        }
        if state.held < 0 || state.posted < state.held {
            flag(
                at,
                format!(
                    "available went below zero (posted {}, held {})",
                    state.posted, state.held
                ),
            );
        }
        if kind == Kind::Voucher {
            voucher_entries.insert(id);
        }
    }
    drop(rows);
    report.entries = entries;

    // The O(1) balances must equal the ledger's sums.
    let mut stmt = conn.prepare("SELECT id, issuer, subject, posted, held FROM accounts")?;
    let mut rows = stmt.query([])?;
    let mut seen = 0u64;
    while let Some(r) = rows.next()? {
        seen += 1;
        let id: i64 = r.get(0)?;
        let (posted, held): (i64, i64) = (r.get(3)?, r.get(4)?);
        let state = accounts.remove(&id).unwrap_or_default();
        if (state.posted, state.held) != (posted, held) {
            let who = format!("{} {}", r.get::<_, String>(1)?, r.get::<_, String>(2)?);
            report.violations.push(Violation {
                entry: None,
                problem: format!(
                    "balance of {who} is posted {posted}, held {held}, but its entries sum to \
                     posted {}, held {}",
                    state.posted, state.held
                ),
            });
        }
    }
    report.accounts = seen;
    for id in accounts.keys() {
        report.violations.push(Violation {
            entry: None,
            problem: format!("entries belong to account {id}, which has no balance row"),
        });
    }

    // The open-holds table must list exactly the unsettled holds.
    let mut open: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    let mut stmt =
        conn.prepare("SELECT hold_id, account_id, amount, expires_at FROM open_holds")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        open.insert(r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?));
    }
    for (id, h) in &holds {
        match (h.settled, open.remove(id)) {
            (false, None) => report.violations.push(Violation {
                entry: Some(EntryId(*id)),
                problem: "unsettled hold missing from open holds".to_owned(),
            }),
            (true, Some(_)) => report.violations.push(Violation {
                entry: Some(EntryId(*id)),
                problem: "settled hold still listed as open".to_owned(),
            }),
            (false, Some(row)) if row != (h.account, h.amount, h.expires_at) => {
                report.violations.push(Violation {
                    entry: Some(EntryId(*id)),
                    problem: "open hold differs from its reserve entry".to_owned(),
                })
            }
            _ => {}
        }
    }
    for id in open.keys() {
        report.violations.push(Violation {
            entry: Some(EntryId(*id)),
            problem: "open hold has no reserve entry".to_owned(),
        });
    }

    // Each redeemed voucher is one voucher entry, and each voucher entry is recorded.
    let mut stmt = conn.prepare("SELECT voucher_id, entry_id FROM redeemed_vouchers")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (voucher, entry): (String, i64) = (r.get(0)?, r.get(1)?);
        if !voucher_entries.remove(&entry) {
            report.violations.push(Violation {
                entry: Some(EntryId(entry)),
                problem: format!("voucher {voucher} points at an entry that is not a redemption"),
            });
        }
    }
    for id in voucher_entries {
        report.violations.push(Violation {
            entry: Some(EntryId(id)),
            problem: "voucher entry not recorded as redeemed".to_owned(),
        });
    }
    Ok(report)
}
