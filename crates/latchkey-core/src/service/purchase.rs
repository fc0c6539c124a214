//! Buying credits: the packs on sale, a checkout opened in the browser, and waiting until
//! it is paid (the service confirms by webhook; this side polls, so a blocked link back to
//! the app still ends well).

use super::{malformed, unreachable, ServiceBalance};
use crate::core::Core;
use crate::error::{Code, Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How often [`Core::wait_for_purchase`] asks about a checkout.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// A credit pack on sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    /// What `--pack` names.
    pub id: String,
    /// Credits it gives.
    pub credits: i64,
    /// Its price in minor units (cents).
    pub amount: i64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// What people see.
    #[serde(default)]
    pub label: String,
}

/// A purchase started at the service: open `url` in the browser, then wait on `id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkout {
    /// The checkout's id (`GET /v1/checkout/{id}`).
    pub id: String,
    /// The payment page.
    pub url: String,
    /// The pack being bought.
    pub pack: Pack,
}

/// Where a purchase stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseState {
    /// Waiting for payment (the service's `pending`).
    Open,
    /// Paid: the pack's credits are in the balance.
    Paid,
    /// Cancelled at the payment page.
    Cancelled,
    /// Not paid in time.
    Expired,
}

#[derive(Deserialize)]
struct WirePacks {
    packs: Vec<Pack>,
}

#[derive(Deserialize)]
struct WireCheckout {
    checkout_id: String,
    url: String,
}

#[derive(Deserialize)]
struct WireCheckoutStatus {
    status: String,
}

impl Core {
    /// The credit packs on sale at the service.
    ///
    /// # Errors
    /// [`Code::ServiceUnavailable`]; [`Code::Config`] without `[service]`.
    pub async fn credit_packs(&self) -> Result<Vec<Pack>> {
        // Sent with the active account's token when there is one (the service may ask).
        let record = self.account_record(None).ok();
        let packs: WirePacks = self.get(record.as_ref(), "v1/packs").await?;
        Ok(packs.packs)
    }

    /// Starts buying `pack` (or the only pack on sale) for the active account: the service
    /// answers with its payment page, to open in the browser, then [`Core::wait_for_purchase`].
    ///
    /// # Errors
    /// [`Code::InvalidInput`] for an unknown pack or, with no pack named, several on sale;
    /// [`Code::ServiceUnavailable`]; [`Code::NotSignedIn`].
    pub async fn begin_purchase(&self, pack: Option<&str>) -> Result<Checkout> {
        let record = self.account_record(None)?;
        let packs = self.credit_packs().await?;
        let ids = || {
            packs
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let chosen = match pack {
            Some(id) => packs.iter().find(|p| p.id == id).ok_or_else(|| {
                Error::new(
                    Code::InvalidInput,
                    format!("no pack `{id}` is on sale; the packs are: {}", ids()),
                )
            })?,
            None => match packs.as_slice() {
                [only] => only,
                [] => {
                    return Err(Error::new(
                        Code::InvalidInput,
                        "the credit service has no packs on sale",
                    ))
                }
                _ => {
                    return Err(Error::new(
                        Code::InvalidInput,
                        format!("several packs are on sale ({}); choose one", ids()),
                    ))
                }
            },
        }
        .clone();
        // One key per attempt: a retry of this request (same key) starts no second checkout.
        let key = crate::ids::new_key("buy")?;
        let body = serde_json::json!({"pack": chosen.id, "idempotency_key": key});
        let (bytes, _) = self
            .call(
                Some(&record),
                reqwest::Method::POST,
                "v1/checkout",
                Some(body),
            )
            .await?;
        let wire: WireCheckout =
            serde_json::from_slice(&bytes).map_err(|e| malformed("v1/checkout", e))?;
        Ok(Checkout {
            id: wire.checkout_id,
            url: wire.url,
            pack: chosen,
        })
    }

    /// Where the purchase `checkout_id` stands.
    ///
    /// # Errors
    /// [`Code::UnknownEntry`] for a checkout the service does not know (for this account);
    /// [`Code::ServiceUnavailable`].
    pub async fn purchase_state(&self, checkout_id: &str) -> Result<PurchaseState> {
        let record = self.account_record(None)?;
        if checkout_id.is_empty()
            || !checkout_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::new(
                Code::InvalidInput,
                format!("{checkout_id:?} is not a checkout id"),
            ));
        }
        let path = format!("v1/checkout/{checkout_id}");
        let status: WireCheckoutStatus = self.get(Some(&record), &path).await?;
        Ok(match status.status.as_str() {
            "paid" | "complete" | "completed" => PurchaseState::Paid,
            "cancelled" | "canceled" => PurchaseState::Cancelled,
            "expired" => PurchaseState::Expired,
            _ => PurchaseState::Open,
        })
    }

    /// Waits until the purchase is paid (then answers the new balance), cancelled or expired,
    /// or `timeout` passes. A moment when the service cannot be reached is waited out.
    ///
    /// # Errors
    /// [`Code::PurchaseNotCompleted`] when cancelled or expired; [`Code::PurchaseTimedOut`].
    pub async fn wait_for_purchase(
        &self,
        checkout_id: &str,
        timeout: Duration,
    ) -> Result<ServiceBalance> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.purchase_state(checkout_id).await {
                Ok(PurchaseState::Paid) => {
                    let b = self.service_balance(None).await?;
                    return Ok(b.value);
                }
                Ok(state @ (PurchaseState::Cancelled | PurchaseState::Expired)) => {
                    let how = if state == PurchaseState::Cancelled {
                        "was cancelled"
                    } else {
                        "expired"
                    };
                    return Err(Error::new(
                        Code::PurchaseNotCompleted,
                        format!("the purchase {how} before it was paid; nothing was charged"),
                    ));
                }
                Ok(PurchaseState::Open) => {}
                Err(e) if unreachable(&e) => {}
                Err(e) => return Err(e),
            }
            if tokio::time::Instant::now() + POLL_EVERY > deadline {
                return Err(Error::new(
                    Code::PurchaseTimedOut,
                    format!(
                        "the purchase was not paid within {} s; if it is paid later, the \
                         credits still arrive",
                        timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}
