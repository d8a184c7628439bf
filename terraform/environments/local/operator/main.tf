# Stack 1 of the local environment: the operator (with the CRD its chart installs) and the X API
# simulator the demo pipeline reads from. Apply before ../pipeline, destroy after it:
# `make terraform-demo` / `make terraform-destroy` do both in that order. docs/terraform.md.

terraform {
  required_version = ">= 1.9.0"

  # State on the machine, path given at init (terraform/local.sh: .platform/terraform/).
  backend "local" {}

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "3.1.2"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "3.2.1"
    }
  }

  # The state holds the chart values and, in ../pipeline, the pipeline's Secrets: encrypted at
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

provider "helm" {
  kubernetes = {
    config_path = var.kubeconfig
  }
}

module "operator" {
  source = "../../../modules/operator"

  namespace    = var.operator_namespace
  release_name = var.release_name
  chart        = "${path.module}/../../../../helm/tweetpipe-operator"
  image = {
    repository  = "docker.io/tweetpipe/operator"
    tag         = var.image_tag
    pull_policy = "Never"
  }
  worker_images = {
    extractor   = "docker.io/tweetpipe/extractor:${var.image_tag}"
    transformer = "docker.io/tweetpipe/transformer:${var.image_tag}"
    pull_policy = "Never"
  }
  watch_namespace = var.watch_namespace
  instance        = var.instance
  webhook_enabled = var.webhook_enabled
  # Tokens may only go to the simulator in this namespace (and the real X API).
  allowed_api_services = [{ namespace = var.operator_namespace, name = "x-api-simulator", port = 8080 }]
}
