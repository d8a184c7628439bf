//! The MySQL connection pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

/// A pool that connects on first use, so a transformer starts (and reports not-ready)
/// while MySQL is still down. Sessions use UTC and utf8mb4.
pub fn connect_lazy(url: &str, size: u32) -> Result<MySqlPool, sqlx::Error> {
    let options = MySqlConnectOptions::from_str(url)?
        .charset("utf8mb4")
        .timezone(Some("+00:00".to_owned()));
    Ok(MySqlPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        // Fail fast when MySQL is down: the writer's backoff decides when to try again.
        .acquire_timeout(Duration::from_secs(5))
        // No ping per batch: a dead connection fails the batch, which is retried as transient.
        .test_before_acquire(false)
        .connect_lazy_with(options))
}
