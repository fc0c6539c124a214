//! Microsoft Entra's multi-tenant endpoints: a discovery document for `common` or
//! `organizations` names the issuer `https://login.microsoftonline.com/{tenantid}/v2.0` (a
//! template), `consumers` names the consumer tenant's GUID, and every ID token's `iss` names the
//! user's own tenant, which its `tid` claim repeats. Everything else keeps the exact issuer.

use crate::error::AuthError;
use url::Url;

/// Microsoft's tenant of personal accounts, the issuer of every `consumers` ID token.
pub const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// The placeholder Microsoft writes in a multi-tenant issuer.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// How a provider's ID tokens must name their issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IssuerRule {
    /// `iss` is exactly the discovered issuer (every provider but the ones below).
    Exact(String),
    /// `iss` is `prefix + tid + suffix`, `tid` a GUID taken from the token itself; with
    /// `only`, that tenant alone (`consumers`).
    Tenant {
        prefix: String,
        suffix: String,
        only: Option<String>,
    },
}

impl IssuerRule {
    /// The rule a discovered issuer implies: a `{tenantid}` path segment makes it a template,
    /// a consumer-tenant segment pins that tenant.
    pub(crate) fn of(issuer: &str) -> Self {
        if let Some((prefix, suffix)) = split_at_segment(issuer, TENANT_PLACEHOLDER) {
            return IssuerRule::Tenant {
                prefix,
                suffix,
                only: None,
            };
        }
        if let Some((prefix, suffix)) = split_at_segment(issuer, CONSUMER_TENANT) {
            return IssuerRule::Tenant {
                prefix,
                suffix,
                only: Some(CONSUMER_TENANT.into()),
            };
        }
        IssuerRule::Exact(issuer.to_string())
    }

    /// Whether an issuer (from a callback's `iss`) is one this rule allows for some tenant.
    pub(crate) fn fits(&self, iss: &str) -> bool {
        match self {
            IssuerRule::Exact(e) => e == iss,
            IssuerRule::Tenant { .. } => self.tenant_of(iss).is_some(),
        }
    }

    /// The tenant an issuer names under this rule, if it fits.
    fn tenant_of<'a>(&self, iss: &'a str) -> Option<&'a str> {
        let IssuerRule::Tenant {
            prefix,
            suffix,
            only,
        } = self
        else {
            return None;
        };
        let tid = iss
            .strip_prefix(prefix.as_str())?
            .strip_suffix(suffix.as_str())?;
        let allowed = only.as_deref().is_none_or(|o| o.eq_ignore_ascii_case(tid));
        (is_guid(tid) && allowed).then_some(tid)
    }

    /// The issuer a token must carry, given its (unverified) `iss` and `tid` claims: the
    /// signature check that follows then proves both. Errors say which rule was broken.
    pub(crate) fn expected_issuer(
        &self,
        iss: Option<&str>,
        tid: Option<&str>,
    ) -> Result<String, AuthError> {
        let IssuerRule::Tenant {
            prefix,
            suffix,
            only,
        } = self
        else {
            let IssuerRule::Exact(e) = self else {
                unreachable!()
            };
            return Ok(e.clone());
        };
        let bad = |why: String| AuthError::InvalidToken(why);
        let template = format!("{prefix}{TENANT_PLACEHOLDER}{suffix}");
        if iss == Some(template.as_str()) {
            return Err(bad(format!(
                "its issuer (iss) is the literal template `{template}`, not a tenant"
            )));
        }
        let tid = tid.ok_or_else(|| {
            bad("it has no tenant id (tid), which a Microsoft multi-tenant sign-in needs".into())
        })?;
        if !is_guid(tid) {
            return Err(bad(format!("its tenant id (tid) `{tid}` is not a GUID")));
        }
        if let Some(only) = only {
            if !only.eq_ignore_ascii_case(tid) {
                return Err(bad(format!(
                    "its tenant (tid) `{tid}` is not the consumer tenant `{only}` this provider \
                     serves"
                )));
            }
        }
        let expected = format!("{prefix}{tid}{suffix}");
        match iss {
            Some(i) if i == expected => Ok(expected),
            Some(i) => Err(bad(format!(
                "its issuer (iss) `{i}` disagrees with its tenant (tid) `{tid}` (expected \
                 `{expected}`)"
            ))),
            None => Err(bad("it has no issuer (iss)".into())),
        }
    }
}

/// Whether a discovery document at `metadata_url` may name `issuer`: exactly the URL's
/// issuer, or, for a Microsoft `common`/`organizations` URL, that issuer with `{tenantid}` in
/// the tenant segment, or for `consumers`, with the consumer tenant's GUID there.
pub(crate) fn document_issuer_fits(expected: &str, issuer: &str) -> bool {
    if issuer == expected {
        return true;
    }
    [
        ("common", TENANT_PLACEHOLDER),
        ("organizations", TENANT_PLACEHOLDER),
        ("consumers", CONSUMER_TENANT),
    ]
    .iter()
    .any(|(segment, replacement)| {
        split_at_segment(expected, segment)
            .is_some_and(|(p, s)| issuer == format!("{p}{replacement}{s}"))
    })
}

/// Splits `issuer` around its first whole path segment equal to `segment` (never in the
/// scheme, host or port, never part of a longer segment).
fn split_at_segment(issuer: &str, segment: &str) -> Option<(String, String)> {
    let url = Url::parse(issuer).ok()?;
    url.host_str()?;
    // The path starts after "scheme://authority"; find it in the original string.
    let after_scheme = issuer.find("://")? + 3;
    let path_start = after_scheme + issuer[after_scheme..].find('/')?;
    let path = &issuer[path_start..];
    if path.contains(['?', '#']) {
        return None;
    }
    let mut offset = 0;
    for part in path.split('/') {
        if part == segment {
            let at = path_start + offset;
            return Some((
                issuer[..at].to_string(),
                issuer[at + segment.len()..].to_string(),
            ));
        }
        offset += part.len() + 1;
    }
    None
}

/// `8-4-4-4-12` hexadecimal digits, as Microsoft writes tenant ids.
pub(crate) fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: &str = "https://login.microsoftonline.com";
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn template() -> IssuerRule {
        IssuerRule::of(&format!("{MS}/{{tenantid}}/v2.0"))
    }

    #[test]
    fn documents_of_the_three_multi_tenant_endpoints_fit_their_urls() {
        for t in ["common", "organizations"] {
            let exp = format!("{MS}/{t}/v2.0");
            assert!(document_issuer_fits(
                &exp,
                &format!("{MS}/{{tenantid}}/v2.0")
            ));
            assert!(!document_issuer_fits(
                &exp,
                &format!("{MS}/{CONSUMER_TENANT}/v2.0")
            ));
        }
        let exp = format!("{MS}/consumers/v2.0");
        assert!(document_issuer_fits(
            &exp,
            &format!("{MS}/{CONSUMER_TENANT}/v2.0")
        ));
        assert!(
            !document_issuer_fits(&exp, &format!("{MS}/{{tenantid}}/v2.0")),
            "consumers has one tenant, never a template"
        );
        assert!(
            !document_issuer_fits(
                "https://id.example.com",
                "https://id.example.com/{tenantid}"
            ),
            "only the tenant segment may be templated"
        );
        assert!(!document_issuer_fits(
            &format!("{MS}/common/v2.0"),
            "https://evil.example/{tenantid}/v2.0"
        ));
    }

    #[test]
    fn a_tenant_token_is_checked_against_its_own_tid() {
        let rule = template();
        let iss = format!("{MS}/{TENANT}/v2.0");
        assert_eq!(rule.expected_issuer(Some(&iss), Some(TENANT)).unwrap(), iss);
        let other = "11111111-2222-3333-4444-555555555555";
        let e = rule.expected_issuer(Some(&iss), Some(other)).unwrap_err();
        assert!(e.to_string().contains("disagrees"), "{e}");
        let e = rule.expected_issuer(Some(&iss), None).unwrap_err();
        assert!(e.to_string().contains("no tenant id"), "{e}");
        let e = rule
            .expected_issuer(Some(&iss), Some("common"))
            .unwrap_err();
        assert!(e.to_string().contains("not a GUID"), "{e}");
        let literal = format!("{MS}/{{tenantid}}/v2.0");
        let e = rule
            .expected_issuer(Some(&literal), Some(TENANT))
            .unwrap_err();
        assert!(e.to_string().contains("literal template"), "{e}");
    }

    #[test]
    fn consumers_accepts_only_the_consumer_tenant() {
        let rule = IssuerRule::of(&format!("{MS}/{CONSUMER_TENANT}/v2.0"));
        let iss = format!("{MS}/{CONSUMER_TENANT}/v2.0");
        assert!(rule
            .expected_issuer(Some(&iss), Some(CONSUMER_TENANT))
            .is_ok());
        let e = rule
            .expected_issuer(Some(&format!("{MS}/{TENANT}/v2.0")), Some(TENANT))
            .unwrap_err();
        assert!(e.to_string().contains("consumer tenant"), "{e}");
    }

    #[test]
    fn exact_issuers_are_untouched() {
        let rule = IssuerRule::of("https://accounts.google.com");
        assert_eq!(
            rule,
            IssuerRule::Exact("https://accounts.google.com".into())
        );
        assert_eq!(
            rule.expected_issuer(Some("https://other"), None).unwrap(),
            "https://accounts.google.com",
            "the library then compares iss with the exact issuer"
        );
        assert!(!rule.fits("https://accounts.google.com/x"));
    }

    proptest! {
        /// No `iss` the template admits differs from it anywhere but in the tenant segment,
        /// which is a GUID: never another scheme, host, port or path, whatever surrounds it.
        #[test]
        fn a_template_never_admits_another_host_or_path(
            head in prop::sample::select(vec![
                "https://login.microsoftonline.com/",
                "https://login.microsoftonline.com.evil.example/",
                "https://login.microsoftonline.com:444/",
                "http://login.microsoftonline.com/",
                "https://evil.example/login.microsoftonline.com/",
                "https://login.microsoftonline.com/x/",
                "https://login.microsoftonline.com",
            ]),
            middle in "[a-fA-F0-9/.@:?#-]{0,40}|[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}",
            tail in prop::sample::select(vec!["/v2.0", "/v2.0/", "/v2.0/x", "", "/v2.0?x=1", "/v3.0", "/v2.0#"]),
            tid in "[a-fA-F0-9-]{0,40}|[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}",
        ) {
            let iss = format!("{head}{middle}{tail}");
            let rule = template();
            let genuine = head == "https://login.microsoftonline.com/"
                && tail == "/v2.0"
                && is_guid(&middle);
            prop_assert_eq!(rule.fits(&iss), genuine, "iss {}", iss);
            if let Ok(expected) = rule.expected_issuer(Some(&iss), Some(&tid)) {
                prop_assert!(genuine, "accepted {}", iss);
                prop_assert_eq!(&expected, &iss);
                prop_assert_eq!(&tid, &middle, "the tenant in iss is the token's tid");
            }
        }

        /// Whatever a token claims, a GUID tenant fills only the tenant segment.
        #[test]
        fn a_filled_template_keeps_host_and_path(tid in "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}") {
            let iss = format!("{MS}/{tid}/v2.0");
            let rule = template();
            prop_assert!(rule.fits(&iss));
            let url = Url::parse(&rule.expected_issuer(Some(&iss), Some(&tid)).unwrap()).unwrap();
            prop_assert_eq!(url.host_str(), Some("login.microsoftonline.com"));
            prop_assert_eq!(url.path(), format!("/{tid}/v2.0"));
        }

        /// A document issuer that fits a URL differs from the URL's issuer only in the tenant
        /// segment.
        #[test]
        fn document_fit_changes_only_the_tenant_segment(issuer in "https://[a-z./{}0-9-]{1,60}") {
            let expected = format!("{MS}/common/v2.0");
            if document_issuer_fits(&expected, &issuer) {
                prop_assert_eq!(issuer, format!("{MS}/{{tenantid}}/v2.0"));
            }
        }
    }
}
