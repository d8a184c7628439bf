output "name" {
  description = "Name of the TweetPipeline."
  value       = kubernetes_manifest.pipeline.manifest.metadata.name
}

output "namespace" {
  description = "Namespace of the pipeline."
  value       = local.namespace
}

output "topic" {
  description = "The pipeline's Kafka topic."
  value       = var.kafka.topic
}

output "database" {
  description = "The pipeline's MySQL database."
  value       = var.mysql.database
}

output "secret_names" {
  description = "Names of the Secrets this module manages (values are never output)."
  value = concat(
    [kubernetes_secret_v1.bearer_tokens.metadata[0].name, kubernetes_secret_v1.mysql_admin.metadata[0].name],
    [for s in concat(kubernetes_secret_v1.mysql_reporting, kubernetes_secret_v1.mysql_ca, kubernetes_secret_v1.kafka_ca,
    kubernetes_secret_v1.kafka_client, kubernetes_secret_v1.kafka_workers, kubernetes_secret_v1.kafka_admin) : s.metadata[0].name],
  )
}
