//! Conditions from observed facts. Pure: the same facts give the same conditions, and a
//! condition keeps its `lastTransitionTime` while its status does not change.

use crate::crd::Condition;

use super::monthly::MonthlyState;

/// Condition types the operator writes.
pub mod types {
    /// Everything works and the workloads are ready.
    pub const READY: &str = "Ready";
    /// Every referenced Secret and key exists.
    pub const SECRETS_RESOLVED: &str = "SecretsResolved";
    /// Kafka answers and the topics match the spec.
    pub const KAFKA_READY: &str = "KafkaReady";
    /// MySQL answers and the schema is migrated.
    pub const MYSQL_READY: &str = "MySQLReady";
    /// The rate budget, not the work, limits the extractors.
    pub const RATE_LIMITED: &str = "RateLimited";
    /// The monthly post cap is near or reached.
    pub const MONTHLY_CAP: &str = "MonthlyCap";
    /// `spec.suspend` is set.
    pub const SUSPENDED: &str = "Suspended";
    /// Every query parses as X would accept it.
    pub const QUERIES_VALID: &str = "QueriesValid";
    /// The post schema is registered under the posts topic's subject (or no registry is used).
    pub const SCHEMA_REGISTERED: &str = "SchemaRegistered";
    /// The apps the stream queries use are this pipeline's alone and within their rule budget
    /// (only on pipelines with `delivery: Stream` queries).
    pub const STREAM_APPS_AVAILABLE: &str = "StreamAppsAvailable";
}

/// Condition reasons the operator decides itself (checks carry their own, e.g. `KafkaUnreachable`).
pub mod reasons {
    /// Everything runs.
    pub const PIPELINE_READY: &str = "PipelineReady";
    /// `spec.suspend` is set.
    pub const SUSPENDED: &str = "Suspended";
    /// Pods are starting.
    pub const WORKLOADS_NOT_READY: &str = "WorkloadsNotReady";
    /// The extractor stopped a query (invalid, unauthorized, usage cap).
    pub const QUERY_STOPPED: &str = "QueryStopped";
    /// A query is not valid X query syntax.
    pub const QUERY_INVALID: &str = "QueryInvalid";
    /// Every query is valid.
    pub const QUERIES_PARSE: &str = "QueriesParse";
    /// The monthly cap is spent.
    pub const MONTHLY_CAP_REACHED: &str = "MonthlyCapReached";
    /// The rate budget affords no replica.
    pub const NO_EXTRACTOR_BUDGET: &str = "NoExtractorBudget";
    /// `source.baseUrl` is not on the operator's allow-list of API hosts.
    pub const API_HOST_NOT_ALLOWED: &str = "ApiHostNotAllowed";
    /// `kafka.schemaRegistryUrl`'s host is not on the administrator's list.
    pub const REGISTRY_HOST_NOT_ALLOWED: &str = "RegistryHostNotAllowed";
    /// `extractor.image` or `transformer.image` is not on the administrator's list.
    pub const WORKER_IMAGE_NOT_ALLOWED: &str = "WorkerImageNotAllowed";
    /// The post schema is registered (condition `SchemaRegistered`).
    pub const SCHEMA_REGISTERED: &str = "SchemaRegistered";
    /// `kafka.schemaRegistryUrl` is not set: records carry their schema fingerprint.
    pub const REGISTRY_NOT_USED: &str = "RegistryNotUsed";
    /// The registry's compatibility rule refuses the post schema (HTTP 409).
    pub const SCHEMA_INCOMPATIBLE: &str = "SchemaIncompatible";
    /// The registry refuses the request otherwise (invalid schema, 401/403, wrong path).
    pub const SCHEMA_REGISTRY_REFUSED: &str = "SchemaRegistryRefused";
    /// The registry did not answer (connection, timeout, 5xx, 429).
    pub const SCHEMA_REGISTRY_UNREACHABLE: &str = "SchemaRegistryUnreachable";
    /// Every app a stream query uses is this pipeline's alone and within its rule budget.
    pub const STREAM_APPS_EXCLUSIVE: &str = "StreamAppsExclusive";
    /// An app would hold more stream rules than X allows.
    pub const RULE_BUDGET_EXCEEDED: &str = "RuleBudgetExceeded";
    /// An app streams for another pipeline (or another token of this one) too.
    pub const STREAM_APP_SHARED: &str = "StreamAppShared";
}

/// Where the post schema stands with the pipeline's schema registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// `kafka.schemaRegistryUrl` is not set.
    NotUsed,
    /// Registered (or found identical) under `subject` with registry id `id`.
    Registered { subject: String, id: u32 },
    /// Not registered: a failure (reason from [`reasons`]) or not checked.
    Problem(Check),
}

impl SchemaState {
    /// Why the registry refuses the schema, when it does; an outage is no refusal.
    pub fn refusal(&self) -> Option<&str> {
        match self {
            SchemaState::Problem(Check::Failed { reason, message })
                if reason != reasons::SCHEMA_REGISTRY_UNREACHABLE =>
            {
                Some(message)
            }
            _ => None,
        }
    }
}

/// Ready reasons that mean "wait" rather than "broken" (Argo CD: Progressing, not Degraded).
pub const PROGRESSING_REASONS: [&str; 2] = [reasons::WORKLOADS_NOT_READY, "Reconciling"];

/// Outcome of one dependency check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Works.
    Ok,
    /// Not checked, because something it needs failed first.
    Skipped(String),
    /// Failed: a CamelCase reason and a message for people (no secrets in it).
    Failed { reason: String, message: String },
}

impl Check {
    /// Shorthand for a failure.
    pub fn failed(reason: &str, message: impl Into<String>) -> Self {
        Check::Failed {
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// The message of a check, for people.
pub fn message(check: &Check) -> String {
    match check {
        Check::Ok => "ok".into(),
        Check::Skipped(why) => why.clone(),
        Check::Failed { message, .. } => message.clone(),
    }
}

/// What the reconcile saw, reduced to what the conditions need.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `spec.suspend`.
    pub suspended: bool,
    /// Secrets.
    pub secrets: Check,
    /// Kafka topics.
    pub kafka: Check,
    /// MySQL schema.
    pub mysql: Check,
    /// The post schema in the schema registry.
    pub schema: SchemaState,
    /// The rate budget binds the extractor count (with its explanation).
    pub rate_limited: Option<String>,
    /// Monthly cap state and explanation, when there is a cap.
    pub monthly: Option<(MonthlyState, String)>,
    /// Extractors: desired, ready.
    pub extractors: (i32, i32),
    /// What set the desired extractor count (scaling's cap reason).
    pub extractor_cap: crate::decide::scaling::CapReason,
    /// Transformers: desired, ready.
    pub transformers: (i32, i32),
    /// Queries the extractor stopped, explained (invalid query, revoked token, usage cap).
    pub stopped_queries: Vec<String>,
    /// Queries X would refuse, with X's explanation (caught here when the webhook is off).
    pub invalid_queries: Vec<String>,
    /// Why `source.baseUrl` may not receive the bearer tokens (caught here when the webhook is
    /// off or the allow-list changed after admission).
    pub api_host_refusal: Option<String>,
    /// Why a per-pipeline image may not run (the administrator's list).
    pub image_refusal: Option<String>,
    /// Whether the apps of the stream queries are available to them; `None` without stream
    /// queries (and then no `StreamAppsAvailable` condition).
    pub stream_apps: Option<Check>,
}

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.into(),
        last_transition_time: String::new(),
        observed_generation: generation,
    }
}

fn check_condition(
    type_: &str,
    check: &Check,
    ok_reason: &str,
    ok_message: &str,
    generation: Option<i64>,
) -> Condition {
    match check {
        Check::Ok => condition(type_, true, ok_reason, ok_message, generation),
        Check::Skipped(why) => Condition {
            status: "Unknown".to_string(),
            ..condition(type_, false, "NotChecked", why.clone(), generation)
        },
        Check::Failed { reason, message } => {
            condition(type_, false, reason, message.clone(), generation)
        }
    }
}

/// The Ready condition's reason and message: the first thing wrong, in the order a person fixes them.
fn ready(facts: &Facts) -> (bool, String, String) {
    if facts.suspended {
        return (
            false,
            reasons::SUSPENDED.into(),
            "spec.suspend is set: workers are stopped, data is kept".into(),
        );
    }
    // First after suspend: the spec itself must change, and no extractor runs until it does.
    if let Some(refusal) = &facts.api_host_refusal {
        return (false, reasons::API_HOST_NOT_ALLOWED.into(), refusal.clone());
    }
    if let Some(refusal) = &facts.image_refusal {
        return (
            false,
            reasons::WORKER_IMAGE_NOT_ALLOWED.into(),
            refusal.clone(),
        );
    }
    let schema = match &facts.schema {
        SchemaState::Problem(check) => check,
        SchemaState::NotUsed | SchemaState::Registered { .. } => &Check::Ok,
    };
    for check in [&facts.secrets, &facts.kafka, &facts.mysql, schema] {
        if let Check::Failed { reason, message } = check {
            return (false, reason.clone(), message.clone());
        }
    }
    if !facts.invalid_queries.is_empty() {
        return (
            false,
            reasons::QUERY_INVALID.into(),
            facts.invalid_queries.join("; "),
        );
    }
    if !facts.stopped_queries.is_empty() {
        return (
            false,
            reasons::QUERY_STOPPED.into(),
            facts.stopped_queries.join("; "),
        );
    }
    if let Some(Check::Failed { reason, message }) = &facts.stream_apps {
        return (false, reason.clone(), message.clone());
    }
    if let Some((MonthlyState::Reached, message)) = &facts.monthly {
        return (false, reasons::MONTHLY_CAP_REACHED.into(), message.clone());
    }
    let (want_e, ready_e) = facts.extractors;
    let (want_t, ready_t) = facts.transformers;
    if want_e == 0 {
        let message = if facts.extractor_cap == crate::decide::scaling::CapReason::MaxReplicas {
            "spec.extractor.maxReplicas is 0, so no extractor runs and no post is fetched: raise it (kubectl scale tp <name> --replicas=N sets it), or set spec.suspend to pause the pipeline"
        } else {
            "the rate budget affords no extractor replica: raise source.limits or lower extractor.minRequestsPerReplica or the safety margin"
        };
        return (false, reasons::NO_EXTRACTOR_BUDGET.into(), message.into());
    }
    if ready_e < want_e || ready_t < want_t {
        return (
            false,
            reasons::WORKLOADS_NOT_READY.into(),
            format!("extractors {ready_e}/{want_e} ready, transformers {ready_t}/{want_t} ready"),
        );
    }
    (
        true,
        reasons::PIPELINE_READY.into(),
        format!("{want_e} extractor(s) and {want_t} transformer(s) running"),
    )
}

/// All conditions, in a fixed order. `previous` supplies transition times; `now` stamps changes.
pub fn compute(facts: &Facts, previous: &[Condition], now: &str) -> Vec<Condition> {
    let g = facts.generation;
    let (ready_ok, ready_reason, ready_message) = ready(facts);
    let mut conditions = vec![
        condition(types::READY, ready_ok, &ready_reason, ready_message, g),
        check_condition(
            types::SECRETS_RESOLVED,
            &facts.secrets,
            "SecretsFound",
            "all referenced Secrets and keys exist",
            g,
        ),
        check_condition(
            types::KAFKA_READY,
            &facts.kafka,
            "TopicsReady",
            "Kafka answers; topics match the spec",
            g,
        ),
        check_condition(
            types::MYSQL_READY,
            &facts.mysql,
            "SchemaReady",
            "MySQL answers; the schema is migrated",
            g,
        ),
        match &facts.schema {
            SchemaState::NotUsed => condition(
                types::SCHEMA_REGISTERED,
                true,
                reasons::REGISTRY_NOT_USED,
                "kafka.schemaRegistryUrl is not set: records carry their schema's fingerprint (Avro single-object encoding)",
                g,
            ),
            SchemaState::Registered { subject, id } => condition(
                types::SCHEMA_REGISTERED,
                true,
                reasons::SCHEMA_REGISTERED,
                format!("the post schema is registered under subject {subject} with id {id}"),
                g,
            ),
            SchemaState::Problem(check) => check_condition(
                types::SCHEMA_REGISTERED,
                check,
                reasons::SCHEMA_REGISTERED,
                "the post schema is registered",
                g,
            ),
        },
        match &facts.rate_limited {
            Some(message) => condition(
                types::RATE_LIMITED,
                true,
                "RateBudgetBinds",
                message.clone(),
                g,
            ),
            None => condition(
                types::RATE_LIMITED,
                false,
                "WithinRateBudget",
                "the rate budget allows every useful replica",
                g,
            ),
        },
        match &facts.monthly {
            None => condition(
                types::MONTHLY_CAP,
                false,
                "NoMonthlyCap",
                "source.limits.monthlyPostCap is not set",
                g,
            ),
            Some((MonthlyState::Within, message)) => {
                condition(types::MONTHLY_CAP, false, "WithinCap", message.clone(), g)
            }
            Some((MonthlyState::Near, message)) => {
                condition(types::MONTHLY_CAP, true, "CapNear", message.clone(), g)
            }
            Some((MonthlyState::Reached, message)) => {
                condition(types::MONTHLY_CAP, true, "CapReached", message.clone(), g)
            }
        },
        if facts.invalid_queries.is_empty() {
            condition(
                types::QUERIES_VALID,
                true,
                reasons::QUERIES_PARSE,
                "every query is valid X search syntax",
                g,
            )
        } else {
            condition(
                types::QUERIES_VALID,
                false,
                reasons::QUERY_INVALID,
                facts.invalid_queries.join("; "),
                g,
            )
        },
        if facts.suspended {
            condition(
                types::SUSPENDED,
                true,
                "Suspended",
                "spec.suspend is set",
                g,
            )
        } else {
            condition(
                types::SUSPENDED,
                false,
                "Running",
                "spec.suspend is not set",
                g,
            )
        },
    ];
    // Only pipelines that stream have it: a search-only pipeline's conditions stay as they were.
    if let Some(check) = &facts.stream_apps {
        conditions.push(check_condition(
            types::STREAM_APPS_AVAILABLE,
            check,
            reasons::STREAM_APPS_EXCLUSIVE,
            "every app (token) the stream queries use streams for this pipeline alone, within its rule budget",
            g,
        ));
    }
    for c in &mut conditions {
        c.last_transition_time = previous
            .iter()
            .find(|p| p.type_ == c.type_ && p.status == c.status)
            .map(|p| p.last_transition_time.clone())
            .unwrap_or_else(|| now.to_string());
    }
    conditions
}

/// Conditions whose status or reason changed (with the previous one, if any): the events to emit.
pub fn transitions<'a>(
    before: &'a [Condition],
    after: &'a [Condition],
) -> Vec<(&'a Condition, Option<&'a Condition>)> {
    after
        .iter()
        .map(|a| (a, before.iter().find(|b| b.type_ == a.type_)))
        .filter(|(a, b)| b.is_none_or(|b| b.status != a.status || b.reason != a.reason))
        .collect()
}
