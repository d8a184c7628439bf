//! `xapi-simulator` binary: see the crate docs and docs/simulator.md.

use anyhow::Context;
use xapi_simulator::{SimConfig, start};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = tweetpipe_common::telemetry::init("xapi-simulator")?;
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "xapi-simulator [--config FILE]\n\nEnv: XAPI_SIM_CONFIG, XAPI_SIM_LISTEN, XAPI_SIM_PORT, XAPI_SIM_SEED,\n     XAPI_SIM_POSTS_PER_SECOND, XAPI_SIM_BACKFILL_POSTS, XAPI_SIM_MAX_POSTS,\n     XAPI_SIM_LEDGER_CAPACITY, XAPI_SIM_STREAM_KEEPALIVE_MS, XAPI_SIM_ACCESS_LEVEL,\n     XAPI_SIM_TOKENS=name:token:requests/window_seconds:monthly_cap[,...]\nSee docs/simulator.md."
        );
        return Ok(());
    }
    let config = SimConfig::load(&args, |k| std::env::var(k).ok()).context("configuration")?;
    let running = start(config).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
