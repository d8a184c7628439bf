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

variable "operator_namespace" {
  description = "Namespace of the operator and the simulator. Its own, so it sits beside `make demo`'s tweetpipe-system."
  type        = string
  default     = "tf-system"
}

variable "release_name" {
  description = "Helm release name of the operator."
  type        = string
  default     = "tf-tweetpipe-operator"
}

variable "watch_namespace" {
  description = "The only namespace this operator reconciles (the pipeline's): another operator in the cluster never shares a pipeline with it."
  type        = string
  default     = "tf-tweets"
}

variable "instance" {
  description = "Operator instance: it reconciles only pipelines labelled tweetpipe.io/operator-instance=<instance>, so an operator watching all namespaces (make demo's) leaves them alone, and this one leaves theirs."
  type        = string
  default     = "tf"
}

variable "webhook_enabled" {
  description = "Serve the validating admission webhook."
  type        = bool
  default     = false
}

variable "image_tag" {
  description = "Tag of the docker.io/tweetpipe/* images loaded in the node (make images)."
  type        = string
  default     = "dev"
}

variable "simulator_token" {
  description = "The bearer token the simulator accepts."
  type        = string
  sensitive   = true
  default     = "simulator-token-1"
}
