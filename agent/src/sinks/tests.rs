//! Tests of the sink set, configs, stdout/file and webhook sinks (real local
//! HTTP servers, real files).
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{extract::State, http::StatusCode, routing::post, Router};

use super::{
    file::RotatingFile,
    stdout::{run_lines, WriteLines},
    test_support::*,
    SinkConfig, SinkError, SinkSet,
};
use crate::metrics::Metrics;

fn parse(json: serde_json::Value) -> Result<Vec<SinkConfig>, serde_json::Error> {
    serde_json::from_value(json)
}

#[test]
fn config_shape_defaults_and_unknown_fields() {
    let v = parse(serde_json::json!([
        {"kind": "stdout"},
        {"kind": "file", "path": "/tmp/x/alerts.json", "max_bytes": 1048576},
        {"kind": "webhook", "name": "sidekick", "url": "http://falcosidekick:2801/", "headers": {"Authorization": "Bearer x"}},
        {"kind": "triage", "address": "unix:///run/lanner/triage.sock", "token_file": "/etc/lanner/token"},
    ]))
    .unwrap();
    let names: Vec<&str> = v.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["stdout", "file", "sidekick", "triage"]);
    match &v[3] {
        SinkConfig::Triage(t) => {
            assert_eq!(t.inflight, 256);
            assert_eq!(t.spool_max_bytes, 256 << 20);
            assert_eq!(t.queue_capacity, 4096);
        }
        other => panic!("not triage: {other:?}"),
    }
    let e = parse(serde_json::json!([{"kind": "stdout", "bogus": 1}])).unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    let e = parse(serde_json::json!([{"kind": "kafka"}])).unwrap_err();
    assert!(e.to_string().contains("kafka"), "{e}");
    let e = parse(serde_json::json!([{"kind": "webhook"}])).unwrap_err();
    assert!(e.to_string().contains("url"), "{e}");
}

#[tokio::test]
async fn build_validates() {
    let c = ctx();
    let dup = parse(serde_json::json!([{"kind": "stdout"}, {"kind": "stdout"}])).unwrap();
    assert!(matches!(SinkSet::<TestAlert>::build(&dup, &c), Err(SinkError::DuplicateName(n)) if n == "stdout"));
    let cases = [
        serde_json::json!([{"kind": "webhook", "url": "ftp://x/"}]),
        serde_json::json!([{"kind": "webhook", "url": "http://x/", "headers": {"bad header": "v"}}]),
        serde_json::json!([{"kind": "stdout", "queue_capacity": 0}]),
        serde_json::json!([{"kind": "triage", "address": "tcp://127.0.0.1:1", "spool_dir": "/tmp/nope"}]),
        serde_json::json!([{"kind": "triage", "address": "tcp://127.0.0.1:1", "token": "a", "token_file": "/x"}]),
        serde_json::json!([{"kind": "triage", "address": "udp://x:1", "token": "a"}]),
        serde_json::json!([{"kind": "file", "path": "/tmp/a.json", "max_bytes": 10}]),
    ];
    for case in cases {
        let cfg = parse(case.clone()).unwrap();
        let r = SinkSet::<TestAlert>::build(&cfg, &c);
        assert!(matches!(r, Err(SinkError::Invalid { .. })), "accepted {case}");
    }
}

#[tokio::test]
async fn json_lines_are_exactly_the_payload() {
    let buf = Arc::new(Mutex::new(Vec::new()));
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let m = Metrics::new();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(run_lines(rx, WriteLines(Shared(buf.clone())), 8, m.sink("stdout")));
    let alerts: Vec<TestAlert> = (0..20).map(alert).collect();
    for a in &alerts {
        tx.send(Arc::new(a.clone())).await.unwrap();
    }
    drop(tx);
    task.await.unwrap();
    let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 20);
    for (l, a) in lines.iter().zip(&alerts) {
        assert_eq!(*l, serde_json::to_string(a).unwrap());
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        for k in ["output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname", "uuid"] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
    }
    assert_eq!(sample(&m, "lanner_sink_sent_total{sink=\"stdout\"}"), 20.0);
}

/// The triage-only series (session, in-flight window, reconnects, spool) are
/// exported for triage sinks only: a stdout sink has no `lanner_triage_*` or
/// `lanner_spool_*` series, while the generic sink series exist for both.
#[tokio::test]
async fn triage_series_only_for_triage_sinks() {
    let c = ctx();
    let spool = tempfile::tempdir().unwrap();
    let cfg = parse(serde_json::json!([
        {"kind": "stdout"},
        {"kind": "triage", "address": "tcp://127.0.0.1:1", "token": "t", "spool_dir": spool.path(),
         "reconnect_min_ms": 20, "reconnect_max_ms": 50, "shutdown_grace_ms": 100},
    ]))
    .unwrap();
    let set = SinkSet::<TestAlert>::build(&cfg, &c).unwrap();
    let text = c.metrics.encode();
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let stdout_triage: Vec<&&str> = samples
        .iter()
        .filter(|l| {
            (l.starts_with("lanner_triage_") || l.starts_with("lanner_spool_")) && l.contains("sink=\"stdout\"")
        })
        .collect();
    assert!(stdout_triage.is_empty(), "triage-only series for the stdout sink: {stdout_triage:?}\n{text}");
    for want in [
        "lanner_triage_connected{sink=\"triage\"} 0",
        "lanner_triage_inflight{sink=\"triage\"} 0",
        "lanner_spool_records{sink=\"triage\"} 0",
        "lanner_sink_sent_total{sink=\"stdout\"} 0",
        "lanner_sink_sent_total{sink=\"triage\"} 0",
    ] {
        assert!(samples.contains(&want), "missing {want:?} in:\n{text}");
    }
    assert!(samples.iter().any(|l| l.starts_with("lanner_triage_reconnects_total{sink=\"triage\"}")), "{text}");
    set.shutdown(Duration::from_secs(2)).await;
}

#[test]
fn file_rotates_by_size_and_keeps_max_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("alerts.json");
    let mut f = RotatingFile::open(&p, 4096, 2).unwrap();
    let line = format!("{}\n", "a".repeat(999));
    for _ in 0..4 {
        // 3 lines per batch: rotation happens inside a batch, at line bounds.
        f.write_lines(line.repeat(3).as_bytes()).unwrap();
    }
    let size = |s: &str| std::fs::metadata(dir.path().join(s)).map(|m| m.len()).ok();
    assert_eq!(size("alerts.json"), Some(4000));
    assert_eq!(size("alerts.json.1"), Some(4000));
    assert_eq!(size("alerts.json.2"), Some(4000));
    assert_eq!(size("alerts.json.3"), None);
    let lines = std::fs::read_to_string(&p).unwrap();
    assert!(lines.lines().all(|l| l.len() == 999));
}

#[tokio::test]
async fn full_queue_drops_for_that_sink_only() {
    // A webhook that never answers: its sink blocks on the first alert.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", hang.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.json");
    let cfg = parse(serde_json::json!([
        {"kind": "webhook", "url": url, "queue_capacity": 2, "timeout_ms": 30000},
        {"kind": "file", "path": path, "queue_capacity": 100},
    ]))
    .unwrap();
    let c = ctx();
    let set = SinkSet::<TestAlert>::build(&cfg, &c).unwrap();
    assert_eq!(set.names(), ["webhook", "file"]);
    set.send(Arc::new(alert(0)));
    let m = c.metrics.clone();
    wait_for("first alert taken by the webhook sink", Duration::from_secs(5), || {
        sample(&m, "lanner_sink_queue_depth{sink=\"webhook\"}") == 0.0
    })
    .await;
    // Let the sink reach its (hanging) request.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 1..10 {
        set.send(Arc::new(alert(i)));
    }
    assert_eq!(sample(&m, "lanner_sink_dropped_total{sink=\"webhook\",reason=\"queue_full\"}"), 7.0);
    assert_eq!(sample(&m, "lanner_sink_queue_depth{sink=\"webhook\"}"), 2.0);
    wait_for("file sink got all 10", Duration::from_secs(5), || {
        std::fs::read_to_string(&path).map(|s| s.lines().count() == 10).unwrap_or(false)
    })
    .await;
    assert_eq!(sample(&m, "lanner_sink_dropped_total{sink=\"file\",reason=\"queue_full\"}"), 0.0);
    set.shutdown(Duration::from_millis(200)).await;
    assert_eq!(sample(&m, "lanner_sink_dropped_total{sink=\"webhook\",reason=\"shutdown\"}"), 2.0);
    drop(hang);
}

/// A local HTTP server answering the statuses of `script` in turn (then 200),
/// recording every body.
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    attempts: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

type HookState = (Arc<Vec<u16>>, Arc<AtomicUsize>, Arc<Mutex<Vec<Vec<u8>>>>);

async fn hook(script: Vec<u16>) -> Hook {
    async fn handle(State((script, n, bodies)): State<HookState>, body: axum::body::Bytes) -> StatusCode {
        let i = n.fetch_add(1, Ordering::SeqCst);
        bodies.lock().unwrap().push(body.to_vec());
        StatusCode::from_u16(script.get(i).copied().unwrap_or(200)).unwrap()
    }
    let attempts = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().route("/", post(handle)).with_state((Arc::new(script), attempts.clone(), bodies.clone()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    Hook { url, bodies, attempts, task }
}

async fn webhook_run(url: &str, retries: u32, alerts: &[TestAlert]) -> Arc<Metrics> {
    let cfg = parse(serde_json::json!([
        {"kind": "webhook", "url": url, "retries": retries, "backoff_ms": 10, "max_backoff_ms": 20, "timeout_ms": 2000},
    ]))
    .unwrap();
    let c = ctx();
    let set = SinkSet::<TestAlert>::build(&cfg, &c).unwrap();
    for a in alerts {
        set.send(Arc::new(a.clone()));
    }
    set.shutdown(Duration::from_secs(10)).await;
    c.metrics.clone()
}

#[tokio::test]
async fn webhook_retries_500_then_delivers_falco_json() {
    let h = hook(vec![500, 503]).await;
    let a = alert(1);
    let m = webhook_run(&h.url, 3, std::slice::from_ref(&a)).await;
    assert_eq!(h.attempts.load(Ordering::SeqCst), 3);
    let bodies = h.bodies.lock().unwrap().clone();
    assert!(bodies.iter().all(|b| *b == serde_json::to_vec(&a).unwrap()), "body is the alert JSON");
    let back: TestAlert = serde_json::from_slice(&bodies[2]).unwrap();
    assert_eq!(back, a);
    assert_eq!(sample(&m, "lanner_sink_sent_total{sink=\"webhook\"}"), 1.0);
    assert_eq!(sample(&m, "lanner_sink_dropped_total{sink=\"webhook\",reason=\"http_status\"}"), 0.0);
    h.task.abort();
}

#[tokio::test]
async fn webhook_drops_after_retries_and_on_4xx() {
    // Always 500: 1 + 2 retries, then dropped.
    let h = hook(vec![500; 10]).await;
    let m = webhook_run(&h.url, 2, &[alert(1)]).await;
    assert_eq!(h.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(sample(&m, "lanner_sink_dropped_total{sink=\"webhook\",reason=\"http_status\"}"), 1.0);
    h.task.abort();
    // 400 is not retried; the next alert still goes through.
    let h = hook(vec![400]).await;
    let m = webhook_run(&h.url, 3, &[alert(1), alert(2)]).await;
    assert_eq!(h.attempts.load(Ordering::SeqCst), 2);
    assert_eq!(sample(&m, "lanner_sink_dropped_total{sink=\"webhook\",reason=\"http_status\"}"), 1.0);
    assert_eq!(sample(&m, "lanner_sink_sent_total{sink=\"webhook\"}"), 1.0);
    h.task.abort();
    // Nobody listening: connection errors, retried, then dropped.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    let m = webhook_run(&url, 2, &[alert(1)]).await;
    assert_eq!(sample(&m, "lanner_sink_dropped_total{sink=\"webhook\",reason=\"http_error\"}"), 1.0);
}

#[test]
fn rule_engine_alert_round_trips_with_text_uuid() {
    use crate::protocol::codec::{decode_body, encode_body, Frame};
    let json = serde_json::json!({
        "output": "12:00:00.000000000: Notice Shell spawned (proc.name=sh)",
        "priority": "Notice", "rule": "Terminal shell in container",
        "time": "2026-11-23T12:00:00.000000000Z",
        "output_fields": {"proc.name": "sh", "proc.pid": 42, "k8s.pod.name": null, "evt.is_open_read": true},
        "source": "syscall", "tags": ["T1059", "container"], "hostname": "node-1",
        "uuid": "7f0c1a8e-2b5d-4c1e-9a3f-0123456789ab",
    });
    let a: lanner_rules::Alert = serde_json::from_value(json.clone()).unwrap();
    let body = encode_body(&Frame::Alert { seq: 3, alert: &a }).unwrap();
    let v: serde_json::Value = rmp_serde::from_slice(&body).unwrap();
    assert_eq!(v["Alert"]["alert"], json, "the wire alert reads as Falco's JSON alert");
    match decode_body::<Frame<lanner_rules::Alert>>(&body).unwrap() {
        Frame::Alert { seq: 3, alert } => assert_eq!(alert, a),
        other => panic!("{other:?}"),
    }
}
