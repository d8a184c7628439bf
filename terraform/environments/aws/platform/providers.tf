provider "aws" {
  region = var.region
  default_tags {
    tags = { "app.kubernetes.io/part-of" = "tweetpipe", environment = var.name }
  }
}
