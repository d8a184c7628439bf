//! The database accounts a pipeline should have: the transformers' writer (its password made
//! once and kept in the operator's own Secret) and the optional reporting user.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use rand::distr::{Alphanumeric, SampleString};
use tweetpipe_schema::Role;

use super::secrets::{Resolved, SecretString};
use crate::build::workloads::WRITER_PASSWORD_KEY;
use crate::crd::TweetPipeline;
use crate::labels::{mysql_secret_name, writer_account_name};
use crate::reconcile::dependencies::mysql::DesiredAccount;

/// The writer account: its name from the pipeline, its password from the operator's Secret, or a
/// new random one when that Secret does not exist yet.
pub fn writer(store: &Store<Secret>, tp: &TweetPipeline) -> DesiredAccount {
    let namespace = tp.namespace().unwrap_or_default();
    let existing = store
        .get(&ObjectRef::new(&mysql_secret_name(tp)).within(&namespace))
        .and_then(|s| s.data.clone())
        .and_then(|d| d.get(WRITER_PASSWORD_KEY).cloned())
        .and_then(|v| String::from_utf8(v.0).ok())
        .filter(|p| p.len() >= 16 && p.chars().all(|c| c.is_ascii_alphanumeric()));
    let password = existing.unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::rng(), 32));
    DesiredAccount {
        user: writer_account_name(tp),
        password: SecretString::new(password),
        role: Role::Writer,
        // Set from the spec and the admin URL by `observe::references`.
        require_tls: false,
    }
}

/// The reporting user, when the spec asks for one.
pub fn reporting(tp: &TweetPipeline, resolved: &Resolved) -> Option<DesiredAccount> {
    let user = tp.spec.mysql.reporting_user.as_ref()?;
    let password = resolved.reporting_password.clone()?;
    Some(DesiredAccount {
        user: user.name.clone(),
        password,
        role: Role::Reporting,
        require_tls: false,
    })
}
