# The AWS Load Balancer Controller, when public_access is on: an IRSA role (irsa.tf) trusting only
# kube-system:aws-load-balancer-controller, holding exactly the controller's published policy
# (vendored in infra/policies/, version noted there), and its pinned Helm chart.

resource "aws_iam_policy" "lb_controller" {
  count = var.public_access ? 1 : 0

  name_prefix = "${var.prefix}-lb-controller-"
  description = "AWS Load Balancer Controller (its published policy, vendored)"
  policy      = file(local.lb_controller.policy_file)
}

# The controller's role is one of irsa.tf's (local.irsa_roles); it was its own resource before.
moved {
  from = aws_iam_role.lb_controller[0]
  to   = aws_iam_role.irsa["lb-controller"]
}

resource "aws_iam_role_policy_attachment" "lb_controller" {
  count = var.public_access ? 1 : 0

  role       = aws_iam_role.irsa["lb-controller"].name
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
    # Given, not looked up: pods cannot reach IMDS (the nodes' hop limit is 1, eks.tf).
    region = var.region
    vpcId  = aws_vpc.this.id
    serviceAccount = {
      create      = true
      name        = local.lb_controller.service_account
      annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.irsa["lb-controller"].arn }
    }
  })]

  depends_on = [aws_eks_node_group.this, aws_iam_role_policy_attachment.lb_controller]
}
