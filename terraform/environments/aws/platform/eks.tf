data "aws_iam_policy_document" "eks_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${var.name}-eks-cluster"
  assume_role_policy = data.aws_iam_policy_document.eks_assume.json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "this" {
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  # Cluster admins are exactly var.cluster_admin_principal_arns, through the access entries below.
  # Not the creator's implicit entry as well: EKS makes that entry at creation, outside the state,
  # so the same principal in the list fails with 409 ResourceInUseException; and it is fixed for
  # the cluster's life (changing the flag replaces the cluster), whoever happened to apply first.
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = false
  }

  # The API server: always on the private endpoint (nodes, and hosts admitted below); on the
  # public one only from var.cluster_endpoint_public_access_cidrs, never EKS's default of
  # 0.0.0.0/0. An empty list turns the public endpoint off.
  vpc_config {
    subnet_ids              = aws_subnet.private[*].id
    endpoint_private_access = true
    endpoint_public_access  = length(var.cluster_endpoint_public_access_cidrs) > 0
    public_access_cidrs     = length(var.cluster_endpoint_public_access_cidrs) > 0 ? var.cluster_endpoint_public_access_cidrs : null
  }

  # Kubernetes Secrets (the pipelines' tokens and passwords) encrypted with a KMS key in etcd.
  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.this.arn
    }
  }

  depends_on = [aws_iam_role_policy_attachment.cluster]
}

# Whoever applies ../operator and ../pipelines needs one of these entries: a warning (not an
# error) at plan when the principal running this plan is not in the list.
data "aws_caller_identity" "current" {}

data "aws_iam_session_context" "current" {
  arn = data.aws_caller_identity.current.arn
}

check "applier_is_cluster_admin" {
  assert {
    condition     = contains(var.cluster_admin_principal_arns, data.aws_iam_session_context.current.issuer_arn)
    error_message = "${data.aws_iam_session_context.current.issuer_arn} (running this plan) is not in cluster_admin_principal_arns: it will not be able to apply ../operator or ../pipelines."
  }
}

resource "aws_eks_access_entry" "admins" {
  for_each      = toset(var.cluster_admin_principal_arns)
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
}

resource "aws_eks_access_policy_association" "admins" {
  for_each      = toset(var.cluster_admin_principal_arns)
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  policy_arn    = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
  access_scope {
    type = "cluster"
  }
  depends_on = [aws_eks_access_entry.admins]
}

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = "${var.name}-eks-node"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
  ])
  role       = aws_iam_role.node.name
  policy_arn = each.value
}

resource "aws_eks_node_group" "default" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "default"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = aws_subnet.private[*].id
  instance_types  = var.node_instance_types
  scaling_config {
    desired_size = var.node_count.desired
    min_size     = var.node_count.min
    max_size     = var.node_count.max
  }
  update_config {
    max_unavailable = 1
  }
  depends_on = [aws_iam_role_policy_attachment.node]
}

# Pods reach MSK and RDS from the cluster security group (managed nodes carry it).
locals {
  cluster_security_group_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

# Hosts in (or connected to) the VPC that apply ../operator and ../pipelines through the private
# endpoint, e.g. a CI runner when there is no public endpoint.
resource "aws_vpc_security_group_ingress_rule" "api_from_private_cidrs" {
  for_each          = toset(var.cluster_endpoint_private_access_cidrs)
  security_group_id = local.cluster_security_group_id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "Kubernetes API (private endpoint) from ${each.value}"
}
