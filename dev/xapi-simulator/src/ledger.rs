//! The ledger: every post id the simulator served, per token (by label) and query string, so a
//! checker can compare what the API handed out with what the pipeline stored.
//!
//! Memory is bounded: at most `capacity` distinct (token, query, id) entries are kept, each as a
//! plain `u64` in a sorted vector (8 bytes an entry, no per-entry pointers or hash slack; see
//! [`Ledger::heap_bytes`]). Past the capacity new ids are no longer stored, but the counters go
//! on counting and the ledger says `overflowed`.
//!
//! Posts delivered by the filtered stream are recorded under the matching rule's value, the
//! same string a search for that query sends, so one query's posts count together however they
//! arrived (stream, backfill or search recovery); `streamed_posts` and `tags` say which came by
//! the stream and under which rule tags.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Default bound on distinct (token, query, id) entries: 16 MB of ids.
pub const DEFAULT_CAPACITY: usize = 2_000_000;

/// Ids buffered before they are merged into the sorted vector (8 KiB per (token, query)).
const PENDING_MAX: usize = 1024;

/// A set of ids: a sorted vector plus a small sorted buffer merged into it when full, so that
/// an id costs 8 bytes and inserting stays cheap (a merge moves only the ids above the
/// buffer's smallest, and new posts have the largest ids).
#[derive(Debug, Default)]
struct IdSet {
    sorted: Vec<u64>,
    pending: Vec<u64>,
}

impl IdSet {
    fn contains(&self, id: u64) -> bool {
        self.sorted.binary_search(&id).is_ok() || self.pending.binary_search(&id).is_ok()
    }

    /// Inserts an id the set does not hold.
    fn insert_new(&mut self, id: u64) {
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(PENDING_MAX);
        }
        let at = self.pending.partition_point(|&p| p < id);
        self.pending.insert(at, id);
        if self.pending.len() >= PENDING_MAX {
            self.merge_pending();
        }
    }

    /// Merges the buffer into the sorted vector in place, from the back.
    fn merge_pending(&mut self) {
        let old_len = self.sorted.len();
        self.sorted.reserve_exact(self.pending.len());
        self.sorted.extend_from_slice(&self.pending);
        let (mut i, mut j, mut k) = (old_len, self.pending.len(), self.sorted.len());
        while j > 0 {
            k -= 1;
            if i > 0 && self.sorted[i - 1] > self.pending[j - 1] {
                self.sorted[k] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[k] = self.pending[j - 1];
                j -= 1;
            }
        }
        self.pending.clear();
    }

    fn len(&self) -> usize {
        self.sorted.len() + self.pending.len()
    }

    /// Every id, ascending.
    fn to_sorted_vec(&self) -> Vec<u64> {
        let mut all = Vec::with_capacity(self.len());
        let (mut a, mut b) = (
            self.sorted.iter().peekable(),
            self.pending.iter().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            all.extend(next.copied());
        }
        all
    }

    fn heap_bytes(&self) -> usize {
        (self.sorted.capacity() + self.pending.capacity()) * size_of::<u64>()
    }
}

#[derive(Debug, Default)]
struct QueryEntries {
    /// Every post served for this query, repeats included.
    served_posts: u64,
    /// Of `served_posts`, those delivered by the filtered stream.
    streamed_posts: u64,
    /// Tags of the stream rules whose deliveries were recorded here.
    tags: BTreeSet<String>,
    /// Serves whose id was new to this query but could not be stored (capacity reached).
    unrecorded_posts: u64,
    ids: IdSet,
}

/// What one `record` call changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Entries stored now.
    pub new_entries: u64,
    /// New ids not stored because the ledger is full.
    pub unrecorded: u64,
}

/// Ids served, per token label and query string, with a bound on stored entries.
#[derive(Debug)]
pub struct Ledger {
    capacity: usize,
    entries: usize,
    overflowed: bool,
    tokens: BTreeMap<String, BTreeMap<String, QueryEntries>>,
}

impl Ledger {
    pub fn new(capacity: usize) -> Self {
        Ledger {
            capacity,
            entries: 0,
            overflowed: false,
            tokens: BTreeMap::new(),
        }
    }

    /// Records the ids of one served page.
    pub fn record(&mut self, token: &str, query: &str, ids: &[u64]) -> Recorded {
        let mut recorded = Recorded::default();
        if ids.is_empty() {
            return recorded;
        }
        let entries = self
            .tokens
            .entry(token.to_string())
            .or_default()
            .entry(query.to_string())
            .or_default();
        for &id in ids {
            entries.served_posts += 1;
            if entries.ids.contains(id) {
                continue;
            }
            if self.entries >= self.capacity {
                self.overflowed = true;
                entries.unrecorded_posts += 1;
                recorded.unrecorded += 1;
                continue;
            }
            entries.ids.insert_new(id);
            self.entries += 1;
            recorded.new_entries += 1;
        }
        recorded
    }

    /// Records posts the filtered stream delivered for a rule: under the rule's value (the
    /// query), with the rule's tag.
    pub fn record_streamed(
        &mut self,
        token: &str,
        rule_value: &str,
        tag: Option<&str>,
        ids: &[u64],
    ) -> Recorded {
        let recorded = self.record(token, rule_value, ids);
        if let Some(entries) = self
            .tokens
            .get_mut(token)
            .and_then(|queries| queries.get_mut(rule_value))
        {
            entries.streamed_posts += ids.len() as u64;
            if let Some(tag) = tag {
                entries.tags.insert(tag.to_string());
            }
        }
        recorded
    }

    /// Forgets everything (the capacity stays).
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.entries = 0;
        self.overflowed = false;
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Heap bytes held by stored ids (vector capacities; map nodes and keys excluded).
    pub fn heap_bytes(&self) -> usize {
        self.tokens
            .values()
            .flat_map(BTreeMap::values)
            .map(|q| q.ids.heap_bytes())
            .sum()
    }

    pub fn snapshot(&self) -> LedgerSnapshot {
        let tokens = self
            .tokens
            .iter()
            .map(|(token, queries)| {
                let queries: Vec<QuerySnapshot> = queries
                    .iter()
                    .map(|(query, q)| QuerySnapshot {
                        query: query.clone(),
                        served_posts: q.served_posts,
                        streamed_posts: q.streamed_posts,
                        tags: q.tags.iter().cloned().collect(),
                        distinct_posts: q.ids.len() as u64,
                        unrecorded_posts: q.unrecorded_posts,
                        ids: q.ids.to_sorted_vec(),
                    })
                    .collect();
                let mut all: Vec<u64> =
                    queries.iter().flat_map(|q| q.ids.iter().copied()).collect();
                all.sort_unstable();
                all.dedup();
                TokenSnapshot {
                    token: token.clone(),
                    served_posts: queries.iter().map(|q| q.served_posts).sum(),
                    streamed_posts: queries.iter().map(|q| q.streamed_posts).sum(),
                    distinct_posts: all.len() as u64,
                    unrecorded_posts: queries.iter().map(|q| q.unrecorded_posts).sum(),
                    queries,
                }
            })
            .collect();
        LedgerSnapshot {
            capacity: self.capacity as u64,
            entries: self.entries as u64,
            overflowed: self.overflowed,
            tokens,
        }
    }
}

/// `GET /_sim/ledger`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    pub capacity: u64,
    /// Distinct (token, query, id) entries stored.
    pub entries: u64,
    /// The capacity was reached: some ids were not stored (counters are still complete).
    pub overflowed: bool,
    pub tokens: Vec<TokenSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSnapshot {
    /// The token's configured label (never the secret).
    pub token: String,
    /// Every post served with this token, repeats included.
    pub served_posts: u64,
    /// Of `served_posts`, those delivered by the filtered stream (absent when none, so a
    /// search-only ledger reads as it did before the stream).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub streamed_posts: u64,
    /// Distinct stored ids over all queries of this token.
    pub distinct_posts: u64,
    /// Serves of ids that could not be stored (non-zero only when overflowed).
    pub unrecorded_posts: u64,
    pub queries: Vec<QuerySnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySnapshot {
    /// The `query` parameter as sent, or the value of the stream rule that matched.
    pub query: String,
    pub served_posts: u64,
    /// Of `served_posts`, those delivered by the filtered stream (backfill included; absent
    /// when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub streamed_posts: u64,
    /// Tags of the stream rules whose deliveries are counted here (empty for search only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub distinct_posts: u64,
    pub unrecorded_posts: u64,
    /// Stored ids, ascending, as strings (as X writes ids).
    #[serde(with = "string_ids")]
    pub ids: Vec<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Ids as JSON strings, as everywhere in the X API.
mod string_ids {
    use serde::de::Error;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ids: &[u64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ids.len()))?;
        for id in ids {
            seq.serialize_element(&id.to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| s.parse().map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_repeats_and_distinct_ids_per_query_and_token() {
        let mut ledger = Ledger::new(100);
        assert_eq!(
            ledger.record("a", "covid", &[30, 20, 10]),
            Recorded {
                new_entries: 3,
                unrecorded: 0
            }
        );
        // A replayed page and an overlapping query.
        ledger.record("a", "covid", &[30, 20]);
        ledger.record("a", "covid lang:en", &[20, 5]);
        ledger.record("b", "covid", &[30]);
        let snap = ledger.snapshot();
        assert_eq!(snap.entries, 6);
        assert!(!snap.overflowed);
        let a = &snap.tokens[0];
        assert_eq!(a.token, "a");
        assert_eq!(a.served_posts, 7);
        assert_eq!(a.distinct_posts, 4, "5, 10, 20, 30");
        let covid = &a.queries[0];
        assert_eq!(covid.query, "covid");
        assert_eq!(
            (covid.served_posts, covid.distinct_posts),
            (5, 3),
            "repeats counted, stored once"
        );
        assert_eq!(covid.ids, [10, 20, 30], "ascending");
        assert_eq!(snap.tokens[1].served_posts, 1);
        ledger.clear();
        let empty = ledger.snapshot();
        assert_eq!((empty.entries, empty.tokens.len()), (0, 0));
        assert_eq!(empty.capacity, 100);
    }

    #[test]
    fn past_the_capacity_counters_go_on_and_overflow_is_flagged() {
        let mut ledger = Ledger::new(3);
        ledger.record("a", "q", &[1, 2]);
        let r = ledger.record("a", "q", &[3, 4, 5, 1]);
        assert_eq!(
            r,
            Recorded {
                new_entries: 1,
                unrecorded: 2
            }
        );
        let snap = ledger.snapshot();
        assert!(snap.overflowed);
        assert_eq!(snap.entries, 3);
        let q = &snap.tokens[0].queries[0];
        assert_eq!(q.served_posts, 6, "every serve counted");
        assert_eq!(q.distinct_posts, 3);
        assert_eq!(q.unrecorded_posts, 2);
        assert_eq!(q.ids, [1, 2, 3]);
        // A stored id is still recognised as a repeat when full.
        assert_eq!(ledger.record("a", "q", &[2]), Recorded::default());
    }

    #[test]
    fn id_sets_stay_sorted_through_merges_in_any_order() {
        let mut set = IdSet::default();
        // Descending pages, ascending runs and interleaving: what pagination and polling do.
        let mut expected = Vec::new();
        for round in 0..5u64 {
            for i in (0..700u64).rev() {
                let id = i * 10 + round;
                set.insert_new(id);
                expected.push(id);
            }
        }
        expected.sort_unstable();
        assert_eq!(set.to_sorted_vec(), expected);
        assert!(expected.iter().all(|&id| set.contains(id)));
        assert!(!set.contains(7));
        assert!(set.sorted.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn an_entry_costs_eight_bytes_plus_one_buffer_per_query() {
        // Measured: heap bytes of the id vectors after 200,000 entries over 4 queries, the
        // chaos run's shape. Each query holds one 8 KiB buffer; the rest is 8 bytes an id.
        let mut ledger = Ledger::new(DEFAULT_CAPACITY);
        let queries = ["q0", "q1", "q2", "q3"];
        for page in 0..2000u64 {
            for (n, q) in queries.iter().enumerate() {
                let ids: Vec<u64> = (0..25).map(|k| (page * 25 + k) * 4 + n as u64).collect();
                ledger.record("t", q, &ids);
            }
        }
        assert_eq!(ledger.entries(), 200_000);
        let buffers = queries.len() * PENDING_MAX * 8;
        assert!(
            ledger.heap_bytes() <= ledger.entries() * 8 + buffers,
            "{} bytes for {} entries",
            ledger.heap_bytes(),
            ledger.entries()
        );
    }

    #[test]
    fn streamed_deliveries_count_with_the_search_of_the_same_query() {
        let mut ledger = Ledger::new(100);
        ledger.record("a", "covid lang:en", &[10, 20]);
        ledger.record_streamed("a", "covid lang:en", Some("pipeline-1/q0"), &[20, 30]);
        ledger.record_streamed("a", "covid lang:en", Some("pipeline-1/q0"), &[30]);
        ledger.record_streamed("a", "vacina", None, &[40]);
        let snap = ledger.snapshot();
        let a = &snap.tokens[0];
        assert_eq!((a.served_posts, a.streamed_posts), (6, 4));
        let q = &a.queries[0];
        assert_eq!(q.query, "covid lang:en");
        assert_eq!(q.ids, [10, 20, 30], "one query, whatever delivered it");
        assert_eq!((q.served_posts, q.streamed_posts), (5, 3));
        assert_eq!(q.tags, ["pipeline-1/q0"]);
        let untagged = &a.queries[1];
        assert!(untagged.tags.is_empty());
        let json = serde_json::to_value(&snap).expect("json");
        assert!(
            json["tokens"][0]["queries"][1].get("tags").is_none(),
            "no tags key without tags: {json}"
        );
        let mut search_only = Ledger::new(5);
        search_only.record("a", "q", &[1]);
        let search_only = serde_json::to_value(search_only.snapshot()).expect("json");
        assert_eq!(search_only["tokens"][0]["queries"][0]["served_posts"], 1);
        assert!(
            !search_only.to_string().contains("streamed"),
            "{search_only}"
        );
        // Snapshots written before the stream existed still read.
        let old = r#"{"capacity":1,"entries":0,"overflowed":false,"tokens":[{"token":"a","served_posts":1,"distinct_posts":1,"unrecorded_posts":0,"queries":[{"query":"q","served_posts":1,"distinct_posts":1,"unrecorded_posts":0,"ids":["5"]}]}]}"#;
        let back: LedgerSnapshot = serde_json::from_str(old).expect("old shape");
        assert_eq!(back.tokens[0].queries[0].streamed_posts, 0);
    }

    #[test]
    fn snapshots_write_ids_as_strings() {
        let mut ledger = Ledger::new(10);
        ledger.record("a", "covid", &[1_900_000_000_000_000_001]);
        let json = serde_json::to_value(ledger.snapshot()).expect("json");
        assert_eq!(
            json["tokens"][0]["queries"][0]["ids"],
            serde_json::json!(["1900000000000000001"])
        );
        let back: LedgerSnapshot = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, ledger.snapshot());
    }
}
