//! Scratch directories and the files tests hand to workers (configs, tokens, secret files).

use std::path::{Path, PathBuf};

use crate::names::unique;

/// A new, empty directory under the system's temp dir, named after `prefix`.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir {}: {e}", dir.display()));
    dir
}

/// Writes `contents` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Writes `value` as JSON to `dir/name`; returns the path.
pub fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> PathBuf {
    let json = serde_json::to_vec_pretty(value).unwrap_or_else(|e| panic!("json: {e}"));
    write(dir, name, json)
}
