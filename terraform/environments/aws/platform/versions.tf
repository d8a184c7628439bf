# Production stack 1: network, EKS, MSK (TLS + SASL/SCRAM), RDS for MySQL (TLS), the Secrets
# Manager secrets. AWS only: the Kubernetes side is stack 2 (../operator, the operator and its
# CRD) and stack 3 (../pipelines), each configured from this stack's state once the cluster
# exists. Not validated on the machine this was written on (no AWS provider there): README.md
# says how to validate and apply it.

terraform {
  # 1.10: the S3 backend's native locking (use_lockfile); 1.9 rejects the argument.
  required_version = ">= 1.10.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Partial configuration: bucket, key and region come from a -backend-config file (README.md).
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }

  # The state holds the SCRAM passwords and the RDS admin password: encrypted client-side with a
  # data key from KMS before it reaches the bucket (S3's own encryption protects the disk, not
  # against anyone allowed to read the bucket). docs/terraform.md.
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
  }
}
