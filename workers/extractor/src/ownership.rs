//! Which replica runs which query: the replicas of a pipeline share its query slots (the
//! partitions of `<topic>.slots`, one per query) through a Kafka consumer group.
//!
//! Why a consumer group: it is the one coordinator every replica already talks to, and its
//! eager protocol gives the handoff rescaling needs. On every membership change each member is
//! first asked to revoke everything it owns, and the coordinator hands out the new assignment
//! only after every member has rejoined, that is after each one released its slots (finished
//! or abandoned the request and transaction in flight). So no query is ever polled by two
//! replicas at once, whatever the StatefulSet does.
//!
//! Two fences cover a member that stops answering (paused, partitioned) and is dropped from
//! the group after `max.poll.interval.ms` without releasing:
//! - each transaction carries the slot's offset with the member's group metadata
//!   (`send_offsets_to_transaction`, KIP-447), so the broker refuses the commit of a member
//!   whose generation is stale;
//! - a new owner reads the slot's committed offset with `require_stable` (librdkafka does so
//!   under `read_committed`), which waits until no transaction touching the slot is pending,
//!   and only then reads the query's checkpoint.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{
    BaseConsumer, Consumer, ConsumerContext, ConsumerGroupMetadata, Rebalance,
};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// What the group decided for this member.
#[derive(Debug)]
pub enum SlotEvent {
    /// These slots are now ours (after the coordinator's rebalance).
    Assigned(BTreeSet<usize>),
    /// These slots must be released: stop polling them, then signal `released`. The group
    /// waits (up to the release timeout) before anyone else gets them.
    Revoked {
        slots: BTreeSet<usize>,
        released: SyncSender<()>,
    },
}

struct SlotContext {
    events: UnboundedSender<SlotEvent>,
    group_id: String,
    /// This member's `client.id`, which names its config ([`member_client_id`]).
    client_id: String,
    /// Members of the current generation whose config differs from ours (their client ids),
    /// set before [`SlotEvent::Assigned`] is sent.
    foreign: Arc<Mutex<Vec<String>>>,
    /// Set while a revocation waits for the worker, so a transaction being retried gives up.
    revoking: Arc<AtomicBool>,
    release_timeout: Duration,
}

fn slots_of(tpl: &TopicPartitionList) -> BTreeSet<usize> {
    tpl.elements()
        .iter()
        .filter_map(|e| usize::try_from(e.partition()).ok())
        .collect()
}

impl ClientContext for SlotContext {}

impl ConsumerContext for SlotContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let slots = slots_of(tpl);
        let (released, done) = sync_channel(1);
        self.revoking.store(true, Ordering::SeqCst);
        if self
            .events
            .send(SlotEvent::Revoked {
                slots: slots.clone(),
                released,
            })
            .is_ok()
        {
            // Blocking here is the point: the coordinator waits for this member to rejoin.
            match done.recv_timeout(self.release_timeout) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                Err(RecvTimeoutError::Timeout) => tracing::warn!(
                    ?slots,
                    "the worker did not release its slots in time; giving them up anyway (its later commits are refused by the group generation)"
                ),
            }
        }
        self.revoking.store(false, Ordering::SeqCst);
        tracing::info!(?slots, "query slots released");
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let slots = slots_of(tpl);
                tracing::info!(?slots, "query slots assigned");
                let foreign = self.foreign_members(consumer);
                if !foreign.is_empty() {
                    tracing::warn!(
                        ?foreign,
                        "members of the slot group run another config (a roll is under way): a stream connection this member leads waits for the next rebalance"
                    );
                }
                *self.foreign.lock().unwrap_or_else(|p| p.into_inner()) = foreign;
                let _ = self.events.send(SlotEvent::Assigned(slots));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "slot group rebalance failed"),
        }
    }
}

impl SlotContext {
    /// The client ids of the group's members that run another config than this one. The
    /// generation just assigned is settled, so its members are the group's until the next
    /// rebalance (any join or leave makes one). A failed lookup counts as none: the check only
    /// guards a roll, and a stream held back forever would be worse.
    fn foreign_members(&self, consumer: &BaseConsumer<Self>) -> Vec<String> {
        match consumer.fetch_group_list(Some(&self.group_id), Duration::from_secs(5)) {
            Ok(list) => foreign_configs(
                &self.client_id,
                list.groups()
                    .iter()
                    .flat_map(|g| g.members())
                    .map(|m| m.client_id()),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the slot group's members; assuming one config");
                Vec::new()
            }
        }
    }
}

/// The `client.id` of a member running a config with this restart fingerprint (its JSON): the
/// extractor's name and a hash of the config, so members can tell during a roll whether all of
/// them run the same config.
pub fn member_client_id(restart_fingerprint_json: &str) -> String {
    // FNV-1a: stable across processes and builds (std's hasher is not promised to be).
    let hash = restart_fingerprint_json
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("tweetpipe-extractor.cfg-{hash:016x}")
}

/// The members' client ids that are not `ours` (a member of an older release, which names no
/// config, counts as another config).
pub fn foreign_configs<'a>(ours: &str, members: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut foreign: Vec<String> = members
        .filter(|id| *id != ours)
        .map(str::to_string)
        .collect();
    foreign.sort();
    foreign.dedup();
    foreign
}

/// How long leaving the group may take before the member gives up saying goodbye.
pub const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the slot group.
#[derive(Debug, Clone)]
pub struct SlotGroupSettings {
    pub group_id: String,
    pub topic: String,
    /// A member that died is noticed after this long.
    pub session_timeout: Duration,
    /// How long a revocation waits for the worker to release (an HTTP request plus a
    /// transaction in flight).
    pub release_timeout: Duration,
    /// This member's `client.id` ([`member_client_id`] of its config).
    pub client_id: String,
}

/// This replica's membership in the slot group. Dropping it leaves the group, which hands its slots to the others at once.
pub struct SlotOwnership {
    /// `None` once left (only in `Drop`).
    consumer: Option<Arc<BaseConsumer<SlotContext>>>,
    topic: String,
    revoking: Arc<AtomicBool>,
    foreign: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

impl SlotOwnership {
    /// Joins the group; assignments arrive as [`SlotEvent`]s.
    pub fn join(
        base: ClientConfig,
        settings: &SlotGroupSettings,
    ) -> Result<(Self, UnboundedReceiver<SlotEvent>), KafkaError> {
        let (events, receiver) = unbounded_channel();
        let revoking = Arc::new(AtomicBool::new(false));
        let foreign = Arc::new(Mutex::new(Vec::new()));
        let session_ms = settings.session_timeout.as_millis().max(6_000);
        let mut config = base;
        config
            .set("group.id", &settings.group_id)
            .set("client.id", &settings.client_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Offsets committed through transactions only; reading them must wait for
            // pending transactions (require_stable).
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            // Eager: every member revokes all it owns before anything is handed out again.
            .set("partition.assignment.strategy", "roundrobin")
            .set("session.timeout.ms", session_ms.to_string())
            .set("heartbeat.interval.ms", (session_ms / 5).to_string())
            // The rebalance timeout: how long the group waits for a member to release.
            .set(
                "max.poll.interval.ms",
                (settings.release_timeout.as_millis() + 30_000).to_string(),
            )
            // New slots (queries added) are noticed within this.
            .set("topic.metadata.refresh.interval.ms", "30000");
        let consumer: BaseConsumer<SlotContext> = config.create_with_context(SlotContext {
            events,
            group_id: settings.group_id.clone(),
            client_id: settings.client_id.clone(),
            foreign: foreign.clone(),
            revoking: revoking.clone(),
            release_timeout: settings.release_timeout,
        })?;
        consumer.subscribe(&[settings.topic.as_str()])?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        // Rebalance callbacks run inside poll: a thread of its own keeps them prompt.
        let poller = {
            let consumer = consumer.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("slot-group".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Some(Err(e)) = consumer.poll(Duration::from_millis(200)) {
                            tracing::warn!(error = %e, "slot group");
                        }
                    }
                })
                .map_err(|e| KafkaError::Subscription(format!("cannot start the poller: {e}")))?
        };
        Ok((
            SlotOwnership {
                consumer: Some(consumer),
                topic: settings.topic.clone(),
                revoking,
                foreign,
                stop,
                poller: Some(poller),
            },
            receiver,
        ))
    }

    /// True while a revocation waits for the worker: a transaction being retried should give
    /// up (uncommitted pages are fetched again by the next owner).
    pub fn revoking(&self) -> bool {
        self.revoking.load(Ordering::SeqCst)
    }

    /// Client ids of the members that ran another config when the slots were last assigned
    /// (empty: every member runs ours). While a roll mixes configs, a stream connection must
    /// not start: its leader writes every query of its group, and a member still on the old
    /// config may poll one of them by search (or the other way round).
    pub fn foreign_members(&self) -> Vec<String> {
        self.foreign
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The member's group metadata, sent with every transaction as its fence.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        self.consumer.as_ref()?.group_metadata()
    }

    /// The offsets a transaction of `slot` commits: always 0 (the commit is only the fence;
    /// the one record of partition 0, the operator's ownership record, is not ours to read).
    pub fn slot_offsets(&self, slot: usize) -> Result<TopicPartitionList, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            &self.topic,
            i32::try_from(slot).unwrap_or(i32::MAX),
            Offset::Offset(0),
        )?;
        Ok(tpl)
    }

    /// Waits until no transaction of a previous owner touching `slots` is pending (committed or
    /// aborted), so the checkpoints read next are final.
    pub fn wait_until_settled(
        &self,
        slots: &BTreeSet<usize>,
        timeout: Duration,
    ) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for slot in slots {
            tpl.add_partition(&self.topic, i32::try_from(*slot).unwrap_or(i32::MAX));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let consumer = self.consumer.as_ref().ok_or_else(|| {
                KafkaError::Subscription("this member has left the slot group".into())
            })?;
            match consumer.committed_offsets(tpl.clone(), timeout) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "slot offsets not stable yet");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Leaves the group, waiting at most [`LEAVE_TIMEOUT`]: rdkafka's consumer close polls
    /// until the coordinator confirms, which never happens while Kafka is unreachable, and a
    /// stopping pod (or a test's runtime) must not hang on it. A member that could not say
    /// goodbye is dropped by the coordinator after the session timeout, as a crashed one is.
    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
        let Some(consumer) = self.consumer.take() else {
            return;
        };
        let (left, done) = sync_channel(1);
        let leaving = std::thread::Builder::new()
            .name("slot-group-leave".into())
            .spawn(move || {
                consumer.unsubscribe();
                drop(consumer);
                let _ = left.send(());
            });
        match leaving {
            Ok(_) => {
                if done.recv_timeout(LEAVE_TIMEOUT).is_err() {
                    tracing::warn!(
                        timeout = ?LEAVE_TIMEOUT,
                        "leaving the slot group did not finish (Kafka unreachable?); the coordinator drops this member after its session timeout"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the thread that leaves the slot group")
            }
        }
    }
}

impl Drop for SlotOwnership {
    fn drop(&mut self) {
        self.shut_down();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_name_their_config_and_others_are_told_apart() {
        let a = member_client_id(r#"{"queries":[{"name":"q","delivery":"stream"}]}"#);
        let b = member_client_id(r#"{"queries":[{"name":"q"}]}"#);
        assert_ne!(a, b);
        assert_eq!(
            a,
            member_client_id(r#"{"queries":[{"name":"q","delivery":"stream"}]}"#)
        );
        assert!(
            a.starts_with("tweetpipe-extractor.cfg-") && a.len() == 24 + 16,
            "{a}"
        );
        // Ourselves twice (another replica), the old config, and an older release's member
        // (rdkafka's default client id).
        let members = [a.as_str(), a.as_str(), b.as_str(), "rdkafka", b.as_str()];
        assert_eq!(
            foreign_configs(&a, members.into_iter()),
            vec!["rdkafka".to_string(), b.clone()]
        );
        assert!(foreign_configs(&a, [a.as_str(), a.as_str()].into_iter()).is_empty());
    }
}
