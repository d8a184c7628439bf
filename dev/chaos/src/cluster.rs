//! Everything the run does through the Kubernetes API and Helm: install, deploy, disturb, clean.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::{Api, Client};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;

use crate::error::ChaosError;
use crate::pipeline::{PIPELINE, TOKENS};
use crate::schedule::Role;

const MANAGER: &str = "tweetpipe-chaos";

pub struct Cluster {
    pub client: Client,
    pub namespace: String,
    /// Helm release of the operator; also its instance name, so no other operator judges or
    /// reconciles this run's pipeline.
    pub release: String,
    kubeconfig: String,
    /// The version the run writes and reads the pipeline in: the one its manifest names. A run
    /// that starts on the previous release uses `v1alpha1`, the only version that release's CRD
    /// serves (and still served after the upgrade).
    pipeline_version: String,
    /// Tag of this tree's images (`CHAOS_IMAGE_TAG`, default `dev`).
    pub image_tag: String,
    /// The simulator's image (`CHAOS_SIMULATOR_IMAGE`).
    simulator_image: String,
}

fn pipeline_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "tweetpipe.io",
        version,
        "TweetPipeline",
    ))
}

/// Where the operator's chart and images come from.
pub struct Release {
    /// The chart's directory.
    pub chart: String,
    /// Tag of the images `docker.io/tweetpipe/{operator,extractor,transformer}`.
    pub tag: String,
}

/// The working tree's chart.
const CURRENT_CHART: &str = "helm/tweetpipe-operator";

impl Cluster {
    pub fn new(
        client: Client,
        namespace: &str,
        kubeconfig: &Path,
        pipeline_version: &str,
        image_tag: &str,
        simulator_image: &str,
    ) -> Self {
        Cluster {
            client,
            namespace: namespace.to_string(),
            release: namespace.to_string(),
            kubeconfig: kubeconfig.display().to_string(),
            pipeline_version: pipeline_version.to_string(),
            image_tag: image_tag.to_string(),
            simulator_image: simulator_image.to_string(),
        }
    }

    /// The working tree's chart and the images `make images` built (tagged `image_tag`).
    pub fn current(&self) -> Release {
        Release {
            chart: CURRENT_CHART.to_string(),
            tag: self.image_tag.clone(),
        }
    }

    /// The version the run writes and reads the pipeline in.
    pub fn pipeline_version(&self) -> &str {
        &self.pipeline_version
    }

    fn pipelines(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &pipeline_resource(&self.pipeline_version),
        )
    }

    /// `helm upgrade --install` of the operator chart, two replicas (a standby keeps the
    /// webhook answering while the leader is killed), watching only this namespace.
    pub async fn install_operator(&self, release: &Release) -> Result<(), ChaosError> {
        let operator_tag = format!("image.tag={}", release.tag);
        let extractor = format!(
            "workers.extractor.image=docker.io/tweetpipe/extractor:{}",
            release.tag
        );
        let transformer = format!(
            "workers.transformer.image=docker.io/tweetpipe/transformer:{}",
            release.tag
        );
        let instance = format!("instance={}", self.release);
        let watch = format!("watchNamespace={}", self.namespace);
        // The pipeline's baseUrl is this namespace's simulator Service (pipeline.rs); the pod IP
        // is only for the observer on the host, so no IP needs allowing.
        let simulator_namespace = format!("allowedApiServices[0].namespace={}", self.namespace);
        run(
            "helm",
            &[
                "--kubeconfig",
                &self.kubeconfig,
                "upgrade",
                "--install",
                &self.release,
                &release.chart,
                "--namespace",
                &self.namespace,
                "--create-namespace",
                "--wait",
                "--timeout",
                "300s",
                "--set",
                "replicaCount=2",
                "--set",
                &instance,
                "--set",
                &watch,
                "--set",
                "leaderElection.leaseSeconds=10",
                "--set",
                "image.repository=docker.io/tweetpipe/operator",
                "--set",
                &operator_tag,
                "--set",
                "image.pullPolicy=Never",
                "--set",
                &extractor,
                "--set",
                &transformer,
                "--set",
                "workers.pullPolicy=Never",
                "--set",
                &simulator_namespace,
                "--set",
                "allowedApiServices[0].name=x-api-simulator",
                "--set",
                "allowedApiServices[0].port=8080",
            ],
        )
        .await
        .map(drop)
    }

    async fn apply<K>(&self, object: serde_json::Value) -> Result<(), ChaosError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let typed: K = serde_json::from_value(object)
            .map_err(|e| ChaosError::Invalid(format!("object: {e}")))?;
        let name = typed.meta().name.clone().unwrap_or_default();
        Api::<K>::namespaced(self.client.clone(), &self.namespace)
            .patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&typed),
            )
            .await?;
        Ok(())
    }

    /// The Secrets the pipeline references: one per token, and the admin URL for pods.
    pub async fn put_secrets(&self, mysql_url_pod: &str) -> Result<(), ChaosError> {
        let ns = &self.namespace;
        for (name, token) in TOKENS {
            self.apply::<Secret>(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("x-{name}"), "namespace": ns}, "stringData": {"token": token}}))
                .await?;
        }
        self.apply::<Secret>(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "mysql-admin", "namespace": ns}, "stringData": {"url": mysql_url_pod}}))
            .await
    }

    /// Deploys the simulator (one replica: its ledger lives in memory, so it is never killed)
    /// and returns its pod's `ip:port`, reachable from the host over the pod bridge.
    pub async fn deploy_simulator(&self, config: &serde_json::Value) -> Result<String, ChaosError> {
        let ns = &self.namespace;
        let labels = json!({"app": "x-api-simulator"});
        self.apply::<ConfigMap>(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x-api-simulator", "namespace": ns},
            "data": {"config.json": config.to_string()}}))
            .await?;
        self.apply::<Deployment>(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x-api-simulator", "namespace": ns},
            "spec": {"selector": {"matchLabels": labels}, "strategy": {"type": "Recreate"},
              "template": {"metadata": {"labels": labels}, "spec": {
                "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "simulator", "image": self.simulator_image, "imagePullPolicy": "Never",
                  "args": ["--config", "/etc/simulator/config.json"],
                  "ports": [{"name": "http", "containerPort": 8080}],
                  "readinessProbe": {"tcpSocket": {"port": "http"}},
                  "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                  "volumeMounts": [{"name": "config", "mountPath": "/etc/simulator", "readOnly": true}]}],
                "volumes": [{"name": "config", "configMap": {"name": "x-api-simulator"}}]}}}}))
            .await?;
        self.apply::<Service>(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "x-api-simulator", "namespace": ns},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}}))
            .await?;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let selector = ListParams::default().labels("app=x-api-simulator");
        wait(
            "the simulator pod to be ready",
            Duration::from_secs(180),
            || {
                let pods = pods.clone();
                let selector = selector.clone();
                async move {
                    let list = pods.list(&selector).await.ok()?;
                    list.items.iter().find_map(|pod| {
                        let status = pod.status.as_ref()?;
                        let ready = status
                            .conditions
                            .as_ref()?
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True");
                        (ready && pod.metadata.deletion_timestamp.is_none())
                            .then(|| status.pod_ip.clone())
                            .flatten()
                            .map(|ip| format!("{ip}:8080"))
                    })
                }
            },
        )
        .await
    }

    /// Creates (or re-applies) the pipeline, in the run's version (its manifest must name it);
    /// retried while the webhook is not yet served.
    pub async fn create_pipeline(&self, manifest: &serde_json::Value) -> Result<(), ChaosError> {
        let object: DynamicObject = serde_json::from_value(manifest.clone())
            .map_err(|e| ChaosError::Invalid(format!("pipeline manifest: {e}")))?;
        let api = self.pipelines();
        let mut last = String::new();
        for _ in 0..60 {
            match api
                .patch(
                    PIPELINE,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&object),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Err(ChaosError::Invalid(format!(
            "the pipeline was never admitted: {last}"
        )))
    }

    /// Merge-patches `spec`; retried for up to a minute (the webhook may be between leaders).
    pub async fn patch_spec(&self, spec: serde_json::Value) -> Result<(), ChaosError> {
        let api = self.pipelines();
        let patch = json!({ "spec": spec });
        let mut delay = Duration::from_millis(500);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match api
                .patch(PIPELINE, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e.into()),
                Err(_) => {
                    tokio::time::sleep(jittered(delay)).await;
                    delay = (delay * 2).min(Duration::from_secs(8));
                }
            }
        }
    }

    /// The upgrade as a user does it (docs/upgrading.md): this tree's CRD first, server-side, then
    /// `helm upgrade` to this tree's chart and images (`--wait`: the operator's pods rolled).
    pub async fn upgrade_operator(&self) -> Result<(), ChaosError> {
        run(
            "kubectl",
            &[
                "--kubeconfig",
                &self.kubeconfig,
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                "crds/tweetpipe.io_tweetpipelines.yaml",
            ],
        )
        .await?;
        self.install_operator(&self.current()).await
    }

    /// The pipeline's worker images that are not `tag`: in the workloads' templates and in the
    /// pods still running (not terminating). Empty once the workers rolled to `tag`.
    pub async fn workers_not_on(&self, tag: &str) -> Result<Vec<String>, ChaosError> {
        let prefix = format!("{PIPELINE}-");
        let suffix = format!(":{tag}");
        let mut stale = Vec::new();
        let mut check = |owner: String, containers: &[k8s_openapi::api::core::v1::Container]| {
            for image in containers.iter().filter_map(|c| c.image.as_deref()) {
                if !image.ends_with(&suffix) {
                    stale.push(format!("{owner}: {image}"));
                }
            }
        };
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &self.namespace);
        let sets: Api<StatefulSet> = Api::namespaced(self.client.clone(), &self.namespace);
        let templates = deployments
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|d| {
                (
                    "Deployment",
                    d.metadata.name,
                    d.spec.and_then(|s| s.template.spec),
                )
            })
            .chain(
                sets.list(&ListParams::default())
                    .await?
                    .items
                    .into_iter()
                    .map(|s| {
                        (
                            "StatefulSet",
                            s.metadata.name,
                            s.spec.and_then(|s| s.template.spec),
                        )
                    }),
            );
        for (kind, name, pod) in templates {
            let name = name.unwrap_or_default();
            if let Some(pod) = pod
                && name.starts_with(&prefix)
            {
                check(format!("{kind} {name}"), &pod.containers);
            }
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        for p in pods.list(&ListParams::default()).await?.items {
            let name = p.metadata.name.unwrap_or_default();
            if let Some(spec) = p.spec
                && name.starts_with(&prefix)
                && p.metadata.deletion_timestamp.is_none()
            {
                check(format!("Pod {name}"), &spec.containers);
            }
        }
        Ok(stale)
    }

    /// The pipeline's `Ready` condition for its current generation, as (status, reason).
    pub async fn ready_condition(&self) -> Option<(String, String)> {
        let tp = self.pipelines().get_opt(PIPELINE).await.ok()??;
        let generation = tp.metadata.generation?;
        let status = tp.data.get("status")?;
        if status.get("observedGeneration")?.as_i64()? != generation {
            return None;
        }
        status.get("conditions")?.as_array()?.iter().find_map(|c| {
            (c.get("type")?.as_str()? == "Ready").then(|| {
                let field = |k: &str| {
                    c.get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string()
                };
                (field("status"), field("reason"))
            })
        })
    }

    pub async fn wait_ready(&self, bound: Duration) -> Result<(), ChaosError> {
        wait("the pipeline to be Ready", bound, || async {
            self.ready_condition()
                .await
                .filter(|(status, _)| status == "True")
                .map(drop)
        })
        .await
    }

    /// Force-deletes one running pod of `role`, chosen with `rng`; the name, or `None` if none runs.
    pub async fn kill_pod(
        &self,
        role: Role,
        rng: &mut StdRng,
    ) -> Result<Option<String>, ChaosError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let params = match role {
            Role::Operator => ListParams::default()
                .labels(&format!("app.kubernetes.io/instance={}", self.release)),
            Role::Extractor | Role::Transformer => ListParams::default(),
        };
        let prefix = match role {
            Role::Extractor => format!("{PIPELINE}-extractor-"),
            Role::Transformer => format!("{PIPELINE}-transformer-"),
            Role::Operator => String::new(),
        };
        let mut names: Vec<String> = pods
            .list(&params)
            .await?
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name)
            .filter(|n| n.starts_with(&prefix))
            .collect();
        if names.is_empty() {
            return Ok(None);
        }
        names.sort();
        let victim = names.swap_remove(rng.random_range(0..names.len()));
        let force = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        match pods.delete(&victim, &force).await {
            Ok(_) => Ok(Some(victim)),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the pipeline (its `Delete` policy drops topics, database and accounts), waits for
    /// the operator to finish, then uninstalls the chart and deletes the namespace.
    pub async fn clean_up(&self) -> Result<(), ChaosError> {
        let api = self.pipelines();
        let _ = api.delete(PIPELINE, &DeleteParams::default()).await;
        let gone = wait("the pipeline's cleanup", Duration::from_secs(300), || {
            let api = api.clone();
            async move { api.get_opt(PIPELINE).await.ok()?.is_none().then_some(()) }
        })
        .await;
        run(
            "helm",
            &[
                "--kubeconfig",
                &self.kubeconfig,
                "uninstall",
                &self.release,
                "--namespace",
                &self.namespace,
                "--wait",
            ],
        )
        .await?;
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.namespace, &DeleteParams::background())
            .await;
        // Waited for, so the next run does not install into a terminating namespace.
        let namespace_gone = wait("the namespace's deletion", Duration::from_secs(180), || {
            let namespaces = namespaces.clone();
            async move {
                namespaces
                    .get_opt(&self.namespace)
                    .await
                    .ok()?
                    .is_none()
                    .then_some(())
            }
        })
        .await;
        gone.and(namespace_gone)
    }
}

/// Runs a command to completion; its output on failure.
pub async fn run(program: &str, args: &[&str]) -> Result<String, ChaosError> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| ChaosError::Command {
            command: program.to_string(),
            message: e.to_string(),
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(ChaosError::Command {
            command: format!(
                "{program} {}",
                args.iter().take(6).cloned().collect::<Vec<_>>().join(" ")
            ),
            message: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

/// Polls `check` every second until it yields `Some`, or fails after `bound`.
pub async fn wait<T, F, Fut>(what: &str, bound: Duration, mut check: F) -> Result<T, ChaosError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ChaosError::Timeout {
                what: what.to_string(),
                seconds: bound.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// 50–100 % of `delay`, so retries of several callers do not line up.
pub fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.5..=1.0))
}
