resource "aws_security_group" "kafka" {
  name        = "${var.name}-kafka"
  description = "MSK brokers: SASL/SCRAM over TLS from the EKS cluster"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_ingress_rule" "kafka_from_cluster" {
  security_group_id            = aws_security_group.kafka.id
  referenced_security_group_id = local.cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 9096
  to_port                      = 9096
  description                  = "SASL_SSL (SCRAM) from the cluster"
}

resource "aws_msk_configuration" "this" {
  name           = var.name
  kafka_versions = [var.kafka_version]
  # Topics are the operator's (partitions, retention); nothing is created by accident. Without
  # ACLs every authenticated user may do everything; docs/security.md lists the ACLs to add.
  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
    allow.everyone.if.no.acl.found=true
  PROPERTIES
}

resource "aws_msk_cluster" "this" {
  cluster_name  = var.name
  kafka_version = var.kafka_version
  # A multiple of the client subnets (one per AZ), and at least 3 so that replication factor 3
  # (default.replication.factor, the pipelines' topics) fits: 3 AZs -> 3 brokers, 2 AZs -> 4.
  number_of_broker_nodes = length(local.azs) * ceil(3 / length(local.azs))

  broker_node_group_info {
    instance_type   = var.kafka_broker_instance_type
    client_subnets  = aws_subnet.private[*].id
    security_groups = [aws_security_group.kafka.id]
    storage_info {
      ebs_storage_info {
        volume_size = var.kafka_volume_gib
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    sasl {
      scram = true
    }
    unauthenticated = false
  }

  encryption_info {
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }
}

resource "aws_msk_scram_secret_association" "this" {
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = [for s in aws_secretsmanager_secret.kafka : s.arn]
  depends_on      = [aws_secretsmanager_secret_version.kafka, aws_secretsmanager_secret_policy.kafka]
}
