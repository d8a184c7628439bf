# `tofu test` of the module's validation blocks and the manifest it builds, with a mocked
# Kubernetes provider (no cluster): run by make terraform-lint.

mock_provider "kubernetes" {}

variables {
  name            = "covid19"
  namespace       = "tweets"
  bearer_tokens   = { demo = "token-1" }
  mysql_admin_url = "mysql://root:secret@10.0.0.1:3306"
  source_config = {
    base_url = "http://x-api-simulator.tweetpipe-system.svc:8080"
    queries  = [{ name = "covid-en", query = "covid lang:en" }]
  }
  kafka = { bootstrap_servers = "kafka:9092", topic = "tweets.covid19" }
  mysql = { database = "tweets_covid19" }
}

run "valid_pipeline_plans_the_manifest_without_secrets" {
  command = plan
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.source.tokens == [{ name = "covid19-x-bearer-tokens", key = "demo" }]
    error_message = "the pipeline must name the token Secret and key"
  }
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.mysql.urlSecret == { name = "covid19-mysql-admin", key = "url" }
    error_message = "the pipeline must name the MySQL admin Secret"
  }
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.extractor.maxReplicas == 4 && kubernetes_manifest.pipeline.manifest.spec.deletionPolicy == "Retain"
    error_message = "CRD defaults must be set explicitly"
  }
  assert {
    condition     = !can(kubernetes_manifest.pipeline.manifest.spec.kafka.sasl) && !can(kubernetes_manifest.pipeline.manifest.spec.mysql.tls)
    error_message = "unset optional sections must be left out of the manifest"
  }
}

run "sasl_and_tls_name_their_secrets" {
  command = plan
  variables {
    kafka = {
      bootstrap_servers = "b-1.msk:9096"
      topic             = "tweets.covid19"
      sasl_mechanism    = "SCRAM-SHA-512"
      tls               = {}
    }
    kafka_sasl_credentials = { username = "w", password = "p", admin_username = "a", admin_password = "q" }
    mysql                  = { database = "tweets_covid19", tls = { ca_certificate = "PEM" } }
  }
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.kafka.sasl.adminSecretName == "covid19-kafka-admin" && length(kubernetes_secret_v1.kafka_admin) == 1
    error_message = "a separate admin user needs its own Secret"
  }
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.mysql.tls == { caSecret = { name = "covid19-mysql-ca", key = "ca.crt" }, mode = "verify-identity" }
    error_message = "MySQL TLS must name the CA Secret, verify-identity by default"
  }
}

run "topic_with_a_companion_suffix_is_refused" {
  command = plan
  variables {
    kafka = { bootstrap_servers = "kafka:9092", topic = "tweets.dlq" }
  }
  expect_failures = [var.kafka]
}

run "topic_of_another_pipelines_slots_is_refused" {
  command = plan
  variables {
    kafka = { bootstrap_servers = "kafka:9092", topic = "tweets.slots" }
  }
  expect_failures = [var.kafka]
}

run "topic_of_another_pipelines_checkpoints_is_refused" {
  command = plan
  variables {
    kafka = { bootstrap_servers = "kafka:9092", topic = "tweets.checkpoints" }
  }
  expect_failures = [var.kafka]
}

run "plain_without_tls_is_refused" {
  command = plan
  variables {
    kafka = { bootstrap_servers = "kafka:9092", topic = "t", sasl_mechanism = "PLAIN" }
  }
  expect_failures = [var.kafka]
}

run "bad_port_is_refused" {
  command = plan
  variables {
    kafka = { bootstrap_servers = "kafka:99999", topic = "t" }
  }
  expect_failures = [var.kafka]
}

run "duplicate_query_names_are_refused" {
  command = plan
  variables {
    source_config = {
      queries = [{ name = "a", query = "x" }, { name = "a", query = "y" }]
    }
  }
  expect_failures = [var.source_config]
}

run "api_path_in_base_url_is_refused" {
  command = plan
  variables {
    source_config = {
      base_url = "https://api.x.com/2/tweets/search/recent"
      queries  = [{ name = "a", query = "x" }]
    }
  }
  expect_failures = [var.source_config]
}

run "min_share_above_the_budget_is_refused" {
  command = plan
  variables {
    extractor = { min_requests_per_replica = 406 }
  }
  expect_failures = [var.extractor]
}

run "transformer_min_above_max_is_refused" {
  command = plan
  variables {
    transformer = { min_replicas = 5, max_replicas = 2 }
  }
  expect_failures = [var.transformer]
}

run "system_schema_is_refused" {
  command = plan
  variables {
    mysql = { database = "MySQL" }
  }
  expect_failures = [var.mysql]
}

run "ownership_ledger_is_refused" {
  command = plan
  variables {
    mysql = { database = "TweetPipe_Control" }
  }
  expect_failures = [var.mysql]
}

run "wildcard_only_database_is_refused" {
  command = plan
  variables {
    mysql = { database = "_____" }
  }
  expect_failures = [var.mysql]
}

run "database_with_underscore_is_accepted" {
  command = plan
  variables {
    mysql = { database = "acme_prod" }
  }
}

run "access_level_reaches_the_manifest" {
  command = plan
  variables {
    source_config = {
      queries      = [{ name = "a", query = "covid place_country:BR" }]
      access_level = "Enterprise"
    }
  }
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.source.accessLevel == "Enterprise"
    error_message = "source.access_level must become spec.source.accessLevel"
  }
}

run "unknown_access_level_is_refused" {
  command = plan
  variables {
    source_config = {
      queries      = [{ name = "a", query = "covid" }]
      access_level = "Gold"
    }
  }
  expect_failures = [var.source_config]
}

run "delivery_and_stream_settings_reach_the_manifest" {
  command = plan
  variables {
    source_config = {
      queries = [
        { name = "polled", query = "covid" },
        { name = "live", query = "outbreak", delivery = "Stream" },
        { name = "live-only", query = "breaking", delivery = "Stream", search_recovery = false },
      ]
      stream = { backfill_minutes = 2 }
    }
  }
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.source.queries[0] == { name = "polled", query = "covid" }
    error_message = "a query without delivery must reach the manifest as before (no delivery, no searchRecovery)"
  }
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.source.queries[1] == { name = "live", query = "outbreak", delivery = "Stream" }
    error_message = "delivery must become the query's delivery"
  }
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.source.queries[2].searchRecovery == false
    error_message = "search_recovery must become the query's searchRecovery"
  }
  assert {
    condition     = kubernetes_manifest.pipeline.manifest.spec.source.stream == { backfillMinutes = 2 }
    error_message = "stream.backfill_minutes must become spec.source.stream.backfillMinutes"
  }
}

run "no_stream_settings_leave_the_stream_section_out" {
  command = plan
  assert {
    condition     = !can(kubernetes_manifest.pipeline.manifest.spec.source.stream)
    error_message = "without source_config.stream the manifest must carry no stream section (the CRD's default applies)"
  }
}

run "unknown_delivery_is_refused" {
  command = plan
  variables {
    source_config = {
      queries = [{ name = "a", query = "covid", delivery = "Webhook" }]
    }
  }
  expect_failures = [var.source_config]
}

run "search_recovery_without_stream_is_refused" {
  command = plan
  variables {
    source_config = {
      queries = [{ name = "a", query = "covid", search_recovery = true }]
    }
  }
  expect_failures = [var.source_config]
}

run "backfill_beyond_five_minutes_is_refused" {
  command = plan
  variables {
    source_config = {
      queries = [{ name = "a", query = "covid", delivery = "Stream" }]
      stream  = { backfill_minutes = 6 }
    }
  }
  expect_failures = [var.source_config]
}
