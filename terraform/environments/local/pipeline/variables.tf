variable "kubeconfig" {
  description = "Kubeconfig of the local platform (.platform/kubeconfig; make terraform-demo fills it)."
  type        = string
}

variable "state_passphrase" {
  description = "Passphrase the state encryption key is derived from (at least 16 characters); make terraform-demo keeps one in .platform/terraform/passphrase."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.state_passphrase) >= 16
    error_message = "state_passphrase must be at least 16 characters (OpenTofu's pbkdf2 key provider)."
  }
}

variable "namespace" {
  description = "Namespace of the pipeline; the operator of ../operator watches it."
  type        = string
  default     = "tf-tweets"
}

variable "operator_instance" {
  description = "The operator instance of ../operator (its var.instance) the pipeline is labelled for."
  type        = string
  default     = "tf"
}

variable "api_base_url" {
  description = "X API base URL: the simulator of ../operator (its output simulator_base_url)."
  type        = string
}

variable "x_bearer_token" {
  description = "Bearer token for the X API (the simulator's)."
  type        = string
  sensitive   = true
  default     = "simulator-token-1"
}

variable "kafka_bootstrap_servers" {
  description = "Kafka as pods reach it (TWEETPIPE_KAFKA_BOOTSTRAP_POD of .platform/env)."
  type        = string
}

variable "kafka_topic" {
  description = "The pipeline's topic."
  type        = string
  default     = "tf.tweets.covid19"
}

variable "mysql_admin_url" {
  description = "Administrative MySQL URL as pods reach it (TWEETPIPE_MYSQL_URL_POD of .platform/env)."
  type        = string
  sensitive   = true
}

variable "mysql_database" {
  description = "The pipeline's database."
  type        = string
  default     = "tf_covid19"
}

variable "extractor_max_replicas" {
  description = "Upper bound of the extractors (the rate budget decides within it)."
  type        = number
  default     = 4
}

variable "deletion_policy" {
  description = "Delete: `make terraform-destroy` drops the topic and the database too (a demo leaves nothing behind)."
  type        = string
  default     = "Delete"
}
