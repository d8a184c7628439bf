//! Freshness: how long from the API serving a post (the extractor's receive time, in the
//! `tweetpipe-received-at` header) until the post is queryable (the MySQL commit that stored
//! it). Observed per record right after its sub-batch's commit, labelled by pipeline and query.

use rdkafka::message::{Headers, Message, OwnedMessage};
use tweetpipe_common::headers;

use crate::metrics::FreshnessLabels;

/// The labels of a pipeline's freshness series, from its `namespace/name`.
pub fn pipeline_labels(pipeline: &str) -> (String, String) {
    match pipeline.split_once('/') {
        Some((namespace, name)) => (namespace.to_string(), name.to_string()),
        None => (String::new(), pipeline.to_string()),
    }
}

/// Seconds from `received_at_ms` to `committed_at_ms`; never negative (the extractor's node
/// clock may run ahead of the transformer's by a little).
pub fn freshness_seconds(received_at_ms: i64, committed_at_ms: i64) -> f64 {
    (committed_at_ms.saturating_sub(received_at_ms)).max(0) as f64 / 1000.0
}

/// The value of header `key` of `message`, if present.
fn header<'a>(message: &'a OwnedMessage, key: &str) -> Option<&'a [u8]> {
    message
        .headers()?
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case(key))
        .and_then(|h| h.value)
}

/// The labels and receive time of a record; `None` for a record without a receive time (an
/// older extractor's), which is then not measured.
pub fn observation(
    message: &OwnedMessage,
    namespace: &str,
    pipeline: &str,
) -> Option<(FreshnessLabels, i64)> {
    let received_at = headers::decode_received_at(header(message, headers::RECEIVED_AT)?)?;
    let query = header(message, headers::QUERY)
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or_default();
    Some((
        FreshnessLabels {
            namespace: namespace.to_string(),
            pipeline: pipeline.to_string(),
            query: query.to_string(),
        },
        received_at,
    ))
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders};

    use super::*;

    fn record(headers: OwnedHeaders) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"v".to_vec()),
            Some(b"k".to_vec()),
            "posts".into(),
            Timestamp::NotAvailable,
            0,
            7,
            Some(headers),
        )
    }

    #[test]
    fn freshness_is_commit_minus_receive_and_never_negative() {
        assert_eq!(freshness_seconds(1_000, 3_500), 2.5);
        assert_eq!(freshness_seconds(5_000, 4_990), 0.0);
    }

    #[test]
    fn pipeline_labels_split_namespace_and_name() {
        assert_eq!(
            pipeline_labels("news/elections"),
            ("news".to_string(), "elections".to_string())
        );
        assert_eq!(pipeline_labels("solo"), (String::new(), "solo".to_string()));
    }

    #[test]
    fn a_record_with_receive_time_and_query_is_observed() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: headers::QUERY,
                value: Some("rust".as_bytes()),
            })
            .insert(Header {
                key: headers::RECEIVED_AT,
                value: Some("1764555555123".as_bytes()),
            });
        let (labels, received_at) =
            observation(&record(headers), "news", "elections").expect("observed");
        assert_eq!(received_at, 1_764_555_555_123);
        assert_eq!(
            labels,
            FreshnessLabels {
                namespace: "news".into(),
                pipeline: "elections".into(),
                query: "rust".into(),
            }
        );
    }

    #[test]
    fn a_record_without_receive_time_is_not_observed() {
        let headers = OwnedHeaders::new().insert(Header {
            key: headers::QUERY,
            value: Some("rust".as_bytes()),
        });
        assert!(observation(&record(headers), "news", "elections").is_none());
    }
}
