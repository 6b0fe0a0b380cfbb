//! The per-event match path allocates nothing: a counting global allocator watches
//! matching the benchmark event mix (plus events that fire rules) against the default
//! pack and 1,000 generated rules, after one warm-up pass.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use lanner_rules::{RuleId, RuleSet};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn matching_does_not_allocate() {
    let generated = lanner_rules::bench::generated_rules(1000);
    let mut sources: Vec<(&str, &str)> = lanner_rules::DEFAULT_RULES.to_vec();
    sources.push(("generated.yaml", &generated));
    // fd.*ip.name reads the DNS table (an atomic load of the resolved address set).
    let dns = "- rule: dns_in\n  desc: d\n  condition: evt.type = connect and fd.sip.name in (\"db.alloc-test\", \"x.alloc-test\")\n  output: o\n  priority: INFO\n\
               - rule: dns_ne\n  desc: d\n  condition: evt.type = connect and fd.cip.name != \"x.alloc-test\"\n  output: o\n  priority: INFO\n";
    sources.push(("dns.yaml", dns));
    // container.mount.*[glob]: the glob is the key's text, compiled once, not per event.
    let mounts = "- rule: mount_glob\n  desc: d\n  condition: evt.type = openat and container.mount.rdwr[/etc*] = true and container.mount.source[/host*] exists\n  output: o\n  priority: INFO\n\
                  - rule: date_text\n  desc: d\n  condition: evt.type = openat and evt.datetime.s contains \"-\" and evt.time.s contains \":\"\n  output: o\n  priority: INFO\n";
    sources.push(("mounts.yaml", mounts));
    let rs = RuleSet::from_sources(&sources).unwrap_or_else(|e| panic!("{e}"));
    lanner_rules::runtime::dns::entry("db.alloc-test").set(["10.0.3.7".parse().unwrap()]);
    let mut events = lanner_rules::bench::event_mix();
    let with_mounts = events.iter().find(|e| e.evt_type == lanner_rules::EvtType::Openat && e.container.is_some());
    let mut ev = with_mounts.expect("the mix has an open in a container").clone();
    let mut c = (**ev.container.as_ref().unwrap()).clone();
    c.mounts = vec![lanner_rules::Mount::from_spec("/etc", "/host-etc", false, None)].into();
    ev.container = Some(std::sync::Arc::new(c));
    events.push(ev);
    let mut out: Vec<RuleId> = Vec::with_capacity(64);
    let mut matched = 0;
    for e in &events {
        rs.matches(e, &mut out);
        matched += out.len();
    }
    assert!(matched > 0, "the mix should fire some rules");
    let mut dns_fired = false;
    for e in &events {
        rs.for_each_match(e, |_, r| dns_fired |= r.name == "dns_in");
    }
    assert!(dns_fired, "the connect to 10.0.3.7 should match fd.sip.name = db.alloc-test");
    let mut mount_fired = false;
    for e in &events {
        rs.for_each_match(e, |_, r| mount_fired |= r.name == "mount_glob");
    }
    assert!(mount_fired, "the open in a container with /etc mounted read-write should match mount_glob");
    let mut date_fired = false;
    for e in &events {
        rs.for_each_match(e, |_, r| date_fired |= r.name == "date_text");
    }
    assert!(date_fired, "evt.datetime.s and evt.time.s are tested as their text");
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        for e in &events {
            rs.matches(e, &mut out);
            rs.for_each_match(e, |_, r| assert!(!r.name.is_empty()));
        }
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(ALLOCS.load(Ordering::SeqCst), 0, "allocations on the match path");
}
