# One TweetPipeline with its namespace and Secrets. The Secrets come from sensitive variables, so
# tokens and passwords never appear in the TweetPipeline (which only names Secrets) or in a plan.

locals {
  namespace = var.create_namespace ? kubernetes_namespace_v1.pipeline[0].metadata[0].name : var.namespace
  labels = merge(
    { "app.kubernetes.io/part-of" = "tweetpipe", "app.kubernetes.io/instance" = var.name },
    var.operator_instance == "" ? {} : { "tweetpipe.io/operator-instance" = var.operator_instance },
  )

  sasl_enabled  = var.kafka.sasl_mechanism != null
  sasl_admin    = local.sasl_enabled && nonsensitive(try(var.kafka_sasl_credentials.admin_username, null) != null)
  kafka_ca      = try(var.kafka.tls.ca_certificate, null) != null
  kafka_mtls    = try(var.kafka.tls.client_certificate, null) != null
  mysql_ca      = try(var.mysql.tls.ca_certificate, null) != null
  reporting     = var.mysql.reporting_user_name != null
  token_names   = sort(nonsensitive(keys(var.bearer_tokens)))
  tokens_secret = "${var.name}-x-bearer-tokens"

  # Optional spec parts: a for expression over an object drops the unset (null) ones, so the
  # manifest carries exactly what is configured and the CRD's defaults fill in the rest.
  resources = {
    extractor   = var.extractor.resources == null ? null : { for k, v in var.extractor.resources : k => v if v != null }
    transformer = var.transformer.resources == null ? null : { for k, v in var.transformer.resources : k => v if v != null }
  }

  spec = {
    source = { for k, v in {
      baseUrl = var.source_config.base_url
      tokens  = [for t in local.token_names : { name = local.tokens_secret, key = t }]
      # Unset delivery fields are left out, so a search-only pipeline's manifest is unchanged.
      queries = [for q in var.source_config.queries : { for k, v in {
        name           = q.name
        query          = q.query
        delivery       = q.delivery
        searchRecovery = q.search_recovery
      } : k => v if v != null }]
      limits = { for k, v in {
        requestsPerWindow = var.source_config.limits.requests_per_window
        windowSeconds     = var.source_config.limits.window_seconds
        monthlyPostCap    = var.source_config.limits.monthly_post_cap
      } : k => v if v != null }
      safetyMarginPercent = var.source_config.safety_margin_percent
      maxResults          = var.source_config.max_results
      accessLevel         = var.source_config.access_level
      stream = var.source_config.stream == null ? null : {
        backfillMinutes = var.source_config.stream.backfill_minutes
      }
      fields = var.source_config.fields == null ? null : { for k, v in {
        expansions  = var.source_config.fields.expansions
        tweetFields = var.source_config.fields.tweet_fields
        userFields  = var.source_config.fields.user_fields
        placeFields = var.source_config.fields.place_fields
      } : k => v if v != null }
    } : k => v if v != null }
    extractor = { for k, v in {
      maxReplicas           = var.extractor.max_replicas
      minRequestsPerReplica = var.extractor.min_requests_per_replica
      image                 = var.extractor.image
      resources             = local.resources.extractor
    } : k => v if v != null }
    transformer = { for k, v in {
      minReplicas         = var.transformer.min_replicas
      maxReplicas         = var.transformer.max_replicas
      targetLagPerReplica = var.transformer.target_lag_per_replica
      batchSize           = var.transformer.batch_size
      flushIntervalMs     = var.transformer.flush_interval_ms
      image               = var.transformer.image
      resources           = local.resources.transformer
    } : k => v if v != null }
    kafka = { for k, v in {
      bootstrapServers  = var.kafka.bootstrap_servers
      topic             = var.kafka.topic
      partitions        = var.kafka.partitions
      replicationFactor = var.kafka.replication_factor
      retentionHours    = var.kafka.retention_hours
      schemaRegistryUrl = var.kafka.schema_registry_url
      tls = var.kafka.tls == null ? null : { for k, v in {
        caSecret                = local.kafka_ca ? { name = "${var.name}-kafka-ca", key = "ca.crt" } : null
        clientCertificateSecret = local.kafka_mtls ? { name = "${var.name}-kafka-client", key = "tls.crt" } : null
        clientKeySecret         = local.kafka_mtls ? { name = "${var.name}-kafka-client", key = "tls.key" } : null
      } : k => v if v != null }
      sasl = !local.sasl_enabled ? null : { for k, v in {
        mechanism       = var.kafka.sasl_mechanism
        secretName      = "${var.name}-kafka-workers"
        usernameKey     = "username"
        passwordKey     = "password"
        adminSecretName = local.sasl_admin ? "${var.name}-kafka-admin" : null
      } : k => v if v != null }
    } : k => v if v != null }
    mysql = { for k, v in {
      urlSecret = { name = "${var.name}-mysql-admin", key = "url" }
      database  = var.mysql.database
      reportingUser = !local.reporting ? null : {
        name           = var.mysql.reporting_user_name
        passwordSecret = { name = "${var.name}-mysql-reporting", key = "password" }
      }
      tls = var.mysql.tls == null ? null : { for k, v in {
        caSecret = local.mysql_ca ? { name = "${var.name}-mysql-ca", key = "ca.crt" } : null
        mode     = var.mysql.tls.mode
      } : k => v if v != null }
    } : k => v if v != null }
    deletionPolicy = var.deletion_policy
    suspend        = var.suspend
  }
}

resource "kubernetes_namespace_v1" "pipeline" {
  count = var.create_namespace ? 1 : 0
  metadata {
    name   = var.namespace
    labels = { "app.kubernetes.io/part-of" = "tweetpipe" }
  }
}

resource "kubernetes_secret_v1" "bearer_tokens" {
  metadata {
    name      = local.tokens_secret
    namespace = local.namespace
    labels    = local.labels
  }
  data = var.bearer_tokens
}

resource "kubernetes_secret_v1" "mysql_admin" {
  metadata {
    name      = "${var.name}-mysql-admin"
    namespace = local.namespace
    labels    = local.labels
  }
  data = { url = var.mysql_admin_url }
}

resource "kubernetes_secret_v1" "mysql_reporting" {
  count = local.reporting ? 1 : 0
  metadata {
    name      = "${var.name}-mysql-reporting"
    namespace = local.namespace
    labels    = local.labels
  }
  data = { password = var.reporting_user_password }
  lifecycle {
    precondition {
      condition     = var.reporting_user_password != null
      error_message = "mysql.reporting_user_name needs reporting_user_password."
    }
  }
}

resource "kubernetes_secret_v1" "mysql_ca" {
  count = local.mysql_ca ? 1 : 0
  metadata {
    name      = "${var.name}-mysql-ca"
    namespace = local.namespace
    labels    = local.labels
  }
  data = { "ca.crt" = var.mysql.tls.ca_certificate }
}

resource "kubernetes_secret_v1" "kafka_ca" {
  count = local.kafka_ca ? 1 : 0
  metadata {
    name      = "${var.name}-kafka-ca"
    namespace = local.namespace
    labels    = local.labels
  }
  data = { "ca.crt" = var.kafka.tls.ca_certificate }
}

resource "kubernetes_secret_v1" "kafka_client" {
  count = local.kafka_mtls ? 1 : 0
  metadata {
    name      = "${var.name}-kafka-client"
    namespace = local.namespace
    labels    = local.labels
  }
  data = { "tls.crt" = var.kafka.tls.client_certificate, "tls.key" = var.kafka_client_key }
  lifecycle {
    precondition {
      condition     = var.kafka_client_key != null
      error_message = "kafka.tls.client_certificate needs kafka_client_key (mutual TLS needs both)."
    }
  }
}

resource "kubernetes_secret_v1" "kafka_workers" {
  count = local.sasl_enabled ? 1 : 0
  metadata {
    name      = "${var.name}-kafka-workers"
    namespace = local.namespace
    labels    = local.labels
  }
  data = {
    username = var.kafka_sasl_credentials.username
    password = var.kafka_sasl_credentials.password
  }
  lifecycle {
    precondition {
      condition     = var.kafka_sasl_credentials != null
      error_message = "kafka.sasl_mechanism needs kafka_sasl_credentials."
    }
  }
}

resource "kubernetes_secret_v1" "kafka_admin" {
  count = local.sasl_admin ? 1 : 0
  metadata {
    name      = "${var.name}-kafka-admin"
    namespace = local.namespace
    labels    = local.labels
  }
  data = {
    username = var.kafka_sasl_credentials.admin_username
    password = var.kafka_sasl_credentials.admin_password
  }
}

resource "kubernetes_manifest" "pipeline" {
  manifest = {
    apiVersion = "tweetpipe.io/v1beta1"
    kind       = "TweetPipeline"
    metadata = {
      name      = var.name
      namespace = local.namespace
      labels    = local.labels
    }
    spec = local.spec
  }

  # The operator writes only status (which the provider ignores) and its finalizer; annotations
  # and labels other tools add must not show up as drift either.
  computed_fields = ["metadata.labels", "metadata.annotations", "metadata.finalizers"]

  wait {
    condition {
      type   = "Ready"
      status = "True"
    }
  }

  timeouts {
    create = var.ready_timeout
    update = var.ready_timeout
    # Deletion runs the operator's finalizer: with deletionPolicy Delete it drops the topic and
    # the database, retrying an unreachable service for up to cleanupDeadlineSeconds.
    delete = "15m"
  }

  # The Secrets are destroyed after the pipeline: its finalizer reads the MySQL admin URL (and
  # the Kafka credentials) to drop the database and the topic.
  depends_on = [
    kubernetes_secret_v1.bearer_tokens,
    kubernetes_secret_v1.mysql_admin,
    kubernetes_secret_v1.mysql_reporting,
    kubernetes_secret_v1.mysql_ca,
    kubernetes_secret_v1.kafka_ca,
    kubernetes_secret_v1.kafka_client,
    kubernetes_secret_v1.kafka_workers,
    kubernetes_secret_v1.kafka_admin,
  ]
}
