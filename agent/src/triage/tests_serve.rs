//! The worker behind the real protocol server (unix socket, real codec):
//! the ack comes only once the incident line is fsynced, a replay is acked
//! without a second incident, a wrong token is refused; the embedded mode
//! handles alerts in-process; `/metrics` serves the triage families.
use std::{sync::Arc, time::Duration};

use futures::{SinkExt as _, StreamExt as _};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{alert::test_alerts::alert, alert::WireAlert, test_support::TestWorker, worker::Embedded, TriageArgs};
use crate::protocol::{ErrorCode, Frame, FrameCodec, DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION};

type Codec = FrameCodec<Frame<WireAlert>>;

fn args(dir: &std::path::Path) -> TriageArgs {
    std::fs::write(dir.join("token"), "tok-123\n").unwrap();
    TriageArgs {
        cmd: None,
        config: None,
        listen: Some(format!("unix://{}", dir.join("triage.sock").display())),
        token_file: Some(dir.join("token")),
        policy: None,
        metrics_addr: Some("off".into()),
        llm_url: None,
        llm_model: None,
        dry_run: false,
        no_kube: true,
        audit_file: Some(dir.join("audit.jsonl")),
        reports_dir: Some(dir.join("reports")),
    }
}

fn incident_lines(dir: &std::path::Path, uuid: &str) -> usize {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"record\":\"incident\"") && l.contains(uuid))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_acks_only_after_the_incident_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let settings = super::settings_from(&args(dir.path())).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(super::serve(settings, async move {
        let _ = stop_rx.await;
    }));
    let sock = dir.path().join("triage.sock");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect = || async {
        let s = tokio::net::UnixStream::connect(&sock).await.expect("connect");
        let (r, w) = tokio::io::split(s);
        (
            FramedRead::new(r, Codec::new(DEFAULT_MAX_FRAME_BYTES)),
            FramedWrite::new(w, Codec::new(DEFAULT_MAX_FRAME_BYTES)),
        )
    };
    let hello = |token: &str| Frame::<WireAlert>::Hello {
        version: PROTOCOL_VERSION,
        token: token.into(),
        agent_id: "agent-1".into(),
        node: "node-1".into(),
    };

    // A wrong token is refused.
    let (mut rd, mut wr) = connect().await;
    wr.send(&hello("nope")).await.unwrap();
    match rd.next().await {
        Some(Ok(Frame::Error { code: ErrorCode::BadToken, .. })) => {}
        other => panic!("expected bad_token, got {other:?}"),
    }

    let (mut rd, mut wr) = connect().await;
    wr.send(&hello("tok-123")).await.unwrap();
    assert!(matches!(rd.next().await, Some(Ok(Frame::HelloOk { .. }))));
    let a = alert("Terminal shell in container", "Notice", "shop", "web-1", &["T1059"]);
    let uuid = a.uuid.to_string();
    wr.send(&Frame::Alert { seq: 1, alert: WireAlert::new(a.clone()) }).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(20), rd.next()).await.expect("ack in time") {
        Some(Ok(Frame::Ack { seq: 1 })) => {}
        other => panic!("expected ack 1, got {other:?}"),
    }
    assert_eq!(incident_lines(dir.path(), &uuid), 1, "the incident is on disk when the ack arrives");
    // A resend (the agent did not see the ack) is acked again, not handled twice.
    wr.send(&Frame::Alert { seq: 2, alert: WireAlert::new(a) }).await.unwrap();
    assert!(matches!(rd.next().await, Some(Ok(Frame::Ack { seq: 2 }))));
    assert_eq!(incident_lines(dir.path(), &uuid), 1);
    let report_count = std::fs::read_dir(dir.path().join("reports")).unwrap().count();
    assert_eq!(report_count, 1);
    drop((rd, wr));
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), server).await.expect("server stops").unwrap().unwrap();

    // A restarted worker seeds its dedup window from the audit file.
    let settings = super::settings_from(&args(dir.path())).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(super::serve(settings, async move {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut rd, mut wr) = connect().await;
    wr.send(&hello("tok-123")).await.unwrap();
    assert!(matches!(rd.next().await, Some(Ok(Frame::HelloOk { .. }))));
    let replay = serde_json::from_str::<serde_json::Value>(
        std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap().lines().last().unwrap(),
    )
    .unwrap();
    let a: super::alert::Alert = serde_json::from_value(replay["alert"].clone()).unwrap();
    wr.send(&Frame::Alert { seq: 7, alert: WireAlert::new(a) }).await.unwrap();
    assert!(matches!(rd.next().await, Some(Ok(Frame::Ack { seq: 7 }))));
    assert_eq!(incident_lines(dir.path(), &uuid), 1, "no second incident after a restart");
    drop((rd, wr));
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn embedded_mode_triages_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(TestWorker::default().build(dir.path()));
    let e = Embedded::start(w.clone(), 4);
    let alerts: Vec<_> = ["web-1", "web-2", "web-3"]
        .iter()
        .map(|p| alert("Terminal shell in container", "Notice", "shop", p, &[]))
        .collect();
    for a in &alerts {
        assert!(e.submit(Arc::new(a.clone())));
    }
    assert_eq!(e.dropped(), 0);
    e.shutdown().await;
    for a in &alerts {
        assert_eq!(incident_lines(dir.path(), &a.uuid.to_string()), 1);
    }
    assert!(w
        .metrics()
        .encode()
        .contains("lanner_triage_decisions_total{action=\"escalate\",source=\"guard-override\"} 3"));
}

#[tokio::test]
async fn metrics_endpoint_serves_the_triage_families() {
    let m = Arc::new(super::metrics::TriageMetrics::new());
    m.mtta.observe(1.5);
    let ep = super::metrics::MetricsEndpoint::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = ep.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ep.serve(m, async move {
        let _ = rx.await;
    }));
    let body = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    assert!(body.contains("lanner_triage_mtta_seconds_count 1"), "{body}");
    assert_eq!(reqwest::get(format!("http://{addr}/healthz")).await.unwrap().status(), 200);
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}
