output "pipelines" {
  description = "namespace/name, topic and database of each pipeline."
  value = { for k, p in module.pipeline : k => {
    pipeline = "${p.namespace}/${p.name}"
    topic    = p.topic
    database = p.database
  } }
}
