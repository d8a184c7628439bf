//! The pipeline's workloads as the API server has them: ready replicas and the transformer
//! Deployment's current size.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::{Api, Client, ResourceExt};

use crate::crd::TweetPipeline;
use crate::labels::{Component, object_name};

/// Ready and current replicas of both workloads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkloadState {
    /// Ready extractor pods.
    pub extractor_ready: i32,
    /// Ready transformer pods.
    pub transformer_ready: i32,
    /// The transformer Deployment's `spec.replicas`, if it exists.
    pub transformer_current: Option<i32>,
    /// The extractor StatefulSet's `spec.replicas`, if it exists.
    pub extractor_current: Option<i32>,
}

/// Reads both workloads (absent ones count as zero).
pub async fn read(client: &Client, tp: &TweetPipeline) -> Result<WorkloadState, kube::Error> {
    let namespace = tp.namespace().unwrap_or_default();
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let (extractor_name, transformer_name) = (
        object_name(tp, Component::Extractor),
        object_name(tp, Component::Transformer),
    );
    let (extractor, transformer) = futures::try_join!(
        statefulsets.get_opt(&extractor_name),
        deployments.get_opt(&transformer_name),
    )?;
    Ok(WorkloadState {
        extractor_ready: extractor
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
        transformer_ready: transformer
            .as_ref()
            .and_then(|d| d.status.as_ref())
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
        extractor_current: extractor
            .as_ref()
            .and_then(|s| s.spec.as_ref())
            .and_then(|s| s.replicas),
        transformer_current: transformer
            .as_ref()
            .and_then(|d| d.spec.as_ref())
            .and_then(|s| s.replicas),
    })
}
