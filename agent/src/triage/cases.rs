//! Labelled alert cases (`agent/triage-data/eval.yaml`): loaded by
//! `lanner triage eval` to score the decision path and, embedded, the bank
//! the prompt's few-shot examples are drawn from (`grounding.rs`). Parse
//! (serde, `deny_unknown_fields`) → fill alert defaults → [`Case`].
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    alert::Alert,
    model::{Action, Classification, PodFacts, PodLookup},
    yaml,
};

/// The labelled set shipped in the binary (few-shot bank).
pub const EMBEDDED: &str = include_str!("../../triage-data/eval.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    cases: Vec<CaseFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    name: String,
    alert: Value,
    /// The pod as the API would show it; default: a ReplicaSet-owned pod.
    #[serde(default)]
    pod: Option<PodFacts>,
    /// `true`: the pod no longer exists.
    #[serde(default)]
    pod_missing: bool,
    /// Where a prompt-injection text sits (`proc.cmdline`, `fd.name`,
    /// `pod.labels`, …): the eval shows it as quoted data.
    #[serde(default)]
    injection: Option<String>,
    expect: Expect,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub action: Action,
    #[serde(default)]
    pub classification: Option<Classification>,
}

/// One labelled case, ready to run.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub alert: Alert,
    pub pod: PodLookup,
    pub injection: Option<String>,
    pub expect: Expect,
}

#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
    #[error("{origin}: case {case:?}: {detail}")]
    Case { origin: String, case: String, detail: String },
}

/// Load a labelled set. Alerts need `rule`, `priority`, `output_fields`;
/// `tags`, `output`, `time`, `hostname`, `source` and `uuid` get defaults.
pub fn load(path: &Path) -> Result<Vec<Case>, CasesError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CasesError::Read { path: origin.clone(), source })?;
    parse(&text, &origin)
}

pub fn parse(text: &str, origin: &str) -> Result<Vec<Case>, CasesError> {
    let f: CasesFile = yaml::from_str(text, origin)?;
    let mut out = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, c) in f.cases.into_iter().enumerate() {
        let bad = |detail: String| CasesError::Case { origin: origin.into(), case: c.name.clone(), detail };
        if !names.insert(c.name.clone()) {
            return Err(bad("two cases have this name".into()));
        }
        let mut v = c.alert.clone();
        let o = v.as_object_mut().ok_or_else(|| bad("alert: not a mapping".into()))?;
        let rule = o.get("rule").and_then(Value::as_str).unwrap_or_default().to_owned();
        let prio = o.get("priority").and_then(Value::as_str).unwrap_or("Notice").to_owned();
        o.entry("output").or_insert_with(|| format!("12:00:00.000000000: {prio} {rule}").into());
        o.entry("time").or_insert_with(|| "2026-11-23T12:00:00.000000000Z".into());
        o.entry("source").or_insert_with(|| "syscall".into());
        o.entry("tags").or_insert_with(|| Value::Array(vec![]));
        o.entry("hostname").or_insert_with(|| "eval-node".into());
        o.entry("uuid").or_insert_with(|| format!("00000000-0000-4000-8000-{:012x}", i + 1).into());
        let alert: Alert = serde_json::from_value(v).map_err(|e| bad(format!("alert: {e}")))?;
        let pod = if c.pod_missing {
            PodLookup::NotFound
        } else {
            PodLookup::Found(
                c.pod
                    .clone()
                    .unwrap_or_else(|| PodFacts { owner_kinds: vec!["ReplicaSet".into()], ..Default::default() }),
            )
        };
        if let Some(at) = &c.injection {
            let present = if at == "pod.labels" {
                pod.labels().is_some_and(|l| !l.is_empty())
            } else {
                alert.output_fields.contains_key(at.as_str())
            };
            if !present {
                return Err(bad(format!("injection names {at:?}, which the case does not carry")));
            }
        }
        out.push(Case { name: c.name, alert, pod, injection: c.injection, expect: c.expect });
    }
    Ok(out)
}

/// The injection text of a case, when it has one.
pub fn injection_text(c: &Case) -> Option<String> {
    let at = c.injection.as_deref()?;
    if at == "pod.labels" {
        let labels = c.pod.labels()?;
        return Some(labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "));
    }
    super::alert::field(&c.alert, at).map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_set_parses() {
        let cases = parse(EMBEDDED, "eval.yaml").unwrap();
        assert!(cases.len() >= 60, "{} cases", cases.len());
    }

    #[test]
    fn bad_cases_are_reported_with_their_name() {
        let e = parse(
            "cases: [{name: c1, alert: {rule: r, priority: Loud, output_fields: {}}, expect: {action: ignore}}]",
            "e.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("c1") && e.to_string().contains("priority"), "{e}");
        let e = parse("cases: [{name: c1, alert: {}, expect: {action: maybe}}]", "e.yaml").unwrap_err();
        assert!(e.to_string().contains("e.yaml"), "{e}");
        let e = parse(
            "cases: [{name: c2, alert: {rule: r, priority: Notice, output_fields: {}}, injection: proc.cmdline, expect: {action: ignore}}]",
            "e.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("c2") && e.to_string().contains("proc.cmdline"), "{e}");
        let two = "cases: [{name: d, alert: {rule: r, priority: Notice, output_fields: {}}, expect: {action: ignore}},\
                   {name: d, alert: {rule: r, priority: Notice, output_fields: {}}, expect: {action: ignore}}]";
        assert!(parse(two, "e.yaml").unwrap_err().to_string().contains("two cases"));
    }
}
