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

# A parameter group belongs to one family (mysql8.0, mysql8.4, ...), named after the major version.
# A major upgrade (mysql_engine_version 8.4 -> next) therefore needs a new group: name_prefix lets
# the new one exist beside the old, create_before_destroy creates it and moves the instance to it
# before the old one (still in use until then) is deleted. A fixed name collided with itself.
resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-mysql-"
  family      = "mysql${var.mysql_engine_version}"
  # Every connection must use TLS; the pipelines verify the server's identity (verify-identity).
  parameter {
    name  = "require_secure_transport"
    value = "1"
  }
  parameter {
    name  = "character_set_server"
    value = "utf8mb4"
  }
  lifecycle {
    create_before_destroy = true
  }
}

# RDS for MySQL 8.0 left standard support on 2026-07-31: an instance on it (new ones too) is
# enrolled in RDS Extended Support and billed per vCPU-hour for it. A warning, not an error, for
# an instance kept on 8.0 while its upgrade is prepared.
check "mysql_standard_support" {
  assert {
    condition     = var.mysql_engine_version != "8.0"
    error_message = "mysql_engine_version 8.0 is past RDS end of standard support (2026-07-31): RDS Extended Support charges apply. Upgrade to 8.4 (README.md, major version upgrade)."
  }
}

resource "aws_db_instance" "this" {
  identifier                = var.name
  engine                    = "mysql"
  engine_version            = var.mysql_engine_version
  instance_class            = var.mysql_instance_class
  allocated_storage         = var.mysql_allocated_gib
  max_allocated_storage     = var.mysql_allocated_gib * 4
  storage_encrypted         = true
  db_subnet_group_name      = aws_db_subnet_group.this.name
  vpc_security_group_ids    = [aws_security_group.mysql.id]
  parameter_group_name      = aws_db_parameter_group.this.name
  multi_az                  = true
  username                  = "tweetpipe_admin"
  password                  = random_password.mysql_admin.result
  backup_retention_period   = 7
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"
  # engine_version is major.minor: minor versions come from auto_minor_version_upgrade (a full
  # version would be drift after the first one). A major upgrade is an edit of
  # mysql_engine_version, applied with mysql_apply_immediately = true (README.md).
  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = true
  apply_immediately           = var.mysql_apply_immediately
}

# The master password: generated here and kept in Secrets Manager (below), not managed by RDS.
# RDS-managed passwords (manage_master_user_password) are rotated by Secrets Manager every seven
# days, while the operator's MySQL admin URL is a Kubernetes Secret that ../pipelines writes at
# apply time: a week later the operator could no longer create or drop a pipeline's database.
# Here the password changes only when mysql_admin_password_generation does; then apply this stack
# and ../pipelines, whose apply rewrites every pipeline's admin URL Secret, which the operator
# picks up at once (it watches Secrets). README.md, "Rotating the MySQL admin password".
resource "random_password" "mysql_admin" {
  # RDS for MySQL: 8 to 41 printable characters, no '/', '"' or '@'.
  length  = 40
  special = false
  keepers = {
    generation = var.mysql_admin_password_generation
  }
}

# The admin credentials for people (break-glass) and for ../pipelines, which reads them at every
# plan. Written after the instance: a rotation updates the database first, then the secret.
resource "aws_secretsmanager_secret" "mysql_admin" {
  name        = "${var.name}/mysql-admin"
  description = "RDS for MySQL master user of ${var.name} (managed by OpenTofu: rotate with mysql_admin_password_generation)"
  kms_key_id  = aws_kms_key.this.arn
}

resource "aws_secretsmanager_secret_version" "mysql_admin" {
  secret_id = aws_secretsmanager_secret.mysql_admin.id
  secret_string = jsonencode({
    engine   = "mysql"
    host     = aws_db_instance.this.address
    port     = aws_db_instance.this.port
    username = aws_db_instance.this.username
    password = random_password.mysql_admin.result
  })
}
