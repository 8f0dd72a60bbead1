# kube-prometheus-stack: Prometheus (operator), Alertmanager and Grafana, as the Pulumi stack installs it.

# Grafana's admin password: var.grafana_admin_password, or one generated here (kept in state, as
# Pulumi keeps its own); never the chart's default.
resource "random_password" "grafana" {
  count = var.grafana_admin_password == "" ? 1 : 0

  length  = 24
  special = false
}

resource "helm_release" "monitoring" {
  name             = local.monitoring.release
  repository       = local.monitoring.repository
  chart            = local.monitoring.chart
  version          = var.monitoring_chart_version
  namespace        = local.monitoring.namespace
  create_namespace = true
  atomic           = true
  timeout          = 900

  values = [yamlencode({
    grafana = {
      # Dashboards arrive as ConfigMaps labelled grafana_dashboard="1", in Grafana's own namespace
      # only, so its sidecar gets a Role there instead of a ClusterRole reading every Secret.
      rbac    = { namespaced = true }
      sidecar = { dashboards = { enabled = true, label = "grafana_dashboard", labelValue = "1", searchNamespace = local.monitoring.namespace } }
    }
  })]

  set_sensitive = [{
    name  = "grafana.adminPassword"
    value = local.grafana_admin_password
  }]

  depends_on = [aws_eks_node_group.this]
}
