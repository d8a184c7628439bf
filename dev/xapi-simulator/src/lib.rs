//! `xapi-simulator`: a faithful stand-in for X API v2 recent search
//! (`GET /2/tweets/search/recent`) and the filtered stream (`GET /2/tweets/search/stream`) for
//! tests, benchmarks and demos.
//!
//! - [`query`]: the search query language and its 512-character limit (`tweetpipe-xquery`).
//! - [`params`]: parameter validation with the real 400 shapes.
//! - [`limits`]: per-token request windows and monthly post caps.
//! - [`corpus`]: deterministic multilingual Covid-19 posts arriving over time.
//! - [`search`]: page selection and response rendering.
//! - [`stream`]: the filtered stream (`GET /2/tweets/search/stream` and its rules).
//! - [`ledger`]: every post id served (searched or streamed), per token and query, in bounded
//!   memory.
//! - [`app`]: the HTTP endpoints, fault injection and the admin API.

pub mod app;
pub mod config;
pub mod corpus;
pub mod ledger;
pub mod limits;
pub mod metrics;
#[cfg(test)]
mod operator_tests;
pub mod params;
pub mod search;
pub mod stream;

/// The query language lives in `tweetpipe-xquery`, shared with the operator's admission checks.
pub use tweetpipe_xquery as query;

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tweetpipe_common::serve::{Readiness, ops_router};

pub use app::{SimHandle, TokenStats};
pub use config::{
    Burst, FaultConfig, SimConfig, SlowResponses, StreamConfig, StreamFaults, StreamTrigger,
    TokenConfig,
};
pub use corpus::CorpusConfig;
pub use ledger::{LedgerSnapshot, QuerySnapshot, TokenSnapshot};
pub use stream::StreamStats;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// How long [`RunningSimulator::stop`] waits for open connections.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A simulator serving in a background task.
pub struct RunningSimulator {
    pub addr: SocketAddr,
    pub handle: SimHandle,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningSimulator {
    /// `http://addr`, the `api_base_url` clients use.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for in-flight requests, at most [`STOP_GRACE`]: a client that
    /// keeps a connection open must not keep the caller waiting for ever.
    pub async fn stop(mut self) {
        // Open stream connections never end on their own; end them first.
        self.handle.close_streams();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if tokio::time::timeout(STOP_GRACE, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!(grace = ?STOP_GRACE, "connections still open after the grace period; closing them");
            self.task.abort();
        }
    }
}

/// Starts a simulator on `config.listen` (use port 0 in tests).
pub async fn start(config: SimConfig) -> Result<RunningSimulator, SimError> {
    let tokens = config.resolved_tokens()?;
    let access_level = config.access_level()?;
    let corpus = corpus::Corpus::new(&config.corpus, config.seed, app::now_ms());
    let metrics = metrics::SimMetrics::default();
    let mut registry = Registry::with_prefix("xapi_sim");
    metrics.register(&mut registry);
    let (api, handle) = app::build(app::AppParts {
        corpus,
        seed: config.seed,
        tokens,
        faults: config.faults.clone(),
        metrics,
        ledger_capacity: config.ledger_capacity,
        access_level,
        stream: config.stream.clone(),
    });
    let readiness = Readiness::new();
    readiness.set(true);
    let router = api.merge(ops_router(Arc::new(registry), readiness));
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: config.listen.clone(),
        source,
    })?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "simulator server failed");
        }
    });
    tracing::info!(%addr, tokens = config.tokens.len(), seed = config.seed, "X API simulator listening");
    Ok(RunningSimulator {
        addr,
        handle,
        shutdown: Some(tx),
        task,
    })
}
