# IAM roles for Kubernetes service accounts (IRSA): each role trusts exactly one
# namespace:serviceaccount through the cluster's OIDC provider, and reaches only the data bucket.

data "aws_iam_policy_document" "irsa_trust" {
  for_each = local.service_accounts

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${each.value.name}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "irsa_bucket" {
  for_each = local.service_accounts

  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.data.arn]
  }

  statement {
    sid = "Objects"
    actions = concat(
      ["s3:GetObject", "s3:GetObjectVersion"],
      each.value.write ? ["s3:PutObject", "s3:DeleteObject"] : [],
    )
    resources = ["${aws_s3_bucket.data.arn}/*"]
  }

  statement {
    sid       = "BucketKey"
    actions   = concat(["kms:Decrypt"], each.value.write ? ["kms:GenerateDataKey"] : [])
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.service_accounts

  name_prefix        = "${var.prefix}-${each.key}-"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust[each.key].json
}

resource "aws_iam_role_policy" "irsa_bucket" {
  for_each = local.service_accounts

  name   = "bucket-access"
  role   = aws_iam_role.irsa[each.key].id
  policy = data.aws_iam_policy_document.irsa_bucket[each.key].json
}
