//! `[[packs]]`, `[payment]` and `welcome_credits` in the server's TOML.

use crate::config::ConfigError;
pub use crate::config::Secret;
use crate::ledger::MAX_AMOUNT;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use toml::Spanned;
use url::Url;

/// Stripe's API, unless `api_base` says otherwise (tests point it at a local server).
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";

/// A credit pack users can buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    /// Stable id (`[a-z0-9_-]`, 1 to 64), what clients send to `/v1/checkout`.
    pub id: String,
    /// Credits granted once it is paid.
    pub credits: i64,
    /// Price in the currency's minor units (cents), an integer.
    pub amount: i64,
    /// ISO 4217 code, lower case (`eur`, `usd`), as Stripe writes it.
    pub currency: String,
    /// What the buyer sees.
    pub label: String,
}

/// Which payment provider takes the money.
#[derive(Debug, Clone)]
pub enum PaymentConfig {
    /// A local page that "pays" at a click, labelled DEMO; no account anywhere.
    Demo {
        /// Where browsers reach this service; default: the request's `Host`.
        public_url: Option<Url>,
    },
    /// Stripe Checkout.
    Stripe {
        /// Where browsers reach this service (the success and cancel pages).
        public_url: Url,
        /// `sk_...`, from `secret_key_env` or `secret_key_file`.
        secret_key: Secret,
        /// `whsec_...`, from `webhook_secret_env` or `webhook_secret_file`.
        webhook_secret: Secret,
        /// Stripe's API base URL (default <https://api.stripe.com>).
        api_base: Url,
    },
}

/// Everything about selling credits.
#[derive(Debug, Clone, Default)]
pub struct ShopConfig {
    /// The packs on sale, in the order listed.
    pub packs: Vec<Pack>,
    /// The payment provider; `None`: checkout answers 503 `payments_not_configured`.
    pub payment: Option<PaymentConfig>,
    /// Credits granted once per identity on its first authenticated request (default 0).
    pub welcome_credits: i64,
}

/// `[payment]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPayment {
    provider: Spanned<String>,
    public_url: Option<Spanned<String>>,
    secret_key_env: Option<Spanned<String>>,
    secret_key_file: Option<Spanned<String>>,
    webhook_secret_env: Option<Spanned<String>>,
    webhook_secret_file: Option<Spanned<String>>,
    api_base: Option<Spanned<String>>,
}

/// Builds a `FILE:LINE: KEY: what` error from a span.
pub type At<'a> = &'a dyn Fn(Range<usize>, &str, &str) -> ConfigError;

impl ShopConfig {
    /// Validates the raw tables; `env` looks up `*_env` variables.
    pub fn from_raw(
        packs: Vec<Spanned<Pack>>,
        payment: Option<Spanned<RawPayment>>,
        welcome: Option<Spanned<i64>>,
        at: At<'_>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ShopConfig, ConfigError> {
        let mut out: Vec<Pack> = Vec::new();
        for p in packs {
            let span = p.span();
            let pack = p.into_inner();
            let id_ok = (1..=64).contains(&pack.id.len())
                && pack.id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !id_ok {
                return Err(at(span, "packs.id", "expected 1 to 64 of a-z 0-9 - _"));
            }
            if out.iter().any(|q| q.id == pack.id) {
                return Err(at(span, "packs.id", "this pack id is listed twice"));
            }
            if !(1..=MAX_AMOUNT).contains(&pack.credits) {
                return Err(at(
                    span,
                    "packs.credits",
                    "expected 1 to 1000000000000 credits",
                ));
            }
            if !(1..=99_999_999).contains(&pack.amount) {
                return Err(at(
                    span,
                    "packs.amount",
                    "expected a price in minor units (cents), 1 to 99999999",
                ));
            }
            if pack.currency.len() != 3 || !pack.currency.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(at(
                    span,
                    "packs.currency",
                    "expected a lower-case ISO 4217 code such as \"eur\"",
                ));
            }
            if pack.label.trim().is_empty() || pack.label.chars().count() > 100 {
                return Err(at(span, "packs.label", "expected 1 to 100 characters"));
            }
            out.push(pack);
        }
        let welcome_credits = match welcome {
            None => 0,
            Some(w) if (0..=MAX_AMOUNT).contains(w.get_ref()) => *w.get_ref(),
            Some(w) => {
                return Err(at(
                    w.span(),
                    "welcome_credits",
                    "expected 0 to 1000000000000",
                ))
            }
        };
        let payment = match payment {
            None => None,
            Some(p) => Some(payment_config(p, at, env)?),
        };
        Ok(ShopConfig {
            packs: out,
            payment,
            welcome_credits,
        })
    }

    /// The pack with this id.
    pub fn pack(&self, id: &str) -> Option<&Pack> {
        self.packs.iter().find(|p| p.id == id)
    }
}

fn payment_config(
    p: Spanned<RawPayment>,
    at: At<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PaymentConfig, ConfigError> {
    let span = p.span();
    let p = p.into_inner();
    let url = |v: &Option<Spanned<String>>, key: &str| -> Result<Option<Url>, ConfigError> {
        match v {
            None => Ok(None),
            Some(s) => Url::parse(s.get_ref())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .map(Some)
                .ok_or_else(|| at(s.span(), key, "expected an http(s) URL")),
        }
    };
    let public_url = url(&p.public_url, "payment.public_url")?;
    match p.provider.get_ref().as_str() {
        "demo" => {
            for (v, key) in [
                (&p.secret_key_env, "payment.secret_key_env"),
                (&p.secret_key_file, "payment.secret_key_file"),
                (&p.webhook_secret_env, "payment.webhook_secret_env"),
                (&p.webhook_secret_file, "payment.webhook_secret_file"),
                (&p.api_base, "payment.api_base"),
            ] {
                if let Some(v) = v {
                    return Err(at(v.span(), key, "only for provider = \"stripe\""));
                }
            }
            Ok(PaymentConfig::Demo { public_url })
        }
        "stripe" => {
            let public_url = public_url.ok_or_else(|| {
                at(
                    span.clone(),
                    "payment.public_url",
                    "Stripe needs the URL where browsers reach this service",
                )
            })?;
            let secret_key = secret(
                &p.secret_key_env,
                &p.secret_key_file,
                "payment.secret_key",
                span.clone(),
                at,
                env,
            )?;
            let webhook_secret = secret(
                &p.webhook_secret_env,
                &p.webhook_secret_file,
                "payment.webhook_secret",
                span,
                at,
                env,
            )?;
            let api_base = url(&p.api_base, "payment.api_base")?
                .unwrap_or_else(|| Url::parse(STRIPE_API_BASE).expect("a valid URL"));
            Ok(PaymentConfig::Stripe {
                public_url,
                secret_key,
                webhook_secret,
                api_base,
            })
        }
        _ => Err(at(
            p.provider.span(),
            "payment.provider",
            "expected \"stripe\" or \"demo\"",
        )),
    }
}

/// A secret from the environment variable `{key}_env` names or the file `{key}_file` names (one
/// of the two, trimmed, not empty).
pub(crate) fn secret(
    from_env: &Option<Spanned<String>>,
    from_file: &Option<Spanned<String>>,
    key: &str,
    table: Range<usize>,
    at: At<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, ConfigError> {
    let value = match (from_env, from_file) {
        (Some(var), None) => env(var.get_ref()).ok_or_else(|| {
            at(
                var.span(),
                &format!("{key}_env"),
                &format!("the environment variable {} is not set", var.get_ref()),
            )
        })?,
        (None, Some(path)) => std::fs::read_to_string(path.get_ref()).map_err(|e| {
            at(
                path.span(),
                &format!("{key}_file"),
                &format!("cannot read {}: {e}", path.get_ref()),
            )
        })?,
        (Some(var), Some(_)) => {
            return Err(at(
                var.span(),
                &format!("{key}_env"),
                &format!("give {key}_env or {key}_file, not both"),
            ))
        }
        (None, None) => {
            return Err(at(
                table,
                key,
                &format!("missing: name it with {key}_env or {key}_file"),
            ))
        }
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(at(table, key, "the secret is empty"));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    const DB: &str = "database_url = \"postgresql://u@127.0.0.1/db\"\n";
    const PACK: &str =
        "[[packs]]\nid = \"small\"\ncredits = 100\namount = 500\ncurrency = \"eur\"\nlabel = \"100 credits\"\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse("server.toml", text, |k| match k {
            "SK" => Some("sk_test_hunter2\n".into()),
            "WH" => Some("whsec_hunter3".into()),
            _ => None,
        })
    }

    #[test]
    fn packs_demo_and_welcome_credits_are_read() {
        let c = parse(&format!(
            "{DB}welcome_credits = 5\n{PACK}[payment]\nprovider = \"demo\"\n"
        ))
        .unwrap();
        assert_eq!(c.shop.welcome_credits, 5);
        assert_eq!(c.shop.packs.len(), 1);
        assert_eq!(c.shop.pack("small").map(|p| p.amount), Some(500));
        assert!(matches!(
            c.shop.payment,
            Some(super::PaymentConfig::Demo { public_url: None })
        ));
        let none = parse(DB).unwrap();
        assert_eq!(
            none.shop.welcome_credits, 0,
            "no welcome credits by default"
        );
        assert!(none.shop.payment.is_none());
    }

    #[test]
    fn stripe_secrets_come_from_the_environment_and_never_print() {
        let c = parse(&format!(
            "{DB}{PACK}[payment]\nprovider = \"stripe\"\npublic_url = \"https://credits.example/\"\n\
             secret_key_env = \"SK\"\nwebhook_secret_env = \"WH\"\n"
        ))
        .unwrap();
        let Some(super::PaymentConfig::Stripe {
            secret_key,
            webhook_secret,
            api_base,
            ..
        }) = &c.shop.payment
        else {
            panic!("stripe expected");
        };
        assert_eq!(secret_key.expose(), "sk_test_hunter2", "trimmed");
        assert_eq!(webhook_secret.expose(), "whsec_hunter3");
        assert_eq!(api_base.as_str(), "https://api.stripe.com/");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "Debug leaked a secret: {shown}"
        );
    }

    #[test]
    fn secret_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let sk = dir.path().join("sk");
        std::fs::write(&sk, "sk_test_file\n").unwrap();
        let c = parse(&format!(
            "{DB}[payment]\nprovider = \"stripe\"\npublic_url = \"https://c.example/\"\n\
             secret_key_file = \"{}\"\nwebhook_secret_env = \"WH\"\n",
            sk.display()
        ))
        .unwrap();
        let Some(super::PaymentConfig::Stripe { secret_key, .. }) = &c.shop.payment else {
            panic!("stripe expected");
        };
        assert_eq!(secret_key.expose(), "sk_test_file");
    }

    #[test]
    fn bad_shop_settings_name_file_line_and_key() {
        let stripe = "[payment]\nprovider = \"stripe\"\n";
        let cases = [
            (
                format!("{DB}{}", PACK.replace("\"eur\"", "\"EURO\"")),
                "packs.currency",
            ),
            (format!("{DB}{PACK}{PACK}"), "packs.id"),
            (format!("{DB}{}", PACK.replace("500", "0")), "packs.amount"),
            (format!("{DB}{}", PACK.replace("100\n", "-1\n")), "packs.credits"),
            (format!("{DB}{}", PACK.replace("price", "x") + "colour = 1\n"), "unknown field"),
            (format!("{DB}[payment]\nprovider = \"paypal\"\n"), "server.toml:3: payment.provider"),
            (format!("{DB}{stripe}secret_key_env = \"SK\"\nwebhook_secret_env = \"WH\"\n"), "payment.public_url"),
            (
                format!("{DB}{stripe}public_url = \"https://c.example/\"\nsecret_key_env = \"NOPE\"\nwebhook_secret_env = \"WH\"\n"),
                "server.toml:5: payment.secret_key_env: the environment variable NOPE is not set",
            ),
            (
                format!("{DB}{stripe}public_url = \"https://c.example/\"\nsecret_key_env = \"SK\"\n"),
                "payment.webhook_secret: missing",
            ),
            (
                format!("{DB}[payment]\nprovider = \"demo\"\nsecret_key_env = \"SK\"\n"),
                "server.toml:4: payment.secret_key_env: only for provider = \"stripe\"",
            ),
            (format!("{DB}welcome_credits = -3\n"), "server.toml:2: welcome_credits"),
        ];
        for (text, want) in cases {
            let err = parse(&text).expect_err(&text).to_string();
            assert!(err.starts_with("server.toml:"), "{err}");
            assert!(
                err.contains(want),
                "for {text:?}: got {err:?}, want {want:?}"
            );
            assert!(!err.contains("hunter"), "an error repeated a secret: {err}");
        }
    }
}
