//! `tweetpipe-operator`: runs the controller (after winning the leader Lease) and the ops server.
//! `tweetpipe-operator --print-crd` prints the CRD YAML instead.

use std::sync::Arc;

use anyhow::Context as _;
use kube::runtime::events::{Recorder, Reporter};
use kube_lease_manager::LeaseManagerBuilder;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{error, info, warn};
use tweetpipe_common::serve::{Readiness, spawn_ops_server};
use tweetpipe_operator::admission::server::{self as webhook, AdmissionMetrics, WebhookSettings};
use tweetpipe_operator::metrics::Metrics;
use tweetpipe_operator::reconcile::context::Context;
use tweetpipe_operator::reconcile::controller;
use tweetpipe_operator::reconcile::schema_owner::PipelineSchema;
use tweetpipe_operator::settings;

/// Blocking Kafka calls run on tokio's blocking pool; bounding it bounds threads and memory
/// (each thread can get its own malloc arena) when a thousand pipelines reconcile at once.
const MAX_BLOCKING_THREADS: usize = 16;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--print-crd") {
        print!("{}", tweetpipe_operator::crd::crd_yaml()?);
        return Ok(());
    }
    let _telemetry =
        tweetpipe_common::telemetry::init("tweetpipe-operator").context("telemetry")?;
    let settings = settings::from_env(|name| std::env::var(name).ok())?;
    let webhook_settings = WebhookSettings::from_env(|name| std::env::var(name).ok())?;
    if settings.controller.allowed_registry_hosts.allows_any() {
        // The default, so that existing pipelines keep their registries; see docs/security.md.
        warn!(
            setting = tweetpipe_operator::policy::REGISTRY_HOSTS_SETTING,
            "any schema registry host is allowed: pipeline authors can make the operator call any address (no redirect is followed, no foreign answer shown); list your registries in Helm value allowedRegistryHosts on a shared cluster"
        );
    }
    let clients = tweetpipe_operator::kube_clients::infer(settings.controller.api_timeout).await?;
    let client = clients.requests.clone();

    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let admission_metrics = AdmissionMetrics::register(&mut registry);
    let readiness = Readiness::new();
    let (ops_addr, _ops) =
        spawn_ops_server(settings.ops_addr, Arc::new(registry), readiness.clone())
            .await
            .with_context(|| format!("binding the ops server to {}", settings.ops_addr))?;
    info!(%ops_addr, identity = %settings.identity, "tweetpipe operator starting");
    // Every replica serves the webhook (standbys too), so it starts before the election.
    let _webhook = if webhook_settings.enabled {
        let started = webhook::start(
            &webhook_settings,
            client.clone(),
            admission_metrics,
            settings.controller.policy(),
        )
        .await
        .context("starting the admission webhook")?;
        Some(started)
    } else {
        None
    };
    // Standbys are ready too: they serve probes and take over when the leader goes.
    readiness.set(true);

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown requested");
        let _ = shutdown_tx.send(true);
    });

    let lease = if settings.leader_election {
        let manager = LeaseManagerBuilder::new(client.clone(), &settings.lease_name)
            .with_namespace(&settings.namespace)
            .with_identity(&settings.identity)
            .with_duration(settings.lease_seconds)
            .with_grace(settings.lease_seconds.div_ceil(3).max(1))
            .build()
            .await
            .context("creating the leader Lease manager")?;
        let (mut leader, task) = manager.watch().await;
        info!(lease = %settings.lease_name, namespace = %settings.namespace, "waiting to become leader");
        let mut shutdown = shutdown_rx.clone();
        loop {
            if *leader.borrow_and_update() {
                break;
            }
            tokio::select! {
                changed = leader.changed() => changed.context("the Lease manager stopped")?,
                _ = shutdown.changed() => return Ok(()),
            }
        }
        info!("became leader");
        metrics.leader.set(1);
        Some((leader, task))
    } else {
        metrics.leader.set(1);
        None
    };

    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "tweetpipe-operator".into(),
            instance: Some(settings.identity.clone()),
        },
    );
    let controller_settings = settings.controller.clone();
    let context_client = client.clone();
    let make_context = move |secrets| {
        Context::new(
            context_client.clone(),
            recorder.clone(),
            metrics.clone(),
            controller_settings.clone(),
            Arc::new(PipelineSchema),
            secrets,
        )
    };

    let stop = {
        let mut shutdown = shutdown_rx.clone();
        async move {
            let _ = shutdown.changed().await;
        }
    };
    let (mut leader, lease_task) = match lease {
        Some((leader, task)) => (Some(leader), Some(task)),
        None => (None, None),
    };
    let run = controller::run(
        clients,
        make_context,
        &settings.watch_namespaces,
        settings.instance.clone(),
        stop,
    );
    tokio::pin!(run);
    let lost = loop {
        tokio::select! {
            _ = &mut run => break false,
            still_leader = lost_leadership(&mut leader) => if !still_leader { break true },
        }
    };
    if lost {
        error!("lost the leader Lease; exiting so a fresh start rejoins the election");
        std::process::exit(1);
    }
    // Closing the channel makes the Lease manager release the Lease, so a standby takes over at once.
    drop(leader);
    if let Some(task) = lease_task {
        match task.await {
            Ok(Ok(_)) => info!("Lease released"),
            Ok(Err(e)) => warn!(error = %e, "releasing the Lease failed; it expires by itself"),
            Err(e) => warn!(error = %e, "the Lease task failed"),
        }
    }
    Ok(())
}

/// Resolves with `false` when leadership is lost; never resolves without leader election.
async fn lost_leadership(leader: &mut Option<watch::Receiver<bool>>) -> bool {
    match leader {
        Some(rx) => match rx.changed().await {
            Ok(()) => *rx.borrow_and_update(),
            Err(_) => false,
        },
        None => std::future::pending().await,
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the operator");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
