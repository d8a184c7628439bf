//! X's reconnect guidance for the filtered stream, one schedule per kind of failure: network
//! errors back off linearly (250 ms steps up to 16 s), HTTP errors exponentially (from 5 s up to
//! 320 s), 429s exponentially from a minute. Each wait is drawn from the upper half of the
//! schedule's value (the same "equal jitter" as [`tweetpipe_common::backoff`]), so replicas and
//! restarts never reconnect in lock step.

use std::time::Duration;

use tweetpipe_common::contract::extractor::StreamSettings;

/// Why the last connection attempt or connection ended, as X's guidance groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Cannot connect, the body ended or broke, no keep-alive in time, operational disconnect.
    Network,
    /// A non-200 answer other than 429.
    Http,
    /// 429: too many connections or connection attempts.
    RateLimited,
}

/// The linear schedule: `step·(failures+1)` capped at `max`, jittered into [50 %, 100 %].
pub fn linear(step: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    let full = step
        .saturating_mul(failures.saturating_add(1))
        .min(max.max(step));
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// The wait before reconnecting after the `failures`-th consecutive failure of `kind`
/// (0 for the first), with `jitter` in [0, 1].
pub fn delay(settings: &StreamSettings, kind: FailureKind, failures: u32, jitter: f64) -> Duration {
    let ms = Duration::from_millis;
    match kind {
        FailureKind::Network => linear(
            ms(settings.network_backoff_initial_ms),
            ms(settings.network_backoff_max_ms),
            failures,
            jitter,
        ),
        FailureKind::Http => tweetpipe_common::backoff::delay(
            ms(settings.http_backoff_initial_ms),
            ms(settings.http_backoff_max_ms),
            failures,
            jitter,
        ),
        FailureKind::RateLimited => tweetpipe_common::backoff::delay(
            ms(settings.rate_limited_backoff_initial_ms),
            ms(settings.rate_limited_backoff_max_ms),
            failures,
            jitter,
        ),
    }
}

/// Consecutive failures per kind; a connection that delivered anything resets them all.
#[derive(Debug, Clone, Default)]
pub struct ReconnectBackoff {
    network: u32,
    http: u32,
    rate_limited: u32,
}

impl ReconnectBackoff {
    /// The wait after a failure of `kind` (counted).
    pub fn next_delay(&mut self, settings: &StreamSettings, kind: FailureKind) -> Duration {
        let count = match kind {
            FailureKind::Network => &mut self.network,
            FailureKind::Http => &mut self.http,
            FailureKind::RateLimited => &mut self.rate_limited,
        };
        let wait = delay(settings, kind, *count, rand::random::<f64>());
        *count = count.saturating_add(1);
        wait
    }

    pub fn reset(&mut self) {
        *self = ReconnectBackoff::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn follows_x_guidance_per_kind() {
        let s = StreamSettings::default();
        let table = [
            // (kind, failures, jitter, expected)
            (FailureKind::Network, 0, 1.0, MS(250)),
            (FailureKind::Network, 1, 1.0, MS(500)),
            (FailureKind::Network, 3, 1.0, MS(1_000)),
            (FailureKind::Network, 63, 1.0, MS(16_000)),
            (FailureKind::Network, 500, 1.0, MS(16_000)),
            (FailureKind::Network, 0, 0.0, MS(125)),
            (FailureKind::Http, 0, 1.0, MS(5_000)),
            (FailureKind::Http, 1, 1.0, MS(10_000)),
            (FailureKind::Http, 6, 1.0, MS(320_000)),
            (FailureKind::Http, 30, 1.0, MS(320_000)),
            (FailureKind::Http, 0, 0.0, MS(2_500)),
            (FailureKind::RateLimited, 0, 1.0, MS(60_000)),
            (FailureKind::RateLimited, 2, 1.0, MS(240_000)),
            (FailureKind::RateLimited, 9, 1.0, MS(960_000)),
            (FailureKind::RateLimited, 0, 0.0, MS(30_000)),
        ];
        for (kind, failures, jitter, expected) in table {
            assert_eq!(
                delay(&s, kind, failures, jitter),
                expected,
                "{kind:?} after {failures} failures, jitter {jitter}"
            );
        }
    }

    #[test]
    fn counts_each_kind_apart_and_resets() {
        let s = StreamSettings::default();
        let mut b = ReconnectBackoff::default();
        for _ in 0..3 {
            b.next_delay(&s, FailureKind::Network);
        }
        // The first HTTP failure starts its own schedule.
        assert!(b.next_delay(&s, FailureKind::Http) <= MS(5_000));
        assert!(b.next_delay(&s, FailureKind::Network) >= MS(500));
        b.reset();
        assert!(b.next_delay(&s, FailureKind::Network) <= MS(250));
    }
}
