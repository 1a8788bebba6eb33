//! Human durations in configuration ("5s", "30m", "2h", "7d"; a bare number is seconds).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{0}` is not a duration (use a whole number with an optional s, m, h or d suffix)")]
pub struct BadDuration(pub String);

/// Parses one duration into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, BadDuration> {
    let text = text.trim();
    let bad = || BadDuration(text.to_string());
    let (digits, unit_ms) = match text.char_indices().last() {
        Some((i, 's')) => (&text[..i], 1_000),
        Some((i, 'm')) => (&text[..i], 60_000),
        Some((i, 'h')) => (&text[..i], 3_600_000),
        Some((i, 'd')) => (&text[..i], 86_400_000),
        Some(_) => (text, 1_000),
        None => return Err(bad()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let value: u64 = digits.parse().map_err(|_| bad())?;
    value.checked_mul(unit_ms).ok_or_else(bad)
}

/// Parses a comma-separated list of durations (a retry schedule).
pub fn parse_duration_list_ms(text: &str) -> Result<Vec<u64>, BadDuration> {
    text.split(',').filter(|part| !part.trim().is_empty()).map(parse_duration_ms).collect()
}

/// Writes a duration in its largest whole unit ("90s", "2m", "1d"), as [`parse_duration_ms`]
/// reads it back; a part of a second is dropped.
pub fn format_duration_ms(ms: u64) -> String {
    let seconds = ms / 1_000;
    match [(86_400, 'd'), (3_600, 'h'), (60, 'm')]
        .into_iter()
        .find(|(unit, _)| seconds > 0 && seconds.is_multiple_of(*unit))
    {
        Some((unit, suffix)) => format!("{}{suffix}", seconds / unit),
        None => format!("{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<u64>) {
        assert_eq!(parse_duration_ms(input).ok(), expected, "input {input:?}");
    }

    #[test]
    fn durations() {
        check("5s", Some(5_000));
        check("5", Some(5_000));
        check("30m", Some(1_800_000));
        check("2h", Some(7_200_000));
        check("7d", Some(604_800_000));
        check(" 0s ", Some(0));
        check("", None);
        check("s", None);
        check("-5s", None);
        check("1.5h", None);
        check("5w", None);
        check("99999999999999999999d", None);
    }

    #[test]
    fn formatted_in_the_largest_whole_unit() {
        for (ms, text) in [(0, "0s"), (1_000, "1s"), (90_000, "90s"), (120_000, "2m"), (3_600_000, "1h")] {
            assert_eq!(format_duration_ms(ms), text);
            assert_eq!(parse_duration_ms(text), Ok(ms));
        }
        assert_eq!(format_duration_ms(86_400_000), "1d");
        assert_eq!(format_duration_ms(90_000_000), "25h");
        assert_eq!(format_duration_ms(1_500), "1s");
    }

    #[test]
    fn lists() {
        assert_eq!(parse_duration_list_ms("5s, 5m,30m"), Ok(vec![5_000, 300_000, 1_800_000]));
        assert_eq!(parse_duration_list_ms(""), Ok(vec![]));
        assert!(parse_duration_list_ms("5s,x").is_err());
    }
}
