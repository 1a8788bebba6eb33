//! Tests for the signing module: known-answer vectors (`standard-webhooks.json`), then table tests
//! for keys and for the verifier. Shared fixtures live here.

mod keys;
mod proptests;
mod vectors;
mod verifier;

use super::{encode_base64, generate_ed25519_secret, generate_hmac_secret, SigningKey};

/// The receiver's clock in the verifier tables.
const NOW: i64 = 1_700_000_000;

/// Deterministic stand-ins for the random bytes an adapter would pass in.
fn hmac_key(fill: u8) -> SigningKey {
    generate_hmac_secret(&[fill; 32]).unwrap().into()
}

fn ed25519_key(fill: u8) -> SigningKey {
    generate_ed25519_secret(&[fill; 32]).into()
}

/// `whsec_` + base64 of `len` bytes, for length checks.
fn whsec_of_len(len: usize) -> String {
    format!("whsec_{}", encode_base64(&vec![7; len]))
}
