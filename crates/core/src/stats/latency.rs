//! Accept-to-first-attempt latency as a fixed histogram: cheap to keep in one record, and what a
//! Prometheus histogram wants.

/// Upper bounds of the buckets, in milliseconds; one more bucket takes the rest.
pub const BOUNDS_MS: &[u64] = &[10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 3_600_000];

/// The bucket a latency falls in.
pub fn bucket(ms: u64) -> usize {
    BOUNDS_MS.iter().position(|&bound| ms <= bound).unwrap_or(BOUNDS_MS.len())
}

/// The upper bound of the bucket that holds the `q` quantile (0..=1), in milliseconds; `None`
/// for an empty histogram or when the quantile lies past the last bound.
pub fn quantile_ms(counts: &[u64], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return BOUNDS_MS.get(i).copied();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_quantiles() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(10), 0);
        assert_eq!(bucket(11), 1);
        assert_eq!(bucket(u64::MAX), BOUNDS_MS.len());
        let mut counts = vec![0; BOUNDS_MS.len() + 1];
        assert_eq!(quantile_ms(&counts, 0.5), None);
        counts[bucket(30)] = 90;
        counts[bucket(4_000)] = 10;
        assert_eq!(quantile_ms(&counts, 0.5), Some(50));
        assert_eq!(quantile_ms(&counts, 0.9), Some(50));
        assert_eq!(quantile_ms(&counts, 0.95), Some(5_000));
        counts[BOUNDS_MS.len()] = 1_000;
        assert_eq!(quantile_ms(&counts, 0.99), None);
    }
}
