//! W3C trace context in Kafka record headers.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::current_trace_headers;

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
    use std::collections::HashMap;

    use super::super::MapCarrier;
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
