variable "namespace" {
  description = "Namespace of the operator (its Deployment, leader-election Lease and webhook)."
  type        = string
  default     = "tweetpipe-system"
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "namespace must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit."
  }
}

variable "create_namespace" {
  description = "Create the namespace (and delete it on destroy). False: it must exist."
  type        = bool
  default     = true
}

variable "release_name" {
  description = "Helm release name; also the name of the operator's Deployment and ServiceAccount."
  type        = string
  default     = "tweetpipe-operator"
}

variable "chart" {
  description = "The chart: a path to helm/tweetpipe-operator or to a packaged .tgz, or a chart name in chart_repository."
  type        = string
}

variable "chart_repository" {
  description = "Chart repository URL when chart is a name (null: chart is a local path)."
  type        = string
  default     = null
}

variable "chart_version" {
  description = "Chart version when installing from a repository (null: the newest)."
  type        = string
  default     = null
}

variable "image" {
  description = "The operator image. tag null: the chart's appVersion."
  type = object({
    repository  = string
    tag         = optional(string)
    pull_policy = optional(string, "IfNotPresent")
  })
  default = { repository = "ghcr.io/tweetpipe/operator" }
  validation {
    condition     = contains(["Always", "IfNotPresent", "Never"], var.image.pull_policy)
    error_message = "image.pull_policy must be Always, IfNotPresent or Never."
  }
}

variable "worker_images" {
  description = "Extractor and transformer images used when a TweetPipeline names none (null: the chart's defaults), and their pull policy."
  type = object({
    extractor   = optional(string)
    transformer = optional(string)
    pull_policy = optional(string, "IfNotPresent")
  })
  default = {}
  validation {
    condition     = contains(["Always", "IfNotPresent", "Never"], var.worker_images.pull_policy)
    error_message = "worker_images.pull_policy must be Always, IfNotPresent or Never."
  }
}

variable "replicas" {
  description = "Operator replicas; more than one needs leader election."
  type        = number
  default     = 1
  validation {
    condition     = var.replicas >= 1 && floor(var.replicas) == var.replicas
    error_message = "replicas must be a whole number of at least 1."
  }
}

variable "resources" {
  description = "Resources of the operator container (requests and limits, Kubernetes quantities). The memory request is what 1,100 pipelines measured (62.6 MiB peak) plus headroom (docs/operator.md, Benchmark); a few dozen pipelines fit in 32Mi."
  type = object({
    requests = optional(map(string), { cpu = "50m", memory = "80Mi" })
    limits   = optional(map(string), { memory = "256Mi" })
  })
  default = {}
}

variable "leader_election" {
  description = "Elect a leader on a Lease before reconciling; a standby takes over at most lease_seconds after the leader dies."
  type = object({
    enabled       = optional(bool, true)
    lease_seconds = optional(number, 15)
  })
  default = {}
  validation {
    condition     = var.leader_election.enabled || var.replicas == 1
    error_message = "leader_election.enabled must be true when replicas > 1: two leaders would reconcile the same pipelines."
  }
}

variable "webhook_enabled" {
  description = "Serve the validating admission webhook for TweetPipelines (failurePolicy Fail)."
  type        = bool
  default     = true
}

variable "allowed_api_hosts" {
  description = "Hosts source.baseUrl may name (host, host:port or http(s)://host[:port]); the only hosts the bearer tokens are sent to."
  type        = list(string)
  default     = ["https://api.x.com", "https://api.twitter.com"]
}

variable "allowed_api_services" {
  description = "In-cluster Services source.baseUrl may point at (e.g. the X API simulator or an egress proxy)."
  type = list(object({
    namespace = string
    name      = string
    port      = optional(number)
  }))
  default = []
}

variable "watch_namespace" {
  description = "Reconcile pipelines of this namespace only (empty: all namespaces). Combined with watch_namespaces."
  type        = string
  default     = ""
}

variable "watch_namespaces" {
  description = "Reconcile pipelines of these namespaces only, with Roles in them instead of a ClusterRole; they must exist before the operator is installed (empty, with watch_namespace empty: all namespaces)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for n in var.watch_namespaces : can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", n)) && length(n) <= 63])
    error_message = "watch_namespaces: each entry must be a namespace name (lowercase letters, digits and '-', at most 63 characters)."
  }
}

variable "instance" {
  description = "Operator instance: reconcile only pipelines labelled tweetpipe.io/operator-instance=<instance> (empty: the default operator)."
  type        = string
  default     = ""
}

variable "log_level" {
  description = "RUST_LOG of the operator."
  type        = string
  default     = "info"
}

variable "extra_values" {
  description = "Further chart values (see helm/tweetpipe-operator/values.yaml), merged over the ones above."
  type        = any
  default     = {}
}

variable "timeout_seconds" {
  description = "How long an install or upgrade may take until the Deployment is ready."
  type        = number
  default     = 300
}
