variable "name" {
  description = "Name of this environment; prefix of every AWS resource."
  type        = string
  default     = "tweetpipe"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2 to 21 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "state_kms_key_id" {
  description = "KMS key (ID, ARN or alias) that encrypts this stack's state data keys."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; a private and a public subnet per Availability Zone (up to three) are carved from it."
  type        = string
  default     = "10.40.0.0/16"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.33"
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m7i.large"]
}

variable "node_count" {
  description = "Nodes: desired, min and max of the managed node group."
  type        = object({ desired = number, min = number, max = number })
  default     = { desired = 3, min = 2, max = 6 }
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "IPv4 CIDRs allowed to reach the EKS API on its public endpoint (VPN, office or CI egress addresses); [] turns the public endpoint off (the API is then reachable from inside the VPC only: see cluster_endpoint_private_access_cidrs). No default, so that nobody gets EKS's 0.0.0.0/0 by omission."
  type        = list(string)
  validation {
    # cidrsubnet(c, 0, 0) == c: canonical form (no host bits), as EKS returns it (no plan drift).
    condition     = alltrue([for c in var.cluster_endpoint_public_access_cidrs : try(cidrnetmask(c) != "" && cidrsubnet(c, 0, 0) == c, false)])
    error_message = "Each entry must be an IPv4 CIDR in canonical form, e.g. 203.0.113.0/24 (not 203.0.113.7/24, not an address without a prefix length)."
  }
  validation {
    condition     = alltrue([for c in var.cluster_endpoint_public_access_cidrs : try(tonumber(split("/", c)[1]) >= 8, false)])
    error_message = "A public endpoint open to 0.0.0.0/0 (or any prefix shorter than /8) is open to the internet: list your egress ranges, or [] for a private endpoint only."
  }
}

variable "cluster_endpoint_private_access_cidrs" {
  description = "IPv4 CIDRs inside the VPC or connected to it (VPN, peering, Transit Gateway) admitted to the private API endpoint on 443: where ../operator and ../pipelines are applied from when there is no public endpoint. The nodes need no entry."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.cluster_endpoint_private_access_cidrs : try(cidrnetmask(c) != "" && cidrsubnet(c, 0, 0) == c, false)])
    error_message = "Each entry must be an IPv4 CIDR in canonical form, e.g. 10.50.0.0/16."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM roles or users given cluster admin through EKS access entries (people and CI, including whoever applies ../operator and ../pipelines). The only admins: the creator gets no implicit entry."
  type        = list(string)
  validation {
    condition     = length(var.cluster_admin_principal_arns) > 0
    error_message = "cluster_admin_principal_arns must name one principal at least: nobody else can reach the cluster (the creator gets no implicit admin entry)."
  }
  validation {
    # Access entries take the IAM role or user, not an STS session (arn:aws:sts::...:assumed-role/...).
    condition     = alltrue([for arn in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "Each entry must be an IAM role or user ARN (arn:aws:iam::<account>:role/<name> or :user/<name>), not an assumed-role session ARN."
  }
}

variable "kafka_version" {
  description = "MSK Kafka version."
  type        = string
  default     = "3.8.x"
}

variable "kafka_broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "kafka_volume_gib" {
  description = "EBS volume per broker, GiB."
  type        = number
  default     = 200
}

variable "mysql_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "mysql_engine_version" {
  description = "RDS for MySQL major version, major.minor (the parameter group family is mysql<this>); minor versions follow automatically. 8.4 (LTS): 8.0 is past its RDS end of standard support, so an instance on it is billed for RDS Extended Support."
  type        = string
  default     = "8.4"
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.mysql_engine_version))
    error_message = "mysql_engine_version must be a major version, major.minor (e.g. 8.4), not a full version: minor versions are applied by RDS (auto_minor_version_upgrade)."
  }
}

variable "mysql_apply_immediately" {
  description = "Apply RDS changes now rather than in the next maintenance window. Set true for the apply that changes mysql_engine_version (the old parameter group can only be deleted once the instance has left it), false again afterwards."
  type        = bool
  default     = false
}

variable "mysql_admin_password_generation" {
  description = "Change (e.g. increment) to rotate the RDS master password: this stack sets a new one on the instance and in Secrets Manager; then apply ../pipelines to hand it to the operator."
  type        = number
  default     = 1
}

variable "mysql_allocated_gib" {
  description = "RDS storage, GiB (grows automatically up to 4x)."
  type        = number
  default     = 100
}
