//! Reading a secret from a mounted file. The value is returned, never logged; errors name the
//! file, not its content.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read {what} from {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} file {path} is empty")]
    Empty { what: &'static str, path: PathBuf },
}

/// Reads the secret `what` from `path`, trimming the trailing newline Secrets often carry.
pub fn read_secret_file(what: &'static str, path: &Path) -> Result<String, SecretFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretFileError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SecretFileError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_rejects_empty_files() {
        let dir = std::env::temp_dir().join(format!("tp-secret-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("token"), "abc\n").expect("write");
        std::fs::write(dir.join("empty"), "\n").expect("write");
        assert_eq!(
            read_secret_file("token", &dir.join("token")).expect("read"),
            "abc"
        );
        let err = read_secret_file("token", &dir.join("empty")).expect_err("empty");
        assert!(err.to_string().contains("empty"), "{err}");
        let err = read_secret_file("token", &dir.join("missing")).expect_err("missing");
        assert!(err.to_string().contains("missing"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
