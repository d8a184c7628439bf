//! Sends server-side apply patches; nothing else. What to apply was decided and built before.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::Error;
use crate::build::resources::Resources;
use crate::crd::TweetPipeline;
use crate::labels::{Component, object_name};

/// Field manager of everything the operator applies.
pub const MANAGER: &str = "tweetpipe-operator";

async fn ssa<K>(client: &Client, namespace: &str, object: &K) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let name = object.name_any();
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|source| Error::Apply {
        kind: K::kind(&()).to_string(),
        name,
        source,
    })?;
    Ok(())
}

/// Applies every object: what pods mount first, then the workloads.
pub async fn apply(client: &Client, namespace: &str, resources: &Resources) -> Result<(), Error> {
    let mounted = resources
        .config_maps
        .iter()
        .map(|c| ssa(client, namespace, c))
        .collect::<Vec<_>>();
    let services = resources
        .services
        .iter()
        .map(|s| ssa(client, namespace, s))
        .collect::<Vec<_>>();
    futures::try_join!(
        futures::future::try_join_all(mounted),
        futures::future::try_join_all(services),
        ssa(client, namespace, &resources.secret),
    )?;
    futures::try_join!(
        ssa(client, namespace, &resources.statefulset),
        ssa(client, namespace, &resources.deployment),
    )?;
    Ok(())
}

/// Scales existing workloads to zero without touching anything else (suspended while Secrets
/// are missing, so nothing else can be rendered).
pub async fn scale_to_zero(client: &Client, tp: &TweetPipeline) -> Result<(), Error> {
    let namespace = tp.namespace().unwrap_or_default();
    let patch = Patch::Merge(json!({"spec": {"replicas": 0}}));
    let params = PatchParams::default();
    let not_found = |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.code == 404);
    let extractor = object_name(tp, Component::Extractor);
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
    match statefulsets.patch(&extractor, &params, &patch).await {
        Err(e) if !not_found(&e) => {
            return Err(Error::Apply {
                kind: "StatefulSet".into(),
                name: extractor,
                source: e,
            });
        }
        _ => {}
    }
    let transformer = object_name(tp, Component::Transformer);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    match deployments.patch(&transformer, &params, &patch).await {
        Err(e) if !not_found(&e) => Err(Error::Apply {
            kind: "Deployment".into(),
            name: transformer,
            source: e,
        }),
        _ => Ok(()),
    }
}
