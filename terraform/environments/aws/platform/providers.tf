provider "aws" {
  region = var.region
  default_tags {
    tags = { "app.kubernetes.io/part-of" = "tweetpipe", environment = var.name }
  }
}

# Kubernetes and Helm talk to the cluster this stack creates, with a short-lived token from the
# AWS CLI (no long-lived credentials in the state).
locals {
  cluster_exec = {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", aws_eks_cluster.this.name, "--region", var.region]
  }
}

provider "kubernetes" {
  host                   = aws_eks_cluster.this.endpoint
  cluster_ca_certificate = base64decode(aws_eks_cluster.this.certificate_authority[0].data)
  exec {
    api_version = local.cluster_exec.api_version
    command     = local.cluster_exec.command
    args        = local.cluster_exec.args
  }
}

provider "helm" {
  kubernetes = {
    host                   = aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(aws_eks_cluster.this.certificate_authority[0].data)
    exec                   = local.cluster_exec
  }
}
