//! Names of the Kafka record headers the workers agree on.

/// The pipeline query that collected the post.
pub const QUERY: &str = "tweetpipe-query";
/// Dead-letter reason.
pub const ERROR: &str = "tweetpipe-error";
/// Where a dead letter came from.
pub const SOURCE_TOPIC: &str = "tweetpipe-source-topic";
pub const SOURCE_PARTITION: &str = "tweetpipe-source-partition";
pub const SOURCE_OFFSET: &str = "tweetpipe-source-offset";
/// W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";
/// When the extractor received the page that carried the record from the API: milliseconds
/// since the Unix epoch, in decimal ASCII. The transformer measures freshness from it (MySQL
/// commit time minus this), so no Avro schema change is needed.
pub const RECEIVED_AT: &str = "tweetpipe-received-at";

/// The value of a [`RECEIVED_AT`] header for `millis` since the Unix epoch.
pub fn encode_received_at(millis: i64) -> String {
    millis.to_string()
}

/// Milliseconds since the Unix epoch from a [`RECEIVED_AT`] header value; `None` when it is
/// not a non-negative decimal integer (a record of an older extractor has no header at all).
pub fn decode_received_at(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_at_round_trips() {
        let millis = 1_764_555_555_123;
        let header = encode_received_at(millis);
        assert_eq!(header, "1764555555123");
        assert_eq!(decode_received_at(header.as_bytes()), Some(millis));
    }

    #[test]
    fn malformed_received_at_is_none() {
        for bad in [
            &b""[..],
            b"-5",
            b"12a",
            b" 12",
            b"1.5",
            b"\xff",
            b"99999999999999999999999",
        ] {
            assert_eq!(decode_received_at(bad), None, "{bad:?}");
        }
    }
}
