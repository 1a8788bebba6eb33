//! Who is calling: the app (the API token) or one of its users (a scoped token).
//!
//! A scoped token (`tok:{id}`, storing only a hash of the secret) becomes a `Principal`.
//! `api/mod.rs` lets it reach only its channel's subscription routes, and
//! `engine/subscriptions.rs` checks its tenant and access.

use super::{Channels, Hookah};
use crate::auth::check_bearer;
use crate::channels::grammar::check_public_channel;
use crate::channels::token::{self, Access, TokenRecord, MAX_TOKEN_TTL_SECS, TOKEN_RECORD_VERSION};
use crate::digest::sha256_hex;
use crate::error::Error;
use crate::ids::{TokenId, ID_RANDOM_BYTES};
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, Transport};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    App,
    /// A user of the app, limited to one channel and tenant.
    Scoped(TokenRecord),
}

impl Principal {
    /// Refuses a scoped caller outside its channel, or writing with a read token.
    pub fn check_channel(&self, channel: &str, write: bool) -> Result<(), Error> {
        match self {
            Principal::App => Ok(()),
            Principal::Scoped(token) if token.channel != channel => {
                Err(Error::forbidden("this token is for another channel"))
            }
            Principal::Scoped(token) if write && token.access == Access::Read => {
                Err(Error::forbidden("this token is read-only"))
            }
            Principal::Scoped(_) => Ok(()),
        }
    }

    /// The tenant a scoped caller is bound to.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Principal::App => None,
            Principal::Scoped(token) => Some(&token.tenant),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub channel: String,
    pub tenant: String,
    #[serde(default = "read_access")]
    pub access: Access,
    /// Seconds until it expires (at most a year).
    pub expires_in: u64,
}

fn read_access() -> Access {
    Access::Read
}

/// A token just minted, with the text the caller presents: shown this once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub record: TokenRecord,
    pub token: String,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// The caller of a request with this `Authorization` header.
    pub(crate) fn authorize(&self, authorization: Option<&str>) -> Result<Principal, Error> {
        // The scheme is case-insensitive (RFC 9110 §11.1), as `check_bearer` reads it for the API token.
        let presented = authorization.and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        if let Some((id, secret)) = presented.and_then(token::parse) {
            let record = self.kv.load(&keys::token(&id))?;
            return match record {
                Some(record) if record.admits(secret, self.clock.now_ms()) => Ok(Principal::Scoped(record)),
                _ => Err(Error::unauthenticated("the token is unknown, expired or revoked")),
            };
        }
        check_bearer(&self.config.api_token, authorization)?;
        Ok(Principal::App)
    }
}

impl<K: Kv, T: Transport> Channels<'_, K, T> {
    pub fn create_token(&self, request: TokenRequest) -> Result<NewToken, Error> {
        check_public_channel(&request.channel)?;
        if request.tenant.is_empty() || request.tenant.len() > 128 {
            return Err(Error::invalid("bad_token", "tenant must be 1 to 128 characters"));
        }
        if !(1..=MAX_TOKEN_TTL_SECS).contains(&request.expires_in) {
            return Err(Error::invalid("bad_token", "expires_in must be 1 second to a year"));
        }
        let mut random = [0u8; ID_RANDOM_BYTES];
        self.0.entropy.fill(&mut random);
        let mut secret = [0u8; 32];
        self.0.entropy.fill(&mut secret);
        let secret = URL_SAFE_NO_PAD.encode(secret);
        let now = self.0.clock.now_ms();
        let record = TokenRecord {
            v: TOKEN_RECORD_VERSION,
            id: TokenId::from_random(&random),
            channel: request.channel,
            tenant: request.tenant,
            access: request.access,
            expires_at: now + request.expires_in * 1000,
            secret_sha256: sha256_hex(secret.as_bytes()),
            revoked: false,
            created_at: now,
        };
        self.0.kv.save(&keys::token(&record.id), &record)?;
        Ok(NewToken { token: token::format(&record.id, &secret), record })
    }

    pub fn revoke_token(&self, id: &TokenId) -> Result<(), Error> {
        let key = keys::token(id);
        let stored = self.0.kv.load(&key)?;
        let mut record = stored.ok_or_else(|| token_not_found(id))?;
        // Revoking is the only change a token ever sees, so a plain write cannot undo another.
        record.revoked = true;
        self.0.kv.save(&key, &record).map_err(Error::from)
    }
}

fn token_not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found(format!("no token {id}"))
}

/// The token a path segment names; a segment not shaped like a token id is as unknown as a
/// missing token.
pub(crate) fn token_id(segment: &str) -> Result<TokenId, Error> {
    TokenId::parse(segment).ok_or_else(|| token_not_found(segment))
}
