//! Exponential backoff with jitter for retries (API 5xx/timeouts/malformed answers, Kafka).

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            failures: 0,
        }
    }

    /// The retry backoff the config's tuning asks for.
    pub fn from_tuning(tuning: &tweetpipe_common::contract::extractor::Tuning) -> Self {
        Backoff::new(
            Duration::from_millis(tuning.backoff_initial_ms),
            Duration::from_millis(tuning.backoff_max_ms),
        )
    }

    /// The delay before the next attempt: `initial·2^n` capped at `max`, then a random
    /// point in its upper half ("equal jitter"), so retries never synchronise yet never
    /// come back immediately.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << self.failures.min(16));
        let capped = exp.min(self.max);
        self.failures = self.failures.saturating_add(1);
        let half = capped / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_and_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays[3] >= Duration::from_millis(400) && delays[3] <= Duration::from_millis(800));
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(1000)));
        assert!(delays[7] >= Duration::from_millis(500));
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
