# Production stack 3: the pipelines, on the cluster of ../platform, after ../operator (its chart
# installs the TweetPipeline CRD, which must exist before a TweetPipeline can be planned).
# Addresses come from ../platform's state, secrets from Secrets Manager; both reach only
# Kubernetes Secrets.

terraform {
  # 1.10: the S3 backend's native locking (use_lockfile); 1.9 rejects the argument.
  required_version = ">= 1.10.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.2"
    }
  }

  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }

  # This state holds the pipelines' Secrets (tokens, SCRAM and MySQL passwords). The same KMS
  # key decrypts ../platform's state, read below as a remote state data source.
  encryption {
    key_provider "aws_kms" "state" {
      kms_key_id = var.state_kms_key_id
      region     = var.region
      key_spec   = "AES_256"
    }
    method "aes_gcm" "state" {
      keys = key_provider.aws_kms.state
    }
    state {
      method   = method.aes_gcm.state
      enforced = true
    }
    plan {
      method   = method.aes_gcm.state
      enforced = true
    }
    remote_state_data_sources {
      default {
        method = method.aes_gcm.state
      }
    }
  }
}

provider "aws" {
  region = var.region
}

data "terraform_remote_state" "platform" {
  backend = "s3"
  config  = var.platform_state
}

locals {
  platform = data.terraform_remote_state.platform.outputs
}

provider "kubernetes" {
  host                   = local.platform.cluster_endpoint
  cluster_ca_certificate = base64decode(local.platform.cluster_ca_certificate)
  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", local.platform.cluster_name, "--region", var.region]
  }
}

data "aws_secretsmanager_secret_version" "x_bearer_tokens" {
  secret_id = local.platform.x_bearer_tokens_secret_arn
}

data "aws_secretsmanager_secret_version" "kafka" {
  for_each  = toset(["workers", "admin"])
  secret_id = local.platform.kafka_secret_arns[each.key]
}

# The RDS master user, read at every plan: after a rotation in ../platform
# (mysql_admin_password_generation), an apply of this stack rewrites each pipeline's admin URL
# Secret and the operator uses the new password from then on.
data "aws_secretsmanager_secret_version" "mysql_admin" {
  secret_id = local.platform.mysql_admin_secret_arn
}

locals {
  kafka_users = { for k, v in data.aws_secretsmanager_secret_version.kafka : k => jsondecode(v.secret_string) }
  mysql_admin = jsondecode(data.aws_secretsmanager_secret_version.mysql_admin.secret_string)
  # The operator's admin URL: userinfo percent-encoded (whatever characters a password holds).
  mysql_admin_url = "mysql://${urlencode(local.mysql_admin.username)}:${urlencode(local.mysql_admin.password)}@${local.platform.mysql_endpoint}"
}

# The namespaces, once each: pipelines may share one. Created by each module instance
# (create_namespace), the second pipeline in a namespace failed (it already exists) and the
# destroy of one pipeline would have deleted its neighbours with the namespace.
resource "kubernetes_namespace_v1" "pipelines" {
  for_each = toset([for p in values(var.pipelines) : p.namespace])
  metadata {
    name   = each.key
    labels = { "app.kubernetes.io/part-of" = "tweetpipe" }
  }
}

module "pipeline" {
  source   = "../../../modules/pipeline"
  for_each = var.pipelines

  name = each.key
  # Through the resource, so that a namespace is created before and deleted after its pipelines
  # (whose finalizers need their Secrets in it).
  namespace        = kubernetes_namespace_v1.pipelines[each.value.namespace].metadata[0].name
  create_namespace = false

  bearer_tokens   = jsondecode(data.aws_secretsmanager_secret_version.x_bearer_tokens.secret_string)
  mysql_admin_url = local.mysql_admin_url
  kafka_sasl_credentials = {
    username       = local.kafka_users.workers.username
    password       = local.kafka_users.workers.password
    admin_username = local.kafka_users.admin.username
    admin_password = local.kafka_users.admin.password
  }

  source_config = {
    base_url              = "https://api.x.com"
    queries               = each.value.queries
    stream                = each.value.stream
    limits                = each.value.limits
    safety_margin_percent = 10
  }
  extractor   = each.value.extractor
  transformer = each.value.transformer
  kafka = {
    bootstrap_servers  = local.platform.kafka_bootstrap_servers
    topic              = each.value.topic
    partitions         = each.value.partitions
    replication_factor = 3
    retention_hours    = each.value.retention_hours
    sasl_mechanism     = "SCRAM-SHA-512"
    # MSK's certificates chain to Amazon's public roots, which the workers trust already.
    tls = {}
  }
  mysql = {
    database = each.value.database
    tls      = { ca_certificate = file(var.rds_ca_bundle_file), mode = "verify-identity" }
  }
  # Production data stays when a pipeline is removed from var.pipelines.
  deletion_policy = "Retain"
}
