//! The formats numbers take in the store.

/// A number Hookah `set`s itself (never one that is incremented): ASCII decimal.
pub fn encode_number(value: u64) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// Reads a counter or a number in whichever format the backend or Hookah wrote it: Spin's
/// SQLite store keeps `increment`ed values as 8-byte little-endian, its Redis store as ASCII
/// decimal, and Hookah writes numbers as decimal. The two cannot be confused: an 8-byte
/// little-endian counter below 2^48 has zero high bytes, never ASCII digits. Missing,
/// negative or unreadable is 0.
pub fn decode_counter(bytes: Option<&[u8]>) -> u64 {
    let Some(bytes) = bytes else { return 0 };
    let decimal = !bytes.is_empty() && bytes.len() <= 20 && bytes.iter().all(|b| b.is_ascii_digit() || *b == b'-');
    if decimal {
        return std::str::from_utf8(bytes).ok().and_then(|text| text.parse::<i64>().ok()).unwrap_or(0).max(0) as u64;
    }
    <[u8; 8]>::try_from(bytes).map(|b| i64::from_le_bytes(b).max(0) as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_in_every_backend_format() {
        let check = |bytes: Option<&[u8]>, expected: u64| assert_eq!(decode_counter(bytes), expected, "{bytes:?}");
        // Spin's SQLite store: 8-byte little-endian.
        check(Some(&42i64.to_le_bytes()), 42);
        check(Some(&12_345_678i64.to_le_bytes()), 12_345_678);
        check(Some(&(-3i64).to_le_bytes()), 0);
        // Spin's Redis store: ASCII decimal, any length, eight digits included.
        check(Some(b"790"), 790);
        check(Some(b"12345678"), 12_345_678);
        check(Some(b"-4"), 0);
        // What Hookah sets itself.
        check(Some(&encode_number(1_700_000_000_000)), 1_700_000_000_000);
        check(None, 0);
        check(Some(b"junk"), 0);
        check(Some(b""), 0);
    }
}
