# One customer-managed KMS key for this environment: MSK's SCRAM secrets must use one (AWS refuses
# the default aws/secretsmanager key for them), and EKS encrypts Kubernetes Secrets with it.
resource "aws_kms_key" "this" {
  description         = "${var.name}: SCRAM secrets, EKS Secrets"
  enable_key_rotation = true
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# The X API bearer tokens: the secret is created empty here; its value, a JSON object of
# name -> token, is put by a person (README.md), so a token never passes through a tfvars file.
# ../pipelines reads it.
resource "aws_secretsmanager_secret" "x_bearer_tokens" {
  name        = "${var.name}/x-bearer-tokens"
  description = "X API bearer tokens of the tweetpipe pipelines: JSON {\"name\": \"token\", ...}"
  kms_key_id  = aws_kms_key.this.arn
}

# SASL/SCRAM users of MSK: the workers' (produce/consume) and the operator's (topic admin). MSK
# reads them from Secrets Manager; their names must start with AmazonMSK_.
resource "random_password" "kafka" {
  for_each = toset(["workers", "admin"])
  length   = 32
  special  = false
}

resource "aws_secretsmanager_secret" "kafka" {
  for_each   = random_password.kafka
  name       = "AmazonMSK_${var.name}_${each.key}"
  kms_key_id = aws_kms_key.this.arn
}

resource "aws_secretsmanager_secret_version" "kafka" {
  for_each  = random_password.kafka
  secret_id = aws_secretsmanager_secret.kafka[each.key].id
  secret_string = jsonencode({
    username = "tweetpipe-${each.key}"
    password = each.value.result
  })
}

# The resource policy that lets MSK read the SCRAM secrets. MSK attaches it itself on association,
# but then it is not in the state and every plan shows a change; managed here, as the
# aws_msk_scram_secret_association documentation requires, it is created before the association
# (msk.tf) and the association adds nothing.
data "aws_iam_policy_document" "kafka_secret" {
  for_each = aws_secretsmanager_secret.kafka
  statement {
    sid     = "AWSKafkaResourcePolicy"
    effect  = "Allow"
    actions = ["secretsmanager:getSecretValue"]
    principals {
      type        = "Service"
      identifiers = ["kafka.amazonaws.com"]
    }
    resources = [each.value.arn]
  }
}

resource "aws_secretsmanager_secret_policy" "kafka" {
  for_each   = aws_secretsmanager_secret.kafka
  secret_arn = each.value.arn
  policy     = data.aws_iam_policy_document.kafka_secret[each.key].json
}
