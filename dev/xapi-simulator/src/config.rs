//! Simulator configuration: a JSON file (`--config FILE` or `XAPI_SIM_CONFIG`), then env
//! overrides for the common knobs. Everything has a default, so `xapi-simulator` alone runs a
//! Pro-tier-like API on port 8080 with one token, `dev-token`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::corpus::CorpusConfig;
use crate::query::AccessLevel;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Listen address.
    pub listen: String,
    pub seed: u64,
    pub tokens: Vec<TokenConfig>,
    pub corpus: CorpusConfig,
    pub faults: FaultConfig,
    /// Distinct (token, query, post id) entries the ledger keeps (8 bytes each); past it the
    /// ledger's counters go on and it reports `overflowed`.
    pub ledger_capacity: usize,
    /// The X access level the simulator answers as: `Basic`, `Pro`, `PayPerUse` or `Enterprise`
    /// (the longest query, and whether the advanced operators are accepted).
    pub access_level: String,
    /// The filtered stream (`GET /2/tweets/search/stream`).
    pub stream: StreamConfig,
}

/// How the filtered stream behaves; see docs/simulator.md.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Quiet time after which the stream writes a keep-alive `\r\n` (X: about 20 s).
    pub keepalive_ms: u64,
    /// Concurrent stream connections per app (bearer token); X allows one on Pro.
    pub max_connections_per_app: usize,
    /// Per-app request windows of the stream's endpoints, each over `window_seconds`
    /// (Pro: 50 connection attempts, 100 rule changes, 450 rule lookups per 15 minutes).
    pub connects_per_window: u32,
    pub rule_changes_per_window: u32,
    pub rule_lookups_per_window: u32,
    pub window_seconds: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            keepalive_ms: 20_000,
            max_connections_per_app: 1,
            connects_per_window: 50,
            rule_changes_per_window: 100,
            rule_lookups_per_window: 450,
            window_seconds: 900,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: "0.0.0.0:8080".into(),
            seed: 42,
            tokens: vec![TokenConfig::default()],
            corpus: CorpusConfig::default(),
            faults: FaultConfig::default(),
            ledger_capacity: crate::ledger::DEFAULT_CAPACITY,
            access_level: AccessLevel::default().name().to_string(),
            stream: StreamConfig::default(),
        }
    }
}

/// One bearer token (an X app) and its limits.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// Label used in metrics and the admin API (never the token itself).
    pub name: String,
    /// The bearer token, inline...
    pub token: Option<String>,
    /// ...or read from a file.
    pub token_file: Option<PathBuf>,
    /// Recent search: 450 per 15 minutes per app on Pro, 60 on Basic.
    pub requests_per_window: u32,
    pub window_seconds: u64,
    /// Monthly post-read cap (Pro: 1,000,000; Basic: 10,000).
    pub monthly_post_cap: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            name: "default".into(),
            token: Some("dev-token".into()),
            token_file: None,
            requests_per_window: 450,
            window_seconds: 900,
            monthly_post_cap: 1_000_000,
        }
    }
}

/// Faults to inject. Counters are per simulator, over authenticated requests within limits.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Bursts of 5xx answers.
    pub server_errors: Option<Burst>,
    /// Slow answers.
    pub slow: Option<SlowResponses>,
    /// 200 answers whose JSON body is cut off.
    pub malformed: Option<Burst>,
    /// Names of tokens that now get 401.
    pub revoked_tokens: Vec<String>,
    /// Faults of the filtered stream.
    pub stream: StreamFaults,
}

/// Faults of the filtered stream. Each trigger applies to every connection, counted from the
/// connection's start, and is read while the connection runs (changing it takes effect at once).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StreamFaults {
    /// Close the connection (no message, as a network failure would).
    pub drop: Option<StreamTrigger>,
    /// Stop writing anything, keep-alives included, and keep the connection open.
    pub stall: Option<StreamTrigger>,
    /// Write X's operational-disconnect error object, then close.
    pub operational_disconnect: Option<StreamTrigger>,
    /// Connection attempts `k` (counted per simulator) with `k % every < length` get
    /// 429 Too Many Requests, as X's connection rate limit answers.
    pub reject_connects: Option<Burst>,
}

/// When a stream fault fires: after this many posts on the connection, or this long after it
/// opened, whichever comes first (at least one must be set).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StreamTrigger {
    pub after_posts: Option<u64>,
    pub after_ms: Option<u64>,
}

impl StreamTrigger {
    /// Whether the fault fires on a connection that has delivered `posts` and is `age_ms` old.
    pub fn fires(&self, posts: u64, age_ms: u64) -> bool {
        self.after_posts.is_some_and(|n| posts >= n) || self.after_ms.is_some_and(|ms| age_ms >= ms)
    }
}

/// Requests `k` with `k % every < length` are affected (`every` = 0 disables).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    pub every: u64,
    #[serde(default = "one")]
    pub length: u64,
    /// For server errors: the status (500, 502, 503, 504). Default 503.
    #[serde(default = "service_unavailable")]
    pub status: u16,
}

fn one() -> u64 {
    1
}

fn service_unavailable() -> u16 {
    503
}

impl Burst {
    pub fn hits(&self, request: u64) -> bool {
        self.every > 0 && request % self.every < self.length
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SlowResponses {
    pub every: u64,
    #[serde(default = "one")]
    pub length: u64,
    pub delay_ms: u64,
    /// Hold the answer *after* its posts are counted and recorded in the ledger, as a slow
    /// network between X and the client would: X has served (and charged) the page whether or
    /// not the client stays to read it. Default: the delay comes before the page is chosen.
    #[serde(default)]
    pub after_counting: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid value for {var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("token {name:?}: {message}")]
    Token { name: String, message: String },
    #[error("access_level: {0}")]
    AccessLevel(#[from] crate::query::UnknownAccessLevel),
}

impl SimConfig {
    /// Loads the file named by `--config` (first argument pair) or `XAPI_SIM_CONFIG`, then
    /// applies `XAPI_SIM_LISTEN`, `XAPI_SIM_PORT`, `XAPI_SIM_SEED`, `XAPI_SIM_POSTS_PER_SECOND`,
    /// `XAPI_SIM_BACKFILL_POSTS`, `XAPI_SIM_MAX_POSTS`, `XAPI_SIM_LEDGER_CAPACITY`,
    /// `XAPI_SIM_STREAM_KEEPALIVE_MS`, `XAPI_SIM_ACCESS_LEVEL` and `XAPI_SIM_TOKENS`
    /// (`name:token:requests/window_seconds:monthly_cap`, comma-separated).
    pub fn load(
        args: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let path = args
            .windows(2)
            .find(|w| w[0] == "--config")
            .map(|w| PathBuf::from(&w[1]))
            .or_else(|| env("XAPI_SIM_CONFIG").map(PathBuf::from));
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                serde_json::from_str(&text).map_err(|source| ConfigError::Parse { path, source })?
            }
            None => SimConfig::default(),
        };
        fn parse<T: std::str::FromStr>(var: &'static str, value: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| ConfigError::Env {
                var,
                message: e.to_string(),
            })
        }
        if let Some(v) = env("XAPI_SIM_LISTEN") {
            config.listen = v;
        }
        if let Some(v) = env("XAPI_SIM_PORT") {
            let port: u16 = parse("XAPI_SIM_PORT", &v)?;
            let host = config
                .listen
                .rsplit_once(':')
                .map_or("0.0.0.0", |(h, _)| h)
                .to_string();
            config.listen = format!("{host}:{port}");
        }
        if let Some(v) = env("XAPI_SIM_SEED") {
            config.seed = parse("XAPI_SIM_SEED", &v)?;
        }
        if let Some(v) = env("XAPI_SIM_POSTS_PER_SECOND") {
            config.corpus.posts_per_second = parse("XAPI_SIM_POSTS_PER_SECOND", &v)?;
        }
        if let Some(v) = env("XAPI_SIM_BACKFILL_POSTS") {
            config.corpus.backfill_posts = parse("XAPI_SIM_BACKFILL_POSTS", &v)?;
        }
        if let Some(v) = env("XAPI_SIM_MAX_POSTS") {
            config.corpus.max_posts = Some(parse("XAPI_SIM_MAX_POSTS", &v)?);
        }
        if let Some(v) = env("XAPI_SIM_LEDGER_CAPACITY") {
            config.ledger_capacity = parse("XAPI_SIM_LEDGER_CAPACITY", &v)?;
        }
        if let Some(v) = env("XAPI_SIM_STREAM_KEEPALIVE_MS") {
            config.stream.keepalive_ms = parse("XAPI_SIM_STREAM_KEEPALIVE_MS", &v)?;
        }
        if let Some(v) = env("XAPI_SIM_ACCESS_LEVEL") {
            config.access_level = v;
        }
        config.access_level()?;
        if let Some(v) = env("XAPI_SIM_TOKENS") {
            config.tokens = v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(parse_token_spec)
                .collect::<Result<_, _>>()?;
        }
        Ok(config)
    }

    /// The access level queries are judged at.
    pub fn access_level(&self) -> Result<AccessLevel, ConfigError> {
        Ok(self.access_level.parse()?)
    }

    /// Resolves every token's secret (inline or from its file).
    pub fn resolved_tokens(&self) -> Result<Vec<(TokenConfig, String)>, ConfigError> {
        self.tokens
            .iter()
            .map(|t| {
                let secret = match (&t.token, &t.token_file) {
                    (Some(token), _) => token.clone(),
                    (None, Some(path)) => std::fs::read_to_string(path)
                        .map_err(|e| ConfigError::Token {
                            name: t.name.clone(),
                            message: format!("cannot read {}: {e}", path.display()),
                        })?
                        .trim()
                        .to_string(),
                    (None, None) => {
                        return Err(ConfigError::Token {
                            name: t.name.clone(),
                            message: "needs `token` or `token_file`".into(),
                        });
                    }
                };
                if secret.is_empty() || t.requests_per_window == 0 || t.window_seconds == 0 {
                    return Err(ConfigError::Token {
                        name: t.name.clone(),
                        message: "token, requests_per_window and window_seconds must be non-empty/positive".into(),
                    });
                }
                Ok((t.clone(), secret))
            })
            .collect()
    }
}

fn parse_token_spec(spec: &str) -> Result<TokenConfig, ConfigError> {
    let bad = || ConfigError::Env {
        var: "XAPI_SIM_TOKENS",
        message: format!(
            "{:?} is not name:token:requests/window_seconds:monthly_cap",
            spec.split(':').next().unwrap_or_default()
        ),
    };
    let parts: Vec<&str> = spec.trim().split(':').collect();
    let [name, token, limit, cap] = parts.as_slice() else {
        return Err(bad());
    };
    let (requests, window) = limit.split_once('/').ok_or_else(bad)?;
    Ok(TokenConfig {
        name: (*name).to_string(),
        token: Some((*token).to_string()),
        token_file: None,
        requests_per_window: requests.parse().map_err(|_| bad())?,
        window_seconds: window.parse().map_err(|_| bad())?,
        monthly_post_cap: cap.parse().map_err(|_| bad())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides() {
        let env = |k: &str| match k {
            "XAPI_SIM_PORT" => Some("9999".to_string()),
            "XAPI_SIM_TOKENS" => Some("a:tok-a:60/900:10000,b:tok-b:5/2:100".to_string()),
            "XAPI_SIM_MAX_POSTS" => Some("50".to_string()),
            "XAPI_SIM_LEDGER_CAPACITY" => Some("1000".to_string()),
            "XAPI_SIM_STREAM_KEEPALIVE_MS" => Some("250".to_string()),
            _ => None,
        };
        let c = SimConfig::load(&[], env).expect("config");
        assert_eq!(c.ledger_capacity, 1000);
        assert_eq!(c.stream.keepalive_ms, 250);
        assert_eq!(SimConfig::default().ledger_capacity, 2_000_000);
        assert_eq!(c.listen, "0.0.0.0:9999");
        assert_eq!(c.corpus.max_posts, Some(50));
        assert_eq!(c.tokens.len(), 2);
        assert_eq!(c.tokens[1].requests_per_window, 5);
        assert_eq!(c.tokens[1].window_seconds, 2);
        assert_eq!(c.tokens[1].monthly_post_cap, 100);
        let bad = |k: &str| (k == "XAPI_SIM_TOKENS").then(|| "a:secret-value:x".to_string());
        let err = SimConfig::load(&[], bad).expect_err("bad spec");
        assert!(
            !err.to_string().contains("secret-value"),
            "never echo a token: {err}"
        );
    }

    #[test]
    fn access_level_from_env_or_file() {
        let defaults = SimConfig::load(&[], |_| None).expect("defaults");
        assert_eq!(defaults.access_level().expect("level"), AccessLevel::Pro);
        let env = |k: &str| (k == "XAPI_SIM_ACCESS_LEVEL").then(|| "Enterprise".to_string());
        let c = SimConfig::load(&[], env).expect("load");
        assert_eq!(c.access_level().expect("level"), AccessLevel::Enterprise);
        let bad = |k: &str| (k == "XAPI_SIM_ACCESS_LEVEL").then(|| "Gold".to_string());
        let err = SimConfig::load(&[], bad).expect_err("unknown level");
        assert!(
            err.to_string()
                .contains("Basic, Pro, PayPerUse, Enterprise"),
            "{err}"
        );
        let c: SimConfig = serde_json::from_str(r#"{"access_level":"Basic"}"#).expect("parse");
        assert_eq!(c.access_level().expect("level"), AccessLevel::Basic);
    }

    #[test]
    fn stream_triggers_fire_on_posts_or_age() {
        let by_posts = StreamTrigger {
            after_posts: Some(3),
            after_ms: None,
        };
        assert!(!by_posts.fires(2, 1_000_000) && by_posts.fires(3, 0));
        let by_age = StreamTrigger {
            after_posts: None,
            after_ms: Some(500),
        };
        assert!(!by_age.fires(1000, 499) && by_age.fires(0, 500));
        assert!(
            !StreamTrigger::default().fires(u64::MAX, u64::MAX),
            "unset never fires"
        );
        let faults: FaultConfig = serde_json::from_str(
            r#"{"stream":{"drop":{"after_posts":5},"reject_connects":{"every":2}}}"#,
        )
        .expect("parse");
        assert_eq!(faults.stream.drop.and_then(|t| t.after_posts), Some(5));
        assert!(
            faults
                .stream
                .reject_connects
                .is_some_and(|b| b.hits(0) && !b.hits(1))
        );
    }

    #[test]
    fn file_config_with_faults() {
        let json = r#"{"seed":1,"ledger_capacity":5,"faults":{"server_errors":{"every":10,"length":3},"revoked_tokens":["x"]}}"#;
        let c: SimConfig = serde_json::from_str(json).expect("parse");
        assert_eq!(c.ledger_capacity, 5);
        assert_eq!(c.stream, StreamConfig::default(), "stream defaults");
        assert_eq!(c.stream.keepalive_ms, 20_000);
        let burst = c.faults.server_errors.expect("burst");
        assert_eq!(burst.status, 503);
        assert!(burst.hits(0) && burst.hits(2) && !burst.hits(3) && burst.hits(10));
        assert!(
            serde_json::from_str::<SimConfig>(r#"{"sead":1}"#).is_err(),
            "typos are refused"
        );
    }
}
