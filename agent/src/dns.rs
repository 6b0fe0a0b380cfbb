//! The resolver behind `fd.sip.name` / `fd.cip.name` / `fd.rip.name` / `fd.lip.name`.
//!
//! Compiling a rule registers the literal names it compares these fields with in the
//! rule engine's DNS table (`lanner_rules::runtime::dns`); this thread resolves every
//! registered name with getaddrinfo (the system resolver: /etc/hosts, then DNS) every
//! `--dns-refresh-secs`, and at once when a (re)load adds a name. The match thread only
//! reads the swapped address sets. A failed resolution, or one with no address, keeps
//! the name's last good addresses and counts `lanner_dns_resolutions_total{result="failure"}`.
//! Falco's DNS manager refreshes the same way (10 s base interval, getaddrinfo).

use std::collections::HashSet;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanner_rules::runtime::dns;

use crate::metrics::{Metrics, ResultLabels};

/// Default refresh interval, as Falco's DNS manager's base interval.
pub const DEFAULT_REFRESH_SECS: u64 = 10;
const MAX_REFRESH_SECS: u64 = 86_400;

/// Validate `--dns-refresh-secs`.
pub fn refresh_interval(secs: u64) -> Result<Duration, String> {
    if (1..=MAX_REFRESH_SECS).contains(&secs) {
        Ok(Duration::from_secs(secs))
    } else {
        Err(format!("--dns-refresh-secs must be between 1 and {MAX_REFRESH_SECS}, got {secs}"))
    }
}

/// Every address `name` resolves to (any family), or why not.
pub fn resolve(name: &str) -> Result<Vec<IpAddr>, String> {
    let addrs: Vec<IpAddr> = (name, 0).to_socket_addrs().map_err(|e| e.to_string())?.map(|a| a.ip()).collect();
    if addrs.is_empty() {
        return Err("no address".into());
    }
    Ok(addrs)
}

/// Resolve `names`, storing the results; failures keep the last addresses.
pub fn resolve_all(names: &[Arc<dns::DnsName>], metrics: &Metrics) {
    for n in names {
        let result = match resolve(n.name()) {
            Ok(addrs) => {
                tracing::debug!(name = n.name(), addrs = ?addrs, "dns name resolved");
                n.set(addrs);
                "success"
            }
            Err(e) => {
                tracing::warn!(name = n.name(), error = %e, kept = ?n.addrs(), "dns name did not resolve; keeping its last addresses");
                "failure"
            }
        };
        metrics.dns_resolutions.get_or_create(&ResultLabels { result }).inc();
    }
}

/// Start the resolver thread (it runs until the process exits).
pub fn spawn(refresh: Duration, metrics: Arc<Metrics>) -> std::io::Result<()> {
    std::thread::Builder::new().name("lanner-dns".into()).spawn(move || {
        let mut tried: HashSet<String> = HashSet::new();
        let mut last_full = Instant::now();
        let mut seen = dns::generation();
        loop {
            let names = dns::names();
            metrics.dns_names.set(names.len() as i64);
            let full = last_full.elapsed() >= refresh;
            let due: Vec<Arc<dns::DnsName>> =
                names.iter().filter(|n| full || !tried.contains(n.name())).cloned().collect();
            if full {
                last_full = Instant::now();
            }
            resolve_all(&due, &metrics);
            tried = names.iter().map(|n| n.name().to_string()).collect();
            drop((names, due));
            let wait = refresh.saturating_sub(last_full.elapsed()).max(Duration::from_millis(10));
            seen = dns::wait_for_change(seen, wait);
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_validated() {
        assert_eq!(refresh_interval(10).unwrap(), Duration::from_secs(10));
        assert!(refresh_interval(0).unwrap_err().contains("between 1 and"));
        assert!(refresh_interval(MAX_REFRESH_SECS + 1).is_err());
    }

    /// Only /etc/hosts-style names: nothing leaves the machine.
    #[test]
    fn resolves_and_keeps_last_addresses_on_failure() {
        let m = Metrics::new();
        let n = dns::entry("localhost");
        resolve_all(std::slice::from_ref(&n), &m);
        assert!(n.contains("127.0.0.1".parse().unwrap()), "{:?}", n.addrs());
        // A name getaddrinfo rejects without a query (a NUL byte): no traffic leaves the
        // machine, and the stored addresses stay.
        let bad = dns::entry("lanner\0unit-test");
        bad.set(["10.77.0.1".parse().unwrap()]);
        let before = m.dns_resolutions.get_or_create(&ResultLabels { result: "failure" }).get();
        resolve_all(std::slice::from_ref(&bad), &m);
        assert_eq!(m.dns_resolutions.get_or_create(&ResultLabels { result: "failure" }).get(), before + 1);
        assert_eq!(bad.addrs(), vec!["10.77.0.1".parse::<IpAddr>().unwrap()]);
    }
}
