//! The alert as the triage worker sees it: Falco's JSON alert
//! (`lanner_rules::Alert`) plus read-only helpers for the fields triage needs
//! (target pod, process lineage, MITRE ids from the rule's tags, event time).
//!
//! [`WireAlert`] wraps the alert for the agent ↔ worker protocol: its wire
//! format is exactly `Alert`'s, and it caches the uuid as text because the
//! protocol's `AlertPayload::uuid` hands out a `&str`. Owning the wrapper
//! means the worker never clashes with another impl for the rule engine type.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use lanner_rules::{Alert, FieldValue};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sinks::AlertPayload;

/// `lanner_rules::Alert` on the agent ↔ worker protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct WireAlert {
    pub alert: Alert,
    uuid: String,
}

impl WireAlert {
    pub fn new(alert: Alert) -> Self {
        let uuid = alert.uuid.to_string();
        Self { alert, uuid }
    }
}

impl Serialize for WireAlert {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.alert.serialize(s)
    }
}

impl<'de> Deserialize<'de> for WireAlert {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Alert::deserialize(d).map(WireAlert::new)
    }
}

impl AlertPayload for WireAlert {
    fn uuid(&self) -> &str {
        &self.uuid
    }
    fn priority_rank(&self) -> u8 {
        self.alert.priority as u8
    }
    fn rule(&self) -> &str {
        &self.alert.rule
    }
}

/// Text of an `output_fields` entry; `None` when absent, null or empty.
pub fn field<'a>(a: &'a Alert, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    match a.output_fields.get(key)? {
        FieldValue::Null => None,
        FieldValue::Str(s) if s.is_empty() || s == "<NA>" => None,
        FieldValue::Str(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        other => Some(std::borrow::Cow::Owned(other.to_text())),
    }
}

/// The pod the alert is about: `(namespace, name)` from `k8s.ns.name` /
/// `k8s.pod.name`. The only pod an action may ever target.
pub fn target_pod(a: &Alert) -> Option<(String, String)> {
    Some((field(a, "k8s.ns.name")?.into_owned(), field(a, "k8s.pod.name")?.into_owned()))
}

/// Namespace of the alert's pod, if any.
pub fn namespace(a: &Alert) -> Option<String> {
    field(a, "k8s.ns.name").map(|s| s.into_owned())
}

/// MITRE ATT&CK technique ids among the rule's tags (`T1059`, `T1059.004`).
/// The model never supplies these: they come from the rule author.
pub fn mitre_techniques(a: &Alert) -> Vec<String> {
    a.tags.iter().filter(|t| is_technique(t)).cloned().collect()
}

/// MITRE tactics among the tags (`mitre_execution` → `execution`).
pub fn mitre_tactics(a: &Alert) -> Vec<String> {
    a.tags.iter().filter_map(|t| t.strip_prefix("mitre_")).map(str::to_owned).collect()
}

fn is_technique(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

/// Process lineage from the output fields, closest first: `(field, value)`
/// for proc.name, proc.pname and the proc.aname[N] ancestors present.
pub fn lineage(a: &Alert) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in ["proc.name", "proc.pname"] {
        if let Some(v) = field(a, key) {
            out.push((key.to_owned(), v.into_owned()));
        }
    }
    for n in 2..=7 {
        let key = format!("proc.aname[{n}]");
        if let Some(v) = field(a, &key) {
            out.push((key, v.into_owned()));
        }
    }
    out
}

/// The alert's event time (RFC 3339), or `None` when it does not parse.
pub fn event_time(a: &Alert) -> Option<SystemTime> {
    let ts: k8s_openapi::jiff::Timestamp = a.time.parse().ok()?;
    let ns = ts.as_nanosecond();
    if ns < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).ok()?))
}

/// Seconds from the alert's event time to `now` (0 when the clock is behind
/// or the time is unreadable: never negative in a histogram).
pub fn seconds_since_event(a: &Alert, now: SystemTime) -> f64 {
    event_time(a).and_then(|t| now.duration_since(t).ok()).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
pub(crate) mod test_alerts {
    //! Alerts for unit tests, built from Falco JSON like the agent sends.
    use super::Alert;

    pub fn alert(rule: &str, priority: &str, ns: &str, pod: &str, tags: &[&str]) -> Alert {
        let v = serde_json::json!({
            "output": format!("12:00:00.000000000: {priority} {rule} (proc.cmdline=sh -i)"),
            "priority": priority,
            "rule": rule,
            "time": "2026-11-23T12:00:00.123456789Z",
            "output_fields": {
                "k8s.ns.name": ns, "k8s.pod.name": pod, "container.id": "0123456789ab",
                "proc.name": "sh", "proc.pname": "bash", "proc.cmdline": "sh -i", "user.name": "root"
            },
            "source": "syscall",
            "tags": tags,
            "hostname": "node-1",
            "uuid": uuid_v4_like(),
        });
        serde_json::from_value(v).expect("test alert")
    }

    /// A fresh uuid-shaped string (no uuid crate in the agent).
    pub fn uuid_v4_like() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(1);
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        let n = N.fetch_add(1, Ordering::Relaxed);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (t >> 32) as u32,
            t as u16,
            n & 0xfff,
            (n >> 12) & 0xfff,
            (t ^ n) & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{test_alerts::alert, *};

    #[test]
    fn helpers_read_the_falco_fields() {
        let a = alert(
            "Terminal shell in container",
            "Notice",
            "shop",
            "web-1",
            &["T1059.004", "mitre_execution", "container", "T1059"],
        );
        assert_eq!(target_pod(&a), Some(("shop".into(), "web-1".into())));
        assert_eq!(mitre_techniques(&a), vec!["T1059.004", "T1059"]);
        assert_eq!(mitre_tactics(&a), vec!["execution"]);
        assert_eq!(lineage(&a)[1], ("proc.pname".to_owned(), "bash".to_owned()));
        let t = event_time(&a).unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_nanos(), 1_795_435_200_123_456_789);
        assert!(seconds_since_event(&a, t + Duration::from_millis(1500)) > 1.49);
        assert_eq!(seconds_since_event(&a, UNIX_EPOCH), 0.0);
        for bad in ["T10", "T1059.4", "t1059", "TA0002"] {
            assert!(!is_technique(bad), "{bad}");
        }
    }

    #[test]
    fn wire_alert_round_trips_through_msgpack_like_the_protocol() {
        let a = alert("r", "Warning", "ns", "p", &[]);
        let w = WireAlert::new(a.clone());
        let bytes = rmp_serde::to_vec_named(&w).unwrap();
        let back: WireAlert = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back.alert, a);
        assert_eq!(back.uuid(), a.uuid.to_string());
        // Same bytes as the rule engine's own type: the agent sends `Alert`.
        assert_eq!(bytes, rmp_serde::to_vec_named(&a).unwrap());
    }
}
