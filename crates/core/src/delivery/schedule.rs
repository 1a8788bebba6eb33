//! When the next attempt happens: the configured schedule, ±20 % jitter, and a bounded `Retry-After`.

use crate::config::Config;

/// Jitter as parts per million of the scheduled delay: ±20 %.
const JITTER_PPM: u64 = 200_000;

/// The scheduled delay after `attempts_made` attempts, jittered by `random` (any u32, uniform).
/// `None` when the schedule is exhausted.
pub fn scheduled_delay_ms(schedule: &[u64], attempts_made: u32, random: u32) -> Option<u64> {
    let base = *schedule.get(attempts_made.checked_sub(1)? as usize)?;
    let spread = 2 * JITTER_PPM + 1;
    let factor_ppm = 1_000_000 - JITTER_PPM + (random as u64 % spread);
    Some((base as u128 * factor_ppm as u128 / 1_000_000) as u64)
}

/// The delay a `Retry-After` value asks for: delta-seconds or an HTTP date.
pub fn parse_retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(|secs| secs.saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(at_ms.saturating_sub(now_ms))
}

/// When the next attempt is due after `attempts_made` attempts, or `None` when the schedule (or
/// the job's own attempt budget) is used up. `Retry-After` may push the attempt later than the
/// schedule, up to `retry_after_max`, never earlier.
pub fn next_attempt_at(
    config: &Config,
    attempts_made: u32,
    max_attempts: u32,
    now_ms: u64,
    retry_after: Option<&str>,
    random: u32,
) -> Option<u64> {
    if attempts_made >= max_attempts {
        return None;
    }
    // A job allowed more attempts than the schedule lists repeats its last delay.
    let index = attempts_made.min(config.retry_schedule_ms.len() as u32);
    let scheduled = scheduled_delay_ms(&config.retry_schedule_ms, index, random)?;
    let requested = retry_after.and_then(|value| parse_retry_after_ms(value, now_ms)).unwrap_or(0);
    let delay = scheduled.max(requested.min(config.retry_after_max_ms));
    Some(now_ms.saturating_add(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn default_schedule_without_jitter() {
        let config = Config::default();
        let middle = JITTER_PPM as u32; // random = JITTER_PPM lands exactly on the base delay
        let delays: Vec<u64> =
            (1..=9).map(|n| scheduled_delay_ms(&config.retry_schedule_ms, n, middle).unwrap()).collect();
        assert_eq!(delays, [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400].map(|s| s * 1000));
        assert_eq!(scheduled_delay_ms(&config.retry_schedule_ms, 10, middle), None);
        assert_eq!(scheduled_delay_ms(&config.retry_schedule_ms, 0, middle), None);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        // A seeded linear congruential sequence stands in for the adapter's random source.
        let mut seed: u32 = 0x1234_5678;
        let (mut low, mut high) = (u64::MAX, 0);
        for _ in 0..10_000 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let delay = scheduled_delay_ms(&[10_000], 1, seed).unwrap();
            low = low.min(delay);
            high = high.max(delay);
        }
        assert!(low >= 8_000 && high <= 12_000, "{low}..{high}");
        assert!(low < 8_100 && high > 11_900, "jitter should use its whole range: {low}..{high}");
        assert_eq!(scheduled_delay_ms(&[10_000], 1, 0), Some(8_000));
        assert_eq!(scheduled_delay_ms(&[10_000], 1, 2 * JITTER_PPM as u32), Some(12_000));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after_ms("120", NOW), Some(120_000));
        assert_eq!(parse_retry_after_ms(" 0 ", NOW), Some(0));
        // 2023-11-14T22:13:20Z is NOW; one hour later:
        assert_eq!(parse_retry_after_ms("Tue, 14 Nov 2023 23:13:20 GMT", NOW), Some(3_600_000));
        assert_eq!(parse_retry_after_ms("Tue, 14 Nov 2023 21:13:20 GMT", NOW), Some(0));
        assert_eq!(parse_retry_after_ms("soon", NOW), None);
        assert_eq!(parse_retry_after_ms("-5", NOW), None);
    }

    #[test]
    fn retry_after_is_bounded_both_ways() {
        let config = Config { retry_after_max_ms: 600_000, ..Config::default() };
        let middle = JITTER_PPM as u32;
        let check = |retry_after: Option<&str>, expected_delay: u64| {
            let at = next_attempt_at(&config, 1, 10, NOW, retry_after, middle).unwrap();
            assert_eq!(at - NOW, expected_delay, "retry-after {retry_after:?}");
        };
        check(None, 5_000);
        check(Some("1"), 5_000); // never sooner than the schedule
        check(Some("60"), 60_000);
        check(Some("86400"), 600_000); // never later than the cap
        check(Some("garbage"), 5_000);
    }

    #[test]
    fn budget() {
        let config = Config::default();
        assert_eq!(next_attempt_at(&config, 3, 3, NOW, None, 0), None);
        assert!(next_attempt_at(&config, 9, 10, NOW, None, 0).is_some());
        assert_eq!(next_attempt_at(&config, 10, 10, NOW, None, 0), None);
        // More attempts than the schedule has delays: the last delay repeats.
        let at = next_attempt_at(&config, 12, 20, NOW, None, JITTER_PPM as u32).unwrap();
        assert_eq!(at - NOW, 86_400_000);
    }
}
