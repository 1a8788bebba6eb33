//! `POST /_hookah/verify`: a receiver posts back the `webhook-id` header it got and the exact
//! body (or, with an empty body, `?sha256=<hex>` of it) and learns whether Hookah sent it.

use super::ApiError;
use super::Reply;
use crate::encoding::form_decode;
use crate::engine::{digest_of, Hookah};
use crate::ports::{Kv, Transport};
use crate::request::Incoming;
use serde_json::json;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub(super) fn verify_route(&self, incoming: &Incoming, query: &str) -> Result<Reply, ApiError> {
        let id = incoming.header("webhook-id").unwrap_or_default().trim();
        let presented_digest = query.split('&').find_map(|pair| pair.strip_prefix("sha256="));
        let receiver = query.split('&').find_map(|pair| pair.strip_prefix("receiver="));
        let receiver = match receiver.map(|raw| form_decode(raw.as_bytes())) {
            Some(None) => return Err(ApiError::bad_request("bad_verify", "receiver is not a URL-encoded URL")),
            Some(Some(url)) => Some(url),
            None => None,
        };
        let digest = match presented_digest {
            Some(hex) if incoming.body.is_empty() => hex.to_string(),
            Some(_) => return Err(ApiError::bad_request("bad_verify", "send either the body or ?sha256=, not both")),
            None => digest_of(&incoming.body),
        };
        let verified = self.jobs().verify_delivery(id, &digest, receiver.as_deref())?;
        Ok(Reply::json(200, &json!({ "status": if verified { "VERIFIED" } else { "INVALID" } })))
    }
}
