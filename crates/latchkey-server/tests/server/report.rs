//! `report`: who paid and who spent, per user and per day, against a known ledger.

use crate::support::{account, ledger, t0};
use chrono::Duration;
use latchkey_server::ledger::Operation;
use latchkey_server::report;
use latchkey_server::shop::{Pack, PaymentConfig, Shop, ShopConfig};
use std::collections::BTreeMap;
use url::Url;

/// (day, subject, paid, purchased, granted, spent)
type Row = (String, String, BTreeMap<String, i64>, i64, i64, i64);

#[tokio::test]
async fn report_sums_payments_and_spending_per_user_and_utc_day() {
    let (ledger, _) = ledger().await;
    let shop = Shop::new(
        ShopConfig {
            packs: vec![Pack {
                id: "small".into(),
                credits: 100,
                amount: 500,
                currency: "eur".into(),
                label: "100 credits".into(),
            }],
            payment: Some(PaymentConfig::Demo { public_url: None }),
            welcome_credits: 0,
        },
        latchkey_auth::http_client().unwrap(),
    );
    let base = Some(Url::parse("http://127.0.0.1:1/").unwrap());
    let (alice, bob) = (account("alice"), account("bob"));
    // Day 1 (late evening UTC): alice buys twice; bob gets a grant.
    let day1 = t0() + Duration::hours(23);
    for key in ["b1", "b2"] {
        let c = shop
            .checkout(&ledger, &alice, "small", key, base.clone(), day1)
            .await
            .unwrap();
        shop.demo_pay(&ledger, &c.checkout_id, day1).await.unwrap();
    }
    let apply = |who, op, at| {
        let ledger = ledger.clone();
        async move { ledger.apply(&who, None, &op, at).await.unwrap() }
    };
    apply(
        bob.clone(),
        Operation::Grant {
            amount: 30,
            memo: None,
        },
        day1,
    )
    .await;
    // Day 2: alice spends 15 directly and 4 through a hold (6 held, 4 captured).
    let day2 = t0() + Duration::hours(25);
    apply(
        alice.clone(),
        Operation::Spend {
            amount: 15,
            memo: None,
        },
        day2,
    )
    .await;
    let r = apply(
        alice.clone(),
        Operation::Reserve {
            amount: 6,
            ttl_secs: 600,
            memo: None,
        },
        day2,
    )
    .await;
    let hold = r.entries[0].seq;
    apply(alice.clone(), Operation::Capture { hold, amount: 4 }, day2).await;
    // A payment that was started but never paid is in no line.
    shop.checkout(&ledger, &bob, "small", "never", base, day2)
        .await
        .unwrap();

    let lines = report::report(&ledger).await.unwrap();
    let got: Vec<Row> = lines
        .iter()
        .map(|l| {
            (
                l.day.clone(),
                l.subject.clone(),
                l.paid.clone(),
                l.purchased,
                l.granted,
                l.spent,
            )
        })
        .collect();
    let eur = |n| BTreeMap::from([("eur".to_string(), n)]);
    assert_eq!(
        got,
        vec![
            ("2026-01-01".into(), "alice".into(), eur(1000), 200, 0, 0),
            ("2026-01-01".into(), "bob".into(), BTreeMap::new(), 0, 30, 0),
            (
                "2026-01-02".into(),
                "alice".into(),
                BTreeMap::new(),
                0,
                0,
                19
            ),
        ]
    );
    let table = report::table(&lines);
    assert!(table.contains("10.00 EUR"), "{table}");
    let total = table.lines().last().unwrap();
    assert!(
        total.starts_with("total") && total.contains("3 user-days"),
        "{total}"
    );
}
