//! Server-side apply of the pipeline's objects, and status writes only when something changed.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::build::worker_config;
use crate::build::workloads::{self, Component, WorkerDefaults};
use crate::crd::{TweetPipeline, TweetPipelineStatus};
use crate::decide::plan::{self, Plan};

use super::mysql;
use super::secrets::Resolved;

/// Field manager of everything the operator applies.
pub const MANAGER: &str = "tweetpipe-operator";

async fn ssa<K>(client: &Client, namespace: &str, object: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.patch(
        &object.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await?;
    Ok(())
}

/// Applies ConfigMaps, Services, the MySQL Secret and both workloads for `plan`.
pub async fn apply_workloads(
    client: &Client,
    tp: &TweetPipeline,
    plan: &Plan,
    secrets: &Resolved,
    defaults: &WorkerDefaults,
) -> Result<(), crate::reconcile::controller::Error> {
    let namespace = tp.namespace().unwrap_or_default();
    let extractor =
        worker_config::extractor_config(tp, &plan.assignments, plan::monthly_post_budget(tp));
    let transformer = worker_config::transformer_config(tp);
    let rendered = workloads::render(&extractor, &transformer)?;
    let url = mysql::url_with_database(secrets.mysql_admin_url.expose(), &tp.spec.mysql.database);

    let extractor_config = workloads::config_map(
        tp,
        Component::Extractor,
        "extractor.json",
        &rendered.extractor,
    );
    let transformer_config = workloads::config_map(
        tp,
        Component::Transformer,
        "transformer.json",
        &rendered.transformer,
    );
    let mysql_secret = workloads::mysql_secret(tp, &url);
    let extractor_service = workloads::service(tp, Component::Extractor);
    let transformer_service = workloads::service(tp, Component::Transformer);
    // What the pods mount first, so a new pod never starts without its config.
    futures::try_join!(
        ssa(client, &namespace, &extractor_config),
        ssa(client, &namespace, &transformer_config),
        ssa::<Secret>(client, &namespace, &mysql_secret),
        ssa::<Service>(client, &namespace, &extractor_service),
        ssa::<Service>(client, &namespace, &transformer_service),
    )?;
    let statefulset =
        workloads::extractor_statefulset(tp, defaults, plan.scaling.replicas, &rendered.extractor);
    let deployment = workloads::transformer_deployment(
        tp,
        defaults,
        plan.transformer_replicas,
        &rendered.transformer,
    );
    futures::try_join!(
        ssa::<StatefulSet>(client, &namespace, &statefulset),
        ssa::<Deployment>(client, &namespace, &deployment),
    )?;
    Ok(())
}

/// Scales existing workloads to zero without touching anything else (suspend while Secrets are missing).
pub async fn scale_to_zero(client: &Client, tp: &TweetPipeline) -> Result<(), kube::Error> {
    let namespace = tp.namespace().unwrap_or_default();
    let patch = Patch::Merge(json!({"spec": {"replicas": 0}}));
    let params = PatchParams::default();
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
    if statefulsets
        .get_opt(&workloads::object_name(tp, Component::Extractor))
        .await?
        .is_some()
    {
        statefulsets
            .patch(
                &workloads::object_name(tp, Component::Extractor),
                &params,
                &patch,
            )
            .await?;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    if deployments
        .get_opt(&workloads::object_name(tp, Component::Transformer))
        .await?
        .is_some()
    {
        deployments
            .patch(
                &workloads::object_name(tp, Component::Transformer),
                &params,
                &patch,
            )
            .await?;
    }
    Ok(())
}

/// Ready replicas of the extractor StatefulSet and of the transformer Deployment, and the
/// Deployment's current replica count.
pub async fn workload_state(
    client: &Client,
    tp: &TweetPipeline,
) -> Result<(i32, i32, Option<i32>), kube::Error> {
    let namespace = tp.namespace().unwrap_or_default();
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let extractor = statefulsets
        .get_opt(&workloads::object_name(tp, Component::Extractor))
        .await?;
    let transformer = deployments
        .get_opt(&workloads::object_name(tp, Component::Transformer))
        .await?;
    let extractor_ready = extractor
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let transformer_ready = transformer
        .as_ref()
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let transformer_current = transformer
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas);
    Ok((extractor_ready, transformer_ready, transformer_current))
}

/// Writes the status if it differs from the one on the object; returns whether it wrote.
pub async fn write_status(
    client: &Client,
    tp: &TweetPipeline,
    status: &TweetPipelineStatus,
) -> Result<bool, kube::Error> {
    if tp.status.as_ref() == Some(status) {
        return Ok(false);
    }
    let api: Api<TweetPipeline> =
        Api::namespaced(client.clone(), &tp.namespace().unwrap_or_default());
    let mut value = serde_json::to_value(status).map_err(kube::Error::SerdeError)?;
    // A merge patch keeps fields it does not mention: clear the monthly block when the cap went away.
    if status.monthly.is_none()
        && let Some(object) = value.as_object_mut()
    {
        object.insert("monthly".into(), serde_json::Value::Null);
    }
    api.patch_status(
        &tp.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": value })),
    )
    .await?;
    Ok(true)
}
