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

variable "rds_ca_bundle_file" {
  description = "RDS CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem), for verify-identity TLS to MySQL."
  type        = string
}

variable "pipelines" {
  description = "Pipelines by name: namespace, queries, topic, database and sizing."
  type = map(object({
    namespace = string
    # delivery: "Search" (unset) or "Stream"; search_recovery only with Stream (docs/streaming.md).
    queries = list(object({
      name            = string
      query           = string
      delivery        = optional(string)
      search_recovery = optional(bool)
    }))
    stream = optional(object({ backfill_minutes = optional(number, 5) }))
    limits = optional(object({
      requests_per_window = optional(number, 450)
      window_seconds      = optional(number, 900)
      monthly_post_cap    = optional(number)
    }), {})
    topic           = string
    partitions      = optional(number, 6)
    retention_hours = optional(number, 168)
    database        = string
    extractor       = optional(object({ max_replicas = optional(number, 4), min_requests_per_replica = optional(number, 30) }), {})
    transformer = optional(object({
      min_replicas           = optional(number, 1)
      max_replicas           = optional(number, 4)
      target_lag_per_replica = optional(number, 5000)
      batch_size             = optional(number, 500)
      flush_interval_ms      = optional(number, 1000)
    }), {})
  }))
  # One MSK cluster and one RDS instance serve every pipeline: topics and databases are shared
  # name spaces (several pipelines in one Kubernetes namespace are fine).
  validation {
    condition     = length(distinct([for p in values(var.pipelines) : p.topic])) == length(var.pipelines)
    error_message = "Two pipelines name the same Kafka topic: each pipeline needs its own."
  }
  validation {
    condition     = length(distinct([for p in values(var.pipelines) : p.database])) == length(var.pipelines)
    error_message = "Two pipelines name the same MySQL database: each pipeline needs its own."
  }
}
