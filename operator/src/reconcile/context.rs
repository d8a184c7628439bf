//! What every reconcile shares: the client, caches, metrics and settings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;

use super::backoff::Failures;
use super::clients::Clients;
use super::dependencies::mysql::{EnsuredSchemas, SchemaOwner};
use super::dependencies::registry::RegisteredSchemas;
use super::dependencies::topic_admin::{KafkaTopicAdmin, TopicAdmin};
use super::observe::progress::ProgressCache;
use super::observe::progress_reader::{KafkaProgressReader, ProgressReader};
use crate::decide::transformer::Recommendations;
use crate::metrics::Metrics;
use crate::settings::Settings;

/// Unchanged objects are re-applied at least this often.
pub const REAPPLY_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// Shared state of all reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Metrics,
    /// Tunables.
    pub settings: Settings,
    /// Migrations and accounts.
    pub schema: Arc<dyn SchemaOwner>,
    /// Topics (librdkafka's admin API; a fake in unit tests, see [`Context::with_topic_admin`]).
    pub topics: Arc<dyn TopicAdmin>,
    /// Per-object failure counts for backoff.
    pub failures: Failures,
    /// Kafka clients and MySQL pools per endpoint.
    pub clients: Clients,
    /// Where each checkpoint topic was last read to.
    pub progress: Arc<ProgressCache>,
    /// Checkpoints and consumer lag (Kafka consumers; a fake in unit tests, see
    /// [`Context::with_progress_reader`]).
    pub progress_reader: Arc<dyn ProgressReader>,
    /// Schema state last ensured per pipeline.
    pub schemas: EnsuredSchemas,
    /// Post schema ids registered with schema registries.
    pub registered: RegisteredSchemas,
    /// The watch cache of Secrets (references are resolved here, not with API calls).
    pub secrets: Store<Secret>,
    /// Fingerprint and time of the objects last applied per pipeline (see [`Context::needs_apply`]).
    pub applied: Mutex<HashMap<String, (u64, std::time::Instant)>>,
    /// Transformer recommendations per pipeline, for the scale-down stabilisation window.
    pub transformer_history: Mutex<HashMap<String, Recommendations>>,
}

impl Context {
    /// A context with empty caches.
    pub fn new(
        client: Client,
        recorder: Recorder,
        metrics: Metrics,
        settings: Settings,
        schema: Arc<dyn SchemaOwner>,
        secrets: Store<Secret>,
    ) -> Self {
        Context {
            client,
            recorder,
            metrics,
            settings,
            schema,
            topics: Arc::new(KafkaTopicAdmin),
            failures: Failures::default(),
            clients: Clients::default(),
            progress: Arc::new(ProgressCache::default()),
            progress_reader: Arc::new(KafkaProgressReader),
            schemas: EnsuredSchemas::default(),
            registered: RegisteredSchemas::default(),
            secrets,
            transformer_history: Mutex::new(HashMap::new()),
            applied: Mutex::new(HashMap::new()),
        }
    }

    /// The same context with another topic admin (unit tests drive the dependencies step with a
    /// scripted one).
    pub fn with_topic_admin(mut self, topics: Arc<dyn TopicAdmin>) -> Self {
        self.topics = topics;
        self
    }

    /// The same context with another progress reader (unit tests run a whole reconcile with a
    /// scripted one).
    pub fn with_progress_reader(mut self, reader: Arc<dyn ProgressReader>) -> Self {
        self.progress_reader = reader;
        self
    }

    /// Whether the objects with `fingerprint` must be sent: they changed since the last apply,
    /// the workloads drifted (`in_place` false: missing, or scaled by someone else), or the last
    /// apply is older than [`REAPPLY_AFTER`] (hand edits of ConfigMaps or Services are repaired
    /// within that time). At rest this saves seven server-side applies per reconcile.
    pub fn needs_apply(&self, key: &str, fingerprint: u64, in_place: bool) -> bool {
        let applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        !in_place
            || applied
                .get(key)
                .is_none_or(|(f, at)| *f != fingerprint || at.elapsed() >= REAPPLY_AFTER)
    }

    /// Records a successful apply.
    pub fn applied(&self, key: &str, fingerprint: u64) {
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), (fingerprint, std::time::Instant::now()));
    }

    /// The transformer recommendations remembered for `key`.
    pub fn history(&self, key: &str) -> Recommendations {
        self.transformer_history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    /// Remembers this reconcile's recommendation and forgets those older than the window.
    pub fn remember(&self, key: &str, at: DateTime<Utc>, replicas: i32) {
        let window = chrono::TimeDelta::from_std(self.settings.scale_down_window)
            .unwrap_or(chrono::TimeDelta::MAX);
        let mut all = self
            .transformer_history
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let history = all.entry(key.to_string()).or_default();
        history.push((at, replicas));
        crate::decide::transformer::prune(history, at, window);
    }

    /// Forgets everything cached about a deleted pipeline.
    pub fn forget(&self, key: &str, progress_key: &str) {
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        self.failures.reset(key);
        self.schemas.forget(key);
        self.progress.forget(progress_key);
        self.transformer_history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}
