//! Operator settings from the environment (the Helm chart sets them). Parsing is pure so it is
//! unit-tested; errors name the variable and what it expects.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

use crate::api_hosts::{self, AllowedApiHosts};
use crate::build::workloads::WorkerDefaults;
use crate::policy::{self, AllowedRegistryHosts, AllowedWorkerImages, KafkaLimits, Policy};

/// Tunables of the reconcile loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Images and settings handed to workers.
    pub workers: WorkerDefaults,
    /// Timeout of every Kafka call.
    pub kafka_timeout: Duration,
    /// Timeout of every MySQL connection.
    pub mysql_timeout: Duration,
    /// Timeout of every Kubernetes API request (watches excepted).
    pub api_timeout: Duration,
    /// Overall deadline of one reconcile: the backstop past every bounded step.
    pub reconcile_timeout: Duration,
    /// How often a settled (Ready or suspended) pipeline's status is refreshed (progress, lag,
    /// forecast). Status writes do not trigger reconciles, so this bounds the work at rest.
    pub requeue_ready: Duration,
    /// Requeue while something is wrong or starting.
    pub requeue_not_ready: Duration,
    /// Pipelines reconciled at the same time (each holds Kafka and MySQL connections).
    pub concurrency: u16,
    /// How long deletion keeps retrying an unreachable Kafka or MySQL before it gives up, says
    /// what was left behind, and lets the pipeline go.
    pub cleanup_deadline: Duration,
    /// Transformers scale down only after lag has asked for fewer replicas this long (HPA's
    /// stabilisation window), so a dip never churns the consumer group.
    pub scale_down_window: Duration,
    /// Hosts a pipeline's `source.baseUrl` may point at: the only places bearer tokens go.
    pub allowed_api_hosts: AllowedApiHosts,
    /// Hosts a pipeline's `kafka.schemaRegistryUrl` may point at (any when unset).
    pub allowed_registry_hosts: AllowedRegistryHosts,
    /// Images a pipeline's `extractor.image` / `transformer.image` may name.
    pub allowed_worker_images: AllowedWorkerImages,
    /// How much Kafka one pipeline may take.
    pub kafka_limits: KafkaLimits,
}

impl Settings {
    /// What the administrator allows, for the admission webhook and the reconcile.
    pub fn policy(&self) -> Policy {
        Policy {
            api_hosts: self.allowed_api_hosts.clone(),
            registry_hosts: self.allowed_registry_hosts.clone(),
            worker_images: self.allowed_worker_images.clone(),
            kafka_limits: self.kafka_limits,
        }
    }
}

/// The default reconcile deadline: the slowest dependency check (Kafka's topic checks, or MySQL's
/// schema checks), then the progress reads, then room for a few API calls that each time out.
pub fn default_reconcile_timeout(kafka: Duration, mysql: Duration, api: Duration) -> Duration {
    (kafka * 4).max(mysql * 12) + kafka * 4 + api * 2
}

/// `TWEETPIPE_WATCH_NAMESPACE`: namespaces separated by commas (spaces allowed), each a DNS label
/// as Kubernetes requires of namespace names; empty or unset: every namespace. Duplicates are
/// dropped; the order is kept.
fn watch_namespaces(value: Option<String>) -> Result<Vec<String>, SettingsError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut namespaces: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name.len() > 63 || !crate::admission::rules::is_dns_label_with_digits(name) {
            return Err(SettingsError {
                name: "TWEETPIPE_WATCH_NAMESPACE",
                value: value.clone(),
                expected: format!(
                    "namespace names separated by commas; {name:?} is not one (lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit)"
                )
                .into(),
            });
        }
        if !namespaces.iter().any(|n| n == name) {
            namespaces.push(name.to_owned());
        }
    }
    Ok(namespaces)
}

/// A bad environment variable.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("environment variable {name}={value:?} is invalid: expected {expected}")]
pub struct SettingsError {
    name: &'static str,
    value: String,
    expected: Cow<'static, str>,
}

/// Everything `main` needs.
#[derive(Debug, Clone)]
pub struct OperatorSettings {
    /// Reconcile tunables.
    pub controller: Settings,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub ops_addr: SocketAddr,
    /// Whether to take a Lease before reconciling.
    pub leader_election: bool,
    /// Lease name.
    pub lease_name: String,
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// This replica's identity (pod name).
    pub identity: String,
    /// Lease duration in seconds.
    pub lease_seconds: u64,
    /// Only reconcile pipelines in these namespaces (all namespaces when empty).
    pub watch_namespaces: Vec<String>,
    /// Reconcile only pipelines labelled `tweetpipe.io/operator-instance=<this>`; the default
    /// operator (unset) reconciles pipelines without that label.
    pub instance: Option<String>,
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    expected: &'static str,
) -> Result<T, SettingsError> {
    match get(name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| SettingsError {
            name,
            value,
            expected: expected.into(),
        }),
    }
}

/// Reads settings through `get` (the process environment in `main`).
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<OperatorSettings, SettingsError> {
    let string = |name: &str, default: &str| {
        get(name)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    let version = env!("CARGO_PKG_VERSION");
    let pull_policy = string("TWEETPIPE_IMAGE_PULL_POLICY", "IfNotPresent");
    if !["Always", "IfNotPresent", "Never"].contains(&pull_policy.as_str()) {
        return Err(SettingsError {
            name: "TWEETPIPE_IMAGE_PULL_POLICY",
            value: pull_policy,
            expected: "Always, IfNotPresent or Never".into(),
        });
    }
    let workers = WorkerDefaults {
        extractor_image: string(
            "TWEETPIPE_EXTRACTOR_IMAGE",
            &format!("ghcr.io/tweetpipe/extractor:{version}"),
        ),
        transformer_image: string(
            "TWEETPIPE_TRANSFORMER_IMAGE",
            &format!("ghcr.io/tweetpipe/transformer:{version}"),
        ),
        image_pull_policy: pull_policy,
        otlp_endpoint: get("TWEETPIPE_WORKER_OTLP_ENDPOINT").filter(|v| !v.trim().is_empty()),
        log_filter: string("TWEETPIPE_WORKER_LOG", "info"),
    };
    let seconds = |name: &'static str, default: u64| {
        parse(&get, name, default, "a whole number of seconds").map(Duration::from_secs)
    };
    let kafka_timeout = seconds("TWEETPIPE_KAFKA_TIMEOUT_SECONDS", 10)?;
    let mysql_timeout = seconds("TWEETPIPE_MYSQL_TIMEOUT_SECONDS", 5)?;
    let api_timeout = seconds("TWEETPIPE_API_TIMEOUT_SECONDS", 20)?;
    let reconcile_timeout = match get("TWEETPIPE_RECONCILE_TIMEOUT_SECONDS") {
        None => default_reconcile_timeout(kafka_timeout, mysql_timeout, api_timeout),
        Some(_) => seconds("TWEETPIPE_RECONCILE_TIMEOUT_SECONDS", 0)?,
    };
    let own_images = [
        workers.extractor_image.clone(),
        workers.transformer_image.clone(),
    ];
    let own_images: Vec<&str> = own_images.iter().map(String::as_str).collect();
    let allowed_worker_images = match get(policy::WORKER_IMAGES_SETTING) {
        None => AllowedWorkerImages::new(&own_images, &[]),
        Some(value) => AllowedWorkerImages::parse(&own_images, &value).map_err(|e| {
            SettingsError {
                name: policy::WORKER_IMAGES_SETTING,
                expected: format!(
                    "comma-separated image references (or repository:* for any tag of one repository), allowed besides the operator's own worker images; {e}"
                )
                .into(),
                value,
            }
        })?,
    };
    let allowed_registry_hosts = match get(policy::REGISTRY_HOSTS_SETTING) {
        None => AllowedRegistryHosts::any(),
        Some(value) => AllowedRegistryHosts::parse(&value).map_err(|e| SettingsError {
            name: policy::REGISTRY_HOSTS_SETTING,
            expected: format!(
                "comma-separated entries host, host:port or http(s)://host[:port] (IPv6 in brackets), or empty for any host; {e}"
            )
            .into(),
            value,
        })?,
    };
    let positive = |name: &'static str, default: u32| {
        parse(&get, name, default, "a whole number from 1 up").and_then(|n: u32| {
            if n == 0 {
                Err(SettingsError {
                    name,
                    value: "0".into(),
                    expected: "a whole number from 1 up".into(),
                })
            } else {
                Ok(n)
            }
        })
    };
    let to_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let kafka_limits = KafkaLimits {
        max_partitions: to_i32(positive(
            policy::MAX_PARTITIONS_SETTING,
            policy::DEFAULT_MAX_PARTITIONS.unsigned_abs(),
        )?),
        max_replication_factor: to_i32(positive(
            policy::MAX_REPLICATION_FACTOR_SETTING,
            policy::DEFAULT_MAX_REPLICATION_FACTOR.unsigned_abs(),
        )?),
        max_retention_hours: positive(
            policy::MAX_RETENTION_HOURS_SETTING,
            policy::DEFAULT_MAX_RETENTION_HOURS,
        )?,
    };
    let controller = Settings {
        workers,
        kafka_timeout,
        mysql_timeout,
        api_timeout,
        reconcile_timeout,
        requeue_ready: seconds("TWEETPIPE_REQUEUE_SECONDS", 60)?,
        requeue_not_ready: seconds("TWEETPIPE_REQUEUE_NOT_READY_SECONDS", 5)?,
        concurrency: parse(
            &get,
            "TWEETPIPE_MAX_CONCURRENT_RECONCILES",
            16,
            "a number from 1 to 65535",
        )
        .and_then(|n: u16| {
            if n == 0 {
                Err(SettingsError {
                    name: "TWEETPIPE_MAX_CONCURRENT_RECONCILES",
                    value: "0".into(),
                    expected: "a number from 1 to 65535".into(),
                })
            } else {
                Ok(n)
            }
        })?,
        cleanup_deadline: seconds("TWEETPIPE_CLEANUP_DEADLINE_SECONDS", 600)?,
        scale_down_window: seconds("TWEETPIPE_SCALE_DOWN_WINDOW_SECONDS", 300)?,
        allowed_api_hosts: match get(api_hosts::SETTING).filter(|v| !v.trim().is_empty()) {
            None => AllowedApiHosts::default(),
            Some(value) => AllowedApiHosts::parse(&value).map_err(|e| SettingsError {
                name: api_hosts::SETTING,
                expected: format!(
                    "comma-separated entries host, host:port or http(s)://host[:port] (IPv6 in brackets); {e}"
                )
                .into(),
                value,
            })?,
        },
        allowed_registry_hosts,
        allowed_worker_images,
        kafka_limits,
    };
    let identity = get("POD_NAME")
        .or_else(|| get("HOSTNAME"))
        .unwrap_or_else(|| format!("tweetpipe-operator-{}", std::process::id()));
    Ok(OperatorSettings {
        controller,
        ops_addr: parse(
            &get,
            "TWEETPIPE_OPS_ADDR",
            SocketAddr::from(([0, 0, 0, 0], 8080)),
            "host:port, e.g. 0.0.0.0:8080",
        )?,
        leader_election: parse(&get, "TWEETPIPE_LEADER_ELECTION", true, "true or false")?,
        lease_name: string("TWEETPIPE_LEASE_NAME", "tweetpipe-operator"),
        namespace: string("POD_NAMESPACE", "default"),
        identity,
        lease_seconds: parse(
            &get,
            "TWEETPIPE_LEASE_SECONDS",
            15,
            "a whole number of seconds",
        )?,
        watch_namespaces: watch_namespaces(get("TWEETPIPE_WATCH_NAMESPACE"))?,
        instance: get("TWEETPIPE_INSTANCE").filter(|v| !v.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests;
