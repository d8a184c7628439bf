//! The extractor's configuration: the shared contract type
//! ([`tweetpipe_common::contract::extractor::ExtractorConfig`]) and what only the extractor does
//! with it (loading it, reading its token, the API parameters it implies).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tweetpipe_common::contract::InvalidConfig;
use tweetpipe_common::contract::fields::{
    REQUIRED_EXPANSIONS, REQUIRED_PLACE_FIELDS, REQUIRED_TWEET_FIELDS, REQUIRED_USER_FIELDS,
    with_required,
};
use tweetpipe_common::contract::names;

// The config types are the operator's: declared once, in the shared contract.
pub use tweetpipe_common::contract::extractor::{ExtractorConfig, QuerySlot, Tuning};

use crate::xapi::BearerToken;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("EXTRACTOR_CONFIG is not set; it must name the extractor's JSON config file")]
    NoConfigPath,
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot read the bearer token from {path}: {source}")]
    Token {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the bearer token file {path} is empty")]
    EmptyToken { path: PathBuf },
    #[error(
        "cannot tell the replica index: set REPLICA_INDEX or run with a HOSTNAME ending in -<n> (got {hostname:?})"
    )]
    ReplicaIndex { hostname: Option<String> },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl From<InvalidConfig> for ConfigError {
    fn from(e: InvalidConfig) -> Self {
        ConfigError::Invalid(e.0)
    }
}

/// What only the extractor does with its config.
pub trait ExtractorConfigExt: Sized {
    /// Reads, parses and validates the config file.
    fn from_file(path: &Path) -> Result<Self, ConfigError>;
    /// Every bearer token the queries name, by file (any replica may run any query).
    fn read_tokens(&self) -> Result<HashMap<PathBuf, BearerToken>, ConfigError>;
    /// `tweet.fields`: those the Avro record needs plus the configured ones.
    fn tweet_fields_param(&self) -> String;
    fn expansions_param(&self) -> String;
    fn user_fields_param(&self) -> String;
    fn place_fields_param(&self) -> String;
    /// Transactional id: one per pipeline replica, so a restarted replica fences its zombie.
    fn transactional_id(&self, replica: u32) -> String;
}

impl ExtractorConfigExt for ExtractorConfig {
    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: ExtractorConfig =
            serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        config.validate()?;
        Ok(config)
    }

    fn read_tokens(&self) -> Result<HashMap<PathBuf, BearerToken>, ConfigError> {
        let mut tokens = HashMap::new();
        for q in &self.queries {
            if tokens.contains_key(&q.token_file) {
                continue;
            }
            let path = &q.token_file;
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Token {
                path: path.clone(),
                source,
            })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(ConfigError::EmptyToken { path: path.clone() });
            }
            tokens.insert(path.clone(), BearerToken(token.to_string()));
        }
        Ok(tokens)
    }

    fn tweet_fields_param(&self) -> String {
        with_required(&self.tweet_fields, REQUIRED_TWEET_FIELDS)
    }

    fn expansions_param(&self) -> String {
        with_required(&self.expansions, REQUIRED_EXPANSIONS)
    }

    fn user_fields_param(&self) -> String {
        with_required(&self.user_fields, REQUIRED_USER_FIELDS)
    }

    fn place_fields_param(&self) -> String {
        with_required(&self.place_fields, REQUIRED_PLACE_FIELDS)
    }

    fn transactional_id(&self, replica: u32) -> String {
        names::extractor_transactional_id(&self.pipeline, replica)
    }
}

/// `REPLICA_INDEX`, else the numeric suffix of `HOSTNAME` (StatefulSet pod `name-3` → 3).
pub fn replica_index(
    replica_env: Option<String>,
    hostname: Option<String>,
) -> Result<u32, ConfigError> {
    if let Some(v) = replica_env.filter(|v| !v.trim().is_empty()) {
        return v
            .trim()
            .parse()
            .map_err(|_| ConfigError::ReplicaIndex { hostname: Some(v) });
    }
    hostname
        .as_deref()
        .and_then(|h| h.rsplit_once('-'))
        .and_then(|(_, n)| n.parse().ok())
        .ok_or(ConfigError::ReplicaIndex { hostname })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_operator_contract() {
        let c: ExtractorConfig = serde_json::from_value(serde_json::json!({
            "pipeline": "ns/name", "api_base_url": "http://sim:8080",
            "tweet_fields": ["created_at", "source"],
            "kafka": {"bootstrap_servers": "k:9092", "topic": "posts"},
            "queries": [{"name": "covid-en", "query": "covid lang:en", "token_file": "/t/0",
                         "requests_per_window": 140, "window_seconds": 900}],
        }))
        .expect("parse");
        c.validate().expect("valid");
        let fields = c.tweet_fields_param();
        assert!(
            fields.starts_with("created_at,author_id") && fields.ends_with(",source"),
            "{fields}"
        );
        assert_eq!(c.transactional_id(2), "tweetpipe-extractor.ns_name.2");
        assert_eq!(c.tuning.ops_listen, "0.0.0.0:8080");
    }

    #[test]
    fn reads_every_token_the_queries_name_once() {
        let dir = std::env::temp_dir().join(format!("tp-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("first"), "token-first\n").expect("write");
        std::fs::write(dir.join("second"), "token-second\n").expect("write");
        std::fs::write(dir.join("empty"), " \n").expect("write");
        let query = |name: &str, file: &str| {
            serde_json::json!({"name": name, "query": name, "token_file": dir.join(file),
                               "requests_per_window": 1, "window_seconds": 1})
        };
        let config = |queries: Vec<serde_json::Value>| -> ExtractorConfig {
            serde_json::from_value(serde_json::json!({
                "pipeline": "ns/p", "api_base_url": "http://sim",
                "kafka": {"bootstrap_servers": "k:9092", "topic": "t"},
                "queries": queries,
            }))
            .expect("parse")
        };
        let c = config(vec![
            query("a", "first"),
            query("b", "second"),
            query("c", "first"),
        ]);
        let tokens = c.read_tokens().expect("tokens");
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[&dir.join("second")].0, "token-second");
        let err = config(vec![query("a", "empty")])
            .read_tokens()
            .expect_err("empty");
        assert!(err.to_string().contains("empty"), "{err}");
        assert!(format!("{:?}", tokens[&dir.join("first")]).contains("redacted"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn replica_index_from_env_or_hostname() {
        assert_eq!(
            replica_index(Some("2".into()), Some("x-5".into())).expect("env"),
            2
        );
        assert_eq!(
            replica_index(None, Some("covid-extractor-3".into())).expect("host"),
            3
        );
        let err = replica_index(None, Some("laptop".into())).expect_err("no suffix");
        assert!(err.to_string().contains("REPLICA_INDEX"));
    }
}
