//! Everything a `TweetPipeline` must satisfy to work, as one pure function.
//!
//! The CRD's OpenAPI bounds and CEL rules refuse most mistakes at `kubectl apply`; a few need a
//! real parser (X's query grammar, quantities) and only an admission webhook can run them. So the
//! webhook's answer is complete, [`check`] repeats the CEL-checkable classes too. Every message
//! says what to fix in words, never by quoting a regular expression.

use std::fmt;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use tweetpipe_xquery::{QueryError, QueryErrorKind, fields};

use crate::api_hosts::AllowedApiHosts;
use crate::crd::{
    BASE_URL_WITHOUT_PATH, DATABASE_IMMUTABLE, IMAGE_MESSAGE, NAME_IS_DNS_LABEL, QueryDelivery,
    Resources, SEARCH_RECOVERY_NEEDS_STREAM, SECRET_NAME_RULE, SaslMechanism, SecretKeyRef,
    TweetPipeline, TweetPipelineSpec, WILDCARD_DATABASE_MESSAGE, reserved_database_message,
    reserved_topic_suffix_message, stream_query_length_message, stream_query_max_chars,
    topic_length_message,
};
use crate::policy::{AllowedRegistryHosts, AllowedWorkerImages, KafkaLimits, Policy};
use tweetpipe_common::contract::budget::{MAX_MARGIN_PERCENT, after_safety_margin};
use tweetpipe_common::contract::extractor::Delivery;
use tweetpipe_common::contract::topics::{MAX_POST_TOPIC_CHARS, is_companion_topic};

/// Longest pipeline name: it prefixes workload, Secret and consumer-group names.
pub const MAX_NAME_CHARS: usize = 40;

/// One reason to refuse a pipeline: the offending field and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Path of the field, e.g. `spec.source.queries[0].query`.
    pub field: String,
    /// What is wrong and how to fix it, in words.
    pub message: String,
}

impl Refusal {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Refusal {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Kafka's usual production replication factor, and the `min.insync.replicas` of managed
/// clusters (Amazon MSK, Confluent Cloud).
pub const RECOMMENDED_REPLICATION_FACTOR: i32 = 3;
const MANAGED_MIN_INSYNC_REPLICAS: i32 = 2;

/// What is allowed but probably not meant: the API server shows these to the user (`kubectl`
/// prints "Warning: ..."), the object is still admitted. Kubernetes asks for at most 120
/// characters each.
pub fn warnings(new: &TweetPipeline) -> Vec<String> {
    let mut out = Vec::new();
    let factor = new.spec.kafka.replication_factor;
    if factor < MANAGED_MIN_INSYNC_REPLICAS {
        out.push(format!(
            "spec.kafka.replicationFactor {factor}: writes fail where min.insync.replicas >= {MANAGED_MIN_INSYNC_REPLICAS} (MSK, Confluent)"
        ));
    } else if factor < RECOMMENDED_REPLICATION_FACTOR {
        out.push(format!(
            "spec.kafka.replicationFactor {factor}: one broker down stops writes if min.insync.replicas is {factor}"
        ));
    }
    let level = tweetpipe_xquery::AccessLevel::from(new.spec.source.access_level);
    if !level.has_filtered_stream()
        && new
            .spec
            .source
            .queries
            .iter()
            .any(|q| q.delivery == QueryDelivery::Stream)
    {
        out.push(format!(
            "spec.source.queries: delivery Stream on {level} access: X offers the filtered stream on Pro and up"
        ));
    }
    let operator = env!("CARGO_PKG_VERSION");
    let pinned = [
        ("spec.extractor.image", new.spec.extractor.image.as_deref()),
        (
            "spec.transformer.image",
            new.spec.transformer.image.as_deref(),
        ),
    ];
    for (field, image) in pinned {
        if let Some(tag) = image.and_then(unsupported_skew(operator)) {
            out.push(format!(
                "{field} tag {tag}: workers must be the operator's {}.x (docs/upgrading.md)",
                minor_of(operator).unwrap_or_default()
            ));
        }
    }
    out
}

/// The tag of `image` when it is a version whose major.minor differs from `operator`'s; `None`
/// for a tag that is no version (`dev`, `latest`), a digest-only reference or a matching one.
fn unsupported_skew(operator: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |image| {
        let without_digest = image.split('@').next().unwrap_or(image);
        let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
        let (_, tag) = last.split_once(':')?;
        let theirs = minor_of(tag)?;
        (Some(theirs) != minor_of(operator)).then(|| tag.to_owned())
    }
}

/// `major.minor` of a version (`v` prefix and pre-release or build suffixes allowed).
fn minor_of(version: &str) -> Option<String> {
    let version = version.strip_prefix('v').unwrap_or(version);
    let mut parts = version.splitn(3, '.');
    let major: u64 = parts.next()?.parse().ok()?;
    let minor_part = parts.next()?;
    let digits: String = minor_part
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let minor: u64 = digits.parse().ok()?;
    Some(format!("{major}.{minor}"))
}

/// All refusals for `new`, given the stored `old` object on updates (for immutable fields) and
/// what the administrator allows (API and registry hosts, worker images, Kafka maxima).
pub fn check(new: &TweetPipeline, old: Option<&TweetPipeline>, policy: &Policy) -> Vec<Refusal> {
    let mut out = Vec::new();
    if let Some(name) = new.metadata.name.as_deref() {
        check_name(name, &mut out);
    }
    let spec = &new.spec;
    check_source(spec, &mut out);
    // Only for a URL of the right shape (a malformed one has its own refusal above), and on
    // updates only when the base URL changes: a pipeline admitted under an older list must stay
    // editable (suspended, fixed, its finalizers removed on deletion); the reconcile still gives
    // it no extractor while its host is not allowed.
    let base_url_changed = old.is_none_or(|old| old.spec.source.base_url != spec.source.base_url);
    if url_path(&spec.source.base_url).is_some() && base_url_changed {
        out.extend(api_host_refusal(spec, &policy.api_hosts));
    }
    // The administrator's policy, like the base URL: on updates only for values that change, so
    // a pipeline admitted under an older policy stays editable; the reconcile still refuses it.
    let old_spec = old.map(|old| &old.spec);
    if old_spec.is_none_or(|old| old.kafka.schema_registry_url != spec.kafka.schema_registry_url) {
        out.extend(registry_host_refusal(spec, &policy.registry_hosts));
    }
    out.extend(
        image_refusals(spec, &policy.worker_images)
            .into_iter()
            .filter(|r| {
                old_spec.is_none_or(|old| {
                    if r.field == "spec.extractor.image" {
                        old.extractor.image != spec.extractor.image
                    } else {
                        old.transformer.image != spec.transformer.image
                    }
                })
            }),
    );
    out.extend(
        kafka_limit_refusals(spec, &policy.kafka_limits)
            .into_iter()
            .filter(|r| {
                old_spec.is_none_or(|old| match r.field.as_str() {
                    "spec.kafka.partitions" => old.kafka.partitions != spec.kafka.partitions,
                    "spec.kafka.replicationFactor" => {
                        old.kafka.replication_factor != spec.kafka.replication_factor
                    }
                    _ => old.kafka.retention_hours != spec.kafka.retention_hours,
                })
            }),
    );
    out.extend(query_refusals(spec));
    check_extractor(spec, &mut out);
    check_kafka(spec, &mut out);
    check_transformer(spec, &mut out);
    check_mysql(spec, &mut out);
    if let Some(old) = old {
        check_transitions(spec, &old.spec, &mut out);
    }
    out
}

/// Why `source.baseUrl` may not receive the bearer tokens, if it may not: its host is not on the
/// operator's allow-list, or the URL hides its host. Also the reconcile's `ApiHostNotAllowed`.
pub fn api_host_refusal(
    spec: &TweetPipelineSpec,
    allowed_api_hosts: &AllowedApiHosts,
) -> Option<Refusal> {
    allowed_api_hosts
        .judge(&spec.source.base_url)
        .err()
        .map(|refusal| Refusal::new("spec.source.baseUrl", refusal.to_string()))
}

/// Why the operator may not call `kafka.schemaRegistryUrl`, if it may not: its host is not on
/// the administrator's list. Also the reconcile's `RegistryHostNotAllowed`. Only for a URL of
/// the CRD's shape (a malformed one has its own refusal).
pub fn registry_host_refusal(
    spec: &TweetPipelineSpec,
    allowed: &AllowedRegistryHosts,
) -> Option<Refusal> {
    let url = spec.kafka.schema_registry_url.as_deref()?;
    allowed
        .judge(url)
        .err()
        .map(|refusal| Refusal::new("spec.kafka.schemaRegistryUrl", refusal.to_string()))
}

/// The per-pipeline images the administrator does not allow. Also the reconcile's
/// `WorkerImageNotAllowed`. Only well-formed references (a malformed one has its own refusal).
pub fn image_refusals(spec: &TweetPipelineSpec, allowed: &AllowedWorkerImages) -> Vec<Refusal> {
    [
        (
            "spec.extractor.image",
            "extractor.image",
            &spec.extractor.image,
        ),
        (
            "spec.transformer.image",
            "transformer.image",
            &spec.transformer.image,
        ),
    ]
    .into_iter()
    .filter_map(|(field, name, image)| {
        let image = image.as_deref().filter(|i| is_image_reference(i))?;
        allowed
            .refusal(name, image)
            .map(|message| Refusal::new(field, message))
    })
    .collect()
}

/// Partitions, replication factor and retention above the administrator's maxima. Also the
/// reconcile's `KafkaLimitExceeded` (no topic is created or changed then).
pub fn kafka_limit_refusals(spec: &TweetPipelineSpec, limits: &KafkaLimits) -> Vec<Refusal> {
    limits
        .refusals(&spec.kafka)
        .into_iter()
        .map(|(field, message)| Refusal::new(field, message))
        .collect()
}

/// The X-query checks alone (blank, too long, grammar, operators of the access level), for a
/// `QueriesValid` condition.
pub fn query_refusals(spec: &TweetPipelineSpec) -> Vec<Refusal> {
    let level = tweetpipe_xquery::AccessLevel::from(spec.source.access_level);
    spec.source
        .queries
        .iter()
        .enumerate()
        .filter_map(|(i, q)| {
            let field = format!("spec.source.queries[{i}].query");
            let message = match q.delivery_mode() {
                Delivery::Search => {
                    let error = tweetpipe_xquery::validate_for(&q.query, level).err()?;
                    query_message(&error, level)
                }
                // A rule: the rule limit (and the search one when recovery searches it), then
                // the search grammar with the level's operators.
                stream => {
                    let limit = stream_query_max_chars(level, stream.recovers_by_search());
                    if q.query.chars().count() > limit {
                        stream_query_length_message()
                    } else {
                        let error =
                            tweetpipe_xquery::validate_for(&q.query, level.rule_grammar()).err()?;
                        query_message(&error, level)
                    }
                }
            };
            Some(Refusal::new(field, message))
        })
        .collect()
}

/// X's refusal of one query, in words that say what to change.
fn query_message(error: &QueryError, level: tweetpipe_xquery::AccessLevel) -> String {
    let position = error
        .position
        .map(|p| format!(" at position {p}"))
        .unwrap_or_default();
    let detail = &error.detail;
    match error.kind {
        QueryErrorKind::Empty => "a query must contain search terms, not only spaces".to_string(),
        QueryErrorKind::TooLong { length, limit } => format!(
            "the query is {length} characters long; X refuses queries over {limit} characters on {level} access (source.accessLevel; 512 on Basic, Pro and PayPerUse, 4,096 on Enterprise): shorten it or split it into several queries"
        ),
        QueryErrorKind::UnbalancedParentheses => format!(
            "X would refuse this query: unbalanced parentheses{position} ({detail}); every '(' needs a matching ')'"
        ),
        QueryErrorKind::NoStandaloneClause => format!(
            "X would refuse this query ({detail}): it needs at least one positive keyword, \"quoted phrase\", #hashtag, @mention, from: or other standalone operator; lang:, is: and has: operators and negated clauses only narrow a search and cannot stand alone"
        ),
        QueryErrorKind::UnknownOperator => format!(
            "X would refuse this query: {detail}{position}; recent search has no such operator (see docs/queries.md for the ones it has)"
        ),
        QueryErrorKind::OperatorNotInAccessLevel => format!(
            "X would refuse this query: {detail}{position}; the operator needs Pro, PayPerUse or Enterprise access: set source.accessLevel if the project has it, or remove the operator"
        ),
        QueryErrorKind::MissingValue => {
            format!("X would refuse this query: {detail}{position}")
        }
        QueryErrorKind::InvalidValue => {
            format!("X would refuse this query: {detail}{position}")
        }
        QueryErrorKind::NullcastNotNegated => format!(
            "X would refuse this query: {detail}{position}; is:nullcast only excludes promotional posts"
        ),
        QueryErrorKind::Syntax => format!("X would refuse this query: {detail}{position}"),
    }
}

fn check_name(name: &str, out: &mut Vec<Refusal>) {
    if name.chars().count() > MAX_NAME_CHARS {
        out.push(Refusal::new(
            "metadata.name",
            format!("metadata.name must be at most {MAX_NAME_CHARS} characters: it prefixes the names of the pipeline's workloads, Secrets and consumer group"),
        ));
    }
    if !is_dns_label(name) {
        out.push(Refusal::new("metadata.name", NAME_IS_DNS_LABEL));
    }
}

fn check_source(spec: &TweetPipelineSpec, out: &mut Vec<Refusal>) {
    let source = &spec.source;
    match url_path(&source.base_url) {
        None => out.push(Refusal::new(
            "spec.source.baseUrl",
            "source.baseUrl must be an http:// or https:// URL, e.g. https://api.x.com",
        )),
        Some(path) if path.split('/').any(|segment| segment == "2") => {
            out.push(Refusal::new("spec.source.baseUrl", BASE_URL_WITHOUT_PATH))
        }
        Some(_) => {}
    }
    for (i, token) in source.tokens.iter().enumerate() {
        check_secret_ref(token, &format!("spec.source.tokens[{i}]"), out);
        if source.tokens[..i].contains(token) {
            out.push(Refusal::new(
                format!("spec.source.tokens[{i}]"),
                "source.tokens: each bearer token must be listed once (two entries name the same Secret and key)",
            ));
        }
    }
    for (i, query) in source.queries.iter().enumerate() {
        if !is_dns_label_with_digits(&query.name) || query.name.len() > 63 {
            out.push(Refusal::new(
                format!("spec.source.queries[{i}].name"),
                "a query name may contain only lowercase letters, digits and '-', must start and end with a letter or digit, and be at most 63 characters",
            ));
        }
        if query.search_recovery.is_some() && query.delivery != QueryDelivery::Stream {
            out.push(Refusal::new(
                format!("spec.source.queries[{i}].searchRecovery"),
                SEARCH_RECOVERY_NEEDS_STREAM,
            ));
        }
        if source.queries[..i].iter().any(|q| q.name == query.name) {
            out.push(Refusal::new(
                format!("spec.source.queries[{i}].name"),
                "source.queries: every query needs a unique name (two queries share one)",
            ));
        }
    }
    let lists = [
        (
            "tweetFields",
            "tweet.fields",
            &source.fields.tweet_fields,
            fields::TWEET_FIELDS,
        ),
        (
            "userFields",
            "user.fields",
            &source.fields.user_fields,
            fields::USER_FIELDS,
        ),
        (
            "placeFields",
            "place.fields",
            &source.fields.place_fields,
            fields::PLACE_FIELDS,
        ),
        (
            "expansions",
            "expansions",
            &source.fields.expansions,
            fields::EXPANSIONS,
        ),
    ];
    for (key, parameter, names, allowed) in lists {
        for (i, name) in names.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                out.push(Refusal::new(
                    format!("spec.source.fields.{key}[{i}]"),
                    format!(
                        "X does not know {name:?} in {parameter}; use one of: {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
}

fn check_extractor(spec: &TweetPipelineSpec, out: &mut Vec<Refusal>) {
    let extractor = &spec.extractor;
    let per_window = u64::from(spec.source.limits.requests_per_window);
    let margin = spec.source.safety_margin_percent.min(MAX_MARGIN_PERCENT);
    let usable = after_safety_margin(per_window, margin);
    if u64::from(extractor.min_requests_per_replica) > usable {
        out.push(Refusal::new(
            "spec.extractor.minRequestsPerReplica",
            format!(
                "extractor.minRequestsPerReplica ({}) must not exceed the requests one token allows per window after the safety margin, source.limits.requestsPerWindow x (100 - source.safetyMarginPercent) / 100 rounded down = {per_window} x {} / 100 = {usable}: no replica could ever get its minimum share of the rate budget; lower minRequestsPerReplica or safetyMarginPercent",
                extractor.min_requests_per_replica,
                100 - margin
            ),
        ));
    }
    check_image(extractor.image.as_deref(), "spec.extractor.image", out);
    check_resources(
        extractor.resources.as_ref(),
        "spec.extractor.resources",
        out,
    );
}

fn check_transformer(spec: &TweetPipelineSpec, out: &mut Vec<Refusal>) {
    let transformer = &spec.transformer;
    if transformer.min_replicas > transformer.max_replicas {
        out.push(Refusal::new(
            "spec.transformer",
            "transformer.minReplicas must not exceed transformer.maxReplicas",
        ));
    }
    check_image(transformer.image.as_deref(), "spec.transformer.image", out);
    check_resources(
        transformer.resources.as_ref(),
        "spec.transformer.resources",
        out,
    );
}

fn check_kafka(spec: &TweetPipelineSpec, out: &mut Vec<Refusal>) {
    let kafka = &spec.kafka;
    let servers: Vec<Option<(&str, &str)>> = kafka
        .bootstrap_servers
        .split(',')
        .map(|server| {
            server.split_once(':').filter(|(host, port)| {
                !host.is_empty()
                    && !host.chars().any(char::is_whitespace)
                    && (1..=5).contains(&port.len())
                    && port.chars().all(|c| c.is_ascii_digit())
            })
        })
        .collect();
    if servers.iter().any(Option::is_none) {
        out.push(Refusal::new(
            "spec.kafka.bootstrapServers",
            "kafka.bootstrapServers must be comma-separated host:port pairs, e.g. kafka-0.kafka:9092,kafka-1.kafka:9092",
        ));
    } else if servers
        .iter()
        .flatten()
        .any(|(_, port)| !matches!(port.parse::<u32>(), Ok(1..=65_535)))
    {
        out.push(Refusal::new(
            "spec.kafka.bootstrapServers",
            "kafka.bootstrapServers: every port must be between 1 and 65535, e.g. kafka-0.kafka:9092",
        ));
    }
    check_topic(&kafka.topic, out);
    if let Some(sasl) = &kafka.sasl {
        if !is_dns_subdomain(&sasl.secret_name) {
            out.push(Refusal::new("spec.kafka.sasl.secretName", SECRET_NAME_RULE));
        }
        if sasl.mechanism == SaslMechanism::Plain && kafka.tls.is_none() {
            out.push(Refusal::new(
                "spec.kafka",
                "kafka.sasl: PLAIN sends the password in clear text; configure kafka.tls as well or use a SCRAM mechanism",
            ));
        }
    }
    if let Some(ca) = kafka.tls.as_ref().and_then(|tls| tls.ca_secret.as_ref()) {
        check_secret_ref(ca, "spec.kafka.tls.caSecret", out);
    }
}

fn check_topic(topic: &str, out: &mut Vec<Refusal>) {
    let field = "spec.kafka.topic";
    if topic.is_empty()
        || !topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        out.push(Refusal::new(
            field,
            "kafka.topic may contain only ASCII letters, digits, '.', '_' and '-' (Kafka's rule for topic names)",
        ));
    }
    if topic == "." || topic == ".." {
        out.push(Refusal::new(
            field,
            "kafka.topic cannot be '.' or '..': Kafka forbids those names",
        ));
    }
    // Twins of the CRD's CEL rules, from the same constants (admission::contract_twins).
    if topic.len() > MAX_POST_TOPIC_CHARS {
        out.push(Refusal::new(field, topic_length_message()));
    }
    if is_companion_topic(topic) {
        out.push(Refusal::new(field, reserved_topic_suffix_message()));
    }
}

fn check_mysql(spec: &TweetPipelineSpec, out: &mut Vec<Refusal>) {
    let mysql = &spec.mysql;
    check_secret_ref(&mysql.url_secret, "spec.mysql.urlSecret", out);
    let is_identifier =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_identifier(&mysql.database) || mysql.database.len() > 64 {
        out.push(Refusal::new(
            "spec.mysql.database",
            "mysql.database may contain only ASCII letters, digits and '_', at most 64 characters",
        ));
    }
    // The schema crate's list and test: it refuses these too, before any statement.
    if tweetpipe_common::contract::databases::is_reserved_database(&mysql.database) {
        out.push(Refusal::new(
            "spec.mysql.database",
            reserved_database_message(),
        ));
    }
    if tweetpipe_common::contract::databases::is_wildcard_only(&mysql.database) {
        out.push(Refusal::new(
            "spec.mysql.database",
            WILDCARD_DATABASE_MESSAGE,
        ));
    }
    if let Some(user) = &mysql.reporting_user {
        if !is_identifier(&user.name) || user.name.len() > 32 {
            out.push(Refusal::new(
                "spec.mysql.reportingUser.name",
                "mysql.reportingUser.name may contain only ASCII letters, digits and '_', at most 32 characters",
            ));
        }
        if user.name == "root" {
            out.push(Refusal::new(
                "spec.mysql.reportingUser.name",
                "mysql.reportingUser.name must not be root: the reporting user is read-only",
            ));
        }
        check_secret_ref(
            &user.password_secret,
            "spec.mysql.reportingUser.passwordSecret",
            out,
        );
    }
    if let Some(ca) = mysql.tls.as_ref().and_then(|tls| tls.ca_secret.as_ref()) {
        check_secret_ref(ca, "spec.mysql.tls.caSecret", out);
    }
}

fn check_transitions(new: &TweetPipelineSpec, old: &TweetPipelineSpec, out: &mut Vec<Refusal>) {
    if new.kafka.topic != old.kafka.topic {
        out.push(Refusal::new(
            "spec.kafka.topic",
            "kafka.topic cannot change: the topic holds the posts and checkpoints; create a new TweetPipeline instead",
        ));
    }
    if new.kafka.partitions < old.kafka.partitions {
        out.push(Refusal::new(
            "spec.kafka.partitions",
            "kafka.partitions can only grow: Kafka cannot remove partitions from a topic",
        ));
    }
    if new.mysql.database != old.mysql.database {
        out.push(Refusal::new("spec.mysql.database", DATABASE_IMMUTABLE));
    }
}

fn check_secret_ref(secret: &SecretKeyRef, field: &str, out: &mut Vec<Refusal>) {
    if !is_dns_subdomain(&secret.name) {
        out.push(Refusal::new(format!("{field}.name"), SECRET_NAME_RULE));
    }
    let key_ok = !secret.key.is_empty()
        && secret.key.len() <= 253
        && secret
            .key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !key_ok {
        out.push(Refusal::new(
            format!("{field}.key"),
            "a Secret key may contain only letters, digits, '-', '_' and '.'",
        ));
    }
}

fn check_image(image: Option<&str>, field: &str, out: &mut Vec<Refusal>) {
    if let Some(image) = image
        && !is_image_reference(image)
    {
        out.push(Refusal::new(field, IMAGE_MESSAGE));
    }
}

fn check_resources(resources: Option<&Resources>, field: &str, out: &mut Vec<Refusal>) {
    let Some(resources) = resources else { return };
    for (kind, map) in [
        ("requests", &resources.requests),
        ("limits", &resources.limits),
    ] {
        for (name, quantity) in map {
            let path = format!("{field}.{kind}[{name}]");
            if !is_resource_name(name) {
                out.push(Refusal::new(
                    &path,
                    "resource names must be cpu, memory, ephemeral-storage, hugepages-<size> or a domain-prefixed extended resource such as nvidia.com/gpu",
                ));
            }
            if !quantity_value(quantity).is_some_and(|v| v >= 0.0) {
                out.push(Refusal::new(
                    &path,
                    format!("{:?} must be a non-negative quantity such as 100m, 0.5, 1, 64Mi or 1Gi: a number with an optional suffix (m, k, M, G, T, Ki, Mi, Gi, Ti)", quantity.0),
                ));
            }
        }
    }
    for (name, request) in &resources.requests {
        let limit = resources.limits.get(name).and_then(quantity_value);
        if let (Some(request), Some(limit)) = (quantity_value(request), limit)
            && request > limit
        {
            out.push(Refusal::new(
                format!("{field}.requests[{name}]"),
                "resources: a request must not exceed the limit of the same resource (Kubernetes refuses such Pods)",
            ));
        }
    }
}

/// DNS-1035 label: a lowercase letter first, then lowercase letters, digits, '-'; alphanumeric last.
fn is_dns_label(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase()) && is_dns_label_with_digits(name)
}

/// DNS-1123 label (may start with a digit), without the length bound.
pub fn is_dns_label_with_digits(name: &str) -> bool {
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    name.starts_with(lower_alnum)
        && name.ends_with(lower_alnum)
        && name.chars().all(|c| lower_alnum(c) || c == '-')
}

/// DNS-1123 subdomain as Secret names use it (≤ 253, labels of the above joined by '.').
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label_with_digits)
}

/// The path of an http(s) URL (empty when none), or None when it is not one.
fn url_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_ok = !host.is_empty() && !host.chars().any(char::is_whitespace);
    host_ok.then_some(path)
}

/// `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, path lowercase, as container runtimes parse it.
fn is_image_reference(reference: &str) -> bool {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let hex_ok = digest.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
        });
        if !hex_ok {
            return false;
        }
    }
    // A ':' after the last '/' starts the tag; before it, it is a registry port.
    let (name, tag) = match rest.rfind(':') {
        Some(at) if !rest[at + 1..].contains('/') => (&rest[..at], Some(&rest[at + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        let tag_ok = (1..=128).contains(&tag.len())
            && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !tag_ok {
            return false;
        }
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first), path)
        }
        _ => (None, name),
    };
    if let Some(registry) = registry
        && !is_registry_host(registry)
    {
        return false;
    }
    path.split('/').all(is_path_component)
}

fn is_registry_host(registry: &str) -> bool {
    let (host, port) = match registry.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let host_ok = host.split('.').all(|label| {
        !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    port_ok && host_ok
}

/// Lowercase alphanumerics joined by one '.', one or two '_', or any number of '-'.
fn is_path_component(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !component.starts_with(alnum) || !component.ends_with(alnum) {
        return false;
    }
    let mut separator = String::new();
    for c in component.chars() {
        if alnum(c) {
            let ok = separator.is_empty()
                || matches!(separator.as_str(), "." | "_" | "__")
                || separator.chars().all(|s| s == '-');
            if !ok {
                return false;
            }
            separator.clear();
        } else if matches!(c, '.' | '_' | '-') {
            separator.push(c);
        } else {
            return false;
        }
    }
    true
}

fn is_resource_name(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage")
        || name.starts_with("hugepages-")
        || name.contains('/')
}

/// The value of a Kubernetes quantity (`500m`, `1.5`, `64Mi`, `1e3`), or None when it is not one.
fn quantity_value(quantity: &Quantity) -> Option<f64> {
    let text = quantity.0.as_str();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    let number_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let digits_ok = number.chars().filter(|c| *c == '.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    if !digits_ok {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let power = exponent.strip_prefix(['e', 'E'])?;
            let unsigned_power = power.strip_prefix(['+', '-']).unwrap_or(power);
            if unsigned_power.is_empty() || !unsigned_power.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            10f64.powi(power.parse().ok()?)
        }
    };
    Some(sign * value * multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{AccessLevel, KafkaSasl, KafkaTls, QuerySpec, Resources};
    use std::collections::BTreeMap;

    fn pipeline() -> TweetPipeline {
        serde_yaml::from_str(include_str!("../../../fixtures/pipeline.yaml"))
            .expect("fixture parses")
    }

    /// The X API, the fixture's simulator Service and the near misses' proxy.
    fn allowed() -> AllowedApiHosts {
        AllowedApiHosts::parse(
            "https://api.x.com,https://api.twitter.com,x-api-simulator.tweetpipe-system:8080,https://proxy.example.com",
        )
        .expect("allow-list")
    }

    /// The operator's own images, and the well-formed ones the format tests use.
    fn policy() -> Policy {
        let mut policy = Policy::with_api_hosts(allowed(), &OWN_IMAGES);
        policy.worker_images = AllowedWorkerImages::parse(
            &OWN_IMAGES,
            &format!(
                "extractor,localhost/transformer:dev,registry.local:5000/team/tweet_pipe__x/extractor-v2:1.2.0-rc.1@sha256:{}",
                "a".repeat(64)
            ),
        )
        .expect("images");
        policy
    }

    const OWN_IMAGES: [&str; 2] = [
        "ghcr.io/tweetpipe/extractor:0.1.0",
        "ghcr.io/tweetpipe/transformer:0.1.0",
    ];

    fn check(new: &TweetPipeline, old: Option<&TweetPipeline>) -> Vec<Refusal> {
        super::check(new, old, &policy())
    }

    fn with(edit: impl FnOnce(&mut TweetPipeline)) -> TweetPipeline {
        let mut tp = pipeline();
        edit(&mut tp);
        tp
    }

    fn set_query(tp: &mut TweetPipeline, query: &str) {
        tp.spec.source.queries[0].query = query.to_string();
    }

    fn resources(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Option<Resources> {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect()
        };
        Some(Resources {
            requests: map(requests),
            limits: map(limits),
        })
    }

    type Edit = fn(&mut TweetPipeline);

    /// Stream queries are judged as rules (grammar at the level's operators, the rule limit);
    /// Basic gets a warning, not a refusal (X's table offers it no stream, the simulator does).
    #[test]
    fn stream_queries_are_judged_as_rules_and_basic_is_warned() {
        use crate::crd::QueryDelivery;
        let stream = |query: &str, level: AccessLevel, recovery: Option<bool>| {
            with(|tp| {
                tp.spec.source.access_level = level;
                tp.spec.source.queries[0].query = query.into();
                tp.spec.source.queries[0].delivery = QueryDelivery::Stream;
                tp.spec.source.queries[0].search_recovery = recovery;
            })
        };
        let long_rule = format!("({}) lang:en", vec!["covid"; 100].join(" OR "));
        assert!((513..=1_024).contains(&long_rule.chars().count()));
        // A rule longer than any Pro search, without recovery: accepted.
        assert_eq!(
            check(&stream(&long_rule, AccessLevel::Pro, Some(false)), None),
            vec![]
        );
        // With recovery it is searched too: refused with the stream message.
        let refused = check(&stream(&long_rule, AccessLevel::Pro, None), None);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].field, "spec.source.queries[0].query");
        assert!(
            refused[0].message.contains("filtered-stream rule"),
            "{refused:?}"
        );
        // The grammar still applies, with the level's operators.
        let bad = check(&stream("lang:en", AccessLevel::Pro, Some(false)), None);
        assert!(bad[0].message.contains("standalone"), "{bad:?}");
        let advanced = check(&stream("covid has:geo", AccessLevel::Basic, None), None);
        assert!(
            advanced[0].message.contains("Pro, PayPerUse or Enterprise"),
            "{advanced:?}"
        );
        // Basic: a warning, not a refusal.
        let basic = stream("covid lang:en", AccessLevel::Basic, None);
        assert_eq!(check(&basic, None), vec![]);
        let warned = warnings(&basic);
        assert!(
            warned
                .iter()
                .any(|w| w.contains("delivery Stream on Basic")),
            "{warned:?}"
        );
        assert!(warned.iter().all(|w| w.len() <= 120), "{warned:?}");
        assert!(
            warnings(&stream("covid lang:en", AccessLevel::Pro, None))
                .iter()
                .all(|w| !w.contains("Stream"))
        );
    }

    #[test]
    fn the_fixture_is_accepted() {
        assert_eq!(check(&pipeline(), None), vec![]);
        assert_eq!(check(&pipeline(), Some(&pipeline())), vec![]);
    }

    /// One row per class: an edit that must be refused, the field and a phrase of the message.
    #[test]
    fn refuses_each_class_with_field_and_words() {
        let rows: Vec<(&str, Edit, &str, &str)> = vec![
            (
                "name too long",
                |tp| tp.metadata.name = Some("a".repeat(41)),
                "metadata.name",
                "at most 40 characters",
            ),
            (
                "name starts with digit",
                |tp| tp.metadata.name = Some("1covid".into()),
                "metadata.name",
                "start with a lowercase letter",
            ),
            (
                "name with dot",
                |tp| tp.metadata.name = Some("covid.en".into()),
                "metadata.name",
                "only lowercase letters, digits and '-'",
            ),
            (
                "name ends with dash",
                |tp| tp.metadata.name = Some("covid-".into()),
                "metadata.name",
                "end with a letter or digit",
            ),
            (
                "query over 512",
                |tp| set_query(tp, &"covid ".repeat(100)),
                "spec.source.queries[0].query",
                "512",
            ),
            (
                "query operator only",
                |tp| set_query(tp, "lang:en"),
                "spec.source.queries[0].query",
                "cannot stand alone",
            ),
            (
                "query is: only",
                |tp| set_query(tp, "is:retweet has:links"),
                "spec.source.queries[0].query",
                "cannot stand alone",
            ),
            (
                "query negations only",
                |tp| set_query(tp, "-covid -flu"),
                "spec.source.queries[0].query",
                "negated clauses",
            ),
            (
                "query missing )",
                |tp| set_query(tp, "(covid OR flu lang:en"),
                "spec.source.queries[0].query",
                "unbalanced parentheses at position 1",
            ),
            (
                "query extra )",
                |tp| set_query(tp, "covid) lang:en"),
                "spec.source.queries[0].query",
                "every '(' needs a matching ')'",
            ),
            (
                "query unknown operator",
                |tp| set_query(tp, "covid foo:bar"),
                "spec.source.queries[0].query",
                "invalid operator 'foo' at position 7",
            ),
            (
                "query with a filtered-stream-only operator",
                |tp| set_query(tp, "covid sample:10"),
                "spec.source.queries[0].query",
                "Reference to invalid operator 'sample' at position 7; recent search has no such operator",
            ),
            (
                "query with an advanced operator on Basic",
                |tp| {
                    tp.spec.source.access_level = AccessLevel::Basic;
                    set_query(tp, "covid place_country:BR")
                },
                "spec.source.queries[0].query",
                "needs Pro, PayPerUse or Enterprise access: set source.accessLevel",
            ),
            (
                "query over 512 on Basic",
                |tp| {
                    tp.spec.source.access_level = AccessLevel::Basic;
                    set_query(tp, &"covid ".repeat(100))
                },
                "spec.source.queries[0].query",
                "over 512 characters on Basic access",
            ),
            (
                "query over 4096 on Enterprise",
                |tp| {
                    tp.spec.source.access_level = AccessLevel::Enterprise;
                    set_query(tp, &"covid ".repeat(700))
                },
                "spec.source.queries[0].query",
                "the query is 4200 characters long; X refuses queries over 4096 characters on Enterprise access",
            ),
            (
                "query with is:nullcast not negated",
                |tp| set_query(tp, "\"mobile games\" is:nullcast"),
                "spec.source.queries[0].query",
                "is:nullcast must always be negated: use -is:nullcast at position 16",
            ),
            (
                "query with an operator without value",
                |tp| set_query(tp, "covid from:"),
                "spec.source.queries[0].query",
                "Operator 'from:' needs a value",
            ),
            (
                "query with a radius of 30 miles",
                |tp| set_query(tp, "covid point_radius:[2.35 48.86 30mi]"),
                "spec.source.queries[0].query",
                "radius 30mi must be less than 25mi",
            ),
            (
                "query with a bounding box side over 25 miles",
                |tp| set_query(tp, "covid bounding_box:[0 0 1 1]"),
                "spec.source.queries[0].query",
                "must each be less than 25mi",
            ),
            (
                "query with context: not domain.entity",
                |tp| set_query(tp, "context:799022225751871488"),
                "spec.source.queries[0].query",
                "is not domain_id.entity_id",
            ),
            (
                "query with a bad country code",
                |tp| set_query(tp, "covid place_country:UK"),
                "spec.source.queries[0].query",
                "'UK' is not an ISO 3166-1 alpha-2 country code",
            ),
            (
                "query of NBSP",
                |tp| set_query(tp, "\u{a0}\u{a0}"),
                "spec.source.queries[0].query",
                "not only spaces",
            ),
            (
                "query of ideographic space",
                |tp| set_query(tp, "\u{3000}"),
                "spec.source.queries[0].query",
                "not only spaces",
            ),
            (
                "base url with endpoint",
                |tp| tp.spec.source.base_url = "https://api.x.com/2/tweets/search/recent".into(),
                "spec.source.baseUrl",
                "the extractor appends /2/tweets/search/recent",
            ),
            (
                "base url with /2/",
                |tp| tp.spec.source.base_url = "https://api.x.com/2/".into(),
                "spec.source.baseUrl",
                "give the base URL only, e.g. https://api.x.com",
            ),
            (
                "base url not http",
                |tp| tp.spec.source.base_url = "api.x.com".into(),
                "spec.source.baseUrl",
                "http:// or https:// URL",
            ),
            (
                "base url host not allowed",
                |tp| tp.spec.source.base_url = "https://tokens.evil.example".into(),
                "spec.source.baseUrl",
                "sends the bearer tokens to https://tokens.evil.example:443, which is not an allowed X API host",
            ),
            (
                "base url host hidden behind user information",
                |tp| tp.spec.source.base_url = "https://api.x.com@evil.example".into(),
                "spec.source.baseUrl",
                "must not contain user information",
            ),
            (
                "base url over cleartext to the X API",
                |tp| tp.spec.source.base_url = "http://api.x.com".into(),
                "spec.source.baseUrl",
                "http://api.x.com:80, which is not an allowed X API host",
            ),
            (
                "base url on another port of the simulator",
                |tp| {
                    tp.spec.source.base_url = "http://x-api-simulator.tweetpipe-system:9000".into()
                },
                "spec.source.baseUrl",
                "allowedApiServices",
            ),
            (
                "topic dot",
                |tp| tp.spec.kafka.topic = ".".into(),
                "spec.kafka.topic",
                "cannot be '.' or '..'",
            ),
            (
                "topic dot dot",
                |tp| tp.spec.kafka.topic = "..".into(),
                "spec.kafka.topic",
                "cannot be '.' or '..'",
            ),
            (
                "topic too long",
                |tp| tp.spec.kafka.topic = "t".repeat(250),
                "spec.kafka.topic",
                "at most 237 characters: Kafka allows 249",
            ),
            (
                "topic near limit",
                |tp| tp.spec.kafka.topic = "t".repeat(238),
                "spec.kafka.topic",
                "at most 237 characters",
            ),
            (
                "topic bad chars",
                |tp| tp.spec.kafka.topic = "tweets/covid".into(),
                "spec.kafka.topic",
                "only ASCII letters, digits, '.', '_' and '-'",
            ),
            (
                "topic reserved suffix",
                |tp| tp.spec.kafka.topic = "tweets.dlq".into(),
                "spec.kafka.topic",
                "must not end in .checkpoints, .slots or .dlq",
            ),
            (
                "topic is another pipeline's slot topic",
                |tp| tp.spec.kafka.topic = "tweets.slots".into(),
                "spec.kafka.topic",
                "must not end in .checkpoints, .slots or .dlq",
            ),
            (
                "topic is another pipeline's checkpoint topic",
                |tp| tp.spec.kafka.topic = "tweets.checkpoints".into(),
                "spec.kafka.topic",
                "must not end in .checkpoints, .slots or .dlq",
            ),
            (
                "bootstrap port too big",
                |tp| tp.spec.kafka.bootstrap_servers = "kafka:9092,kafka-1:70000".into(),
                "spec.kafka.bootstrapServers",
                "between 1 and 65535",
            ),
            (
                "bootstrap port zero",
                |tp| tp.spec.kafka.bootstrap_servers = "kafka:0".into(),
                "spec.kafka.bootstrapServers",
                "between 1 and 65535",
            ),
            (
                "bootstrap no port",
                |tp| tp.spec.kafka.bootstrap_servers = "kafka".into(),
                "spec.kafka.bootstrapServers",
                "host:port pairs",
            ),
            (
                "unknown tweet field",
                |tp| tp.spec.source.fields.tweet_fields.push("colour".into()),
                "spec.source.fields.tweetFields[12]",
                "X does not know \"colour\" in tweet.fields",
            ),
            (
                "unknown user field",
                |tp| tp.spec.source.fields.user_fields[0] = "followers".into(),
                "spec.source.fields.userFields[0]",
                "user.fields; use one of: affiliation",
            ),
            (
                "unknown place field",
                |tp| tp.spec.source.fields.place_fields[0] = "city".into(),
                "spec.source.fields.placeFields[0]",
                "place.fields",
            ),
            (
                "unknown expansion",
                |tp| tp.spec.source.fields.expansions[0] = "author".into(),
                "spec.source.fields.expansions[0]",
                "expansions; use one of",
            ),
            (
                "min share above margin budget",
                |tp| tp.spec.extractor.min_requests_per_replica = 406,
                "spec.extractor.minRequestsPerReplica",
                "450 x 90 / 100 = 405",
            ),
            (
                "min share above limit",
                |tp| tp.spec.extractor.min_requests_per_replica = 500,
                "spec.extractor.minRequestsPerReplica",
                "no replica could ever get its minimum share",
            ),
            (
                "cpu not a quantity",
                |tp| tp.spec.extractor.resources = resources(&[("cpu", "one")], &[]),
                "spec.extractor.resources.requests[cpu]",
                "non-negative quantity",
            ),
            (
                "memory with bad suffix",
                |tp| tp.spec.transformer.resources = resources(&[], &[("memory", "256MB")]),
                "spec.transformer.resources.limits[memory]",
                "non-negative quantity",
            ),
            (
                "negative cpu",
                |tp| tp.spec.transformer.resources = resources(&[("cpu", "-1")], &[]),
                "spec.transformer.resources.requests[cpu]",
                "non-negative",
            ),
            (
                "misspelt resource",
                |tp| tp.spec.extractor.resources = resources(&[("memroy", "64Mi")], &[]),
                "spec.extractor.resources.requests[memroy]",
                "resource names must be cpu, memory",
            ),
            (
                "request above limit",
                |tp| {
                    tp.spec.extractor.resources =
                        resources(&[("memory", "1Gi")], &[("memory", "512Mi")])
                },
                "spec.extractor.resources.requests[memory]",
                "must not exceed the limit",
            ),
            (
                "image uppercase path",
                |tp| tp.spec.extractor.image = Some("Tweetpipe/Extractor:1".into()),
                "spec.extractor.image",
                "container image reference",
            ),
            (
                "image with spaces",
                |tp| tp.spec.transformer.image = Some("tweetpipe/transformer :1".into()),
                "spec.transformer.image",
                "lowercase path",
            ),
            (
                "image bad digest",
                |tp| tp.spec.transformer.image = Some("tweetpipe/transformer@sha256:abc".into()),
                "spec.transformer.image",
                "@sha256: digest",
            ),
            (
                "image empty tag",
                |tp| tp.spec.extractor.image = Some("tweetpipe/extractor:".into()),
                "spec.extractor.image",
                "optional :tag",
            ),
            (
                "duplicate query names",
                |tp| tp.spec.source.queries[1].name = "covid-en".into(),
                "spec.source.queries[1].name",
                "unique name",
            ),
            (
                "bad query name",
                |tp| tp.spec.source.queries[0].name = "Covid_EN".into(),
                "spec.source.queries[0].name",
                "only lowercase letters",
            ),
            (
                "duplicate tokens",
                |tp| tp.spec.source.tokens[1] = tp.spec.source.tokens[0].clone(),
                "spec.source.tokens[1]",
                "listed once",
            ),
            (
                "bad secret name",
                |tp| tp.spec.source.tokens[0].name = "X_Token".into(),
                "spec.source.tokens[0].name",
                "a Secret name may contain only",
            ),
            (
                "transformer min above max",
                |tp| tp.spec.transformer.min_replicas = 9,
                "spec.transformer",
                "minReplicas must not exceed",
            ),
            (
                "system database",
                |tp| tp.spec.mysql.database = "MySQL".into(),
                "spec.mysql.database",
                "system schema",
            ),
            (
                "ownership ledger as database",
                |tp| tp.spec.mysql.database = "TweetPipe_Control".into(),
                "spec.mysql.database",
                "ownership ledger",
            ),
            (
                "wildcard-only database",
                |tp| tp.spec.mysql.database = "_____".into(),
                "spec.mysql.database",
                "letter or digit",
            ),
            (
                "bad database name",
                |tp| tp.spec.mysql.database = "tweets-db".into(),
                "spec.mysql.database",
                "letters, digits and '_'",
            ),
            (
                "root reporting user",
                |tp| tp.spec.mysql.reporting_user.as_mut().expect("user").name = "root".into(),
                "spec.mysql.reportingUser.name",
                "read-only",
            ),
            (
                "plain sasl without tls",
                |tp| {
                    tp.spec.kafka.sasl = Some(KafkaSasl {
                        mechanism: SaslMechanism::Plain,
                        secret_name: "kafka-user".into(),
                        username_key: "username".into(),
                        password_key: "password".into(),
                        admin_secret_name: None,
                    })
                },
                "spec.kafka",
                "clear text",
            ),
        ];
        let mut failures = Vec::new();
        for (what, edit, field, phrase) in rows {
            let refusals = check(&with(edit), None);
            let hit = refusals
                .iter()
                .any(|r| r.field == field && r.message.contains(phrase));
            let quotes_regex = refusals
                .iter()
                .any(|r| r.message.contains("^") || r.message.contains("[a-z"));
            if !hit || quotes_regex {
                failures.push(format!(
                    "{what}: expected {field}: …{phrase}…, got {refusals:#?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Near misses that must pass: the rules refuse what would fail, nothing more.
    #[test]
    fn accepts_valid_near_misses() {
        let rows: Vec<(&str, Edit)> = vec![
            ("name of 40", |tp| {
                tp.metadata.name = Some(format!("a{}", "b".repeat(39)))
            }),
            ("query of exactly 512", |tp| {
                set_query(tp, &format!("covid {}", "x".repeat(506)))
            }),
            ("query with unicode spaces between terms", |tp| {
                set_query(tp, "covid\u{3000}vaccine\u{a0}lang:ja")
            }),
            ("query with group and negation", |tp| {
                set_query(tp, "(covid OR flu) -is:retweet has:links")
            }),
            ("query with emoji", |tp| set_query(tp, "(😷 OR 🦠) covid")),
            (
                "query with url:, context:, entity:, conversation_id:",
                |tp| {
                    set_query(
                        tp,
                        "url:\"who.int\" OR context:10.799022225751871488 OR entity:\"Michael Jordan\" OR conversation_id:1334987486343299072",
                    )
                },
            ),
            ("query with place and geo operators", |tp| {
                set_query(
                    tp,
                    "covid (place:\"new york city\" OR place_country:BR OR point_radius:[2.355128 48.861118 24mi] OR bounding_box:[-105.301758 39.964069 -105.178505 40.09455])",
                )
            }),
            (
                "query with to:, retweets_of:, in_reply_to_tweet_id:, has:video_link, -is:nullcast",
                |tp| {
                    set_query(
                        tp,
                        "(to:WHO OR retweets_of:WHO OR in_reply_to_tweet_id:1539382664746020864) has:video_link -is:nullcast",
                    )
                },
            ),
            ("query of 4096 on Enterprise", |tp| {
                tp.spec.source.access_level = AccessLevel::Enterprise;
                set_query(tp, &format!("covid {}", "x".repeat(4090)))
            }),
            ("query with core operators on Basic", |tp| {
                tp.spec.source.access_level = AccessLevel::Basic;
                set_query(
                    tp,
                    "covid url:\"who.int\" -is:retweet has:images lang:zh-CN",
                )
            }),
            ("base url with other path", |tp| {
                tp.spec.source.base_url = "https://proxy.example.com/x-api".into()
            }),
            ("base url with v20 path", |tp| {
                tp.spec.source.base_url = "https://proxy.example.com/20/".into()
            }),
            ("base url on an allowed host, other spelling", |tp| {
                tp.spec.source.base_url = "https://API.X.com.:443/".into()
            }),
            ("topic of 237", |tp| tp.spec.kafka.topic = "t".repeat(237)),
            ("topic ending in a near miss of a suffix", |tp| {
                tp.spec.kafka.topic = "tweets.slot".into()
            }),
            ("topic with all allowed chars", |tp| {
                tp.spec.kafka.topic = "Tweets_2024.covid-19".into()
            }),
            ("bootstrap port 65535 and 1", |tp| {
                tp.spec.kafka.bootstrap_servers = "kafka:65535,k2:1".into()
            }),
            ("all tweet fields", |tp| {
                tp.spec.source.fields.tweet_fields =
                    fields::TWEET_FIELDS.iter().map(|s| s.to_string()).collect()
            }),
            ("all expansions", |tp| {
                tp.spec.source.fields.expansions =
                    fields::EXPANSIONS.iter().map(|s| s.to_string()).collect()
            }),
            ("min share equal to margin budget", |tp| {
                tp.spec.extractor.min_requests_per_replica = 405
            }),
            ("cpu as plain number", |tp| {
                tp.spec.extractor.resources = resources(
                    &[("cpu", "1"), ("memory", "64Mi")],
                    &[("cpu", "2"), ("memory", "1Gi")],
                )
            }),
            ("fractional and exponent quantities", |tp| {
                tp.spec.transformer.resources = resources(
                    &[
                        ("cpu", "0.5"),
                        ("memory", "1e8"),
                        ("ephemeral-storage", "1G"),
                    ],
                    &[("cpu", "500m"), ("memory", "128Mi")],
                )
            }),
            ("extended resources", |tp| {
                tp.spec.transformer.resources =
                    resources(&[("hugepages-2Mi", "2Mi"), ("example.com/foo", "1")], &[])
            }),
            ("image short", |tp| {
                tp.spec.extractor.image = Some("extractor".into())
            }),
            ("image with registry port tag and digest", |tp| {
                tp.spec.extractor.image = Some(format!(
                    "registry.local:5000/team/tweet_pipe__x/extractor-v2:1.2.0-rc.1@sha256:{}",
                    "a".repeat(64)
                ))
            }),
            ("image on localhost", |tp| {
                tp.spec.transformer.image = Some("localhost/transformer:dev".into())
            }),
            ("query names unique digits first", |tp| {
                tp.spec.source.queries.push(QuerySpec {
                    name: "2024-covid".into(),
                    query: "covid".into(),
                    delivery: Default::default(),
                    search_recovery: None,
                })
            }),
            ("plain sasl with tls", |tp| {
                tp.spec.kafka.tls = Some(KafkaTls::default());
                tp.spec.kafka.sasl = Some(KafkaSasl {
                    mechanism: SaslMechanism::Plain,
                    secret_name: "kafka-user".into(),
                    username_key: "username".into(),
                    password_key: "password".into(),
                    admin_secret_name: None,
                });
            }),
        ];
        for (what, edit) in rows {
            assert_eq!(check(&with(edit), None), vec![], "{what}");
        }
    }

    /// (edit, field refused or "" for accepted) under a policy with a registry list, the
    /// default images and the default maxima.
    #[test]
    fn the_administrators_policy_is_enforced_and_good_input_passes() {
        let mut strict = policy();
        strict.registry_hosts =
            AllowedRegistryHosts::parse("registry.kafka:8080").expect("registry list");
        strict.worker_images = AllowedWorkerImages::new(&OWN_IMAGES, &[]);
        let rows: Vec<(&str, Edit, &str, &str)> = vec![
            ("defaults", |_| {}, "", ""),
            (
                "listed registry",
                |tp| {
                    tp.spec.kafka.schema_registry_url =
                        Some("http://registry.kafka:8080/apis/ccompat/v7".into())
                },
                "",
                "",
            ),
            (
                "metadata endpoint as registry",
                |tp| {
                    tp.spec.kafka.schema_registry_url =
                        Some("http://169.254.169.254/latest/meta-data".into())
                },
                "spec.kafka.schemaRegistryUrl",
                "TWEETPIPE_ALLOWED_REGISTRY_HOSTS",
            ),
            (
                "operator's own image",
                |tp| tp.spec.extractor.image = Some(OWN_IMAGES[0].into()),
                "",
                "",
            ),
            (
                "other image",
                |tp| tp.spec.transformer.image = Some("ghcr.io/mallory/cat-secrets:1".into()),
                "spec.transformer.image",
                "TWEETPIPE_ALLOWED_WORKER_IMAGES",
            ),
            (
                "partitions at the maximum",
                |tp| tp.spec.kafka.partitions = 64,
                "",
                "",
            ),
            (
                "partitions above",
                |tp| tp.spec.kafka.partitions = 10_000,
                "spec.kafka.partitions",
                "TWEETPIPE_MAX_PARTITIONS",
            ),
            (
                "replication factor at the maximum",
                |tp| tp.spec.kafka.replication_factor = 5,
                "",
                "",
            ),
            (
                "replication factor above",
                |tp| tp.spec.kafka.replication_factor = 16,
                "spec.kafka.replicationFactor",
                "TWEETPIPE_MAX_REPLICATION_FACTOR",
            ),
            (
                "retention of 90 days",
                |tp| tp.spec.kafka.retention_hours = 2160,
                "",
                "",
            ),
            (
                "retention of 10 years",
                |tp| tp.spec.kafka.retention_hours = 87_600,
                "spec.kafka.retentionHours",
                "TWEETPIPE_MAX_RETENTION_HOURS",
            ),
        ];
        for (what, edit, field, words) in rows {
            let tp = with(edit);
            let refusals = super::check(&tp, None, &strict);
            if field.is_empty() {
                assert_eq!(refusals, vec![], "{what}");
                continue;
            }
            assert_eq!(refusals.len(), 1, "{what}: {refusals:?}");
            assert_eq!(refusals[0].field, field, "{what}");
            assert!(refusals[0].message.contains(words), "{what}: {refusals:?}");
            // Admitted under an older policy: edits elsewhere stay possible...
            let mut suspended = tp.clone();
            suspended.spec.suspend = true;
            assert_eq!(
                super::check(&suspended, Some(&tp), &strict),
                vec![],
                "{what}"
            );
            // ...but the refused value cannot be introduced by an update.
            let fresh = pipeline();
            assert_eq!(
                super::check(&tp, Some(&fresh), &strict).len(),
                1,
                "{what} by update"
            );
        }
    }

    #[test]
    fn updates_guard_the_immutable_fields() {
        let old = pipeline();
        let rows: Vec<(Edit, &str, &str)> = vec![
            (
                |tp| tp.spec.mysql.database = "tweets_other".into(),
                "spec.mysql.database",
                "mysql.database cannot change: the posts live in the old database; create a new TweetPipeline instead",
            ),
            (
                |tp| tp.spec.kafka.topic = "tweets.other".into(),
                "spec.kafka.topic",
                "kafka.topic cannot change",
            ),
            (
                |tp| tp.spec.kafka.partitions = 3,
                "spec.kafka.partitions",
                "can only grow",
            ),
        ];
        for (edit, field, message) in rows {
            let refusals = check(&with(edit), Some(&old));
            assert!(
                refusals
                    .iter()
                    .any(|r| r.field == field && r.message.contains(message)),
                "{field}: {refusals:?}"
            );
        }
        let grown = with(|tp| tp.spec.kafka.partitions = 12);
        assert_eq!(check(&grown, Some(&old)), vec![]);
    }

    #[test]
    fn updates_judge_the_api_host_only_when_the_base_url_changes() {
        let admitted_earlier = with(|tp| tp.spec.source.base_url = "https://old.example".into());
        let suspended = with(|tp| {
            tp.spec.source.base_url = "https://old.example".into();
            tp.spec.suspend = true;
        });
        assert_eq!(
            check(&suspended, Some(&admitted_earlier)),
            vec![],
            "a pipeline whose host left the list can still be suspended or deleted"
        );
        let moved = with(|tp| tp.spec.source.base_url = "https://new.example".into());
        let refusals = check(&moved, Some(&admitted_earlier));
        assert!(
            refusals
                .iter()
                .any(|r| r.field == "spec.source.baseUrl" && r.message.contains("new.example")),
            "{refusals:?}"
        );
        assert_eq!(
            api_host_refusal(&suspended.spec, &allowed()).map(|r| r.field),
            Some("spec.source.baseUrl".to_string()),
            "the reconcile still refuses it"
        );
    }

    #[test]
    fn query_refusals_name_each_query_and_render_as_field_colon_message() {
        let tp = with(|tp| {
            tp.spec.source.queries[1].query = "x".repeat(600);
            tp.spec.source.queries[2].query = "lang:en".into();
            tp.spec.kafka.topic = "..".into();
        });
        let refusals = query_refusals(&tp.spec);
        let fields: Vec<&str> = refusals.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.source.queries[1].query",
                "spec.source.queries[2].query"
            ]
        );
        assert!(refusals[0].message.contains("600 characters"));
        assert!(refusals[0].message.contains("512"));
        assert!(
            refusals[0]
                .to_string()
                .starts_with("spec.source.queries[1].query: the query is 600 characters long")
        );
    }

    #[test]
    fn quantities_parse_like_kubernetes() {
        let value = |s: &str| quantity_value(&Quantity(s.into()));
        assert_eq!(value("500m"), Some(0.5));
        assert_eq!(value("1"), Some(1.0));
        assert_eq!(value("+1.5"), Some(1.5));
        assert_eq!(value(".5"), Some(0.5));
        assert_eq!(value("64Mi"), Some(64.0 * 1024.0 * 1024.0));
        assert_eq!(value("1e3"), Some(1000.0));
        assert_eq!(value("-2k"), Some(-2000.0));
        for bad in ["", "m", "1.2.3", "1mi", "64MB", "1e", "one", "1 Gi", "1e+"] {
            assert_eq!(value(bad), None, "{bad}");
        }
    }
}
