//! Certificates of the admission webhook.
//!
//! Self-managed mode (the default): every replica serves the webhook, and the API server trusts
//! one `caBundle`, so all replicas must chain to the same CA. The CA lives in a Secret in the
//! operator's namespace ([`shared_ca`]): the first replica to start creates it (create fails
//! with 409 if another replica won the race, and the loser reads the winner's CA), later
//! replicas only read it. Each replica then issues its own serving certificate from that CA with
//! a fresh key ([`CertificateAuthority::issue`]), and keeps the CA in the `caBundle` of every
//! webhook of the ValidatingWebhookConfiguration ([`keep_ca_bundle`]).
//!
//! cert-manager mode: the serving certificate and key are mounted files ([`load_mounted`]) and
//! cert-manager's cainjector fills the `caBundle`; the operator touches neither the CA Secret
//! nor the configuration.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use thiserror::Error;
use tokio::sync::watch;
use tracing::{info, warn};

/// Key of the CA certificate (PEM) in the CA Secret.
pub const CA_CERT_KEY: &str = "ca.crt";
/// Key of the CA private key (PEM) in the CA Secret.
pub const CA_KEY_KEY: &str = "ca.key";
/// File names cert-manager writes into a mounted Certificate Secret.
pub const MOUNTED_CERT_FILE: &str = "tls.crt";
/// See [`MOUNTED_CERT_FILE`].
pub const MOUNTED_KEY_FILE: &str = "tls.key";

/// Key of the CA certificate this one replaced (PEM), kept in the bundle until it expires, so
/// serving certificates of replicas that have not renewed yet stay trusted.
pub const PREVIOUS_CA_CERT_KEY: &str = "previous-ca.crt";

/// Days the self-managed CA is valid (10 years).
const CA_DAYS: u64 = 3650;
/// A CA with less than this left is replaced by a new one at start or at the next renewal.
const CA_RENEW_BEFORE: chrono::Duration = chrono::Duration::days(365);
/// Days a serving certificate is valid; a running replica issues a new one every
/// [`RENEW_SERVING_EVERY`], so it never serves one with less than 60 days left.
const SERVING_DAYS: u64 = 90;
/// How often a running replica issues itself a new serving certificate (from the CA in the
/// Secret, which is replaced first when it is close to expiry).
pub const RENEW_SERVING_EVERY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why certificates could not be made, loaded or published.
#[derive(Debug, Error)]
pub enum CertError {
    /// A certificate (PEM) that cannot be read back.
    #[error("reading a certificate: {0}")]
    Unreadable(String),
    /// rcgen refused the parameters (e.g. an invalid DNS name) or could not sign.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The CA Secret exists but lacks a key or holds something that is not a CA.
    #[error("the webhook CA Secret {namespace}/{name} is unusable: {reason}")]
    BadCaSecret {
        /// Namespace of the Secret.
        namespace: String,
        /// Its name.
        name: String,
        /// What is wrong (never the key material).
        reason: String,
    },
    /// A Kubernetes call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The ValidatingWebhookConfiguration to publish the CA into does not exist (yet).
    #[error(
        "ValidatingWebhookConfiguration {0} not found; create it (the Helm chart does) or set TWEETPIPE_WEBHOOK_CONFIGURATION"
    )]
    ConfigurationMissing(String),
    /// A mounted certificate file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// A serving certificate chain and its key, PEM encoded.
#[derive(Clone)]
pub struct ServingCert {
    /// Certificate (PEM).
    pub cert_pem: String,
    /// Private key (PEM, PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for ServingCert {
    // The key never reaches a log, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The webhook CA: its certificate (what the API server trusts) and the issuer that signs
/// serving certificates.
pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// Validity from yesterday (tolerates clock skew between nodes) to `days` from now.
fn validity(params: &mut CertificateParams, days: u64) {
    let yesterday = Utc::now().date_naive() - chrono::Days::new(1);
    let until = yesterday + chrono::Days::new(days + 1);
    // Day/month numbers from chrono are always in range for u8.
    params.not_before = rcgen::date_time_ymd(
        yesterday.year(),
        yesterday.month() as u8,
        yesterday.day() as u8,
    );
    params.not_after = rcgen::date_time_ymd(until.year(), until.month() as u8, until.day() as u8);
}

impl CertificateAuthority {
    /// A new self-signed CA named `common_name`, valid for ten years.
    pub fn generate(common_name: &str) -> Result<Self, CertError> {
        Self::generate_valid_for(common_name, CA_DAYS)
    }

    /// A new self-signed CA valid for `days` (tests make CAs close to expiry with it).
    pub fn generate_valid_for(common_name: &str, days: u64) -> Result<Self, CertError> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        name.push(DnType::OrganizationName, "tweetpipe");
        params.distinguished_name = name;
        // Path length 0: this CA signs serving certificates only, never another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, days);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(CertificateAuthority {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA from its PEM certificate and key (as kept in the CA Secret).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(CertificateAuthority {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }

    /// The CA certificate (PEM): what goes into `caBundle`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key (PEM), as the CA Secret keeps it. Never logged (`Debug` omits it).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A serving certificate for `dns_names` and `ips`, with a fresh key, signed by this CA.
    pub fn issue(&self, dns_names: &[String], ips: &[IpAddr]) -> Result<ServingCert, CertError> {
        let mut params = CertificateParams::new(dns_names.to_vec())?;
        params
            .subject_alt_names
            .extend(ips.iter().copied().map(SanType::IpAddress));
        let mut name = DistinguishedName::new();
        let common_name = dns_names
            .first()
            .cloned()
            .or_else(|| ips.first().map(IpAddr::to_string))
            .unwrap_or_else(|| "tweetpipe-operator-webhook".to_string());
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, SERVING_DAYS);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ServingCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Default DNS names of the webhook Service `service` in `namespace`.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

fn kube_error(action: impl Into<String>) -> impl FnOnce(kube::Error) -> CertError {
    let action = action.into();
    move |source| CertError::Kube { action, source }
}

fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

fn ca_from_secret(
    secret: &Secret,
    namespace: &str,
    name: &str,
) -> Result<CertificateAuthority, CertError> {
    let bad = |reason: &str| CertError::BadCaSecret {
        namespace: namespace.to_string(),
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let data = secret.data.as_ref().ok_or_else(|| bad("it has no data"))?;
    let text = |key: &str| {
        let bytes = data
            .get(key)
            .ok_or_else(|| bad(&format!("key {key} is missing")))?;
        String::from_utf8(bytes.0.clone()).map_err(|_| bad(&format!("key {key} is not PEM text")))
    };
    CertificateAuthority::from_pem(&text(CA_CERT_KEY)?, &text(CA_KEY_KEY)?)
        .map_err(|e| bad(&format!("it does not hold a CA certificate and key ({e})")))
}

/// When a certificate (PEM) stops being valid.
pub fn expires(cert_pem: &str) -> Result<DateTime<Utc>, CertError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|e| CertError::Unreadable(format!("PEM: {e}")))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| CertError::Unreadable(format!("X.509: {e}")))?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .ok_or_else(|| CertError::Unreadable("the certificate's notAfter is out of range".into()))
}

/// The `caBundle` for `current` and the CA it replaced: both while the previous one is still
/// valid (replicas that have not renewed yet serve certificates from it), then `current` alone.
pub fn bundle(current: &str, previous: Option<&str>, now: DateTime<Utc>) -> String {
    match previous {
        Some(previous) if expires(previous).is_ok_and(|until| until > now) => {
            format!("{}\n{}", current.trim_end(), previous.trim_end())
        }
        _ => current.to_string(),
    }
}

/// Whether a CA (PEM) is close enough to expiry (or past it) to be replaced.
pub fn needs_rotation(ca_pem: &str, now: DateTime<Utc>) -> bool {
    expires(ca_pem).map_or(true, |until| until - now < CA_RENEW_BEFORE)
}

/// The shared CA and the bundle the API server must trust.
#[derive(Debug)]
pub struct SharedCa {
    /// Signs this replica's serving certificates.
    pub ca: CertificateAuthority,
    /// The CA's certificate, and the one it replaced while that is valid.
    pub bundle: String,
}

fn ca_secret(namespace: &str, name: &str, data: BTreeMap<String, ByteString>) -> Secret {
    Secret {
        metadata: kube::core::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_string(),
                "tweetpipe".to_string(),
            )])),
            ..Default::default()
        },
        type_: Some("Opaque".to_string()),
        data: Some(data),
        ..Default::default()
    }
}

fn ca_data(ca: &CertificateAuthority, previous: Option<&str>) -> BTreeMap<String, ByteString> {
    let mut data = BTreeMap::from([
        (
            CA_CERT_KEY.to_string(),
            ByteString(ca.cert_pem.clone().into_bytes()),
        ),
        (
            CA_KEY_KEY.to_string(),
            ByteString(ca.key_pem.clone().into_bytes()),
        ),
    ]);
    if let Some(previous) = previous {
        data.insert(
            PREVIOUS_CA_CERT_KEY.to_string(),
            ByteString(previous.as_bytes().to_vec()),
        );
    }
    data
}

fn previous_ca(secret: &Secret) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(PREVIOUS_CA_CERT_KEY)?;
    String::from_utf8(bytes.0.clone()).ok()
}

/// The CA shared by all replicas: read from Secret `namespace/name`, or created there (create if
/// absent; a replica that loses the creation race reads the winner's CA). A CA within a year of
/// expiry (or past it) is replaced by a new one, the old one kept as `previous-ca.crt` for the
/// bundle; a replica that loses that race (409 on the guarded replace) uses the winner's.
pub async fn shared_ca(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<SharedCa, CertError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let read = format!("reading the webhook CA Secret {namespace}/{name}");
    let now = Utc::now();
    let shared = |secret: &Secret| -> Result<SharedCa, CertError> {
        let ca = ca_from_secret(secret, namespace, name)?;
        let bundle = bundle(&ca.cert_pem, previous_ca(secret).as_deref(), now);
        Ok(SharedCa { ca, bundle })
    };
    // Another replica created or replaced the Secret between our read and our write (409): use
    // its CA.
    let winners = |action: &'static str| {
        let (secrets, read, shared) = (&secrets, &read, &shared);
        async move {
            let secret = secrets.get(name).await.map_err(kube_error(read))?;
            info!(%namespace, secret = %name, "another replica {action} the webhook CA; using it");
            shared(&secret)
        }
    };
    let Some(secret) = secrets.get_opt(name).await.map_err(kube_error(&read))? else {
        let ca = CertificateAuthority::generate("tweetpipe-operator-webhook-ca")?;
        let secret = ca_secret(namespace, name, ca_data(&ca, None));
        return match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => {
                info!(%namespace, secret = %name, "created the shared webhook CA");
                let bundle = ca.cert_pem.clone();
                Ok(SharedCa { ca, bundle })
            }
            Err(e) if is_status(&e, 409) => winners("created").await,
            Err(e) => Err(kube_error(format!(
                "creating the webhook CA Secret {namespace}/{name}"
            ))(e)),
        };
    };
    let current = shared(&secret)?;
    if !needs_rotation(&current.ca.cert_pem, now) {
        info!(%namespace, secret = %name, "using the shared webhook CA");
        return Ok(current);
    }
    let ca = CertificateAuthority::generate("tweetpipe-operator-webhook-ca")?;
    let old = current.ca.cert_pem.clone();
    let mut replacement = ca_secret(namespace, name, ca_data(&ca, Some(&old)));
    // Guarded by the version read: of two replicas rotating at once, one wins, the other reads.
    replacement.metadata.resource_version = secret.metadata.resource_version.clone();
    match secrets
        .replace(name, &PostParams::default(), &replacement)
        .await
    {
        Ok(_) => {
            info!(%namespace, secret = %name, expired_or_expiring = %expires(&old).map(|t| t.to_rfc3339()).unwrap_or_default(), "replaced the webhook CA; the old one stays trusted until it expires");
            let bundle = bundle(&ca.cert_pem, Some(&old), now);
            Ok(SharedCa { ca, bundle })
        }
        Err(e) if is_status(&e, 409) => winners("replaced").await,
        Err(e) => Err(kube_error(format!(
            "replacing the webhook CA Secret {namespace}/{name}"
        ))(e)),
    }
}

/// Puts `ca_pem` into the `caBundle` of every webhook of configuration `name`. Returns whether
/// anything changed (an already correct bundle is left alone, so replicas don't fight).
pub async fn ensure_ca_bundle(
    client: &Client,
    name: &str,
    ca_pem: &str,
) -> Result<bool, CertError> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let config = api
        .get_opt(name)
        .await
        .map_err(kube_error(format!(
            "reading ValidatingWebhookConfiguration {name}"
        )))?
        .ok_or_else(|| CertError::ConfigurationMissing(name.to_string()))?;
    let bundle = ByteString(ca_pem.as_bytes().to_vec());
    let stale: Vec<&str> = config
        .webhooks
        .iter()
        .flatten()
        .filter(|w| w.client_config.ca_bundle.as_ref() != Some(&bundle))
        .map(|w| w.name.as_str())
        .collect();
    if stale.is_empty() {
        return Ok(false);
    }
    // Strategic merge: `webhooks` merges by name, so only caBundle of each listed webhook changes.
    let patch = serde_json::json!({
        "webhooks": stale
            .iter()
            .map(|name| serde_json::json!({"name": name, "clientConfig": {"caBundle": bundle}}))
            .collect::<Vec<_>>()
    });
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map_err(kube_error(format!(
            "patching the caBundle of ValidatingWebhookConfiguration {name}"
        )))?;
    info!(configuration = %name, webhooks = stale.len(), "published the webhook CA");
    Ok(true)
}

/// Delay before retry `attempt` (0-based): exponential from 1 s, capped at 60 s, in the upper
/// half of that (the shared equal jitter) so replicas that started together don't retry in
/// lockstep.
pub fn retry_delay(attempt: u32) -> Duration {
    tweetpipe_common::backoff::delay(
        Duration::from_secs(1),
        Duration::from_secs(60),
        attempt,
        rand::random::<f64>(),
    )
}

/// How often a published bundle is checked again (the configuration may be re-created, e.g. by
/// a reinstall, without one).
const RECHECK: Duration = Duration::from_secs(60);

/// Keeps the bundle `bundle` holds in configuration `name` for as long as it runs: retries with
/// backoff and jitter while the configuration is missing or the API fails, re-checks every
/// minute, and publishes a new bundle (a rotated CA) at once.
///
/// A missing configuration is not fatal on purpose: installers (Helm hooks, Argo CD waves)
/// don't promise it exists before the Deployment starts, and the webhook can only be called
/// once it exists anyway; crashing would only add restarts while the replica is otherwise useful.
pub async fn keep_ca_bundle(client: Client, name: String, mut bundle: watch::Receiver<String>) {
    let mut attempt = 0;
    loop {
        let ca_pem = bundle.borrow_and_update().clone();
        let wait = match ensure_ca_bundle(&client, &name, &ca_pem).await {
            Ok(_) => {
                attempt = 0;
                RECHECK
            }
            Err(e) => {
                let wait = retry_delay(attempt);
                warn!(error = %e, retry_in = ?wait, "cannot publish the webhook CA yet");
                attempt = attempt.saturating_add(1);
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = bundle.changed() => if changed.is_err() {
                // The renewal task is gone (shutdown): keep the last bundle published.
                tokio::time::sleep(wait).await;
            },
        }
    }
}

/// The serving certificate and key cert-manager mounted into `dir` (`tls.crt`, `tls.key`).
pub fn load_mounted(dir: &Path) -> Result<ServingCert, CertError> {
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read_to_string(&path).map_err(|source| CertError::Read { path, source })
    };
    Ok(ServingCert {
        cert_pem: read(MOUNTED_CERT_FILE)?,
        key_pem: read(MOUNTED_KEY_FILE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM certificate")
    }

    /// Verifies `leaf` as a TLS server certificate chaining to `ca` only.
    fn verify(ca: &str, leaf: &str) -> Result<(), webpki::Error> {
        let ca_der = der(ca);
        let anchor = webpki::anchor_from_trusted_cert(&ca_der)?;
        let leaf_der = der(leaf);
        let cert = webpki::EndEntityCert::try_from(&leaf_der)?;
        cert.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            UnixTime::now(),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
    }

    /// Verifies `leaf` against every CA certificate of a bundle (PEM, one or more), as the API
    /// server does with `caBundle`.
    fn verify_with_bundle(bundle: &str, leaf: &str) -> Result<(), webpki::Error> {
        let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(bundle.as_bytes())
            .collect::<Result<_, _>>()
            .expect("PEM bundle");
        let anchors = cas
            .iter()
            .map(|ca| webpki::anchor_from_trusted_cert(ca))
            .collect::<Result<Vec<_>, _>>()?;
        let leaf_der = der(leaf);
        let cert = webpki::EndEntityCert::try_from(&leaf_der)?;
        cert.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &[],
            UnixTime::now(),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
    }

    /// A CA within a year of expiry is replaced; while the old one is valid the bundle holds both,
    /// so a replica still serving a certificate of the old CA stays trusted; once it has expired
    /// the bundle is the new CA alone. Serving certificates live 90 days (renewed every 30).
    #[test]
    fn an_expiring_ca_is_rotated_with_both_trusted_until_the_old_one_expires() {
        let now = Utc::now();
        let old = CertificateAuthority::generate_valid_for("old-ca", 30).unwrap();
        let fresh = CertificateAuthority::generate("new-ca").unwrap();
        assert!(needs_rotation(old.cert_pem(), now), "30 days left");
        assert!(!needs_rotation(fresh.cert_pem(), now), "ten years left");
        assert!(
            needs_rotation("not a certificate", now),
            "unreadable: replace it"
        );

        let dns = service_dns_names("tp-webhook", "ops");
        let from_old = old.issue(&dns, &[]).unwrap();
        let from_new = fresh.issue(&dns, &[]).unwrap();
        let both = bundle(fresh.cert_pem(), Some(old.cert_pem()), now);
        verify_with_bundle(&both, &from_old.cert_pem).expect("the old CA's certificate");
        verify_with_bundle(&both, &from_new.cert_pem).expect("the new CA's certificate");
        assert!(verify_with_bundle(fresh.cert_pem(), &from_old.cert_pem).is_err());

        let after_old_expired = expires(old.cert_pem()).unwrap() + chrono::Duration::days(1);
        assert_eq!(
            bundle(fresh.cert_pem(), Some(old.cert_pem()), after_old_expired),
            fresh.cert_pem()
        );
        let serving_left = expires(&from_new.cert_pem).unwrap() - now;
        assert!(
            (89..=92).contains(&serving_left.num_days()),
            "serving certificates live 90 days: {serving_left}"
        );
        // Renewed well before expiry.
        assert!(RENEW_SERVING_EVERY.as_secs() * 2 < 90 * 24 * 3600);
    }

    fn names_valid(leaf: &str, name: &str) -> bool {
        let leaf_der = der(leaf);
        let cert = webpki::EndEntityCert::try_from(&leaf_der).expect("parse");
        let server = ServerName::try_from(name.to_string()).expect("server name");
        cert.verify_is_valid_for_subject_name(&server).is_ok()
    }

    #[test]
    fn serving_certificate_chains_to_the_ca_and_names_the_service() {
        let ca = CertificateAuthority::generate("test-ca").unwrap();
        let dns = service_dns_names("tp-webhook", "ops");
        let ips = ["127.0.0.1".parse().unwrap()];
        let serving = ca.issue(&dns, &ips).unwrap();

        verify(ca.cert_pem(), &serving.cert_pem).expect("the serving cert verifies against the CA");
        assert!(names_valid(&serving.cert_pem, "tp-webhook.ops.svc"));
        assert!(names_valid(
            &serving.cert_pem,
            "tp-webhook.ops.svc.cluster.local"
        ));
        assert!(names_valid(&serving.cert_pem, "127.0.0.1"));
        assert!(!names_valid(&serving.cert_pem, "other.ops.svc"));
        assert!(!names_valid(&serving.cert_pem, "127.0.0.2"));
    }

    #[test]
    fn a_ca_loaded_back_from_pem_issues_certificates_trusted_by_the_original_bundle() {
        // What a second replica does: read the CA from the Secret, issue its own cert.
        let first = CertificateAuthority::generate("test-ca").unwrap();
        let second = CertificateAuthority::from_pem(&first.cert_pem, &first.key_pem).unwrap();
        let serving = second.issue(&["svc.ns.svc".to_string()], &[]).unwrap();
        verify(first.cert_pem(), &serving.cert_pem).expect("trusted by the first replica's CA");
    }

    #[test]
    fn a_foreign_ca_does_not_verify_the_serving_certificate() {
        let ca = CertificateAuthority::generate("test-ca").unwrap();
        let other = CertificateAuthority::generate("other-ca").unwrap();
        let serving = ca.issue(&["svc.ns.svc".to_string()], &[]).unwrap();
        assert!(verify(other.cert_pem(), &serving.cert_pem).is_err());
    }

    #[test]
    fn a_secret_without_the_key_is_a_clear_error_without_key_material() {
        let ca = CertificateAuthority::generate("test-ca").unwrap();
        let secret = Secret {
            data: Some(BTreeMap::from([(
                CA_CERT_KEY.to_string(),
                ByteString(ca.cert_pem.clone().into_bytes()),
            )])),
            ..Default::default()
        };
        let error = ca_from_secret(&secret, "ops", "ca")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("ops/ca") && error.contains("ca.key is missing"),
            "{error}"
        );
        assert!(!error.contains("BEGIN"), "{error}");
    }

    #[test]
    fn mounted_certificates_are_read_from_tls_files() {
        let dir = std::env::temp_dir().join(format!("tp-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tls.crt"), "CERT").unwrap();
        std::fs::write(dir.join("tls.key"), "KEY").unwrap();
        let loaded = load_mounted(&dir).unwrap();
        assert_eq!(
            (loaded.cert_pem.as_str(), loaded.key_pem.as_str()),
            ("CERT", "KEY")
        );
        std::fs::remove_file(dir.join("tls.key")).unwrap();
        let error = load_mounted(&dir).unwrap_err().to_string();
        assert!(error.contains("tls.key"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn retries_back_off_with_jitter_and_a_cap() {
        let first = retry_delay(0);
        assert!(
            first >= Duration::from_millis(500) && first <= Duration::from_secs(1),
            "{first:?}"
        );
        let late = retry_delay(20);
        assert!(
            late >= Duration::from_secs(30) && late <= Duration::from_secs(60),
            "{late:?}"
        );
    }
}
