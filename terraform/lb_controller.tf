# The AWS Load Balancer Controller, when public_access is on: an IRSA role trusting only
# kube-system:aws-load-balancer-controller, holding exactly the controller's published policy
# (vendored in infra/policies/, version noted there), and its pinned Helm chart.

data "aws_iam_policy_document" "lb_controller_trust" {
  count = var.public_access ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${local.lb_controller.namespace}:${local.lb_controller.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "lb_controller" {
  count = var.public_access ? 1 : 0

  name_prefix = "${var.prefix}-lb-controller-"
  description = "AWS Load Balancer Controller (its published policy, vendored)"
  policy      = file(local.lb_controller.policy_file)
}

resource "aws_iam_role" "lb_controller" {
  count = var.public_access ? 1 : 0

  name_prefix        = "${var.prefix}-lb-controller-"
  assume_role_policy = data.aws_iam_policy_document.lb_controller_trust[0].json
}

resource "aws_iam_role_policy_attachment" "lb_controller" {
  count = var.public_access ? 1 : 0

  role       = aws_iam_role.lb_controller[0].name
  policy_arn = aws_iam_policy.lb_controller[0].arn
}

resource "helm_release" "lb_controller" {
  count = var.public_access ? 1 : 0

  name       = local.lb_controller.release
  repository = local.lb_controller.repository
  chart      = local.lb_controller.chart
  version    = local.lb_controller.version
  namespace  = local.lb_controller.namespace
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    clusterName = aws_eks_cluster.this.name
    # Given, not looked up: pods cannot reach IMDS past the nodes' hop limit.
    region = var.region
    vpcId  = aws_vpc.this.id
    serviceAccount = {
      create      = true
      name        = local.lb_controller.service_account
      annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.lb_controller[0].arn }
    }
  })]

  depends_on = [aws_eks_node_group.this, aws_iam_role_policy_attachment.lb_controller]
}
