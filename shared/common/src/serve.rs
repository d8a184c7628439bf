//! The ops HTTP server every worker runs: `/metrics` (Prometheus text), `/healthz` (the process
//! serves requests) and `/readyz` (the worker is ready for work, e.g. connected to Kafka).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A shared readiness flag; `/readyz` answers 200 while it is set, 503 otherwise.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct OpsState {
    registry: Arc<Registry>,
    readiness: Readiness,
}

/// The routes of the ops server, for embedding in another axum app.
pub fn ops_router(registry: Arc<Registry>, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(OpsState {
            registry,
            readiness,
        })
}

/// Binds `addr` and serves the ops routes in a background task. Returns the bound address
/// (useful with port 0) and the task.
pub async fn spawn_ops_server(
    addr: SocketAddr,
    registry: Arc<Registry>,
    readiness: Readiness,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = ops_router(registry, readiness);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "ops server stopped");
        }
    });
    Ok((bound, task))
}

async fn metrics(State(state): State<OpsState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("encoding metrics failed: {e}"),
        ),
    }
}

async fn ready(State(state): State<OpsState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[tokio::test]
    async fn serves_metrics_health_and_readiness() {
        let mut registry = Registry::with_prefix("test");
        let counter: Counter = Counter::default();
        registry.register("things", "Things done", counter.clone());
        counter.inc_by(3);
        let readiness = Readiness::new();
        let (addr, task) = spawn_ops_server(
            "127.0.0.1:0".parse().expect("addr"),
            Arc::new(registry),
            readiness.clone(),
        )
        .await
        .expect("bind");
        let base = format!("http://{addr}");
        let get = |path: &'static str| {
            let url = format!("{base}{path}");
            async move {
                // Bounded: a stalled server fails the test instead of hanging it.
                let r = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .expect("client")
                    .get(url)
                    .send()
                    .await
                    .expect("request");
                (r.status().as_u16(), r.text().await.expect("body"))
            }
        };
        assert_eq!(get("/healthz").await.0, 200);
        assert_eq!(get("/readyz").await.0, 503);
        readiness.set(true);
        assert_eq!(get("/readyz").await.0, 200);
        let (status, body) = get("/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("test_things_total 3"), "{body}");
        task.abort();
    }
}
