//! Every object a pipeline's workloads need, rendered from the spec and the plan in one pure call.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PodTemplateSpec, Secret, Service};
use kube::ResourceExt;

use super::workloads::{self, WorkerDefaults};
use super::{secret_digest, worker_config};
use crate::crd::TweetPipeline;
use crate::decide::plan::{self, Plan};
use crate::labels::Component;

/// What the builder needs besides the spec and the plan.
#[derive(Debug, Clone, Copy)]
pub struct BuildInputs<'a> {
    /// Images and settings of the workers.
    pub defaults: &'a WorkerDefaults,
    /// The transformers' MySQL URL (writer account, pipeline database).
    pub writer_url: &'a str,
    /// The writer's password (kept in the same Secret for the next reconcile).
    pub writer_password: &'a str,
    /// The Secrets the spec references, as observed (`None` = absent): the keys each pod
    /// mounts are digested onto its template, so a rotated Secret rolls the pods.
    pub secrets: &'a BTreeMap<String, Option<Secret>>,
}

/// The pipeline's objects, in the order they are applied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resources {
    /// Mounted by pods: applied first, so a new pod never starts without them.
    pub config_maps: Vec<ConfigMap>,
    /// The transformers' MySQL Secret.
    pub secret: Secret,
    /// Headless Services of both components.
    pub services: Vec<Service>,
    /// Extractors.
    pub statefulset: StatefulSet,
    /// Transformers.
    pub deployment: Deployment,
}

/// Renders every object for `plan`.
pub fn resources(
    tp: &TweetPipeline,
    plan: &Plan,
    inputs: BuildInputs<'_>,
) -> Result<Resources, serde_json::Error> {
    let extractor =
        worker_config::extractor_config(tp, &plan.query_shares, plan::monthly_post_budget(tp));
    let transformer = worker_config::transformer_config(tp);
    let rendered = workloads::render(&extractor, &transformer)?;
    let mut built = Resources {
        config_maps: vec![
            workloads::config_map(
                tp,
                Component::Extractor,
                "extractor.json",
                &rendered.extractor,
            ),
            workloads::config_map(
                tp,
                Component::Transformer,
                "transformer.json",
                &rendered.transformer,
            ),
        ],
        secret: workloads::mysql_secret(tp, inputs.writer_url, inputs.writer_password),
        services: vec![
            workloads::service(tp, Component::Extractor),
            workloads::service(tp, Component::Transformer),
        ],
        statefulset: workloads::extractor_statefulset(
            tp,
            inputs.defaults,
            plan.scaling.replicas,
            &rendered.extractor_restart_key,
        ),
        deployment: workloads::transformer_deployment(
            tp,
            inputs.defaults,
            plan.transformer_replicas,
            &rendered.transformer,
        ),
    };
    // The pods mount the user's Secrets and the transformer's own one, built just above.
    let mut secrets: BTreeMap<String, Option<&Secret>> = inputs
        .secrets
        .iter()
        .map(|(name, secret)| (name.clone(), secret.as_ref()))
        .collect();
    secrets.insert(built.secret.name_any(), Some(&built.secret));
    let salt = tp.uid().unwrap_or_default();
    let stamp = |template: &mut PodTemplateSpec| {
        let mounted = workloads::mounted_secret_keys(template);
        workloads::set_secrets_hash(template, secret_digest::digest(&salt, &mounted, &secrets));
    };
    let templates = [
        built.statefulset.spec.as_mut().map(|s| &mut s.template),
        built.deployment.spec.as_mut().map(|s| &mut s.template),
    ];
    templates.into_iter().flatten().for_each(stamp);
    Ok(built)
}
