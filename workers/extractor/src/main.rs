//! `tweetpipe-extractor` binary. Config: `EXTRACTOR_CONFIG` (JSON file); replica index:
//! `REPLICA_INDEX` or the `HOSTNAME` suffix. SIGTERM finishes the page in flight and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;
use tweetpipe_common::contract::paths::EXTRACTOR_CONFIG_ENV;
use tweetpipe_extractor::config::{
    ConfigError, ExtractorConfig, ExtractorConfigExt, replica_index,
};

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = match tweetpipe_common::telemetry::init("tweetpipe-extractor") {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("telemetry: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "extractor failed");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var_os(EXTRACTOR_CONFIG_ENV)
        .map(PathBuf::from)
        .ok_or(ConfigError::NoConfigPath)?;
    let config = ExtractorConfig::from_file(&path)?;
    let replica = replica_index(
        std::env::var("REPLICA_INDEX").ok(),
        std::env::var("HOSTNAME").ok(),
    )?;
    let cancel = CancellationToken::new();
    let running =
        tweetpipe_extractor::start_with(config, Some(path), replica, cancel.clone()).await?;
    tracing::info!(replica, ops = %running.ops_addr, "extractor started");
    let mut task = running.task;
    tokio::select! {
        () = shutdown_signal() => {
            tracing::info!("shutdown requested; finishing the page in flight");
            cancel.cancel();
            task.await??;
        }
        summary = &mut task => {
            let summary = summary??;
            tracing::info!(?summary, "extractor finished");
            // Only a lost slot-group poller ends the loop by itself: exit non-zero so the pod
            // restarts and rejoins.
            return Err("the extractor loop ended without a shutdown request".into());
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
