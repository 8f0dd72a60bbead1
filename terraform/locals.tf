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

  # The cluster's OIDC issuer without its scheme, as IAM condition keys spell it.
  oidc_issuer = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")

  # Kubernetes service accounts that get an IAM role (IRSA), and what each may do in the bucket.
  service_accounts = {
    trainer = { name = var.trainer_service_account, write = false }
    mlflow  = { name = var.mlflow_service_account, write = true }
  }
}
