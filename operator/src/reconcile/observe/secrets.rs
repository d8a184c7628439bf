//! Dereferences every Secret the spec names, from the operator's watch cache of Secrets (no API
//! call per reconcile). Values stay in memory; only names reach the status, events and logs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::crd::{SecretKeyRef, TweetPipelineSpec};
use crate::decide::conditions::Check;

/// A secret value that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value.
    pub fn new(value: String) -> Self {
        SecretString(value)
    }
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Values the operator itself needs (workers mount theirs as files).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Administrative MySQL URL.
    pub mysql_admin_url: SecretString,
    /// Password of the reporting user, when there is one.
    pub reporting_password: Option<SecretString>,
    /// Kafka SASL username and password of the operator's own admin client: from
    /// `kafka.sasl.adminSecretName`, else the workers' Secret.
    pub kafka_sasl: Option<(SecretString, SecretString)>,
    /// Kafka CA certificate (PEM).
    pub kafka_ca_pem: Option<SecretString>,
    /// Client certificate and unencrypted key (PEM) for mutual TLS.
    pub kafka_client_pem: Option<(SecretString, SecretString)>,
    /// MySQL CA certificate (PEM), from `mysql.tls.caSecret`.
    pub mysql_ca_pem: Option<SecretString>,
}

impl Resolved {
    /// Every value the operator's Kafka clients are made with (for the client cache's
    /// fingerprint, so a rotated credential makes new clients).
    pub fn kafka_credentials(&self) -> [&str; 5] {
        let (user, password) = self
            .kafka_sasl
            .as_ref()
            .map_or(("", ""), |(u, p)| (u.expose(), p.expose()));
        let (certificate, key) = self
            .kafka_client_pem
            .as_ref()
            .map_or(("", ""), |(c, k)| (c.expose(), k.expose()));
        let ca = self.kafka_ca_pem.as_ref().map_or("", |c| c.expose());
        [user, password, ca, certificate, key]
    }
}

/// The operator's SASL Secret: the admin one when set, else the workers'.
fn admin_sasl_refs(sasl: &crate::crd::KafkaSasl) -> (SecretKeyRef, SecretKeyRef) {
    let name = sasl.admin_secret_name.as_ref().unwrap_or(&sasl.secret_name);
    (
        SecretKeyRef {
            name: name.clone(),
            key: sasl.username_key.clone(),
        },
        SecretKeyRef {
            name: name.clone(),
            key: sasl.password_key.clone(),
        },
    )
}

/// Why a Secret could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// No such Secret.
    Secret {
        name: String,
        used_for: &'static str,
    },
    /// The Secret lacks the key (or it is empty / not UTF-8).
    Key {
        name: String,
        key: String,
        used_for: &'static str,
    },
}

impl Missing {
    /// The condition for this problem; names the Secret and key, never a value.
    pub fn to_check(&self) -> Check {
        match self {
            Missing::Secret { name, used_for } => Check::failed(
                "SecretMissing",
                format!(
                    "Secret {name:?} ({used_for}) does not exist in the pipeline's namespace; create it and the pipeline recovers"
                ),
            ),
            Missing::Key {
                name,
                key,
                used_for,
            } => Check::failed(
                "SecretKeyMissing",
                format!(
                    "Secret {name:?} ({used_for}) has no non-empty UTF-8 key {key:?}; add it and the pipeline recovers"
                ),
            ),
        }
    }
}

/// Every (secret, key, purpose) the spec references, in a stable order.
pub fn references(spec: &TweetPipelineSpec) -> Vec<(SecretKeyRef, &'static str)> {
    let mut refs: Vec<(SecretKeyRef, &'static str)> = spec
        .source
        .tokens
        .iter()
        .map(|t| (t.clone(), "X API bearer token"))
        .collect();
    refs.push((spec.mysql.url_secret.clone(), "MySQL URL"));
    if let Some(user) = &spec.mysql.reporting_user {
        refs.push((user.password_secret.clone(), "reporting user password"));
    }
    if let Some(ca) = spec.mysql.tls.as_ref().and_then(|t| t.ca_secret.as_ref()) {
        refs.push((ca.clone(), "MySQL CA certificate"));
    }
    if let Some(sasl) = &spec.kafka.sasl {
        refs.push((
            SecretKeyRef {
                name: sasl.secret_name.clone(),
                key: sasl.username_key.clone(),
            },
            "Kafka SASL username",
        ));
        refs.push((
            SecretKeyRef {
                name: sasl.secret_name.clone(),
                key: sasl.password_key.clone(),
            },
            "Kafka SASL password",
        ));
        if sasl.admin_secret_name.is_some() {
            let (user, password) = admin_sasl_refs(sasl);
            refs.push((user, "operator's Kafka SASL username"));
            refs.push((password, "operator's Kafka SASL password"));
        }
    }
    if let Some(tls) = &spec.kafka.tls {
        if let Some(ca) = &tls.ca_secret {
            refs.push((ca.clone(), "Kafka CA certificate"));
        }
        // Mounted into the workers; the operator's admin client presents them too.
        if let Some(certificate) = &tls.client_certificate_secret {
            refs.push((certificate.clone(), "Kafka client certificate"));
        }
        if let Some(key) = &tls.client_key_secret {
            refs.push((key.clone(), "Kafka client key"));
        }
    }
    refs
}

/// Looks up one key among fetched Secrets.
fn value(
    secrets: &BTreeMap<String, Option<Secret>>,
    reference: &SecretKeyRef,
    used_for: &'static str,
) -> Result<SecretString, Missing> {
    let secret = secrets
        .get(&reference.name)
        .and_then(Option::as_ref)
        .ok_or_else(|| Missing::Secret {
            name: reference.name.clone(),
            used_for,
        })?;
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&reference.key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok());
    let from_string_data = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(&reference.key))
        .cloned();
    from_data
        .or(from_string_data)
        .map(|v| v.trim_end_matches(['\n', '\r']).to_string())
        .filter(|v| !v.is_empty())
        .map(SecretString::new)
        .ok_or_else(|| Missing::Key {
            name: reference.name.clone(),
            key: reference.key.clone(),
            used_for,
        })
}

/// One key of one Secret from the watch cache; `None` when the Secret or a non-empty UTF-8 key
/// is missing.
pub fn lookup(
    store: &Store<Secret>,
    namespace: &str,
    reference: &SecretKeyRef,
) -> Option<SecretString> {
    let secret = store.get(&ObjectRef::new(&reference.name).within(namespace))?;
    let fetched = BTreeMap::from([(reference.name.clone(), Some((*secret).clone()))]);
    value(&fetched, reference, "X API bearer token").ok()
}

/// Checks every reference against fetched Secrets (pure; `None` = Secret absent).
pub fn resolve_from(
    spec: &TweetPipelineSpec,
    secrets: &BTreeMap<String, Option<Secret>>,
) -> Result<Resolved, Missing> {
    for (reference, used_for) in references(spec) {
        value(secrets, &reference, used_for)?;
    }
    let reporting_password = match &spec.mysql.reporting_user {
        Some(user) => Some(value(
            secrets,
            &user.password_secret,
            "reporting user password",
        )?),
        None => None,
    };
    let kafka_sasl = match &spec.kafka.sasl {
        Some(sasl) => {
            let (user, password) = admin_sasl_refs(sasl);
            let used_for = if sasl.admin_secret_name.is_some() {
                (
                    "operator's Kafka SASL username",
                    "operator's Kafka SASL password",
                )
            } else {
                ("Kafka SASL username", "Kafka SASL password")
            };
            Some((
                value(secrets, &user, used_for.0)?,
                value(secrets, &password, used_for.1)?,
            ))
        }
        None => None,
    };
    let kafka_ca_pem = match spec.kafka.tls.as_ref().and_then(|t| t.ca_secret.as_ref()) {
        Some(ca) => Some(value(secrets, ca, "Kafka CA certificate")?),
        None => None,
    };
    let kafka_client_pem = match spec.kafka.tls.as_ref().and_then(|t| {
        t.client_certificate_secret
            .as_ref()
            .zip(t.client_key_secret.as_ref())
    }) {
        Some((certificate, key)) => Some((
            value(secrets, certificate, "Kafka client certificate")?,
            value(secrets, key, "Kafka client key")?,
        )),
        None => None,
    };
    let mysql_ca_pem = match spec.mysql.tls.as_ref().and_then(|t| t.ca_secret.as_ref()) {
        Some(ca) => Some(value(secrets, ca, "MySQL CA certificate")?),
        None => None,
    };
    Ok(Resolved {
        mysql_admin_url: value(secrets, &spec.mysql.url_secret, "MySQL URL")?,
        reporting_password,
        kafka_sasl,
        kafka_ca_pem,
        kafka_client_pem,
        mysql_ca_pem,
    })
}

/// Resolves the referenced Secrets from the watch cache.
pub fn resolve(
    store: &Store<Secret>,
    namespace: &str,
    spec: &TweetPipelineSpec,
) -> Result<Resolved, Missing> {
    let fetched = fetch(store, namespace, spec);
    resolve_from(spec, &fetched)
}

/// The referenced Secrets as the cache has them (`None` = absent).
pub fn fetch(
    store: &Store<Secret>,
    namespace: &str,
    spec: &TweetPipelineSpec,
) -> BTreeMap<String, Option<Secret>> {
    let mut fetched = BTreeMap::new();
    for (reference, _) in references(spec) {
        fetched.entry(reference.name.clone()).or_insert_with(|| {
            store
                .get(&ObjectRef::new(&reference.name).within(namespace))
                .map(|s| (*s).clone())
        });
    }
    fetched
}

/// Names of the Secrets the spec references.
pub fn referenced_names(spec: &TweetPipelineSpec) -> Vec<String> {
    let mut names: Vec<String> = references(spec).into_iter().map(|(r, _)| r.name).collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests;
