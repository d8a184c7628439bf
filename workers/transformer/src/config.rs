//! The transformer's configuration: the shared contract type
//! ([`tweetpipe_common::contract::transformer::TransformerConfig`]) and what only the
//! transformer does with it (loading it, reading the MySQL URL).

use std::path::{Path, PathBuf};

use tweetpipe_common::contract::InvalidConfig;
use tweetpipe_common::contract::paths;
use tweetpipe_common::secret_file::{SecretFileError, read_secret_file};

// The config types are the operator's: declared once, in the shared contract.
pub use tweetpipe_common::contract::transformer::{MysqlSettings, TransformerConfig};

pub const CONFIG_ENV: &str = paths::TRANSFORMER_CONFIG_ENV;
pub const DEFAULT_CONFIG_PATH: &str = paths::TRANSFORMER_CONFIG;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the transformer config {path}: {source}; set {CONFIG_ENV} to its path")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the transformer config {path} is invalid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the transformer config is invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Secret(#[from] SecretFileError),
}

impl From<InvalidConfig> for ConfigError {
    fn from(e: InvalidConfig) -> Self {
        ConfigError::Invalid(e.0)
    }
}

/// What only the transformer does with its config.
pub trait TransformerConfigExt: Sized {
    /// Loads from `$TRANSFORMER_CONFIG`, else the default path.
    fn load_from_env() -> Result<Self, ConfigError>;
    /// Reads, parses and validates the config file.
    fn load(path: &Path) -> Result<Self, ConfigError>;
    /// The MySQL URL (with its password) from the mounted Secret. Never log it.
    fn mysql_url(&self) -> Result<String, ConfigError>;
}

impl TransformerConfigExt for TransformerConfig {
    fn load_from_env() -> Result<Self, ConfigError> {
        let path = std::env::var_os(CONFIG_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
        Self::load(&path)
    }

    fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    fn mysql_url(&self) -> Result<String, ConfigError> {
        Ok(read_secret_file("MySQL URL", &self.mysql.url_file)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_names_the_variable() {
        let err = TransformerConfig::load(Path::new("/nonexistent/t.json")).unwrap_err();
        assert!(err.to_string().contains(CONFIG_ENV), "{err}");
    }

    #[test]
    fn loads_validates_and_reads_the_mysql_url() {
        let dir = std::env::temp_dir().join(format!("tp-transformer-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let url_file = dir.join("url");
        std::fs::write(&url_file, "mysql://u:p@h/db\n").unwrap_or_else(|e| panic!("{e}"));
        let config = serde_json::json!({
            "pipeline": "ns/name",
            "kafka": {"bootstrap_servers": "k:9092", "topic": "tweets", "group_id": "g"},
            "mysql": {"url_file": url_file},
        });
        let path = dir.join("transformer.json");
        std::fs::write(&path, config.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let loaded = TransformerConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            loaded.mysql_url().unwrap_or_else(|e| panic!("{e}")),
            "mysql://u:p@h/db"
        );

        let invalid = serde_json::json!({
            "pipeline": "ns/name",
            "kafka": {"bootstrap_servers": "k:9092", "topic": "tweets"},
            "mysql": {"url_file": url_file},
        });
        std::fs::write(&path, invalid.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let err = TransformerConfig::load(&path).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid(m) if m.contains("group_id")),
            "{err}"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
