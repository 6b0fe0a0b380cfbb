//! Enrichment micro-benchmark for `cargo xtask bench`: [`bench_report`]
//! fills a [`PodCache`] with 1,000 synthetic pods (3 containers, 8 labels
//! each), builds a cgroup tree named like kubelet's in a scratch directory,
//! and measures the per-event cost of the cache-hit path and the memory the
//! pods take.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    hint::black_box,
    os::unix::fs::MetadataExt as _,
    path::PathBuf,
    time::{Duration, Instant},
};

use super::{
    cache::PodCache,
    cgroup::{CgroupResolver, ResolverConfig},
    enrich::Enricher,
    pod::{ContainerKind, ContainerMeta, PodMeta},
};

const PODS: usize = 1_000;
const CONTAINERS: usize = 3;

fn hex64(seed: u64) -> String {
    // Four rounds of splitmix64: deterministic, distinct, realistic-looking ids.
    let mut x = seed;
    (0..4)
        .map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            format!("{:016x}", z ^ (z >> 31))
        })
        .collect()
}

fn uid(i: usize) -> String {
    let h = hex64(1_000_000 + i as u64);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A pod shaped like a typical Deployment replica with two sidecars.
pub fn synthetic_pod(i: usize) -> PodMeta {
    let app = format!("service-{:03}", i % 250);
    let labels: BTreeMap<String, String> = [
        ("app.kubernetes.io/name", app.clone()),
        ("app.kubernetes.io/instance", format!("{app}-prod")),
        ("app.kubernetes.io/version", "1.27.3".to_string()),
        ("app.kubernetes.io/component", "backend".to_string()),
        ("app.kubernetes.io/part-of", "shop".to_string()),
        ("app.kubernetes.io/managed-by", "helm".to_string()),
        ("pod-template-hash", "7d4b9c8f6d".to_string()),
        ("team", "payments".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let images = [
        format!("registry.example.com/shop/{app}:1.27.3"),
        "docker.io/envoyproxy/envoy:v1.31.2".to_string(),
        "ghcr.io/example/log-shipper@sha256:5f1c1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5"
            .to_string(),
    ];
    let containers = (0..CONTAINERS)
        .map(|c| ContainerMeta {
            id: Some(hex64((i * CONTAINERS + c) as u64)),
            previous_id: None,
            name: ["app", "envoy", "log-shipper"][c].to_string(),
            kind: ContainerKind::Regular,
            image_repository: super::pod::image_repository(&images[c]).to_string(),
            image: images[c].clone(),
            runtime: Some(crate::container::Runtime::Containerd),
            facts: Default::default(),
        })
        .collect();
    PodMeta {
        ns: format!("team-{}", i % 40),
        name: format!("{app}-prod-7d4b9c8f6d-{:05x}", i),
        uid: uid(i),
        labels,
        owner_kind: Some("ReplicaSet".to_string()),
        owner_name: Some(format!("{app}-prod-7d4b9c8f6d")),
        owner_uid: None,
        node: Some("node-a1.example.internal".to_string()),
        containers,
        host_network: false,
        host_pid: false,
        host_ipc: false,
        ip: None,
        deleted: false,
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

/// Runs the benchmark (a few seconds) and returns a human-readable report.
pub fn bench_report() -> String {
    let mut out = String::new();
    let pods: Vec<PodMeta> = (0..PODS).map(synthetic_pod).collect();
    let rss0 = rss_bytes();
    let cache = PodCache::new(Duration::from_secs(5));
    let t = Instant::now();
    for p in pods.iter().cloned() {
        cache.apply(p);
    }
    let apply = t.elapsed();
    let rss1 = rss_bytes();
    // Every pod is referenced from the cache and from `pods`: the delta is the cache's copy.
    let _ = writeln!(out, "pod cache: {PODS} pods x {CONTAINERS} containers, 8 labels each");
    let _ = writeln!(out, "  apply: {:.0} ns/pod", ns_per(apply, PODS));
    let _ = writeln!(
        out,
        "  memory: RSS +{:.2} MiB for {PODS} pods ({:.1} KiB/pod incl. both indexes)",
        (rss1.saturating_sub(rss0)) as f64 / (1 << 20) as f64,
        (rss1.saturating_sub(rss0)) as f64 / 1024.0 / PODS as f64
    );

    // A scratch cgroup tree named like kubelet's (systemd driver), one dir per container.
    let root: PathBuf = std::env::temp_dir().join(format!("lanner-bench-{}", std::process::id()));
    let mut ids = Vec::with_capacity(PODS * CONTAINERS);
    for p in &pods {
        let pod_dir = root.join(format!(
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
            p.uid.replace('-', "_")
        ));
        for c in &p.containers {
            let d = pod_dir.join(format!("cri-containerd-{}.scope", c.id.as_deref().unwrap_or_default()));
            if std::fs::create_dir_all(&d).is_ok() {
                ids.push(std::fs::metadata(&d).map(|m| m.ino()).unwrap_or(0));
            }
        }
    }
    let host = root.join("system.slice/sshd.service");
    let _ = std::fs::create_dir_all(&host);
    let host_id = std::fs::metadata(&host).map(|m| m.ino()).unwrap_or(0);
    let resolver = CgroupResolver::new(ResolverConfig { cgroup_root: Some(root.clone()), ..Default::default() });
    let Ok(resolver) = resolver else {
        let _ = std::fs::remove_dir_all(&root);
        let _ = writeln!(out, "enrich: scratch cgroup tree unavailable, skipped");
        return out;
    };
    let mut enricher = Enricher::new(Some(resolver), cache.clone(), Duration::from_secs(2));
    enricher.set_v1_fallback(false);
    // Warm: the first lookup walks the tree once, the rest of the ids come from that walk.
    let t = Instant::now();
    for id in &ids {
        black_box(enricher.lookup(0, *id));
    }
    let cold = t.elapsed();
    const N: usize = 300_000;
    let t = Instant::now();
    let mut found = 0usize;
    for i in 0..N {
        let id = ids[(i.wrapping_mul(7919)) % ids.len()];
        if let Some(info) = black_box(enricher.lookup(0, id)) {
            found += info.pod.is_some() as usize;
        }
    }
    let hit = t.elapsed();
    let t = Instant::now();
    for _ in 0..N {
        black_box(enricher.lookup(0, host_id));
    }
    let host_t = t.elapsed();
    let t = Instant::now();
    for i in 0..N {
        black_box(cache.by_container(pods[i % PODS].containers[0].id.as_deref().unwrap_or_default()));
    }
    let pod_only = t.elapsed();
    let _ = std::fs::remove_dir_all(&root);
    let s = enricher.stats().cgroups.unwrap_or_default();
    let _ = writeln!(out, "enrich (pid, cgroup_id) -> container + pod, {} containers:", ids.len());
    let _ = writeln!(
        out,
        "  first lookups (one walk of {} cgroups + index): {:.0} ns/op",
        ids.len(),
        ns_per(cold, ids.len())
    );
    let _ = writeln!(out, "  cache hit, container in a cached pod: {:.0} ns/op ({found}/{N} with pod)", ns_per(hit, N));
    let _ = writeln!(out, "  cache hit, host process (no container): {:.0} ns/op", ns_per(host_t, N));
    let _ = writeln!(out, "  pod lookup by container id alone: {:.0} ns/op", ns_per(pod_only, N));
    let _ = writeln!(out, "  cgroup resolver: {} walks, {} cached ids", s.walks, s.cached);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn synthetic_pods_are_distinct_and_parse_back() {
        let a = super::synthetic_pod(1);
        let b = super::synthetic_pod(2);
        assert_ne!(a.uid, b.uid);
        assert_ne!(a.containers[0].id, b.containers[0].id);
        let path = format!(
            "/kubepods.slice/kubepods-burstable-pod{}.slice/cri-containerd-{}.scope",
            a.uid.replace('-', "_"),
            a.containers[0].id.as_deref().unwrap()
        );
        let c = crate::container::parse_cgroup_path(&path).unwrap();
        assert_eq!(c.pod_uid.as_deref(), Some(a.uid.as_str()));
    }

    /// `cargo test --release -p lanner -- --ignored --nocapture bench_report`
    #[test]
    #[ignore]
    fn bench_report() {
        println!("{}", super::bench_report());
    }
}
