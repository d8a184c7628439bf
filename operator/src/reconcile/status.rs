//! Writes the status, only when it differs from the one on the object. Status writes never
//! trigger a reconcile (the controller filters on `metadata.generation`).

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::error::Error;
use crate::crd::{TweetPipeline, TweetPipelineStatus};

/// Writes `status` if it changed; returns whether it wrote.
pub async fn write(
    client: &Client,
    tp: &TweetPipeline,
    status: &TweetPipelineStatus,
) -> Result<bool, Error> {
    if tp.status.as_ref() == Some(status) {
        return Ok(false);
    }
    let api: Api<TweetPipeline> =
        Api::namespaced(client.clone(), &tp.namespace().unwrap_or_default());
    // Our own types: a failure here is a bug, but it is this step's, not the worker configs'.
    let mut value =
        serde_json::to_value(status).map_err(|e| Error::Status(kube::Error::SerdeError(e)))?;
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
    .await
    .map_err(Error::Status)?;
    Ok(true)
}
