//! The pipeline's Kafka topics through the admin API: created, partitions grown, config drift
//! corrected, deleted under `deletionPolicy: Delete`.
//!
//! Every call has a timeout, so an unreachable cluster costs one bounded wait per reconcile
//! and never blocks deletion. Clients come from [`crate::reconcile::clients`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tweetpipe_common::kafka::new_topic;
use tweetpipe_common::kafka_connection::check_connection;

use super::incremental_configs::set_topic_configs;
use super::kafka_error::topic_failure;
pub use super::kafka_error::{KAFKA_AUTHORIZATION_FAILED, KafkaCheckError};
use super::topic_owner::{read_owner, until_led, write_owner};
use crate::build::topics::{self, TopicSpec};
use crate::crd::KafkaSpec;
use crate::decide::topic_owner::{self as ownership, Release, TopicOwner, Verdict};
use crate::reconcile::clients::{Clients, KafkaClients, fingerprint};
use crate::reconcile::observe::secrets::Resolved;

/// Tells why the brokers did not answer: one metadata round trip with the same settings that
/// listens to librdkafka's error events (refused credentials, untrusted certificate, unknown
/// host). Runs only after a failure, so a healthy reconcile pays nothing. Blocking for about
/// `timeout`.
pub fn diagnose(
    kafka: &KafkaSpec,
    secrets: &Resolved,
    timeout: Duration,
    failure: KafkaCheckError,
) -> KafkaCheckError {
    if !failure.is_undiagnosed() {
        return failure;
    }
    match check_connection(&client_config(kafka, secrets, timeout), timeout) {
        Err(cause) => KafkaCheckError::Connection(cause),
        // It answers now: the original failure stands (e.g. a timeout under load).
        Ok(_) => failure,
    }
}

/// Client settings for the operator's own connections.
pub fn client_config(kafka: &KafkaSpec, secrets: &Resolved, timeout: Duration) -> ClientConfig {
    let mut config = ClientConfig::new();
    let millis = timeout.as_millis().to_string();
    config
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("socket.timeout.ms", &millis)
        .set("socket.connection.setup.timeout.ms", &millis)
        .set("log_level", "3")
        .set("client.id", "tweetpipe-operator")
        .set("allow.auto.create.topics", "false");
    let security = match (kafka.tls.is_some(), kafka.sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    config.set("security.protocol", security);
    if let (Some(sasl), Some((user, password))) = (&kafka.sasl, &secrets.kafka_sasl) {
        config
            .set("sasl.mechanism", sasl.mechanism.as_str())
            .set("sasl.username", user.expose())
            .set("sasl.password", password.expose());
    }
    if kafka.tls.is_some() {
        // Hostname verification always (the CRD has no switch), as the workers do.
        config.set("ssl.endpoint.identification.algorithm", "https");
        match &secrets.kafka_ca_pem {
            Some(ca) => config.set("ssl.ca.pem", ca.expose()),
            // The system roots wherever this image's OpenSSL looks for them.
            None => config.set("ssl.ca.location", "probe"),
        };
        if let Some((certificate, key)) = &secrets.kafka_client_pem {
            config
                .set("ssl.certificate.pem", certificate.expose())
                .set("ssl.key.pem", key.expose());
        }
    }
    config
}

/// The cached clients of this pipeline's Kafka endpoint (made on first use, remade when the
/// credentials change).
pub fn clients_for(
    cache: &Clients,
    kafka: &KafkaSpec,
    secrets: &Resolved,
    timeout: Duration,
) -> Result<Arc<KafkaClients>, KafkaCheckError> {
    let mechanism = kafka.sasl.as_ref().map_or("", |s| s.mechanism.as_str());
    let endpoint = format!(
        "{}|tls={}|sasl={mechanism}",
        kafka.bootstrap_servers,
        kafka.tls.is_some()
    );
    cache
        .kafka
        .get_or_try_insert(&endpoint, fingerprint(&secrets.kafka_credentials()), || {
            KafkaClients::new(&client_config(kafka, secrets, timeout))
        })
        .map_err(|e| unreachable(kafka, e))
}

pub(crate) fn unreachable(kafka: &KafkaSpec, e: impl std::fmt::Display) -> KafkaCheckError {
    KafkaCheckError::Unreachable {
        bootstrap: kafka.bootstrap_servers.clone(),
        detail: e.to_string(),
    }
}

fn admin_options(timeout: Duration) -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout))
}

/// Partition count of every existing topic (blocking metadata call).
fn partitions(
    admin: &AdminClient<DefaultClientContext>,
    timeout: Duration,
) -> Result<HashMap<String, i32>, KafkaError> {
    let metadata = admin.inner().fetch_metadata(None, timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| {
            (
                t.name().to_string(),
                i32::try_from(t.partitions().len()).unwrap_or(i32::MAX),
            )
        })
        .collect())
}

/// What `ensure_topics` found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicsReport {
    /// Partitions of the posts topic after the reconcile.
    pub partitions: i32,
    /// Topics created.
    pub created: Vec<String>,
    /// Topics whose partitions grew.
    pub grown: Vec<String>,
    /// Topics whose configs were corrected.
    pub corrected: Vec<String>,
}

/// Runs a blocking Kafka call off the async workers.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KafkaCheckError> + Send + 'static,
) -> Result<T, KafkaCheckError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| KafkaCheckError::Join(e.to_string()))?
}

/// Every existing topic and its partition count.
async fn existing_topics(
    clients: &Arc<KafkaClients>,
    kafka: &KafkaSpec,
    timeout: Duration,
) -> Result<HashMap<String, i32>, KafkaCheckError> {
    let (clients, kafka) = (Arc::clone(clients), kafka.clone());
    blocking(move || partitions(&clients.admin, timeout).map_err(|e| unreachable(&kafka, e))).await
}

/// Whether any partition of `topic` holds a record.
async fn holds_records(
    clients: &Arc<KafkaClients>,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<bool, KafkaCheckError> {
    let (clients, topic) = (Arc::clone(clients), topic.to_string());
    blocking(move || {
        let deadline = std::time::Instant::now() + timeout;
        for partition in 0..partitions {
            let (low, high) = until_led(deadline, |left| {
                clients
                    .admin
                    .inner()
                    .fetch_watermarks(&topic, partition, left)
            })
            .map_err(|e| KafkaCheckError::Topic {
                topic: topic.clone(),
                detail: format!("read the offsets of partition {partition}: {e}"),
            })?;
            if high > low {
                return Ok(true);
            }
        }
        Ok(false)
    })
    .await
}

/// The owner recorded in `slots` (blocking read on a blocking thread).
async fn recorded_owner(
    clients: &Arc<KafkaClients>,
    slots: &str,
    timeout: Duration,
) -> Result<Option<TopicOwner>, KafkaCheckError> {
    let (clients, slots) = (Arc::clone(clients), slots.to_string());
    blocking(move || read_owner(&clients, &slots, timeout)).await
}

/// Makes sure the topics are `owner`'s before anything on them changes: verified once per
/// client (cached), claimed when unrecorded (see [`crate::decide::topic_owner`]).
async fn claim(
    clients: &Arc<KafkaClients>,
    posts: &str,
    owner: &TopicOwner,
    timeout: Duration,
) -> Result<(), KafkaCheckError> {
    let cached = |clients: &KafkaClients| {
        clients
            .owned_topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(posts)
            .is_some_and(|uid| *uid == owner.uid)
    };
    if cached(clients) {
        return Ok(());
    }
    let slots = topics::slots_topic(posts);
    let refused = |by: TopicOwner| KafkaCheckError::OwnedByAnother {
        topic: posts.to_string(),
        owner: by,
    };
    let recorded = recorded_owner(clients, &slots, timeout).await?;
    match ownership::judge(recorded.as_ref(), owner) {
        Verdict::Owned => {}
        Verdict::OwnedBy(by) => return Err(refused(by)),
        Verdict::Claim | Verdict::Reclaim => {
            write_owner(clients, &slots, owner, timeout).await?;
            // Another claim may have come first: the log's order decides.
            let recorded = recorded_owner(clients, &slots, timeout).await?;
            match ownership::judge(recorded.as_ref(), owner) {
                Verdict::Owned => {
                    tracing::info!(topic = posts, %owner, "topics recorded as the pipeline's");
                }
                Verdict::OwnedBy(by) => return Err(refused(by)),
                Verdict::Claim | Verdict::Reclaim => {
                    return Err(KafkaCheckError::Topic {
                        topic: slots,
                        detail: "the ownership record was written but not read back".into(),
                    });
                }
            }
        }
    }
    clients
        .owned_topics
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(posts.to_string(), owner.uid.clone());
    Ok(())
}

/// Makes the pipeline's topics match the spec, once they are recorded as `owner`'s; topics of
/// another pipeline or not made by tweetpipe are refused before anything is created or changed.
pub async fn ensure_topics(
    clients: &Arc<KafkaClients>,
    kafka: &KafkaSpec,
    queries: usize,
    owner: &TopicOwner,
    timeout: Duration,
) -> Result<TopicsReport, KafkaCheckError> {
    let admin = &clients.admin;
    let desired = topics::desired_topics(kafka, queries);
    let existing = existing_topics(clients, kafka, timeout).await?;
    let slots = topics::slots_topic(&kafka.topic);
    if let Some(&posts_partitions) = existing.get(&kafka.topic)
        && !existing.contains_key(&slots)
        && holds_records(clients, &kafka.topic, posts_partitions, timeout).await?
    {
        return Err(KafkaCheckError::NotCreatedByTweetpipe {
            topic: kafka.topic.clone(),
        });
    }
    let options = admin_options(timeout);
    let mut report = TopicsReport::default();

    let missing: Vec<&TopicSpec> = desired
        .iter()
        .filter(|t| !existing.contains_key(&t.name))
        .collect();
    if !missing.is_empty() {
        let new_topics: Vec<NewTopic> = missing
            .iter()
            .map(|t| new_topic(&t.name, t.partitions, t.replication_factor, &t.configs))
            .collect();
        let results = admin
            .create_topics(new_topics.iter(), &options)
            .await
            .map_err(|e| unreachable(kafka, e))?;
        for result in results {
            match result {
                Ok(name) => report.created.push(name),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(topic_failure(name, "create", code)),
            }
        }
    }

    claim(clients, &kafka.topic, owner, timeout).await?;

    let mut shrink = None;
    for topic in desired.iter().filter(|t| existing.contains_key(&t.name)) {
        let actual_partitions = existing[&topic.name];
        let described = admin
            .describe_configs([&ResourceSpecifier::Topic(&topic.name)], &options)
            .await
            .map_err(|e| unreachable(kafka, e))?;
        let resource = match described.into_iter().next() {
            Some(Ok(resource)) => resource,
            Some(Err(code)) => {
                return Err(topic_failure(topic.name.clone(), "describe configs", code));
            }
            None => {
                return Err(KafkaCheckError::Topic {
                    topic: topic.name.clone(),
                    detail: "describe configs returned nothing".into(),
                });
            }
        };
        let actual: BTreeMap<String, String> = resource
            .entries
            .iter()
            .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
            .collect();
        let drift = topics::drift(topic, actual_partitions, &actual);
        if let Some(total) = drift.grow_partitions_to {
            let grow = NewPartitions::new(&topic.name, usize::try_from(total).unwrap_or(0));
            let results = admin
                .create_partitions([&grow], &options)
                .await
                .map_err(|e| unreachable(kafka, e))?;
            if let Some(Err((name, code))) = results.into_iter().next() {
                return Err(topic_failure(name, "grow partitions", code));
            }
            report.grown.push(topic.name.clone());
        }
        if !drift.configs.is_empty() {
            // Only the drifted configs: whatever else is set on the topic stays.
            let (clients, name, configs) = (
                Arc::clone(clients),
                topic.name.clone(),
                drift.configs.clone(),
            );
            blocking(move || {
                set_topic_configs(&clients.admin, &name, &configs, timeout).map_err(|e| {
                    match e.code() {
                        Some(code) => topic_failure(name, "correct configs", code),
                        None => KafkaCheckError::Topic {
                            topic: name,
                            detail: format!("correct configs failed: {e}"),
                        },
                    }
                })
            })
            .await?;
            report.corrected.push(topic.name.clone());
        }
        if let Some((actual, wanted)) = drift.shrink_refused {
            shrink = Some(KafkaCheckError::Shrink {
                topic: topic.name.clone(),
                actual,
                wanted,
            });
        }
        if topic.name == kafka.topic {
            report.partitions = actual_partitions.max(drift.grow_partitions_to.unwrap_or(0));
        }
    }
    if report.partitions == 0 {
        report.partitions = kafka.partitions;
    }
    match shrink {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Deletes the pipeline's topics if they are recorded as `owner`'s (see
/// [`crate::decide::topic_owner::release`]); says what it did.
pub async fn delete_topics(
    clients: &Arc<KafkaClients>,
    kafka: &KafkaSpec,
    owner: &TopicOwner,
    timeout: Duration,
) -> Result<Release, KafkaCheckError> {
    let admin = &clients.admin;
    let names: Vec<String> = topics::desired_topics(kafka, 0)
        .into_iter()
        .map(|t| t.name)
        .collect();
    let existing = existing_topics(clients, kafka, timeout).await?;
    let slots = topics::slots_topic(&kafka.topic);
    let slots_exists = existing.contains_key(&slots);
    let recorded = if slots_exists {
        recorded_owner(clients, &slots, timeout).await?
    } else {
        None
    };
    let any_exists = names.iter().any(|n| existing.contains_key(n));
    let release = ownership::release(
        &kafka.topic,
        any_exists,
        slots_exists,
        recorded.as_ref(),
        owner,
    );
    if release != Release::Delete {
        return Ok(release);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = admin
        .delete_topics(&refs, &admin_options(timeout))
        .await
        .map_err(|e| unreachable(kafka, e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((name, code)) => return Err(topic_failure(name, "delete", code)),
        }
    }
    clients
        .owned_topics
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&kafka.topic);
    Ok(Release::Delete)
}

#[cfg(test)]
mod tests {
    use crate::reconcile::observe::secrets::{self, Missing};
    use crate::test_support::fetched_secrets;
    use tweetpipe_operator_core::fixtures::{client_certificate_tls, pipeline_with, scram};

    #[test]
    fn operator_kafka_client_uses_its_own_principal_verifies_hosts_and_presents_the_client_certificate()
     {
        use crate::reconcile::dependencies::kafka;
        let tp = pipeline_with(|tp| {
            tp.spec.kafka.sasl = Some(scram("kafka-workers", Some("kafka-admin")));
            tp.spec.kafka.tls = Some(client_certificate_tls());
        });
        let mut fetched = fetched_secrets(&[
            ("x-token-a", &[("token", "A")]),
            ("x-token-b", &[("bearer", "B")]),
            ("mysql-admin", &[("url", "mysql://root:pw@db:3306")]),
            ("mysql-reporting", &[("password", "reader")]),
            (
                "kafka-workers",
                &[("username", "tweetpipe"), ("password", "worker-pw")],
            ),
            (
                "kafka-client",
                &[("tls.crt", "CERT PEM"), ("tls.key", "KEY PEM")],
            ),
        ]);
        assert_eq!(
            secrets::resolve_from(&tp.spec, &fetched).unwrap_err(),
            Missing::Secret {
                name: "kafka-admin".into(),
                used_for: "operator's Kafka SASL username"
            },
            "the admin Secret is required once named"
        );
        fetched.extend(fetched_secrets(&[(
            "kafka-admin",
            &[("username", "tweetpipe-admin"), ("password", "admin-pw")],
        )]));
        let resolved = secrets::resolve_from(&tp.spec, &fetched).expect("all present");
        let config =
            kafka::client_config(&tp.spec.kafka, &resolved, std::time::Duration::from_secs(4));
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.username"), Some("tweetpipe-admin"));
        assert_eq!(config.get("sasl.password"), Some("admin-pw"));
        assert_eq!(
            config.get("ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        assert_eq!(config.get("ssl.ca.location"), Some("probe"));
        assert_eq!(config.get("ssl.certificate.pem"), Some("CERT PEM"));
        assert_eq!(config.get("ssl.key.pem"), Some("KEY PEM"));
        let rendered = format!("{config:?}");
        assert!(!rendered.contains("admin-pw"), "{rendered}");

        // A rotated client key makes a new client (the cache's fingerprint covers it).
        let before = crate::reconcile::clients::fingerprint(&resolved.kafka_credentials());
        fetched.extend(fetched_secrets(&[(
            "kafka-client",
            &[("tls.crt", "CERT PEM"), ("tls.key", "NEW KEY PEM")],
        )]));
        let rotated = secrets::resolve_from(&tp.spec, &fetched).expect("all present");
        assert_ne!(
            before,
            crate::reconcile::clients::fingerprint(&rotated.kafka_credentials())
        );

        // Without an admin Secret, the workers' credentials serve the operator too.
        let shared = pipeline_with(|t| {
            t.spec.kafka = tp.spec.kafka.clone();
            if let Some(sasl) = t.spec.kafka.sasl.as_mut() {
                sasl.admin_secret_name = None;
            }
        });
        let resolved = secrets::resolve_from(&shared.spec, &fetched).expect("all present");
        let config = kafka::client_config(
            &shared.spec.kafka,
            &resolved,
            std::time::Duration::from_secs(4),
        );
        assert_eq!(config.get("sasl.username"), Some("tweetpipe"));
    }
}
