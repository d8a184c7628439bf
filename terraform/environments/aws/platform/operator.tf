module "operator" {
  source = "../../../modules/operator"

  namespace = "tweetpipe-system"
  chart     = var.operator_chart
  image     = { repository = var.operator_image.repository, tag = var.operator_image.tag }
  replicas  = var.operator_replicas
  resources = {
    requests = { cpu = "100m", memory = "128Mi" }
    limits   = { memory = "512Mi" }
  }
  leader_election = { enabled = true, lease_seconds = 15 }
  webhook_enabled = true
  # Tokens go to the X API over HTTPS and nowhere else.
  allowed_api_hosts = ["https://api.x.com"]

  depends_on = [aws_eks_node_group.default]
}
