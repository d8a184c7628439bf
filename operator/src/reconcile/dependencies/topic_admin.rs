//! The Kafka half of the dependencies step behind a trait: the operator uses [`KafkaTopicAdmin`]
//! (librdkafka's admin API, [`super::kafka`]); unit tests of [`super::ensure`] use a scripted
//! fake, so the step's orchestration (limits first, bounds, diagnosis, events) runs without a
//! broker.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::kafka::{self, KafkaCheckError, TopicsReport};
use crate::crd::KafkaSpec;
use crate::decide::topic_owner::TopicOwner;
use crate::reconcile::clients::{Clients, KafkaClients};
use crate::reconcile::observe::secrets::Resolved;

/// What the dependencies step asks of Kafka.
pub trait TopicAdmin: Send + Sync {
    /// The pipeline's Kafka clients, from the cache per endpoint and credentials.
    fn clients(
        &self,
        cache: &Clients,
        kafka: &KafkaSpec,
        secrets: &Resolved,
        timeout: Duration,
    ) -> Result<Arc<KafkaClients>, KafkaCheckError>;

    /// Creates, grows and corrects the pipeline's topics after checking who owns them.
    fn ensure_topics<'a>(
        &'a self,
        clients: &'a Arc<KafkaClients>,
        kafka: &'a KafkaSpec,
        queries: usize,
        owner: &'a TopicOwner,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<TopicsReport, KafkaCheckError>>;

    /// Tells why the brokers did not answer (blocking: run it off the async workers).
    fn diagnose(
        &self,
        kafka: &KafkaSpec,
        secrets: &Resolved,
        timeout: Duration,
        failure: KafkaCheckError,
    ) -> KafkaCheckError;
}

/// The real one: librdkafka's admin API.
#[derive(Debug, Default)]
pub struct KafkaTopicAdmin;

impl TopicAdmin for KafkaTopicAdmin {
    fn clients(
        &self,
        cache: &Clients,
        kafka: &KafkaSpec,
        secrets: &Resolved,
        timeout: Duration,
    ) -> Result<Arc<KafkaClients>, KafkaCheckError> {
        kafka::clients_for(cache, kafka, secrets, timeout)
    }

    fn ensure_topics<'a>(
        &'a self,
        clients: &'a Arc<KafkaClients>,
        kafka: &'a KafkaSpec,
        queries: usize,
        owner: &'a TopicOwner,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<TopicsReport, KafkaCheckError>> {
        Box::pin(kafka::ensure_topics(
            clients, kafka, queries, owner, timeout,
        ))
    }

    fn diagnose(
        &self,
        kafka: &KafkaSpec,
        secrets: &Resolved,
        timeout: Duration,
        failure: KafkaCheckError,
    ) -> KafkaCheckError {
        kafka::diagnose(kafka, secrets, timeout, failure)
    }
}
