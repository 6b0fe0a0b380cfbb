//! Hybrid-cgroup hosts: a container that exists ONLY in a cgroup v1 hierarchy
//! (what a runtime without cgroup v2 support leaves) is named from the v1
//! cgroup id the probes put in every header, not from `/proc/PID/cgroup`: short
//! processes that exit before the agent looks still get their container, and
//! host processes cost no per-process file read. The same workload with
//! `LANNER_CGROUP_V1=off` shows the per-process reads the kernel id replaces.
use std::process::{Command, Stdio};

use lanner_tests::{
    cgroup::{hex_id, v1_root, FakeContainer},
    nonce, require_root,
    triage::{free_port, scrape},
    Agent, Keep, Stopped,
};
use serde_json::Value;

const SHELLS: usize = 10;
const HOST: usize = 10;

fn workload(ctr: &FakeContainer) {
    for _ in 0..SHELLS {
        // An interactive shell in the container; stdin at EOF, so it exits at once.
        let mut sh = ctr.command("/bin/sh");
        sh.arg("-i").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        assert!(sh.status().unwrap().success());
    }
    for _ in 0..HOST {
        let st = Command::new("/bin/cat").arg("/etc/shadow").stdout(Stdio::null()).status().unwrap();
        assert!(st.success());
    }
}

/// The agent's run over the workload, and its /metrics text right after it.
fn run(ctr: &FakeContainer, env: &[(&str, &str)]) -> (Stopped, String) {
    let maddr = format!("127.0.0.1:{}", free_port());
    let agent = Agent::start_env(&["--no-k8s", "--metrics-addr", &maddr], Keep::All, env);
    workload(ctr);
    // Let the reader drain the workload's records before the scrape.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let metrics = scrape(&maddr);
    let out = agent.stop();
    out.assert_accounting();
    (out, metrics)
}

fn series(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<u64>().ok()))
        .unwrap_or_else(|| panic!("no series {name} in /metrics:\n{text}"))
}

fn alerts<'a>(out: &'a Stopped, rule: &str, pred: impl Fn(&Value) -> bool) -> Vec<&'a Value> {
    out.events.iter().filter(|e| e["rule"] == rule && pred(&e["output_fields"])).collect()
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn v1_only_container_is_named_from_the_kernel_id_without_proc_reads() {
    if !require_root("v1_only_container_is_named_from_the_kernel_id_without_proc_reads") {
        return;
    }
    let Some(memory) = v1_root("memory") else {
        eprintln!("SKIP: no cgroup v1 memory hierarchy on this host (pure cgroup v2): no v1 ids to read");
        return;
    };
    let cid = hex_id(&nonce());
    let ctr = FakeContainer::create_v1(&memory, "5d1e7c2a-9b3f-4e60-8a11-2f4c6d8e0b19", &cid);
    let (with, with_metrics) = run(&ctr, &[]);
    let (without, without_metrics) = run(&ctr, &[("LANNER_CGROUP_V1", "off")]);
    drop(ctr);

    assert!(
        with.stderr.iter().any(|l| l.contains("v1 cgroup hierarchy mounted") && l.contains("controller=memory")),
        "the agent chose the memory hierarchy:\n{}",
        with.stderr.join("\n")
    );
    let shells = alerts(&with, "Terminal shell in container", |f| f["container.id"] == cid[..12]);
    assert_eq!(
        shells.len(),
        SHELLS,
        "every short shell named its v1-only container; all alerts:\n{:#?}",
        with.events.iter().filter(|e| e.get("rule").is_some()).collect::<Vec<_>>()
    );
    let host =
        alerts(&with, "Read sensitive file untrusted", |f| f["fd.name"] == "/etc/shadow" && f["proc.name"] == "cat");
    assert_eq!(host.len(), HOST, "one alert per host cat");
    assert!(host.iter().all(|a| a["output_fields"]["container.id"] == "host"), "host processes stay host: {host:#?}");

    eprintln!("enrich, v1 ids: {}", with.final_counters["enrich"]);
    eprintln!("enrich, LANNER_CGROUP_V1=off: {}", without.final_counters["enrich"]);
    let e = &with.final_counters["enrich"];
    assert_eq!(n(&e["proc_cgroup_reads"]), 0, "no per-process /proc/PID/cgroup read: {e}");
    let v1 = &e["cgroups_v1"];
    let misses = n(&v1["handle_resolved"]) + n(&v1["proc_resolved"]) + n(&v1["walk_resolved"]) + n(&v1["unresolved"]);
    assert!(n(&v1["handle_resolved"]) >= 1, "the v1 ids resolve by file handle as root: {v1}");
    assert!(n(&v1["cached"]) >= 2, "the container's and the host's v1 cgroups were cached: {v1}");
    assert!(
        misses < (SHELLS + HOST) as u64 / 2,
        "v1 ids are resolved once per cgroup, not per process ({} processes): {v1}",
        SHELLS + HOST
    );

    // The same story on /metrics, for an SRE: no per-process reads, v1 lookups answered.
    assert_eq!(series(&with_metrics, "lanner_proc_cgroup_reads_total "), 0);
    assert!(series(&with_metrics, "lanner_cgroup_cached{hierarchy=\"v1\"} ") >= 2, "{with_metrics}");
    assert!(series(&without_metrics, "lanner_proc_cgroup_reads_total ") >= (SHELLS + HOST) as u64, "{without_metrics}");
    assert!(!without_metrics.contains("hierarchy=\"v1\""), "no v1 series without v1 ids");

    // Without the kernel's v1 id every new process costs a /proc read (the path replaced).
    let e = &without.final_counters["enrich"];
    assert!(e["cgroups_v1"].is_null(), "no v1 resolver with LANNER_CGROUP_V1=off: {e}");
    assert!(n(&e["proc_cgroup_reads"]) >= (SHELLS + HOST) as u64, "one /proc read per new process: {e}");
}
