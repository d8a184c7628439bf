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
    #[serde(default)]
    pub distinct_posts: u64,
    #[serde(default)]
    pub queries: Vec<QueryLedger>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueryLedger {
    pub query: String,
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

    /// Ids of every published post matching `query`: what a perfect client would hold.
    pub async fn matching(&self, query: &str) -> Result<Vec<String>, ChaosError> {
        let matching: Matching = self
            .http
            .get(format!("{}/_sim/matching", self.base))
            .query(&[("query", query)])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(matching.ids)
    }
}
