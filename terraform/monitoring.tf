# kube-prometheus-stack: Prometheus (operator), Alertmanager and Grafana, as the Pulumi stack installs it.

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
      # Dashboards arrive as ConfigMaps labelled grafana_dashboard="1", from any namespace.
      sidecar = { dashboards = { enabled = true, label = "grafana_dashboard", labelValue = "1", searchNamespace = "ALL" } }
    }
  })]

  depends_on = [aws_eks_node_group.this]
}
