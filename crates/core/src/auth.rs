//! API token check for every non-public route.

use crate::config::ApiToken;
use crate::error::Error;
use subtle::ConstantTimeEq;

/// Checks an `Authorization` header value against the configured token in constant time.
pub fn check_bearer(configured: &ApiToken, authorization: Option<&str>) -> Result<(), Error> {
    if configured.is_empty() {
        return Err(Error::NotConfigured(
            "no API token is set: set the api_token variable (locally SPIN_VARIABLE_API_TOKEN=<token>)".into(),
        ));
    }
    let presented = authorization
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .unwrap_or("");
    if same_secret(presented, configured) {
        Ok(())
    } else {
        Err(Error::unauthenticated("send Authorization: Bearer <api token>"))
    }
}

/// Whether `presented` is the configured secret, compared in constant time.
pub fn same_secret(presented: &str, configured: &ApiToken) -> bool {
    // ct_eq on slices of different lengths is false without looking at the contents.
    bool::from(presented.as_bytes().ct_eq(configured.expose().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(configured: &str, header: Option<&str>, expected: Result<(), u16>) {
        let result = check_bearer(&ApiToken::new(configured), header).map_err(|e| crate::ApiError::from(e).status);
        assert_eq!(result, expected, "configured {configured:?}, header {header:?}");
    }

    #[test]
    fn bearer() {
        check("s3cret", Some("Bearer s3cret"), Ok(()));
        check("s3cret", Some("bearer  s3cret "), Ok(()));
        check("s3cret", Some("Bearer s3cre"), Err(401));
        check("s3cret", Some("Bearer s3cret2"), Err(401));
        check("s3cret", Some("Basic s3cret"), Err(401));
        check("s3cret", Some("s3cret"), Err(401));
        check("s3cret", None, Err(401));
        check("", Some("Bearer "), Err(503));
        check("", None, Err(503));
    }
}
