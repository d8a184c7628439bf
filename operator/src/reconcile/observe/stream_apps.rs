//! Which app each pipeline's stream queries use, from the operator's caches of pipelines and
//! Secrets, for [`crate::decide::stream::judge_apps`]. An app is known by a digest of its bearer
//! token, salted per process: computed here, compared in memory, never logged nor stored.

use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;
use sha2::{Digest, Sha256};

use super::pipeline_key;
use super::secrets::{SecretString, lookup};
use crate::crd::TweetPipeline;
use crate::decide::conditions::Check;
use crate::decide::stream::{self, AppUse};

/// The salt of every digest in this process: a digest means nothing outside it.
fn salt() -> &'static [u8; 32] {
    static SALT: OnceLock<[u8; 32]> = OnceLock::new();
    SALT.get_or_init(rand::random)
}

/// Which app a token belongs to (equal tokens, equal digests).
fn app_of(token: &SecretString) -> String {
    let digest = Sha256::new()
        .chain_update(salt())
        .chain_update(token.expose().as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stream uses of one pipeline whose tokens resolve; `None` when one of its stream tokens
/// does not (its Secret or key is missing).
fn uses_of(tp: &TweetPipeline, secrets: &Store<Secret>) -> Option<Vec<AppUse>> {
    let namespace = tp.namespace().unwrap_or_default();
    let pipeline = pipeline_key(tp);
    stream::rules_per_token(&tp.spec)
        .into_iter()
        .map(|(token, rules)| {
            let reference = tp.spec.source.tokens.get(token)?;
            let value = lookup(secrets, &namespace, reference)?;
            Some(AppUse {
                pipeline: pipeline.clone(),
                token,
                app: app_of(&value),
                rules,
                connects: !tp.spec.suspend,
            })
        })
        .collect()
}

/// `tp`'s apps judged against every pipeline the operator sees; `None` when `tp` has no stream
/// query. Pipelines being deleted are left out (their extractors stop and their rules go), and
/// so are those whose tokens do not resolve (they have no extractor to hold a connection).
pub fn judge(
    tp: &TweetPipeline,
    pipelines: &Store<DeserializeGuard<TweetPipeline>>,
    secrets: &Store<Secret>,
) -> Option<Check> {
    if !stream::streams(&tp.spec) {
        return None;
    }
    let me = pipeline_key(tp);
    let Some(mut uses) = uses_of(tp, secrets) else {
        return Some(Check::Skipped(
            "a bearer token of the stream queries is missing (see SecretsResolved)".into(),
        ));
    };
    for other in pipelines.state() {
        let Ok(other) = &other.0 else { continue };
        if pipeline_key(other) == me || other.metadata.deletion_timestamp.is_some() {
            continue;
        }
        uses.extend(uses_of(other, secrets).unwrap_or_default());
    }
    let level = tweetpipe_xquery::AccessLevel::from(tp.spec.source.access_level);
    Some(stream::judge_apps(&me, level, &uses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_tells_tokens_apart_and_shows_none() {
        let a = SecretString::new("AAA-secret-token".into());
        let b = SecretString::new("BBB-secret-token".into());
        assert_eq!(app_of(&a), app_of(&a.clone()));
        assert_ne!(app_of(&a), app_of(&b));
        assert!(!app_of(&a).contains("AAA"));
        assert_eq!(app_of(&a).len(), 64);
    }
}
