locals {
  cluster_name = "${var.prefix}-eks"

  tags = merge(var.tags, {
    "app.kubernetes.io/part-of" = "mlflow-serving-stack"
    "managed-by"                = "terraform"
  })

  # One public subnet per availability zone, in the order given; without zones, the region's first.
  availability_zones = (length(var.availability_zones) > 0 ? var.availability_zones :
  slice(data.aws_availability_zones.available.names, 0, length(var.public_subnet_cidrs)))
  public_subnets = zipmap(local.availability_zones, var.public_subnet_cidrs)
  # The load balancer's subnet in each of those zones (variables.tf: one per public subnet).
  load_balancer_subnets = zipmap(local.availability_zones, var.load_balancer_subnet_cidrs)

  # The cluster's OIDC issuer without its scheme, as IAM condition keys spell it.
  oidc_issuer = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")

  # AWS managed policies of the node role.
  node_policies = ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"]

  # The bundled dataset and where it goes in the bucket (stacks/workloads.py, infra/storage.py).
  data_file = "${path.module}/../services/data/airline.csv"
  data_key  = "data/airline.csv"

  # Service accounts that get an IAM role (IRSA), named as the Pulumi workloads name them.
  irsa = {
    mlflow  = { namespace = var.namespace, service_account = "${var.prefix}-mlflow" }
    trainer = { namespace = var.namespace, service_account = "${var.prefix}-trainer" }
    ebs-csi = { namespace = "kube-system", service_account = "ebs-csi-controller-sa" }
  }
  # With public access, the AWS Load Balancer Controller's account gets one too (lb_controller.tf):
  # every role is made by irsa.tf, from one trust policy.
  lb_controller_irsa = {
    lb-controller = {
      namespace       = local.lb_controller.namespace
      service_account = local.lb_controller.service_account
    }
  }
  irsa_roles = merge(local.irsa, var.public_access ? local.lb_controller_irsa : {})

  # What each workload may do in the bucket: one prefix each. MLflow writes artifacts through its
  # artifact proxy (no other pod holds S3 rights); the trainer only reads the training data.
  bucket_access = {
    mlflow  = { prefix = "artifacts", actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] }
    trainer = { prefix = "data", actions = ["s3:GetObject"] }
  }

  # kube-prometheus-stack, installed as the Pulumi Monitoring component installs it.
  monitoring = {
    namespace  = "monitoring"
    release    = "kube-prometheus-stack"
    chart      = "kube-prometheus-stack"
    repository = "https://prometheus-community.github.io/helm-charts"
  }
  grafana_admin_password = var.grafana_admin_password != "" ? var.grafana_admin_password : random_password.grafana[0].result

  # The AWS Load Balancer Controller (public_access), as infra/lb_controller.py installs it.
  lb_controller = {
    namespace       = "kube-system"
    service_account = "aws-load-balancer-controller"
    release         = "aws-load-balancer-controller"
    chart           = "aws-load-balancer-controller"
    repository      = "https://aws.github.io/eks-charts"
    version         = "3.5.0"
    policy_file     = "${path.module}/../infra/policies/aws-load-balancer-controller.json"
  }
}
