//! The `TweetPipeline` custom resource (`tweetpipe.io/v1beta1`, stored; `v1alpha1` still served).
//!
//! The two versions have the same schema, so the API server converts between them with the
//! `None` strategy (it only rewrites `apiVersion`); see [`definition`]. A version whose schema
//! differs will need a conversion webhook.
//!
//! The Rust types are the source of truth: `crds/` is generated from them (`crdgen`), never edited.
//! Validation lives in two layers, both enforced by the API server at `kubectl apply` time:
//! OpenAPI bounds (lengths, ranges, patterns, enums) and CEL rules whose messages say what to fix.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use tweetpipe_common::contract::budget::after_safety_margin_expression;
use tweetpipe_common::contract::databases::{GRANT_WILDCARDS, RESERVED_DATABASES};
use tweetpipe_common::contract::extractor::{
    BACKFILL_MINUTES_RANGE, Delivery, MAX_RESULTS_MAX, MAX_RESULTS_MIN,
};
use tweetpipe_common::contract::fields::{REQUIRED_TWEET_FIELDS, REQUIRED_USER_FIELDS};
use tweetpipe_common::contract::topics::{
    COMPANION_SUFFIXES, KAFKA_MAX_TOPIC_CHARS, LONGEST_COMPANION_SUFFIX, MAX_POST_TOPIC_CHARS,
};
use tweetpipe_common::contract::transformer::BATCH_SIZE_MAX;
use tweetpipe_xquery::fields;

/// Name of the finalizer the operator puts on every pipeline.
pub const FINALIZER: &str = "tweetpipe.io/cleanup";

// Rule texts shared by several fields (and quoted by the admission checks' tests). Messages say
// what to fix in words; no message quotes a regular expression.

/// Why `metadata.name` must be a DNS-1035 label.
pub const NAME_IS_DNS_LABEL: &str = "metadata.name must start with a lowercase letter, contain only lowercase letters, digits and '-', and end with a letter or digit: it names the pipeline's Services and workloads";
/// `source.baseUrl` given with the endpoint path.
pub const BASE_URL_WITHOUT_PATH: &str = "source.baseUrl must not contain an API path: give the base URL only, e.g. https://api.x.com; the extractor appends /2/tweets/search/recent";
/// Secret names are DNS-1123 subdomains.
pub const SECRET_NAME_RULE: &str = "a Secret name may contain only lowercase letters, digits, '-' and '.', and must start and end with a letter or digit";
/// `mysql.database` cannot change.
pub const DATABASE_IMMUTABLE: &str = "mysql.database cannot change: the posts live in the old database; create a new TweetPipeline instead";
/// Image references: `[registry[:port]/]path[:tag][@sha256:digest]`, lowercase path.
pub const IMAGE_MESSAGE: &str = "image must be a container image reference such as ghcr.io/acme/extractor:1.2.0 or registry:5000/team/transformer@sha256:<64 hex digits>: an optional registry host (with optional :port) and '/', then a lowercase path of letters, digits and separators ('.', '_', '-', '/'), an optional :tag (letters, digits, '.', '_', '-', at most 128) and an optional @sha256: digest";
const IMAGE_RULE: &str = "self.matches('^(([a-zA-Z0-9-]+([.][a-zA-Z0-9-]+)+(:[0-9]+)?|[a-zA-Z0-9-]+:[0-9]+|localhost)/)?[a-z0-9]+(([.]|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([.]|_|__|-+)[a-z0-9]+)*)*(:[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$')";
/// Only judged once the servers are well-formed host:port pairs (the format rule speaks first).
const BOOTSTRAP_PORT_RULE: &str = r"!self.matches('^[^:,\\s]+:[0-9]{1,5}(,[^:,\\s]+:[0-9]{1,5})*$') || self.matches('^[^:,\\s]+:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})(,[^:,\\s]+:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))*$')";
/// CEL rule: the posts topic leaves room for its longest companion suffix. Built from the
/// contract's constants, like [`reserved_topic_suffix_rule`], so the CRD cannot drift from them.
pub fn topic_length_rule() -> String {
    format!("size(self) <= {MAX_POST_TOPIC_CHARS}")
}
/// Message of [`topic_length_rule`] (and of the admission check's twin).
pub fn topic_length_message() -> String {
    format!(
        "kafka.topic must be at most {MAX_POST_TOPIC_CHARS} characters: Kafka allows {KAFKA_MAX_TOPIC_CHARS} and the pipeline adds {LONGEST_COMPANION_SUFFIX} to it for its companion topic"
    )
}
/// CEL rule: the posts topic does not end in a companion suffix, e.g.
/// `!self.endsWith('.checkpoints') && !self.endsWith('.slots') && …`.
pub fn reserved_topic_suffix_rule() -> String {
    COMPANION_SUFFIXES
        .map(|suffix| format!("!self.endsWith('{suffix}')"))
        .join(" && ")
}
/// Message of [`reserved_topic_suffix_rule`] (and of the admission check's twin).
pub fn reserved_topic_suffix_message() -> String {
    // ".checkpoints, .slots or .dlq"
    let listed = match COMPANION_SUFFIXES.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.to_string(),
        None => String::new(),
    };
    format!(
        "kafka.topic must not end in {listed}: those suffixes are the pipeline's own companion topics"
    )
}
/// CEL rule: the database is none of the schema crate's [`RESERVED_DATABASES`], in any case,
/// e.g. `!(self.lowerAscii() in ['mysql', …, 'tweetpipe_control'])`.
pub fn reserved_database_rule() -> String {
    let listed = RESERVED_DATABASES
        .map(|name| format!("'{name}'"))
        .join(", ");
    format!("!(self.lowerAscii() in [{listed}])")
}
/// Message of [`reserved_database_rule`] (and of the admission check's twin).
pub fn reserved_database_message() -> String {
    format!(
        "mysql.database must not be a system schema nor tweetpipe's ownership ledger ({}): a pipeline's accounts would get rights on the server's accounts or on which pipeline owns what",
        RESERVED_DATABASES.join(", ")
    )
}
/// CEL rule: the database is not made only of GRANT wildcards, e.g. `!self.matches('^[_%]+$')`.
pub fn wildcard_database_rule() -> String {
    let class: String = GRANT_WILDCARDS.iter().collect();
    format!("!self.matches('^[{class}]+$')")
}
/// Message of [`wildcard_database_rule`] (and of the admission check's twin).
pub const WILDCARD_DATABASE_MESSAGE: &str = "mysql.database must contain a letter or digit: a name made only of '_' is a probe for MySQL's GRANT wildcards, never a pipeline's database";
/// CEL rule: a replica's minimum share fits one token's budget after the safety margin
/// ([`tweetpipe_common::contract::budget::after_safety_margin`], written out in CEL).
pub fn min_share_rule() -> String {
    format!(
        "self.extractor.minRequestsPerReplica <= {}",
        after_safety_margin_expression(
            "self.source.limits.requestsPerWindow",
            "self.source.safetyMarginPercent"
        )
    )
}
/// The min-share rule's message (static: the API server's cost estimator refuses a
/// messageExpression that prints the numbers; the admission webhook prints them).
pub const MIN_SHARE_MESSAGE: &str = "extractor.minRequestsPerReplica must not exceed the requests one token allows per window after the safety margin, source.limits.requestsPerWindow x (100 - source.safetyMarginPercent) / 100 rounded down (e.g. 450 x 90 / 100 = 405): no replica could ever get its minimum share of the rate budget; lower minRequestsPerReplica or safetyMarginPercent";
/// The longest `query` of a `delivery: Stream` query at `level`: the query becomes a
/// filtered-stream rule (X's rule limit), and with search recovery it is searched too (the
/// search limit as well). Used by the CEL rule and the admission check alike.
pub fn stream_query_max_chars(
    level: tweetpipe_xquery::AccessLevel,
    search_recovery: bool,
) -> usize {
    let rule = level.max_rule_chars();
    if search_recovery {
        rule.min(level.max_query_chars())
    } else {
        rule
    }
}
/// CEL: the limit for one recovery setting by access level, e.g.
/// `(L == 'Enterprise' ? 2048 : 512)`: the default level's limit, and a branch for each level
/// whose limit differs (an unset level is the default).
fn stream_limit_expression(search_recovery: bool) -> String {
    let default = tweetpipe_xquery::AccessLevel::from(AccessLevel::default());
    let level = format!(
        "(has(self.accessLevel) ? self.accessLevel : '{}')",
        default.name()
    );
    let fallback = stream_query_max_chars(default, search_recovery);
    tweetpipe_xquery::AccessLevel::ALL
        .iter()
        .map(|l| (l.name(), stream_query_max_chars(*l, search_recovery)))
        .filter(|(_, limit)| *limit != fallback)
        .rev()
        .fold(fallback.to_string(), |otherwise, (name, limit)| {
            format!("({level} == '{name}' ? {limit} : {otherwise})")
        })
}
/// CEL rule on `source`: every `delivery: Stream` query fits [`stream_query_max_chars`] of the
/// access level.
pub fn stream_query_length_rule() -> String {
    format!(
        "self.queries.all(q, !has(q.delivery) || q.delivery != 'Stream' || size(q.query) <= ((has(q.searchRecovery) && !q.searchRecovery) ? {} : {}))",
        stream_limit_expression(false),
        stream_limit_expression(true)
    )
}
/// Message of [`stream_query_length_rule`] (and of the admission check's twin).
pub fn stream_query_length_message() -> String {
    use tweetpipe_xquery::AccessLevel::{Basic, Enterprise, Pro};
    format!(
        "a query with delivery Stream becomes a filtered-stream rule, and with searchRecovery (the default) recent search runs it too: it may be at most {} characters on Pro and PayPerUse ({} on Enterprise, {} on Basic), or with searchRecovery: false at most {} ({} on Enterprise, {} on Basic), X's rule limit; shorten it or split it into several queries",
        stream_query_max_chars(Pro, true),
        stream_query_max_chars(Enterprise, true),
        stream_query_max_chars(Basic, true),
        stream_query_max_chars(Pro, false),
        stream_query_max_chars(Enterprise, false),
        stream_query_max_chars(Basic, false),
    )
}
/// `searchRecovery` on a query that is not streamed.
pub const SEARCH_RECOVERY_NEEDS_STREAM: &str = "searchRecovery applies only to a query with delivery Stream (it says whether a disconnect longer than the backfill is filled from recent search); remove it or set delivery: Stream";
const SEARCH_RECOVERY_RULE: &str =
    "!has(self.searchRecovery) || (has(self.delivery) && self.delivery == 'Stream')";
/// Values that are not quantities are judged by the per-value rule. Only cpu and memory: looping
/// over every key exceeds the API server's CEL cost budget.
const REQUESTS_WITHIN_LIMITS_RULE: &str = "!has(self.requests) || !has(self.limits) || ['cpu', 'memory'].all(k, !(k in self.requests) || !(k in self.limits) || !isQuantity(string(self.requests[k])) || !isQuantity(string(self.limits[k])) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)";
/// Resource names a container may request.
const RESOURCE_NAME_RULE: &str = "self.all(k, k in ['cpu', 'memory', 'ephemeral-storage'] || k.startsWith('hugepages-') || k.contains('/'))";
const RESOURCE_NAME_MESSAGE: &str = "resource names must be cpu, memory, ephemeral-storage, hugepages-<size> or a domain-prefixed extended resource such as nvidia.com/gpu";
/// `string(self)` covers both shapes of int-or-string (`cpu: 1` and `cpu: 500m`).
/// `string(self)` covers both shapes of int-or-string (`cpu: 1` and `cpu: 500m`); Kubernetes
/// 1.33 has no `Quantity.sign()`, so a leading '-' marks a negative one.
const QUANTITY_RULE: &str = "isQuantity(string(self)) && !string(self).startsWith('-')";
const QUANTITY_MESSAGE: &str = "must be a non-negative quantity such as 100m, 0.5, 1, 64Mi or 1Gi: a number with an optional suffix (m, k, M, G, T, Ki, Mi, Gi, Ti)";

/// Desired state of one tweet ETL pipeline: where posts come from, where they flow, where they land.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tweetpipe.io",
    version = "v1beta1",
    kind = "TweetPipeline",
    plural = "tweetpipelines",
    singular = "tweetpipeline",
    shortname = "tp",
    category = "tweetpipe",
    namespaced,
    status = "TweetPipelineStatus",
    derive = "PartialEq",
    validation = Rule::new("size(self.metadata.name) <= 40").message("metadata.name must be at most 40 characters: it prefixes the names of the pipeline's workloads, Secrets and consumer group"),
    validation = Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')").message(NAME_IS_DNS_LABEL),
    doc = "A tweet ETL pipeline: extractors poll the X API recent search, Kafka carries Avro posts, transformers upsert them into MySQL.",
    scale(
        spec_replicas_path = ".spec.extractor.maxReplicas",
        status_replicas_path = ".status.extractor.readyReplicas",
        label_selector_path = ".status.extractor.selector"
    ),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Extractors", type_ = "integer", description = "Ready extractor replicas", json_path = ".status.extractor.readyReplicas"),
    printcolumn(name = "Cap", type_ = "string", description = "What limits the extractor replica count", json_path = ".status.extractor.capReason"),
    printcolumn(name = "Transformers", type_ = "integer", description = "Ready transformer replicas", json_path = ".status.transformer.readyReplicas"),
    printcolumn(name = "Lag", type_ = "integer", description = "Consumer lag of the transformers (records)", json_path = ".status.transformer.lag"),
    printcolumn(name = "Posts", type_ = "integer", description = "Posts collected, all queries", json_path = ".status.postsTotal"),
    printcolumn(name = "Month", type_ = "string", description = "Monthly post cap used", json_path = ".status.monthly.usedPercent", priority = 1),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspend", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new(min_share_rule()).message(MIN_SHARE_MESSAGE))]
#[serde(rename_all = "camelCase")]
pub struct TweetPipelineSpec {
    /// The X API: base URL, bearer tokens, queries, fields, tier limits.
    pub source: SourceSpec,
    /// Extractor workers (X API → Kafka).
    #[serde(default)]
    pub extractor: ExtractorSpec,
    /// Kafka cluster and topic the posts flow through.
    pub kafka: KafkaSpec,
    /// Transformer workers (Kafka → MySQL).
    #[serde(default)]
    pub transformer: TransformerSpec,
    /// MySQL-compatible database the posts land in.
    pub mysql: MySqlSpec,
    /// What happens to topics and tables when the pipeline is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Stop all workers and keep all data.
    #[serde(default)]
    pub suspend: bool,
}

/// Where posts come from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.queries.all(q, self.queries.exists_one(p, p.name == q.name))").message("source.queries: every query needs a unique name (two queries share one)"))]
#[x_kube(validation = Rule::new("self.tokens.all(t, self.tokens.exists_one(u, u.name == t.name && u.key == t.key))").message("source.tokens: each bearer token must be listed once (two entries name the same Secret and key)"))]
#[x_kube(validation = Rule::new(stream_query_length_rule()).message(stream_query_length_message().as_str()))]
#[serde(rename_all = "camelCase")]
pub struct SourceSpec {
    /// Base URL of the X API (the simulator's URL in local tests). The extractor appends `/2/tweets/search/recent`.
    #[serde(default = "default_base_url")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^/\\\\s]+(/.*)?$')").message("source.baseUrl must be an http:// or https:// URL, e.g. https://api.x.com"))]
    #[x_kube(validation = Rule::new("!self.matches('^[a-zA-Z]+://[^/]+(/.*)?/2(/.*)?$')").message(BASE_URL_WITHOUT_PATH))]
    pub base_url: String,
    /// Bearer tokens, each from a Secret; every token is its own rate-limit bucket. Never inline.
    #[schemars(length(min = 1, max = 16))]
    pub tokens: Vec<SecretKeyRef>,
    /// The searches to run, each with a stable name (used in checkpoints, metrics and tables).
    #[schemars(length(min = 1, max = 200))]
    pub queries: Vec<QuerySpec>,
    /// Fields and expansions requested from the API.
    #[serde(default)]
    pub fields: FieldsSpec,
    /// Rate and usage limits of the API tier.
    #[serde(default)]
    pub limits: TierLimits,
    /// Share of every budget (rate and monthly) held back, in percent, so the API never refuses us.
    #[serde(default = "default_safety_margin")]
    #[schemars(range(min = 0, max = 90))]
    pub safety_margin_percent: u32,
    /// Posts asked for per request (`max_results`), 10 to 100.
    #[serde(default = "default_max_results")]
    #[schemars(range(min = MAX_RESULTS_MIN, max = MAX_RESULTS_MAX))]
    pub max_results: u32,
    /// The X project's access level. It sets the longest query X accepts (512 characters on
    /// Basic, Pro and PayPerUse, 4,096 on Enterprise) and whether the advanced operators
    /// ($cashtag, list:, place:, place_country:, point_radius:, bounding_box:, -is:nullcast,
    /// has:cashtags, has:geo) are available (not on Basic). The admission webhook checks every
    /// query against it.
    #[serde(default)]
    pub access_level: AccessLevel,
    /// The filtered stream's settings, for queries with `delivery: Stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamSpec>,
}

/// The filtered stream (queries with `delivery: Stream`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StreamSpec {
    /// Minutes of missed posts X redelivers on every reconnect (`backfill_minutes`, 1 to 5; Pro
    /// and Enterprise). A disconnect longer than this is a gap: filled from recent search with
    /// `searchRecovery`, else recorded in the query's status.
    #[serde(default = "default_backfill_minutes")]
    #[schemars(range(min = *BACKFILL_MINUTES_RANGE.start(), max = *BACKFILL_MINUTES_RANGE.end()))]
    pub backfill_minutes: u8,
}

impl Default for StreamSpec {
    fn default() -> Self {
        StreamSpec {
            backfill_minutes: default_backfill_minutes(),
        }
    }
}

/// How a query's posts reach the pipeline.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum QueryDelivery {
    /// Poll recent search (one request per page, a polling interval late at best).
    #[default]
    Search,
    /// X's filtered stream: one long-lived connection per app pushes each matching post within
    /// seconds; the query becomes a rule of the app.
    Stream,
}

impl QueryDelivery {
    fn is_search(&self) -> bool {
        *self == QueryDelivery::Search
    }
}

/// An X API access level, as far as recent search queries are concerned.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum AccessLevel {
    /// Legacy self-serve Basic: core operators only, queries up to 512 characters.
    Basic,
    /// Legacy self-serve Pro: every operator, queries up to 512 characters.
    #[default]
    Pro,
    /// Self-serve pay-per-use: every operator, queries up to 512 characters.
    PayPerUse,
    /// Enterprise: every operator, queries up to 4,096 characters.
    Enterprise,
}

impl From<AccessLevel> for tweetpipe_xquery::AccessLevel {
    fn from(level: AccessLevel) -> Self {
        match level {
            AccessLevel::Basic => tweetpipe_xquery::AccessLevel::Basic,
            AccessLevel::Pro => tweetpipe_xquery::AccessLevel::Pro,
            AccessLevel::PayPerUse => tweetpipe_xquery::AccessLevel::PayPerUse,
            AccessLevel::Enterprise => tweetpipe_xquery::AccessLevel::Enterprise,
        }
    }
}

/// A key inside a Secret in the pipeline's namespace.
#[derive(
    KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message(SECRET_NAME_RULE))]
    pub name: String,
    /// Key inside the Secret.
    #[serde(default = "default_token_key")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$')").message("a Secret key may contain only letters, digits, '-', '_' and '.'"))]
    pub key: String,
}

/// One named search.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new(SEARCH_RECOVERY_RULE).message(SEARCH_RECOVERY_NEEDS_STREAM))]
#[serde(rename_all = "camelCase")]
pub struct QuerySpec {
    /// Stable name: lowercase letters, digits and '-', at most 63 characters.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("a query name may contain only lowercase letters, digits and '-', and must start and end with a letter or digit"))]
    pub name: String,
    /// The X search query, e.g. `(covid OR quarantine) lang:en -is:retweet`. X refuses queries
    /// over 512 characters on self-serve access, 4,096 on Enterprise (`source.accessLevel`; the
    /// admission webhook checks the full grammar).
    #[schemars(length(min = 1, max = 4096))]
    // Unicode whitespace explicitly: RE2's `\s` is ASCII only, so U+00A0 or U+3000 would pass.
    #[x_kube(validation = Rule::new(r"!self.matches('^[\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}]*$')").message("a query must contain search terms, not only spaces"))]
    pub query: String,
    /// `Search` (the default) polls recent search; `Stream` takes the posts from X's filtered
    /// stream, within seconds of publication (docs/streaming.md says when to choose which).
    /// A streamed query is a rule of its token's app: at most 1,024 characters on Pro (2,048
    /// on Enterprise), at most 1,000 rules per app.
    #[serde(default, skip_serializing_if = "QueryDelivery::is_search")]
    pub delivery: QueryDelivery,
    /// For `delivery: Stream`: fill a disconnect longer than `source.stream.backfillMinutes`
    /// from recent search over exactly the missed interval (default true); false records such
    /// an interval as a gap instead. Only with `delivery: Stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_recovery: Option<bool>,
}

impl QuerySpec {
    /// The extractor's delivery mode: a streamed query recovers by search unless told not to.
    pub fn delivery_mode(&self) -> Delivery {
        match (self.delivery, self.search_recovery) {
            (QueryDelivery::Search, _) => Delivery::Search,
            (QueryDelivery::Stream, Some(false)) => Delivery::Stream,
            (QueryDelivery::Stream, _) => Delivery::StreamWithSearchRecovery,
        }
    }
}

/// Fields and expansions asked for on every request.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldsSpec {
    /// `tweet.fields`: names X accepts (see the enum).
    #[serde(default = "default_tweet_fields")]
    #[schemars(schema_with = "tweet_fields_schema")]
    pub tweet_fields: Vec<String>,
    /// `user.fields`: names X accepts (see the enum).
    #[serde(default = "default_user_fields")]
    #[schemars(schema_with = "user_fields_schema")]
    pub user_fields: Vec<String>,
    /// `place.fields`: names X accepts (see the enum).
    #[serde(default = "default_place_fields")]
    #[schemars(schema_with = "place_fields_schema")]
    pub place_fields: Vec<String>,
    /// `expansions`: names X accepts (see the enum).
    #[serde(default = "default_expansions")]
    #[schemars(schema_with = "expansions_schema")]
    pub expansions: Vec<String>,
}

/// The API tier's limits for recent search.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TierLimits {
    /// Requests allowed per token per window (450 for an app token on Pro, 60 on Basic).
    #[serde(default = "default_requests_per_window")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub requests_per_window: u32,
    /// Length of the rate-limit window in seconds (900 for X).
    #[serde(default = "default_window_seconds")]
    #[schemars(range(min = 1, max = 86_400))]
    pub window_seconds: u32,
    /// Posts the project may read per calendar month (10,000 on Basic, 1,000,000 on Pro); unset means no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub monthly_post_cap: Option<u64>,
}

/// Extractor workers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExtractorSpec {
    /// Container image reference, `[registry[:port]/]path[:tag][@sha256:digest]`; the operator's
    /// default when unset. Only the operator's own image or one its administrator allows
    /// (Helm value allowedWorkerImages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new(IMAGE_RULE).message(IMAGE_MESSAGE))]
    pub image: Option<String>,
    /// Upper bound on extractor replicas; the rate budget and the number of queries may lower it.
    #[serde(default = "default_extractor_max_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub max_replicas: i32,
    /// Smallest share of a token's window budget worth a replica of its own, in requests per window.
    #[serde(default = "default_min_requests_per_replica")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub min_requests_per_replica: u32,
    /// Compute resources of each extractor container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// Kafka connection and topic.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.topic == oldSelf.topic").message("kafka.topic cannot change: the topic holds the posts and checkpoints; create a new TweetPipeline instead"))]
#[x_kube(validation = Rule::new("self.partitions >= oldSelf.partitions").message("kafka.partitions can only grow: Kafka cannot remove partitions from a topic"))]
#[x_kube(validation = Rule::new("!has(self.sasl) || has(self.tls) || self.sasl.mechanism != 'PLAIN'").message("kafka.sasl: PLAIN sends the password in clear text; configure kafka.tls as well or use a SCRAM mechanism"))]
#[serde(rename_all = "camelCase")]
pub struct KafkaSpec {
    /// Bootstrap servers, comma separated `host:port`, ports 1 to 65535.
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("self.matches('^[^:,\\\\s]+:[0-9]{1,5}(,[^:,\\\\s]+:[0-9]{1,5})*$')").message("kafka.bootstrapServers must be comma-separated host:port pairs, e.g. kafka-0.kafka:9092,kafka-1.kafka:9092"))]
    #[x_kube(validation = Rule::new(BOOTSTRAP_PORT_RULE).message("kafka.bootstrapServers: every port must be between 1 and 65535, e.g. kafka-0.kafka:9092"))]
    pub bootstrap_servers: String,
    /// Topic of the posts; `<topic>.checkpoints`, `<topic>.slots` and `<topic>.dlq` are created
    /// beside it.
    #[schemars(length(min = 1, max = KAFKA_MAX_TOPIC_CHARS))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9._-]+$')").message("kafka.topic may contain only ASCII letters, digits, '.', '_' and '-' (Kafka's rule for topic names)"))]
    #[x_kube(validation = Rule::new("self != '.' && self != '..'").message("kafka.topic cannot be '.' or '..': Kafka forbids those names"))]
    #[x_kube(validation = Rule::new(topic_length_rule()).message(topic_length_message().as_str()))]
    #[x_kube(validation = Rule::new(reserved_topic_suffix_rule()).message(reserved_topic_suffix_message().as_str()))]
    pub topic: String,
    /// Partitions of the posts topic: the ceiling of transformer parallelism. Can only grow.
    /// At most the operator's limits.maxPartitions (64 unless its administrator raised it).
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 10_000))]
    pub partitions: i32,
    /// Replication factor of the posts topic and its companion topics. At most the operator's
    /// limits.maxReplicationFactor (5 unless raised).
    #[serde(default = "default_replication_factor")]
    #[schemars(range(min = 1, max = 16))]
    pub replication_factor: i32,
    /// How long posts stay in the topic, in hours. At most the operator's
    /// limits.maxRetentionHours (2160, 90 days, unless raised).
    #[serde(default = "default_retention_hours")]
    #[schemars(range(min = 1, max = 87_600))]
    pub retention_hours: u32,
    /// TLS towards the brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<KafkaTls>,
    /// SASL authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<KafkaSasl>,
    /// Confluent-compatible schema registry; when set, records use the Confluent wire format.
    /// Its host must be one the operator's administrator allows (allowedRegistryHosts), if any
    /// are listed; redirects are not followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^/\\\\s]+(/.*)?$')").message("kafka.schemaRegistryUrl must be an http:// or https:// URL"))]
    pub schema_registry_url: Option<String>,
}

/// TLS to Kafka. The brokers' certificates must name the host connected to (hostname
/// verification is always on).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(validation = Rule::new("has(self.clientCertificateSecret) == has(self.clientKeySecret)").message("kafka.tls: mutual TLS needs both clientCertificateSecret and clientKeySecret"))]
#[serde(rename_all = "camelCase")]
pub struct KafkaTls {
    /// CA certificate (PEM) to verify the brokers; the system roots when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
    /// Client certificate (PEM) for mutual TLS, e.g. `tls.crt` of a `kubernetes.io/tls` Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_secret: Option<SecretKeyRef>,
    /// Unencrypted private key (PEM) of the client certificate, e.g. `tls.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_secret: Option<SecretKeyRef>,
}

/// SASL mechanisms librdkafka supports here.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// Username and password in clear (use with TLS only).
    #[serde(rename = "PLAIN")]
    Plain,
    /// SCRAM with SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The name librdkafka expects.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// SASL credentials from one Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSasl {
    /// Mechanism.
    pub mechanism: SaslMechanism,
    /// Secret holding the username and the password.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message(SECRET_NAME_RULE))]
    pub secret_name: String,
    /// Key of the username in that Secret.
    #[serde(default = "default_username_key")]
    #[schemars(length(min = 1, max = 253))]
    pub username_key: String,
    /// Key of the password in that Secret.
    #[serde(default = "default_password_key")]
    #[schemars(length(min = 1, max = 253))]
    pub password_key: String,
    /// Secret with the operator's own credentials (same keys and mechanism), for a principal
    /// allowed to manage topics while the workers' principal is not; the workers' Secret when
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message(SECRET_NAME_RULE))]
    pub admin_secret_name: Option<String>,
}

/// Transformer workers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("transformer.minReplicas must not exceed transformer.maxReplicas"))]
#[serde(rename_all = "camelCase")]
pub struct TransformerSpec {
    /// Container image reference, `[registry[:port]/]path[:tag][@sha256:digest]`; the operator's
    /// default when unset. Only the operator's own image or one its administrator allows
    /// (Helm value allowedWorkerImages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new(IMAGE_RULE).message(IMAGE_MESSAGE))]
    pub image: Option<String>,
    /// Replicas when there is no lag.
    #[serde(default = "default_transformer_min_replicas")]
    #[schemars(range(min = 0, max = 1000))]
    pub min_replicas: i32,
    /// Replicas at most (also bounded by the topic's partitions).
    #[serde(default = "default_transformer_max_replicas")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Consumer lag one replica is expected to absorb; lag above it adds replicas.
    #[serde(default = "default_target_lag_per_replica")]
    #[schemars(range(min = 1))]
    pub target_lag_per_replica: u64,
    /// Posts per MySQL transaction (each post writes about 4.5 rows).
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1, max = BATCH_SIZE_MAX))]
    pub batch_size: u32,
    /// Longest wait before a partial batch is written, in milliseconds.
    #[serde(default = "default_flush_interval_ms")]
    #[schemars(range(min = 10, max = 600_000))]
    pub flush_interval_ms: u32,
    /// Compute resources of each transformer container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// Container resources as quantities (`cpu: 100m`, `cpu: 1`, `memory: 64Mi`), as a Pod takes them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(validation = Rule::new(REQUESTS_WITHIN_LIMITS_RULE).message("resources: a request must not exceed the limit of the same resource (Kubernetes refuses such Pods)"))]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Requests, e.g. `{cpu: 50m, memory: 64Mi}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "quantities_schema")]
    pub requests: BTreeMap<String, Quantity>,
    /// Limits, e.g. `{memory: 256Mi}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "quantities_schema")]
    pub limits: BTreeMap<String, Quantity>,
}

/// The MySQL-compatible database.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.database == oldSelf.database").message(DATABASE_IMMUTABLE))]
#[serde(rename_all = "camelCase")]
pub struct MySqlSpec {
    /// Secret key holding an administrative URL `mysql://user:password@host:3306` (no database):
    /// the operator creates the database, tables and reporting user with it.
    pub url_secret: SecretKeyRef,
    /// Database (schema) of this pipeline. Cannot change.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_]+$')").message("mysql.database may contain only ASCII letters, digits and '_'"))]
    #[x_kube(validation = Rule::new(reserved_database_rule()).message(reserved_database_message().as_str()))]
    #[x_kube(validation = Rule::new(wildcard_database_rule()).message(WILDCARD_DATABASE_MESSAGE))]
    pub database: String,
    /// Read-only user for dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_user: Option<ReportingUser>,
    /// TLS to MySQL for the operator and the transformers; the writer and reporting accounts are
    /// then created `REQUIRE SSL`. Without it, `ssl-mode` in the admin URL applies (and asks
    /// for `REQUIRE SSL` too when it is `REQUIRED`, `VERIFY_CA` or `VERIFY_IDENTITY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<MySqlTls>,
}

/// TLS to MySQL.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MySqlTls {
    /// CA certificate (PEM) that signed the server's certificate, e.g. `ca.crt`; mounted into the
    /// transformers. The public web roots (webpki-roots) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
    /// How much of the server's certificate is verified.
    #[serde(default)]
    pub mode: MySqlTlsMode,
}

/// How the MySQL server's certificate is verified.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum MySqlTlsMode {
    /// Signed by the CA and naming the host connected to (the default).
    #[default]
    VerifyIdentity,
    /// Signed by the CA, whatever host it names.
    VerifyCa,
    /// Encrypted, the certificate not verified (protects against eavesdropping only).
    Required,
}

impl MySqlTlsMode {
    /// The `ssl-mode` sqlx and the MySQL clients name it by.
    pub fn ssl_mode(self) -> &'static str {
        match self {
            MySqlTlsMode::VerifyIdentity => "VERIFY_IDENTITY",
            MySqlTlsMode::VerifyCa => "VERIFY_CA",
            MySqlTlsMode::Required => "REQUIRED",
        }
    }
}

/// A read-only database user for dashboards.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportingUser {
    /// User name.
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_]+$')").message("mysql.reportingUser.name may contain only ASCII letters, digits and '_'"))]
    #[x_kube(validation = Rule::new("self != 'root'").message("mysql.reportingUser.name must not be root: the reporting user is read-only"))]
    pub name: String,
    /// Secret key holding its password.
    pub password_secret: SecretKeyRef,
}

/// What deletion of the pipeline removes.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum DeletionPolicy {
    /// Keep topics, database and reporting user (workloads are always removed).
    #[default]
    Retain,
    /// Delete the three topics, the database and the reporting user too.
    Delete,
}

/// Observed state, written only by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TweetPipelineStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Standard conditions: `Ready` plus the specific ones (see docs/operator.md).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Extractor replicas and the budget they share.
    #[serde(default)]
    pub extractor: ExtractorStatus,
    /// Transformer replicas and lag.
    #[serde(default)]
    pub transformer: TransformerStatus,
    /// Progress of each query, from the checkpoint topic.
    #[serde(default)]
    pub queries: Vec<QueryStatus>,
    /// Posts collected over all queries.
    #[serde(default)]
    pub posts_total: u64,
    /// Monthly post usage and forecast (only with a monthly cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<MonthlyStatus>,
    /// The filtered stream's connections (only with `delivery: Stream` queries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamStatus>,
}

/// The pipeline's filtered-stream connections, one per app (token) its stream queries use, as
/// far as the checkpoints show them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct StreamStatus {
    /// One entry per token with stream queries.
    #[serde(default)]
    pub connections: Vec<StreamConnectionStatus>,
}

/// One app's connection, derived from its queries' checkpoints: the extractor moves a stream
/// query's `storedUntil` with every batch and, on a quiet stream, with the keep-alives.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct StreamConnectionStatus {
    /// Index of the token (in `spec.source.tokens`) whose app holds the connection.
    pub token: i32,
    /// `Streaming` (stored up to the last two minutes), `Behind` (older: disconnected,
    /// reconnecting or recovering), `NotStarted` (no stream checkpoint yet) or `Suspended`.
    pub state: String,
    /// Stream queries (rules) of this pipeline on the app.
    pub rules: u32,
    /// The oldest `storedUntil` of those queries (RFC 3339): every matching post published
    /// before it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_until: Option<String>,
    /// Connections opened after the first one (by any extractor replica: a restart or a
    /// handoff counts), as the freshest checkpoint of its queries says.
    #[serde(default)]
    pub reconnects: u64,
    /// When the current connection was opened (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<String>,
    /// When the connection last delivered a post or a keep-alive (RFC 3339); written with the
    /// checkpoints, so up to about a minute behind on a quiet stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_received_at: Option<String>,
    /// Minutes of backfill the current connection asked X for (0: none, a first connection).
    #[serde(default)]
    pub last_backfill_minutes: u32,
}

/// A condition of the standard Kubernetes shape.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    pub reason: String,
    /// For people.
    pub message: String,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
    /// Generation this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Extractor side of the status.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExtractorStatus {
    /// Replicas the operator wants.
    #[serde(default)]
    pub replicas: i32,
    /// Replicas ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// What binds the replica count: MaxReplicas, RateBudget, Queries, MonthlyCap, Suspended,
    /// ApiHostNotAllowed (no extractor may hold the tokens) or SchemaNotRegistered.
    #[serde(default)]
    pub cap_reason: String,
    /// The binding limit explained.
    #[serde(default)]
    pub cap_message: String,
    /// Requests per window all tokens allow after the safety margin.
    #[serde(default)]
    pub budget_requests_per_window: u64,
    /// Requests per window handed to the replicas (after any monthly slow-down).
    #[serde(default)]
    pub requests_per_window_in_use: u64,
    /// Label selector of the extractor pods (for the scale subresource).
    #[serde(default)]
    pub selector: String,
}

/// Transformer side of the status.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TransformerStatus {
    /// Replicas the operator wants.
    #[serde(default)]
    pub replicas: i32,
    /// Replicas ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Records in the posts topic not yet committed by the transformers' consumer group.
    #[serde(default)]
    pub lag: i64,
    /// Partitions of the posts topic.
    #[serde(default)]
    pub partitions: i32,
}

/// Progress of one query.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct QueryStatus {
    /// Query name.
    pub name: String,
    /// Newest post id collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_id: Option<String>,
    /// Last poll (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_poll_at: Option<String>,
    /// Posts collected since the pipeline began.
    #[serde(default)]
    pub posts_total: u64,
    /// Posts collected this month.
    #[serde(default)]
    pub month_posts: u64,
    /// Index of the token (in `spec.source.tokens`) it spends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<i32>,
    /// Its share of that token's requests per window (whichever replica runs it).
    #[serde(default)]
    pub requests_per_window: u32,
    /// Times its checkpoint had fallen out of the API's 7-day window (each a time range that
    /// could not be fetched).
    #[serde(default)]
    pub gaps_total: u64,
    /// The latest such range, `<from> to <to>` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_gap: Option<String>,
    /// Why the extractor stopped this query (`invalid_query`, `unauthorized`, `usage_capped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// The API's explanation of the stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_message: Option<String>,
    /// How its posts are fetched: `Search`, `Stream` or `StreamWithSearchRecovery`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub delivery: String,
    /// Stream queries: the tag of its filtered-stream rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_tag: Option<String>,
    /// Stream queries: the id X gave its rule (once the extractor put the rule in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// Stream queries: every matching post published before this (RFC 3339) is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_until: Option<String>,
    /// Stream queries: posts stored by recovery searches (part of `postsTotal`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recovered_posts: u64,
    /// Stream queries: recovery searches run, one per disconnect longer than the backfill.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recoveries: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Monthly usage against the post cap.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyStatus {
    /// Calendar month, `YYYY-MM` (UTC).
    pub month: String,
    /// Posts read this month.
    pub posts_used: u64,
    /// The cap.
    pub cap: u64,
    /// Percentage of the cap used, e.g. `42%`.
    pub used_percent: String,
    /// When the cap will be reached at the current rate (RFC 3339); absent when it will not this month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast_cap_reached_at: Option<String>,
    /// Percentage of the rate budget handed out after the monthly slow-down (100 = no slow-down).
    pub throttle_percent: u32,
}

/// An array of names X accepts: an enum in the schema, so the API server lists the valid names.
fn names_schema(allowed: &[&str], max_items: u32) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "maxItems": max_items,
        "items": {"type": "string", "enum": allowed},
    })
}
fn tweet_fields_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    names_schema(fields::TWEET_FIELDS, 32)
}
fn user_fields_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    names_schema(fields::USER_FIELDS, 32)
}
fn place_fields_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    names_schema(fields::PLACE_FIELDS, 16)
}
fn expansions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    names_schema(fields::EXPANSIONS, 16)
}

/// Resource name → quantity, int-or-string as in a Pod (`cpu: 1` and `cpu: 500m` both work).
fn quantities_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 8,
        "additionalProperties": {
            "x-kubernetes-int-or-string": true,
            // Bounds the CEL cost estimate (an unbounded string is costed at the request size).
            "maxLength": 64,
            "x-kubernetes-validations": [{"rule": QUANTITY_RULE, "message": QUANTITY_MESSAGE}],
        },
        "x-kubernetes-validations": [{"rule": RESOURCE_NAME_RULE, "message": RESOURCE_NAME_MESSAGE}],
    })
}

fn default_backfill_minutes() -> u8 {
    *BACKFILL_MINUTES_RANGE.end()
}
fn default_base_url() -> String {
    "https://api.x.com".to_string()
}
fn default_safety_margin() -> u32 {
    10
}
fn default_max_results() -> u32 {
    100
}
fn default_token_key() -> String {
    "token".to_string()
}
fn default_username_key() -> String {
    "username".to_string()
}
fn default_password_key() -> String {
    "password".to_string()
}
/// The fields the post record needs (the extractor requests them anyway) and `source`, so the
/// spec shows what is asked for.
fn default_tweet_fields() -> Vec<String> {
    REQUIRED_TWEET_FIELDS
        .iter()
        .chain(&["source"])
        .map(|name| name.to_string())
        .collect()
}
fn default_user_fields() -> Vec<String> {
    REQUIRED_USER_FIELDS
        .iter()
        .map(|name| name.to_string())
        .collect()
}
fn default_place_fields() -> Vec<String> {
    ["country", "country_code", "full_name", "place_type"]
        .map(String::from)
        .to_vec()
}
fn default_expansions() -> Vec<String> {
    ["author_id", "geo.place_id"].map(String::from).to_vec()
}
fn default_requests_per_window() -> u32 {
    450
}
fn default_window_seconds() -> u32 {
    900
}
fn default_extractor_max_replicas() -> i32 {
    4
}
fn default_min_requests_per_replica() -> u32 {
    30
}
fn default_partitions() -> i32 {
    6
}
fn default_replication_factor() -> i32 {
    1
}
fn default_retention_hours() -> u32 {
    168
}
fn default_transformer_min_replicas() -> i32 {
    1
}
fn default_transformer_max_replicas() -> i32 {
    4
}
fn default_target_lag_per_replica() -> u64 {
    5_000
}
fn default_batch_size() -> u32 {
    500
}
fn default_flush_interval_ms() -> u32 {
    1_000
}

impl Default for FieldsSpec {
    fn default() -> Self {
        FieldsSpec {
            tweet_fields: default_tweet_fields(),
            user_fields: default_user_fields(),
            place_fields: default_place_fields(),
            expansions: default_expansions(),
        }
    }
}

impl Default for TierLimits {
    fn default() -> Self {
        TierLimits {
            requests_per_window: default_requests_per_window(),
            window_seconds: default_window_seconds(),
            monthly_post_cap: None,
        }
    }
}

impl Default for ExtractorSpec {
    fn default() -> Self {
        ExtractorSpec {
            image: None,
            max_replicas: default_extractor_max_replicas(),
            min_requests_per_replica: default_min_requests_per_replica(),
            resources: None,
        }
    }
}

impl Default for TransformerSpec {
    fn default() -> Self {
        TransformerSpec {
            image: None,
            min_replicas: default_transformer_min_replicas(),
            max_replicas: default_transformer_max_replicas(),
            target_lag_per_replica: default_target_lag_per_replica(),
            batch_size: default_batch_size(),
            flush_interval_ms: default_flush_interval_ms(),
            resources: None,
        }
    }
}

/// The version the API server stores and the operator reads and writes.
pub const STORAGE_VERSION: &str = "v1beta1";
/// The first version: still served, with the same schema, so existing manifests keep applying.
pub const DEPRECATED_VERSION: &str = "v1alpha1";
/// What kubectl prints to whoever still uses the deprecated version.
pub const DEPRECATION_WARNING: &str = "tweetpipe.io/v1alpha1 TweetPipeline is deprecated; use tweetpipe.io/v1beta1 (the same fields: change only apiVersion)";

/// The whole CustomResourceDefinition: `v1beta1` (served, stored) and `v1alpha1` (served,
/// deprecated). Both carry the one schema derived from the Rust types, so conversion is `None`.
pub fn definition() -> CustomResourceDefinition {
    use kube::CustomResourceExt;
    let mut crd = TweetPipeline::crd();
    let mut deprecated = crd.spec.versions[0].clone();
    deprecated.name = DEPRECATED_VERSION.to_string();
    deprecated.storage = false;
    deprecated.deprecated = Some(true);
    deprecated.deprecation_warning = Some(DEPRECATION_WARNING.to_string());
    // Oldest first, as `kubectl explain` and the API reference list them.
    crd.spec.versions.insert(0, deprecated);
    crd
}

/// The OpenAPI schema of the stored version (every served version has the same one).
pub fn storage_schema() -> JSONSchemaProps {
    use kube::CustomResourceExt;
    TweetPipeline::crd().spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.clone())
        .unwrap_or_default()
}

/// The CRD as YAML, exactly as `crds/` holds it.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    let yaml = serde_yaml::to_string(&definition())?;
    Ok(format!(
        "# Generated by `cargo run -p tweetpipe-operator --bin crdgen`; do not edit.\n{yaml}"
    ))
}

#[cfg(test)]
mod tests;
