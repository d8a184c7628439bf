//! The bench's fixtures around the pipelines: the CRD, the two namespaces (the active one with a
//! `pods: 0` quota), the Secrets the pipelines reference, and a MySQL admin account of the
//! operator's own, so its connections can be counted by user name.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use rand::distr::{Alphanumeric, SampleString};
use sqlx::MySqlPool;

/// Applies the CRD of this build and waits until the API server serves it.
pub async fn apply_crd(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "tweetpipelines.tweetpipe.io",
        &PatchParams::apply("tweetpipe-bench").force(),
        &Patch::Apply(tweetpipe_operator::crd::definition()),
    )
    .await?;
    for _ in 0..60 {
        let crd = crds.get("tweetpipelines.tweetpipe.io").await?;
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("the TweetPipeline CRD was not established within 30 s")
}

pub async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
    namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    Ok(())
}

/// No pod can be created in `namespace`: the workloads exist, their pods never do.
pub async fn forbid_pods(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), namespace);
    let quota = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "no-pods"},
        "spec": {"hard": {"pods": "0"}}
    }))?;
    quotas.create(&PostParams::default(), &quota).await?;
    Ok(())
}

/// The Secrets every bench pipeline references: `x-token` (key `token`), `mysql-admin` (`url`).
pub async fn create_secrets(
    client: &Client,
    namespace: &str,
    admin_url: &str,
) -> anyhow::Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for (name, key, value) in [
        ("x-token", "token", "bench-token"),
        ("mysql-admin", "url", admin_url),
    ] {
        let secret = serde_json::from_value(
            serde_json::json!({"metadata": {"name": name}, "stringData": {key: value}}),
        )?;
        secrets.create(&PostParams::default(), &secret).await?;
    }
    Ok(())
}

/// Creates `user` with every privilege (what the operator's admin URL needs: databases,
/// migrations, accounts and their grants) and returns `url_as_pod` with that user instead.
pub async fn create_operator_account(
    pool: &MySqlPool,
    user: &str,
    url_as_pod: &str,
) -> anyhow::Result<String> {
    let password = Alphanumeric.sample_string(&mut rand::rng(), 24);
    // `user` is [a-z0-9_] and the password alphanumeric: safe to inline (accounts take no placeholders).
    for statement in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
        format!("GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%' WITH GRANT OPTION"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(pool)
            .await?;
    }
    let (scheme, rest) = url_as_pod
        .split_once("://")
        .ok_or_else(|| anyhow::anyhow!("the platform's MySQL URL has no scheme"))?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    Ok(format!("{scheme}://{user}:{password}@{host}"))
}

/// MySQL sessions open under `user` right now.
pub async fn connections_of(pool: &MySqlPool, user: &str) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?")
            .bind(user)
            .fetch_one(pool)
            .await?,
    )
}
