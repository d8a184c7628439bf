//! Free local TCP ports, for servers a test starts itself.
//!
//! The ports come from *below* the kernel's ephemeral range, never from it. A port the OS hands out
//! for `bind(0)` is an ephemeral one, and while a test's server is stopped (a broker killed and
//! restarted) any outgoing connection on the machine may be given that port as its local port —
//! including a client retrying the stopped server itself (TCP self-connect: 127.0.0.1:P connected
//! to 127.0.0.1:P). The restarted server then cannot listen ("Address already in use", even with
//! SO_REUSEADDR: tried). Outgoing connections never get a port outside the ephemeral range. Kubernetes' NodePort range (30000–32767) is avoided too: on the local
//! platform kube-proxy may rewrite connections to those ports on this host.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};

/// Linux's default ephemeral range starts here (used when the kernel's setting cannot be read).
const FALLBACK_EPHEMERAL_START: u16 = 32768;
/// Test ports: from here up to the ephemeral range or Kubernetes' NodePort range, whichever comes
/// first.
const LOWEST: u16 = 20000;
const NODE_PORTS_START: u16 = 30000;

/// A port on 127.0.0.1 that was free a moment ago, outside the ephemeral range (see the module).
pub fn free_port() -> u16 {
    let (low, high) = candidate_range(&ephemeral_range());
    let span = u64::from(high - low);
    let start = random() % span;
    (0..span)
        .map(|i| low + ((start + i) % span) as u16)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .unwrap_or_else(|| panic!("no free port on 127.0.0.1 in {low}..{high}"))
}

/// The ports tests may use: from [`LOWEST`] up to the ephemeral or NodePort range's start.
fn candidate_range(ephemeral: &str) -> (u16, u16) {
    let start = ephemeral
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|start| *start > LOWEST + 1000)
        .unwrap_or(FALLBACK_EPHEMERAL_START);
    (LOWEST, start.min(NODE_PORTS_START))
}

fn ephemeral_range() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default()
}

/// A different random number per call (tests in parallel processes must not walk in step).
fn random() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_below_the_kernels_ephemeral_range() {
        let (_, upper) = candidate_range(&ephemeral_range());
        for _ in 0..50 {
            let port = free_port();
            assert!(
                (LOWEST..upper).contains(&port),
                "{port} is not in {LOWEST}..{upper}"
            );
            TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
        }
    }

    #[test]
    fn the_range_follows_the_kernel_setting_and_falls_back_when_unreadable() {
        assert_eq!(candidate_range("28000\t60999\n"), (LOWEST, 28000));
        // Linux's default: the NodePort range comes first.
        assert_eq!(candidate_range("32768 60999"), (LOWEST, NODE_PORTS_START));
        assert_eq!(candidate_range(""), (LOWEST, NODE_PORTS_START));
        // A range starting too low to leave room below it: the default start instead.
        assert_eq!(candidate_range("1024 65000"), (LOWEST, NODE_PORTS_START));
    }
}
