# Stack 2 of the local environment: the demo pipeline (examples/covid19.yaml as code) against the
# platform's Kafka and MariaDB. Needs ../operator applied first: the TweetPipeline CRD must exist
# before a TweetPipeline can be planned. docs/terraform.md.

terraform {
  required_version = ">= 1.9.0"

  # State on the machine, path given at init (terraform/local.sh: .platform/terraform/).
  backend "local" {}

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "3.2.1"
    }
  }

  # The state holds the pipeline's Secrets (tokens, the MySQL admin URL): encrypted at
  # rest with a key derived from var.state_passphrase; plans too. docs/terraform.md.
  encryption {
    key_provider "pbkdf2" "state" {
      passphrase = var.state_passphrase
    }
    method "aes_gcm" "state" {
      keys = key_provider.pbkdf2.state
    }
    state {
      method   = method.aes_gcm.state
      enforced = true
    }
    plan {
      method   = method.aes_gcm.state
      enforced = true
    }
  }
}

provider "kubernetes" {
  config_path = var.kubeconfig
}

module "covid19" {
  source = "../../../modules/pipeline"

  name      = "covid19"
  namespace = var.namespace
  # Labelled for the operator of ../operator only.
  operator_instance = var.operator_instance

  bearer_tokens   = { demo = var.x_bearer_token }
  mysql_admin_url = var.mysql_admin_url

  source_config = {
    base_url = var.api_base_url
    queries = [
      { name = "covid-en", query = "(covid OR covid19 OR coronavirus) lang:en -is:retweet" },
      { name = "covid-pt", query = "(covid OR coronavírus) lang:pt -is:retweet" },
      { name = "quarantine-en", query = "(quarantine OR lockdown) lang:en -is:retweet" },
      { name = "quarantine-pt", query = "(quarentena OR isolamento) lang:pt -is:retweet" },
    ]
    # Pro tier app token: 450 recent-search requests per 15 minutes, 1M posts per month.
    limits                = { requests_per_window = 450, window_seconds = 900, monthly_post_cap = 1000000 }
    safety_margin_percent = 10
  }
  extractor   = { max_replicas = var.extractor_max_replicas, min_requests_per_replica = 30 }
  transformer = { min_replicas = 1, max_replicas = 3, target_lag_per_replica = 5000, batch_size = 500, flush_interval_ms = 1000 }
  kafka = {
    bootstrap_servers  = var.kafka_bootstrap_servers
    topic              = var.kafka_topic
    partitions         = 6
    replication_factor = 1
    retention_hours    = 168
  }
  mysql           = { database = var.mysql_database }
  deletion_policy = var.deletion_policy
}
