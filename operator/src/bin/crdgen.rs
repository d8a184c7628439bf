//! Prints the TweetPipeline CRD as YAML: `cargo run -p tweetpipe-operator --bin crdgen > crds/tweetpipe.io_tweetpipelines.yaml`.

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let yaml = tweetpipe_operator::crd::crd_yaml()?;
    std::io::stdout().write_all(yaml.as_bytes())?;
    Ok(())
}
