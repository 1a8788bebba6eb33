//! An independent Standard Webhooks v1 check, written here rather than taken from the core.

use super::receiver::Recorded;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signatures in a `webhook-signature` header that verify with `secret` (Standard Webhooks
/// v1: base64 HMAC-SHA256 over `id.timestamp.body`, key = base64 after `whsec_`).
pub fn hmac_matches(request: &Recorded, secret: &str) -> usize {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let content = format!(
        "{}.{}.{}",
        request.header("webhook-id").unwrap(),
        request.header("webhook-timestamp").unwrap(),
        String::from_utf8_lossy(&request.body)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(content.as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    request.header("webhook-signature").unwrap_or_default().split(' ').filter(|s| *s == expected).count()
}
