//! The pipeline's own finalizer and the finalizers that keep the Secrets it needs for deletion
//! alive. `kubectl delete namespace`, or `kubectl delete -f` on a file holding both the Secrets
//! and the pipeline, deletes the Secrets first; with our finalizer on them they stay readable
//! until the pipeline's cleanup is done, then the operator lets them go.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::error::Error;
use super::observe::secrets::referenced_names;
use crate::crd::{DeletionPolicy, FINALIZER, TweetPipeline};
use crate::decide::stream;

/// Finalizer the operator puts on Secrets a pipeline needs for its cleanup (a `Delete`
/// pipeline's, and the tokens of one with stream rules).
pub const SECRET_FINALIZER: &str = "tweetpipe.io/needed-for-cleanup";

/// A merge patch setting the finalizer list, guarded by the resource version so a concurrent
/// change is a conflict (retried) rather than lost.
fn finalizers_patch(
    resource_version: Option<&str>,
    finalizers: &[String],
) -> Patch<serde_json::Value> {
    Patch::Merge(json!({
        "metadata": {"resourceVersion": resource_version, "finalizers": finalizers}
    }))
}

/// Adds the pipeline finalizer if missing.
pub async fn ensure_pipeline_finalizer(client: &Client, tp: &TweetPipeline) -> Result<(), Error> {
    if tp.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut finalizers = tp.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    patch_pipeline(client, tp, &finalizers).await
}

/// Removes the pipeline finalizer (cleanup done): the API server then deletes the object.
pub async fn remove_pipeline_finalizer(client: &Client, tp: &TweetPipeline) -> Result<(), Error> {
    let finalizers: Vec<String> = tp
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    match patch_pipeline(client, tp, &finalizers).await {
        // Already gone (someone removed the finalizer by hand): nothing left to do.
        Err(Error::Finalizer {
            source: kube::Error::Api(status),
            ..
        }) if status.code == 404 => Ok(()),
        other => other,
    }
}

async fn patch_pipeline(
    client: &Client,
    tp: &TweetPipeline,
    finalizers: &[String],
) -> Result<(), Error> {
    let api: Api<TweetPipeline> =
        Api::namespaced(client.clone(), &tp.namespace().unwrap_or_default());
    api.patch(
        &tp.name_any(),
        &PatchParams::default(),
        &finalizers_patch(tp.resource_version().as_deref(), finalizers),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Finalizer {
        what: format!("TweetPipeline {}", tp.name_any()),
        source,
    })
}

/// Secrets of `namespace` that must stay until cleanup: those referenced by a `Delete` pipeline,
/// and the bearer tokens of a pipeline with stream rules (whichever its policy: they delete the
/// rules), whose cleanup has not finished (pure; `finished` is the pipeline just cleaned up, if
/// any).
pub fn protected<'a>(
    pipelines: impl IntoIterator<Item = &'a TweetPipeline>,
    namespace: &str,
    finished: Option<&str>,
) -> BTreeSet<String> {
    pipelines
        .into_iter()
        .filter(|tp| tp.namespace().as_deref() == Some(namespace))
        .filter(|tp| finished.is_none_or(|uid| tp.uid().as_deref() != Some(uid)))
        // A pipeline being deleted without our finalizer needs nothing any more.
        .filter(|tp| {
            tp.meta().deletion_timestamp.is_none() || tp.finalizers().iter().any(|f| f == FINALIZER)
        })
        .flat_map(|tp| {
            let mut names = if tp.spec.deletion_policy == DeletionPolicy::Delete {
                referenced_names(&tp.spec)
            } else {
                Vec::new()
            };
            if stream::had_stream_rules(tp) {
                names.extend(tp.spec.source.tokens.iter().map(|t| t.name.clone()));
            }
            names
        })
        .collect()
}

/// Puts our finalizer on the Secrets of `namespace` that `protected` names and takes it off the
/// others, from the watch caches (a patch only where something changes).
pub async fn sync_secret_finalizers(
    client: &Client,
    secrets: &Store<Secret>,
    pipelines: &Store<DeserializeGuard<TweetPipeline>>,
    namespace: &str,
    finished: Option<&str>,
) -> Result<(), Error> {
    let all = pipelines.state();
    let valid = all.iter().filter_map(|g| g.0.as_ref().ok());
    let wanted = protected(valid, namespace, finished);
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for secret in secrets.state() {
        if secret.namespace().as_deref() != Some(namespace) {
            continue;
        }
        let name = secret.name_any();
        let has = secret.finalizers().iter().any(|f| f == SECRET_FINALIZER);
        let want = wanted.contains(&name);
        if has == want {
            continue;
        }
        let mut finalizers: Vec<String> = secret
            .finalizers()
            .iter()
            .filter(|f| *f != SECRET_FINALIZER)
            .cloned()
            .collect();
        if want {
            finalizers.push(SECRET_FINALIZER.to_string());
        }
        match api
            .patch(
                &name,
                &PatchParams::default(),
                &finalizers_patch(secret.resource_version().as_deref(), &finalizers),
            )
            .await
        {
            Ok(_) => {}
            // Deleted meanwhile: nothing to protect or release.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            // Another reconcile (pipelines sharing the Secret) changed it first; every
            // reconcile syncs again, so the next one converges from the fresh copy.
            // Not during cleanup: no later reconcile of this pipeline would release the Secret.
            Err(kube::Error::Api(status)) if status.code == 409 && finished.is_none() => {
                tracing::debug!(secret = %name, "Secret changed meanwhile; finalizer synced next time");
            }
            Err(source) => {
                return Err(Error::Finalizer {
                    what: format!("Secret {name}"),
                    source,
                });
            }
        }
    }
    Ok(())
}
