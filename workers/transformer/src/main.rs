//! `tweetpipe-transformer`: consumes Avro posts and upserts them into MySQL.
//!
//! Configuration: the JSON file named by `TRANSFORMER_CONFIG` (see `config.rs` and
//! docs/transformer.md). Extra librdkafka consumer properties may be given as
//! `TRANSFORMER_KAFKA_<property with dots as underscores>` (e.g. `TRANSFORMER_KAFKA_SESSION_TIMEOUT_MS`).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::serve::{Readiness, spawn_ops_server};
use tweetpipe_transformer::config::{TransformerConfig, TransformerConfigExt};
use tweetpipe_transformer::metrics::Metrics;
use tweetpipe_transformer::pipeline::Pipeline;
use tweetpipe_transformer::retry::Backoff;
use tweetpipe_transformer::{db, store::Store};

const KAFKA_OVERRIDE_PREFIX: &str = "TRANSFORMER_KAFKA_";

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = match tweetpipe_common::telemetry::init("tweetpipe-transformer") {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("tweetpipe-transformer: telemetry: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "tweetpipe-transformer failed");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = TransformerConfig::load_from_env()?;
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let readiness = Readiness::new();
    let (ops_addr, _ops) =
        spawn_ops_server(config.ops_addr, Arc::new(registry), readiness.clone()).await?;
    tracing::info!(%ops_addr, "ops server listening");

    let shutdown = CancellationToken::new();
    let abandon = CancellationToken::new();
    spawn_signal_handler(shutdown.clone(), abandon.clone(), config.shutdown_grace());

    let pool = db::connect_lazy_with(&config.mysql_url()?, &config.mysql)?;
    wait_for_schema(&pool, &config, &shutdown).await;
    wait_for_kafka(&config, &shutdown).await?;
    if shutdown.is_cancelled() {
        return Ok(());
    }
    let overrides = kafka_overrides_from_env();
    let pipeline = Pipeline::new(
        config,
        Store::new(pool.clone()),
        metrics,
        readiness,
        &overrides,
    )?;
    pipeline.run(shutdown, abandon).await?;
    pool.close().await;
    Ok(())
}

/// Waits (not ready) until the operator has applied the migrations this build needs. The
/// check only reads `_sqlx_migrations`, so the writer account (no DDL) suffices.
async fn wait_for_schema(
    pool: &sqlx::MySqlPool,
    config: &TransformerConfig,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), config.max_backoff());
    loop {
        match tweetpipe_schema::check_migrated(pool).await {
            Ok(()) => return,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "waiting for the MySQL schema");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Waits (not ready) until the brokers answer with this config's settings, logging why not
/// (`kind`: a refused password, an untrusted certificate, an unknown host, or no answer), so a
/// misconfiguration reads as such instead of as a consumer that silently gets nothing.
async fn wait_for_kafka(
    config: &TransformerConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let client = tweetpipe_common::kafka::client_config(&config.kafka)?;
    let mut backoff = Backoff::new(Duration::from_millis(500), config.max_backoff());
    loop {
        let check = client.clone();
        let checked = tokio::task::spawn_blocking(move || {
            tweetpipe_common::kafka_connection::check_connection(&check, KAFKA_CHECK_TIMEOUT)
        })
        .await?;
        match checked {
            Ok(_) => return Ok(()),
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(kind = e.kind(), error = %e, retry_in_ms = delay.as_millis() as u64, "Kafka not ready");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return Ok(()),
                }
            }
        }
    }
}

/// Bound of one start-up connection check.
const KAFKA_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// SIGTERM/SIGINT: stop consuming and finish the open batch; after the grace period,
/// abandon it (uncommitted, so nothing is lost).
fn spawn_signal_handler(shutdown: CancellationToken, abandon: CancellationToken, grace: Duration) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(grace_ms = grace.as_millis() as u64, "shutdown requested");
        shutdown.cancel();
        tokio::time::sleep(grace).await;
        abandon.cancel();
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the transformer");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn kafka_overrides_from_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter_map(|(key, value)| {
            let property = key.strip_prefix(KAFKA_OVERRIDE_PREFIX)?;
            Some((property.to_ascii_lowercase().replace('_', "."), value))
        })
        .collect()
}
