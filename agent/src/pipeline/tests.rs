//! Tests of the pipeline's alert path with pod enrichment: a real rule set,
//! a kubelet container in a scratch cgroup tree and a pod cache fed the way
//! the watch feeds it; alerts are collected from the sink.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use lanner_common::decode::{self, Event as KEvent};
use lanner_rules::{Alert, RuleSet, RuleSetHandle};

use super::{AlertSink, Pipeline};
use crate::{
    assemble::Assembler,
    k8s::{testutil, Enricher, PodCache},
    proctable::ProcTable,
};

const UID: &str = "5b7c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4";

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Alert>>>);

impl AlertSink for Collect {
    fn alert(&mut self, alert: Alert, _t: u64) {
        self.0.lock().unwrap().push(alert);
    }
}

fn shell_exec(pid: u32, cgroup_id: u64) -> KEvent {
    KEvent::Exec(decode::Exec {
        hdr: decode::Header {
            ts_boot_ns: 1,
            pid,
            tid: pid,
            uid: 0,
            gid: 0,
            cgroup_id,
            cgroup_v1_id: 0,
            comm: "sh".into(),
        },
        syscall: "execve",
        ppid: 1,
        ret: 0,
        loginuid: None,
        tty: 0,
        filename: "/bin/sh".into(),
        argv: vec!["sh".into()],
        args_truncated: false,
        filename_truncated: false,
        read_failed: false,
        image: None,
    })
}

/// A pipeline over one kubelet container of pod `UID` (container id `id`),
/// holding alerts up to `hold`, with metrics; alerts are collected by the sink.
struct Setup {
    p: Pipeline<Vec<u8>>,
    sink: Collect,
    pods: PodCache,
    metrics: crate::metrics::Metrics,
    cgroup_id: u64,
    _tree: testutil::TempDir,
}

fn setup(id: &str, hold: Duration, rule: &str) -> Setup {
    let (tree, resolver, cgroup_id) = testutil::kubelet_container_tree(UID, id);
    let pods = PodCache::new(Duration::ZERO);
    let enricher = Arc::new(Enricher::new(Some(resolver), pods.clone(), hold));
    let assembler = Assembler::new(ProcTable::new(1000, Duration::from_secs(5)), Some(enricher), 0);
    let rules = RuleSet::from_sources(&[("t.yaml", rule)]).expect("rules");
    let sink = Collect::default();
    let mut p: Pipeline<Vec<u8>> = Pipeline::new(
        0,
        None,
        None,
        assembler,
        Arc::new(RuleSetHandle::new(rules)),
        "node-1".into(),
        Box::new(sink.clone()),
    );
    let metrics = crate::metrics::Metrics::new();
    p.set_metrics(&metrics);
    Setup { p, sink, pods, metrics, cgroup_id, _tree: tree }
}

/// Runs the pipeline's housekeeping until the sink holds `n` alerts.
fn wait_alerts(p: &mut Pipeline<Vec<u8>>, sink: &Collect, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
    let t0 = Instant::now();
    loop {
        p.drain_held();
        let got = sink.0.lock().unwrap().len();
        if got >= n {
            break;
        }
        assert!(t0.elapsed() < timeout, "{got} of {n} alerts after {timeout:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    sink.0.lock().unwrap().iter().map(|a| serde_json::to_value(a).unwrap()).collect()
}

/// The pod's first watch event came without container statuses; the alert
/// of a shell in its container is held (`--hold-ms`) until the status
/// arrives and then carries the container's name and image, and so do the
/// container's later alerts.
#[test]
fn alert_of_a_container_without_status_is_held_until_its_name_and_image_arrive() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let _g = rt.enter();
    let id = "cd".repeat(32);
    let Setup { mut p, sink, pods, metrics, cgroup_id, _tree } = setup(
        &id,
        Duration::from_secs(10),
        "- rule: shell\n  desc: d\n  condition: evt.type = execve and container.id != host and proc.name = sh\n  \
         output: shell in %container.name (%container.image.repository)\n  priority: WARNING\n",
    );

    // The reader's wake-up: a held alert that is back must not wait for the next tick.
    p.start_match_thread().unwrap();
    let wake = p.match_wake().unwrap();
    let woken = |within: Duration| rt.block_on(tokio::time::timeout(within, wake.notified())).is_ok();

    pods.apply(testutil::pod_event(UID, None));
    let t0 = Instant::now();
    p.handle(&mut shell_exec(4_100_001, cgroup_id));
    assert!(!woken(Duration::from_millis(150)), "no wake-up while the alert is held");
    p.drain_held();
    assert!(sink.0.lock().unwrap().is_empty(), "held while the container status is missing");
    pods.apply(testutil::pod_event(UID, Some(&id)));
    assert!(woken(Duration::from_secs(5)), "the hold task wakes the reader when its alert is back");
    let alerts = wait_alerts(&mut p, &sink, 1, Duration::from_secs(5));
    assert!(t0.elapsed() < Duration::from_secs(5), "released by the pod update, not the 10 s hold");
    let f = &alerts[0]["output_fields"];
    assert_eq!(f["container.name"], "app", "{}", alerts[0]);
    assert_eq!(f["container.image.repository"], "ghcr.io/shop/web");
    assert_eq!(f["k8s.pod.name"], "web-1");
    assert_eq!(f["container.id"], id[..12]);
    assert_eq!(p.stats.alerts_held, 1);

    // A later shell in the same container: complete at once, no hold.
    p.handle(&mut shell_exec(4_100_002, cgroup_id));
    let alerts = wait_alerts(&mut p, &sink, 2, Duration::from_secs(5));
    assert_eq!(alerts[1]["output_fields"]["container.name"], "app", "{}", alerts[1]);
    assert_eq!(p.stats.alerts_held, 1, "the complete entry needed no hold");
    let text = metrics.encode();
    assert!(text.contains("\nlanner_enrichment_holds_total 1\n"), "{text}");
    assert!(text.contains("\nlanner_enrichment_hold_seconds_count 1\n"), "{text}");
    assert!(!text.contains("lanner_enrichment_misses_total{"), "the held alert got its pod: {text}");
}

/// A pod that never shows up: the alert leaves after the hold without pod
/// metadata, and the metrics count the hold and the miss with its reason.
#[test]
fn an_alert_whose_pod_never_arrives_is_counted_as_a_miss() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let _g = rt.enter();
    let id = "ef".repeat(32);
    let Setup { mut p, sink, pods, metrics, cgroup_id, _tree } = setup(
        &id,
        Duration::from_millis(200),
        "- rule: shell\n  desc: d\n  condition: evt.type = execve and container.id != host and proc.name = sh\n  \
         output: shell in %container.id\n  priority: WARNING\n",
    );
    // The watch runs (the cache is enabled) but this pod is not in it.
    pods.apply(testutil::pod_event("00000000-0000-4000-8000-000000000001", None));
    p.handle(&mut shell_exec(4_100_003, cgroup_id));
    let alerts = wait_alerts(&mut p, &sink, 1, Duration::from_secs(5));
    assert!(alerts[0]["output_fields"]["k8s.pod.name"].is_null(), "{}", alerts[0]);
    let text = metrics.encode();
    assert!(text.contains("\nlanner_enrichment_holds_total 1\n"), "{text}");
    assert!(text.contains("\nlanner_enrichment_hold_seconds_count 1\n"), "{text}");
    assert!(text.contains("lanner_enrichment_misses_total{reason=\"pod_not_found\"} 1\n"), "{text}");
}

/// A drain past `THREAD_MIN` sends its tail to the match thread; an event
/// matched inline afterwards must not overtake the thread's alerts.
#[test]
fn alerts_keep_the_event_order_across_the_match_thread() {
    use crate::transport::RecordSink as _;
    let rule = "- rule: etc\n  desc: d\n  condition: evt.type = openat and fd.name startswith /etc/lnr-order-\n  output: \"%fd.name\"\n  priority: WARNING\n";
    let rules = RuleSet::from_sources(&[("t.yaml", rule)]).expect("rules");
    let sink = Collect::default();
    let assembler = Assembler::new(ProcTable::new(1000, Duration::from_secs(5)), None, 0);
    let mut p: Pipeline<Vec<u8>> = Pipeline::new(
        0,
        None,
        None,
        assembler,
        Arc::new(RuleSetHandle::new(rules)),
        "n".into(),
        Box::new(sink.clone()),
    );
    p.start_match_thread().expect("match thread");
    let n = crate::matchstage::THREAD_MIN + 200;
    for i in 0..n {
        p.record(&crate::replay::record(&format!("/etc/lnr-order-{i}"), i as u64));
    }
    p.batch_done();
    // Wait until the thread has finished the tail (its matches are queued).
    let t0 = Instant::now();
    while !p.stage.as_ref().expect("stage").idle() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the match thread never finished");
        std::thread::sleep(Duration::from_millis(1));
    }
    p.record(&crate::replay::record("/etc/lnr-order-last", 0));
    p.batch_done();
    p.finish();
    let got: Vec<String> = sink.0.lock().unwrap().iter().map(|a| a.output.clone()).collect();
    let want: Vec<String> =
        (0..n).map(|i| format!("/etc/lnr-order-{i}")).chain(["/etc/lnr-order-last".into()]).collect();
    assert_eq!(got.len(), want.len());
    let first_bad = got.iter().zip(&want).position(|(g, w)| !g.ends_with(w.as_str()));
    assert_eq!(first_bad, None, "alerts out of order: got {:?}", first_bad.map(|i| &got[i]));
}
