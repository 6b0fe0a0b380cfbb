//! End-to-end tests of the triage sink against the real protocol server over
//! real unix/TCP sockets: worker killed and restarted mid-stream, agent
//! restart with a spool to replay, spool overflow, bad frames from either
//! side, handler failures. Nothing is mocked; a "killed" worker is an aborted
//! server task (its sockets close as a crashed process's would).
use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::{BufMut, BytesMut};
use futures::{SinkExt as _, StreamExt as _};
use tokio::{io::AsyncWriteExt as _, task::JoinHandle};
use tokio_util::codec::{Decoder as _, Framed};

use super::{test_support::*, SinkConfig, SinkSet};
use crate::{
    metrics::{Metrics, ProtocolMetrics},
    protocol::{
        server::{serve, Dedup, Delivery, ServerConfig},
        Address, ErrorCode, Frame, FrameCodec, Listener, Token,
    },
};

const TOKEN: &str = "s3cret";
const T: Duration = Duration::from_secs(20);

type Received = Arc<Mutex<Vec<String>>>;

fn triage_cfg(addr: &str, spool: &Path, extra: serde_json::Value) -> Vec<SinkConfig> {
    let mut v = serde_json::json!({
        "kind": "triage", "address": addr, "token": TOKEN, "spool_dir": spool,
        "inflight": 16, "reconnect_min_ms": 20, "reconnect_max_ms": 200,
        "connect_timeout_ms": 1000, "ack_timeout_ms": 5000, "shutdown_grace_ms": 300,
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(serde_json::json!([v])).unwrap()
}

/// Start a worker on `addr`; its handler records uuids in handling order.
/// `fail_first`: uuids whose first handling fails.
async fn worker(
    addr: &Address,
    rec: Received,
    dedup: Arc<Dedup>,
    pm: ProtocolMetrics,
    fail_first: Vec<String>,
) -> JoinHandle<()> {
    let listener = Listener::bind(addr).await.unwrap();
    worker_on(listener, rec, dedup, pm, fail_first)
}

fn worker_on(
    listener: Listener,
    rec: Received,
    dedup: Arc<Dedup>,
    pm: ProtocolMetrics,
    fail_first: Vec<String>,
) -> JoinHandle<()> {
    let failed = Arc::new(Mutex::new(fail_first));
    let handler = move |d: Delivery<TestAlert>| {
        let (rec, failed) = (rec.clone(), failed.clone());
        async move {
            {
                let mut f = failed.lock().unwrap();
                if let Some(i) = f.iter().position(|u| *u == d.alert.uuid) {
                    f.remove(i);
                    return Err(format!("simulated failure for {}", d.alert.uuid));
                }
            }
            rec.lock().unwrap().push(d.alert.uuid.clone());
            // The decision is recorded; a kill from here on loses only the ack.
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<(), String>(())
        }
    };
    let cfg = ServerConfig::new(Token::new(TOKEN));
    tokio::spawn(serve(listener, cfg, dedup, pm, handler, std::future::pending()))
}

fn uuids(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| alert(i).uuid).collect()
}

fn got(rec: &Received) -> Vec<String> {
    rec.lock().unwrap().clone()
}

fn spool_records(m: &Metrics) -> f64 {
    sample(m, "lanner_spool_records{sink=\"triage\"}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_stream_every_alert_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let addr = Address::Unix(dir.path().join("triage.sock"));
    let rec: Received = Arc::default();
    let wm = Metrics::new();
    let w = worker(&addr, rec.clone(), Arc::new(Dedup::default()), wm.protocol.clone(), vec![]).await;
    let c = ctx();
    let set = SinkSet::<TestAlert>::build(
        &triage_cfg(&addr.to_string(), &dir.path().join("spool"), serde_json::json!({})),
        &c,
    )
    .unwrap();
    for i in 0..100 {
        set.send(Arc::new(alert(i)));
        if i % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    wait_for("half delivered", T, || rec.lock().unwrap().len() >= 50).await;
    w.abort();
    assert!(w.await.unwrap_err().is_cancelled());
    for i in 100..200 {
        set.send(Arc::new(alert(i)));
    }
    wait_for("all spooled while the worker is down", T, || {
        spool_records(&c.metrics) + sample(&c.metrics, "lanner_sink_sent_total{sink=\"triage\"}") >= 200.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sample(&c.metrics, "lanner_triage_reconnects_total{sink=\"triage\"}") >= 1.0);
    // Restart: the worker seeds its dedup window from its durable record.
    let dedup = Arc::new(Dedup::default());
    dedup.seed(got(&rec));
    let _w = worker(&addr, rec.clone(), dedup, wm.protocol.clone(), vec![]).await;
    wait_for("spool drained", T, || spool_records(&c.metrics) == 0.0 && rec.lock().unwrap().len() >= 200).await;
    assert_eq!(got(&rec), uuids(0..200), "exactly once, in order");
    assert_eq!(sample(&c.metrics, "lanner_sink_sent_total{sink=\"triage\"}"), 200.0);
    assert_eq!(sample(&c.metrics, "lanner_sink_dropped_total{sink=\"triage\",reason=\"queue_full\"}"), 0.0);
    set.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restart_replays_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let addr = Address::Unix(dir.path().join("triage.sock"));
    let cfg = triage_cfg(&addr.to_string(), &dir.path().join("spool"), serde_json::json!({}));
    // Worker down: alerts pile up in the spool; the agent stops.
    let c1 = ctx();
    let set = SinkSet::<TestAlert>::build(&cfg, &c1).unwrap();
    for i in 0..50 {
        set.send(Arc::new(alert(i)));
    }
    wait_for("50 spooled", T, || spool_records(&c1.metrics) == 50.0).await;
    set.shutdown(Duration::from_secs(5)).await;
    // A new agent on the same spool: replays first, then new alerts.
    let c2 = ctx();
    let set = SinkSet::<TestAlert>::build(&cfg, &c2).unwrap();
    for i in 50..60 {
        set.send(Arc::new(alert(i)));
    }
    wait_for("60 spooled", T, || spool_records(&c2.metrics) == 60.0).await;
    let rec: Received = Arc::default();
    let _w = worker(&addr, rec.clone(), Arc::new(Dedup::default()), ProtocolMetrics::default(), vec![]).await;
    wait_for("replayed", T, || spool_records(&c2.metrics) == 0.0).await;
    assert_eq!(got(&rec), uuids(0..60));
    set.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_overflow_evicts_low_priority_and_counts_every_drop() {
    let dir = tempfile::tempdir().unwrap();
    let addr = Address::Unix(dir.path().join("triage.sock"));
    let extra = serde_json::json!({"max_frame_bytes": 1024, "spool_max_bytes": 8192, "spool_segment_bytes": 2048});
    let cfg = triage_cfg(&addr.to_string(), &dir.path().join("spool"), extra);
    let c = ctx();
    let set = SinkSet::<TestAlert>::build(&cfg, &c).unwrap();
    for i in 0..10 {
        set.send(Arc::new(alert_with(i, "Debug", 100)));
    }
    wait_for("debug spooled", T, || spool_records(&c.metrics) == 10.0).await;
    for i in 10..40 {
        set.send(Arc::new(alert_with(i, "Critical", 100)));
    }
    let dropped = || sample(&c.metrics, "lanner_sink_dropped_total{sink=\"triage\",reason=\"spool_overflow\"}");
    wait_for("all 40 spooled or dropped", T, || spool_records(&c.metrics) + dropped() == 40.0).await;
    assert!(sample(&c.metrics, "lanner_spool_bytes{sink=\"triage\"}") <= 8192.0);
    let rec: Received = Arc::default();
    let _w = worker(&addr, rec.clone(), Arc::new(Dedup::default()), ProtocolMetrics::default(), vec![]).await;
    wait_for("drained", T, || spool_records(&c.metrics) == 0.0).await;
    let r = got(&rec);
    assert!(!r.is_empty());
    assert_eq!(r.len() as f64 + dropped(), 40.0, "every alert delivered or counted");
    let debug = uuids(0..10);
    assert!(r.iter().all(|u| !debug.contains(u)), "Debug evicted before any Critical");
    // Critical ones that made it are the oldest, in order (newer ones refused).
    assert_eq!(r, uuids(10..10 + r.len() as u64));
    set.shutdown(Duration::from_secs(5)).await;
}

/// Reply to one connection's Hello with `reply` raw bytes.
async fn bad_reply(l: &tokio::net::UnixListener, reply: &[u8]) {
    let (s, _) = l.accept().await.unwrap();
    let mut f = Framed::new(s, FrameCodec::<Frame<TestAlert>>::new(1 << 20));
    assert!(matches!(f.next().await, Some(Ok(Frame::Hello { .. }))));
    f.get_mut().write_all(reply).await.unwrap();
    // Hold the connection until the agent resets it.
    while let Some(Ok(_)) = f.next().await {}
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_u32(body.len() as u32);
    b.put_slice(body);
    b.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_from_the_worker_reset_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.sock");
    let addr = Address::Unix(path.clone());
    let c = ctx();
    let set = SinkSet::<TestAlert>::build(
        &triage_cfg(&addr.to_string(), &dir.path().join("spool"), serde_json::json!({})),
        &c,
    )
    .unwrap();
    for i in 0..20 {
        set.send(Arc::new(alert(i)));
    }
    let l = tokio::net::UnixListener::bind(&path).unwrap();
    bad_reply(&l, &framed(&[0xc1, 0xc1])).await;
    bad_reply(&l, &[0xff, 0xff, 0xff, 0xff]).await;
    bad_reply(&l, &framed(&rmp_serde::to_vec_named(&Frame::<()>::HelloOk { version: 99 }).unwrap())).await;
    bad_reply(&l, &framed(&rmp_serde::to_vec_named(&42u8).unwrap())).await;
    // A session that acks 3 alerts, then sends garbage mid-stream.
    let (s, _) = l.accept().await.unwrap();
    let mut f = Framed::new(s, FrameCodec::<Frame<TestAlert>>::new(1 << 20));
    assert!(matches!(f.next().await, Some(Ok(Frame::Hello { .. }))));
    f.send(&Frame::<()>::HelloOk { version: 1 }).await.unwrap();
    let mut acked = Vec::new();
    for _ in 0..5 {
        let Some(Ok(Frame::Alert { seq, alert })) = f.next().await else { panic!("no alert") };
        if acked.len() < 3 {
            f.send(&Frame::<()>::Ack { seq }).await.unwrap();
            acked.push(alert.uuid);
        }
    }
    f.get_mut().write_all(&framed(&[0xc1, 0x93])).await.unwrap();
    while let Some(Ok(_)) = f.next().await {}
    drop(l);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(acked, uuids(0..3));
    let p = &c.metrics;
    for (reason, n) in [("bad_msgpack", 2.0), ("oversized", 1.0), ("unknown_version", 1.0), ("wrong_type", 1.0)] {
        let s = format!("lanner_protocol_bad_frames_total{{side=\"agent\",reason=\"{reason}\"}}");
        assert_eq!(sample(p, &s), n, "{reason}");
    }
    // The real worker gets everything not acked before, once, in order.
    let rec: Received = Arc::default();
    let _w = worker(&addr, rec.clone(), Arc::new(Dedup::default()), ProtocolMetrics::default(), vec![]).await;
    wait_for("drained", T, || spool_records(&c.metrics) == 0.0).await;
    assert_eq!(got(&rec), uuids(3..20));
    set.shutdown(Duration::from_secs(5)).await;
}

/// Send raw bytes as a client; return the server's answer frame (if any)
/// and whether the server then closed the connection.
async fn raw_client(addr: &Address, first: Option<Frame<TestAlert>>, raw: &[u8]) -> Option<Frame<TestAlert>> {
    let conn = addr.connect().await.unwrap();
    let mut f = Framed::new(conn.stream, FrameCodec::<Frame<TestAlert>>::new(1 << 20));
    if let Some(h) = first {
        f.send(&h).await.unwrap();
        assert!(matches!(f.next().await, Some(Ok(Frame::HelloOk { version: 1 }))));
    }
    f.get_mut().write_all(raw).await.unwrap();
    let answer = tokio::time::timeout(T, f.next()).await.unwrap().map(|r| r.unwrap());
    // Then the server closes.
    assert!(tokio::time::timeout(T, f.next()).await.unwrap().is_none(), "connection not closed");
    answer
}

fn hello(version: u32, token: &str) -> Frame<TestAlert> {
    Frame::Hello { version, token: token.into(), agent_id: "a".into(), node: "n".into() }
}

fn enc(f: &Frame<TestAlert>) -> Vec<u8> {
    let mut b = BytesMut::new();
    tokio_util::codec::Encoder::encode(&mut FrameCodec::<Frame<TestAlert>>::new(1 << 20), f, &mut b).unwrap();
    b.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_from_an_agent_are_rejected_and_the_server_survives() {
    let dir = tempfile::tempdir().unwrap();
    let addr = Address::Unix(dir.path().join("triage.sock"));
    let rec: Received = Arc::default();
    let wm = Metrics::new();
    let _w = worker(&addr, rec.clone(), Arc::new(Dedup::default()), wm.protocol.clone(), vec![]).await;
    let alert_frame = Frame::Alert { seq: 1, alert: alert(1) };
    // (frame sent first, raw bytes, error code expected, bad-frame reason)
    type Case = (Option<Frame<TestAlert>>, Vec<u8>, ErrorCode, &'static str);
    let cases: Vec<Case> = vec![
        (None, framed(&[0xc1]), ErrorCode::BadFrame, "bad_msgpack"),
        (None, vec![0x7f, 0, 0, 0], ErrorCode::BadFrame, "oversized"),
        (None, framed(&rmp_serde::to_vec_named(&"hi").unwrap()), ErrorCode::BadFrame, "wrong_type"),
        (None, enc(&hello(1, "wrong")), ErrorCode::BadToken, "bad_token"),
        (None, enc(&hello(2, TOKEN)), ErrorCode::UnsupportedVersion, "unknown_version"),
        (None, enc(&alert_frame), ErrorCode::BadFrame, "unexpected"),
        (Some(hello(1, TOKEN)), enc(&Frame::Ack { seq: 1 }), ErrorCode::BadFrame, "unexpected"),
        (Some(hello(1, TOKEN)), framed(b"\xa3ab"), ErrorCode::BadFrame, "bad_msgpack"),
    ];
    for (first, raw, code, reason) in cases {
        match raw_client(&addr, first, &raw).await {
            Some(Frame::Error { code: c, message }) => {
                assert_eq!(c, code, "{reason}: {message}");
                assert!(message.contains(reason), "{message}");
            }
            other => panic!("{reason}: expected an error frame, got {other:?}"),
        }
    }
    let s = |side: &str, r: &str| {
        sample(&wm, &format!("lanner_protocol_bad_frames_total{{side=\"{side}\",reason=\"{r}\"}}"))
    };
    assert_eq!(s("server", "bad_msgpack"), 2.0);
    assert_eq!(s("server", "unexpected"), 2.0);
    for r in ["oversized", "wrong_type", "bad_token", "unknown_version"] {
        assert_eq!(s("server", r), 1.0, "{r}");
    }
    assert!(got(&rec).is_empty(), "no bad frame reached the handler");
    // A well-behaved agent is still served; a wrong token is refused.
    let c = ctx();
    let set = SinkSet::<TestAlert>::build(
        &triage_cfg(&addr.to_string(), &dir.path().join("spool"), serde_json::json!({})),
        &c,
    )
    .unwrap();
    for i in 0..5 {
        set.send(Arc::new(alert(i)));
    }
    wait_for("delivered", T, || spool_records(&c.metrics) == 0.0 && got(&rec).len() == 5).await;
    set.shutdown(Duration::from_secs(5)).await;
    let c = ctx();
    let cfg = triage_cfg(&addr.to_string(), &dir.path().join("spool2"), serde_json::json!({"token": "nope"}));
    let set = SinkSet::<TestAlert>::build(&cfg, &c).unwrap();
    set.send(Arc::new(alert(9)));
    wait_for("spooled", T, || spool_records(&c.metrics) == 1.0).await;
    wait_for("refused", T, || {
        sample(&wm, "lanner_protocol_bad_frames_total{side=\"server\",reason=\"bad_token\"}") >= 2.0
    })
    .await;
    assert_eq!(spool_records(&c.metrics), 1.0, "kept for when the token is fixed");
    set.shutdown(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_failure_is_retried_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let listener = Listener::bind(&Address::Tcp("127.0.0.1:0".into())).await.unwrap();
    let addr = listener.local_addr();
    let rec: Received = Arc::default();
    let wm = Metrics::new();
    let fail = vec![alert(3).uuid, alert(7).uuid];
    let _w = worker_on(listener, rec.clone(), Arc::new(Dedup::default()), wm.protocol.clone(), fail);
    let c = ctx();
    let set = SinkSet::<TestAlert>::build(
        &triage_cfg(&addr.to_string(), &dir.path().join("spool"), serde_json::json!({})),
        &c,
    )
    .unwrap();
    for i in 0..10 {
        set.send(Arc::new(alert(i)));
    }
    wait_for("delivered", T, || spool_records(&c.metrics) == 0.0 && got(&rec).len() == 10).await;
    assert_eq!(got(&rec), uuids(0..10));
    assert_eq!(sample(&wm, "lanner_protocol_server_alerts_total{result=\"handler_error\"}"), 2.0);
    assert_eq!(sample(&wm, "lanner_protocol_server_alerts_total{result=\"handled\"}"), 10.0);
    set.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn decoder_survives_split_garbage() {
    // The codec used on both sides never panics on arbitrary prefixes.
    let mut c = FrameCodec::<Frame<TestAlert>>::new(1024);
    for n in 0..64u8 {
        let mut b = BytesMut::from(&[0, 0, 0, n, n, 0xc1, 0x93, 0xa1][..]);
        let _ = c.decode(&mut b);
    }
    let mut b = BytesMut::from(&enc(&Frame::Ack { seq: 5 })[..]);
    assert_eq!(c.decode(&mut b).unwrap(), Some(Frame::Ack { seq: 5 }));
}
