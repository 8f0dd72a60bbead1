# IAM roles for Kubernetes service accounts (IRSA): each role trusts exactly one
# namespace:serviceaccount through the cluster's OIDC provider. The workloads' roles reach one
# prefix of the data bucket; the EBS CSI driver's role gets AWS's managed policy, the load
# balancer controller's (public access) its published one (lb_controller.tf).

data "aws_iam_policy_document" "irsa_trust" {
  for_each = local.irsa_roles

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa_roles

  name_prefix        = "${var.prefix}-${each.key}-"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust[each.key].json
}

data "aws_iam_policy_document" "bucket_access" {
  for_each = local.bucket_access

  statement {
    actions   = each.value.actions
    resources = ["${aws_s3_bucket.data.arn}/${each.value.prefix}/*"]
  }

  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${each.value.prefix}/*", each.value.prefix]
    }
  }
}

resource "aws_iam_role_policy" "bucket_access" {
  for_each = local.bucket_access

  name   = "bucket-${each.value.prefix}"
  role   = aws_iam_role.irsa[each.key].id
  policy = data.aws_iam_policy_document.bucket_access[each.key].json
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.irsa["ebs-csi"].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}
