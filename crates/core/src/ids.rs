//! Identifiers: a readable prefix plus 128 random bits, so ids can't be guessed.

/// Random bytes an id carries.
pub const ID_RANDOM_BYTES: usize = 16;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `job_` followed by 26 lowercase base32 characters of the given random bytes.
pub fn job_id(random: &[u8; ID_RANDOM_BYTES]) -> String {
    prefixed("job_", random)
}

/// `key_` followed by 26 lowercase base32 characters.
pub fn key_id(random: &[u8; ID_RANDOM_BYTES]) -> String {
    prefixed("key_", random)
}

pub fn token_id(random: &[u8; ID_RANDOM_BYTES]) -> String {
    prefixed("hkt_", random)
}

pub fn subscription_id(random: &[u8; ID_RANDOM_BYTES]) -> String {
    prefixed("sub_", random)
}

pub fn event_id(random: &[u8; ID_RANDOM_BYTES]) -> String {
    prefixed("evt_", random)
}

/// A job id determined by what it delivers (an event to a subscription), so redoing a fan-out
/// batch names the same jobs.
pub fn derived_job_id(parts: &[&str]) -> String {
    let digest = crate::digest::sha256_bytes(parts.join("\n").as_bytes());
    let mut random = [0u8; ID_RANDOM_BYTES];
    random.copy_from_slice(&digest[..ID_RANDOM_BYTES]);
    job_id(&random)
}

fn prefixed(prefix: &str, random: &[u8; ID_RANDOM_BYTES]) -> String {
    let mut value = u128::from_be_bytes(*random);
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    let mut id = String::with_capacity(prefix.len() + out.len());
    id.push_str(prefix);
    id.extend(out.iter().map(|&b| b as char));
    id
}

/// True for strings shaped like an id this module makes (cheap rejection before a store read).
pub fn is_job_id(text: &str) -> bool {
    has_shape(text, "job_")
}

pub fn is_token_id(text: &str) -> bool {
    has_shape(text, "hkt_")
}

pub fn is_subscription_id(text: &str) -> bool {
    has_shape(text, "sub_")
}

pub fn is_event_id(text: &str) -> bool {
    has_shape(text, "evt_")
}

pub fn is_key_id(text: &str) -> bool {
    has_shape(text, "key_")
}

fn has_shape(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|rest| rest.len() == 26 && rest.bytes().all(|b| ALPHABET.contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        assert_eq!(job_id(&[0; 16]), "job_00000000000000000000000000");
        assert_eq!(job_id(&[0xff; 16]), "job_7zzzzzzzzzzzzzzzzzzzzzzzzz");
        let id = job_id(&[7; 16]);
        assert!(is_job_id(&id), "{id}");
        assert!(!is_job_id("job_../../etc"));
        assert!(!is_job_id("msg_00000000000000000000000000"));
        assert!(!id.contains('.'), "Standard Webhooks ids must not contain a dot");
    }
}
