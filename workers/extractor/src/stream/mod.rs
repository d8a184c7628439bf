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

pub mod backoff;
pub mod connection;
pub mod recovery;
pub mod route;
pub mod rules;

use std::collections::BTreeMap;

use tweetpipe_common::contract::extractor::ExtractorConfig;

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
}
