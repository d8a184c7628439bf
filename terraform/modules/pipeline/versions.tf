terraform {
  # 1.9: validation blocks may refer to other variables (extractor vs. source limits).
  required_version = ">= 1.9.0"
  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 3.0.0, < 4.0.0"
    }
  }
}
