# Copy to terraform.tfvars and adjust.
region                       = "eu-west-1"
state_kms_key_id             = "alias/tweetpipe-state"
name                         = "tweetpipe"
cluster_admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admins"]
# The EKS API's public endpoint admits only these (your VPN/office/CI egress); [] for private only.
cluster_endpoint_public_access_cidrs = ["203.0.113.0/24"]
