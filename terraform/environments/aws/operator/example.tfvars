# Copy to terraform.tfvars and adjust.
region           = "eu-west-1"
state_kms_key_id = "alias/tweetpipe-state"
platform_state = {
  bucket = "acme-tofu-state"
  key    = "tweetpipe/platform.tfstate"
  region = "eu-west-1"
}
