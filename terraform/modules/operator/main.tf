# The tweetpipe operator: its namespace and the Helm chart. Helm installs the chart's CRD on the
# first install and never upgrades or deletes it (Helm's rule for crds/): a destroy leaves the
# TweetPipeline CRD, so other installations' pipelines survive. docs/terraform.md.

resource "kubernetes_namespace_v1" "operator" {
  count = var.create_namespace ? 1 : 0
  metadata {
    name   = var.namespace
    labels = { "app.kubernetes.io/part-of" = "tweetpipe" }
  }
}

locals {
  values = {
    replicaCount = var.replicas
    image = merge(
      { repository = var.image.repository, pullPolicy = var.image.pull_policy },
      var.image.tag == null ? {} : { tag = var.image.tag },
    )
    workers = merge(
      { pullPolicy = var.worker_images.pull_policy },
      var.worker_images.extractor == null ? {} : { extractor = { image = var.worker_images.extractor } },
      var.worker_images.transformer == null ? {} : { transformer = { image = var.worker_images.transformer } },
    )
    resources = var.resources
    leaderElection = {
      enabled      = var.leader_election.enabled
      leaseSeconds = var.leader_election.lease_seconds
    }
    webhook            = { enabled = var.webhook_enabled }
    allowedApiHosts    = var.allowed_api_hosts
    allowedApiServices = [for s in var.allowed_api_services : { for k, v in s : k => v if v != null }]
    watchNamespace     = var.watch_namespace
    watchNamespaces    = var.watch_namespaces
    instance           = var.instance
    logLevel           = var.log_level
  }
}

resource "helm_release" "operator" {
  name       = var.release_name
  namespace  = var.create_namespace ? kubernetes_namespace_v1.operator[0].metadata[0].name : var.namespace
  chart      = var.chart
  repository = var.chart_repository
  version    = var.chart_version
  # yamlencode twice: the chart sees the module's values first, then the caller's extra values.
  values  = [yamlencode(local.values), yamlencode(var.extra_values)]
  wait    = true
  timeout = var.timeout_seconds
  # A failed install is rolled back instead of leaving a half-installed release behind.
  atomic = true
}
