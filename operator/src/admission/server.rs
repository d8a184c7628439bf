//! The HTTPS server of the validating webhook: `POST /validate` takes an `AdmissionReview` v1,
//! judges CREATE and UPDATE of TweetPipelines with [`rules::check`] and answers with a review
//! that allows or denies (always HTTP 200 for a readable review; the API server shows the
//! denial message to the user). Every replica serves it, leader or standby.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use kube::Client;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tracing::{debug, info, warn};

use super::certs::{self, CertError, ServingCert};
use super::rules;
use crate::crd::TweetPipeline;
use crate::policy::Policy;

/// Largest review accepted. A review carries the object and the old object, each up to etcd's
/// 1.5 MiB, so axum's 2 MiB default would be too small.
const MAX_REVIEW_BYTES: usize = 8 * 1024 * 1024;

/// A bad webhook environment variable.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("environment variable {name}={value:?} is invalid: expected {expected}")]
pub struct WebhookSettingsError {
    name: &'static str,
    value: String,
    expected: &'static str,
}

/// Where the serving certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// The operator makes it: CA shared through a Secret, `caBundle` patched by the operator.
    SelfManaged {
        /// Name of the CA Secret in the operator's namespace.
        ca_secret: String,
        /// ValidatingWebhookConfiguration whose webhooks get the CA as `caBundle`.
        configuration: String,
    },
    /// cert-manager mounts `tls.crt`/`tls.key` here and its cainjector fills `caBundle`.
    Mounted(PathBuf),
}

/// Settings of the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Serve the webhook at all.
    pub enabled: bool,
    /// HTTPS listen address.
    pub addr: SocketAddr,
    /// DNS names of the serving certificate.
    pub dns_names: Vec<String>,
    /// IP addresses of the serving certificate.
    pub ip_sans: Vec<IpAddr>,
    /// Namespace of the CA Secret (the operator's own).
    pub namespace: String,
    /// Where the certificate comes from.
    pub certs: CertSource,
}

impl WebhookSettings {
    /// Reads the settings through `get` (the process environment in `main`):
    ///
    /// - `TWEETPIPE_WEBHOOK_ENABLED` (`false`): serve the webhook.
    /// - `TWEETPIPE_WEBHOOK_ADDR` (`0.0.0.0:8443`): HTTPS listen address.
    /// - `TWEETPIPE_WEBHOOK_CONFIGURATION` (`tweetpipe-operator`): ValidatingWebhookConfiguration
    ///   to publish the CA into.
    /// - `TWEETPIPE_WEBHOOK_SERVICE` (`tweetpipe-operator-webhook`) and `POD_NAMESPACE`
    ///   (`default`): give the default DNS names `<service>.<namespace>.svc[.cluster.local]`.
    /// - `TWEETPIPE_WEBHOOK_DNS_NAMES`: comma-separated DNS names replacing those defaults.
    /// - `TWEETPIPE_WEBHOOK_IP_SANS`: comma-separated IP addresses added to the certificate.
    /// - `TWEETPIPE_WEBHOOK_CA_SECRET` (`tweetpipe-operator-webhook-ca`): the shared CA Secret.
    /// - `TWEETPIPE_WEBHOOK_CERT_DIR`: when set, cert-manager mode (read `tls.crt`, `tls.key`).
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<WebhookSettings, WebhookSettingsError> {
        let value = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let string = |name: &str, default: &str| {
            value(name)
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| default.to_string())
        };
        let list = |name: &str| -> Vec<String> {
            value(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let enabled = match value("TWEETPIPE_WEBHOOK_ENABLED") {
            None => false,
            Some(v) => v.trim().parse().map_err(|_| WebhookSettingsError {
                name: "TWEETPIPE_WEBHOOK_ENABLED",
                value: v,
                expected: "true or false",
            })?,
        };
        let addr = match value("TWEETPIPE_WEBHOOK_ADDR") {
            None => SocketAddr::from(([0, 0, 0, 0], 8443)),
            Some(v) => v.trim().parse().map_err(|_| WebhookSettingsError {
                name: "TWEETPIPE_WEBHOOK_ADDR",
                value: v,
                expected: "host:port, e.g. 0.0.0.0:8443",
            })?,
        };
        let ip_sans = list("TWEETPIPE_WEBHOOK_IP_SANS")
            .into_iter()
            .map(|ip| {
                ip.parse().map_err(|_| WebhookSettingsError {
                    name: "TWEETPIPE_WEBHOOK_IP_SANS",
                    value: ip,
                    expected: "comma-separated IP addresses, e.g. 127.0.0.1,::1",
                })
            })
            .collect::<Result<Vec<IpAddr>, _>>()?;
        let namespace = string("POD_NAMESPACE", "default");
        let mut dns_names = list("TWEETPIPE_WEBHOOK_DNS_NAMES");
        if dns_names.is_empty() {
            let service = string("TWEETPIPE_WEBHOOK_SERVICE", "tweetpipe-operator-webhook");
            dns_names = certs::service_dns_names(&service, &namespace);
        }
        let certs = match value("TWEETPIPE_WEBHOOK_CERT_DIR") {
            Some(dir) => CertSource::Mounted(PathBuf::from(dir.trim())),
            None => CertSource::SelfManaged {
                ca_secret: string(
                    "TWEETPIPE_WEBHOOK_CA_SECRET",
                    "tweetpipe-operator-webhook-ca",
                ),
                configuration: string("TWEETPIPE_WEBHOOK_CONFIGURATION", "tweetpipe-operator"),
            },
        };
        Ok(WebhookSettings {
            enabled,
            addr,
            dns_names,
            ip_sans,
            namespace,
            certs,
        })
    }
}

/// Labels of an admission request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    /// CREATE, UPDATE, … or `unknown` for unreadable reviews.
    pub operation: String,
    /// `allowed`, `denied` or `invalid`.
    pub result: String,
}

/// Metrics of the webhook (registered by `main` next to the operator's).
#[derive(Debug, Clone, Default)]
pub struct AdmissionMetrics {
    /// Admission requests answered, by operation and result.
    pub requests: Family<AdmissionLabels, Counter>,
}

impl AdmissionMetrics {
    /// Registers the metrics in `registry` as `tweetpipe_operator_admission_requests_total`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = AdmissionMetrics::default();
        registry
            .sub_registry_with_prefix("tweetpipe_operator")
            .register(
                "admission_requests",
                "Admission reviews answered by the validating webhook, by operation and result",
                metrics.requests.clone(),
            );
        metrics
    }
}

/// The outcome of one review.
#[derive(Debug)]
pub struct Verdict {
    /// HTTP status: 200 for any readable review, 400 for an unreadable one.
    pub status: StatusCode,
    /// The response review.
    pub review: AdmissionReview<DynamicObject>,
    /// Operation label.
    pub operation: String,
    /// `allowed`, `denied` or `invalid`.
    pub result: &'static str,
}

fn invalid(reason: String) -> Verdict {
    Verdict {
        status: StatusCode::BAD_REQUEST,
        review: AdmissionResponse::invalid(reason).into_review(),
        operation: "unknown".into(),
        result: "invalid",
    }
}

/// Reads a review's object as a TweetPipeline.
fn pipeline(object: &DynamicObject) -> Result<TweetPipeline, serde_json::Error> {
    serde_json::to_value(object).and_then(serde_json::from_value)
}

/// Judges one serialized `AdmissionReview` (`policy`: what the administrator allows). Pure, so
/// the whole protocol is unit-tested.
pub fn judge(body: &[u8], policy: &Policy) -> Verdict {
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(body) {
        Ok(review) => review,
        // serde's message names the position and expected shape, not the body.
        Err(e) => return invalid(format!("the body is not an AdmissionReview: {e}")),
    };
    if review.types.api_version != "admission.k8s.io/v1" || review.types.kind != "AdmissionReview" {
        return invalid(format!(
            "expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got {}, {}",
            review.types.api_version, review.types.kind
        ));
    }
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(request) => request,
        Err(_) => return invalid("the AdmissionReview has no request".into()),
    };
    let operation = format!("{:?}", request.operation).to_uppercase();
    let response = AdmissionResponse::from(&request);
    let verdict = |response: AdmissionResponse, result| Verdict {
        status: StatusCode::OK,
        review: response.into_review(),
        operation: operation.clone(),
        result,
    };
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return verdict(response, "allowed");
    }
    if request.kind.group != "tweetpipe.io" || request.kind.kind != "TweetPipeline" {
        return verdict(
            response.deny(format!(
                "this webhook judges tweetpipe.io TweetPipelines only, not {}/{}; fix the rules of the ValidatingWebhookConfiguration",
                request.kind.group, request.kind.kind
            )),
            "invalid",
        );
    }
    let new = match request.object.as_ref().map(pipeline) {
        Some(Ok(new)) => new,
        Some(Err(e)) => {
            return verdict(
                response.deny(format!("the object is not a valid TweetPipeline: {e}")),
                "invalid",
            );
        }
        None => return verdict(response.deny("the review carries no object"), "invalid"),
    };
    // An old object that can't be read (e.g. stored by an older, looser version) is judged as
    // absent rather than blocking every update forever.
    let old = match (
        &request.operation,
        request.old_object.as_ref().map(pipeline),
    ) {
        (Operation::Update, Some(Ok(old))) => Some(old),
        _ => None,
    };
    let refusals = rules::check(&new, old.as_ref(), policy);
    let warnings = rules::warnings(&new);
    let mut response = response;
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    // Only names and field paths reach the log; never the object nor the refusal text.
    let fields: Vec<&str> = refusals.iter().map(|r| r.field.as_str()).collect();
    debug!(
        uid = %request.uid,
        namespace = request.namespace.as_deref().unwrap_or(""),
        name = %request.name,
        operation = %operation,
        refused_fields = ?fields,
        "admission review judged"
    );
    if refusals.is_empty() {
        verdict(response, "allowed")
    } else {
        let message = refusals
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        verdict(response.deny(message), "denied")
    }
}

/// What every review needs.
#[derive(Clone)]
struct ReviewState {
    metrics: AdmissionMetrics,
    policy: Arc<Policy>,
}

async fn validate(State(state): State<ReviewState>, body: Bytes) -> Response {
    let ReviewState { metrics, policy } = state;
    let verdict = judge(&body, &policy);
    metrics
        .requests
        .get_or_create(&AdmissionLabels {
            operation: verdict.operation,
            result: verdict.result.to_string(),
        })
        .inc();
    if verdict.result == "invalid" {
        warn!(status = %verdict.status, "refused an unreadable or misrouted admission review");
    }
    match serde_json::to_vec(&verdict.review) {
        Ok(json) => (
            verdict.status,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the AdmissionReview: {e}"),
        )
            .into_response(),
    }
}

/// The webhook's routes.
pub fn router(metrics: AdmissionMetrics, policy: Policy) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .layer(DefaultBodyLimit::max(MAX_REVIEW_BYTES))
        .with_state(ReviewState {
            metrics,
            policy: Arc::new(policy),
        })
}

/// Why the webhook could not start.
#[derive(Debug, Error)]
pub enum WebhookError {
    /// Certificates could not be made or loaded.
    #[error(transparent)]
    Certs(#[from] CertError),
    /// The certificate or key is not usable by rustls.
    #[error("the webhook serving certificate is unusable: {0}")]
    Tls(String),
    /// The address could not be bound.
    #[error("binding the webhook to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// A rustls server config (ring, the provider kube uses) for `cert`.
pub fn tls_config(cert: &ServingCert) -> Result<Arc<rustls::ServerConfig>, WebhookError> {
    let chain = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| WebhookError::Tls(format!("certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(WebhookError::Tls("no certificate in the PEM".into()));
    }
    // The error of a key parse never contains the key.
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes())
        .map_err(|e| WebhookError::Tls(format!("private key PEM: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| WebhookError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| WebhookError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A running webhook server.
#[derive(Debug)]
pub struct Webhook {
    /// The bound address (useful when the port was 0).
    pub addr: SocketAddr,
    handle: Handle<SocketAddr>,
}

impl Webhook {
    /// Stops accepting; in-flight reviews get `grace` to finish.
    pub fn shutdown(&self, grace: Duration) {
        self.handle.graceful_shutdown(Some(grace));
    }
}

/// How often a mounted certificate is checked for renewal by cert-manager.
const RELOAD_CHECK: Duration = Duration::from_secs(60);

/// Reloads the TLS config when the mounted certificate file changes (cert-manager renewals).
async fn reload_mounted(dir: PathBuf, config: RustlsConfig) {
    let modified = |dir: &PathBuf| -> Option<SystemTime> {
        std::fs::metadata(dir.join(certs::MOUNTED_CERT_FILE))
            .and_then(|m| m.modified())
            .ok()
    };
    let mut seen = modified(&dir);
    loop {
        tokio::time::sleep(RELOAD_CHECK).await;
        let now = modified(&dir);
        if now == seen {
            continue;
        }
        match certs::load_mounted(&dir)
            .map_err(WebhookError::from)
            .and_then(|c| tls_config(&c))
        {
            Ok(tls) => {
                config.reload_from_config(tls);
                seen = now;
                info!(dir = %dir.display(), "reloaded the renewed webhook certificate");
            }
            // Half-written during a Secret update: keep the old one and look again.
            Err(e) => warn!(error = %e, "cannot reload the webhook certificate yet"),
        }
    }
}

/// Self-managed certificates: every [`certs::RENEW_SERVING_EVERY`] a new serving certificate from
/// the shared CA (replaced first when it nears expiry, its bundle then published), swapped into
/// the running server. A failure keeps the current certificate and is retried with backoff.
async fn renew_serving(
    client: Client,
    settings: WebhookSettings,
    ca_secret: String,
    config: RustlsConfig,
    bundle: tokio::sync::watch::Sender<String>,
) {
    let mut wait = certs::RENEW_SERVING_EVERY;
    let mut attempt = 0;
    loop {
        tokio::time::sleep(wait).await;
        let renewed = async {
            let shared = certs::shared_ca(&client, &settings.namespace, &ca_secret).await?;
            let serving = shared.ca.issue(&settings.dns_names, &settings.ip_sans)?;
            Ok::<_, WebhookError>((shared.bundle, tls_config(&serving)?))
        }
        .await;
        match renewed {
            Ok((new_bundle, tls)) => {
                bundle.send_replace(new_bundle);
                config.reload_from_config(tls);
                info!("renewed the webhook serving certificate");
                wait = certs::RENEW_SERVING_EVERY;
                attempt = 0;
            }
            Err(e) => {
                wait = certs::retry_delay(attempt);
                attempt = attempt.saturating_add(1);
                warn!(error = %e, retry_in = ?wait, "cannot renew the webhook serving certificate yet; serving the current one");
            }
        }
    }
}

/// Prepares the certificates and starts serving; returns once the port is bound. In
/// self-managed mode it also keeps the CA in the configuration's `caBundle` in the background.
pub async fn start(
    settings: &WebhookSettings,
    client: Client,
    metrics: AdmissionMetrics,
    policy: Policy,
) -> Result<Webhook, WebhookError> {
    let (serving, renewal) = match &settings.certs {
        CertSource::SelfManaged {
            ca_secret,
            configuration,
        } => {
            let shared = certs::shared_ca(&client, &settings.namespace, ca_secret).await?;
            let serving = shared.ca.issue(&settings.dns_names, &settings.ip_sans)?;
            let (bundle, bundle_rx) = tokio::sync::watch::channel(shared.bundle);
            tokio::spawn(certs::keep_ca_bundle(
                client.clone(),
                configuration.clone(),
                bundle_rx,
            ));
            (serving, Some((ca_secret.clone(), bundle)))
        }
        CertSource::Mounted(dir) => (certs::load_mounted(dir)?, None),
    };
    let config = RustlsConfig::from_config(tls_config(&serving)?);
    if let CertSource::Mounted(dir) = &settings.certs {
        tokio::spawn(reload_mounted(dir.clone(), config.clone()));
    }
    if let Some((ca_secret, bundle)) = renewal {
        tokio::spawn(renew_serving(
            client,
            settings.clone(),
            ca_secret,
            config.clone(),
            bundle,
        ));
    }
    let bind = |source| WebhookError::Bind {
        addr: settings.addr,
        source,
    };
    let listener = std::net::TcpListener::bind(settings.addr).map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    let handle = Handle::new();
    let server = axum_server::from_tcp_rustls(listener, config)
        .map_err(bind)?
        .handle(handle.clone());
    let app = router(metrics, policy);
    tokio::spawn(async move {
        if let Err(e) = server.serve(app.into_make_service()).await {
            warn!(error = %e, "the webhook server stopped");
        }
    });
    info!(%addr, dns_names = ?settings.dns_names, ips = ?settings.ip_sans, "admission webhook serving");
    Ok(Webhook { addr, handle })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    use crate::api_hosts::AllowedApiHosts;

    /// The X API and the fixture's simulator; the other defaults.
    fn allowed() -> Policy {
        Policy::with_api_hosts(
            AllowedApiHosts::parse("https://api.x.com,x-api-simulator.tweetpipe-system:8080")
                .expect("allow-list"),
            &[],
        )
    }

    fn judge(body: &[u8]) -> Verdict {
        super::judge(body, &allowed())
    }

    fn router(metrics: AdmissionMetrics) -> Router {
        super::router(metrics, allowed())
    }

    /// The fixture pipeline with one query.
    fn object(query: &str) -> Value {
        let mut pipeline: Value =
            serde_yaml::from_str(include_str!("../../fixtures/pipeline.yaml")).unwrap();
        pipeline["spec"]["source"]["queries"] = json!([{"name": "q", "query": query}]);
        pipeline
    }

    /// A review of `object` in the version its `apiVersion` names (the webhook matches both).
    fn review(operation: &str, object: Value, old: Option<Value>) -> Vec<u8> {
        let version = object["apiVersion"]
            .as_str()
            .and_then(|v| v.strip_prefix("tweetpipe.io/"))
            .unwrap_or("v1beta1")
            .to_string();
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "tweetpipe.io", "version": version, "kind": "TweetPipeline"},
                "resource": {"group": "tweetpipe.io", "version": version, "resource": "tweetpipelines"},
                "name": "p",
                "namespace": "ns",
                "operation": operation,
                "userInfo": {"username": "alice"},
                "object": object,
                "oldObject": old,
                "dryRun": false
            }
        }))
        .unwrap()
    }

    fn response(verdict: &Verdict) -> Value {
        serde_json::to_value(&verdict.review).unwrap()
    }

    /// A replication factor managed Kafka clusters refuse writes for is admitted with a warning
    /// (good input is never refused: a single-broker cluster needs 1), shown by kubectl; 3 is not.
    #[test]
    fn a_low_replication_factor_is_admitted_with_a_warning() {
        for (factor, warned) in [
            (1, Some("min.insync.replicas >= 2")),
            (2, Some("one broker down")),
            (3, None),
        ] {
            let mut pipeline = object("covid");
            pipeline["spec"]["kafka"]["replicationFactor"] = json!(factor);
            let verdict = judge(&review("CREATE", pipeline, None));
            assert_eq!(verdict.result, "allowed", "replicationFactor {factor}");
            let body = response(&verdict);
            let warnings = &body["response"]["warnings"];
            match warned {
                Some(text) => {
                    let list = warnings.as_array().expect("warnings");
                    assert_eq!(list.len(), 1, "{warnings}");
                    let warning = list[0].as_str().unwrap();
                    assert!(warning.contains(text), "{warning}");
                    assert!(
                        warning.len() <= 120,
                        "Kubernetes asks for at most 120 characters: {warning}"
                    );
                }
                None => assert!(warnings.is_null(), "replicationFactor {factor}: {warnings}"),
            }
        }
    }

    /// A worker image pinned at another minor version than the operator's is an unsupported skew
    /// (the worker configs change between minors): admitted, with a warning naming the policy.
    #[test]
    fn a_worker_image_of_another_minor_version_is_admitted_with_a_warning() {
        let operator = env!("CARGO_PKG_VERSION");
        let (major, minor) = {
            let mut parts = operator.split('.');
            (parts.next().unwrap(), parts.next().unwrap())
        };
        let same_minor = format!("ghcr.io/acme/extractor:{major}.{minor}.99-patched");
        let cases = [
            ("ghcr.io/acme/extractor:99.0.0".to_owned(), true),
            ("registry:5000/t/extractor:v99.1".to_owned(), true),
            (same_minor, false),
            ("docker.io/tweetpipe/extractor:dev".to_owned(), false),
            (
                format!("registry:5000/x/extractor@sha256:{}", "a".repeat(64)),
                false,
            ),
        ];
        for (image, warned) in cases {
            let mut pipeline = object("covid");
            pipeline["spec"]["kafka"]["replicationFactor"] = json!(3);
            pipeline["spec"]["extractor"]["image"] = json!(image);
            let policy = Policy {
                worker_images: crate::policy::AllowedWorkerImages::new(&[&image], &[]),
                ..allowed()
            };
            let verdict = super::judge(&review("CREATE", pipeline, None), &policy);
            assert_eq!(verdict.result, "allowed", "{image}");
            let warnings = response(&verdict)["response"]["warnings"].clone();
            if warned {
                let warning = warnings[0].as_str().expect("a warning");
                assert!(
                    warning.starts_with("spec.extractor.image tag "),
                    "{warning}"
                );
                assert!(warning.contains(&format!("{major}.{minor}.x")), "{warning}");
                assert!(warning.len() <= 120, "{warning}");
            } else {
                assert!(warnings.is_null(), "{image}: {warnings}");
            }
        }
    }

    #[test]
    fn a_base_url_off_the_allow_list_is_denied_naming_the_host_only() {
        let mut pipeline = object("covid");
        pipeline["spec"]["source"]["baseUrl"] = json!("https://collector.example:8443");
        let verdict = judge(&review("CREATE", pipeline.clone(), None));
        assert_eq!(verdict.result, "denied");
        let body = response(&verdict);
        let message = body["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("spec.source.baseUrl: source.baseUrl sends the bearer tokens to https://collector.example:8443, which is not an allowed X API host (allowed: https://api.x.com, x-api-simulator.tweetpipe-system:8080)"),
            "{message}"
        );
        // The same pipeline passes an operator that allows the host.
        let allowing = AllowedApiHosts::parse("collector.example").unwrap();
        let verdict = super::judge(
            &review("CREATE", pipeline.clone(), None),
            &Policy::with_api_hosts(allowing, &[]),
        );
        assert_eq!(verdict.result, "allowed");
        // A password in the URL is refused and never echoed.
        pipeline["spec"]["source"]["baseUrl"] = json!("https://bob:s3cret@api.x.com");
        let verdict = judge(&review("CREATE", pipeline, None));
        let body = response(&verdict);
        let message = body["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.contains("must not contain user information"),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn a_valid_pipeline_is_allowed_with_the_request_uid() {
        let fixture = object("covid lang:en");
        // Guard: the fixture itself must be a readable pipeline, or this test proves nothing.
        serde_json::from_value::<TweetPipeline>(fixture.clone())
            .expect("fixture is a TweetPipeline");
        let verdict = judge(&review("CREATE", fixture, None));
        let body = response(&verdict);
        assert_eq!(verdict.status, StatusCode::OK);
        assert_eq!(
            (verdict.operation.as_str(), verdict.result),
            ("CREATE", "allowed")
        );
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(body["kind"], "AdmissionReview");
        assert_eq!(
            body["response"]["uid"],
            "705ab4f5-6393-11e8-b7cc-42010a800002"
        );
        assert_eq!(body["response"]["allowed"], true);
    }

    /// The deprecated version has the same schema and is judged by the same rules: admitted when
    /// valid, denied with the same message when not.
    #[test]
    fn the_deprecated_version_is_judged_like_the_stored_one() {
        for version in ["tweetpipe.io/v1alpha1", "tweetpipe.io/v1beta1"] {
            let mut valid = object("covid lang:en");
            valid["apiVersion"] = json!(version);
            let verdict = judge(&review("CREATE", valid, None));
            assert_eq!(verdict.result, "allowed", "{version}");
            let mut invalid = object(&"a".repeat(600));
            invalid["apiVersion"] = json!(version);
            let verdict = judge(&review("CREATE", invalid, None));
            let body = response(&verdict);
            assert_eq!(body["response"]["allowed"], false, "{version}");
            let message = body["response"]["status"]["message"].as_str().unwrap();
            assert!(message.contains("512"), "{version}: {message}");
        }
    }

    #[test]
    fn an_invalid_update_is_denied_listing_the_field_and_the_limit() {
        let long = "a".repeat(600);
        let verdict = judge(&review("UPDATE", object(&long), Some(object("ok"))));
        let body = response(&verdict);
        assert_eq!(verdict.status, StatusCode::OK);
        assert_eq!(
            (verdict.operation.as_str(), verdict.result),
            ("UPDATE", "denied")
        );
        assert_eq!(body["response"]["allowed"], false);
        let message = body["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("spec.source.queries[0].query: "),
            "{message}"
        );
        assert!(message.contains("512"), "{message}");
        // The query itself is not echoed back.
        assert!(!message.contains(&long), "{message}");
    }

    #[test]
    fn every_refusal_is_listed_separated_by_semicolons() {
        let long = "b".repeat(513);
        let mut pipeline = object(&long);
        pipeline["spec"]["source"]["queries"] = json!([
            {"name": "a", "query": long},
            {"name": "b", "query": "fine"},
            {"name": "c", "query": long}
        ]);
        let verdict = judge(&review("CREATE", pipeline, None));
        let message = response(&verdict)["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.starts_with("spec.source.queries[0].query: "),
            "{message}"
        );
        assert!(
            message.contains("; spec.source.queries[2].query: "),
            "{message}"
        );
        assert!(!message.contains("queries[1]"), "{message}");
    }

    #[test]
    fn deletes_are_allowed_without_judging() {
        let verdict = judge(&review(
            "DELETE",
            Value::Null,
            Some(object(&"a".repeat(600))),
        ));
        assert_eq!(verdict.status, StatusCode::OK);
        assert_eq!(verdict.result, "allowed");
        assert_eq!(response(&verdict)["response"]["allowed"], true);
    }

    #[test]
    fn malformed_bodies_get_a_400_with_a_clear_reason() {
        for (body, expect) in [
            (b"not json".to_vec(), "the body is not an AdmissionReview"),
            (
                serde_json::to_vec(
                    &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
                )
                .unwrap(),
                "has no request",
            ),
            (
                serde_json::to_vec(
                    &json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}),
                )
                .unwrap(),
                "expected apiVersion admission.k8s.io/v1",
            ),
        ] {
            let verdict = judge(&body);
            assert_eq!(verdict.status, StatusCode::BAD_REQUEST);
            assert_eq!(verdict.result, "invalid");
            let body = response(&verdict);
            assert_eq!(body["response"]["allowed"], false);
            let message = body["response"]["status"]["message"].as_str().unwrap();
            assert!(message.contains(expect), "{message}");
        }
    }

    #[test]
    fn an_object_that_is_not_a_pipeline_is_denied_with_the_reason() {
        let mut broken = object("ok");
        broken["spec"]["kafka"] = json!("not an object");
        let verdict = judge(&review("CREATE", broken, None));
        assert_eq!(verdict.status, StatusCode::OK);
        assert_eq!(verdict.result, "invalid");
        let message = response(&verdict)["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains("not a valid TweetPipeline"), "{message}");
    }

    #[test]
    fn other_kinds_are_denied_as_a_misconfiguration() {
        let mut body: Value =
            serde_json::from_slice(&review("CREATE", object("ok"), None)).unwrap();
        body["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Pod"});
        let verdict = judge(&serde_json::to_vec(&body).unwrap());
        let message = response(&verdict)["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains("TweetPipelines only"), "{message}");
    }

    #[test]
    fn settings_default_to_off_with_service_names() {
        let s = WebhookSettings::from_env(|name| (name == "POD_NAMESPACE").then(|| "ops".into()))
            .unwrap();
        assert!(!s.enabled);
        assert_eq!(s.addr, "0.0.0.0:8443".parse().unwrap());
        assert_eq!(
            s.dns_names,
            [
                "tweetpipe-operator-webhook.ops.svc",
                "tweetpipe-operator-webhook.ops.svc.cluster.local"
            ]
        );
        assert!(s.ip_sans.is_empty());
        assert_eq!(
            s.certs,
            CertSource::SelfManaged {
                ca_secret: "tweetpipe-operator-webhook-ca".into(),
                configuration: "tweetpipe-operator".into()
            }
        );
    }

    #[test]
    fn settings_read_every_variable_and_name_bad_ones() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = WebhookSettings::from_env(env(&[
            ("TWEETPIPE_WEBHOOK_ENABLED", "true"),
            ("TWEETPIPE_WEBHOOK_ADDR", "127.0.0.1:9443"),
            ("TWEETPIPE_WEBHOOK_DNS_NAMES", "a.example, localhost"),
            ("TWEETPIPE_WEBHOOK_IP_SANS", "127.0.0.1,::1"),
            ("TWEETPIPE_WEBHOOK_CERT_DIR", "/certs"),
        ]))
        .unwrap();
        assert!(s.enabled);
        assert_eq!(s.addr, "127.0.0.1:9443".parse().unwrap());
        assert_eq!(s.dns_names, ["a.example", "localhost"]);
        assert_eq!(s.ip_sans.len(), 2);
        assert_eq!(s.certs, CertSource::Mounted("/certs".into()));

        let error =
            WebhookSettings::from_env(env(&[("TWEETPIPE_WEBHOOK_IP_SANS", "127.0.0.1,nope")]))
                .unwrap_err()
                .to_string();
        assert!(
            error.contains("TWEETPIPE_WEBHOOK_IP_SANS") && error.contains("nope"),
            "{error}"
        );
        assert!(WebhookSettings::from_env(env(&[("TWEETPIPE_WEBHOOK_ENABLED", "yes")])).is_err());
        assert!(WebhookSettings::from_env(env(&[("TWEETPIPE_WEBHOOK_ADDR", "8443")])).is_err());
    }

    #[tokio::test]
    async fn serves_reviews_over_tls_trusted_through_the_ca() {
        let ca = certs::CertificateAuthority::generate("test-ca").unwrap();
        let serving = ca
            .issue(&["localhost".into()], &["127.0.0.1".parse().unwrap()])
            .unwrap();
        let config = RustlsConfig::from_config(tls_config(&serving).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = Handle::new();
        let server = axum_server::from_tcp_rustls(listener, config)
            .unwrap()
            .handle(handle.clone());
        let metrics = AdmissionMetrics::default();
        tokio::spawn(server.serve(router(metrics.clone()).into_make_service()));

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
            .unwrap();
        let client = reqwest_like_post(
            addr,
            roots,
            &review("CREATE", object(&"z".repeat(600)), None),
        )
        .await;
        assert!(client.starts_with("HTTP/1.1 200"), "{client}");
        assert!(client.contains("spec.source.queries[0].query"), "{client}");
        let denied = metrics.requests.get_or_create(&AdmissionLabels {
            operation: "CREATE".into(),
            result: "denied".into(),
        });
        assert_eq!(denied.get(), 1);
        handle.shutdown();
    }

    /// A minimal HTTPS POST over tokio-rustls (as the API server does, trusting only the CA).
    async fn reqwest_like_post(
        addr: SocketAddr,
        roots: rustls::RootCertStore,
        body: &[u8],
    ) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector
            .connect(name, tcp)
            .await
            .expect("TLS handshake trusted via the CA");
        let head = format!(
            "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.write_all(body).await.unwrap();
        let mut out = String::new();
        tls.read_to_string(&mut out).await.unwrap();
        out
    }
}
