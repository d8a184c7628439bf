# The in-cluster X API simulator (local only): the demo pipeline's source, token simulator-token-1.
# Production pipelines read https://api.x.com instead (../../aws).

locals {
  simulator_labels = { "app.kubernetes.io/name" = "x-api-simulator", "app.kubernetes.io/part-of" = "tweetpipe" }
}

resource "kubernetes_config_map_v1" "simulator" {
  metadata {
    name      = "x-api-simulator"
    namespace = module.operator.namespace
    labels    = local.simulator_labels
  }
  data = {
    "config.json" = jsonencode({
      tokens = [{
        name                = "demo"
        token               = var.simulator_token
        requests_per_window = 450
        window_seconds      = 900
        monthly_post_cap    = 1000000
      }]
    })
  }
}

resource "kubernetes_deployment_v1" "simulator" {
  metadata {
    name      = "x-api-simulator"
    namespace = module.operator.namespace
    labels    = local.simulator_labels
  }
  spec {
    selector {
      match_labels = local.simulator_labels
    }
    template {
      metadata {
        labels = local.simulator_labels
        # A new configuration rolls the simulator.
        annotations = { "tweetpipe.io/config-sha256" = sha256(kubernetes_config_map_v1.simulator.data["config.json"]) }
      }
      spec {
        security_context {
          run_as_non_root = true
          run_as_user     = 65532
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }
        container {
          name              = "simulator"
          image             = "docker.io/tweetpipe/xapi-simulator:${var.image_tag}"
          image_pull_policy = "Never"
          args              = ["--config", "/etc/simulator/config.json"]
          port {
            name           = "http"
            container_port = 8080
          }
          readiness_probe {
            tcp_socket {
              port = "http"
            }
          }
          security_context {
            read_only_root_filesystem  = true
            allow_privilege_escalation = false
            capabilities {
              drop = ["ALL"]
            }
          }
          volume_mount {
            name       = "config"
            mount_path = "/etc/simulator"
            read_only  = true
          }
        }
        volume {
          name = "config"
          config_map {
            name = kubernetes_config_map_v1.simulator.metadata[0].name
          }
        }
      }
    }
  }
  wait_for_rollout = true
}

resource "kubernetes_service_v1" "simulator" {
  metadata {
    name      = "x-api-simulator"
    namespace = module.operator.namespace
    labels    = local.simulator_labels
  }
  spec {
    selector = local.simulator_labels
    port {
      name        = "http"
      port        = 8080
      target_port = "http"
    }
  }
}
