output "operator_namespace" {
  description = "Namespace of the operator."
  value       = module.operator.namespace
}

output "release_name" {
  description = "Helm release of the operator."
  value       = module.operator.release_name
}

output "simulator_base_url" {
  description = "source.baseUrl of pipelines reading the simulator (allowed by the operator)."
  value       = "http://${kubernetes_service_v1.simulator.metadata[0].name}.${module.operator.namespace}.svc:8080"
}
