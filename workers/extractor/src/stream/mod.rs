//! Stream mode: queries whose `delivery` is `stream` or `stream_with_search_recovery` are
//! served by X's filtered stream instead of polling.
//!
//! - [`backoff`]: X's reconnect schedules (network, HTTP, 429).
//! - [`rules`]: this pipeline's rules of the app, added and deleted by tag.
//! - [`connection`]: the one connection of an app, read with bounded reads.
//! - [`route`]: `matching_rules` to queries; the recent-id set against redeliveries.
//! - [`recovery`]: gap arithmetic (what backfill does not cover, what search fills).
//!
//! **Who holds the connection.** X allows one connection per app (bearer token). The stream
//! queries of a pipeline are grouped by token file; each group's connection, and writing all of
//! its queries, belongs to the replica that owns the slot of the group's first query (its
//! *leader*, the lowest slot). The existing slot group ([`crate::ownership`]) then guarantees one
//! holder at a time, with the same handoff as search queries: a revocation ends the connection
//! before the slot moves, and every transaction of the group is fenced with the leader's slot.
//! The slots of the group's other queries are owned by someone but idle: their queries are
//! written by the leader's owner, and their checkpoints read when it takes the leader slot.

//!
//! **Rules no stream query needs.** A connection's holder deletes this pipeline's stale rules
//! on its app whenever it (re)takes the connection. An app none of whose queries streams any
//! more has no holder: there the owner of the lowest slot on the token sweeps (see
//! [`sweep_slots`]), so the extractor stays the one component that changes a running
//! pipeline's rules (the operator deletes them only with the pipeline, when no extractor runs).

pub mod backoff;
pub mod connection;
pub mod recovery;
pub mod route;
pub mod rules;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use tweetpipe_common::contract::checkpoint::Checkpoint;
use tweetpipe_common::contract::extractor::ExtractorConfig;

/// The slots whose owner deletes this pipeline's rules on an app no stream query uses:
/// `slot → token file`, the lowest slot of each token file without stream queries. Only when
/// a query that is not streamed now has stream progress in its checkpoint (it streamed once,
/// so its rule may be left): a pipeline that never streamed never calls the rules endpoint.
/// The progress stays, so the sweep repeats on every reassignment (one rules lookup per app),
/// which also undoes a rule an old replica re-added during a rollout.
pub fn sweep_slots(
    config: &ExtractorConfig,
    checkpoints: &HashMap<String, Checkpoint>,
) -> BTreeMap<usize, PathBuf> {
    let left_stream = config.queries.iter().any(|q| {
        !q.delivery.is_stream() && checkpoints.get(&q.name).is_some_and(|c| c.stream.is_some())
    });
    if !left_stream {
        return BTreeMap::new();
    }
    let streamed: Vec<&std::path::Path> = config
        .queries
        .iter()
        .filter(|q| q.delivery.is_stream())
        .map(|q| q.token_file.as_path())
        .collect();
    let mut lowest: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (slot, q) in config.queries.iter().enumerate() {
        if !streamed.contains(&q.token_file.as_path()) {
            lowest.entry(q.token_file.clone()).or_insert(slot);
        }
    }
    lowest
        .into_iter()
        .map(|(file, slot)| (slot, file))
        .collect()
}

/// The stream queries' slots per connection: `leader slot → every slot of the group` (the
/// leader first), one group per token file.
pub fn connection_groups(config: &ExtractorConfig) -> BTreeMap<usize, Vec<usize>> {
    let mut by_token: BTreeMap<&std::path::Path, Vec<usize>> = BTreeMap::new();
    for (slot, q) in config.queries.iter().enumerate() {
        if q.delivery.is_stream() {
            by_token
                .entry(q.token_file.as_path())
                .or_default()
                .push(slot);
        }
    }
    by_token
        .into_values()
        .filter_map(|slots| Some((*slots.first()?, slots)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_stream_queries_by_token_led_by_the_lowest_slot() {
        let q = |name: &str, token: &str, delivery: &str| {
            serde_json::json!({"name": name, "query": name, "token_file": token,
                "requests_per_window": 1, "window_seconds": 900, "delivery": delivery})
        };
        let config: ExtractorConfig = serde_json::from_value(serde_json::json!({
            "pipeline": "ns/p", "api_base_url": "http://x",
            "kafka": {"bootstrap_servers": "k:9092", "topic": "t"},
            "queries": [q("a", "/t1", "search"), q("b", "/t2", "stream"),
                        q("c", "/t1", "stream_with_search_recovery"), q("d", "/t2", "stream"),
                        q("e", "/t1", "stream")]
        }))
        .expect("config");
        let groups = connection_groups(&config);
        assert_eq!(
            groups.into_iter().collect::<Vec<_>>(),
            vec![(1, vec![1, 3]), (2, vec![2, 4])]
        );
    }

    #[test]
    fn apps_without_stream_queries_are_swept_once_a_query_left_the_stream() {
        let q = |name: &str, token: &str, delivery: &str| {
            serde_json::json!({"name": name, "query": name, "token_file": token,
                "requests_per_window": 1, "window_seconds": 900, "delivery": delivery})
        };
        let config = |queries: Vec<serde_json::Value>| -> ExtractorConfig {
            serde_json::from_value(serde_json::json!({
                "pipeline": "ns/p", "api_base_url": "http://x",
                "kafka": {"bootstrap_servers": "k:9092", "topic": "t"},
                "queries": queries
            }))
            .expect("config")
        };
        let streamed_once = |name: &str| {
            let mut cp = Checkpoint::new(name, "2026-12");
            cp.stream = Some(Default::default());
            (name.to_string(), cp)
        };
        let searched = |name: &str| (name.to_string(), Checkpoint::new(name, "2026-12"));
        let mixed = config(vec![
            q("a", "/t1", "search"),
            q("b", "/t2", "stream"),
            q("c", "/t1", "search"),
            q("d", "/t3", "search"),
        ]);
        // (case, checkpoints, sweeping slots)
        type Case = (
            &'static str,
            HashMap<String, Checkpoint>,
            Vec<(usize, &'static str)>,
        );
        let cases: Vec<Case> = vec![
            (
                "never streamed",
                HashMap::from([searched("a"), searched("c")]),
                vec![],
            ),
            (
                "the stream query's own progress says nothing",
                HashMap::from([streamed_once("b")]),
                vec![],
            ),
            (
                "c left the stream: every app without a stream query",
                HashMap::from([searched("a"), streamed_once("c")]),
                vec![(0, "/t1"), (3, "/t3")],
            ),
            (
                "a removed query is not looked at",
                HashMap::from([streamed_once("gone")]),
                vec![],
            ),
        ];
        for (case, checkpoints, expected) in cases {
            let slots: Vec<(usize, PathBuf)> =
                sweep_slots(&mixed, &checkpoints).into_iter().collect();
            let expected: Vec<(usize, PathBuf)> = expected
                .into_iter()
                .map(|(s, f)| (s, PathBuf::from(f)))
                .collect();
            assert_eq!(slots, expected, "{case}");
        }
        let all_search = config(vec![q("a", "/t1", "search"), q("b", "/t1", "search")]);
        assert_eq!(
            sweep_slots(&all_search, &HashMap::from([streamed_once("b")]))
                .into_iter()
                .collect::<Vec<_>>(),
            vec![(0, PathBuf::from("/t1"))]
        );
    }
}
