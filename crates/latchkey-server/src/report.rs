//! `latchkey-server report`: who paid and who spent, per user and per day (UTC), read from
//! the ledger (entries) and the paid checkouts.

use crate::ledger::{Ledger, LedgerError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One user's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// The day, UTC, `YYYY-MM-DD`.
    pub day: String,
    /// The user's issuer.
    pub issuer: String,
    /// The user's subject.
    pub subject: String,
    /// Money paid that day, in minor units per currency (`{"eur": 1500}`).
    pub paid: BTreeMap<String, i64>,
    /// Credits bought (`purchase` entries).
    pub purchased: i64,
    /// Credits from vouchers.
    pub vouchers: i64,
    /// Credits granted (operator grants and welcome credits).
    pub granted: i64,
    /// Credits spent (`spend` and `capture` entries).
    pub spent: i64,
    /// Credits refunded.
    pub refunded: i64,
    /// Bought credits taken back because their payment was refunded (`reversal` entries).
    pub reversed: i64,
}

/// A user who owes credits: a payment was refunded after its credits were spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Debt {
    /// The user's issuer.
    pub issuer: String,
    /// The user's subject.
    pub subject: String,
    /// Credits the refunds made due but that were no longer available to take back.
    pub credits: i64,
}

const DEBTS: &str = "
    SELECT u.issuer, u.subject, sum(r.credits_due - r.credits_taken)::bigint
    FROM payment_refunds r JOIN users u ON u.id = r.user_id
    WHERE r.credits_taken < r.credits_due
    GROUP BY 1, 2 ORDER BY 1, 2";

/// Every user's outstanding refund debt (credits due back that were already spent).
pub async fn debts(ledger: &Ledger) -> Result<Vec<Debt>, LedgerError> {
    let client = ledger.pool().get().await?;
    Ok(client
        .query(DEBTS, &[])
        .await?
        .iter()
        .map(|r| Debt {
            issuer: r.get(0),
            subject: r.get(1),
            credits: r.get(2),
        })
        .collect())
}

const BY_DAY: &str = "
    SELECT to_char((e.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'), u.issuer, u.subject,
           COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'purchase'), 0)::bigint,
           COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'voucher'), 0)::bigint,
           COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'grant'), 0)::bigint,
           COALESCE(sum(e.amount) FILTER (WHERE e.kind IN ('spend', 'capture')), 0)::bigint,
           COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'refund'), 0)::bigint,
           COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'reversal'), 0)::bigint
    FROM entries e JOIN users u ON u.id = e.user_id
    WHERE e.kind IN ('purchase', 'voucher', 'grant', 'spend', 'capture', 'refund', 'reversal')
    GROUP BY 1, 2, 3";

const PAID_BY_DAY: &str = "
    SELECT to_char((e.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'), u.issuer, u.subject,
           c.currency, sum(c.amount)::bigint
    FROM credit_sources s
    JOIN checkouts c ON s.source = 'checkout:' || c.id
    JOIN entries e ON e.server_seq = s.entry_seq
    JOIN users u ON u.id = s.user_id
    GROUP BY 1, 2, 3, 4";

/// Every user's days with money or credits moving, ordered by day, issuer, subject.
pub async fn report(ledger: &Ledger) -> Result<Vec<Line>, LedgerError> {
    let client = ledger.pool().get().await?;
    let mut lines: BTreeMap<(String, String, String), Line> = BTreeMap::new();
    for r in client.query(BY_DAY, &[]).await? {
        let k: (String, String, String) = (r.get(0), r.get(1), r.get(2));
        lines.insert(
            k.clone(),
            Line {
                day: k.0,
                issuer: k.1,
                subject: k.2,
                paid: BTreeMap::new(),
                purchased: r.get(3),
                vouchers: r.get(4),
                granted: r.get(5),
                spent: r.get(6),
                refunded: r.get(7),
                reversed: r.get(8),
            },
        );
    }
    for r in client.query(PAID_BY_DAY, &[]).await? {
        let k: (String, String, String) = (r.get(0), r.get(1), r.get(2));
        if let Some(line) = lines.get_mut(&k) {
            line.paid.insert(r.get(3), r.get(4));
        }
    }
    Ok(lines.into_values().collect())
}

/// The report as a plain table, one line per user and day, then totals.
pub fn table(lines: &[Line]) -> String {
    let mut out = String::from("day         user                                  paid            purchased  vouchers   granted     spent  refunded  reversed\n");
    let money = |m: &BTreeMap<String, i64>| -> String {
        if m.is_empty() {
            return "-".into();
        }
        m.iter()
            .map(|(c, a)| format!("{}.{:02} {}", a / 100, a % 100, c.to_uppercase()))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let mut paid: BTreeMap<String, i64> = BTreeMap::new();
    let mut totals = [0i64; 6];
    for l in lines {
        let user = format!("{} {}", l.issuer, l.subject);
        let _ = writeln!(
            out,
            "{}  {:<36}  {:<14} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            l.day,
            user,
            money(&l.paid),
            l.purchased,
            l.vouchers,
            l.granted,
            l.spent,
            l.refunded,
            l.reversed
        );
        for (c, a) in &l.paid {
            *paid.entry(c.clone()).or_default() += a;
        }
        for (t, v) in totals.iter_mut().zip([
            l.purchased,
            l.vouchers,
            l.granted,
            l.spent,
            l.refunded,
            l.reversed,
        ]) {
            *t += v;
        }
    }
    let _ = writeln!(
        out,
        "{:<10}  {:<36}  {:<14} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "total",
        format!("{} user-days", lines.len()),
        money(&paid),
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        totals[4],
        totals[5]
    );
    out
}

/// The debts as plain lines after the table (nothing when nobody owes anything).
pub fn debts_table(debts: &[Debt]) -> String {
    let mut out = String::new();
    if !debts.is_empty() {
        out.push_str("\nrefund debts (credits spent before their payment was refunded)\n");
    }
    for d in debts {
        let _ = writeln!(out, "{} {}  {}", d.issuer, d.subject, d.credits);
    }
    out
}
