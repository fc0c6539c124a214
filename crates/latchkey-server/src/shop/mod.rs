//! Selling credits: packs, checkouts through a payment provider (Stripe or the demo), the
//! provider's confirmation (webhook or demo button) credited through one grant path, and
//! welcome credits. Domain code, no HTTP: the routes are in [`routes`].
//!
//! A checkout is paid exactly when `credit_sources` holds `checkout:<id>`, which
//! [`Ledger::credit_once`] writes in the transaction that adds the `purchase` entry: a payment
//! confirmed twice (two webhooks, a webhook and a click, two servers) is credited once.

pub mod config;
pub mod pages;
pub mod provider;
pub mod routes;
pub mod stripe;

pub use config::{Pack, PaymentConfig, RawPayment, Secret, ShopConfig};

use crate::db::DbError;
use crate::ledger::{check_key, Account, Credit, Credited, EntryKind, Ledger, LedgerError, Source};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use provider::{Demo, Order, PaymentProvider};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use stripe::SignatureError;
use url::Url;

/// How long an unpaid checkout stays open (Stripe's default session lifetime).
pub const CHECKOUT_LIFETIME_HOURS: i64 = 24;

/// Why a shop operation changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopError {
    /// No `[payment]` in the configuration.
    #[error("payments are not configured on this service")]
    NotConfigured,
    /// No pack with this id.
    #[error("there is no pack {0:?}; GET /v1/packs lists them")]
    UnknownPack(String),
    /// The payment provider failed or answered something unexpected.
    #[error("{0}")]
    Provider(String),
    /// A webhook whose signature is refused.
    #[error("webhook signature refused: {0}")]
    Signature(#[from] SignatureError),
    /// A payment event that does not match its checkout or pack.
    #[error("{0}")]
    Mismatch(String),
    /// No such checkout (or not the caller's).
    #[error("no such checkout")]
    NotFound,
    /// The checkout was cancelled or has expired.
    #[error("this checkout is {0}; start a new one")]
    Closed(&'static str),
    /// The ledger refused or failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<tokio_postgres::Error> for ShopError {
    fn from(e: tokio_postgres::Error) -> Self {
        ShopError::Ledger(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for ShopError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ShopError::Ledger(e.into())
    }
}

/// `POST /v1/checkout`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CheckoutStarted {
    /// Poll `GET /v1/checkout/{checkout_id}` with it.
    pub checkout_id: String,
    /// Open this in the system browser.
    pub url: String,
}

/// Where a checkout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutState {
    /// Waiting for the payment.
    Pending,
    /// Paid: the pack's credits are in the balance.
    Paid,
    /// The buyer went back without paying.
    Cancelled,
    /// Not paid in time, or the provider closed it.
    Expired,
}

impl CheckoutState {
    /// The state's word.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutState::Pending => "pending",
            CheckoutState::Paid => "paid",
            CheckoutState::Cancelled => "cancelled",
            CheckoutState::Expired => "expired",
        }
    }
}

/// `GET /v1/checkout/{id}`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CheckoutStatus {
    /// The checkout.
    pub checkout_id: String,
    /// Where it stands.
    pub status: CheckoutState,
    /// The pack bought.
    pub pack: String,
    /// The credits it grants (in the balance once `paid`).
    pub credits: i64,
    /// The price, in minor units.
    pub amount: i64,
    /// The currency.
    pub currency: String,
}

/// What a webhook delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookOutcome {
    /// The payment's credits were added now.
    Credited,
    /// The payment had already been credited (another event, another server): nothing changed.
    AlreadyCredited,
    /// This event id was processed before: nothing changed.
    Duplicate,
    /// A checkout was marked expired.
    Expired,
    /// An event this service does not act on (recorded, nothing changed).
    Ignored,
    /// A refund of a paid checkout: the credits it makes due were taken back as far as they
    /// are available (the rest is recorded as the user's debt); nothing more when already taken.
    Refunded,
}

/// One checkout row, with its owner and derived state.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    owner: Account,
    pack: String,
    credits: i64,
    amount: i64,
    currency: String,
    provider: String,
    provider_ref: Option<String>,
    state: CheckoutState,
}

const SELECT_CHECKOUT: &str = "
    SELECT c.id, u.issuer, u.subject, c.pack, c.credits, c.amount, c.currency, c.provider,
           c.provider_ref, c.closed, c.created_at,
           EXISTS (SELECT 1 FROM credit_sources s WHERE s.source = 'checkout:' || c.id)
    FROM checkouts c JOIN users u ON u.id = c.user_id";

/// Packs, the payment provider and welcome credits, over the ledger.
pub struct Shop {
    config: ShopConfig,
    provider: Option<Arc<dyn PaymentProvider>>,
    /// Accounts already welcomed by this process: a cache only (the database decides), so a
    /// known user's requests cost no extra query.
    welcomed: Mutex<HashSet<Account>>,
}

impl Shop {
    /// The shop `config` describes; Stripe is called over `http` (no redirects).
    pub fn new(config: ShopConfig, http: reqwest::Client) -> Shop {
        let provider: Option<Arc<dyn PaymentProvider>> = match &config.payment {
            None => None,
            Some(PaymentConfig::Demo { .. }) => Some(Arc::new(Demo)),
            Some(PaymentConfig::Stripe {
                api_base,
                secret_key,
                ..
            }) => Some(Arc::new(stripe::Stripe::new(
                http,
                api_base.clone(),
                secret_key.clone(),
            ))),
        };
        Shop {
            config,
            provider,
            welcomed: Mutex::new(HashSet::new()),
        }
    }

    /// The packs on sale.
    pub fn packs(&self) -> &[Pack] {
        &self.config.packs
    }

    /// Whether the demo provider is configured (its pages say DEMO).
    pub fn is_demo(&self) -> bool {
        matches!(self.config.payment, Some(PaymentConfig::Demo { .. }))
    }

    /// Grants the configured welcome credits to `who`, once per identity ever (the database's
    /// `credit_sources` decides; this process only remembers whom it already checked).
    pub async fn welcome(
        &self,
        ledger: &Ledger,
        who: &Account,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let amount = self.config.welcome_credits;
        if amount == 0
            || self
                .welcomed
                .lock()
                .map(|w| w.contains(who))
                .unwrap_or(false)
        {
            return Ok(());
        }
        ledger
            .credit_once(
                who,
                None,
                &Credit {
                    kind: EntryKind::Grant,
                    amount,
                    memo: "Welcome credits",
                    source: &Source::Welcome,
                },
                now,
            )
            .await?;
        if let Ok(mut w) = self.welcomed.lock() {
            w.insert(who.clone());
        }
        Ok(())
    }

    /// Starts buying `pack` for `who`. With the same idempotency `key` and pack, returns the
    /// first checkout again; with another pack it is a conflict. `request_base` is where the
    /// caller reached us (the demo pages' fallback when `public_url` is not configured).
    pub async fn checkout(
        &self,
        ledger: &Ledger,
        who: &Account,
        pack: &str,
        key: &str,
        request_base: Option<Url>,
        now: DateTime<Utc>,
    ) -> Result<CheckoutStarted, ShopError> {
        check_key(key)?;
        let pack = self
            .config
            .pack(pack)
            .ok_or_else(|| ShopError::UnknownPack(pack.chars().take(64).collect()))?;
        let provider = self.provider.as_ref().ok_or(ShopError::NotConfigured)?;
        let base = match &self.config.payment {
            Some(PaymentConfig::Stripe { public_url, .. }) => public_url.clone(),
            Some(PaymentConfig::Demo { public_url }) => public_url
                .clone()
                .or(request_base)
                .ok_or(ShopError::NotConfigured)?,
            None => return Err(ShopError::NotConfigured),
        };
        let user_id = ledger.user_id(who, now).await?;
        if let Some(found) = self.by_key(ledger, user_id, key).await? {
            return same_pack(found, &pack.id);
        }
        let id = format!("co_{}", B64.encode(random::<16>()?));
        let page = |path: String| {
            base.join(&path)
                .map_err(|e| ShopError::Provider(format!("bad public_url: {e}")))
        };
        let order = Order {
            checkout_id: &id,
            pack,
            account: who,
            success_url: page(format!("checkout/{id}/done"))?,
            cancel_url: page(format!("checkout/{id}/cancel"))?,
            demo_url: page(format!("demo/checkout/{id}"))?,
        };
        let started = provider.start(&order).await?;
        let client = ledger.pool().get().await?;
        let inserted = client
            .query_opt(
                "INSERT INTO checkouts (id, user_id, idempotency_key, pack, credits, amount,
                                        currency, provider, provider_ref, url, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING id",
                &[
                    &id,
                    &user_id,
                    &key,
                    &pack.id,
                    &pack.credits,
                    &pack.amount,
                    &pack.currency,
                    &provider.name(),
                    &started.provider_ref,
                    &started.url,
                    &now,
                ],
            )
            .await?;
        if inserted.is_none() {
            // A concurrent request with the same key won: answer as it did.
            let found = self
                .by_key(ledger, user_id, key)
                .await?
                .ok_or(ShopError::NotFound)?;
            return same_pack(found, &pack.id);
        }
        Ok(CheckoutStarted {
            checkout_id: id,
            url: started.url,
        })
    }

    async fn by_key(
        &self,
        ledger: &Ledger,
        user_id: i64,
        key: &str,
    ) -> Result<Option<(String, String, String)>, ShopError> {
        let client = ledger.pool().get().await?;
        let row = client
            .query_opt(
                "SELECT id, pack, url FROM checkouts WHERE user_id = $1 AND idempotency_key = $2",
                &[&user_id, &key],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    async fn row(
        &self,
        ledger: &Ledger,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Row>, ShopError> {
        let client = ledger.pool().get().await?;
        let r = client
            .query_opt(&format!("{SELECT_CHECKOUT} WHERE c.id = $1"), &[&id])
            .await?;
        Ok(r.map(|r| {
            let closed: Option<String> = r.get(9);
            let created_at: DateTime<Utc> = r.get(10);
            let paid: bool = r.get(11);
            let state = if paid {
                CheckoutState::Paid
            } else {
                match closed.as_deref() {
                    Some("cancelled") => CheckoutState::Cancelled,
                    Some(_) => CheckoutState::Expired,
                    None if now >= created_at + Duration::hours(CHECKOUT_LIFETIME_HOURS) => {
                        CheckoutState::Expired
                    }
                    None => CheckoutState::Pending,
                }
            };
            Row {
                id: r.get(0),
                owner: Account {
                    issuer: r.get(1),
                    subject: r.get(2),
                },
                pack: r.get(3),
                credits: r.get(4),
                amount: r.get(5),
                currency: r.get(6),
                provider: r.get(7),
                provider_ref: r.get(8),
                state,
            }
        }))
    }

    /// Where `who`'s checkout `id` stands. Anyone else's checkout is [`ShopError::NotFound`],
    /// exactly like a missing one.
    pub async fn status(
        &self,
        ledger: &Ledger,
        who: &Account,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<CheckoutStatus, ShopError> {
        self.find(ledger, id, Some(who), now).await
    }

    /// The checkout behind a browser page (the unguessable id is the page's only key).
    pub async fn page(
        &self,
        ledger: &Ledger,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<CheckoutStatus, ShopError> {
        self.find(ledger, id, None, now).await
    }

    async fn find(
        &self,
        ledger: &Ledger,
        id: &str,
        owner: Option<&Account>,
        now: DateTime<Utc>,
    ) -> Result<CheckoutStatus, ShopError> {
        let row = self
            .row(ledger, id, now)
            .await?
            .filter(|r| owner.is_none_or(|o| r.owner == *o))
            .ok_or(ShopError::NotFound)?;
        Ok(status_of(row))
    }

    /// The demo provider's "Pay (DEMO)" button: credits the pack once, through the same path
    /// as a Stripe payment.
    pub async fn demo_pay(
        &self,
        ledger: &Ledger,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, ShopError> {
        if !self.is_demo() {
            return Err(ShopError::NotFound);
        }
        let row = self
            .row(ledger, id, now)
            .await?
            .filter(|r| r.provider == "demo")
            .ok_or(ShopError::NotFound)?;
        match row.state {
            CheckoutState::Cancelled => return Err(ShopError::Closed("cancelled")),
            CheckoutState::Expired => return Err(ShopError::Closed("expired")),
            _ => {}
        }
        self.credit(ledger, &row, now).await
    }

    /// The buyer came back without paying (the cancel page): a pending checkout is closed as
    /// cancelled. A payment that still arrives is credited all the same.
    pub async fn cancel(
        &self,
        ledger: &Ledger,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<CheckoutStatus, ShopError> {
        self.close(ledger, id, "cancelled").await?;
        self.page(ledger, id, now).await
    }

    async fn close(&self, ledger: &Ledger, id: &str, why: &str) -> Result<(), ShopError> {
        let client = ledger.pool().get().await?;
        client
            .execute(
                "UPDATE checkouts SET closed = $2 WHERE id = $1 AND closed IS NULL",
                &[&id, &why],
            )
            .await?;
        Ok(())
    }

    async fn credit(
        &self,
        ledger: &Ledger,
        row: &Row,
        now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, ShopError> {
        let label = self
            .config
            .pack(&row.pack)
            .map(|p| p.label.clone())
            .unwrap_or_else(|| row.pack.clone());
        let memo: String = format!("Bought: {label}").chars().take(200).collect();
        let done = ledger
            .credit_once(
                &row.owner,
                None,
                &Credit {
                    kind: EntryKind::Purchase,
                    amount: row.credits,
                    memo: &memo,
                    source: &Source::Checkout(row.id.clone()),
                },
                now,
            )
            .await?;
        Ok(match done {
            Credited::New(_) => WebhookOutcome::Credited,
            _ => WebhookOutcome::AlreadyCredited,
        })
    }

    /// A Stripe webhook delivery: signature checked, each event id processed once,
    /// `checkout.session.completed` (paid) credited once per checkout after its amount,
    /// currency and pack are checked. Anything refused changes nothing.
    pub async fn stripe_event(
        &self,
        ledger: &Ledger,
        signature: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, ShopError> {
        let Some(PaymentConfig::Stripe { webhook_secret, .. }) = &self.config.payment else {
            return Err(ShopError::NotConfigured);
        };
        stripe::verify_signature(signature, body, webhook_secret, now.timestamp())?;
        let event: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| ShopError::Mismatch("the event is not JSON".into()))?;
        let event_id = event["id"]
            .as_str()
            .filter(|id| id.starts_with("evt_") && id.len() <= 254)
            .ok_or_else(|| ShopError::Mismatch("the event has no id".into()))?;
        let kind = event["type"].as_str().unwrap_or_default();
        let client = ledger.pool().get().await?;
        let seen = client
            .query_opt("SELECT 1 FROM stripe_events WHERE id = $1", &[&event_id])
            .await?;
        if seen.is_some() {
            return Ok(WebhookOutcome::Duplicate);
        }
        let object = &event["data"]["object"];
        let outcome = match kind {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                if object["payment_status"].as_str() != Some("paid") {
                    // Paid later: `async_payment_succeeded` follows.
                    WebhookOutcome::Ignored
                } else {
                    let row = self.matching_row(ledger, object, now).await?;
                    if let Some(pi) = object["payment_intent"].as_str() {
                        // What a later `charge.refunded` names.
                        client
                            .execute(
                                "UPDATE checkouts SET payment_intent = $2
                                 WHERE id = $1 AND payment_intent IS NULL",
                                &[&row.id, &pi],
                            )
                            .await?;
                    }
                    self.credit(ledger, &row, now).await?
                }
            }
            "checkout.session.expired" => {
                let row = self.matching_row(ledger, object, now).await?;
                self.close(ledger, &row.id, "expired").await?;
                WebhookOutcome::Expired
            }
            "charge.refunded" => self.refund(&client, object, now).await?,
            _ => WebhookOutcome::Ignored,
        };
        client
            .execute(
                "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO NOTHING",
                &[&event_id, &kind.chars().take(100).collect::<String>(), &now],
            )
            .await?;
        Ok(outcome)
    }

    /// A `charge.refunded` Charge: the checkout paid by its PaymentIntent gives back
    /// floor(credits × amount_refunded / amount) in all (cumulative, so a duplicate or an older
    /// event takes nothing more), never more than is available: the rest is the user's debt
    /// (`payment_refund` in migrations/0009_refunds.sql).
    async fn refund(
        &self,
        client: &deadpool_postgres::Object,
        charge: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<WebhookOutcome, ShopError> {
        let mismatch = |what: &str| Err(ShopError::Mismatch(what.to_string()));
        let Some(pi) = charge["payment_intent"].as_str() else {
            return mismatch("the charge names no payment intent");
        };
        let Some(row) = client
            .query_opt(
                "SELECT id, amount, currency FROM checkouts WHERE payment_intent = $1",
                &[&pi],
            )
            .await?
        else {
            // Perhaps its checkout.session.completed has not arrived yet: Stripe retries.
            return mismatch("the charge is not the payment of a known checkout");
        };
        let (id, amount, currency): (String, i64, String) = (row.get(0), row.get(1), row.get(2));
        if charge["amount"].as_i64() != Some(amount)
            || charge["currency"].as_str() != Some(currency.as_str())
        {
            return mismatch("the charge's amount or currency is not the checkout's");
        }
        let Some(refunded) = charge["amount_refunded"]
            .as_i64()
            .filter(|r| (1..=amount).contains(r))
        else {
            return mismatch("amount_refunded is not between 1 and the amount paid");
        };
        match client
            .query_one("SELECT payment_refund($1, $2, $3)", &[&id, &refunded, &now])
            .await
        {
            Ok(_) => Ok(WebhookOutcome::Refunded),
            Err(e) if e.code().map(|c| c.code()) == Some("LK001") => {
                mismatch("the checkout was never paid")
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The checkout a session object names, checked field by field against the row and the
    /// configured pack.
    async fn matching_row(
        &self,
        ledger: &Ledger,
        object: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Row, ShopError> {
        let mismatch = |what: &str| Err(ShopError::Mismatch(what.to_string()));
        let Some(pack_id) = object["metadata"]["pack"].as_str() else {
            return mismatch("the session names no pack");
        };
        let Some(pack) = self.config.pack(pack_id) else {
            return Err(ShopError::UnknownPack(pack_id.chars().take(64).collect()));
        };
        let Some(id) = object["client_reference_id"].as_str() else {
            return mismatch("the session names no checkout");
        };
        let Some(row) = self.row(ledger, id, now).await? else {
            return mismatch("the session names an unknown checkout");
        };
        if row.provider_ref.as_deref() != object["id"].as_str() {
            return mismatch("the session is not the one created for this checkout");
        }
        if row.pack != pack.id || row.credits != pack.credits {
            return mismatch("the session's pack is not the checkout's");
        }
        if object["amount_total"].as_i64() != Some(pack.amount) || row.amount != pack.amount {
            return mismatch("the amount paid is not the pack's price");
        }
        if object["currency"].as_str() != Some(pack.currency.as_str())
            || row.currency != pack.currency
        {
            return mismatch("the currency paid is not the pack's");
        }
        Ok(row)
    }
}

fn same_pack(found: (String, String, String), pack: &str) -> Result<CheckoutStarted, ShopError> {
    let (checkout_id, found_pack, url) = found;
    if found_pack != pack {
        return Err(LedgerError::IdempotencyConflict.into());
    }
    Ok(CheckoutStarted { checkout_id, url })
}

fn status_of(row: Row) -> CheckoutStatus {
    CheckoutStatus {
        checkout_id: row.id,
        status: row.state,
        pack: row.pack,
        credits: row.credits,
        amount: row.amount,
        currency: row.currency,
    }
}

/// `N` bytes from the operating system's random source.
pub fn random<const N: usize>() -> Result<[u8; N], ShopError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| {
        ShopError::Ledger(LedgerError::Db(DbError::Corrupt(format!(
            "no randomness: {e}"
        ))))
    })?;
    Ok(b)
}
