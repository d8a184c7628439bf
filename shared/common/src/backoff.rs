//! The one backoff with jitter every retry of tweetpipe uses (operator, extractor, transformer):
//! doubling from an initial delay up to a cap, each wait drawn from the upper half of that
//! ("equal jitter"), so retries never come back in lock step and never immediately.

use std::time::Duration;

/// The wait after `failures` earlier failures (0 for the first retry): `initial·2^failures`
/// capped at `max`, scaled into [50 %, 100 %] by `jitter` in [0, 1]. Pure, for tables of
/// delays; [`Backoff`] draws the jitter.
pub fn delay(initial: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    let full = initial
        .saturating_mul(1_u32 << failures.min(20))
        .min(max.max(initial));
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A retry loop's backoff: [`delay`] with a counter and random jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// Doubling from `initial` up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            failures: 0,
        }
    }

    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let wait = delay(self.initial, self.max, self.failures, rand::random::<f64>());
        self.failures = self.failures.saturating_add(1);
        wait
    }

    /// Back to `initial` after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn doubles_to_the_cap_within_the_upper_half() {
        let table = [
            // (failures, jitter, expected)
            (0, 0.0, MS(50)),
            (0, 1.0, MS(100)),
            (3, 0.0, MS(400)),
            (3, 1.0, MS(800)),
            (4, 1.0, MS(1_000)),
            (40, 0.0, MS(500)),
            (40, 7.0, MS(1_000)),
        ];
        for (failures, jitter, expected) in table {
            assert_eq!(
                delay(MS(100), MS(1_000), failures, jitter),
                expected,
                "{failures} failures, jitter {jitter}"
            );
        }
        assert_eq!(
            delay(MS(100), MS(10), 0, 1.0),
            MS(100),
            "a cap below the start"
        );
    }

    #[test]
    fn a_backoff_grows_stays_in_bounds_and_resets() {
        let mut b = Backoff::new(MS(100), MS(1_000));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= MS(50) && delays[0] <= MS(100), "{delays:?}");
        assert!(delays[3] >= MS(400) && delays[3] <= MS(800), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= MS(1_000)), "{delays:?}");
        assert!(delays[7] >= MS(500), "{delays:?}");
        assert_eq!(b.failures(), 8);
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(b.next_delay() <= MS(100));
    }
}
