//! What can go wrong with the pipeline's Kafka, phrased for the status: one error type for the
//! topic steps ([`super::kafka`]) and the ownership record ([`super::topic_owner`]).

use rdkafka::error::RDKafkaErrorCode;
use thiserror::Error;
use tweetpipe_common::kafka_connection::KafkaConnectionError;

use crate::decide::topic_owner::TopicOwner;

/// Condition reason of a topic operation Kafka's authorizer refused.
pub const KAFKA_AUTHORIZATION_FAILED: &str = "KafkaAuthorizationFailed";

/// Kafka failures, phrased for the status.
#[derive(Debug, Error)]
pub enum KafkaCheckError {
    /// No broker answered (cause not yet diagnosed, see [`diagnose`]).
    #[error("Kafka at {bootstrap} is unreachable: {detail}")]
    Unreachable { bootstrap: String, detail: String },
    /// The connection failed and the cause is known: credentials, certificate, host, network.
    #[error(transparent)]
    Connection(#[from] KafkaConnectionError),
    /// A topic operation failed.
    #[error("topic {topic}: {detail}")]
    Topic { topic: String, detail: String },
    /// Kafka's authorizer refused a topic operation to the operator's principal.
    #[error(
        "topic {topic}: Kafka refused to {operation} ({code}); grant the operator's principal the ACLs listed in docs/security.md"
    )]
    Authorization {
        topic: String,
        operation: &'static str,
        code: RDKafkaErrorCode,
    },
    /// The spec asks for fewer partitions than the topic has.
    #[error(
        "topic {topic} has {actual} partitions but the spec asks for {wanted}; Kafka cannot remove partitions, so {actual} stay"
    )]
    Shrink {
        topic: String,
        actual: i32,
        wanted: i32,
    },
    /// A blocking task failed.
    #[error("internal: {0}")]
    Join(String),
    /// Partitions, replication factor or retention above the administrator's maxima.
    #[error("{0}; no topic was created or changed")]
    LimitExceeded(String),
    /// The topics are recorded as another pipeline's.
    #[error(
        "topic {topic} belongs to pipeline {owner}; choose another spec.kafka.topic (nothing was changed on {topic} or its companion topics)"
    )]
    OwnedByAnother { topic: String, owner: TopicOwner },
    /// A posts topic with records that tweetpipe did not make (it has no `<topic>.slots`).
    #[error(
        "topic {topic} exists with records and was not made by tweetpipe (it has no {topic}.slots); choose another spec.kafka.topic, or empty or delete {topic} if it may go"
    )]
    NotCreatedByTweetpipe { topic: String },
}

impl KafkaCheckError {
    /// Condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            KafkaCheckError::Unreachable { .. } => "KafkaUnreachable",
            KafkaCheckError::Connection(e) => e.kind(),
            KafkaCheckError::Authorization { .. } => KAFKA_AUTHORIZATION_FAILED,
            KafkaCheckError::Topic { .. } | KafkaCheckError::Join(_) => "TopicError",
            KafkaCheckError::Shrink { .. } => "PartitionsCannotShrink",
            KafkaCheckError::LimitExceeded(_) => "KafkaLimitExceeded",
            KafkaCheckError::OwnedByAnother { .. } => "TopicOwnedByAnotherPipeline",
            KafkaCheckError::NotCreatedByTweetpipe { .. } => "TopicNotCreatedByTweetpipe",
        }
    }

    /// Whether the failure is an unexplained connection failure worth a [`super::kafka::diagnose`].
    pub fn is_undiagnosed(&self) -> bool {
        matches!(self, KafkaCheckError::Unreachable { .. })
    }
}

/// Whether Kafka refused an operation for want of an ACL.
fn is_authorization(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
    )
}

/// A topic operation's failure: an authorization refusal gets its own reason.
pub(crate) fn topic_failure(
    topic: String,
    operation: &'static str,
    code: RDKafkaErrorCode,
) -> KafkaCheckError {
    if is_authorization(code) {
        KafkaCheckError::Authorization {
            topic,
            operation,
            code,
        }
    } else {
        KafkaCheckError::Topic {
            topic,
            detail: format!("{operation} failed: {code}"),
        }
    }
}
