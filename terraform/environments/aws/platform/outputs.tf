output "region" {
  description = "AWS region."
  value       = var.region
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_ca_certificate" {
  description = "EKS cluster CA, base64."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "kafka_bootstrap_servers" {
  description = "MSK brokers, SASL_SSL (SCRAM) listener."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "kafka_secret_arns" {
  description = "Secrets Manager ARNs of the SCRAM users (workers, admin)."
  value       = { for k, s in aws_secretsmanager_secret.kafka : k => s.arn }
}

output "mysql_endpoint" {
  description = "RDS endpoint host:port."
  value       = aws_db_instance.this.endpoint
}

output "mysql_admin_secret_arn" {
  description = "Secrets Manager ARN of the RDS master user (username, password, host, port); rotated by mysql_admin_password_generation."
  value       = aws_secretsmanager_secret_version.mysql_admin.arn
}

output "x_bearer_tokens_secret_arn" {
  description = "Secrets Manager ARN of the X API bearer tokens (put its value by hand)."
  value       = aws_secretsmanager_secret.x_bearer_tokens.arn
}
