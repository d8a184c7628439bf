//! Password fingerprints: enough to tell whether the password in a Secret changed since we
//! last set it, without keeping the password (the control table is readable by admins only,
//! but a dump of it must still not give passwords away).

use sha2::{Digest, Sha256};

/// A fresh random salt, 16 bytes as 32 hex digits.
pub(crate) fn new_salt() -> String {
    let bytes: [u8; 16] = rand::random();
    to_hex(&bytes)
}

/// SHA-256 of salt + password, as 64 lower-case hex digits.
pub(crate) fn fingerprint(salt: &str, password: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(password.as_bytes());
    to_hex(&hasher.finalize())
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_salt_and_password() {
        // SHA-256("abc") is a published test vector.
        assert_eq!(
            fingerprint("a", "bc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(fingerprint("s1", "pw"), fingerprint("s2", "pw"));
        assert_ne!(fingerprint("s1", "pw"), fingerprint("s1", "pw2"));
        let salt = new_salt();
        assert_eq!(salt.len(), 32);
        assert_ne!(salt, new_salt());
    }
}
