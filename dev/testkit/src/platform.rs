//! Where the local platform's services are, for integration and end-to-end tests.
//!
//! `make platform-up` writes `.platform/env` (or `$TWEETPIPE_PLATFORM_ENV`) with one `KEY=VALUE`
//! per line. Tests call [`platform()`]; when the file or a service is missing the test fails with
//! a message that names the component and the command that brings it up. Nothing here skips.

use std::collections::HashMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The platform Kafka's SASL_SSL listener: addresses, CA and the SCRAM users' credential files
/// (`tweetpipe` for workers, `tweetpipe-admin` for the operator), laid out like mounted Secrets.
#[derive(Debug, Clone)]
pub struct SecureKafka {
    /// From the host.
    pub bootstrap: String,
    /// From pods.
    pub bootstrap_pod: String,
    pub ca_file: PathBuf,
    pub sasl_mechanism: String,
    pub username_file: PathBuf,
    pub password_file: PathBuf,
    pub admin_username_file: PathBuf,
    pub admin_password_file: PathBuf,
}

impl SecureKafka {
    /// A worker's `kafka` config section (host side) for `topic`, as the operator writes it.
    pub fn worker_settings_json(&self, topic: &str) -> serde_json::Value {
        serde_json::json!({
            "bootstrap_servers": self.bootstrap,
            "topic": topic,
            "security_protocol": "sasl_ssl",
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_username_file": self.username_file,
            "sasl_password_file": self.password_file,
            "ssl_ca_file": self.ca_file,
        })
    }
}

/// Prometheus and the OpenTelemetry Collector of `make observe-up` (dev/platform/observe.sh).
#[derive(Debug, Clone)]
pub struct Observability {
    /// Prometheus' base URL from the host (its HTTP API is under `/api/v1`).
    pub prometheus_url: String,
    /// The collector's OTLP/gRPC endpoint as seen from pods (what workers export to).
    pub otlp_endpoint_pod: String,
    /// The collector's OTLP/gRPC endpoint from the host.
    pub otlp_endpoint: String,
    /// The collector's file exporter output: one OTLP JSON `TracesData` per line.
    pub traces_file: PathBuf,
}

const OBSERVE_UP: &str = "run `make observe-up` (or `make test`, which brings it up)";

/// Addresses of the running local platform.
#[derive(Debug, Clone)]
pub struct Platform {
    /// Kafka bootstrap servers as seen from the host (tests).
    pub kafka_bootstrap: String,
    /// Kafka bootstrap servers as seen from pods.
    pub kafka_bootstrap_pod: String,
    /// MariaDB URL with administrative rights, from the host, no database selected.
    pub mysql_url: String,
    /// MariaDB URL with administrative rights, as seen from pods.
    pub mysql_url_pod: String,
    /// Confluent-compatible schema registry base URL (Apicurio's `/apis/ccompat/v7`) from the
    /// host; `None` in an env file written before the platform had a registry.
    pub schema_registry_url: Option<String>,
    /// The schema registry's base URL as seen from pods.
    pub schema_registry_url_pod: Option<String>,
    /// Kubeconfig of the local cluster's admin.
    pub kubeconfig: PathBuf,
    /// Directory holding every component's log.
    pub log_dir: PathBuf,
    /// Everything in the env file, for keys without a field.
    pub vars: HashMap<String, String>,
}

const BRING_UP: &str = "run `make platform-up` (or `make test`, which brings it up)";

impl Platform {
    /// Reads the env file. Errors name the file and what to do.
    pub fn load() -> Result<Self, String> {
        let path = env_file_path();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "local platform env file {} unreadable ({e}); {BRING_UP}",
                path.display()
            )
        })?;
        let vars = parse_env(&text);
        let get = |key: &str| {
            vars.get(key).cloned().ok_or_else(|| {
                format!(
                    "{} lacks {key}; the platform is out of date, {BRING_UP}",
                    path.display()
                )
            })
        };
        Ok(Platform {
            kafka_bootstrap: get("TWEETPIPE_KAFKA_BOOTSTRAP")?,
            kafka_bootstrap_pod: get("TWEETPIPE_KAFKA_BOOTSTRAP_POD")?,
            mysql_url: get("TWEETPIPE_MYSQL_URL")?,
            mysql_url_pod: get("TWEETPIPE_MYSQL_URL_POD")?,
            schema_registry_url: vars.get("TWEETPIPE_SCHEMA_REGISTRY_URL").cloned(),
            schema_registry_url_pod: vars.get("TWEETPIPE_SCHEMA_REGISTRY_URL_POD").cloned(),
            kubeconfig: PathBuf::from(get("KUBECONFIG")?),
            log_dir: PathBuf::from(get("TWEETPIPE_LOG_DIR")?),
            vars: vars.clone(),
        })
    }

    /// The env file's `key`; panics naming the file and the key, then `missing` (what its
    /// absence means and what to run).
    fn required_var(&self, key: &str, missing: &str) -> String {
        self.vars
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{} lacks {key}{missing}", env_file_path().display()))
    }

    /// Prometheus and the collector; panics unless the env file names them and both accept
    /// TCP connections (never skips: an observability test without them fails).
    pub fn require_observability(&self) -> Observability {
        let missing =
            format!(": Prometheus and the OpenTelemetry Collector are not up; {OBSERVE_UP}");
        let get = |key: &str| self.required_var(key, &missing);
        let observability = Observability {
            prometheus_url: get("TWEETPIPE_PROMETHEUS_URL"),
            otlp_endpoint_pod: get("TWEETPIPE_OTLP_ENDPOINT_POD"),
            otlp_endpoint: get("TWEETPIPE_OTLP_ENDPOINT"),
            traces_file: PathBuf::from(get("TWEETPIPE_OTEL_TRACES_FILE")),
        };
        let authority = |url: &str| {
            url.split_once("://")
                .map_or(url, |(_, rest)| rest)
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string()
        };
        require_tcp(
            "Prometheus",
            &authority(&observability.prometheus_url),
            &self.log_dir.join("prometheus.log"),
        );
        require_tcp(
            "the OpenTelemetry Collector",
            &authority(&observability.otlp_endpoint),
            &self.log_dir.join("otelcol.log"),
        );
        observability
    }

    /// Panics unless Kafka accepts TCP connections.
    pub fn require_kafka(&self) -> &Self {
        require_tcp(
            "Kafka",
            &self.kafka_bootstrap,
            &self.log_dir.join("kafka.log"),
        );
        self
    }

    /// Panics unless MariaDB accepts TCP connections.
    pub fn require_mysql(&self) -> &Self {
        let host = self
            .mysql_url
            .rsplit('@')
            .next()
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_string();
        require_tcp("MariaDB", &host, &self.log_dir.join("mariadb.log"));
        self
    }

    /// The schema registry's base URL from the host; panics unless the env file names it and it
    /// accepts TCP connections.
    pub fn require_schema_registry(&self) -> &str {
        let url = self.schema_registry_url.as_deref().unwrap_or_else(|| {
            panic!(
                "{} lacks TWEETPIPE_SCHEMA_REGISTRY_URL; the platform is out of date, {BRING_UP}",
                env_file_path().display()
            )
        });
        let authority = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default();
        require_tcp(
            "the schema registry",
            authority,
            &self.log_dir.join("registry.log"),
        );
        url
    }

    /// The SASL_SSL listener (SCRAM, Kafka's own CA) and its users' credential files; panics
    /// unless the env file names it and the host-side listener accepts TCP connections.
    pub fn require_secure_kafka(&self) -> SecureKafka {
        let missing = format!("; the platform is out of date, {BRING_UP}");
        let get = |key: &str| self.required_var(key, &missing);
        let secure = SecureKafka {
            bootstrap: get("TWEETPIPE_KAFKA_SECURE_BOOTSTRAP"),
            bootstrap_pod: get("TWEETPIPE_KAFKA_SECURE_BOOTSTRAP_POD"),
            ca_file: PathBuf::from(get("TWEETPIPE_KAFKA_CA_FILE")),
            sasl_mechanism: get("TWEETPIPE_KAFKA_SASL_MECHANISM"),
            username_file: PathBuf::from(get("TWEETPIPE_KAFKA_SASL_USERNAME_FILE")),
            password_file: PathBuf::from(get("TWEETPIPE_KAFKA_SASL_PASSWORD_FILE")),
            admin_username_file: PathBuf::from(get("TWEETPIPE_KAFKA_ADMIN_SASL_USERNAME_FILE")),
            admin_password_file: PathBuf::from(get("TWEETPIPE_KAFKA_ADMIN_SASL_PASSWORD_FILE")),
        };
        require_tcp(
            "Kafka's SASL_SSL listener",
            &secure.bootstrap,
            &self.log_dir.join("kafka.log"),
        );
        secure
    }

    /// The CA file that verifies MariaDB's TLS certificate (`TWEETPIPE_MYSQL_CA_FILE`); panics
    /// unless the env file names it and it exists. MariaDB serves TLS only once (re)started by a
    /// `mariadb.sh` that configures it: tests against the platform's own TLS use this.
    pub fn require_mysql_ca_file(&self) -> PathBuf {
        let file = self
            .vars
            .get("TWEETPIPE_MYSQL_CA_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!(
                    "{} lacks TWEETPIPE_MYSQL_CA_FILE; the platform is out of date, {BRING_UP}",
                    env_file_path().display()
                )
            });
        assert!(
            file.is_file(),
            "MariaDB's CA {} is missing; {BRING_UP}",
            file.display()
        );
        self.require_mysql();
        file
    }

    /// A kube client for the local cluster's admin; panics naming the API server when it is down.
    pub async fn kube_client(&self) -> kube::Client {
        let options = kube::config::KubeConfigOptions::default();
        let kubeconfig =
            kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap_or_else(|e| {
                panic!("kubeconfig {}: {e}; {BRING_UP}", self.kubeconfig.display())
            });
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", self.kubeconfig.display()));
        let client = kube::Client::try_from(config)
            .unwrap_or_else(|e| panic!("cannot build a Kubernetes client: {e}"));
        if let Err(e) = client.apiserver_version().await {
            panic!(
                "the Kubernetes API server does not answer ({e}); see {}; {BRING_UP}",
                self.log_dir.join("kube-apiserver.log").display()
            );
        }
        client
    }
}

/// The platform, loaded once per test binary. Panics with an actionable message when it is absent.
pub fn platform() -> &'static Platform {
    static PLATFORM: OnceLock<Platform> = OnceLock::new();
    PLATFORM.get_or_init(|| Platform::load().unwrap_or_else(|e| panic!("{e}")))
}

fn env_file_path() -> PathBuf {
    if let Ok(path) = std::env::var("TWEETPIPE_PLATFORM_ENV") {
        return PathBuf::from(path);
    }
    // Cargo runs tests from their package's directory: the nearest `.platform/env` above it is the
    // workspace's. (Looked up at run time: a path baked in at compile time goes stale when build
    // artifacts are shared between clones.)
    let start =
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .map(|dir| dir.join(".platform/env"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.platform/env"))
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

fn require_tcp(component: &str, address: &str, log: &Path) {
    let first = address.split(',').next().unwrap_or(address);
    let reachable = first
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok());
    assert!(
        reachable,
        "{component} is not reachable at {first}; see {} and `make platform-status`; {BRING_UP}",
        log.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_env_lines_ignoring_comments_and_quotes() {
        let vars = parse_env("# comment\nA=1\n\nB=\"two words\"\nC = x=y\n");
        assert_eq!(vars.get("A").map(String::as_str), Some("1"));
        assert_eq!(vars.get("B").map(String::as_str), Some("two words"));
        assert_eq!(vars.get("C").map(String::as_str), Some("x=y"));
        assert_eq!(vars.len(), 3);
    }

    #[test]
    #[should_panic(expected = "is not reachable")]
    fn unreachable_service_fails_loudly() {
        // Port 1 on loopback is never listening here.
        require_tcp("Kafka", "127.0.0.1:1", Path::new("/nonexistent/kafka.log"));
    }
}
