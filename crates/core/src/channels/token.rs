//! Scoped tokens an app hands its own users: `hkt_<id>.<secret>`, bound to one channel and one
//! tenant, read or write, expiring, revocable. Only a hash of the secret is stored.

use crate::digest::sha256_hex;
use crate::ids::TokenId;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

pub const TOKEN_RECORD_VERSION: u32 = 1;
pub const MAX_TOKEN_TTL_SECS: u64 = 366 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub v: u32,
    pub id: TokenId,
    pub channel: String,
    pub tenant: String,
    pub access: Access,
    pub expires_at: u64,
    pub secret_sha256: String,
    #[serde(default)]
    pub revoked: bool,
    pub created_at: u64,
}

impl TokenRecord {
    /// The presented secret matches, and the token is live at `now`.
    pub fn admits(&self, secret: &str, now: u64) -> bool {
        let matches = bool::from(sha256_hex(secret.as_bytes()).as_bytes().ct_eq(self.secret_sha256.as_bytes()));
        matches && !self.revoked && now < self.expires_at
    }
}

/// Splits `hkt_<id>.<secret>` into id and secret.
pub fn parse(token: &str) -> Option<(TokenId, &str)> {
    let (id, secret) = token.split_once('.')?;
    let id = TokenId::parse(id)?;
    (!secret.is_empty()).then_some((id, secret))
}

pub fn format(id: &TokenId, secret: &str) -> String {
    format!("{id}.{secret}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let id = TokenId::from_random(&[3; 16]);
        let record = TokenRecord {
            v: 1,
            id: id.clone(),
            channel: "c".into(),
            tenant: "t".into(),
            access: Access::Read,
            expires_at: 100,
            secret_sha256: sha256_hex(b"s3cret"),
            revoked: false,
            created_at: 0,
        };
        let token = format(&id, "s3cret");
        assert_eq!(parse(&token), Some((id.clone(), "s3cret")));
        assert!(record.admits("s3cret", 99));
        assert!(!record.admits("s3cret", 100), "expired");
        assert!(!record.admits("s3creT", 99));
        assert!(!TokenRecord { revoked: true, ..record }.admits("s3cret", 99));
        assert_eq!(parse("hkt_x.y"), None);
        assert_eq!(parse("Bearer"), None);
    }
}

crate::stored::stored!(TokenRecord, TOKEN_RECORD_VERSION);
