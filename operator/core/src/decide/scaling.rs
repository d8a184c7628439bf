//! How many extractors may run, and who gets which queries and which share of the rate budget.
//!
//! Every replica holds one bearer token; all replicas on one token draw from that token's bucket
//! of `requestsPerWindow` per window. A replica is only worth running when its share reaches
//! `minRequestsPerReplica`, and only when it has a query to run. So the replica count is the
//! smallest of: what the budget affords at the minimum share, the number of queries, and
//! `maxReplicas`.

use std::fmt;

use tweetpipe_common::contract::budget::after_safety_margin;

/// What fixed the extractor replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapReason {
    /// `spec.suspend` is set.
    Suspended,
    /// `spec.source.baseUrl` is not an allowed API host: no extractor may hold the tokens.
    ApiHostNotAllowed,
    /// The schema registry refuses the post schema: an extractor could not write.
    SchemaNotRegistered,
    /// The monthly post budget is spent.
    MonthlyCap,
    /// The rate budget affords no more replicas at the minimum share.
    RateBudget,
    /// There are no more queries to spread.
    Queries,
    /// `spec.extractor.maxReplicas`.
    MaxReplicas,
}

impl CapReason {
    /// The name shown in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            CapReason::Suspended => "Suspended",
            CapReason::ApiHostNotAllowed => "ApiHostNotAllowed",
            CapReason::SchemaNotRegistered => "SchemaNotRegistered",
            CapReason::MonthlyCap => "MonthlyCap",
            CapReason::RateBudget => "RateBudget",
            CapReason::Queries => "Queries",
            CapReason::MaxReplicas => "MaxReplicas",
        }
    }
}

impl fmt::Display for CapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the scaling rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingInput {
    /// Bearer tokens (independent buckets).
    pub tokens: u32,
    /// Each token's requests per window.
    pub requests_per_window: u32,
    /// Held back, percent.
    pub safety_margin_percent: u32,
    /// Smallest useful share per replica, requests per window.
    pub min_requests_per_replica: u32,
    /// Queries to spread: the search queries, each runs on one replica.
    pub queries: u32,
    /// Stream connections (tokens with `delivery: Stream` queries): a token's stream queries
    /// are written by one replica, the holder of its connection, so they count as one.
    pub stream_connections: u32,
    /// `spec.extractor.maxReplicas`.
    pub max_replicas: i32,
    /// Whether `spec.suspend` is set.
    pub suspended: bool,
    /// Whether the monthly post budget is spent.
    pub monthly_budget_spent: bool,
    /// Whether `spec.source.baseUrl` is refused by the allow-list of API hosts.
    pub api_host_refused: bool,
    /// Why the schema registry refuses the post schema, when it does (an outage is not a
    /// refusal: running extractors keep their schema id).
    pub schema_refused: Option<String>,
}

/// The scaling rule's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingDecision {
    /// Extractor replicas.
    pub replicas: i32,
    /// What fixed that number.
    pub reason: CapReason,
    /// The reason for people.
    pub message: String,
    /// One token's budget after the safety margin.
    pub budget_per_token: u32,
    /// All tokens' budget after the safety margin.
    pub budget_total: u64,
}

/// One token's requests per window after the safety margin.
pub fn budget_per_token(requests_per_window: u32, safety_margin_percent: u32) -> u32 {
    let kept = after_safety_margin(u64::from(requests_per_window), safety_margin_percent);
    // Never more than requests_per_window, so it always fits.
    u32::try_from(kept).unwrap_or(u32::MAX)
}

/// The scaling rule. Ties between limits report the one a user most needs to know about.
pub fn decide_extractor_replicas(input: &ScalingInput) -> ScalingDecision {
    let per_token = budget_per_token(input.requests_per_window, input.safety_margin_percent);
    let budget_total = u64::from(per_token) * u64::from(input.tokens);
    let decision = |replicas: i32, reason: CapReason, message: String| ScalingDecision {
        replicas,
        reason,
        message,
        budget_per_token: per_token,
        budget_total,
    };
    if input.suspended {
        return decision(
            0,
            CapReason::Suspended,
            "spec.suspend is set: no extractors run".into(),
        );
    }
    if input.api_host_refused {
        return decision(
            0,
            CapReason::ApiHostNotAllowed,
            "source.baseUrl is not an allowed API host: no extractor runs, so no bearer token is sent".into(),
        );
    }
    if let Some(why) = &input.schema_refused {
        return decision(
            0,
            CapReason::SchemaNotRegistered,
            format!("no extractor runs until the schema registry accepts the post schema: {why}"),
        );
    }
    if input.monthly_budget_spent {
        return decision(
            0,
            CapReason::MonthlyCap,
            "the monthly post budget (cap minus safety margin) is spent: extractors stop until next month".into(),
        );
    }
    let per_token_replicas = per_token / input.min_requests_per_replica.max(1);
    let by_budget = i64::from(per_token_replicas) * i64::from(input.tokens);
    let by_queries = i64::from(input.queries) + i64::from(input.stream_connections);
    let by_max = i64::from(input.max_replicas.max(0));
    let replicas = by_budget.min(by_queries).min(by_max);
    let replicas_i32 = i32::try_from(replicas).unwrap_or(i32::MAX);
    if replicas == by_budget {
        let message = format!(
            "rate budget: {} token(s) × {} requests per window, minus the {}% safety margin, is {} requests per window; at {} or more per replica it affords {} replica(s)",
            input.tokens,
            input.requests_per_window,
            input.safety_margin_percent,
            budget_total,
            input.min_requests_per_replica,
            by_budget
        );
        decision(replicas_i32, CapReason::RateBudget, message)
    } else if replicas == by_queries && input.stream_connections == 0 {
        decision(
            replicas_i32,
            CapReason::Queries,
            format!(
                "{} {}: a query runs on one replica, so more replicas would idle",
                input.queries,
                if input.queries == 1 {
                    "query"
                } else {
                    "queries"
                }
            ),
        )
    } else if replicas == by_queries {
        decision(
            replicas_i32,
            CapReason::Queries,
            format!(
                "{} search {} and {} stream connection(s): a search query runs on one replica, and so do all stream queries of one token, so more replicas would idle",
                input.queries,
                if input.queries == 1 {
                    "query"
                } else {
                    "queries"
                },
                input.stream_connections
            ),
        )
    } else {
        decision(
            replicas_i32,
            CapReason::MaxReplicas,
            format!(
                "spec.extractor.maxReplicas is {}; the rate budget would afford {} and there are {} queries",
                input.max_replicas, by_budget, input.queries
            ),
        )
    }
}

/// One query's token and its share of that token's budget. Shares belong to queries, not
/// replicas: whichever replica runs a query (the extractors hand queries over among themselves
/// as they scale) spends that query's share, so the sum per token never changes with the
/// replica count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryShare {
    /// Index into `spec.source.queries`.
    pub query: usize,
    /// Index into `spec.source.tokens`.
    pub token: usize,
    /// Requests per window this query may spend.
    pub requests_per_window: u32,
}

/// Gives query `i` token `i mod tokens` and splits each token's budget over its queries.
/// `throttle_percent` (monthly slow-down) scales every token's budget; shares of one token
/// differ by at most one request, and none is below one request per window.
pub fn query_shares(
    tokens: usize,
    budget_per_token: u32,
    throttle_percent: u32,
    queries: usize,
) -> Vec<QueryShare> {
    if tokens == 0 {
        return Vec::new();
    }
    let throttled = u64::from(budget_per_token) * u64::from(throttle_percent.min(100)) / 100;
    let mut position_on_token = vec![0u64; tokens];
    (0..queries)
        .map(|query| {
            let token = query % tokens;
            let count = ((queries - token).div_ceil(tokens)) as u64;
            let position = position_on_token[token];
            position_on_token[token] += 1;
            let extra = u64::from(position < throttled % count);
            // At least one request per window: workers refuse a zero share as a config error,
            // and a deep monthly slow-down may round a share to nothing.
            let share = (throttled / count + extra).max(1);
            QueryShare {
                query,
                token,
                requests_per_window: u32::try_from(share).unwrap_or(u32::MAX),
            }
        })
        .collect()
}

/// Requests per window handed out in total.
pub fn requests_in_use(shares: &[QueryShare]) -> u64 {
    shares
        .iter()
        .map(|a| u64::from(a.requests_per_window))
        .sum()
}
