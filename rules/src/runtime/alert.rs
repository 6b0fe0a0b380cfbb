//! Falco-compatible alerts.
//!
//! The JSON has exactly Falco's keys — `output, priority, rule, time, output_fields,
//! source, tags, hostname, uuid` — because falcosidekick and Falco Talon consume it.
//! `output` is Falco's line: `HH:MM:SS.nnnnnnnnn: Priority message`. `time` is RFC 3339
//! in UTC with nanoseconds. `output_fields` holds every `%field` of the rule's output
//! plus `container.id`, `k8s.ns.name` and `k8s.pod.name` (Talon's pod actions need
//! them), with JSON `null` for missing values, numbers as numbers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fields::priority::Priority;
use crate::fields::{render_val, Field, FieldId, FieldType, Val};
use crate::runtime::event::Event;
use crate::runtime::matcher::Rule;
// Time rendering lives with the other value rendering; re-exported here, where
// the alert JSON uses it.
pub use crate::runtime::extract::rfc3339_nanos;

/// A value in `output_fields`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
}

impl FieldValue {
    /// The value as it appears in the output line (`<NA>` for null).
    pub fn to_text(&self) -> String {
        match self {
            FieldValue::Null => "<NA>".into(),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::Int(i) => i.to_string(),
            FieldValue::Str(s) => s.clone(),
        }
    }
}

/// An alert, serialized exactly like Falco's JSON output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    pub output: String,
    pub priority: Priority,
    pub rule: String,
    pub time: String,
    pub output_fields: BTreeMap<String, FieldValue>,
    pub source: String,
    pub tags: Vec<String>,
    pub hostname: String,
    pub uuid: Uuid,
}

/// Fields every alert carries in `output_fields`.
pub const ALWAYS_FIELDS: &[FieldId] = &[FieldId::ContainerId, FieldId::K8sNsName, FieldId::K8sPodName];

fn json_value(field: &Field, ev: &Event) -> FieldValue {
    let v = field.extract(ev);
    match (field.ty(), v) {
        (_, Val::Missing) => FieldValue::Null,
        // The name the address resolved to; null (as a missing value) when none did.
        (FieldType::DnsName, Val::Ip(ip)) => crate::runtime::dns::name_of(ip).map_or(FieldValue::Null, FieldValue::Str),
        (FieldType::StrList, _) => {
            let mut s = String::new();
            field.render(ev, &mut s);
            FieldValue::Str(s)
        }
        (_, Val::Num(n)) => FieldValue::Int(n),
        (_, Val::Bool(b)) => FieldValue::Bool(b),
        (_, Val::Str(s)) => FieldValue::Str(s.to_string()),
        (_, other) => {
            let mut s = String::new();
            render_val(other, field.id == FieldId::EvtTimeIso8601, &mut s);
            FieldValue::Str(s)
        }
    }
}

impl Alert {
    /// Build the alert of `rule` for `ev`.
    pub fn new(rule: &Rule, ev: &Event, hostname: &str) -> Alert {
        let tmpl = rule.output_template();
        let mut output_fields = BTreeMap::new();
        for (key, field) in tmpl.fields() {
            output_fields.insert(key.to_string(), field.map_or(FieldValue::Null, |f| json_value(f, ev)));
        }
        for id in ALWAYS_FIELDS {
            let f = Field { id: *id, index: None, key: None };
            output_fields.entry(f.display_name()).or_insert_with(|| json_value(&f, ev));
        }
        let mut tags = rule.tags.clone();
        tags.sort();
        tags.dedup();
        let mut clock = String::new();
        render_val(Val::Time(ev.time_ns), false, &mut clock);
        Alert {
            output: format!("{clock}: {} {}", rule.priority, tmpl.render(ev)),
            priority: rule.priority,
            rule: rule.name.clone(),
            time: rfc3339_nanos(ev.time_ns),
            output_fields,
            source: "syscall".into(),
            tags,
            hostname: hostname.to_string(),
            uuid: Uuid::new_v4(),
        }
    }

    /// Falco's JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl Rule {
    /// Build the Falco-compatible alert for `ev`.
    pub fn alert(&self, ev: &Event, hostname: &str) -> Alert {
        Alert::new(self, ev, hostname)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339_nanos(1_795_435_200_123_456_789), "2026-11-23T12:00:00.123456789Z");
        assert_eq!(rfc3339_nanos(951_782_400_000_000_001), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(rfc3339_nanos(4_107_542_399_999_999_999), "2100-02-28T23:59:59.999999999Z");
    }

    #[test]
    fn field_value_json() {
        let v = vec![FieldValue::Null, FieldValue::Bool(true), FieldValue::Int(-1), FieldValue::Str("x".into())];
        let j = serde_json::to_string(&v).unwrap();
        assert_eq!(j, r#"[null,true,-1,"x"]"#);
        let back: Vec<FieldValue> = serde_json::from_str(&j).unwrap();
        assert_eq!(back, v);
    }
}
