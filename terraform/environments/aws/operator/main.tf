# Production stack 2: the tweetpipe operator, whose chart brings the TweetPipeline CRD, on the
# cluster of ../platform. Apply after ../platform, before ../pipelines.
#
# A root of its own because the Kubernetes and Helm providers are configured from the cluster's
# endpoint and CA: in ../platform, which creates the cluster, they would be configured from a
# resource not yet created (or being replaced), which the kubernetes provider's documentation
# says leads to intermittent, hard-to-diagnose errors; it recommends managing the cluster and the
# Kubernetes resources in separate applies, the values conveyed by data sources. Here the data
# source is ../platform's (encrypted) state. docs/terraform.md, "The AWS root".

terraform {
  # 1.10: the S3 backend's native locking (use_lockfile); 1.9 rejects the argument.
  required_version = ">= 1.10.0"
  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.1"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.2"
    }
  }

  # Partial configuration: bucket, key and region come from a -backend-config file (README.md).
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }

  # The same KMS key as ../platform: this state holds the chart's values (no secrets), and the
  # key decrypts ../platform's state, read below.
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

data "terraform_remote_state" "platform" {
  backend = "s3"
  config  = var.platform_state
}

# Kubernetes and Helm talk to ../platform's cluster with a short-lived token from the AWS CLI (no
# long-lived credentials in the state). The principal running this stack needs an EKS access
# entry: ../platform's cluster_admin_principal_arns.
locals {
  platform = data.terraform_remote_state.platform.outputs
  cluster_exec = {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", local.platform.cluster_name, "--region", var.region]
  }
}

provider "kubernetes" {
  host                   = local.platform.cluster_endpoint
  cluster_ca_certificate = base64decode(local.platform.cluster_ca_certificate)
  exec {
    api_version = local.cluster_exec.api_version
    command     = local.cluster_exec.command
    args        = local.cluster_exec.args
  }
}

provider "helm" {
  kubernetes = {
    host                   = local.platform.cluster_endpoint
    cluster_ca_certificate = base64decode(local.platform.cluster_ca_certificate)
    exec                   = local.cluster_exec
  }
}

module "operator" {
  source = "../../../modules/operator"

  namespace = "tweetpipe-system"
  chart     = var.operator_chart
  image     = { repository = var.operator_image.repository, tag = var.operator_image.tag }
  replicas  = var.operator_replicas
  resources = {
    requests = { cpu = "100m", memory = "128Mi" }
    limits   = { memory = "512Mi" }
  }
  leader_election = { enabled = true, lease_seconds = 15 }
  webhook_enabled = true
  # Tokens go to the X API over HTTPS and nowhere else.
  allowed_api_hosts = ["https://api.x.com"]
}
