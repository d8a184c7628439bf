//! Per-object exponential backoff with jitter: a failing pipeline retries ever more slowly and
//! never in lockstep with others, while healthy pipelines are not affected.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// First retry delay.
pub const BASE: Duration = Duration::from_secs(1);
/// Longest delay.
pub const MAX: Duration = Duration::from_secs(300);

/// Delay before retry number `attempt` (1-based); `jitter` in [0, 1) spreads it over [50%, 100%]
/// (the shared [`tweetpipe_common::backoff::delay`]).
pub fn delay(attempt: u32, jitter: f64) -> Duration {
    tweetpipe_common::backoff::delay(BASE, MAX, attempt.saturating_sub(1), jitter)
}

/// Failure counts per object key (`namespace/name`).
#[derive(Debug, Default)]
pub struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    /// Records a failure and returns the attempt number.
    pub fn record(&self, key: &str) -> u32 {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = map.entry(key.to_string()).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    /// Forgets an object's failures (after a success or deletion).
    pub fn reset(&self, key: &str) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use crate::reconcile::backoff;

    #[test]
    fn backoff_grows_is_bounded_and_jittered() {
        assert_eq!(backoff::delay(1, 1.0), backoff::BASE);
        assert_eq!(backoff::delay(1, 0.0), backoff::BASE / 2);
        assert!(backoff::delay(4, 0.5) > backoff::delay(3, 0.5));
        assert_eq!(backoff::delay(40, 1.0), backoff::MAX);
        assert!(backoff::delay(40, 0.0) >= backoff::MAX / 2);
        let failures = backoff::Failures::default();
        assert_eq!(
            (
                failures.record("ns/a"),
                failures.record("ns/a"),
                failures.record("ns/b")
            ),
            (1, 2, 1)
        );
        failures.reset("ns/a");
        assert_eq!(
            failures.record("ns/a"),
            1,
            "a success resets only that object"
        );
    }
}
