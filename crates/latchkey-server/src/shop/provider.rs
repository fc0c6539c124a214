//! Payment providers behind one trait: Stripe ([`super::stripe::Stripe`]) and the demo.

use super::config::Pack;
use super::ShopError;
use crate::auth::BoxFuture;
use crate::ledger::Account;
use url::Url;

/// One purchase to start at the provider.
pub struct Order<'a> {
    /// Our checkout id (`co_...`).
    pub checkout_id: &'a str,
    /// What is bought.
    pub pack: &'a Pack,
    /// Who buys.
    pub account: &'a Account,
    /// Where the browser lands once paid.
    pub success_url: Url,
    /// Where the browser lands when the buyer goes back.
    pub cancel_url: Url,
    /// This service's page for the demo checkout.
    pub demo_url: Url,
}

/// What the provider answered: the page the system browser opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The provider's own id for the purchase (Stripe's `cs_...`), if it has one.
    pub provider_ref: Option<String>,
    /// The page to open in the system browser.
    pub url: String,
}

/// Takes the money. Confirmation comes back separately (a webhook, or the demo page's button)
/// and is credited through [`super::Shop`]'s one grant path.
pub trait PaymentProvider: Send + Sync {
    /// `"stripe"` or `"demo"`, as stored with each checkout.
    fn name(&self) -> &'static str;
    /// Starts the purchase at the provider.
    fn start<'a>(&'a self, order: &'a Order<'a>) -> BoxFuture<'a, Result<Started, ShopError>>;
}

/// The demo provider: this service's own page, labelled DEMO, "pays" at a click.
pub struct Demo;

impl PaymentProvider for Demo {
    fn name(&self) -> &'static str {
        "demo"
    }

    fn start<'a>(&'a self, order: &'a Order<'a>) -> BoxFuture<'a, Result<Started, ShopError>> {
        Box::pin(async move {
            Ok(Started {
                provider_ref: None,
                url: order.demo_url.to_string(),
            })
        })
    }
}
