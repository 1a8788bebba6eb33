//! What a content distribution carries besides the body (WebSub §7): the `X-Hub-Signature` for
//! subscriptions made with a secret, and the `Link` header naming hub and topic.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries [`x_hub_signature`].
pub const X_HUB_SIGNATURE: &str = "X-Hub-Signature";

/// `sha256=<lowercase hex HMAC-SHA256 of the body, keyed with hub.secret>` (§7.1). Not `sha1`,
/// which §7.1.1 notes most hubs still send: §8.3 asks for at least SHA-256, and a subscriber
/// reads the method from the header.
pub fn x_hub_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The `Link` header of a distribution: §7 requires `rel="hub"` and `rel="self"` and says the
/// hub SHOULD combine them into one header. The URLs are trusted to hold no `>` (the request
/// parser refuses them).
pub fn link_header(hub_url: &str, topic: &str) -> String {
    format!("<{hub_url}>; rel=\"hub\", <{topic}>; rel=\"self\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers from Python: `hmac.new(secret, body, hashlib.sha256).hexdigest()`.
    #[test]
    fn signs() {
        fn check(secret: &str, body: &[u8], expected: &str) {
            assert_eq!(x_hub_signature(secret, body), expected, "{secret:?} {body:?}");
        }
        check(
            "topsecret",
            b"<feed>hello</feed>",
            "sha256=c62a3bbfafe2564c3f69c9396621f1ba2e6845c60297ac0d28678a7e4f8ad6d9",
        );
        check("", b"", "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    }

    #[test]
    fn links() {
        assert_eq!(
            link_header("https://hub.example/", "https://pub.example/feed"),
            "<https://hub.example/>; rel=\"hub\", <https://pub.example/feed>; rel=\"self\""
        );
    }
}
