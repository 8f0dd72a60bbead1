# A customer-managed key for the cluster's Kubernetes secrets (envelope encryption), its logs, and
# MLflow's database with its backups and snapshots (rds.tf). `terraform destroy` schedules its
# deletion after the window below: cancel it (`aws kms cancel-key-deletion`) to keep the final
# snapshot restorable.

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource is always the key itself; "*" is how AWS spells that.
  #checkov:skip=CKV_AWS_111:Same: "*" in a key policy means this key only.
  #checkov:skip=CKV_AWS_356:Same: "*" in a key policy means this key only.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/aws/eks/${local.cluster_name}/*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.prefix}: EKS secrets, control-plane logs, MLflow's database"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.prefix}"
  target_key_id = aws_kms_key.this.key_id
}
