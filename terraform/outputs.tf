output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "kubeconfig" {
  description = "Kubeconfig for the cluster; authenticates with `aws eks get-token` as the caller."
  sensitive   = true
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = local.cluster_name
    clusters = [{
      name    = local.cluster_name
      cluster = { server = aws_eks_cluster.this.endpoint, certificate-authority-data = aws_eks_cluster.this.certificate_authority[0].data }
    }]
    contexts = [{ name = local.cluster_name, context = { cluster = local.cluster_name, user = local.cluster_name } }]
    users = [{
      name = local.cluster_name
      user = { exec = {
        apiVersion = "client.authentication.k8s.io/v1beta1"
        command    = "aws"
        args       = ["eks", "get-token", "--cluster-name", local.cluster_name, "--region", var.region]
      } }
    }]
  })
}

output "bucket_name" {
  description = "S3 bucket holding the training data and MLflow artifacts."
  value       = aws_s3_bucket.data.bucket
}

output "data_uri" {
  description = "S3 URI of the bundled training data, for `mlstack train --data`."
  value       = "s3://${aws_s3_bucket.data.bucket}/${aws_s3_object.airline.key}"
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, one per availability zone."
  value       = [for s in aws_subnet.public : s.id]
}

output "load_balancer_subnet_ids" {
  description = "IDs of the load balancer's subnets, one per zone: an Ingress's alb.ingress.kubernetes.io/subnets."
  value       = [for s in aws_subnet.load_balancer : s.id]
}

output "load_balancer_subnet_cidrs" {
  description = "The load balancer's subnets: the API's trusted proxies (RATE_LIMIT_TRUSTED_PROXIES) and NetworkPolicy ipBlocks."
  value       = [for s in aws_subnet.load_balancer : s.cidr_block]
}

output "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "trainer_role_arn" {
  description = "IAM role for the trainer's service account (its eks.amazonaws.com/role-arn annotation)."
  value       = aws_iam_role.irsa["trainer"].arn
}

output "mlflow_role_arn" {
  description = "IAM role for the MLflow server's service account (its eks.amazonaws.com/role-arn annotation)."
  value       = aws_iam_role.irsa["mlflow"].arn
}

output "port_forward_grafana" {
  description = "Command that opens Grafana on http://localhost:3000."
  value       = "kubectl -n ${local.monitoring.namespace} port-forward svc/${local.monitoring.release}-grafana 3000:80"
}

output "mlflow_database_endpoint" {
  description = "host:port of MLflow's PostgreSQL (mlflow_database = rds); null otherwise."
  value       = try(aws_db_instance.mlflow[0].endpoint, null)
}

output "mlflow_database_uri" {
  description = "MLflow's backend store URI (over TLS, with the generated password): put it in the Secret MLflow's pods read MLFLOW_BACKEND_STORE_URI from."
  sensitive   = true
  value = try(join("", [
    "postgresql://${local.mlflow_db.username}:${random_password.mlflow_db[0].result}",
    "@${aws_db_instance.mlflow[0].address}:${local.mlflow_db.port}/${local.mlflow_db.database}?sslmode=require",
  ]), null)
}

output "grafana_admin_password" {
  description = "Grafana's admin password (user admin): var.grafana_admin_password, or the generated one."
  sensitive   = true
  value       = local.grafana_admin_password
}
