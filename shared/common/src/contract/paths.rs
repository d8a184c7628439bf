//! Where worker pods find their mounted files. The operator mounts them here and writes these
//! paths into the configs; secrets appear only as file paths, never as values.

use std::path::PathBuf;

/// Directory of the mounted ConfigMap.
pub const CONFIG_DIR: &str = "/etc/tweetpipe";
/// Extractor config file.
pub const EXTRACTOR_CONFIG: &str = "/etc/tweetpipe/extractor.json";
/// Transformer config file.
pub const TRANSFORMER_CONFIG: &str = "/etc/tweetpipe/transformer.json";
/// Environment variable naming the extractor's config file.
pub const EXTRACTOR_CONFIG_ENV: &str = "EXTRACTOR_CONFIG";
/// Environment variable naming the transformer's config file.
pub const TRANSFORMER_CONFIG_ENV: &str = "TRANSFORMER_CONFIG";

/// Token `i` is mounted at `TOKENS_DIR/<i>/token`.
pub const TOKENS_DIR: &str = "/var/run/secrets/tweetpipe/tokens";
/// Kafka SASL username and password files live here.
pub const KAFKA_SASL_DIR: &str = "/var/run/secrets/tweetpipe/kafka-sasl";
/// Kafka SASL username file.
pub const KAFKA_SASL_USERNAME_FILE: &str = "/var/run/secrets/tweetpipe/kafka-sasl/username";
/// Kafka SASL password file.
pub const KAFKA_SASL_PASSWORD_FILE: &str = "/var/run/secrets/tweetpipe/kafka-sasl/password";
/// Kafka CA certificate directory.
pub const KAFKA_CA_DIR: &str = "/var/run/secrets/tweetpipe/kafka-ca";
/// Kafka CA bundle (PEM).
pub const KAFKA_CA_FILE: &str = "/var/run/secrets/tweetpipe/kafka-ca/ca.crt";
/// Kafka client certificate directory (mutual TLS).
pub const KAFKA_CLIENT_CERT_DIR: &str = "/var/run/secrets/tweetpipe/kafka-client-cert";
/// Kafka client certificate (PEM).
pub const KAFKA_CLIENT_CERT_FILE: &str = "/var/run/secrets/tweetpipe/kafka-client-cert/tls.crt";
/// Kafka client key directory (mutual TLS).
pub const KAFKA_CLIENT_KEY_DIR: &str = "/var/run/secrets/tweetpipe/kafka-client-key";
/// Kafka client private key (PEM).
pub const KAFKA_CLIENT_KEY_FILE: &str = "/var/run/secrets/tweetpipe/kafka-client-key/tls.key";
/// MySQL URL directory (transformer).
pub const MYSQL_DIR: &str = "/var/run/secrets/tweetpipe/mysql";
/// File holding the MySQL URL, password and database included (transformer).
pub const MYSQL_URL_FILE: &str = "/var/run/secrets/tweetpipe/mysql/url";
/// MySQL CA certificate directory (transformer, `mysql.tls.caSecret`).
pub const MYSQL_CA_DIR: &str = "/var/run/secrets/tweetpipe/mysql-ca";
/// MySQL CA bundle (PEM).
pub const MYSQL_CA_FILE: &str = "/var/run/secrets/tweetpipe/mysql-ca/ca.crt";

/// Directory the `index`-th token Secret is mounted at.
pub fn token_dir(index: usize) -> PathBuf {
    PathBuf::from(format!("{TOKENS_DIR}/{index}"))
}

/// Path of the `index`-th token inside an extractor pod.
pub fn token_file(index: usize) -> PathBuf {
    token_dir(index).join("token")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn files_live_in_their_mounted_directories() {
        for (file, dir) in [
            (EXTRACTOR_CONFIG, CONFIG_DIR),
            (TRANSFORMER_CONFIG, CONFIG_DIR),
            (KAFKA_SASL_USERNAME_FILE, KAFKA_SASL_DIR),
            (KAFKA_SASL_PASSWORD_FILE, KAFKA_SASL_DIR),
            (KAFKA_CA_FILE, KAFKA_CA_DIR),
            (MYSQL_URL_FILE, MYSQL_DIR),
            (MYSQL_CA_FILE, MYSQL_CA_DIR),
        ] {
            assert_eq!(Path::new(file).parent(), Some(Path::new(dir)), "{file}");
        }
        assert_eq!(
            token_file(1),
            Path::new("/var/run/secrets/tweetpipe/tokens/1/token")
        );
    }
}
