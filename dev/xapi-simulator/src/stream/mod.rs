//! X API v2's filtered stream: `POST`/`GET /2/tweets/search/stream/rules` and
//! `GET /2/tweets/search/stream`.
//!
//! - [`rules`]: rule validation (the search grammar, per-tier limits) and X's answers.
//! - [`connection`]: one streaming connection: posts as they are published, keep-alives,
//!   backfill, and the injected faults.
//! - [`http`]: the handlers.
//!
//! An app is a bearer token: each has its own rule set and its own connection budget
//! (`stream.max_connections_per_app`, one as on Pro).

pub mod connection;
pub mod http;
pub mod rules;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use serde::Serialize;
use tokio::sync::watch;

use crate::config::StreamConfig;
use crate::limits::{Admission, RateHeaders, TokenLimits};
use crate::query::AccessLevel;
use rules::{Rule, RuleIds, RuleLimits, RuleSet, RulesAnswer};

/// Per-app counters of the stream, for tests and `/_sim/stats` (`streams`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StreamStats {
    /// Connections open now.
    pub open_connections: u64,
    /// Connections accepted so far.
    pub connections: u64,
    /// Connection attempts refused with 429 `TooManyConnections` (the app's limit was reached).
    pub refused_too_many_connections: u64,
    /// Connection attempts refused with an injected 429 (`faults.stream.reject_connects`).
    pub refused_injected: u64,
    /// Requests refused with 429 because an endpoint's request window was used up
    /// (connection attempts, rule changes or rule lookups).
    pub rate_limited: u64,
    /// Posts written to connections (backfill included; one per post, whatever rules matched).
    pub posts_delivered: u64,
    /// Keep-alive `\r\n` written.
    pub keep_alives: u64,
    /// Connections closed by `faults.stream.drop`.
    pub injected_drops: u64,
    /// Connections stalled by `faults.stream.stall`.
    pub injected_stalls: u64,
    /// Operational-disconnect messages written (`faults.stream.operational_disconnect`).
    pub injected_operational_disconnects: u64,
}

/// The stream's endpoints, each with its own per-app request window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    Connect,
    RuleChanges,
    RuleLookups,
}

#[derive(Debug, Default)]
struct Apps {
    /// Active rules by token label.
    rules: HashMap<String, RuleSet>,
    ids: RuleIds,
}

/// The stream's share of the simulator's state.
pub(crate) struct StreamState {
    pub(crate) config: StreamConfig,
    pub(crate) access_level: AccessLevel,
    pub(crate) limits: RuleLimits,
    apps: Mutex<Apps>,
    windows: Mutex<HashMap<(String, Endpoint), TokenLimits>>,
    stats: Mutex<BTreeMap<String, StreamStats>>,
    /// Connection attempts that passed authentication, for `reject_connects`.
    pub(crate) connect_attempts: AtomicU64,
    /// Bumped to end every connection open at that moment (the simulator stopping, or a test
    /// or chaos run restarting the stream); connections opened later are served.
    pub(crate) closings: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StreamState {
    pub(crate) fn new(config: StreamConfig, access_level: AccessLevel) -> Self {
        StreamState {
            config,
            access_level,
            limits: RuleLimits::for_level(access_level),
            apps: Mutex::new(Apps::default()),
            windows: Mutex::new(HashMap::new()),
            stats: Mutex::new(BTreeMap::new()),
            connect_attempts: AtomicU64::new(0),
            closings: watch::Sender::new(0),
        }
    }

    /// The app's active rules (shared, not copied).
    pub(crate) fn rules_of(&self, token: &str) -> RuleSet {
        lock(&self.apps)
            .rules
            .get(token)
            .cloned()
            .unwrap_or_default()
    }

    /// Runs `change` on the app's rules under the lock (so concurrent changes cannot lose one
    /// another) and stores the new set its answer carries, if any.
    pub(crate) fn change_rules(
        &self,
        token: &str,
        change: impl FnOnce(&[Rule], &mut RuleIds) -> RulesAnswer,
    ) -> RulesAnswer {
        let mut apps = lock(&self.apps);
        let Apps { rules, ids } = &mut *apps;
        let current = rules.get(token).cloned().unwrap_or_default();
        let mut answer = change(&current, ids);
        if let Some(set) = answer.new_set.take() {
            rules.insert(token.to_string(), RuleSet::new(set));
        }
        answer
    }

    /// Counts a request against the app's window for `endpoint`: `Err` when it is used up.
    /// Either way, the headers the answer carries.
    pub(crate) fn admit(
        &self,
        token: &str,
        endpoint: Endpoint,
        now_ms: i64,
    ) -> Result<RateHeaders, RateHeaders> {
        let limit = match endpoint {
            Endpoint::Connect => self.config.connects_per_window,
            Endpoint::RuleChanges => self.config.rule_changes_per_window,
            Endpoint::RuleLookups => self.config.rule_lookups_per_window,
        };
        let mut windows = lock(&self.windows);
        let window = windows
            .entry((token.to_string(), endpoint))
            .or_insert_with(|| TokenLimits::new(limit, self.config.window_seconds, u64::MAX));
        let admission = window.admit(now_ms);
        let headers = window.headers();
        drop(windows);
        if admission == Admission::RateLimited {
            self.count(token, |s| s.rate_limited += 1);
            Err(headers)
        } else {
            Ok(headers)
        }
    }

    /// Updates the app's counters.
    pub(crate) fn count(&self, token: &str, update: impl FnOnce(&mut StreamStats)) {
        update(lock(&self.stats).entry(token.to_string()).or_default());
    }

    /// Takes a connection slot for the app if it has one free.
    pub(crate) fn try_open(&self, token: &str) -> bool {
        let mut stats = lock(&self.stats);
        let app = stats.entry(token.to_string()).or_default();
        if app.open_connections >= self.config.max_connections_per_app as u64 {
            app.refused_too_many_connections += 1;
            return false;
        }
        app.open_connections += 1;
        app.connections += 1;
        true
    }

    pub(crate) fn release(&self, token: &str) {
        if let Some(app) = lock(&self.stats).get_mut(token) {
            app.open_connections = app.open_connections.saturating_sub(1);
        }
    }

    pub(crate) fn stats(&self) -> BTreeMap<String, StreamStats> {
        lock(&self.stats).clone()
    }
}
