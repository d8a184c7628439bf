//! The digest of the Secret keys a pod template mounts, stamped on the template so a rotated
//! Secret rolls the pods that read it (the workers read their files once, at start).
//!
//! SHA-256 rather than the configs' FNV, because the input is secret: salted with the
//! pipeline's UID and cut to 64 bits, it tells a change apart and offers no table to look a
//! value up in (the practice of Helm's `checksum/secret` annotations).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use sha2::{Digest, Sha256};

/// The value of `key` in `secret`, as the kubelet would mount it (`data`, else `stringData`).
fn key_bytes<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|value| value.0.as_slice())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(String::as_bytes)
        })
}

/// Digest of the `mounted` (Secret, key) pairs, looked up in `secrets` (`None` = the Secret is
/// absent); an absent Secret or key digests differently from an empty value.
pub fn digest(
    salt: &str,
    mounted: &[(String, String)],
    secrets: &BTreeMap<String, Option<&Secret>>,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    for (name, key) in mounted {
        for part in [name.as_bytes(), key.as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        match secrets
            .get(name)
            .copied()
            .flatten()
            .and_then(|secret| key_bytes(secret, key))
        {
            Some(value) => {
                hasher.update([1]);
                hasher.update((value.len() as u64).to_le_bytes());
                hasher.update(value);
            }
            None => hasher.update([0]),
        }
    }
    let bytes = hasher.finalize();
    bytes[..8].iter().map(|b| format!("{b:02x}")).collect()
}
