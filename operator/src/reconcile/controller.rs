//! Runs the controller: which changes wake a reconcile, and how many run at once.
//!
//! At rest a pipeline costs one reconcile per status refresh interval. Status writes (progress,
//! lag, forecast timestamps move with every poll) never wake one: the pipeline stream passes only
//! changes of `metadata.generation` (spec edits, deletion) and labels. Owned workloads wake their
//! pipeline when pods become ready or not; a Secret wakes the pipelines that reference it when its
//! data changes (so a created or fixed Secret is picked up at once, not at the next requeue).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::warn;

use super::context::Context;
use super::observe::secrets::referenced_names;
use super::served_version;
use super::{Shared, error_policy, reconcile};
use crate::crd::TweetPipeline;
use crate::kube_clients::KubeClients;
use crate::labels::{instance_selector, managed_selector};

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Hash of a Secret's data and deletion state: finalizer or label edits do not wake pipelines.
fn secret_content(secret: &Secret) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    for (key, value) in secret.data.iter().flatten() {
        key.hash(&mut hasher);
        value.0.hash(&mut hasher);
    }
    secret.string_data.hash(&mut hasher);
    secret.meta().deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

/// Pipelines in the Secret's namespace that reference it.
fn pipelines_using(
    pipelines: &Store<DeserializeGuard<TweetPipeline>>,
    secret: &Secret,
) -> Vec<ObjectRef<DeserializeGuard<TweetPipeline>>> {
    let namespace = secret.namespace();
    let name = secret.name_any();
    pipelines
        .state()
        .iter()
        .filter(|g| g.meta().namespace == namespace)
        .filter(|g| {
            g.0.as_ref()
                .is_ok_and(|tp| referenced_names(&tp.spec).contains(&name))
        })
        .map(|g| ObjectRef::from_obj(g.as_ref()))
        .collect()
}

/// The Secret watch cache: Helm release and service-account token Secrets are left out (large,
/// never referenced), and managed fields are dropped to keep memory small.
pub fn secret_stream(
    client: &Client,
    namespace: Option<&str>,
) -> (
    Store<Secret>,
    impl futures::Stream<Item = Result<Secret, watcher::Error>> + Send + 'static,
) {
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default()
        .fields("type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token");
    let stream = watcher(api::<Secret>(client, namespace), config)
        .default_backoff()
        .modify(|s| {
            s.managed_fields_mut().clear();
        })
        .reflect(writer)
        .applied_objects();
    (reader, stream)
}

/// Runs the controllers until shutdown: one for every namespace when `namespaces` is empty, else
/// one per namespace listed (each with its own watches and Secret cache, so the operator needs
/// no cluster-wide list or watch: per-namespace Roles suffice); `instance` selects the pipelines
/// labelled for this operator instance.
pub async fn run(
    clients: KubeClients,
    make_context: impl Fn(Store<Secret>) -> Context,
    namespaces: &[String],
    instance: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    // One shutdown signal, heard by every controller.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let controllers = scopes.into_iter().map(|namespace| {
        let mut stopped = stopped.clone();
        run_one(
            clients.watches.clone(),
            &make_context,
            namespace,
            instance.as_deref(),
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        )
    });
    let all = futures::future::join_all(controllers);
    tokio::pin!(all);
    tokio::select! {
        _ = &mut all => {}
        () = shutdown => {
            let _ = stop.send(true);
            all.await;
        }
    }
}

/// One controller over one namespace (`None`: all).
async fn run_one(
    client: Client,
    make_context: &impl Fn(Store<Secret>) -> Context,
    namespace: Option<&str>,
    instance: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let mut shutdown = Box::pin(shutdown);
    let pipelines_api = api::<TweetPipeline>(&client, namespace);
    tokio::select! {
        () = served_version::wait_until_served(&pipelines_api, namespace) => {}
        () = &mut shutdown => return,
    }
    // Watches on their own client: its read timeout outlives a watch; requests' does not.
    let (secrets, secret_changes) = secret_stream(&client, namespace);
    let (pipelines, writer) = reflector::store();
    let selector = instance_selector(instance);
    let pipeline_changes = watcher(
        api::<DeserializeGuard<TweetPipeline>>(&client, namespace),
        watcher::Config::default().labels(&selector).any_semantic(),
    )
    .default_backoff()
    .modify(|g| {
        g.managed_fields_mut().clear();
    })
    .reflect(writer)
    .applied_objects()
    .predicate_filter(
        predicates::generation.combine(predicates::labels),
        Default::default(),
    );
    let shared = Arc::new(Shared {
        ctx: make_context(secrets.clone()),
        pipelines: pipelines.clone(),
    });
    let owned = watcher::Config::default().labels(&managed_selector());
    let concurrency = shared.ctx.settings.concurrency;
    let store_for_secrets = pipelines.clone();
    Controller::for_stream(pipeline_changes, pipelines)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .owns(api::<StatefulSet>(&client, namespace), owned.clone())
        .owns(api::<Deployment>(&client, namespace), owned)
        .watches_stream(
            secret_changes.predicate_filter(secret_content, Default::default()),
            move |secret| pipelines_using(&store_for_secrets, &secret),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, shared)
        .for_each(|result| async move {
            match result {
                // A requeue for an object deleted meanwhile: expected, not a problem.
                Err(kube::runtime::controller::Error::ObjectNotFound(object)) => {
                    tracing::debug!(%object, "object gone before its requeue")
                }
                // Reconcile errors were already logged by the error policy.
                Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
                Err(e) => warn!(error = %e, "controller stream error"),
                Ok(_) => {}
            }
        })
        .await;
}
