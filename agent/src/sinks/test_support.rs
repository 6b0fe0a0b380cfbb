//! Test helpers for the sink tests: an alert shaped like Falco's JSON alert
//! (the real type lives in lanner-rules), a metrics context and small waits.
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{AlertPayload, SinkContext};
use crate::metrics::Metrics;

pub const PRIORITIES: [&str; 8] =
    ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];

/// Falco's alert keys: output, priority, rule, time, output_fields, source,
/// tags, hostname, uuid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestAlert {
    pub output: String,
    pub priority: String,
    pub rule: String,
    pub time: String,
    pub output_fields: BTreeMap<String, serde_json::Value>,
    pub source: String,
    pub tags: Vec<String>,
    pub hostname: String,
    pub uuid: String,
}

impl AlertPayload for TestAlert {
    fn uuid(&self) -> &str {
        &self.uuid
    }

    fn priority_rank(&self) -> u8 {
        PRIORITIES.iter().position(|p| *p == self.priority).unwrap_or(7) as u8
    }

    fn rule(&self) -> &str {
        &self.rule
    }
}

/// Alert number `i` with a given priority and a padding of `pad` bytes.
pub fn alert_with(i: u64, priority: &str, pad: usize) -> TestAlert {
    let mut f = BTreeMap::new();
    f.insert("proc.name".into(), serde_json::json!("sh"));
    f.insert("proc.pid".into(), serde_json::json!(1000 + i));
    f.insert("k8s.pod.name".into(), serde_json::Value::Null);
    f.insert("pad".into(), serde_json::json!("x".repeat(pad)));
    TestAlert {
        output: format!("12:00:00.000000000: {priority} Shell spawned in a container (n={i})"),
        priority: priority.into(),
        rule: format!("Terminal shell in container {}", i % 3),
        time: "2026-11-23T12:00:00.000000000Z".into(),
        output_fields: f,
        source: "syscall".into(),
        tags: vec!["T1059".into(), "container".into()],
        hostname: "node-1".into(),
        uuid: format!("00000000-0000-4000-8000-{i:012}"),
    }
}

pub fn alert(i: u64) -> TestAlert {
    alert_with(i, "Notice", 0)
}

pub fn ctx() -> SinkContext {
    SinkContext { metrics: Arc::new(Metrics::new()), agent_id: "agent-test".into(), node: "node-1".into() }
}

/// Value of one sample line of the exposition (`name{labels}`), 0 if absent.
pub fn sample(m: &Metrics, series: &str) -> f64 {
    let text = m.encode();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

/// Poll `f` until it is true; panic with `what` after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
