output "namespace" {
  description = "Namespace of the operator."
  value       = helm_release.operator.namespace
}

output "release_name" {
  description = "Helm release name."
  value       = helm_release.operator.name
}

output "chart_version" {
  description = "Version of the installed chart."
  value       = helm_release.operator.metadata.version
}

output "crd_name" {
  description = "The CRD the chart installs; pipelines can be planned once it exists."
  value       = "tweetpipelines.tweetpipe.io"
}
