//! Connections reused across reconciles: per Kafka endpoint one admin client and a few consumers
//! that never join a group (checkpoint, ownership and lag reads), one small MySQL pool per MySQL
//! endpoint. Each entry remembers a fingerprint of
//! the credentials it was made with and is replaced when they change; the caches are bounded
//! (least recently used goes first), so a thousand pipelines on one cluster share one client
//! and a churn of endpoints cannot grow memory without limit.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Executor};
use tweetpipe_common::kafka::EofIsNotAnError;

/// A short fingerprint of anything hashable (credentials, desired state); never printed.
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// A bounded map from endpoint to client, replaced when the credential fingerprint changes.
pub struct Bounded<T> {
    capacity: usize,
    // Most recently used last; small, so a Vec beats a linked map.
    entries: Mutex<Vec<(String, u64, Arc<T>)>>,
}

impl<T> Bounded<T> {
    /// A cache of at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Bounded {
            capacity: capacity.max(1),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The client for `endpoint` made with credentials `fingerprint`, made by `make` if absent
    /// or made with other credentials.
    pub fn get_or_try_insert<E>(
        &self,
        endpoint: &str,
        fingerprint: u64,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        // Replaced and evicted clients are dropped after the lock is released: closing one can
        // take a while (a Kafka consumer waits for its group machinery), and no other reconcile
        // may wait for that.
        let mut retired = Vec::new();
        let client = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = entries.iter().position(|(e, _, _)| e == endpoint) {
                let entry = entries.remove(at);
                if entry.1 == fingerprint {
                    let client = Arc::clone(&entry.2);
                    entries.push(entry);
                    return Ok(client);
                }
                retired.push(entry.2);
            }
            let client = Arc::new(make()?);
            if entries.len() >= self.capacity {
                retired.push(entries.remove(0).2);
            }
            entries.push((endpoint.to_string(), fingerprint, Arc::clone(&client)));
            client
        };
        drop(retired);
        Ok(client)
    }

    /// Number of cached clients.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every cached client (for closing pools at shutdown or counting connections).
    pub fn all(&self) -> Vec<Arc<T>> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, _, c)| Arc::clone(c))
            .collect()
    }
}

/// Clients of one Kafka endpoint.
pub struct KafkaClients {
    /// Topics and watermarks.
    pub admin: AdminClient<DefaultClientContext>,
    /// Read checkpoint topics (each assigned per read, so one read at a time per consumer).
    pub progress: Vec<Mutex<BaseConsumer<EofIsNotAnError>>>,
    /// Reads consumer groups' committed offsets (the transformers' lag) by admin call, for every
    /// pipeline of the endpoint; never assigned or subscribed. A consumer, not the admin client:
    /// see `observe::group_offsets` for why. (`None` only while closing.)
    pub lag_reader: Option<BaseConsumer>,
    /// Reads topics' ownership records (`<topic>.slots` partition 0), one read at a time. Its
    /// own consumer: a read on the shared progress consumers could be handed a checkpoint read's
    /// late events (an end-of-partition, a record) and take them for its own.
    /// (`None` only while closing.)
    pub owner_reader: Mutex<Option<BaseConsumer>>,
    /// The endpoint's settings, for the rare short-lived producer (an ownership record).
    pub config: ClientConfig,
    /// Posts topics verified as a pipeline's (topic → owner uid), so the ownership record is
    /// read once per operator start and credentials, not every reconcile.
    pub owned_topics: Mutex<HashMap<String, String>>,
}

/// Progress consumers per endpoint: reads of different pipelines run side by side.
const PROGRESS_CONSUMERS: usize = 2;

/// Settings of a consumer that reads small records by assignment and never commits.
///
/// Its group only satisfies librdkafka, but the group's coordinator is still looked up, which
/// Kafka's authorizer allows with Describe on the group: `group` must be under the `tweetpipe.`
/// group prefix the operator's ACLs already grant (a name outside it made every first read fail
/// with GroupAuthorizationFailed on a cluster with ACLs).
fn assignment_reader(config: &ClientConfig, group: &str) -> ClientConfig {
    let mut reader = config.clone();
    reader
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        // An end-of-partition event follows an empty fetch: don't let the broker hold it 500 ms.
        .set("fetch.wait.max.ms", "10")
        // The records are small: keep librdkafka's prefetch buffers small too (it wants
        // fetch.max.bytes ≥ message.max.bytes).
        .set("queued.max.messages.kbytes", "1024")
        .set("fetch.max.bytes", "1048576")
        .set("max.partition.fetch.bytes", "1048576")
        .set("allow.auto.create.topics", "false");
    reader
}

impl KafkaClients {
    /// Both clients from one configuration.
    pub fn new(config: &ClientConfig) -> Result<Self, KafkaError> {
        let admin = config.create()?;
        let mut progress_config = assignment_reader(config, "tweetpipe.operator-progress");
        progress_config
            // Extractors write checkpoints in transactions: stop at the last stable offset, and
            // learn we are there from the EOF event instead of waiting out a timeout.
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true");
        let progress = (0..PROGRESS_CONSUMERS)
            .map(|_| {
                progress_config
                    .create_with_context(EofIsNotAnError)
                    .map(Mutex::new)
            })
            .collect::<Result<_, _>>()?;
        let mut owner_config = assignment_reader(config, "tweetpipe.operator-owners");
        owner_config.set("enable.partition.eof", "false");
        let owner_reader = Mutex::new(Some(owner_config.create()?));
        let lag_reader = Some(assignment_reader(config, "tweetpipe.operator-lag").create()?);
        Ok(KafkaClients {
            admin,
            progress,
            lag_reader,
            owner_reader,
            config: config.clone(),
            owned_topics: Mutex::new(HashMap::new()),
        })
    }
}

pub use tweetpipe_common::kafka::retire;

/// The progress consumers have a group id: whoever drops the last reference (an evicting cache,
/// a reconcile on an async worker), their close happens on a thread of its own.
impl Drop for KafkaClients {
    fn drop(&mut self) {
        let consumers = std::mem::take(&mut self.progress);
        if !consumers.is_empty() {
            retire(consumers);
        }
        if let Some(reader) = self
            .owner_reader
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            retire(reader);
        }
        if let Some(reader) = self.lag_reader.take() {
            retire(reader);
        }
    }
}

impl KafkaClients {
    /// A free progress consumer, or (all busy) the one `key` hashes to.
    pub fn progress_consumer(&self, key: &str) -> MutexGuard<'_, BaseConsumer<EofIsNotAnError>> {
        for consumer in &self.progress {
            if let Ok(guard) = consumer.try_lock() {
                return guard;
            }
        }
        let at =
            usize::try_from(fingerprint(&[key]) % self.progress.len().max(1) as u64).unwrap_or(0);
        self.progress[at].lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A pool for administrative statements on one MySQL server: at most two connections, none
/// held while idle, so a thousand pipelines on one server cost a handful of connections.
pub fn mysql_pool(options: MySqlConnectOptions, timeout: Duration) -> MySqlPool {
    MySqlPoolOptions::new()
        .max_connections(2)
        .min_connections(0)
        .idle_timeout(Duration::from_secs(30))
        .acquire_timeout(timeout)
        // Metadata locks wait a year by default; a DDL stuck behind one must fail instead.
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET SESSION lock_wait_timeout = 30").await?;
                Ok(())
            })
        })
        .connect_lazy_with(options.disable_statement_logging())
}

/// Every cache of the operator.
pub struct Clients {
    /// Per Kafka endpoint.
    pub kafka: Bounded<KafkaClients>,
    /// Per MySQL endpoint (server and admin user).
    pub mysql: Bounded<MySqlPool>,
}

impl Default for Clients {
    fn default() -> Self {
        Clients {
            kafka: Bounded::new(32),
            mysql: Bounded::new(32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_replaces_on_new_credentials_and_stays_bounded() {
        let cache: Bounded<u32> = Bounded::new(2);
        let mut made = 0;
        let mut get = |endpoint: &str, fp: u64| {
            *cache
                .get_or_try_insert::<()>(endpoint, fp, || {
                    made += 1;
                    Ok(made)
                })
                .expect("infallible")
        };
        assert_eq!(get("a", 1), 1);
        assert_eq!(get("a", 1), 1, "same endpoint and credentials: reused");
        assert_eq!(get("a", 2), 2, "credentials changed: replaced");
        assert_eq!(get("b", 1), 3);
        assert_eq!(
            get("c", 1),
            4,
            "third endpoint evicts the least recently used"
        );
        assert_eq!(cache.len(), 2);
        assert_eq!(get("a", 2), 5, "a was evicted");
    }

    /// Records whether the cache's lock was free when a retired client was dropped.
    struct Probe;
    static CACHE: std::sync::OnceLock<Bounded<Probe>> = std::sync::OnceLock::new();
    static DROPPED_UNDER_LOCK: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);
    static DROPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    impl Drop for Probe {
        fn drop(&mut self) {
            use std::sync::atomic::Ordering::SeqCst;
            DROPPED.fetch_add(1, SeqCst);
            if CACHE.get().is_some_and(|c| c.entries.try_lock().is_err()) {
                DROPPED_UNDER_LOCK.fetch_add(1, SeqCst);
            }
        }
    }

    #[test]
    fn replaced_and_evicted_clients_are_dropped_after_the_lock_is_released() {
        use std::sync::atomic::Ordering::SeqCst;
        let cache = CACHE.get_or_init(|| Bounded::new(1));
        let make = || Ok::<_, ()>(Probe);
        drop(cache.get_or_try_insert("a", 1, make));
        drop(cache.get_or_try_insert("a", 2, make)); // replaces a/1
        drop(cache.get_or_try_insert("b", 1, make)); // evicts a/2
        assert_eq!(DROPPED.load(SeqCst), 2, "two clients retired");
        assert_eq!(
            DROPPED_UNDER_LOCK.load(SeqCst),
            0,
            "no client closed while holding the cache lock"
        );
    }
}
