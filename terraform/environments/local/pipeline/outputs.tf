output "pipeline" {
  description = "Namespace/name of the demo TweetPipeline."
  value       = "${module.covid19.namespace}/${module.covid19.name}"
}

output "topic" {
  description = "Its Kafka topic."
  value       = module.covid19.topic
}

output "database" {
  description = "Its MySQL database."
  value       = module.covid19.database
}
