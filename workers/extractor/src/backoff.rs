//! The extractor's retry backoff (API 5xx, timeouts, malformed answers, Kafka): the shared one
//! of `tweetpipe_common`, tuned by the config.

use std::time::Duration;

pub use tweetpipe_common::backoff::Backoff;

/// The retry backoff the config's tuning asks for.
pub fn from_tuning(tuning: &tweetpipe_common::contract::extractor::Tuning) -> Backoff {
    Backoff::new(
        Duration::from_millis(tuning.backoff_initial_ms),
        Duration::from_millis(tuning.backoff_max_ms),
    )
}
