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
