resource "aws_security_group" "mysql" {
  name        = "${var.name}-mysql"
  description = "RDS for MySQL: TLS from the EKS cluster"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_ingress_rule" "mysql_from_cluster" {
  security_group_id            = aws_security_group.mysql.id
  referenced_security_group_id = local.cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 3306
  to_port                      = 3306
  description                  = "MySQL from the cluster"
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "this" {
  name   = "${var.name}-mysql8"
  family = "mysql${var.mysql_engine_version}"
  # Every connection must use TLS; the pipelines verify the server's identity (verify-identity).
  parameter {
    name  = "require_secure_transport"
    value = "1"
  }
  parameter {
    name  = "character_set_server"
    value = "utf8mb4"
  }
}

resource "aws_db_instance" "this" {
  identifier                  = var.name
  engine                      = "mysql"
  engine_version              = var.mysql_engine_version
  instance_class              = var.mysql_instance_class
  allocated_storage           = var.mysql_allocated_gib
  max_allocated_storage       = var.mysql_allocated_gib * 4
  storage_encrypted           = true
  db_subnet_group_name        = aws_db_subnet_group.this.name
  vpc_security_group_ids      = [aws_security_group.mysql.id]
  parameter_group_name        = aws_db_parameter_group.this.name
  multi_az                    = true
  username                    = "tweetpipe_admin"
  manage_master_user_password = true
  backup_retention_period     = 7
  deletion_protection         = true
  skip_final_snapshot         = false
  final_snapshot_identifier   = "${var.name}-final"
  auto_minor_version_upgrade  = true
}
