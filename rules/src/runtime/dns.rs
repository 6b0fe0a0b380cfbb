//! The DNS table behind `fd.sip.name`, `fd.cip.name`, `fd.rip.name` and `fd.lip.name`.
//!
//! As in Falco, these fields compare an event's IP with the addresses that the literal
//! names of `=` / `!=` / `in` resolve to. Compiling such a comparison registers each
//! name here and keeps an `Arc` to its [`DnsName`]; a resolver outside this crate (the
//! agent's) resolves every registered name periodically and stores the addresses with
//! [`DnsName::set`]. Matching only loads the current address set (an `ArcSwap` load:
//! no lock, no allocation). The registry keeps weak references, so the names of rules
//! that were reloaded away disappear on their own, and a new name wakes the resolver.
//! Without a resolver (e.g. `lanner rules test`) a name has no addresses and never
//! matches, unless a test stores addresses itself.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;

/// One name compared with by rules, and the addresses it last resolved to.
#[derive(Debug)]
pub struct DnsName {
    name: Box<str>,
    /// Canonical addresses (IPv4-mapped IPv6 stored as IPv4), sorted.
    addrs: ArcSwap<Box<[IpAddr]>>,
}

impl DnsName {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `ip` is among the addresses the name resolved to (no allocation).
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.addrs.load().contains(&ip)
    }

    /// Replace the addresses (the resolver's result).
    pub fn set(&self, addrs: impl IntoIterator<Item = IpAddr>) {
        let mut v: Vec<IpAddr> = addrs.into_iter().map(|a| a.to_canonical()).collect();
        v.sort_unstable();
        v.dedup();
        self.addrs.store(Arc::new(v.into_boxed_slice()));
    }

    /// The current addresses.
    pub fn addrs(&self) -> Vec<IpAddr> {
        self.addrs.load().to_vec()
    }
}

#[derive(Default)]
struct Registry {
    names: HashMap<Box<str>, Weak<DnsName>>,
    /// Bumped when a name is added, so a waiting resolver resolves it at once.
    generation: u64,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
static CHANGED: Condvar = Condvar::new();

fn registry() -> MutexGuard<'static, Option<Registry>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shared entry of `name`, registered if no compiled rule holds it yet.
pub fn entry(name: &str) -> Arc<DnsName> {
    let mut g = registry();
    let reg = g.get_or_insert_with(Registry::default);
    if let Some(e) = reg.names.get(name).and_then(Weak::upgrade) {
        return e;
    }
    let e = Arc::new(DnsName { name: name.into(), addrs: ArcSwap::from_pointee(Box::default()) });
    reg.names.insert(name.into(), Arc::downgrade(&e));
    reg.generation += 1;
    CHANGED.notify_all();
    e
}

/// Every name some compiled rule still uses, sorted by name (dropped ones are pruned).
pub fn names() -> Vec<Arc<DnsName>> {
    let mut g = registry();
    let Some(reg) = g.as_mut() else { return Vec::new() };
    reg.names.retain(|_, w| w.strong_count() > 0);
    let mut v: Vec<Arc<DnsName>> = reg.names.values().filter_map(Weak::upgrade).collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The registry's generation: it changes when a name is added.
pub fn generation() -> u64 {
    registry().as_ref().map_or(0, |r| r.generation)
}

/// Wait until a name is added after generation `seen`, or `timeout` passes; returns the
/// current generation.
pub fn wait_for_change(seen: u64, timeout: Duration) -> u64 {
    let g = registry();
    let (g, _) = CHANGED
        .wait_timeout_while(g, timeout, |r| r.as_ref().map_or(0, |r| r.generation) == seen)
        .unwrap_or_else(|e| e.into_inner());
    g.as_ref().map_or(0, |r| r.generation)
}

/// The first registered name (alphabetically) that resolved to `ip`, as Falco renders
/// `%fd.sip.name`; `None` when no name did.
pub fn name_of(ip: IpAddr) -> Option<String> {
    names().into_iter().find(|n| n.contains(ip)).map(|n| n.name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_shared_and_pruned() {
        let a = entry("dns-unit-a.test");
        let b = entry("dns-unit-a.test");
        assert!(Arc::ptr_eq(&a, &b));
        let g0 = generation();
        let c = entry("dns-unit-c.test");
        assert!(generation() > g0);
        c.set(["::ffff:10.9.9.9".parse().unwrap(), "10.9.9.9".parse().unwrap()]);
        assert_eq!(c.addrs(), vec!["10.9.9.9".parse::<IpAddr>().unwrap()]);
        assert!(c.contains("::ffff:10.9.9.9".parse().unwrap()) && !a.contains("10.9.9.9".parse().unwrap()));
        assert_eq!(name_of("10.9.9.9".parse().unwrap()).as_deref(), Some("dns-unit-c.test"));
        drop(c);
        assert!(names().iter().all(|n| n.name() != "dns-unit-c.test"));
        assert!(name_of("10.9.9.9".parse().unwrap()).is_none());
        // A waiter sees a new name at once.
        let seen = generation();
        let t = std::thread::spawn(move || wait_for_change(seen, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        let _d = entry("dns-unit-d.test");
        assert!(t.join().unwrap() > seen);
    }
}
