# MLflow's PostgreSQL on RDS (var.mlflow_database = "rds"), as infra/database.py declares it:
# encrypted with the stack's key, in the VPC's subnets with no public address, reachable on 5432
# only from the cluster's nodes (and their pods), backed up, and kept as a final snapshot.

locals {
  mlflow_db = {
    count    = var.mlflow_database == "rds" ? 1 : 0
    name     = "${var.prefix}-mlflow-db"
    engine   = "16" # the major version; RDS applies minor upgrades in the maintenance window
    port     = 5432
    database = "mlflow"
    username = "mlflow"
    # Storage grows by itself up to this, so a full disk never stops MLflow.
    max_storage_gib = 100
    log_exports     = ["postgresql", "upgrade"]
  }
}

resource "random_password" "mlflow_db" {
  count = local.mlflow_db.count

  length  = 32
  special = false
}

# A suffix of its own, so a second destroy's final snapshot never collides with the first's.
resource "random_id" "mlflow_db_final_snapshot" {
  count = local.mlflow_db.count

  byte_length = 4
}

resource "aws_db_subnet_group" "mlflow" {
  count = local.mlflow_db.count

  name        = local.mlflow_db.name
  description = "MLflow's database: the VPC's subnets"
  subnet_ids  = [for s in aws_subnet.public : s.id]
}

# No egress rule: the provider removes AWS's default allow-all, and a database answers on the
# connections it accepted without one.
resource "aws_security_group" "mlflow_db" {
  count = local.mlflow_db.count

  name        = local.mlflow_db.name
  description = "MLflow's database: PostgreSQL from the cluster's nodes only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = local.mlflow_db.name }
}

# The cluster security group EKS made: managed nodes whose launch template names no group (the
# node launch template names none) get it, so every node, and each pod on it, sends from it.
resource "aws_vpc_security_group_ingress_rule" "mlflow_db_from_nodes" {
  count = local.mlflow_db.count

  security_group_id            = aws_security_group.mlflow_db[0].id
  referenced_security_group_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = local.mlflow_db.port
  to_port                      = local.mlflow_db.port
  description                  = "PostgreSQL from the cluster's nodes and their pods"
}

resource "aws_db_parameter_group" "mlflow" {
  count = local.mlflow_db.count

  name        = local.mlflow_db.name
  family      = "postgres${local.mlflow_db.engine}"
  description = "MLflow's database: TLS only, slow statements and DDL logged"

  # TLS only (the URI asks for it too); statements over a second and schema changes logged.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
}

resource "aws_db_instance" "mlflow" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is var.mlflow_database_multi_az, off by default because a standby doubles the database's price (README, AWS EKS); turn it on where a zone's outage must not stop MLflow.
  #checkov:skip=CKV_AWS_161:MLflow connects with a password from a Kubernetes Secret; IAM tokens expire every 15 minutes and MLflow's SQLAlchemy engine cannot renew them.
  #checkov:skip=CKV_AWS_118:Enhanced Monitoring needs an IAM role of its own and bills CloudWatch Logs; RDS's free CloudWatch metrics cover a registry this small.
  #checkov:skip=CKV_AWS_353:Performance Insights is a paid diagnostic a registry this small does not need; enable it on the instance when diagnosing slow queries.
  count = local.mlflow_db.count

  identifier            = local.mlflow_db.name
  engine                = "postgres"
  engine_version        = local.mlflow_db.engine
  instance_class        = var.mlflow_database_instance_class
  allocated_storage     = var.mlflow_database_storage_gib
  max_allocated_storage = local.mlflow_db.max_storage_gib
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  db_name  = local.mlflow_db.database
  username = local.mlflow_db.username
  password = random_password.mlflow_db[0].result
  port     = local.mlflow_db.port

  db_subnet_group_name   = aws_db_subnet_group.mlflow[0].name
  vpc_security_group_ids = [aws_security_group.mlflow_db[0].id]
  parameter_group_name   = aws_db_parameter_group.mlflow[0].name
  publicly_accessible    = false
  multi_az               = var.mlflow_database_multi_az

  backup_retention_period   = var.mlflow_database_backup_retention_days
  copy_tags_to_snapshot     = true
  deletion_protection       = var.mlflow_database_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.mlflow_db.name}-final-${random_id.mlflow_db_final_snapshot[0].hex}"
  snapshot_identifier       = var.mlflow_database_snapshot == "" ? null : var.mlflow_database_snapshot

  auto_minor_version_upgrade      = true
  enabled_cloudwatch_logs_exports = local.mlflow_db.log_exports
}
