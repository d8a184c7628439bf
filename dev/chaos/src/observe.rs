//! Reads of what the pipeline produced: Kafka (checkpoints, committed post records, the
//! transformers' committed offsets) and MariaDB (stored matches, roll-ups and their recount).
//! Only the documented contracts are used: the checkpoint record, the `tweetpipe-query` header,
//! the transformer group name and the MySQL schema.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::Connection;
use sqlx::mysql::MySqlConnection;
use tweetpipe_common::contract::checkpoint::Checkpoint;

use crate::error::ChaosError;

const READ_BOUND: Duration = Duration::from_secs(90);

/// What the committed (read_committed) post records of the topic hold.
#[derive(Debug, Default)]
pub struct Committed {
    /// Records per (post id, query name): more than one is a committed duplicate.
    pub copies: HashMap<(String, String), u32>,
    /// Per partition, the offset after its last record (transaction markers excluded).
    pub ends: BTreeMap<i32, i64>,
}

fn reader(bootstrap: &str, group: &str) -> Result<BaseConsumer, KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("allow.auto.create.topics", "false")
        .create()
}

/// Reads every committed record of `topic` from the beginning to the end of each partition.
fn read_all(
    bootstrap: &str,
    topic: &str,
    mut each: impl FnMut(i32, i64, Option<&[u8]>, Option<&[u8]>, Option<&str>),
) -> Result<(), ChaosError> {
    let consumer = reader(
        bootstrap,
        &format!("tweetpipe-chaos-reader-{}", std::process::id()),
    )?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .first()
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(ChaosError::Invalid(format!(
            "topic {topic} has no partitions"
        )));
    }
    let mut assignment = TopicPartitionList::new();
    for p in &partitions {
        assignment.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut open: HashSet<i32> = partitions.into_iter().collect();
    let deadline = std::time::Instant::now() + READ_BOUND;
    while !open.is_empty() {
        if std::time::Instant::now() >= deadline {
            return Err(ChaosError::Timeout {
                what: format!("the end of {topic}"),
                seconds: READ_BOUND.as_secs(),
            });
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                let query = m.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == tweetpipe_common::headers::QUERY)
                        .and_then(|h| h.value)
                        .and_then(|v| std::str::from_utf8(v).ok())
                });
                each(m.partition(), m.offset(), m.key(), m.payload(), query);
            }
        }
    }
    Ok(())
}

/// The newest checkpoint per query (the compacted topic's latest committed value per key), and
/// the stream queries' starts (epoch ms) by name.
pub type CheckpointHistory = (BTreeMap<String, Checkpoint>, BTreeMap<String, i64>);

/// The newest checkpoint per query, and when each stream query that was never searched began
/// streaming: the `stored_until` of its first checkpoint, the one the extractor writes when its
/// first connection is answered (no post, no search progress yet). Posts published before that
/// are not the stream's to collect (a new stream query starts at its first connection, as
/// docs/extractor.md says); a query searched first has none (search collected its past). The
/// topic is compacted, but not its active segment, which holds a whole run; should the first
/// record be gone, no start is found and every published post is expected (a failure, never a
/// hidden loss).
pub fn checkpoint_history(bootstrap: &str, topic: &str) -> Result<CheckpointHistory, ChaosError> {
    let mut latest = BTreeMap::new();
    let mut starts = BTreeMap::new();
    let mut searched = std::collections::BTreeSet::new();
    read_all(bootstrap, topic, |_, _, _, payload, _| {
        let Some(cp) = payload.and_then(|p| Checkpoint::from_json(p).ok()) else {
            return;
        };
        match &cp.stream {
            None => {
                searched.insert(cp.query.clone());
            }
            Some(stream)
                if !searched.contains(&cp.query)
                    && !starts.contains_key(&cp.query)
                    && cp.posts_total == 0
                    && cp.since_id.is_none() =>
            {
                if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&stream.stored_until) {
                    starts.insert(cp.query.clone(), t.timestamp_millis());
                }
            }
            Some(_) => {}
        }
        latest.insert(cp.query.clone(), cp);
    })?;
    Ok((latest, starts))
}

/// Committed post records: copies per (post id, query) and the end of each partition.
pub fn committed(bootstrap: &str, topic: &str) -> Result<Committed, ChaosError> {
    let mut out = Committed::default();
    read_all(bootstrap, topic, |partition, offset, key, _, query| {
        out.ends.insert(partition, offset + 1);
        let id = key
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        *out.copies
            .entry((id, query.unwrap_or_default().to_string()))
            .or_default() += 1;
    })?;
    Ok(out)
}

/// Records the transformers' group has not committed yet: per partition, the end of its
/// records minus the group's committed offset (markers after the last record do not count).
pub fn lag(
    bootstrap: &str,
    group: &str,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
) -> Result<i64, ChaosError> {
    let consumer = reader(bootstrap, group)?;
    let mut partitions = TopicPartitionList::new();
    for p in ends.keys() {
        partitions.add_partition(topic, *p);
    }
    let committed = consumer.committed_offsets(partitions, Duration::from_secs(10))?;
    Ok(ends
        .iter()
        .map(|(p, end)| {
            let done = match committed.find_partition(topic, *p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            };
            (end - done).max(0)
        })
        .sum())
}

/// Roll-up rows that differ from a recount of the base rows.
#[derive(Debug, Default)]
pub struct RollupCheck {
    pub hourly_rows: usize,
    pub hourly_mismatches: Vec<String>,
    pub hashtag_rows: usize,
    pub hashtag_mismatches: Vec<String>,
}

pub struct Database {
    conn: MySqlConnection,
}

impl Database {
    pub async fn connect(admin_url: &str, database: &str) -> Result<Self, ChaosError> {
        let url = format!("{}/{database}", admin_url.trim_end_matches('/'));
        Ok(Database {
            conn: MySqlConnection::connect(&url).await?,
        })
    }

    /// Post ids stored per query name (`post_queries`).
    pub async fn stored(&mut self) -> Result<BTreeMap<String, HashSet<String>>, ChaosError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT CAST(post_id AS CHAR), query_name FROM post_queries")
                .fetch_all(&mut self.conn)
                .await?;
        let mut stored: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        for (id, query) in rows {
            stored.entry(query).or_default().insert(id);
        }
        Ok(stored)
    }

    /// `posts_hourly` against a recount from `post_queries` ⨝ `posts`, and `hashtags_daily`
    /// against a recount from `post_hashtags`.
    pub async fn check_rollups(&mut self) -> Result<RollupCheck, ChaosError> {
        type Hourly = (String, String, String, i64, i64, i64, i64, i64);
        let recount: Vec<Hourly> = sqlx::query_as(
            "SELECT DATE_FORMAT(pq.created_at, '%Y-%m-%d %H:00'), pq.query_name, pq.lang, COUNT(*),
                    CAST(SUM(p.kind = 'original') AS SIGNED), CAST(SUM(p.kind = 'retweet') AS SIGNED),
                    CAST(SUM(p.kind = 'reply') AS SIGNED), CAST(SUM(p.kind = 'quote') AS SIGNED)
             FROM post_queries pq JOIN posts p ON p.id = pq.post_id GROUP BY 1, 2, 3",
        )
        .fetch_all(&mut self.conn)
        .await?;
        let rollup: Vec<Hourly> = sqlx::query_as(
            "SELECT DATE_FORMAT(hour, '%Y-%m-%d %H:00'), query_name, lang, CAST(posts AS SIGNED),
                    CAST(originals AS SIGNED), CAST(retweets AS SIGNED), CAST(replies AS SIGNED),
                    CAST(quotes AS SIGNED)
             FROM posts_hourly",
        )
        .fetch_all(&mut self.conn)
        .await?;
        let key = |r: &Hourly| (r.0.clone(), r.1.clone(), r.2.clone());
        let value = |r: &Hourly| (r.3, r.4, r.5, r.6, r.7);
        let hourly_rows = rollup.len();
        let hourly_mismatches = differences(
            recount.iter().map(|r| (key(r), value(r))).collect(),
            rollup.iter().map(|r| (key(r), value(r))).collect(),
            (0, 0, 0, 0, 0),
        );
        type Daily = (String, String, i64);
        let recount: Vec<Daily> = sqlx::query_as(
            "SELECT DATE_FORMAT(created_at, '%Y-%m-%d'), CONVERT(tag USING utf8mb4), COUNT(*)
             FROM post_hashtags GROUP BY 1, 2",
        )
        .fetch_all(&mut self.conn)
        .await?;
        let rollup: Vec<Daily> = sqlx::query_as(
            "SELECT DATE_FORMAT(day, '%Y-%m-%d'), CONVERT(tag USING utf8mb4), CAST(posts AS SIGNED)
             FROM hashtags_daily",
        )
        .fetch_all(&mut self.conn)
        .await?;
        let hashtag_mismatches = differences(
            recount
                .iter()
                .map(|r| ((r.0.clone(), r.1.clone()), r.2))
                .collect(),
            rollup
                .iter()
                .map(|r| ((r.0.clone(), r.1.clone()), r.2))
                .collect(),
            0,
        );
        Ok(RollupCheck {
            hourly_rows,
            hourly_mismatches,
            hashtag_rows: rollup.len(),
            hashtag_mismatches,
        })
    }
}

/// Keys whose recount differs from the roll-up (an absent row counts as `zero`), described.
pub fn differences<K, V>(recount: BTreeMap<K, V>, rollup: BTreeMap<K, V>, zero: V) -> Vec<String>
where
    K: Ord + Clone + std::fmt::Debug,
    V: PartialEq + std::fmt::Debug,
{
    let keys: std::collections::BTreeSet<K> =
        recount.keys().chain(rollup.keys()).cloned().collect();
    keys.into_iter()
        .filter_map(|k| {
            let counted = recount.get(&k).unwrap_or(&zero);
            let rolled = rollup.get(&k).unwrap_or(&zero);
            (counted != rolled).then(|| format!("{k:?}: roll-up {rolled:?}, recount {counted:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_treat_absent_rows_as_zero() {
        let recount = BTreeMap::from([("a", 2), ("b", 1), ("z", 0)]);
        let rollup = BTreeMap::from([("a", 2), ("b", 2), ("c", 1)]);
        let diffs = differences(recount, rollup, 0);
        assert_eq!(diffs.len(), 2, "{diffs:?}");
        assert!(diffs[0].starts_with("\"b\"") && diffs[1].starts_with("\"c\""));
    }
}
