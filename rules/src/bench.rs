//! Benchmark workloads shared by `benches/matcher.rs` (criterion) and
//! `examples/bench_table.rs` (a Markdown table for docs/benchmarks-rules.md): a realistic
//! event mix and a generator of N synthetic rules. Also usable from `cargo xtask bench`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use crate::runtime::event::{Container, Event, EvtType, Fd, L4Proto, Pod, Process};
use crate::runtime::ruleset::RuleSet;

fn proc(name: &str, exepath: &str, args: &[&str], uid: u32) -> Arc<Process> {
    let mut p = Process::new(name, exepath, args);
    p.uid = uid;
    p.pid = 4000 + name.len() as u32;
    p.precompute();
    Arc::new(p)
}

/// A realistic mix of 1,000 events: ~20% execs of common binaries, ~58% opens of
/// ordinary files (libraries, configs, /proc, app data, logs), ~2% opens of
/// sensitive files, ~15% connects (in-cluster, public HTTPS, loopback), ~5%
/// clone/exit/setuid. Half run in a Kubernetes container.
pub fn event_mix() -> Vec<Event> {
    let pod = Arc::new(Container {
        id: "3f1c0a9e2b7d4c5a8e9f".into(),
        name: "web".into(),
        image_repository: "ghcr.io/acme/web".into(),
        image_tag: "1.4.2".into(),
        privileged: Some(false),
        k8s: Some(Pod { ns: "prod".into(), name: "web-7d9f-x2".into(), uid: "9d2c".into(), ..Default::default() }),
        ..Default::default()
    });
    let shell = proc("bash", "/bin/bash", &[], 0);
    let shim = proc("containerd-shim", "/usr/bin/containerd-shim-runc-v2", &["-namespace", "k8s.io"], 0);
    let execs: Vec<Arc<Process>> = vec![
        proc("ls", "/usr/bin/ls", &["-la", "/app"], 1000),
        proc("cat", "/usr/bin/cat", &["/app/config.yaml"], 1000),
        proc("sh", "/bin/sh", &["-c", "exec nginx -g 'daemon off;'"], 0),
        proc("curl", "/usr/bin/curl", &["-fsS", "http://127.0.0.1:8080/healthz"], 1000),
        proc("python3", "/usr/bin/python3", &["/app/worker.py", "--queue", "default"], 1000),
        proc("nginx", "/usr/sbin/nginx", &["-g", "daemon off;"], 0),
        proc("git", "/usr/bin/git", &["fetch", "origin"], 1000),
        proc("cc", "/usr/bin/cc", &["-O2", "-c", "main.c", "-o", "main.o"], 1000),
        proc("node", "/usr/local/bin/node", &["server.js"], 1000),
        proc("java", "/usr/bin/java", &["-Xmx512m", "-jar", "/app/service.jar", "--spring.profiles.active=prod"], 1000),
    ];
    let files = [
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", 0o2000000u32),
        ("/etc/ld.so.cache", 0o2000000),
        ("/proc/self/stat", 0),
        ("/app/data/orders.db", 0o2),
        ("/var/log/app/app.log", 0o2101),
        ("/etc/nginx/nginx.conf", 0),
        ("/etc/passwd", 0o2000000),
        ("/tmp/upload-83f1.tmp", 0o1101),
        ("/usr/share/zoneinfo/UTC", 0),
        ("/sys/fs/cgroup/memory.max", 0),
    ];
    let sensitive = [("/etc/shadow", 0u32), ("/var/run/secrets/kubernetes.io/serviceaccount/token", 0)];
    let conns: [(&str, u16); 4] = [("10.0.3.7", 5432), ("93.184.216.34", 443), ("127.0.0.1", 8080), ("10.96.0.10", 53)];
    let mut out = Vec::with_capacity(1000);
    for i in 0..1000usize {
        let in_pod = i % 2 == 0;
        let p = execs[i % execs.len()].clone();
        let r = i % 100;
        let mut ev = if r < 20 {
            let mut e = Event::new(EvtType::Execve, 1_795_435_200_000_000_000 + i as u64, p);
            e.ancestors = vec![shell.clone(), shim.clone()].into();
            e
        } else if r < 78 {
            let (path, flags) = files[i % files.len()];
            let mut e = Event::new(EvtType::Openat, 0, p);
            e.fd = Some(Fd::file(path, flags, 0));
            e.res = 5;
            e.ancestors = vec![shim.clone()].into();
            e
        } else if r < 80 {
            let (path, flags) = sensitive[i % 2];
            let mut e = Event::new(EvtType::Openat, 0, proc("cat", "/usr/bin/cat", &[path], 0));
            e.fd = Some(Fd::file(path, flags, 0));
            e.res = 3;
            e.ancestors = vec![shell.clone()].into();
            e
        } else if r < 95 {
            let (ip, port) = conns[i % conns.len()];
            let mut e = Event::new(EvtType::Connect, 0, p);
            e.fd =
                Some(Fd::inet(ip.parse().unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])), port, None, L4Proto::Tcp));
            e.res = -115;
            e
        } else if r < 98 {
            Event::new(if r < 97 { EvtType::Clone } else { EvtType::Procexit }, 0, p)
        } else {
            let mut e = Event::new(EvtType::Setuid, 0, p);
            e.setuid_target = Some(33);
            e
        };
        if in_pod {
            ev.container = Some(pod.clone());
        }
        out.push(ev);
    }
    out
}

/// `n` synthetic rules in Falco syntax, a third each of the shapes
/// `proc.name in (...)`, `fd.name startswith ...` (open for writing) and
/// `proc.cmdline contains ...`, none of which match the event mix.
pub fn generated_rules(n: usize) -> String {
    let mut y = String::with_capacity(n * 200);
    for i in 0..n {
        let (cond, tags) = match i % 3 {
            0 => (format!("evt.type = execve and proc.name in (tool{i}a, tool{i}b, tool{i}c, helper-{i}) and user.uid != 0"), "[process]"),
            1 => (format!("evt.type = openat and evt.is_open_write = true and (fd.name startswith /opt/app{i}/ or fd.name startswith /srv/data{i}/)"), "[filesystem]"),
            _ => (format!("evt.type in (execve, connect) and (proc.cmdline contains \"--secret-{i}\" or proc.cmdline contains \"token{i}=\")"), "[network]"),
        };
        let _ = write!(y, "- rule: generated {i}\n  desc: generated\n  condition: '{cond}'\n  output: \"generated {i} %proc.name %fd.name\"\n  priority: NOTICE\n  tags: {tags}\n");
    }
    y
}

/// One measured workload.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub workload: String,
    pub rules: usize,
    pub events: u64,
    pub ns_per_event: f64,
    pub events_per_sec: f64,
    pub matches_per_event: f64,
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`), if known.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Match `events` repeatedly for about `millis` on the current thread. The rate is per
/// second of this thread's CPU time where Linux reports it (so time the thread waits
/// for a core on a shared machine does not count), else per wall-clock second.
pub fn measure(workload: &str, rs: &RuleSet, events: &[Event], millis: u64) -> BenchResult {
    let mut matches = 0u64;
    for e in events {
        matches += rs.count_matches(e) as u64;
    }
    let per_pass = matches;
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let mut n = 0u64;
    let mut m = 0u64;
    while start.elapsed().as_millis() < u128::from(millis) {
        for e in events {
            rs.for_each_match(std::hint::black_box(e), |_, _| m += 1);
        }
        n += events.len() as u64;
    }
    let wall = start.elapsed().as_secs_f64();
    let secs = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => wall,
    };
    std::hint::black_box(m);
    BenchResult {
        workload: workload.to_string(),
        rules: rs.len(),
        events: n,
        ns_per_event: secs * 1e9 / n as f64,
        events_per_sec: n as f64 / secs,
        matches_per_event: per_pass as f64 / events.len() as f64,
    }
}

/// Rounds per workload in [`run_table`] (odd: the median is one round).
pub const ROUNDS: usize = 9;

/// Measure the default pack and the default pack plus `extra` generated rules, and
/// render a Markdown table (the median of [`ROUNDS`] interleaved rounds).
pub fn run_table(extra: usize, millis: u64) -> Result<(Vec<BenchResult>, String), crate::LoadErrors> {
    let events = event_mix();
    let default = RuleSet::default_pack()?;
    let generated = generated_rules(extra);
    let only_generated = RuleSet::from_sources(&[("generated.yaml", &generated)])?;
    let mut sources: Vec<(&str, &str)> = crate::DEFAULT_RULES.to_vec();
    sources.push(("generated.yaml", &generated));
    let both = RuleSet::from_sources(&sources)?;
    let sets: [(String, &RuleSet); 3] = [
        ("default pack".into(), &default),
        (format!("{extra} generated rules"), &only_generated),
        (format!("default pack + {extra} generated rules"), &both),
    ];
    // Interleaved rounds, the median reported: on a shared or virtual machine one
    // long run swings by ±20 % with its neighbours; the median of short rounds
    // taken in turn does not, and the best and worst round show the spread.
    let mut rounds: Vec<Vec<BenchResult>> = vec![Vec::new(); sets.len()];
    for _ in 0..ROUNDS {
        for (i, (name, rs)) in sets.iter().enumerate() {
            rounds[i].push(measure(name, rs, &events, (millis / ROUNDS as u64).max(50)));
        }
    }
    let mut results = Vec::new();
    let mut t = format!(
        "| workload | rules | ns/event | events/s/core | matches/event | ns/event best … worst of {ROUNDS} rounds |\n\
         |---|---:|---:|---:|---:|---|\n"
    );
    for mut v in rounds {
        v.sort_by(|a, b| a.ns_per_event.total_cmp(&b.ns_per_event));
        let (best, worst) = (v[0].ns_per_event, v[v.len() - 1].ns_per_event);
        let r = v.swap_remove(v.len() / 2);
        let _ = writeln!(
            t,
            "| {} | {} | {:.0} | {:.2} M | {:.3} | {best:.0} … {worst:.0} |",
            r.workload,
            r.rules,
            r.ns_per_event,
            r.events_per_sec / 1e6,
            r.matches_per_event
        );
        results.push(r);
    }
    Ok((results, t))
}
