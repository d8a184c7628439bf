# Copy to terraform.tfvars and adjust. Tokens are not here: they are in Secrets Manager.
region             = "eu-west-1"
state_kms_key_id   = "alias/tweetpipe-state"
rds_ca_bundle_file = "global-bundle.pem"
platform_state = {
  bucket = "acme-tofu-state"
  key    = "tweetpipe/platform.tfstate"
  region = "eu-west-1"
}
pipelines = {
  covid19 = {
    namespace = "tweets"
    queries = [
      { name = "covid-en", query = "(covid OR covid19 OR coronavirus) lang:en -is:retweet" },
      { name = "covid-pt", query = "(covid OR coronavírus) lang:pt -is:retweet" },
      # From X's filtered stream, seconds after publication (docs/streaming.md).
      { name = "outbreak-live", query = "(outbreak OR epidemic) lang:en -is:retweet", delivery = "Stream" },
    ]
    stream   = { backfill_minutes = 5 }
    limits   = { requests_per_window = 450, window_seconds = 900, monthly_post_cap = 1000000 }
    topic    = "tweets.covid19"
    database = "tweets_covid19"
  }
}
