//! A store that another connection holds locked answers "busy", and a short wait fixes it.
//!
//! Under `spin up` the cron trigger runs as a process of its own with its own connection to the
//! SQLite file. SQLite waits for a lock (rusqlite's 5 s busy timeout) except where waiting could
//! deadlock: a transaction that read before it writes, as Spin's `increment` does, gets
//! `SQLITE_BUSY` at once. Nothing of such a call was written (the transaction rolled back), so
//! the adapters try it again after short pauses, a little over a second in all, before the
//! error reaches the core (and a `503` the app). The pauses are data; the pause itself is the
//! adapter's, so the core stays free of clocks.

use crate::ports::KvError;

/// The pauses between tries, in milliseconds.
pub const BUSY_PAUSES_MS: &[u64] = &[2, 5, 10, 20, 40, 80, 160, 320, 640];

impl KvError {
    /// Whether the store refused the call because another connection held it locked (Spin's
    /// SQLite store reports rusqlite's `DatabaseBusy`, "database is locked").
    pub fn is_busy(&self) -> bool {
        self.0.contains("DatabaseBusy") || self.0.contains("database is locked")
    }
}

/// Runs `op`, and again after each of [`BUSY_PAUSES_MS`] (through `pause`) while the store is
/// busy; any other answer is final.
pub fn retry_busy<T>(mut pause: impl FnMut(u64), mut op: impl FnMut() -> Result<T, KvError>) -> Result<T, KvError> {
    for &ms in BUSY_PAUSES_MS {
        match op() {
            Err(error) if error.is_busy() => pause(ms),
            done => return done,
        }
    }
    op()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUSY: &str = "SqliteFailure(Error { code: DatabaseBusy, extended_code: 5 }, Some(\"database is locked\"))";

    /// Runs an op that is busy `busy` times and then answers `last`; returns its answer and the
    /// pauses taken.
    fn check(busy: usize, last: Result<u8, &str>) -> (Result<u8, KvError>, Vec<u64>) {
        let mut calls = 0;
        let mut pauses = Vec::new();
        let result = retry_busy(
            |ms| pauses.push(ms),
            || {
                calls += 1;
                if calls <= busy {
                    return Err(KvError(BUSY.into()));
                }
                last.map_err(|e| KvError(e.into()))
            },
        );
        (result, pauses)
    }

    #[test]
    fn a_busy_store_is_tried_again_after_growing_pauses_and_other_answers_are_final() {
        assert_eq!(check(0, Ok(7)), (Ok(7), vec![]));
        assert_eq!(check(2, Ok(7)), (Ok(7), vec![2, 5]));
        assert_eq!(check(1, Err("no such table")), (Err(KvError("no such table".into())), vec![2]));
        let all: Vec<u64> = BUSY_PAUSES_MS.to_vec();
        assert_eq!(check(BUSY_PAUSES_MS.len(), Ok(1)), (Ok(1), all.clone()));
        let (result, pauses) = check(BUSY_PAUSES_MS.len() + 1, Ok(1));
        assert!(result.unwrap_err().is_busy());
        assert_eq!(pauses, all);
        assert!(BUSY_PAUSES_MS.iter().sum::<u64>() < 1_500, "a request's budget is not spent waiting");
    }
}
