//! The deterministic triage policy (Falco Talon-like YAML, default in
//! `agent/triage-data/policy.yaml`, embedded). Ordered rules match an alert
//! on rule name (exact or glob), priority, tags, namespace and pod labels and
//! give an action with parameters. The first matching rule wins; no match
//! gives `default`.
//!
//! The same file holds the guard settings and how much the LLM may do
//! (`llm_mode`, `confidence_threshold`, each rule's `max_action` /
//! `min_action`): see `guard.rs` and docs/triage.md for the decision flow.
//! Loading is parse (serde, `deny_unknown_fields`) → validate → [`Policy`].
use std::collections::BTreeMap;

use lanner_rules::Priority;
use serde::{Deserialize, Serialize};

use super::{
    alert::Alert,
    model::{Action, Classification, QUARANTINE_LABEL},
    yaml,
};

/// The embedded default policy.
pub const DEFAULT_POLICY: &str = include_str!("../../triage-data/policy.yaml");

/// How much the LLM may influence the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmMode {
    /// The LLM is not called.
    Off,
    /// The LLM analyses and proposes; the policy decides (the default).
    #[default]
    Advise,
    /// A confident proposal within the matching rule's `[min_action, max_action]` is taken.
    Propose,
}

/// What a proposal below `confidence_threshold` turns into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LowConfidence {
    /// The policy's decision.
    #[default]
    Policy,
    /// Escalate to a human (never more disruptive than the policy).
    Escalate,
}

// ---- file format -------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    llm_mode: LlmMode,
    #[serde(default = "default_threshold")]
    confidence_threshold: u8,
    #[serde(default)]
    low_confidence: LowConfidence,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    default: DefaultFile,
    #[serde(default)]
    guard: GuardSettings,
    #[serde(default)]
    rules: Vec<RuleFile>,
}

fn default_threshold() -> u8 {
    70
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultFile {
    action: Action,
    #[serde(default)]
    classification: Classification,
}

impl Default for DefaultFile {
    fn default() -> Self {
        DefaultFile { action: Action::Escalate, classification: Classification::Unknown }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "match", default)]
    matcher: MatchFile,
    action: Action,
    #[serde(default)]
    classification: Classification,
    #[serde(default)]
    parameters: Parameters,
    #[serde(default)]
    max_action: Option<Action>,
    #[serde(default)]
    min_action: Option<Action>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchFile {
    /// Falco rule names, exact or glob (`*`, `?`); any may match.
    #[serde(default)]
    rules: Vec<String>,
    /// `">= Warning"`, `"< Notice"`, … (a bare name means `>=`).
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    tags: TagsFile,
    /// Namespace globs; any may match.
    #[serde(default)]
    namespaces: Vec<String>,
    /// Every label must be on the pod (values are globs).
    #[serde(default)]
    pod_labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsFile {
    #[serde(default)]
    any: Vec<String>,
    #[serde(default)]
    all: Vec<String>,
}

/// Action parameters of a rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// `delete_pod`: grace period (else the worker's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<u32>,
    /// `quarantine_pod`: extra labels set next to `lanner.io/quarantine=true`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `escalate` (and failed actions): webhook name from the worker config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
}

/// Guard settings (`guard:` in the policy file). See `guard.rs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardSettings {
    #[serde(default = "default_protected_ns")]
    pub protected_namespaces: Vec<String>,
    #[serde(default = "default_protected_labels")]
    pub protected_pod_labels: BTreeMap<String, String>,
    #[serde(default = "default_protected_names")]
    pub protected_pod_names: Vec<String>,
    #[serde(default)]
    pub allow_daemonset_pods: bool,
    #[serde(default)]
    pub allow_static_pods: bool,
    /// Refuse when the alert's `container.id` is not one of the pod's containers.
    #[serde(default = "yes")]
    pub verify_container_id: bool,
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// Same rule + same pod within this many seconds → ignore (0 disables).
    #[serde(default = "default_dedup")]
    pub dedup_window_secs: u64,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            protected_namespaces: default_protected_ns(),
            protected_pod_labels: default_protected_labels(),
            protected_pod_names: default_protected_names(),
            allow_daemonset_pods: false,
            allow_static_pods: false,
            verify_container_id: true,
            rate_limit: RateLimit::default(),
            dedup_window_secs: default_dedup(),
        }
    }
}

/// Per-namespace token bucket for destructive actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub burst: u32,
    pub per_minute: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { burst: 5, per_minute: 2.0 }
    }
}

fn default_protected_ns() -> Vec<String> {
    vec!["kube-system".into(), "lanner".into()]
}
fn default_protected_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/part-of".to_owned(), "lanner".to_owned())])
}
fn default_protected_names() -> Vec<String> {
    vec!["lanner-*".into()]
}
fn default_dedup() -> u64 {
    60
}
fn yes() -> bool {
    true
}

// ---- runtime -----------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("reading policy {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(transparent)]
    Parse(#[from] yaml::YamlError),
    #[error("{origin}: {detail}")]
    Invalid { origin: String, detail: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub llm_mode: LlmMode,
    pub confidence_threshold: u8,
    pub low_confidence: LowConfidence,
    pub dry_run: bool,
    pub default_action: Action,
    pub default_classification: Classification,
    pub guard: GuardSettings,
    pub rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone)]
pub struct PolicyRule {
    pub name: String,
    pub description: Option<String>,
    rules: Vec<String>,
    priority: Option<(Cmp, Priority)>,
    tags_any: Vec<String>,
    tags_all: Vec<String>,
    namespaces: Vec<String>,
    pod_labels: BTreeMap<String, String>,
    pub action: Action,
    pub classification: Classification,
    pub parameters: Parameters,
    /// Most disruptive action an LLM proposal may reach (`llm_mode: propose`).
    pub max_action: Action,
    /// Least disruptive action an LLM proposal may reach.
    pub min_action: Action,
}

/// The policy's answer for one alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Matching rule, `None` for the default.
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub action: Action,
    pub classification: Classification,
    pub parameters: Parameters,
    pub max_action: Action,
    pub min_action: Action,
}

impl Policy {
    /// The embedded default policy.
    pub fn default_policy() -> Policy {
        Policy::parse(DEFAULT_POLICY, "embedded policy.yaml").expect("the embedded policy is valid (tested)")
    }

    pub fn load(path: &std::path::Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PolicyError::Read { path: path.display().to_string(), source })?;
        Policy::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let f: PolicyFile = yaml::from_str(text, origin)?;
        let bad = |detail: String| PolicyError::Invalid { origin: origin.into(), detail };
        if f.confidence_threshold > 100 {
            return Err(bad(format!("confidence_threshold {} is above 100", f.confidence_threshold)));
        }
        if f.guard.rate_limit.burst == 0
            || f.guard.rate_limit.per_minute.is_nan()
            || f.guard.rate_limit.per_minute <= 0.0
        {
            return Err(bad("guard.rate_limit: burst and per_minute must be positive".into()));
        }
        let mut names = std::collections::HashSet::new();
        let mut rules = Vec::new();
        for r in f.rules {
            let ctx = |d: String| bad(format!("rule {:?}: {d}", r.name));
            if r.name.trim().is_empty() {
                return Err(bad("a rule has an empty name".into()));
            }
            if !names.insert(r.name.clone()) {
                return Err(bad(format!("two rules are named {:?}", r.name)));
            }
            let priority = r.matcher.priority.as_deref().map(parse_priority).transpose().map_err(ctx)?;
            let max_action = r.max_action.unwrap_or(r.action);
            let min_action =
                r.min_action.unwrap_or(if r.action == Action::Ignore { Action::Ignore } else { Action::Escalate });
            if max_action < r.action {
                return Err(ctx(format!("max_action {max_action} is below action {}", r.action)));
            }
            if min_action > r.action {
                return Err(ctx(format!("min_action {min_action} is above action {}", r.action)));
            }
            if r.parameters.grace_period_seconds.is_some()
                && r.action != Action::DeletePod
                && max_action != Action::DeletePod
            {
                return Err(ctx("grace_period_seconds is only for delete_pod".into()));
            }
            for k in r.parameters.labels.keys() {
                if k == QUARANTINE_LABEL {
                    return Err(ctx(format!("parameters.labels may not set {k}")));
                }
            }
            rules.push(PolicyRule {
                name: r.name,
                description: r.description,
                rules: r.matcher.rules,
                priority,
                tags_any: r.matcher.tags.any,
                tags_all: r.matcher.tags.all,
                namespaces: r.matcher.namespaces,
                pod_labels: r.matcher.pod_labels,
                action: r.action,
                classification: r.classification,
                parameters: r.parameters,
                max_action,
                min_action,
            });
        }
        Ok(Policy {
            llm_mode: f.llm_mode,
            confidence_threshold: f.confidence_threshold,
            low_confidence: f.low_confidence,
            dry_run: f.dry_run,
            default_action: f.default.action,
            default_classification: f.default.classification,
            guard: f.guard,
            rules,
        })
    }

    /// The first matching rule's verdict, or the default. `pod_labels` is
    /// `None` when the pod's labels are unknown: rules that need labels then
    /// do not match.
    pub fn evaluate(&self, alert: &Alert, pod_labels: Option<&BTreeMap<String, String>>) -> Verdict {
        for r in &self.rules {
            if r.matches(alert, pod_labels) {
                return Verdict {
                    rule: Some(r.name.clone()),
                    description: r.description.clone(),
                    action: r.action,
                    classification: r.classification,
                    parameters: r.parameters.clone(),
                    max_action: r.max_action,
                    min_action: r.min_action,
                };
            }
        }
        Verdict {
            rule: None,
            description: None,
            action: self.default_action,
            classification: self.default_classification,
            parameters: Parameters::default(),
            max_action: self.default_action,
            min_action: self.default_action.min(Action::Escalate),
        }
    }
}

impl PolicyRule {
    /// The rule-name globs of `match.rules` (empty: any rule name).
    pub fn rule_globs(&self) -> &[String] {
        &self.rules
    }

    /// Does the rule match on rule names alone (no priority, tags, namespaces or labels)?
    pub fn names_only(&self) -> bool {
        self.priority.is_none()
            && self.tags_any.is_empty()
            && self.tags_all.is_empty()
            && self.namespaces.is_empty()
            && self.pod_labels.is_empty()
    }

    fn matches(&self, a: &Alert, pod_labels: Option<&BTreeMap<String, String>>) -> bool {
        if !self.rules.is_empty() && !self.rules.iter().any(|g| yaml::glob(g, &a.rule)) {
            return false;
        }
        if let Some((cmp, p)) = self.priority {
            let ok = match cmp {
                Cmp::Ge => a.priority >= p,
                Cmp::Gt => a.priority > p,
                Cmp::Le => a.priority <= p,
                Cmp::Lt => a.priority < p,
                Cmp::Eq => a.priority == p,
            };
            if !ok {
                return false;
            }
        }
        if !self.tags_any.is_empty() && !self.tags_any.iter().any(|t| a.tags.contains(t)) {
            return false;
        }
        if !self.tags_all.iter().all(|t| a.tags.contains(t)) {
            return false;
        }
        if !self.namespaces.is_empty() {
            let Some(ns) = super::alert::namespace(a) else {
                return false;
            };
            if !self.namespaces.iter().any(|g| yaml::glob(g, &ns)) {
                return false;
            }
        }
        if !self.pod_labels.is_empty() {
            let Some(labels) = pod_labels else {
                return false;
            };
            if !self.pod_labels.iter().all(|(k, g)| labels.get(k).is_some_and(|v| yaml::glob(g, v))) {
                return false;
            }
        }
        true
    }
}

fn parse_priority(s: &str) -> Result<(Cmp, Priority), String> {
    let s = s.trim();
    let (cmp, rest) = [(">=", Cmp::Ge), ("<=", Cmp::Le), (">", Cmp::Gt), ("<", Cmp::Lt), ("=", Cmp::Eq)]
        .into_iter()
        .find_map(|(p, c)| s.strip_prefix(p).map(|r| (c, r)))
        .unwrap_or((Cmp::Ge, s));
    let p = rest.trim().parse::<Priority>().map_err(|e| format!("match.priority {s:?}: {e}"))?;
    Ok((cmp, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::alert::test_alerts::alert;

    #[test]
    fn embedded_default_policy_is_valid_and_conservative() {
        let p = Policy::default_policy();
        assert_eq!(p.llm_mode, LlmMode::Advise, "the LLM must not decide by default");
        assert!(!p.dry_run);
        assert!(p.guard.protected_namespaces.iter().any(|n| n == "kube-system"));
        assert!(p.guard.protected_namespaces.iter().any(|n| n == "lanner"));
        assert!(p.rules.len() >= 8);
        let shell = alert("Terminal shell in container", "Notice", "shop", "web-1", &["T1059", "mitre_execution"]);
        let v = p.evaluate(&shell, None);
        assert_eq!(v.rule.as_deref(), Some("terminal-shell"));
        assert_eq!(v.action, Action::QuarantinePod);
    }

    #[test]
    fn every_default_pack_rule_has_a_named_response() {
        let p = Policy::default_policy();
        let pack = lanner_rules::RuleSet::default_pack().expect("default pack");
        let mut missing = Vec::new();
        for r in pack.rules() {
            let tags: Vec<&str> = r.tags.iter().map(String::as_str).collect();
            let a = alert(&r.name, &r.priority.to_string(), "shop", "web-1", &tags);
            let v = p.evaluate(&a, None);
            match v.rule.as_deref() {
                None => missing.push(format!("{} ({}): default response", r.name, r.priority)),
                Some("low-priority") if r.priority >= Priority::Notice => {
                    missing.push(format!("{} ({}): ignored as low priority", r.name, r.priority))
                }
                Some(_) => {}
            }
        }
        assert!(missing.is_empty(), "pack rules without a policy response:\n{}", missing.join("\n"));
    }

    #[test]
    fn matching_on_every_criterion() {
        let text = r#"
rules:
  - name: miner
    match: {rules: ["*miner*"], priority: ">= Critical", tags: {any: [T1496], all: [mitre_impact]}, namespaces: ["prod-*"]}
    action: delete_pod
    classification: true_positive
    parameters: {grace_period_seconds: 0}
  - name: debug-pods
    match: {pod_labels: {lanner.io/break-glass: "true"}}
    action: ignore
    classification: benign
  - name: quiet
    match: {priority: "< Notice"}
    action: ignore
default: {action: escalate}
"#;
        let p = Policy::parse(text, "t").unwrap();
        let m = alert("Crypto miner detected", "Critical", "prod-eu", "x", &["T1496", "mitre_impact"]);
        let v = p.evaluate(&m, None);
        assert_eq!(
            (v.rule.as_deref(), v.action, v.parameters.grace_period_seconds),
            (Some("miner"), Action::DeletePod, Some(0))
        );
        assert_eq!((v.min_action, v.max_action), (Action::Escalate, Action::DeletePod));
        // Each criterion failing on its own.
        for (a, why) in [
            (alert("Crypto miner detected", "Warning", "prod-eu", "x", &["T1496", "mitre_impact"]), "priority"),
            (alert("Crypto miner detected", "Critical", "prod-eu", "x", &["mitre_impact"]), "tags any"),
            (alert("Crypto miner detected", "Critical", "prod-eu", "x", &["T1496"]), "tags all"),
            (alert("Crypto miner detected", "Critical", "dev", "x", &["T1496", "mitre_impact"]), "namespace"),
            (alert("Shell", "Critical", "prod-eu", "x", &["T1496", "mitre_impact"]), "rule name"),
        ] {
            assert_ne!(p.evaluate(&a, None).rule.as_deref(), Some("miner"), "{why}");
        }
        let labels = BTreeMap::from([("lanner.io/break-glass".to_owned(), "true".to_owned())]);
        let s = alert("Shell", "Warning", "dev", "x", &[]);
        assert_eq!(p.evaluate(&s, Some(&labels)).rule.as_deref(), Some("debug-pods"));
        assert_eq!(p.evaluate(&s, None).rule, None, "unknown labels never match a label rule");
        assert_eq!(p.evaluate(&s, None).action, Action::Escalate);
        let info = alert("Shell", "Informational", "dev", "x", &[]);
        assert_eq!(p.evaluate(&info, None).rule.as_deref(), Some("quiet"));
    }

    #[test]
    fn invalid_policies_are_refused_with_context() {
        for (text, want) in [
            ("rules: [{name: a, action: nuke}]", "unknown variant"),
            ("rules: [{name: a, action: ignore, bogus: 1}]", "unknown field"),
            ("confidence_threshold: 101", "above 100"),
            ("rules: [{name: a, action: delete_pod, max_action: escalate}]", "below action"),
            ("rules: [{name: a, action: ignore, min_action: escalate}]", "above action"),
            ("rules: [{name: a, action: ignore}, {name: a, action: ignore}]", "two rules"),
            ("rules: [{name: a, action: ignore, match: {priority: \">= Loud\"}}]", "invalid priority"),
            ("rules: [{name: a, action: escalate, parameters: {grace_period_seconds: 3}}]", "only for delete_pod"),
            (
                "rules: [{name: a, action: quarantine_pod, parameters: {labels: {lanner.io/quarantine: x}}}]",
                "may not set",
            ),
            ("guard: {rate_limit: {burst: 0, per_minute: 1}}", "positive"),
        ] {
            let e = Policy::parse(text, "p.yaml").unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("p.yaml"), "{text}: {e}");
        }
    }
}
