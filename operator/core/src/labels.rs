//! Names, labels and selectors of everything the operator makes for a pipeline. The lowest layer
//! after the CRD: decisions (status selectors) and builders both use it.

use std::collections::BTreeMap;

use crate::crd::TweetPipeline;

/// Label that assigns a pipeline to a named operator instance (like an ingress class).
pub const INSTANCE_LABEL: &str = "tweetpipe.io/operator-instance";
/// Label on every object the operator makes.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "tweetpipe-operator");

/// Pipelines an operator reconciles: those labelled with its instance, or, for the default
/// operator (no instance), those without the label. Two installations never fight over one pipeline.
pub fn instance_selector(instance: Option<&str>) -> String {
    match instance {
        Some(name) => format!("{INSTANCE_LABEL}={name}"),
        None => format!("!{INSTANCE_LABEL}"),
    }
}

/// Selector of every object the operator makes.
pub fn managed_selector() -> String {
    format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)
}

/// Label naming the pipeline.
pub const PIPELINE_LABEL: &str = "tweetpipe.io/pipeline";
/// Label naming the component.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Which worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// X API → Kafka.
    Extractor,
    /// Kafka → MySQL.
    Transformer,
}

impl Component {
    /// Label value and name suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Extractor => "extractor",
            Component::Transformer => "transformer",
        }
    }
}

/// `<pipeline>-<component>`: the name of the workload, its ConfigMap and its Service.
pub fn object_name(tp: &TweetPipeline, component: Component) -> String {
    format!(
        "{}-{}",
        tp.metadata.name.as_deref().unwrap_or_default(),
        component.as_str()
    )
}

/// Name of the Secret holding the transformer's MySQL URL.
pub fn mysql_secret_name(tp: &TweetPipeline) -> String {
    format!(
        "{}-transformer-mysql",
        tp.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Labels selecting a component's pods.
pub fn selector_labels(tp: &TweetPipeline, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            PIPELINE_LABEL.to_string(),
            tp.metadata.name.clone().unwrap_or_default(),
        ),
        (COMPONENT_LABEL.to_string(), component.as_str().to_string()),
    ])
}

/// The selector as a string (status, scale subresource).
pub fn selector_string(tp: &TweetPipeline, component: Component) -> String {
    selector_labels(tp, component)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every label of a component's objects.
pub fn labels(tp: &TweetPipeline, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector_labels(tp, component);
    labels.insert(
        "app.kubernetes.io/name".into(),
        format!("tweetpipe-{}", component.as_str()),
    );
    labels.insert(
        "app.kubernetes.io/instance".into(),
        tp.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert("app.kubernetes.io/part-of".into(), "tweetpipe".into());
    labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    labels
}

/// The transformers' MySQL account: `tpw_` and a stable hash of the pipeline's namespace and
/// name (20 characters: within MySQL's 32-character limit, and never a user's own account).
pub fn writer_account_name(tp: &TweetPipeline) -> String {
    let key = format!(
        "{}/{}",
        tp.metadata.namespace.as_deref().unwrap_or_default(),
        tp.metadata.name.as_deref().unwrap_or_default()
    );
    format!("tpw_{}", stable_hash(&key))
}

/// A short hash that is the same in every build and process (FNV-1a), as 16 hex digits.
pub fn stable_hash(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}
