//! Removes everything the bench made, whether it finished or not: finalizers (the operator is
//! stopped by then, so nobody else will), namespaces, topics and databases by the bench's
//! prefixes, the writer accounts of every bench pipeline, and the operator's admin account.
//! Each step goes on after a failure of the one before and reports what it could not do.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use sqlx::MySqlPool;
use tweetpipe_operator::crd::TweetPipeline;

use crate::pipelines::Names;

/// What cleanup could not remove (empty when everything went).
pub type Problems = Vec<String>;

/// Drops every finalizer of every object of kind `K` in `namespace`.
async fn strip_finalizers<K>(client: &Client, namespace: &str, problems: &mut Problems)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let items = match api.list_metadata(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(e)) if e.code == 404 => return,
        Err(e) => {
            problems.push(format!("listing in {namespace}: {e}"));
            return;
        }
    };
    let patch = serde_json::json!({"metadata": {"finalizers": null}});
    let failures = futures::stream::iter(items.iter().filter(|o| !o.finalizers().is_empty()))
        .map(|object| {
            let api = api.clone();
            let patch = patch.clone();
            async move {
                api.patch_metadata(
                    &object.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .err()
            }
        })
        .buffer_unordered(16)
        .filter_map(|e| async move { e })
        .count()
        .await;
    if failures > 0 {
        problems.push(format!(
            "{failures} finalizers in {namespace} could not be removed"
        ));
    }
}

pub async fn namespaces(client: &Client, names: &Names, problems: &mut Problems) {
    for namespace in names.namespaces() {
        strip_finalizers::<TweetPipeline>(client, namespace, problems).await;
        strip_finalizers::<Secret>(client, namespace, problems).await;
    }
    let api: Api<Namespace> = Api::all(client.clone());
    for namespace in names.namespaces() {
        match api.delete(namespace, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => problems.push(format!("deleting namespace {namespace}: {e}")),
        }
    }
}

/// Waits (bounded) until both namespaces are gone; their contents go with them.
pub async fn wait_for_namespaces(
    client: &Client,
    names: &Names,
    limit: Duration,
    problems: &mut Problems,
) {
    let api: Api<Namespace> = Api::all(client.clone());
    let started = Instant::now();
    loop {
        let mut remaining = Vec::new();
        for namespace in names.namespaces() {
            if !matches!(api.get_opt(namespace).await, Ok(None)) {
                remaining.push(namespace.to_string());
            }
        }
        if remaining.is_empty() {
            return;
        }
        if started.elapsed() > limit {
            problems.push(format!(
                "namespaces {} still terminating after {} s (they go on their own)",
                remaining.join(", "),
                limit.as_secs()
            ));
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Bench topics still in Kafka whose name starts with `prefix`.
pub async fn topics_with_prefix(bootstrap: &str, prefix: &str) -> anyhow::Result<Vec<String>> {
    let admin = admin_client(bootstrap)?;
    let metadata = tokio::task::spawn_blocking(move || {
        admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .map(|m| {
                m.topics()
                    .iter()
                    .map(|t| t.name().to_string())
                    .collect::<Vec<_>>()
            })
    })
    .await??;
    Ok(metadata
        .into_iter()
        .filter(|t| t.starts_with(prefix))
        .collect())
}

fn admin_client(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

pub async fn topics(bootstrap: &str, names: &Names, problems: &mut Problems) {
    let result = async {
        let topics = topics_with_prefix(bootstrap, &names.topic_prefix).await?;
        if topics.is_empty() {
            return Ok(());
        }
        let admin = admin_client(bootstrap)?;
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        let failed: Vec<String> = admin
            .delete_topics(
                &refs,
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
            )
            .await?
            .into_iter()
            .filter_map(|r| r.err())
            .map(|(topic, code)| format!("{topic}: {code}"))
            .collect();
        if !failed.is_empty() {
            anyhow::bail!("deleting {}", failed.join(", "));
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        problems.push(format!("Kafka topics {}*: {e}", names.topic_prefix));
    }
}

/// Bench databases still on the server whose name starts with `prefix`.
pub async fn databases_with_prefix(pool: &MySqlPool, prefix: &str) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, CHAR_LENGTH(?)) = ?",
    )
    .bind(prefix)
    .bind(prefix)
    .fetch_all(pool)
    .await?)
}

/// Of `accounts`, those that exist on the server.
pub async fn existing_accounts(
    pool: &MySqlPool,
    accounts: &BTreeSet<String>,
) -> anyhow::Result<Vec<String>> {
    let all: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT CAST(User AS CHAR) FROM mysql.user WHERE User LIKE 'tpw\\_%'",
    )
    .fetch_all(pool)
    .await?;
    Ok(all.into_iter().filter(|u| accounts.contains(u)).collect())
}

/// Drops the accounts recorded for every bench database (also those the operator dropped the
/// database of), the databases, then any writer account of a bench pipeline still there.
pub async fn mysql(
    pool: &MySqlPool,
    names: &Names,
    databases: &BTreeSet<String>,
    writer_accounts: &BTreeSet<String>,
    problems: &mut Problems,
) {
    let mut all = databases.clone();
    match databases_with_prefix(pool, &names.database_prefix).await {
        Ok(found) => all.extend(found),
        Err(e) => problems.push(format!("listing databases: {e}")),
    }
    for database in &all {
        if let Err(e) = tweetpipe_schema::drop_accounts(pool, database).await {
            problems.push(format!("dropping the accounts of {database}: {e}"));
        }
        // Names are the bench's own ([a-z0-9_]).
        let drop = format!("DROP DATABASE IF EXISTS `{database}`");
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(pool).await {
            problems.push(format!("dropping database {database}: {e}"));
        }
    }
    match existing_accounts(pool, writer_accounts).await {
        Ok(left) => {
            if !left.is_empty() {
                problems.push(format!(
                    "{} writer accounts were not recorded for their database; dropped them",
                    left.len()
                ));
            }
            for user in left {
                let drop = format!("DROP USER IF EXISTS '{user}'@'%'");
                if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(pool).await {
                    problems.push(format!("dropping account {user}: {e}"));
                }
            }
        }
        Err(e) => problems.push(format!("listing accounts: {e}")),
    }
    let drop = format!("DROP USER IF EXISTS '{}'@'%'", names.operator_user);
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(pool).await {
        problems.push(format!("dropping the operator's account: {e}"));
    }
}
