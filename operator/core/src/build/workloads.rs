//! Kubernetes objects of a pipeline: ConfigMaps, the extractor StatefulSet, the transformer
//! Deployment, their Services and the transformer's MySQL Secret. Every object is owned by the
//! TweetPipeline (garbage-collected with it) and applied by server-side apply.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SeccompProfile, Secret, SecretVolumeSource, SecurityContext,
    Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;

use crate::crd::{Resources, TweetPipeline};
use crate::decide::cleanup::WORKER_TERMINATION_GRACE_SECONDS;
use crate::labels::{Component, labels, mysql_secret_name, object_name, selector_labels};
use tweetpipe_common::contract::extractor::ExtractorConfig;
use tweetpipe_common::contract::paths;
use tweetpipe_common::contract::transformer::TransformerConfig;

/// Port of every worker's `/metrics`, `/healthz` and `/readyz`.
pub const OPS_PORT: i32 = 8080;
/// UID/GID the workers run as (distroless "nonroot").
pub const WORKER_UID: i64 = 65532;
/// Annotation carrying a hash of the worker config, so a config change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "tweetpipe.io/config-hash";
/// Annotation carrying a digest of every Secret key a worker mounts: the workers read their
/// files at start, so a rotated Secret must roll the pods that mount it.
pub const SECRETS_HASH_ANNOTATION: &str = "tweetpipe.io/secrets-hash";

/// Images and settings the operator hands every worker.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerDefaults {
    /// Extractor image when the spec names none.
    pub extractor_image: String,
    /// Transformer image when the spec names none.
    pub transformer_image: String,
    /// Pull policy of both.
    pub image_pull_policy: String,
    /// OTLP endpoint handed to the workers, if tracing is exported.
    pub otlp_endpoint: Option<String>,
    /// `RUST_LOG` of the workers.
    pub log_filter: String,
}

fn owner(tp: &TweetPipeline) -> Vec<OwnerReference> {
    tp.controller_owner_ref(&()).into_iter().collect()
}

fn metadata(tp: &TweetPipeline, name: String, component: Component) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: tp.metadata.namespace.clone(),
        labels: Some(labels(tp, component)),
        owner_references: Some(owner(tp)),
        ..ObjectMeta::default()
    }
}

/// A stable, short hash of a config (FNV-1a), to roll pods when it changes.
pub fn config_hash(text: &str) -> String {
    crate::labels::stable_hash(text)
}

/// The ConfigMap holding a worker's JSON config.
pub fn config_map(tp: &TweetPipeline, component: Component, file: &str, json: &str) -> ConfigMap {
    ConfigMap {
        metadata: metadata(tp, object_name(tp, component), component),
        data: Some(BTreeMap::from([(file.to_string(), json.to_string())])),
        ..ConfigMap::default()
    }
}

/// Key of the writer password in the transformer's MySQL Secret (kept so the operator reuses it).
pub const WRITER_PASSWORD_KEY: &str = "password";

/// The Secret with the transformers' MySQL URL (the writer account on the pipeline's database)
/// and the writer's password. Only `url` is mounted into pods.
pub fn mysql_secret(tp: &TweetPipeline, writer_url: &str, writer_password: &str) -> Secret {
    Secret {
        metadata: metadata(tp, mysql_secret_name(tp), Component::Transformer),
        data: Some(BTreeMap::from([
            (
                "url".to_string(),
                ByteString(writer_url.as_bytes().to_vec()),
            ),
            (
                WRITER_PASSWORD_KEY.to_string(),
                ByteString(writer_password.as_bytes().to_vec()),
            ),
        ])),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

/// A headless Service per component: stable pod DNS for the StatefulSet and scrape targets.
pub fn service(tp: &TweetPipeline, component: Component) -> Service {
    Service {
        metadata: metadata(tp, object_name(tp, component), component),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector_labels(tp, component)),
            ports: Some(vec![ServicePort {
                name: Some("ops".into()),
                port: OPS_PORT,
                target_port: Some(IntOrString::String("ops".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn resources(spec: Option<&Resources>) -> ResourceRequirements {
    let quantities = |map: &BTreeMap<String, Quantity>| map.clone();
    match spec {
        Some(r) => ResourceRequirements {
            requests: (!r.requests.is_empty()).then(|| quantities(&r.requests)),
            limits: (!r.limits.is_empty()).then(|| quantities(&r.limits)),
            ..ResourceRequirements::default()
        },
        None => ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("50m".into())),
                ("memory".to_string(), Quantity("64Mi".into())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("256Mi".into()),
            )])),
            ..ResourceRequirements::default()
        },
    }
}

/// Non-root, no privilege escalation, no capabilities, read-only root filesystem.
pub fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(WORKER_UID),
        run_as_group: Some(WORKER_UID),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        }),
        ..SecurityContext::default()
    }
}

fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(WORKER_UID),
        run_as_group: Some(WORKER_UID),
        fs_group: Some(WORKER_UID),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

fn probe(path: &str, initial_delay: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("ops".into()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(10),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn secret_volume(name: String, secret: &str, items: Vec<(String, String)>) -> Volume {
    Volume {
        name,
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            items: Some(
                items
                    .into_iter()
                    .map(|(key, path)| KeyToPath {
                        key,
                        path,
                        mode: None,
                    })
                    .collect(),
            ),
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// Volumes and mounts for Kafka TLS/SASL secrets.
fn kafka_secret_volumes(tp: &TweetPipeline) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    if let Some(sasl) = &tp.spec.kafka.sasl {
        volumes.push(secret_volume(
            "kafka-sasl".into(),
            &sasl.secret_name,
            vec![
                (sasl.username_key.clone(), "username".into()),
                (sasl.password_key.clone(), "password".into()),
            ],
        ));
        mounts.push(mount("kafka-sasl", paths::KAFKA_SASL_DIR));
    }
    if let Some(ca) = tp
        .spec
        .kafka
        .tls
        .as_ref()
        .and_then(|t| t.ca_secret.as_ref())
    {
        volumes.push(secret_volume(
            "kafka-ca".into(),
            &ca.name,
            vec![(ca.key.clone(), "ca.crt".into())],
        ));
        mounts.push(mount("kafka-ca", paths::KAFKA_CA_DIR));
    }
    // Mutual TLS: certificate and key in their own directories, so that both may come from the
    // same `kubernetes.io/tls` Secret or from two.
    let tls = tp.spec.kafka.tls.as_ref();
    for (volume, secret, file, dir) in [
        (
            "kafka-client-cert",
            tls.and_then(|t| t.client_certificate_secret.as_ref()),
            "tls.crt",
            paths::KAFKA_CLIENT_CERT_DIR,
        ),
        (
            "kafka-client-key",
            tls.and_then(|t| t.client_key_secret.as_ref()),
            "tls.key",
            paths::KAFKA_CLIENT_KEY_DIR,
        ),
    ] {
        if let Some(secret) = secret {
            volumes.push(secret_volume(
                volume.into(),
                &secret.name,
                vec![(secret.key.clone(), file.into())],
            ));
            mounts.push(mount(volume, dir));
        }
    }
    (volumes, mounts)
}

struct PodParts {
    component: Component,
    image: String,
    config_env: (&'static str, &'static str),
    config_hash: String,
    volumes: Vec<Volume>,
    mounts: Vec<VolumeMount>,
    extra_env: Vec<EnvVar>,
    resources: ResourceRequirements,
}

fn pod_template(tp: &TweetPipeline, defaults: &WorkerDefaults, parts: PodParts) -> PodTemplateSpec {
    let component = parts.component;
    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: object_name(tp, component),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        // A writable /tmp on an otherwise read-only root filesystem.
        Volume {
            name: "tmp".into(),
            empty_dir: Some(Default::default()),
            ..Volume::default()
        },
    ];
    volumes.extend(parts.volumes);
    let mut mounts = vec![
        mount("config", paths::CONFIG_DIR),
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        },
    ];
    mounts.extend(parts.mounts);
    let mut env_vars = vec![
        env(parts.config_env.0, parts.config_env.1),
        env("RUST_LOG", &defaults.log_filter),
    ];
    if let Some(endpoint) = &defaults.otlp_endpoint {
        env_vars.push(env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint));
        env_vars.push(env(
            "OTEL_SERVICE_NAME",
            &format!("tweetpipe-{}", component.as_str()),
        ));
    }
    env_vars.extend(parts.extra_env);
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(tp, component)),
            annotations: Some(BTreeMap::from([
                (CONFIG_HASH_ANNOTATION.to_string(), parts.config_hash),
                ("prometheus.io/scrape".to_string(), "true".to_string()),
                ("prometheus.io/port".to_string(), OPS_PORT.to_string()),
                ("prometheus.io/path".to_string(), "/metrics".to_string()),
            ])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(pod_security()),
            termination_grace_period_seconds: Some(WORKER_TERMINATION_GRACE_SECONDS),
            volumes: Some(volumes),
            containers: vec![Container {
                name: component.as_str().into(),
                image: Some(parts.image),
                image_pull_policy: Some(defaults.image_pull_policy.clone()),
                env: Some(env_vars),
                ports: Some(vec![ContainerPort {
                    name: Some("ops".into()),
                    container_port: OPS_PORT,
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                }]),
                liveness_probe: Some(probe("/healthz", 5)),
                readiness_probe: Some(probe("/readyz", 2)),
                resources: Some(parts.resources),
                security_context: Some(container_security()),
                volume_mounts: Some(mounts),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}

/// The extractor StatefulSet. Its replicas share the queries among themselves (a consumer
/// group over the slots topic), so neither the replica count nor the ordinals appear in their
/// config; `restart_key` is the config without its live settings (see
/// `ExtractorConfig::restart_fingerprint`), so throttle steps do not roll the pods.
pub fn extractor_statefulset(
    tp: &TweetPipeline,
    defaults: &WorkerDefaults,
    replicas: i32,
    restart_key: &str,
) -> StatefulSet {
    let component = Component::Extractor;
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    for (index, token) in tp.spec.source.tokens.iter().enumerate() {
        let name = format!("token-{index}");
        volumes.push(secret_volume(
            name.clone(),
            &token.name,
            vec![(token.key.clone(), "token".into())],
        ));
        mounts.push(mount(&name, &format!("{}/{index}", paths::TOKENS_DIR)));
    }
    let (kafka_volumes, kafka_mounts) = kafka_secret_volumes(tp);
    volumes.extend(kafka_volumes);
    mounts.extend(kafka_mounts);
    let replica_index = EnvVar {
        name: "REPLICA_INDEX".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.labels['apps.kubernetes.io/pod-index']".into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    let template = pod_template(
        tp,
        defaults,
        PodParts {
            component,
            image: tp
                .spec
                .extractor
                .image
                .clone()
                .unwrap_or_else(|| defaults.extractor_image.clone()),
            config_env: (paths::EXTRACTOR_CONFIG_ENV, paths::EXTRACTOR_CONFIG),
            config_hash: config_hash(restart_key),
            volumes,
            mounts,
            extra_env: vec![replica_index],
            resources: resources(tp.spec.extractor.resources.as_ref()),
        },
    );
    StatefulSet {
        metadata: metadata(tp, object_name(tp, component), component),
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(object_name(tp, component)),
            // Queries move between replicas through the slot group's handoff, not through pod
            // order, so start and stop them together.
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(tp, component)),
                ..LabelSelector::default()
            },
            template,
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

/// The transformer Deployment.
pub fn transformer_deployment(
    tp: &TweetPipeline,
    defaults: &WorkerDefaults,
    replicas: i32,
    config_json: &str,
) -> Deployment {
    let component = Component::Transformer;
    let mut volumes = vec![secret_volume(
        "mysql".into(),
        &mysql_secret_name(tp),
        vec![("url".into(), "url".into())],
    )];
    let mut mounts = vec![mount("mysql", paths::MYSQL_DIR)];
    if let Some(ca) = tp
        .spec
        .mysql
        .tls
        .as_ref()
        .and_then(|t| t.ca_secret.as_ref())
    {
        volumes.push(secret_volume(
            "mysql-ca".into(),
            &ca.name,
            vec![(ca.key.clone(), "ca.crt".into())],
        ));
        mounts.push(mount("mysql-ca", paths::MYSQL_CA_DIR));
    }
    let (kafka_volumes, kafka_mounts) = kafka_secret_volumes(tp);
    volumes.extend(kafka_volumes);
    mounts.extend(kafka_mounts);
    let template = pod_template(
        tp,
        defaults,
        PodParts {
            component,
            image: tp
                .spec
                .transformer
                .image
                .clone()
                .unwrap_or_else(|| defaults.transformer_image.clone()),
            config_env: (paths::TRANSFORMER_CONFIG_ENV, paths::TRANSFORMER_CONFIG),
            config_hash: config_hash(config_json),
            volumes,
            mounts,
            extra_env: Vec::new(),
            resources: resources(tp.spec.transformer.resources.as_ref()),
        },
    );
    Deployment {
        metadata: metadata(tp, object_name(tp, component), component),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(selector_labels(tp, component)),
                ..LabelSelector::default()
            },
            template,
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The (Secret, key) pairs a pod template mounts, in volume order.
pub fn mounted_secret_keys(template: &PodTemplateSpec) -> Vec<(String, String)> {
    let volumes = template
        .spec
        .as_ref()
        .and_then(|spec| spec.volumes.as_ref())
        .map_or(&[][..], Vec::as_slice);
    volumes
        .iter()
        .filter_map(|volume| volume.secret.as_ref())
        .flat_map(|secret| {
            let name = secret.secret_name.clone().unwrap_or_default();
            secret
                .items
                .iter()
                .flatten()
                .map(move |item| (name.clone(), item.key.clone()))
        })
        .collect()
}

/// Stamps the digest of the template's mounted Secret keys on it.
pub fn set_secrets_hash(template: &mut PodTemplateSpec, digest: String) {
    template
        .metadata
        .get_or_insert_with(ObjectMeta::default)
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(SECRETS_HASH_ANNOTATION.to_string(), digest);
}

/// JSON of a worker config, pretty so `kubectl get cm -o yaml` stays readable.
pub fn to_json<T: serde::Serialize>(config: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(config)
}

/// Both configs rendered; kept together so hashes and ConfigMaps agree.
pub struct RenderedConfigs {
    /// `extractor.json`.
    pub extractor: String,
    /// What of `extractor.json` needs a restart when it changes (hashed into the pods).
    pub extractor_restart_key: String,
    /// `transformer.json`.
    pub transformer: String,
}

/// Renders both configs.
pub fn render(
    extractor: &ExtractorConfig,
    transformer: &TransformerConfig,
) -> Result<RenderedConfigs, serde_json::Error> {
    Ok(RenderedConfigs {
        extractor: to_json(extractor)?,
        extractor_restart_key: serde_json::to_string(&extractor.restart_fingerprint())?,
        transformer: to_json(transformer)?,
    })
}
