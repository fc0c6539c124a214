use crate::output::{credits, Output};
use latchkey_core::latchkey_wallet::{Credits, EntryId, HistoryQuery, Kind, Timestamp};
use latchkey_core::{Code, Core, Error};

#[derive(clap::Args, Debug)]
pub struct History {
    /// Entries per page (1 to 1000).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// Continue after a previous page (its `next_cursor`).
    #[arg(long, value_name = "C")]
    cursor: Option<String>,
    /// Only entries of this kind (repeatable): grant, voucher, spend, refund, reserve, capture,
    /// release, expire.
    #[arg(long = "kind", value_name = "KIND")]
    kinds: Vec<Kind>,
    /// Only entries at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Print JSON: {"entries": [...], "next_cursor": "..." or null} (with a credit service,
    /// also "stale", and "as_of" when stale). Each entry also has "captured_by": for a hold
    /// that was captured, the capture's id (the text output shows the two as one line).
    #[arg(long)]
    json: bool,
}

fn time(flag: &str, v: &Option<String>) -> Result<Option<Timestamp>, Error> {
    v.as_deref()
        .map(|t| {
            Timestamp::parse_rfc3339(t).ok_or_else(|| {
                Error::new(
                    Code::InvalidInput,
                    format!("{flag} {t}: expected an RFC 3339 time such as 2026-11-01T00:00:00Z"),
                )
            })
        })
        .transpose()
}

impl History {
    pub async fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        let query = HistoryQuery {
            limit: usize::from(self.limit),
            cursor: self.cursor.clone(),
            kinds: self.kinds.clone(),
            since: time("--since", &self.since)?,
            until: time("--until", &self.until)?,
        };
        if app.wallet_uses_service() {
            // Made offline from this device's lease, not at the service yet (first page only).
            let waiting = match (&self.cursor, self.json) {
                (None, false) => app.offline_lines(account)?,
                _ => vec![],
            };
            if !waiting.is_empty() {
                println!("Not synced yet (from this device's offline lease; `latchkey sync`):");
                for w in &waiting {
                    let held = if w.kind == "reserve" { ", held" } else { "" };
                    println!(
                        "  {:>6}  {}  -{}{held}{}",
                        w.id,
                        w.created_at.format("%Y-%m-%d %H:%M"),
                        w.amount,
                        w.memo
                            .as_deref()
                            .map(|m| format!("  {}", crate::output::clean_line(m)))
                            .unwrap_or_default()
                    );
                }
            }
            // Entries the service refused, from any of your devices (nothing was charged).
            let refused = match (&self.cursor, self.json) {
                (None, false) => app.refused_entries(account, usize::MAX)?,
                _ => vec![],
            };
            if !refused.is_empty() {
                println!("Not accepted by the credit service (nothing was charged for them):");
                for x in &refused {
                    let from = match (x.this_device, x.device_name.as_deref()) {
                        (true, _) => "this device".to_string(),
                        (false, Some(n)) => {
                            format!("\u{201c}{}\u{201d}", crate::output::clean_line(n))
                        }
                        (false, None) => "another device".to_string(),
                    };
                    println!(
                        "  {}  from {from}  -{}{}  — {}",
                        x.at.format("%Y-%m-%d %H:%M"),
                        x.amount,
                        x.memo
                            .as_deref()
                            .map(|m| format!("  {}", crate::output::clean_line(m)))
                            .unwrap_or_default(),
                        x.words
                    );
                }
            }
            let known = app.service_history(account, &query).await?;
            let page = &known.value;
            if self.json {
                let mut json = serde_json::to_value(page).unwrap_or_default();
                json["stale"] = known.stale.into();
                if known.stale {
                    json["as_of"] = known.as_of.to_rfc3339().into();
                }
                out.json(&json);
                return Ok(());
            }
            if known.stale {
                println!(
                    "(last known, as of {}: the credit service cannot be reached)",
                    known.as_of.to_rfc3339()
                );
            }
            if page.entries.is_empty() {
                println!("No entries.");
            }
            // A capture without a note reads with its hold's ("Analytics run").
            let hold_memo = |hold: Option<i64>| {
                page.entries
                    .iter()
                    .find(|h| Some(h.id) == hold)
                    .and_then(|h| h.memo.as_deref())
            };
            for e in &page.entries {
                if e.captured_by.is_some() {
                    continue; // shown with its capture
                }
                line(
                    e.id,
                    e.created_at,
                    &e.kind,
                    e.amount,
                    e.available_after,
                    e.memo.as_deref().or_else(|| hold_memo(e.related)),
                );
            }
            if let Some(c) = &page.next_cursor {
                println!("More: --cursor {c}");
            }
            return Ok(());
        }
        let page = app.wallet_history(account, &query)?;
        if self.json {
            out.json(&serde_json::to_value(&page).unwrap_or_default());
            return Ok(());
        }
        if page.entries.is_empty() {
            println!("No entries.");
        }
        let hold_memo = |hold: Option<EntryId>| {
            page.entries
                .iter()
                .find(|h| Some(h.entry.id) == hold)
                .and_then(|h| h.entry.memo.as_deref())
        };
        for l in &page.entries {
            if l.captured_by.is_some() {
                continue; // shown with its capture
            }
            let e = &l.entry;
            line(
                e.id.0,
                e.created_at,
                e.kind.as_str(),
                e.amount,
                e.available_after,
                e.memo.as_deref().or_else(|| hold_memo(e.related)),
            );
        }
        if let Some(c) = &page.next_cursor {
            println!("More: --cursor {c}");
        }
        Ok(())
    }
}

/// One history line. A capture reads as one line with its hold ("Analytics run −2, held
/// then paid"): the hold itself is not printed (it is not a second spend).
fn line(
    id: i64,
    at: Timestamp,
    kind: &str,
    amount: Credits,
    available: Credits,
    memo: Option<&str>,
) {
    let note = match (kind, memo) {
        ("capture", memo) => format!(
            "{} \u{2212}{}, held then paid",
            latchkey_core::capitalise_first(memo.unwrap_or("paid from a hold")),
            credits(amount)
        ),
        (_, memo) => memo.unwrap_or("").to_string(),
    };
    println!(
        "{:>6}  {}  {:<8} {:>12}  available {:>12}  {}",
        id,
        at.to_rfc3339(),
        kind,
        credits(amount),
        credits(available),
        note
    );
}
