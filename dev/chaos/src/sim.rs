//! The X API simulator's admin API, reached from the host at the pod's address on the pod bridge.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::error::ChaosError;

/// `GET /_sim/ledger`: every post id served, per token and query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Ledger {
    #[serde(default)]
    pub capacity: u64,
    #[serde(default)]
    pub entries: u64,
    #[serde(default)]
    pub overflowed: bool,
    #[serde(default)]
    pub tokens: Vec<TokenLedger>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenLedger {
    pub token: String,
    #[serde(default)]
    pub served_posts: u64,
    /// Of `served_posts`, those the filtered stream delivered (absent from a search-only ledger).
    #[serde(default)]
    pub streamed_posts: u64,
    #[serde(default)]
    pub distinct_posts: u64,
    #[serde(default)]
    pub queries: Vec<QueryLedger>,
}

/// One query string's entry: searched pages and streamed deliveries of the rule with that value
/// count together (the simulator records a streamed post under the matching rule's value).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueryLedger {
    pub query: String,
    /// Posts served, repeats included (search pages, stream deliveries, backfill redeliveries).
    #[serde(default)]
    pub served_posts: u64,
    /// Of `served_posts`, those the filtered stream delivered (backfill included).
    #[serde(default)]
    pub streamed_posts: u64,
    /// Tags of the stream rules whose deliveries are counted here.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub ids: Vec<String>,
}

/// `GET /_sim/stats`, the fields the verdict needs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Stats {
    #[serde(default)]
    pub visible_posts: u64,
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenStats>,
    /// The filtered stream, per app (token label); absent for apps that never streamed.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamStats>,
}

/// `/_sim/stats` `streams.<app>` (docs/simulator.md, "Filtered stream").
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct StreamStats {
    /// Connections open now.
    #[serde(default)]
    pub open_connections: u64,
    /// Connections accepted.
    #[serde(default)]
    pub connections: u64,
    /// Attempts refused with 429 `TooManyConnections` (the app's one connection was in use).
    #[serde(default)]
    pub refused_too_many_connections: u64,
    /// Attempts refused with an injected 429 (`faults.stream.reject_connects`).
    #[serde(default)]
    pub refused_injected: u64,
    /// Real 429s: a stream endpoint's request window (connection attempts, rule changes, rule
    /// lookups) was used up.
    #[serde(default)]
    pub rate_limited: u64,
    /// Posts written to connections (backfill included).
    #[serde(default)]
    pub posts_delivered: u64,
    #[serde(default)]
    pub keep_alives: u64,
    #[serde(default)]
    pub injected_drops: u64,
    #[serde(default)]
    pub injected_stalls: u64,
    #[serde(default)]
    pub injected_operational_disconnects: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenStats {
    #[serde(default)]
    pub requests: u64,
    /// Rate-limit 429s only: injected faults are 5xx and counted apart.
    #[serde(default)]
    pub rate_limited: u64,
    #[serde(default)]
    pub usage_capped: u64,
    #[serde(default)]
    pub posts_served: u64,
    /// Injected 5xx, slow and cut-off answers (the schedule's API faults).
    #[serde(default)]
    pub injected_server_errors: u64,
    #[serde(default)]
    pub injected_slow: u64,
    #[serde(default)]
    pub injected_malformed: u64,
}

#[derive(Debug, Deserialize)]
struct Matching {
    ids: Vec<String>,
    #[serde(default)]
    newest_id: Option<String>,
}

#[derive(Clone)]
pub struct Simulator {
    base: String,
    http: reqwest::Client,
}

impl Simulator {
    /// `address` is `ip:port` of the simulator pod.
    pub fn new(address: &str) -> Result<Self, ChaosError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()?;
        Ok(Simulator {
            base: format!("http://{address}"),
            http,
        })
    }

    pub async fn ready(&self) -> bool {
        self.http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Replaces the fault configuration (`{}` clears every fault).
    pub async fn put_faults(&self, faults: &serde_json::Value) -> Result<(), ChaosError> {
        self.http
            .put(format!("{}/_sim/faults", self.base))
            .json(faults)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    pub async fn stats(&self) -> Result<Stats, ChaosError> {
        Ok(self
            .http
            .get(format!("{}/_sim/stats", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    pub async fn ledger(&self) -> Result<Ledger, ChaosError> {
        Ok(self
            .http
            .get(format!("{}/_sim/ledger", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// The newest published post matching `query`, if any.
    pub async fn newest_matching(&self, query: &str) -> Result<Option<String>, ChaosError> {
        Ok(self.matching_answer(query).await?.newest_id)
    }

    async fn matching_answer(&self, query: &str) -> Result<Matching, ChaosError> {
        Ok(self
            .http
            .get(format!("{}/_sim/matching", self.base))
            .query(&[("query", query)])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Ids of every published post matching `query`: what a perfect client would hold.
    pub async fn matching(&self, query: &str) -> Result<Vec<String>, ChaosError> {
        Ok(self.matching_answer(query).await?.ids)
    }
}
