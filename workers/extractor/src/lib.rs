//! `tweetpipe-extractor`: polls X API v2 recent search for its assigned queries within its
//! share of the rate budget and produces every post to Kafka as Avro, with the query's
//! checkpoint in the same transaction.
//!
//! - [`config`]: the operator's config shape.
//! - [`xapi`]: the API client and the conversion to [`tweetpipe_common::post::Post`].
//! - [`ownership`]: which replica runs which query (a consumer group over the slots topic).
//! - [`pacing`]: spending a query's budget share evenly, headers as the truth.
//! - [`live_config`]: request shares and monthly budget taken from the mounted config.
//! - [`progress`]: `since_id` + `next_token` checkpoint arithmetic.
//! - [`sink`]: the transactional producer and the checkpoint reader.
//! - [`stream`]: stream mode (the filtered stream, its rules, gap recovery by search).
//! - [`worker`]: the loop.

pub mod backoff;
pub mod config;
pub mod live_config;
pub mod metrics;
pub mod ownership;
pub mod pacing;
pub mod progress;
pub mod sink;
pub mod stream;
pub mod worker;
pub mod xapi;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tweetpipe_common::codec::{PostEncoder, SchemaRegistry};
use tweetpipe_common::contract::{names, topics};
use tweetpipe_common::kafka::{KafkaConfigError, client_config};
use tweetpipe_common::registry::{RegistryError, value_subject};
use tweetpipe_common::serve::{Readiness, spawn_ops_server};

use crate::config::{ConfigError, ExtractorConfig, ExtractorConfigExt};
use crate::metrics::Metrics;
use crate::ownership::{SlotGroupSettings, SlotOwnership};
use crate::sink::Sink;
use crate::worker::{RunSummary, Worker, WorkerParts};
use crate::xapi::XClient;

#[derive(Debug, thiserror::Error)]
pub enum ExtractorError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Kafka(#[from] KafkaConfigError),
    #[error("cannot serve the ops endpoints on {addr}: {source}")]
    Ops {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The schema registry refuses the post schema (incompatible with the subject's versions,
    /// or refused otherwise): retrying would change nothing, so the extractor stops.
    #[error("cannot register the post schema: {0}")]
    SchemaRefused(RegistryError),
}

/// Why one start-up attempt failed.
enum StartFailure {
    /// Kafka or the registry may come up later: retry with backoff.
    NotReady(NotReady),
    /// A refusal that repeats on every attempt.
    Final(ExtractorError),
}

/// A started extractor.
pub struct RunningExtractor {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub ops_addr: SocketAddr,
    /// The loop; it ends with an error only when start-up cannot succeed (a refused schema).
    pub task: JoinHandle<Result<RunSummary, ExtractorError>>,
}

/// Starts the extractor for `replica` with a fixed config; it runs until `cancel` fires.
pub async fn start(
    config: ExtractorConfig,
    replica: u32,
    cancel: CancellationToken,
) -> Result<RunningExtractor, ExtractorError> {
    start_with(config, None, replica, cancel).await
}

/// Starts the extractor; `config_file`, when given, is re-read for live settings.
pub async fn start_with(
    config: ExtractorConfig,
    config_file: Option<PathBuf>,
    replica: u32,
    cancel: CancellationToken,
) -> Result<RunningExtractor, ExtractorError> {
    config.validate().map_err(ConfigError::from)?;
    let tokens = config.read_tokens()?;
    let kafka = client_config(&config.kafka)?;
    let metrics = Metrics::default();
    let readiness = Readiness::new();
    let ops_listen = config.tuning.ops_listen.clone();
    let addr: SocketAddr = ops_listen
        .parse()
        .map_err(|e| ConfigError::Invalid(format!("tuning.ops_listen {ops_listen:?}: {e}")))?;
    let (ops_addr, _ops) = spawn_ops_server(addr, Arc::new(metrics.registry()), readiness.clone())
        .await
        .map_err(|source| ExtractorError::Ops {
            addr: ops_listen,
            source,
        })?;
    let fixed_params = vec![
        ("max_results", config.max_results.to_string()),
        ("tweet.fields", config.tweet_fields_param()),
        ("expansions", config.expansions_param()),
        ("user.fields", config.user_fields_param()),
        ("place.fields", config.place_fields_param()),
    ];
    let client = XClient::new(
        &config.api_base_url,
        config.tuning.request_timeout(),
        fixed_params,
    )?;
    let task = tokio::spawn(async move {
        let mut backoff = crate::backoff::from_tuning(&config.tuning);
        let checkpoint_topic = topics::checkpoint_topic(&config.kafka.topic);
        let slots_topic = topics::slots_topic(&config.kafka.topic);
        let group = SlotGroupSettings {
            group_id: names::extractor_group_id(&config.pipeline),
            topic: slots_topic.clone(),
            session_timeout: Duration::from_millis(config.tuning.group_session_timeout_ms),
            // An HTTP request and a transaction may be in flight when a revocation comes.
            release_timeout: config.tuning.request_timeout() + config.tuning.kafka_timeout() * 2,
            client_id: crate::ownership::member_client_id(
                &serde_json::to_string(&config.restart_fingerprint()).unwrap_or_default(),
            ),
        };
        // Kafka, the topics and the schema registry may come up after us: retry until ready.
        let (sink, encoder) = loop {
            let attempt = async {
                let sink = Sink::connect(
                    kafka.clone(),
                    &config.transactional_id(replica),
                    &config.kafka.topic,
                    &checkpoint_topic,
                    std::slice::from_ref(&slots_topic),
                    config.tuning.kafka_timeout(),
                )
                .await
                .map_err(|e| StartFailure::NotReady(NotReady::Kafka(e)))?;
                let encoder = match &config.kafka.schema_registry_url {
                    None => PostEncoder::SingleObject,
                    Some(url) => {
                        let schema_id = SchemaRegistry::new(url)
                            .register_current(&value_subject(&config.kafka.topic))
                            .await
                            .map_err(|e| {
                                if e.is_retryable() {
                                    StartFailure::NotReady(NotReady::Registry(e.to_string()))
                                } else {
                                    StartFailure::Final(ExtractorError::SchemaRefused(e))
                                }
                            })?;
                        tracing::info!(schema_id, "post schema registered");
                        PostEncoder::Confluent { schema_id }
                    }
                };
                Ok::<_, StartFailure>((sink, encoder))
            };
            let result = tokio::select! {
                r = attempt => r,
                () = cancel.cancelled() => return Ok(RunSummary::default()),
            };
            match result {
                Ok(ready) => break ready,
                Err(StartFailure::Final(e)) => return Err(e),
                Err(StartFailure::NotReady(e)) => {
                    let delay = backoff.next_delay();
                    let retry_in_ms = delay.as_millis() as u64;
                    match e.explain(&kafka, config.tuning.kafka_timeout()).await {
                        // The kind (wrong password, untrusted CA, unknown host, missing ACL)
                        // is what an operator acts on; the message never holds a secret.
                        Some(cause) => {
                            tracing::warn!(kind = cause.kind(), error = %cause, cause = %e, retry_in_ms, "Kafka not ready")
                        }
                        None => {
                            tracing::warn!(error = %e, retry_in_ms, "Kafka or the schema registry not ready")
                        }
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {},
                        () = cancel.cancelled() => return Ok(RunSummary::default()),
                    }
                }
            }
        };
        // Joining only after the producer is ready: slots are never held by a member that
        // cannot write.
        let (ownership, slot_events) = match SlotOwnership::join(kafka.clone(), &group) {
            Ok(joined) => joined,
            Err(e) => {
                tracing::error!(error = %e, "cannot join the slot group");
                return Ok(RunSummary::default());
            }
        };
        tracing::info!(
            replica,
            queries = config.queries.len(),
            group = %group.group_id,
            "extractor ready; waiting for query slots"
        );
        let summary = Worker::new(WorkerParts {
            config,
            config_file,
            client,
            tokens,
            sink,
            encoder,
            metrics,
            readiness,
            cancel,
            ownership: Arc::new(ownership),
            slot_events,
            kafka,
            checkpoint_topic,
        })
        .run()
        .await;
        Ok(summary)
    });
    Ok(RunningExtractor { ops_addr, task })
}

/// Why the start-up attempt failed.
#[derive(Debug, thiserror::Error)]
enum NotReady {
    #[error(transparent)]
    Kafka(sink::SinkError),
    #[error("schema registry: {0}")]
    Registry(String),
}

impl NotReady {
    /// The Kafka failure told apart (see `kafka_connection::explain_failure`), if it is one.
    async fn explain(
        &self,
        kafka: &rdkafka::ClientConfig,
        timeout: Duration,
    ) -> Option<tweetpipe_common::kafka_connection::KafkaConnectionError> {
        let NotReady::Kafka(sink::SinkError::Kafka(error)) = self else {
            return None;
        };
        let (kafka, error) = (kafka.clone(), error.clone());
        tokio::task::spawn_blocking(move || {
            tweetpipe_common::kafka_connection::explain_failure(&kafka, &error, timeout)
        })
        .await
        .ok()
        .flatten()
    }
}
