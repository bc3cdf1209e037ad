//! Loopback ports for the processes the harness starts. A port is picked before its process
//! binds it (proxies go in front first, a slow service binds seconds later), so it comes from
//! below the kernel's ephemeral range: a `bind(0)` port is one the kernel also hands to outgoing
//! connections, and one such connection did take a shop service's port in that gap.

use std::net::TcpListener;

use rand::Rng;

use super::address::TargetError;

/// The lowest port handed out (below it sit well-known services' ports).
const LOWEST: u16 = 10_000;
/// Where the ephemeral range starts when the kernel does not say: Linux's default, below the
/// IANA range other systems use.
const DEFAULT_EPHEMERAL_START: u16 = 32_768;
/// Random tries per port wanted before giving up.
const TRIES_PER_PORT: usize = 100;

/// `count` different loopback ports nothing listens on, outside the ephemeral range. Each is
/// held while the others are picked, so no two are the same.
pub fn free_ports(count: usize) -> Result<Vec<u16>, TargetError> {
    let end = ephemeral_start();
    let mut rng = rand::rng();
    let mut held = Vec::with_capacity(count);
    for _ in 0..count * TRIES_PER_PORT {
        if held.len() == count {
            break;
        }
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", rng.random_range(LOWEST..end))) {
            held.push(listener);
        }
    }
    if held.len() < count {
        return Err(TargetError::Start(format!("no free port between {LOWEST} and {end}")));
    }
    held.iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| TargetError::Start(format!("no free port: {e}")))
}

fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .filter(|start| *start > LOWEST + 1_000)
        .unwrap_or(DEFAULT_EPHEMERAL_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_free_and_below_the_ephemeral_range() {
        let ports = free_ports(6).expect("six ports");
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 6, "{ports:?}");
        for port in ports {
            assert!((LOWEST..ephemeral_start()).contains(&port), "{port}");
            TcpListener::bind(("127.0.0.1", port)).expect("released, so it can be bound");
        }
    }
}
