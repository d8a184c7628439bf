# Variables mirror the TweetPipeline spec (docs/operator.md); the validation blocks repeat the
# CRD's rules so that `tofu plan` refuses what the API server would refuse at apply time. The
# operator core's unit tests (operator/core/src/admission/contract_twins.rs) check that the
# companion-topic and safety-margin conditions below match the Rust contract they copy.

variable "name" {
  description = "Name of the TweetPipeline; also the prefix of the Secrets this module creates."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.name)) && length(var.name) <= 40
    error_message = "name must be a DNS label of at most 40 characters (lowercase letters, digits and '-', starting and ending with a letter or digit): the operator derives its workloads' names from it."
  }
}

variable "namespace" {
  description = "Namespace of the pipeline, its Secrets and its workers."
  type        = string
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

variable "operator_instance" {
  description = "Label the pipeline for this operator instance (tweetpipe.io/operator-instance); empty: the default operator."
  type        = string
  default     = ""
}

# --- secrets (sensitive: they reach the Secrets, never the TweetPipeline or the plan output) ----

variable "bearer_tokens" {
  description = "X API bearer tokens by name (each becomes a key of the Secret <name>-x-bearer-tokens); every token is a rate budget of its own."
  type        = map(string)
  sensitive   = true
  validation {
    condition     = length(var.bearer_tokens) >= 1 && length(var.bearer_tokens) <= 16
    error_message = "bearer_tokens must hold between 1 and 16 tokens (source.tokens: minItems 1, maxItems 16)."
  }
  validation {
    condition     = alltrue([for k in keys(var.bearer_tokens) : can(regex("^[-._a-zA-Z0-9]+$", k)) && length(k) <= 253])
    error_message = "bearer_tokens: every name is a Secret key and may contain only letters, digits, '-', '_' and '.'."
  }
  validation {
    condition     = alltrue([for v in values(var.bearer_tokens) : trimspace(v) != ""])
    error_message = "bearer_tokens: a token must not be empty."
  }
}

variable "mysql_admin_url" {
  description = "Administrative MySQL URL without a database (mysql://user:password@host:port); the operator creates the pipeline's database and users with it."
  type        = string
  sensitive   = true
  validation {
    condition     = can(regex("^mysql://[^@/]+@[^/]+/?$", var.mysql_admin_url))
    error_message = "mysql_admin_url must be mysql://user:password@host:port, without a database."
  }
}

variable "reporting_user_password" {
  description = "Password of the read-only reporting user (mysql.reporting_user); null: no reporting user."
  type        = string
  sensitive   = true
  default     = null
}

variable "kafka_sasl_credentials" {
  description = "SASL credentials (kafka.sasl.mechanism must be set): the workers' user and, optionally, a separate administrative user for the operator (topic creation)."
  type = object({
    username       = string
    password       = string
    admin_username = optional(string)
    admin_password = optional(string)
  })
  sensitive = true
  default   = null
}

variable "kafka_client_key" {
  description = "PEM private key for mutual TLS to Kafka (with kafka.tls.client_certificate)."
  type        = string
  sensitive   = true
  default     = null
}

# --- spec -------------------------------------------------------------------------------------

variable "source_config" {
  description = "spec.source: the X API base URL, the queries and the rate limits of one token."
  type = object({
    base_url = optional(string, "https://api.x.com")
    queries = list(object({
      name  = string
      query = string
      # "Search" (polled; unset means Search) or "Stream" (X's filtered stream; the query is a
      # rule of its token's app): docs/streaming.md says when to choose which.
      delivery = optional(string)
      # Stream only: fill a disconnect longer than stream.backfill_minutes from recent search
      # (unset: true); false records such an interval as a gap.
      search_recovery = optional(bool)
    }))
    # The filtered stream's settings (queries with delivery = "Stream"); unset leaves the CRD's
    # default (5 minutes of backfill).
    stream = optional(object({
      backfill_minutes = optional(number, 5)
    }))
    limits = optional(object({
      requests_per_window = optional(number, 450)
      window_seconds      = optional(number, 900)
      monthly_post_cap    = optional(number)
    }), {})
    safety_margin_percent = optional(number, 10)
    max_results           = optional(number, 100)
    # X project access level: Basic, Pro, PayPerUse or Enterprise (query length and advanced
    # operators; docs/queries.md). Unset leaves the CRD's default, Pro.
    access_level = optional(string)
    fields = optional(object({
      expansions   = optional(list(string))
      tweet_fields = optional(list(string))
      user_fields  = optional(list(string))
      place_fields = optional(list(string))
    }))
  })
  validation {
    condition     = can(regex("^https?://[^/\\s]+/?$", var.source_config.base_url)) && length(var.source_config.base_url) <= 2048
    error_message = "source.base_url must be an http:// or https:// URL without an API path, e.g. https://api.x.com: the extractor appends /2/tweets/search/recent. Its host must be allowed by the operator (allowed_api_hosts or allowed_api_services)."
  }
  validation {
    condition     = length(var.source_config.queries) >= 1 && length(var.source_config.queries) <= 200
    error_message = "source.queries must hold between 1 and 200 queries."
  }
  validation {
    condition     = alltrue([for q in var.source_config.queries : can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", q.name)) && length(q.name) <= 63])
    error_message = "a query name may contain only lowercase letters, digits and '-', must start and end with a letter or digit, and be at most 63 characters."
  }
  validation {
    condition     = length(distinct([for q in var.source_config.queries : q.name])) == length(var.source_config.queries)
    error_message = "source.queries: every query needs a unique name (two queries share one)."
  }
  validation {
    condition     = alltrue([for q in var.source_config.queries : trimspace(q.query) != "" && length(q.query) <= 4096])
    error_message = "a query must contain search terms, not only spaces, and be at most 4096 characters."
  }
  validation {
    condition = (var.source_config.limits.requests_per_window >= 1 && var.source_config.limits.requests_per_window <= 1000000
      && var.source_config.limits.window_seconds >= 1 && var.source_config.limits.window_seconds <= 86400
    && (var.source_config.limits.monthly_post_cap == null ? true : var.source_config.limits.monthly_post_cap >= 1))
    error_message = "source.limits: requests_per_window must be 1..1000000, window_seconds 1..86400 and monthly_post_cap at least 1."
  }
  validation {
    condition     = var.source_config.safety_margin_percent >= 0 && var.source_config.safety_margin_percent <= 90
    error_message = "source.safety_margin_percent must be between 0 and 90."
  }
  validation {
    condition     = var.source_config.access_level == null ? true : contains(["Basic", "Pro", "PayPerUse", "Enterprise"], var.source_config.access_level)
    error_message = "source.access_level must be Basic, Pro, PayPerUse or Enterprise (the X project's access level; it sets the longest query and the advanced operators)."
  }
  validation {
    condition     = alltrue([for q in var.source_config.queries : q.delivery == null ? true : contains(["Search", "Stream"], q.delivery)])
    error_message = "a query's delivery must be Search (polled, the default) or Stream (X's filtered stream; docs/streaming.md)."
  }
  validation {
    condition     = alltrue([for q in var.source_config.queries : q.search_recovery == null || q.delivery == "Stream"])
    error_message = "search_recovery applies only to a query with delivery = \"Stream\" (it says whether a disconnect longer than the backfill is filled from recent search); remove it or set delivery = \"Stream\"."
  }
  validation {
    condition     = var.source_config.stream == null ? true : (var.source_config.stream.backfill_minutes >= 1 && var.source_config.stream.backfill_minutes <= 5 && floor(var.source_config.stream.backfill_minutes) == var.source_config.stream.backfill_minutes)
    error_message = "source.stream.backfill_minutes must be a whole number between 1 and 5 (what X redelivers on a reconnect)."
  }
  validation {
    condition     = var.source_config.max_results >= 10 && var.source_config.max_results <= 100
    error_message = "source.max_results must be between 10 and 100 (the X API's page size limits)."
  }
}

variable "extractor" {
  description = "spec.extractor: replicas follow the rate budget, up to max_replicas (0 pauses extraction)."
  type = object({
    max_replicas             = optional(number, 4)
    min_requests_per_replica = optional(number, 30)
    image                    = optional(string)
    resources = optional(object({
      requests = optional(map(string))
      limits   = optional(map(string))
    }))
  })
  default = {}
  validation {
    condition     = var.extractor.max_replicas >= 0 && var.extractor.max_replicas <= 100 && floor(var.extractor.max_replicas) == var.extractor.max_replicas
    error_message = "extractor.max_replicas must be a whole number between 0 and 100."
  }
  validation {
    condition     = var.extractor.min_requests_per_replica >= 1 && var.extractor.min_requests_per_replica <= 1000000
    error_message = "extractor.min_requests_per_replica must be between 1 and 1000000."
  }
  validation {
    condition     = var.extractor.min_requests_per_replica <= floor(var.source_config.limits.requests_per_window * (100 - var.source_config.safety_margin_percent) / 100)
    error_message = "extractor.min_requests_per_replica must not exceed the requests one token allows per window after the safety margin, requests_per_window x (100 - safety_margin_percent) / 100 rounded down (e.g. 450 x 90 / 100 = 405): no replica could ever get its minimum share of the rate budget."
  }
}

variable "transformer" {
  description = "spec.transformer: replicas follow the consumer lag between min_replicas and max_replicas."
  type = object({
    min_replicas           = optional(number, 1)
    max_replicas           = optional(number, 4)
    target_lag_per_replica = optional(number, 5000)
    batch_size             = optional(number, 500)
    flush_interval_ms      = optional(number, 1000)
    image                  = optional(string)
    resources = optional(object({
      requests = optional(map(string))
      limits   = optional(map(string))
    }))
  })
  default = {}
  validation {
    condition     = var.transformer.min_replicas >= 0 && var.transformer.max_replicas >= 1 && var.transformer.max_replicas <= 1000
    error_message = "transformer.min_replicas must be at least 0 and transformer.max_replicas between 1 and 1000."
  }
  validation {
    condition     = var.transformer.min_replicas <= var.transformer.max_replicas
    error_message = "transformer.min_replicas must not exceed transformer.max_replicas."
  }
  validation {
    condition = (var.transformer.target_lag_per_replica >= 1 && var.transformer.batch_size >= 1 && var.transformer.batch_size <= 10000
    && var.transformer.flush_interval_ms >= 10 && var.transformer.flush_interval_ms <= 600000)
    error_message = "transformer: target_lag_per_replica must be at least 1, batch_size 1..10000 and flush_interval_ms 10..600000."
  }
}

variable "kafka" {
  description = "spec.kafka: brokers and the pipeline's topic (created by the operator). tls and sasl_mechanism switch on TLS and SASL."
  type = object({
    bootstrap_servers   = string
    topic               = string
    partitions          = optional(number, 6)
    replication_factor  = optional(number, 1)
    retention_hours     = optional(number, 168)
    schema_registry_url = optional(string)
    sasl_mechanism      = optional(string)
    tls = optional(object({
      ca_certificate     = optional(string)
      client_certificate = optional(string)
    }))
  })
  validation {
    condition     = can(regex("^[^:,\\s]+:[0-9]{1,5}(,[^:,\\s]+:[0-9]{1,5})*$", var.kafka.bootstrap_servers))
    error_message = "kafka.bootstrap_servers must be comma-separated host:port pairs, e.g. kafka-0.kafka:9092,kafka-1.kafka:9092."
  }
  validation {
    condition     = alltrue([for hp in split(",", var.kafka.bootstrap_servers) : try(tonumber(element(split(":", hp), 1)) >= 1 && tonumber(element(split(":", hp), 1)) <= 65535, false)])
    error_message = "kafka.bootstrap_servers: every port must be between 1 and 65535."
  }
  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]+$", var.kafka.topic)) && length(var.kafka.topic) <= 237 && !contains([".", ".."], var.kafka.topic)
    error_message = "kafka.topic may contain only ASCII letters, digits, '.', '_' and '-', cannot be '.' or '..', and must be at most 237 characters (the pipeline adds .checkpoints for its companion topic)."
  }
  validation {
    condition     = !endswith(var.kafka.topic, ".checkpoints") && !endswith(var.kafka.topic, ".slots") && !endswith(var.kafka.topic, ".dlq")
    error_message = "kafka.topic must not end in .checkpoints, .slots or .dlq: those suffixes are the pipeline's own companion topics."
  }
  validation {
    condition = (var.kafka.partitions >= 1 && var.kafka.partitions <= 10000 && var.kafka.replication_factor >= 1
    && var.kafka.replication_factor <= 16 && var.kafka.retention_hours >= 1 && var.kafka.retention_hours <= 87600)
    error_message = "kafka: partitions must be 1..10000, replication_factor 1..16 and retention_hours 1..87600. (The topic cannot change and partitions can only grow once created: the API server refuses both.)"
  }
  validation {
    condition     = var.kafka.sasl_mechanism == null || contains(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], coalesce(var.kafka.sasl_mechanism, "PLAIN"))
    error_message = "kafka.sasl_mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
  }
  validation {
    condition     = var.kafka.sasl_mechanism != "PLAIN" || var.kafka.tls != null
    error_message = "kafka.sasl_mechanism PLAIN sends the password in clear text; configure kafka.tls as well or use a SCRAM mechanism."
  }
  validation {
    condition     = var.kafka.schema_registry_url == null || can(regex("^https?://[^/\\s]+(/.*)?$", coalesce(var.kafka.schema_registry_url, "http://x")))
    error_message = "kafka.schema_registry_url must be an http:// or https:// URL."
  }
}

variable "mysql" {
  description = "spec.mysql: the pipeline's database (created by the operator), an optional read-only reporting user and TLS."
  type = object({
    database            = string
    reporting_user_name = optional(string)
    tls = optional(object({
      ca_certificate = optional(string)
      mode           = optional(string, "verify-identity")
    }))
  })
  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.mysql.database)) && length(var.mysql.database) <= 64
    error_message = "mysql.database may contain only ASCII letters, digits and '_', at most 64 characters (and cannot change once created: the posts live in the old database)."
  }
  validation {
    condition     = !contains(["mysql", "information_schema", "performance_schema", "sys", "tweetpipe_control"], lower(var.mysql.database))
    error_message = "mysql.database must not be a system schema nor tweetpipe's ownership ledger (mysql, information_schema, performance_schema, sys, tweetpipe_control): a pipeline's accounts would get rights on the server's accounts or on which pipeline owns what."
  }
  validation {
    condition     = !can(regex("^[_%]+$", var.mysql.database))
    error_message = "mysql.database must contain a letter or digit: a name made only of '_' is a probe for MySQL's GRANT wildcards, never a pipeline's database."
  }
  validation {
    condition     = var.mysql.reporting_user_name == null || (can(regex("^[A-Za-z0-9_]{1,32}$", coalesce(var.mysql.reporting_user_name, "x"))) && var.mysql.reporting_user_name != "root")
    error_message = "mysql.reporting_user_name may contain only ASCII letters, digits and '_' (at most 32) and must not be root: the reporting user is read-only."
  }
  validation {
    condition     = var.mysql.tls == null || contains(["verify-identity", "verify-ca", "required"], try(var.mysql.tls.mode, ""))
    error_message = "mysql.tls.mode must be verify-identity, verify-ca or required."
  }
}

variable "deletion_policy" {
  description = "spec.deletionPolicy: Delete drops the topic and the database when the pipeline is destroyed; Retain keeps them."
  type        = string
  default     = "Retain"
  validation {
    condition     = contains(["Retain", "Delete"], var.deletion_policy)
    error_message = "deletion_policy must be Retain or Delete."
  }
}

variable "suspend" {
  description = "spec.suspend: stop the workers and keep everything else."
  type        = bool
  default     = false
}

variable "ready_timeout" {
  description = "How long apply waits for the pipeline's Ready condition (a duration such as 5m)."
  type        = string
  default     = "5m"
}
