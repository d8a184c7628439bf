//! The MySQL connection pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlSslMode};
use tweetpipe_common::contract::transformer::MysqlSettings;

/// A pool that connects on first use, so a transformer starts (and reports not-ready)
/// while MySQL is still down. Sessions use UTC and utf8mb4.
pub fn connect_lazy(url: &str, size: u32) -> Result<MySqlPool, sqlx::Error> {
    Ok(pool(session_options(url)?, size))
}

/// [`connect_lazy`] with the config's `mysql` block: its TLS mode and CA file override the
/// URL's `ssl-mode` and `ssl-ca`. A mode other than the ones sqlx knows is refused.
pub fn connect_lazy_with(url: &str, settings: &MysqlSettings) -> Result<MySqlPool, sqlx::Error> {
    Ok(pool(
        with_tls(session_options(url)?, settings)?,
        settings.pool_size,
    ))
}

fn session_options(url: &str) -> Result<MySqlConnectOptions, sqlx::Error> {
    Ok(MySqlConnectOptions::from_str(url)?
        .charset("utf8mb4")
        .timezone(Some("+00:00".to_owned())))
}

fn with_tls(
    mut options: MySqlConnectOptions,
    settings: &MysqlSettings,
) -> Result<MySqlConnectOptions, sqlx::Error> {
    if let Some(mode) = &settings.ssl_mode {
        options = options.ssl_mode(MySqlSslMode::from_str(mode)?);
    }
    if let Some(ca) = &settings.ssl_ca_file {
        options = options.ssl_ca(ca);
    }
    Ok(options)
}

fn pool(options: MySqlConnectOptions, size: u32) -> MySqlPool {
    MySqlPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        // Fail fast when MySQL is down: the writer's backoff decides when to try again.
        .acquire_timeout(Duration::from_secs(5))
        // No ping per batch: a dead connection fails the batch, which is retried as transient.
        .test_before_acquire(false)
        .connect_lazy_with(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_tls_settings_override_the_url() {
        let settings = MysqlSettings {
            ssl_mode: Some("VERIFY_CA".into()),
            ssl_ca_file: Some("/var/run/secrets/tweetpipe/mysql-ca/ca.crt".into()),
            ..MysqlSettings::new("/unused")
        };
        let options = with_tls(
            session_options("mysql://u:p@db/tweets?ssl-mode=DISABLED")
                .unwrap_or_else(|e| panic!("{e}")),
            &settings,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(options.get_ssl_mode(), MySqlSslMode::VerifyCa));
    }

    #[test]
    fn an_unknown_mode_is_refused() {
        let settings = MysqlSettings {
            ssl_mode: Some("SOMETIMES".into()),
            ..MysqlSettings::new("/unused")
        };
        assert!(
            with_tls(
                session_options("mysql://u:p@db/tweets").unwrap_or_else(|e| panic!("{e}")),
                &settings
            )
            .is_err()
        );
    }
}
