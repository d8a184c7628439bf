//! Logs and traces for every worker.
//!
//! - Logs: JSON lines on stdout via `tracing-subscriber`; the level comes from `RUST_LOG`
//!   (default `info`).
//! - Traces: OpenTelemetry through `tracing-opentelemetry`. Span ids are always generated, so
//!   trace context travels in Kafka headers even without a collector; spans are exported over
//!   OTLP/gRPC only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//! - Propagation: W3C `traceparent`/`tracestate`, injected into and extracted from Kafka
//!   record headers.

use std::collections::HashMap;

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

// Kafka header propagation needs rdkafka's header types, hence the feature.
#[cfg(feature = "kafka")]
mod kafka_headers;
#[cfg(feature = "kafka")]
pub use kafka_headers::{
    KafkaHeaderCarrier, extract_from_headers, inject_into_headers, set_parent_from_headers,
};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// Flushes and shuts the tracer provider down when dropped (at the end of `main`).
#[must_use = "dropping the guard shuts tracing down"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Best effort: nothing useful can be done with a failure at exit.
        let _ = self.provider.shutdown();
    }
}

/// Installs JSON logging and OpenTelemetry tracing for `service_name`.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name.to_string())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let otlp_endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.trim().is_empty());
    if otlp_endpoint.is_some() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer(service_name.to_string());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false),
        )
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))?;
    tracing::info!(
        service = service_name,
        otlp = otlp_endpoint.is_some(),
        "telemetry initialised"
    );
    Ok(TelemetryGuard { provider })
}

/// The W3C trace context of the current `tracing` span, as header pairs.
pub fn current_trace_headers() -> Vec<(String, String)> {
    let cx = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut MapCarrier(&mut carrier));
    let mut pairs: Vec<_> = carrier.into_iter().collect();
    pairs.sort();
    pairs
}

struct MapCarrier<'a>(&'a mut HashMap<String, String>);

impl Injector for MapCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}
