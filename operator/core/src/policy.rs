//! What the cluster's administrator allows a pipeline's author, beyond the CRD's own bounds:
//! which schema registry hosts the operator may call, which worker images a pipeline may run,
//! and how much of the shared Kafka one pipeline may take. Pure, so every rule is a table test;
//! the admission webhook and every reconcile judge by the same [`Policy`] (see
//! [`crate::admission::rules`]).

use std::fmt;

use thiserror::Error;
use url::Url;

use crate::api_hosts::{AllowedApiHosts, AllowedHost, HostName, Scheme, allows_target};

/// The setting that holds the registry allow-list.
pub const REGISTRY_HOSTS_SETTING: &str = "TWEETPIPE_ALLOWED_REGISTRY_HOSTS";
/// The setting that lists worker images beyond the operator's own.
pub const WORKER_IMAGES_SETTING: &str = "TWEETPIPE_ALLOWED_WORKER_IMAGES";
/// Most partitions of a posts topic.
pub const MAX_PARTITIONS_SETTING: &str = "TWEETPIPE_MAX_PARTITIONS";
/// Highest replication factor of a pipeline's topics.
pub const MAX_REPLICATION_FACTOR_SETTING: &str = "TWEETPIPE_MAX_REPLICATION_FACTOR";
/// Longest retention of the posts topic, in hours.
pub const MAX_RETENTION_HOURS_SETTING: &str = "TWEETPIPE_MAX_RETENTION_HOURS";

/// Defaults of the maxima: room for the usual pipeline (6 partitions, RF 3, a week) many times
/// over, yet no single manifest can take a shared cluster's capacity.
pub const DEFAULT_MAX_PARTITIONS: i32 = 64;
/// See [`DEFAULT_MAX_PARTITIONS`].
pub const DEFAULT_MAX_REPLICATION_FACTOR: i32 = 5;
/// 90 days.
pub const DEFAULT_MAX_RETENTION_HOURS: u32 = 90 * 24;

/// Everything the administrator allows, as the webhook and the reconcile judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Where `source.baseUrl` may point (the bearer tokens go there).
    pub api_hosts: AllowedApiHosts,
    /// Where `kafka.schemaRegistryUrl` may point (the operator's pod calls it).
    pub registry_hosts: AllowedRegistryHosts,
    /// What `extractor.image` and `transformer.image` may name.
    pub worker_images: AllowedWorkerImages,
    /// How much Kafka one pipeline may take.
    pub kafka_limits: KafkaLimits,
}

impl Policy {
    /// `api_hosts` and the defaults of everything else (any registry host, the given operator
    /// images only, the default maxima).
    pub fn with_api_hosts(api_hosts: AllowedApiHosts, own_images: &[&str]) -> Self {
        Policy {
            api_hosts,
            registry_hosts: AllowedRegistryHosts::any(),
            worker_images: AllowedWorkerImages::new(own_images, &[]),
            kafka_limits: KafkaLimits::default(),
        }
    }
}

/// Hosts the schema registry URL may name. Unset (the default) allows every host: existing
/// pipelines name in-cluster registries no default could guess, and the client follows no
/// redirect and quotes no foreign body, so an unlisted host can be reached but not read. An
/// administrator of a shared cluster should list its registries (docs/security.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedRegistryHosts {
    /// `None`: any host.
    entries: Option<Vec<AllowedHost>>,
}

/// Why a registry URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryHostRefusal {
    /// Not an http(s) URL with a host.
    #[error(
        "kafka.schemaRegistryUrl is not a URL the operator can call: give an http:// or https:// URL, e.g. http://registry.kafka:8080/apis/ccompat/v7"
    )]
    Unparsable,
    /// The host is not on the list.
    #[error(
        "kafka.schemaRegistryUrl points at {target}, which is not an allowed schema registry host (allowed: {allowed}); use an allowed registry, or ask the operator's administrator to allow this one (Helm value allowedRegistryHosts; operator setting TWEETPIPE_ALLOWED_REGISTRY_HOSTS)"
    )]
    NotAllowed {
        /// `scheme://host:port` the operator would call.
        target: String,
        /// The allow-list, comma-separated.
        allowed: String,
    },
}

impl AllowedRegistryHosts {
    /// Every host allowed (the setting is unset or empty).
    pub fn any() -> Self {
        AllowedRegistryHosts { entries: None }
    }

    /// Reads a comma-separated list of `[scheme://]host[:port]`, the syntax of the API-host
    /// list; an empty list allows any host.
    pub fn parse(list: &str) -> Result<Self, String> {
        if list.split(',').all(|e| e.trim().is_empty()) {
            return Ok(Self::any());
        }
        AllowedApiHosts::parse(list)
            .map(|hosts| AllowedRegistryHosts {
                entries: Some(hosts.entries().to_vec()),
            })
            .map_err(|e| format!("entry {:?}: {}", e.entry, e.problem))
    }

    /// Whether the list allows every host.
    pub fn allows_any(&self) -> bool {
        self.entries.is_none()
    }

    /// Whether the operator may call the registry at `url`. The host judged is the one the
    /// `url` crate (reqwest's parser) reads, user information aside (registries may take
    /// basic-auth credentials there).
    pub fn judge(&self, url: &str) -> Result<(), RegistryHostRefusal> {
        let Some(entries) = &self.entries else {
            return Ok(());
        };
        let (scheme, host, port) = registry_target(url)?;
        if entries
            .iter()
            .any(|e| allows_target(e, scheme, &host, port))
        {
            Ok(())
        } else {
            Err(RegistryHostRefusal::NotAllowed {
                target: format!("{}://{host}:{port}", scheme_str(scheme)),
                allowed: self.to_string(),
            })
        }
    }
}

impl fmt::Display for AllowedRegistryHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entries {
            None => f.write_str("any host"),
            Some(entries) => {
                let listed: Vec<String> = entries.iter().map(ToString::to_string).collect();
                f.write_str(&listed.join(", "))
            }
        }
    }
}

fn scheme_str(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    }
}

/// Scheme, host and port the registry client calls for `url`; the URL it really calls (the
/// base plus a path) must reach the same place, or the URL is refused as unreadable.
fn registry_target(url: &str) -> Result<(Scheme, HostName, u16), RegistryHostRefusal> {
    let read = |text: &str| -> Result<(Scheme, HostName, u16), RegistryHostRefusal> {
        let url = Url::parse(text).map_err(|_| RegistryHostRefusal::Unparsable)?;
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(RegistryHostRefusal::Unparsable),
        };
        let host = url
            .host()
            .and_then(HostName::from_url_host)
            .ok_or(RegistryHostRefusal::Unparsable)?;
        let port = url
            .port_or_known_default()
            .ok_or(RegistryHostRefusal::Unparsable)?;
        Ok((scheme, host, port))
    };
    let base = read(url)?;
    let called = read(&format!(
        "{}/subjects/x/versions",
        url.trim_end_matches('/')
    ))?;
    if base == called {
        Ok(base)
    } else {
        Err(RegistryHostRefusal::Unparsable)
    }
}

/// Images a pipeline may run: the operator's own worker images (always) and those the
/// administrator lists. A worker pod mounts every Secret the spec names, so an image of the
/// author's choosing could read any Secret of the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedWorkerImages {
    /// Exact references, and `repository:*` entries (any tag or digest of that repository).
    entries: Vec<String>,
}

impl AllowedWorkerImages {
    /// The operator's own images plus `extra` (blank entries ignored).
    pub fn new(own: &[&str], extra: &[&str]) -> Self {
        let mut entries: Vec<String> = Vec::new();
        for entry in own.iter().chain(extra).map(|e| e.trim()) {
            if !entry.is_empty() && !entries.iter().any(|e| e == entry) {
                entries.push(entry.to_string());
            }
        }
        AllowedWorkerImages { entries }
    }

    /// Reads the setting's comma-separated list (added to `own`).
    pub fn parse(own: &[&str], list: &str) -> Result<Self, String> {
        let extra: Vec<&str> = list.split(',').map(str::trim).collect();
        for entry in extra.iter().filter(|e| !e.is_empty()) {
            let repository = entry.strip_suffix(":*").unwrap_or(entry);
            if repository.contains('*') || repository.contains(char::is_whitespace) {
                return Err(format!(
                    "entry {entry:?}: give an image reference, or repository:* for any tag of one repository (no other wildcard)"
                ));
            }
        }
        Ok(Self::new(own, &extra))
    }

    /// Whether `image` may run.
    pub fn allows(&self, image: &str) -> bool {
        self.entries
            .iter()
            .any(|entry| match entry.strip_suffix(":*") {
                Some(repository) => {
                    image
                .strip_prefix(repository)
                .and_then(|rest| rest.chars().next())
                .is_some_and(|c| c == ':' || c == '@')
                // "repo:tag@sha256:…" and "repo@sha256:…", never "repo:tag/other".
                && !image[repository.len()..].contains('/')
                }
                None => entry == image,
            })
    }

    /// Why `image` (at `field`) may not run, when it may not.
    pub fn refusal(&self, field: &str, image: &str) -> Option<String> {
        (!self.allows(image)).then(|| {
            format!(
                "{field} {image:?} is not an allowed worker image (allowed: {self}); remove the field to use the operator's image, or ask the operator's administrator to allow this one (Helm value allowedWorkerImages; operator setting {WORKER_IMAGES_SETTING}): a worker pod mounts every Secret the pipeline names"
            )
        })
    }
}

impl fmt::Display for AllowedWorkerImages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.entries.join(", "))
    }
}

/// How much of the shared Kafka one pipeline may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaLimits {
    /// Most partitions of the posts topic (they never shrink).
    pub max_partitions: i32,
    /// Highest replication factor.
    pub max_replication_factor: i32,
    /// Longest retention of the posts topic, in hours.
    pub max_retention_hours: u32,
}

impl Default for KafkaLimits {
    fn default() -> Self {
        KafkaLimits {
            max_partitions: DEFAULT_MAX_PARTITIONS,
            max_replication_factor: DEFAULT_MAX_REPLICATION_FACTOR,
            max_retention_hours: DEFAULT_MAX_RETENTION_HOURS,
        }
    }
}

impl KafkaLimits {
    /// `(field, message)` for each value of `kafka` above its maximum.
    pub fn refusals(&self, kafka: &crate::crd::KafkaSpec) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if kafka.partitions > self.max_partitions {
            out.push((
                "spec.kafka.partitions",
                format!(
                    "kafka.partitions is {}, above this cluster's maximum of {} partitions per pipeline (partitions never shrink); lower it, or ask the operator's administrator to raise Helm value limits.maxPartitions (operator setting {MAX_PARTITIONS_SETTING})",
                    kafka.partitions, self.max_partitions
                ),
            ));
        }
        if kafka.replication_factor > self.max_replication_factor {
            out.push((
                "spec.kafka.replicationFactor",
                format!(
                    "kafka.replicationFactor is {}, above this cluster's maximum of {}; lower it, or ask the operator's administrator to raise Helm value limits.maxReplicationFactor (operator setting {MAX_REPLICATION_FACTOR_SETTING})",
                    kafka.replication_factor, self.max_replication_factor
                ),
            ));
        }
        if kafka.retention_hours > self.max_retention_hours {
            out.push((
                "spec.kafka.retentionHours",
                format!(
                    "kafka.retentionHours is {}, above this cluster's maximum of {} hours; lower it, or ask the operator's administrator to raise Helm value limits.maxRetentionHours (operator setting {MAX_RETENTION_HOURS_SETTING})",
                    kafka.retention_hours, self.max_retention_hours
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_are_judged_by_the_host_called() {
        let listed = AllowedRegistryHosts::parse(
            "registry.kafka, https://schemas.example.com, 10.0.0.7:8081",
        )
        .expect("list");
        let rows: &[(&str, bool)] = &[
            ("http://registry.kafka:8080/apis/ccompat/v7", true),
            ("http://REGISTRY.kafka.:8080", true),
            ("http://user:secret@registry.kafka:8080/apis", true),
            ("https://schemas.example.com/", true),
            ("http://schemas.example.com/", false),
            ("http://10.0.0.7:8081", true),
            ("http://10.0.0.7:8082", false),
            ("http://0x0a000007:8081", true),
            ("http://169.254.169.254/latest/meta-data", false),
            ("http://registry.kafka@169.254.169.254/", false),
            ("http://registry.kafka.evil.com/", false),
            ("http://localhost:8080", false),
            ("ftp://registry.kafka/", false),
            ("not a url", false),
        ];
        for (url, allowed) in rows {
            assert_eq!(listed.judge(url).is_ok(), *allowed, "{url}");
        }
        let err = listed
            .judge("http://169.254.169.254/x")
            .expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("http://169.254.169.254:80") && text.contains(REGISTRY_HOSTS_SETTING),
            "{text}"
        );
        assert!(
            !listed
                .judge("http://u:pw@evil.example/")
                .expect_err("refused")
                .to_string()
                .contains("pw")
        );
    }

    #[test]
    fn an_unset_or_empty_registry_list_allows_any_host_and_bad_entries_are_refused() {
        for list in ["", " ", ",,"] {
            let any = AllowedRegistryHosts::parse(list).expect("empty");
            assert!(any.allows_any());
            assert!(any.judge("http://anything.example:1234/x").is_ok());
        }
        for bad in ["http://reg/path", "*.kafka", "ftp://reg", "reg:0"] {
            assert!(AllowedRegistryHosts::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn worker_images_are_the_operators_own_unless_more_are_listed() {
        let own = [
            "ghcr.io/tweetpipe/extractor:0.1.0",
            "ghcr.io/tweetpipe/transformer:0.1.0",
        ];
        let only_own = AllowedWorkerImages::new(&own, &[]);
        assert!(only_own.allows(own[0]) && only_own.allows(own[1]));
        assert!(!only_own.allows("ghcr.io/tweetpipe/extractor:0.2.0"));
        assert!(!only_own.allows("busybox"));
        let listed = AllowedWorkerImages::parse(
            &own,
            "registry:5000/team/extractor:1.2, ghcr.io/acme/transformer:*",
        )
        .expect("list");
        let rows: &[(&str, bool)] = &[
            ("registry:5000/team/extractor:1.2", true),
            ("registry:5000/team/extractor:1.3", false),
            ("ghcr.io/acme/transformer:2.0", true),
            ("ghcr.io/acme/transformer@sha256:abc", true),
            ("ghcr.io/acme/transformer:2.0@sha256:abc", true),
            ("ghcr.io/acme/transformer", false),
            ("ghcr.io/acme/transformer-evil:1", false),
            ("ghcr.io/acme/transformer:1/../x", false),
            (own[1], true),
        ];
        for (image, allowed) in rows {
            assert_eq!(listed.allows(image), *allowed, "{image}");
        }
        let message = only_own
            .refusal("extractor.image", "busybox")
            .expect("refused");
        assert!(message.contains(WORKER_IMAGES_SETTING), "{message}");
        assert!(message.contains(own[0]), "{message}");
        for bad in ["ghcr.io/*/x", "ghcr.io/acme/*"] {
            assert!(AllowedWorkerImages::parse(&own, bad).is_err(), "{bad}");
        }
    }
}
