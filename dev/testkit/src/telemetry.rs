//! The workers' telemetry (JSON logs, trace ids for Kafka headers) in a test binary.

use std::sync::Once;

/// Installs `tweetpipe_common::telemetry` once per test binary under `service`.
pub fn install(service: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(guard) = tweetpipe_common::telemetry::init(service) {
            // Lives for the whole test binary.
            std::mem::forget(guard);
        }
    });
}
