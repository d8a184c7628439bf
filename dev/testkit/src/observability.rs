//! Prometheus (its HTTP API) and the OpenTelemetry Collector's file export, for tests that check
//! what the platform's observability sees. Addresses come from
//! [`Platform::require_observability`](crate::Platform::require_observability).

use std::collections::HashMap;
use std::path::Path;

/// One sample of an instant query's vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: HashMap<String, String>,
    pub value: f64,
}

/// Runs an instant query through Prometheus' HTTP API (`/api/v1/query`). Panics on a transport
/// error or an error answer (a test's query is expected to be valid); an empty vector is a
/// valid answer.
pub async fn query(prometheus_url: &str, promql: &str) -> Vec<Sample> {
    let not_json = format!("Prometheus answered {promql} with a non-JSON body");
    let answer = get_json(prometheus_url, "query", ("query", promql), &not_json).await;
    assert_eq!(
        answer["status"], "success",
        "Prometheus refused {promql}: {answer}"
    );
    parse_vector(&answer["data"])
}

/// GET `/api/v1/{endpoint}?{parameter}` from Prometheus, as JSON. Panics when it cannot be
/// reached, or with `not_json` when the answer is not JSON.
async fn get_json(
    prometheus_url: &str,
    endpoint: &str,
    parameter: (&str, &str),
    not_json: &str,
) -> serde_json::Value {
    let url = format!("{}/api/v1/{endpoint}", prometheus_url.trim_end_matches('/'));
    reqwest::Client::new()
        .get(&url)
        .query(&[parameter])
        .send()
        .await
        .unwrap_or_else(|e| panic!("Prometheus at {url} unreachable: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{not_json}: {e}"))
}

/// The string labels of a series or target (`metric`, `labels`); `None` when it has none.
fn string_labels(labels: &serde_json::Value) -> Option<HashMap<String, String>> {
    let labels = labels
        .as_object()?
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    Some(labels)
}

/// The samples of a `resultType: vector` answer's `data`.
pub fn parse_vector(data: &serde_json::Value) -> Vec<Sample> {
    data["result"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter_map(|r| {
                    let labels = string_labels(&r["metric"])?;
                    let value = r["value"][1].as_str()?.parse().ok()?;
                    Some(Sample { labels, value })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Prometheus' scrape targets (`/api/v1/targets`, active ones): each target's labels and
/// health (`up`, `down`, `unknown`).
pub async fn active_targets(prometheus_url: &str) -> Vec<(HashMap<String, String>, String)> {
    let not_json = "Prometheus' targets answer is not JSON";
    let answer = get_json(prometheus_url, "targets", ("state", "active"), not_json).await;
    answer["data"]["activeTargets"]
        .as_array()
        .map(|targets| {
            targets
                .iter()
                .filter_map(|t| {
                    Some((
                        string_labels(&t["labels"])?,
                        t["health"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A span as the collector's file exporter wrote it (OTLP JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedSpan {
    /// The `service.name` resource attribute.
    pub service: String,
    pub name: String,
    /// Lowercase hex, as OTLP JSON writes them.
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// The trace ids this span links to.
    pub linked_trace_ids: Vec<String>,
}

/// Every span of every line (one OTLP `TracesData` per line) of the collector's file export.
/// A missing file reads as no spans (nothing exported yet); an unparsable line is skipped
/// (the exporter may be writing it).
pub fn exported_spans(traces_file: &Path) -> Vec<ExportedSpan> {
    let text = std::fs::read_to_string(traces_file).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .flat_map(|data| spans_of(&data))
        .collect()
}

/// The spans of one OTLP JSON `TracesData`.
pub fn spans_of(data: &serde_json::Value) -> Vec<ExportedSpan> {
    let mut spans = Vec::new();
    for resource_spans in data["resourceSpans"].as_array().into_iter().flatten() {
        let service = resource_spans["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == "service.name")
            .and_then(|a| a["value"]["stringValue"].as_str())
            .unwrap_or_default()
            .to_string();
        for scope_spans in resource_spans["scopeSpans"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for span in scope_spans["spans"].as_array().into_iter().flatten() {
                let text = |key: &str| span[key].as_str().unwrap_or_default().to_lowercase();
                spans.push(ExportedSpan {
                    service: service.clone(),
                    name: text("name"),
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent_span_id: text("parentSpanId"),
                    linked_trace_ids: span["links"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|l| Some(l["traceId"].as_str()?.to_lowercase()))
                        .collect(),
                });
            }
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_json_spans_are_read_with_their_service() {
        let data = serde_json::json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "tweetpipe-extractor"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": "4BF92F3577B34DA6A3CE929D0E0E4736", "spanId": "00f067aa0ba902b7",
                "parentSpanId": "", "name": "poll",
                "links": [{"traceId": "aaaa", "spanId": "bbbb"}]
            }]}]
        }]});
        assert_eq!(
            spans_of(&data),
            vec![ExportedSpan {
                service: "tweetpipe-extractor".into(),
                name: "poll".into(),
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                span_id: "00f067aa0ba902b7".into(),
                parent_span_id: String::new(),
                linked_trace_ids: vec!["aaaa".into()],
            }]
        );
    }

    #[test]
    fn a_vector_answer_gives_labels_and_values() {
        let data = serde_json::json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "pod": "p"}, "value": [1764555555.1, "1"]}
        ]});
        let samples = parse_vector(&data);
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].labels["pod"], "p");
        assert_eq!(samples[0].value, 1.0);
    }
}
