//! The whole decision for one pipeline: observed facts in, replica counts, query shares and the
//! status out. No I/O, so every path is a unit test.

use chrono::{DateTime, SecondsFormat, Utc};
use tweetpipe_common::contract::budget::after_safety_margin;

use super::conditions::{self, Check, Facts, SchemaState};
use super::monthly::{self, MonthlyForecast, MonthlyState};
use super::scaling::{self, CapReason, QueryShare, ScalingDecision, ScalingInput};
use super::stream;
use super::transformer::{self, TransformerBound, TransformerInput};
use crate::crd::{
    ExtractorStatus, MonthlyStatus, QueryStatus, StreamStatus, TransformerStatus, TweetPipeline,
    TweetPipelineStatus,
};
use crate::labels::{Component, selector_string};

// The record the extractor writes to `<topic>.checkpoints`, declared once in the contract.
pub use tweetpipe_common::contract::checkpoint::{Checkpoint, StopReason};

/// What the reconcile read before deciding.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Now.
    pub now: DateTime<Utc>,
    /// Secrets resolved?
    pub secrets: Check,
    /// Kafka topics in shape?
    pub kafka: Check,
    /// MySQL schema in shape?
    pub mysql: Check,
    /// The post schema in the schema registry.
    pub schema: SchemaState,
    /// Latest checkpoint per query.
    pub checkpoints: Vec<Checkpoint>,
    /// Consumer lag of the transformers' group; `None` when unknown.
    pub lag: Option<i64>,
    /// Partitions of the posts topic, when known.
    pub partitions: Option<i32>,
    /// Ready extractor pods.
    pub extractor_ready: i32,
    /// Ready transformer pods.
    pub transformer_ready: i32,
    /// Transformer replicas now (held while the lag is unknown).
    pub transformer_current: Option<i32>,
    /// The extractor StatefulSet's `spec.replicas`, if it exists.
    pub extractor_current: Option<i32>,
    /// Earlier lag-based transformer recommendations (time, replicas), newest last: a scale-down
    /// waits until every recommendation in the stabilisation window agrees.
    pub transformer_history: Vec<(DateTime<Utc>, i32)>,
    /// Length of that window.
    pub scale_down_window: chrono::TimeDelta,
    /// Queries X would refuse, with X's explanation.
    pub invalid_queries: Vec<String>,
    /// Why `source.baseUrl` may not receive the bearer tokens; no extractor runs while set.
    pub api_host_refusal: Option<String>,
    /// Why `extractor.image` / `transformer.image` may not run; workloads are left as they are
    /// (nothing is applied) while set.
    pub image_refusal: Option<String>,
    /// Whether the stream queries' apps are theirs ([`super::stream::judge_apps`]); `None`
    /// without stream queries.
    pub stream_apps: Option<Check>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Extractor replica count and why.
    pub scaling: ScalingDecision,
    /// Each query's token and request share.
    pub query_shares: Vec<QueryShare>,
    /// Monthly forecast, with a cap.
    pub monthly: Option<MonthlyForecast>,
    /// Transformer replicas.
    pub transformer_replicas: i32,
    /// What bounded them.
    pub transformer_bound: TransformerBound,
    /// This reconcile's unstabilised recommendation, to remember for the next ones.
    pub transformer_recommendation: i32,
    /// The status to write.
    pub status: TweetPipelineStatus,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Decides everything for `tp` given `observed`.
pub fn plan(tp: &TweetPipeline, observed: &Observed) -> Plan {
    let spec = &tp.spec;
    let source = &spec.source;
    let month = monthly::month_of(observed.now);
    let month_posts: u64 = observed
        .checkpoints
        .iter()
        .filter(|c| c.month == month)
        .map(|c| c.month_posts)
        .sum();
    let forecast = source
        .limits
        .monthly_post_cap
        .map(|cap| monthly::forecast(observed.now, month_posts, cap, source.safety_margin_percent));

    let scaling = scaling::decide_extractor_replicas(&ScalingInput {
        tokens: u32::try_from(source.tokens.len()).unwrap_or(u32::MAX),
        requests_per_window: source.limits.requests_per_window,
        safety_margin_percent: source.safety_margin_percent,
        min_requests_per_replica: spec.extractor.min_requests_per_replica,
        queries: u32::try_from(
            source
                .queries
                .iter()
                .filter(|q| q.delivery_mode().is_search())
                .count(),
        )
        .unwrap_or(u32::MAX),
        stream_connections: u32::try_from(stream::rules_per_token(spec).len()).unwrap_or(u32::MAX),
        max_replicas: spec.extractor.max_replicas,
        suspended: spec.suspend,
        monthly_budget_spent: forecast
            .as_ref()
            .is_some_and(|f| f.state == MonthlyState::Reached),
        api_host_refused: observed.api_host_refusal.is_some(),
        schema_refused: observed.schema.refusal().map(str::to_string),
    });
    let throttle = forecast.as_ref().map_or(100, |f| f.throttle_percent);
    let query_shares = scaling::query_shares(
        source.tokens.len(),
        scaling.budget_per_token,
        throttle,
        source.queries.len(),
    );

    let partitions = observed.partitions.unwrap_or(spec.kafka.partitions);
    let (recommendation, transformer_bound) =
        transformer::decide_transformer_replicas(&TransformerInput {
            lag: observed.lag,
            target_lag_per_replica: spec.transformer.target_lag_per_replica,
            min_replicas: spec.transformer.min_replicas,
            max_replicas: spec.transformer.max_replicas,
            partitions,
            current: observed.transformer_current,
            suspended: spec.suspend,
        });
    let transformer_replicas = if spec.suspend {
        recommendation
    } else {
        transformer::stabilise(
            recommendation,
            &observed.transformer_history,
            observed.now,
            observed.scale_down_window,
        )
    };

    let stopped_queries = observed
        .checkpoints
        .iter()
        .filter(|c| source.queries.iter().any(|q| q.name == c.query))
        .filter_map(|c| {
            c.stopped
                .as_ref()
                .map(|s| format!("query {} stopped ({}): {}", c.query, s.reason, s.message))
        })
        .collect();
    let previous = tp
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let monthly_fact = forecast.as_ref().map(|f| (f.state, monthly_message(f)));
    let facts = Facts {
        generation: tp.metadata.generation,
        suspended: spec.suspend,
        secrets: observed.secrets.clone(),
        kafka: observed.kafka.clone(),
        mysql: observed.mysql.clone(),
        schema: observed.schema.clone(),
        rate_limited: (scaling.reason == CapReason::RateBudget).then(|| scaling.message.clone()),
        monthly: monthly_fact,
        extractors: (scaling.replicas, observed.extractor_ready),
        extractor_cap: scaling.reason,
        transformers: (transformer_replicas, observed.transformer_ready),
        stopped_queries,
        invalid_queries: observed.invalid_queries.clone(),
        api_host_refusal: observed.api_host_refusal.clone(),
        image_refusal: observed.image_refusal.clone(),
        // Without a stream query there is nothing to judge, whatever was observed.
        stream_apps: stream::streams(spec)
            .then(|| observed.stream_apps.clone())
            .flatten(),
    };
    let conditions = conditions::compute(&facts, previous, &rfc3339(observed.now));

    let queries = source
        .queries
        .iter()
        .zip(&query_shares)
        .map(|(q, share)| {
            let checkpoint = observed.checkpoints.iter().find(|c| c.query == q.name);
            // A query moved back to search keeps its old stream progress in the checkpoint.
            let progress = checkpoint
                .filter(|_| q.delivery_mode().is_stream())
                .and_then(|c| c.stream.as_ref());
            QueryStatus {
                name: q.name.clone(),
                newest_id: checkpoint.and_then(|c| c.newest_id.clone()),
                last_poll_at: checkpoint.and_then(|c| c.last_poll_at.clone()),
                posts_total: checkpoint.map_or(0, |c| c.posts_total),
                month_posts: checkpoint
                    .filter(|c| c.month == month)
                    .map_or(0, |c| c.month_posts),
                token: i32::try_from(share.token).ok(),
                requests_per_window: share.requests_per_window,
                gaps_total: checkpoint.map_or(0, |c| c.gaps_total),
                last_gap: checkpoint
                    .and_then(|c| c.last_gap.as_ref())
                    .map(|g| format!("{} to {}", g.from, g.to)),
                stopped_reason: checkpoint
                    .and_then(|c| c.stopped.as_ref())
                    .map(|s| s.reason.clone()),
                stopped_message: checkpoint
                    .and_then(|c| c.stopped.as_ref())
                    .map(|s| s.message.clone()),
                delivery: stream::delivery_name(q.delivery_mode()).to_string(),
                rule_tag: q
                    .delivery_mode()
                    .is_stream()
                    .then(|| stream::rule_tag(tp, &q.name)),
                rule_id: progress.and_then(|p| p.rule_id.clone()),
                stored_until: progress.map(|p| p.stored_until.clone()),
                recovered_posts: progress.map_or(0, |p| p.recovered_posts),
                recoveries: progress.map_or(0, |p| p.recoveries),
            }
        })
        .collect::<Vec<_>>();
    let posts_total = queries.iter().map(|q| q.posts_total).sum();

    let status = TweetPipelineStatus {
        observed_generation: tp.metadata.generation,
        conditions,
        extractor: ExtractorStatus {
            replicas: scaling.replicas,
            ready_replicas: observed.extractor_ready,
            cap_reason: scaling.reason.to_string(),
            cap_message: scaling.message.clone(),
            budget_requests_per_window: scaling.budget_total,
            // Suspended or capped (no replicas): nothing is spent, whatever the shares say.
            requests_per_window_in_use: if scaling.replicas > 0 {
                scaling::requests_in_use(&query_shares)
            } else {
                0
            },
            selector: selector_string(tp, Component::Extractor),
        },
        transformer: TransformerStatus {
            replicas: transformer_replicas,
            ready_replicas: observed.transformer_ready,
            lag: observed.lag.unwrap_or(0),
            partitions,
        },
        queries,
        posts_total,
        monthly: forecast.as_ref().map(|f| MonthlyStatus {
            month: f.month.clone(),
            posts_used: f.posts_used,
            cap: f.cap,
            used_percent: format!("{}%", f.posts_used.saturating_mul(100) / f.cap.max(1)),
            forecast_cap_reached_at: f.cap_reached_at.map(rfc3339),
            throttle_percent: f.throttle_percent,
        }),
        stream: stream::streams(spec).then(|| StreamStatus {
            connections: stream::connections(spec, &observed.checkpoints, observed.now),
        }),
    };
    Plan {
        scaling,
        query_shares,
        monthly: forecast,
        transformer_replicas,
        transformer_bound,
        transformer_recommendation: recommendation,
        status,
    }
}

fn monthly_message(f: &MonthlyForecast) -> String {
    match f.state {
        MonthlyState::Reached => format!(
            "{} of {} posts read in {} (cap minus safety margin: {}): extractors stopped until next month",
            f.posts_used, f.cap, f.month, f.usable
        ),
        MonthlyState::Near if f.throttle_percent < 100 => format!(
            "{} of {} posts read in {}; at this rate the cap would be reached early, so extractors run at {}% of the rate budget",
            f.posts_used, f.cap, f.month, f.throttle_percent
        ),
        MonthlyState::Near => format!(
            "{} of {} posts read in {}: near the cap",
            f.posts_used, f.cap, f.month
        ),
        MonthlyState::Within => format!("{} of {} posts read in {}", f.posts_used, f.cap, f.month),
    }
}

/// The monthly budget handed to the extractors: the cap minus the safety margin.
pub fn monthly_post_budget(tp: &TweetPipeline) -> Option<u64> {
    let source = &tp.spec.source;
    source
        .limits
        .monthly_post_cap
        .map(|cap| after_safety_margin(cap, source.safety_margin_percent))
}

/// Parses one checkpoint record value; `None` for records that are not checkpoints.
pub fn parse_checkpoint(value: &[u8]) -> Option<Checkpoint> {
    Checkpoint::from_json(value).ok()
}
