variable "region" {
  description = "AWS region (the one of ../platform)."
  type        = string
}

variable "state_kms_key_id" {
  description = "KMS key that encrypts this stack's state (and decrypts ../platform's)."
  type        = string
}

variable "platform_state" {
  description = "S3 backend configuration of ../platform's state: {bucket, key, region}."
  type        = map(string)
}

variable "operator_chart" {
  description = "The operator chart: a packaged .tgz or a path to helm/tweetpipe-operator."
  type        = string
  default     = "../../../../helm/tweetpipe-operator"
}

variable "operator_image" {
  description = "Operator image; tag null: the chart's appVersion."
  type        = object({ repository = string, tag = optional(string) })
  default     = { repository = "ghcr.io/tweetpipe/operator" }
}

variable "operator_replicas" {
  description = "Operator replicas (a Lease elects the leader)."
  type        = number
  default     = 2
}
