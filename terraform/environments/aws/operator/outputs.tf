output "operator_namespace" {
  description = "Namespace of the operator."
  value       = module.operator.namespace
}
