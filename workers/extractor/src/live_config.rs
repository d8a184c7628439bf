//! Re-reading the mounted config for its live settings (request shares, monthly budget).
//!
//! The monthly slow-down moves the shares in 1 % steps; rolling every extractor for each step
//! would restart their rate windows and rebalance the slot group each time. The operator
//! hashes only [`ExtractorConfig::restart_fingerprint`] into the pod template, so such changes
//! reach running pods through the mounted ConfigMap (kubelet refreshes it within about a
//! minute) and this module applies them.

use std::path::Path;

use crate::config::{ExtractorConfig, ExtractorConfigExt};

/// What a re-read found.
#[derive(Debug)]
pub enum Reload {
    /// Nothing changed.
    Same,
    /// Only live settings changed: take the new config.
    Live(Box<ExtractorConfig>),
    /// Something that needs a restart changed (the operator rolls the pods for it).
    NeedsRestart,
    /// The file could not be read or is invalid: keep running on the current one.
    Unreadable(String),
}

/// Compares the file's config with the running one.
pub fn reload(path: &Path, current: &ExtractorConfig) -> Reload {
    match ExtractorConfig::from_file(path) {
        Err(e) => Reload::Unreadable(e.to_string()),
        Ok(new) if &new == current => Reload::Same,
        Ok(new) if new.restart_fingerprint() == current.restart_fingerprint() => {
            Reload::Live(Box::new(new))
        }
        Ok(_) => Reload::NeedsRestart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(share: u32, query: &str) -> ExtractorConfig {
        serde_json::from_value(serde_json::json!({
            "pipeline": "ns/p", "api_base_url": "http://sim",
            "kafka": {"bootstrap_servers": "k:9092", "topic": "t"},
            "queries": [{"name": "q", "query": query, "token_file": "/t",
                         "requests_per_window": share, "window_seconds": 900}],
        }))
        .expect("config")
    }

    #[test]
    fn tells_live_changes_from_restarts() {
        let dir = std::env::temp_dir().join(format!("tp-live-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("extractor.json");
        let current = config(100, "a");
        let write = |c: &ExtractorConfig| {
            std::fs::write(&path, serde_json::to_string(c).expect("json")).expect("write")
        };
        write(&current);
        assert!(matches!(reload(&path, &current), Reload::Same));
        write(&config(60, "a"));
        match reload(&path, &current) {
            Reload::Live(new) => assert_eq!(new.queries[0].requests_per_window, 60),
            other => panic!("{other:?}"),
        }
        write(&config(100, "b"));
        assert!(matches!(reload(&path, &current), Reload::NeedsRestart));
        std::fs::write(&path, "{").expect("write");
        assert!(matches!(reload(&path, &current), Reload::Unreadable(_)));
        std::fs::remove_dir_all(dir).ok();
    }
}
