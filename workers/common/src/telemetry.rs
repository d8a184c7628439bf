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

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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

/// Adds the current span's trace context (`traceparent`, `tracestate`) to Kafka headers.
pub fn inject_into_headers(headers: OwnedHeaders) -> OwnedHeaders {
    current_trace_headers()
        .into_iter()
        .fold(headers, |headers, (key, value)| {
            headers.insert(Header {
                key: &key,
                value: Some(value.as_bytes()),
            })
        })
}

/// The trace context carried by Kafka headers (an empty context when there is none).
pub fn extract_from_headers<H: Headers>(headers: &H) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&KafkaHeaderCarrier::new(headers))
}

/// Makes `span` a child of the trace carried in Kafka headers.
pub fn set_parent_from_headers<H: Headers>(span: &tracing::Span, headers: &H) {
    let cx = extract_from_headers(headers);
    // Fails only when the span is disabled; then there is nothing to link.
    let _ = span.set_parent(cx);
}

struct MapCarrier<'a>(&'a mut HashMap<String, String>);

impl Injector for MapCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

/// Read-only view of Kafka headers as an OpenTelemetry extractor.
pub struct KafkaHeaderCarrier {
    pairs: Vec<(String, String)>,
}

impl KafkaHeaderCarrier {
    pub fn new<H: Headers>(headers: &H) -> Self {
        let pairs = headers
            .iter()
            .filter_map(|h| {
                let value = std::str::from_utf8(h.value?).ok()?;
                Some((h.key.to_ascii_lowercase(), value.to_string()))
            })
            .collect();
        KafkaHeaderCarrier { pairs }
    }
}

impl Extractor for KafkaHeaderCarrier {
    fn get(&self, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        self.pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.pairs.iter().map(|(k, _)| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    #[test]
    fn trace_context_round_trips_through_kafka_headers() {
        let span_context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id"),
            SpanId::from_hex("00f067aa0ba902b7").expect("span id"),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = opentelemetry::Context::new().with_remote_span_context(span_context.clone());
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut MapCarrier(&mut carrier));
        let headers = carrier.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            })
        });
        let traceparent = headers
            .iter()
            .find(|h| h.key == crate::headers::TRACEPARENT)
            .and_then(|h| h.value)
            .expect("traceparent header");
        assert_eq!(
            traceparent,
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".as_slice()
        );
        let extracted = extract_from_headers(&headers);
        assert_eq!(
            extracted.span().span_context().trace_id(),
            span_context.trace_id()
        );
        assert_eq!(
            extracted.span().span_context().span_id(),
            span_context.span_id()
        );
    }

    #[test]
    fn missing_headers_give_an_empty_context() {
        let cx = extract_from_headers(&OwnedHeaders::new());
        assert!(!cx.span().span_context().is_valid());
    }
}
