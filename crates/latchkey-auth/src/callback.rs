//! Parsing the redirect back from the provider (`?code=..&state=..` or `?error=..`).

/// What the provider sent back to the redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// Success: an authorization code to exchange.
    Code {
        /// The authorization code (single use, bound to the PKCE verifier).
        code: String,
        /// The `state` sent back, to match against the pending sign-in's.
        state: Option<String>,
        /// RFC 9207 issuer identification, when the provider sends it.
        iss: Option<String>,
    },
    /// Failure: `error` is an RFC 6749 error code such as `access_denied`.
    Error {
        /// The error code.
        error: String,
        /// The provider's `error_description`, for people.
        description: Option<String>,
        /// The `state` sent back.
        state: Option<String>,
        /// RFC 9207 issuer identification, when the provider sends it.
        iss: Option<String>,
    },
}

impl Callback {
    /// The `state` the callback carries, if any.
    pub fn state(&self) -> Option<&str> {
        match self {
            Callback::Code { state, .. } | Callback::Error { state, .. } => state.as_deref(),
        }
    }

    /// The RFC 9207 `iss` the callback carries, if any.
    pub fn iss(&self) -> Option<&str> {
        match self {
            Callback::Code { iss, .. } | Callback::Error { iss, .. } => iss.as_deref(),
        }
    }
}

/// Compares a received `state` with the expected one in constant time, so timing says
/// nothing about the expected value.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Why a callback query could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// Neither `code` nor `error` is there.
    #[error("the callback has neither a code nor an error")]
    Missing,
    /// A parameter appears twice (a sign of tampering).
    #[error("the callback repeats the parameter `{0}`")]
    Repeated(String),
    /// A parameter is empty or longer than any real one.
    #[error("the callback's `{0}` parameter is empty or too long")]
    BadValue(&'static str),
}

/// Longest accepted parameter value. Real codes and states are well under 2 KiB.
const MAX_VALUE: usize = 4096;

/// Parses the query string of a redirect (without the leading `?`). Parameters must not
/// repeat (RFC 6749 §3.1); unknown parameters are ignored. Never panics.
pub fn parse_callback(query: &str) -> Result<Callback, CallbackError> {
    let mut code = None;
    let mut state = None;
    let mut iss = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let (slot, name): (&mut Option<String>, &'static str) = match k.as_ref() {
            "code" => (&mut code, "code"),
            "state" => (&mut state, "state"),
            "iss" => (&mut iss, "iss"),
            "error" => (&mut error, "error"),
            "error_description" => (&mut description, "error_description"),
            _ => continue,
        };
        if slot.is_some() {
            return Err(CallbackError::Repeated(name.to_string()));
        }
        if v.len() > MAX_VALUE {
            return Err(CallbackError::BadValue(name));
        }
        *slot = Some(v.into_owned());
    }
    if let Some(error) = error {
        // RFC 6749 limits error codes to printable ASCII without `"` and `\`; anything else is
        // replaced so it can be shown safely.
        let error: String = error
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        if error.is_empty() {
            return Err(CallbackError::BadValue("error"));
        }
        let description = description.map(|d| {
            d.chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect::<String>()
        });
        return Ok(Callback::Error {
            error,
            description,
            state,
            iss,
        });
    }
    match code {
        Some(c) if c.is_empty() => Err(CallbackError::BadValue("code")),
        Some(code) => Ok(Callback::Code { code, state, iss }),
        None => Err(CallbackError::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn code_and_state_and_iss() {
        let cb = parse_callback("code=abc&state=xyz&iss=http%3A%2F%2F127.0.0.1%3A9").unwrap();
        assert_eq!(
            cb,
            Callback::Code {
                code: "abc".into(),
                state: Some("xyz".into()),
                iss: Some("http://127.0.0.1:9".into())
            }
        );
    }

    #[test]
    fn error_wins_over_code_and_is_sanitised() {
        let cb =
            parse_callback("error=access%22denied&error_description=no%0Athanks&state=s&code=c")
                .unwrap();
        assert_eq!(
            cb,
            Callback::Error {
                error: "access_denied".into(),
                description: Some("nothanks".into()),
                state: Some("s".into()),
                iss: None
            },
            "quotes become underscores and control characters are dropped"
        );
    }

    #[test]
    fn repeated_state_is_refused() {
        assert_eq!(
            parse_callback("code=a&state=1&state=2"),
            Err(CallbackError::Repeated("state".into()))
        );
    }

    #[test]
    fn missing_and_empty() {
        assert_eq!(parse_callback(""), Err(CallbackError::Missing));
        assert_eq!(parse_callback("state=x"), Err(CallbackError::Missing));
        assert_eq!(
            parse_callback("code=&state=x"),
            Err(CallbackError::BadValue("code"))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_queries_never_panic(q in ".{0,600}") {
            let _ = parse_callback(&q);
        }

        #[test]
        fn well_formed_callbacks_round_trip(
            code in "[A-Za-z0-9._~-]{1,200}",
            state in "[A-Za-z0-9_-]{1,100}",
        ) {
            let q = format!("state={state}&code={code}&extra=1");
            let cb = parse_callback(&q).unwrap();
            prop_assert_eq!(cb, Callback::Code { code, state: Some(state), iss: None });
        }
    }
}
