# Copy to terraform.tfvars and adjust.
region                       = "eu-west-1"
state_kms_key_id             = "alias/tweetpipe-state"
name                         = "tweetpipe"
cluster_admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admins"]
