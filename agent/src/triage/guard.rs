//! The decision: the policy's verdict, the LLM's proposal (if any) and the
//! guards that every destructive action must pass, whoever proposed it.
//!
//! 1. Dedup window: the same rule on the same pod within N s → `ignore`.
//! 2. `llm_mode`: `off` / `advise` → the policy decides; `propose` → a valid
//!    proposal with confidence ≥ threshold is taken only inside the matching
//!    rule's `[min_action, max_action]` (by default `[escalate, action]`: the
//!    model may soften to escalate, never harden, never silence).
//! 3. Safety guards on `quarantine_pod` / `delete_pod`: the alert names a pod,
//!    not in a protected namespace, not Lanner's own (label or name), not
//!    DaemonSet-owned or static unless allowed, the pod exists and holds the
//!    alert's container, and the namespace's token bucket has a token. A
//!    refusal escalates (source `guard-override`): never silently dropped.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{
    alert::{self, Alert},
    model::{Action, Classification, PodLookup, Proposal},
    policy::{GuardSettings, LlmMode, LowConfidence, Parameters, Policy, Verdict},
    yaml::glob,
};

/// Who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Llm,
    Policy,
    GuardOverride,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Llm => "llm",
            Source::Policy => "policy",
            Source::GuardOverride => "guard-override",
        }
    }
}

/// The final decision for an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub action: Action,
    pub classification: Classification,
    /// The model's confidence when its proposal was taken.
    pub confidence: Option<u8>,
    pub source: Source,
    pub reason: String,
    pub policy_rule: Option<String>,
    pub parameters: Parameters,
    /// Recorded but not executed.
    pub dry_run: bool,
}

/// (rule, namespace, pod) → when and what was decided (dedup window).
type RecentDecisions = HashMap<(String, String, String), (Instant, String)>;

/// Guard state shared by all incidents of a worker: token buckets and the
/// dedup window.
#[derive(Debug)]
pub struct Guard {
    settings: GuardSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
    recent: Mutex<RecentDecisions>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Guard {
    pub fn new(settings: GuardSettings) -> Self {
        Guard { settings, buckets: Mutex::default(), recent: Mutex::default() }
    }

    /// The uuid of an earlier incident of the same rule on the same pod (or
    /// host) within the dedup window; records this one otherwise.
    pub fn duplicate_of(&self, a: &Alert, now: Instant) -> Option<String> {
        let window = Duration::from_secs(self.settings.dedup_window_secs);
        if window.is_zero() {
            return None;
        }
        let key = match alert::target_pod(a) {
            Some((ns, pod)) => (a.rule.clone(), ns, pod),
            None => (a.rule.clone(), String::new(), a.hostname.clone()),
        };
        let mut g = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        g.retain(|_, (t, _)| now.saturating_duration_since(*t) < window);
        if let Some((_, uuid)) = g.get(&key) {
            return Some(uuid.clone());
        }
        g.insert(key, (now, a.uuid.to_string()));
        None
    }

    /// Take a token from the namespace's bucket.
    fn take_token(&self, ns: &str, now: Instant) -> bool {
        let rl = &self.settings.rate_limit;
        let mut g = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = g.entry(ns.to_owned()).or_insert(Bucket { tokens: f64::from(rl.burst), at: now });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * rl.per_minute / 60.0;
        b.tokens = (b.tokens + refill).min(f64::from(rl.burst));
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Decide. `proposal` is the validated LLM proposal or why there is none.
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &self,
        policy: &Policy,
        verdict: &Verdict,
        proposal: Result<&Proposal, &str>,
        duplicate_of: Option<&str>,
        a: &Alert,
        pod: &PodLookup,
        dry_run: bool,
        now: Instant,
    ) -> Decision {
        let rule_txt = verdict
            .rule
            .as_deref()
            .map_or_else(|| "no policy rule matched (default)".to_owned(), |r| format!("policy rule {r:?}"));
        let mut d = Decision {
            action: verdict.action,
            classification: verdict.classification,
            confidence: None,
            source: Source::Policy,
            reason: rule_txt.clone(),
            policy_rule: verdict.rule.clone(),
            parameters: verdict.parameters.clone(),
            dry_run: dry_run || policy.dry_run,
        };
        if let Some(prev) = duplicate_of {
            d.action = Action::Ignore;
            d.source = Source::GuardOverride;
            d.reason = format!(
                "duplicate of incident {prev}: same rule and pod within {} s (dedup window)",
                self.settings.dedup_window_secs
            );
            return d;
        }
        match (policy.llm_mode, proposal) {
            (LlmMode::Off, _) => d.reason.push_str("; LLM off"),
            (LlmMode::Advise, Ok(p)) => d.reason.push_str(&format!(
                "; LLM advice (not binding, llm_mode=advise): {} / {} at {}%",
                p.action,
                p.classification.as_str(),
                p.confidence
            )),
            (LlmMode::Advise | LlmMode::Propose, Err(why)) => {
                d.reason.push_str(&format!("; LLM unavailable ({why}): policy fallback"))
            }
            (LlmMode::Propose, Ok(p)) => {
                if p.confidence < policy.confidence_threshold {
                    let t = policy.confidence_threshold;
                    match policy.low_confidence {
                        LowConfidence::Policy => d.reason.push_str(&format!(
                            "; LLM proposal {} at {}% is below the {t}% threshold: policy decides",
                            p.action, p.confidence
                        )),
                        LowConfidence::Escalate => {
                            d.action = Action::Escalate;
                            d.source = Source::GuardOverride;
                            d.reason = format!(
                                "LLM proposal {} at {}% is below the {t}% threshold: escalated ({rule_txt})",
                                p.action, p.confidence
                            );
                        }
                    }
                } else if p.action > verdict.max_action {
                    d.source = Source::GuardOverride;
                    d.reason = format!(
                        "LLM proposed {} above the ceiling {} of {rule_txt}: policy action {} kept",
                        p.action, verdict.max_action, verdict.action
                    );
                } else if p.action < verdict.min_action {
                    d.source = Source::GuardOverride;
                    d.reason = format!(
                        "LLM proposed {} below the floor {} of {rule_txt}: policy action {} kept",
                        p.action, verdict.min_action, verdict.action
                    );
                } else {
                    d.action = p.action;
                    d.classification = p.classification;
                    d.confidence = Some(p.confidence);
                    d.source = Source::Llm;
                    d.reason = format!(
                        "LLM proposal within [{}, {}] of {rule_txt} at {}%: {}",
                        verdict.min_action, verdict.max_action, p.confidence, p.rationale
                    );
                }
            }
        }
        if d.action.is_destructive() {
            if let Err(why) = self.safe_to_act(a, pod, now) {
                d.reason = format!("{why}: {} refused, escalated instead (was: {})", d.action, d.reason);
                d.action = Action::Escalate;
                d.source = Source::GuardOverride;
            }
        }
        d
    }

    /// Every safety guard on a destructive action; the rate-limit token is
    /// only taken once all others passed.
    fn safe_to_act(&self, a: &Alert, pod: &PodLookup, now: Instant) -> Result<(), String> {
        if let Some(why) = self.refusal(a, pod) {
            return Err(why);
        }
        let ns = alert::namespace(a).unwrap_or_default();
        if !self.take_token(&ns, now) {
            return Err(format!("rate limit for destructive actions in namespace {ns} exhausted"));
        }
        Ok(())
    }

    /// Why a destructive action on this alert's pod would be refused, from
    /// the guards that do not change state (all but the rate limit). The
    /// prompt's choices leave destructive actions out when there is one.
    pub fn refusal(&self, a: &Alert, pod: &PodLookup) -> Option<String> {
        self.preconditions(a, pod).err()
    }

    fn preconditions(&self, a: &Alert, pod: &PodLookup) -> Result<(), String> {
        let s = &self.settings;
        let Some((ns, name)) = alert::target_pod(a) else {
            return Err("the alert names no pod (k8s.ns.name / k8s.pod.name)".into());
        };
        if s.protected_namespaces.iter().any(|g| glob(g, &ns)) {
            return Err(format!("namespace {ns} is protected"));
        }
        if s.protected_pod_names.iter().any(|g| glob(g, &name)) {
            return Err(format!("pod {ns}/{name} is protected by name"));
        }
        let facts = match pod {
            PodLookup::Found(f) => f,
            PodLookup::NotFound => return Err(format!("pod {ns}/{name} not found")),
            PodLookup::Unknown(why) => return Err(format!("pod {ns}/{name} could not be verified ({why})")),
        };
        if let Some((k, v)) =
            s.protected_pod_labels.iter().find(|(k, v)| facts.labels.get(*k).is_some_and(|l| glob(v, l)))
        {
            return Err(format!("pod {ns}/{name} is protected by label {k}={v}"));
        }
        if !s.allow_daemonset_pods && facts.owner_kinds.iter().any(|k| k == "DaemonSet") {
            return Err(format!("pod {ns}/{name} is owned by a DaemonSet"));
        }
        if !s.allow_static_pods && (facts.mirror || facts.owner_kinds.iter().any(|k| k == "Node")) {
            return Err(format!("pod {ns}/{name} is a static (mirror) pod"));
        }
        if s.verify_container_id && !facts.container_ids.is_empty() {
            if let Some(cid) = alert::field(a, "container.id").filter(|c| c.len() >= 12 && c != "host") {
                if !facts.container_ids.iter().any(|full| full.starts_with(cid.as_ref())) {
                    return Err(format!("container {cid} is not a container of pod {ns}/{name}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::{alert::test_alerts::alert, model::PodFacts};

    fn policy(mode: &str, extra: &str) -> Policy {
        let text = format!(
            "llm_mode: {mode}\nconfidence_threshold: 70\n{extra}\nrules:\n  - name: shell\n    match: {{rules: [Shell]}}\n    action: quarantine_pod\n    classification: true_positive\n  - name: recon\n    match: {{rules: [Recon]}}\n    action: escalate\n    max_action: delete_pod\n"
        );
        Policy::parse(&text, "t").unwrap()
    }

    fn facts() -> PodLookup {
        PodLookup::Found(PodFacts {
            owner_kinds: vec!["ReplicaSet".into()],
            container_ids: vec!["0123456789abcdef".into()],
            ..Default::default()
        })
    }

    fn prop(action: Action, confidence: u8) -> Proposal {
        Proposal { action, classification: Classification::TruePositive, confidence, rationale: "r".into() }
    }

    fn run(p: &Policy, g: &Guard, a: &Alert, pr: Result<&Proposal, &str>, pod: &PodLookup) -> Decision {
        let v = p.evaluate(a, pod.labels());
        g.decide(p, &v, pr, None, a, pod, false, Instant::now())
    }

    #[test]
    fn advise_mode_never_lets_the_model_decide() {
        let p = policy("advise", "");
        let g = Guard::new(p.guard.clone());
        let a = alert("Shell", "Notice", "shop", "web", &[]);
        for act in Action::ALL {
            let d = run(&p, &g, &a, Ok(&prop(act, 100)), &facts());
            assert_eq!((d.action, d.source), (Action::QuarantinePod, Source::Policy), "{act}");
        }
        let d = run(&p, &g, &a, Err("timeout"), &facts());
        assert!(d.reason.contains("LLM unavailable (timeout)"), "{}", d.reason);
    }

    #[test]
    fn propose_mode_bounds_confidence_and_floor() {
        let p = policy("propose", "");
        let g = Guard::new(p.guard.clone());
        let shell = alert("Shell", "Notice", "shop", "web", &[]);
        // Harder than the rule allows: kept at the policy's action.
        let d = run(&p, &g, &shell, Ok(&prop(Action::DeletePod, 99)), &facts());
        assert_eq!((d.action, d.source), (Action::QuarantinePod, Source::GuardOverride));
        // Softer down to the floor (escalate) is accepted.
        let d = run(&p, &g, &shell, Ok(&prop(Action::Escalate, 90)), &facts());
        assert_eq!((d.action, d.source, d.confidence), (Action::Escalate, Source::Llm, Some(90)));
        // Silencing is below the floor.
        let d = run(&p, &g, &shell, Ok(&prop(Action::Ignore, 99)), &facts());
        assert_eq!((d.action, d.source), (Action::QuarantinePod, Source::GuardOverride));
        // Low confidence: the policy decides.
        let d = run(&p, &g, &shell, Ok(&prop(Action::Escalate, 69)), &facts());
        assert_eq!((d.action, d.source), (Action::QuarantinePod, Source::Policy));
        // A rule with a higher ceiling lets a confident model act.
        let recon = alert("Recon", "Notice", "shop", "web", &[]);
        let d = run(&p, &g, &recon, Ok(&prop(Action::DeletePod, 80)), &facts());
        assert_eq!((d.action, d.source), (Action::DeletePod, Source::Llm));
        let p2 = policy("propose", "low_confidence: escalate");
        let d = run(&p2, &g, &shell, Ok(&prop(Action::DeletePod, 10)), &facts());
        assert_eq!((d.action, d.source), (Action::Escalate, Source::GuardOverride));
    }

    #[test]
    fn safety_guards_turn_destructive_actions_into_escalations() {
        let p = policy("off", "");
        let g = Guard::new(p.guard.clone());
        let with = |f: &dyn Fn(&mut PodFacts)| {
            let mut x = PodFacts { owner_kinds: vec!["ReplicaSet".into()], ..Default::default() };
            f(&mut x);
            PodLookup::Found(x)
        };
        let cases: Vec<(Alert, PodLookup, &str)> = vec![
            (alert("Shell", "Notice", "kube-system", "coredns-1", &[]), facts(), "namespace kube-system is protected"),
            (alert("Shell", "Notice", "lanner", "x", &[]), facts(), "namespace lanner is protected"),
            (alert("Shell", "Notice", "shop", "lanner-agent-abc", &[]), facts(), "protected by name"),
            (
                alert("Shell", "Notice", "shop", "web", &[]),
                with(&|f| {
                    f.labels.insert("app.kubernetes.io/part-of".into(), "lanner".into());
                }),
                "protected by label",
            ),
            (
                alert("Shell", "Notice", "shop", "web", &[]),
                with(&|f| f.owner_kinds = vec!["DaemonSet".into()]),
                "DaemonSet",
            ),
            (alert("Shell", "Notice", "shop", "web", &[]), with(&|f| f.mirror = true), "static"),
            (
                alert("Shell", "Notice", "shop", "web", &[]),
                with(&|f| f.container_ids = vec!["ffff".repeat(16)]),
                "not a container of pod",
            ),
            (alert("Shell", "Notice", "shop", "web", &[]), PodLookup::NotFound, "not found"),
            (alert("Shell", "Notice", "shop", "web", &[]), PodLookup::Unknown("403".into()), "could not be verified"),
        ];
        for (a, pod, want) in cases {
            let d = run(&p, &g, &a, Err("off"), &pod);
            assert_eq!((d.action, d.source), (Action::Escalate, Source::GuardOverride), "{want}: {}", d.reason);
            assert!(d.reason.contains(want), "{want}: {}", d.reason);
        }
        let mut host = alert("Shell", "Notice", "shop", "web", &[]);
        host.output_fields.remove("k8s.pod.name");
        let d = run(&p, &g, &host, Err("off"), &facts());
        assert!(d.reason.contains("names no pod"), "{}", d.reason);
        // And the plain case acts.
        let d = run(&p, &g, &alert("Shell", "Notice", "shop", "web", &[]), Err("off"), &facts());
        assert_eq!((d.action, d.source), (Action::QuarantinePod, Source::Policy));
    }

    #[test]
    fn rate_limit_per_namespace_and_dedup_window() {
        let p = policy("off", "guard: {rate_limit: {burst: 2, per_minute: 60}, dedup_window_secs: 60}");
        let g = Guard::new(p.guard.clone());
        let t0 = Instant::now();
        let decide_at = |ns: &str, t: Instant| {
            let a = alert("Shell", "Notice", ns, "web", &[]);
            g.decide(&p, &p.evaluate(&a, None), Err("off"), None, &a, &facts(), false, t)
        };
        assert_eq!(decide_at("a", t0).action, Action::QuarantinePod);
        assert_eq!(decide_at("a", t0).action, Action::QuarantinePod);
        let d = decide_at("a", t0);
        assert!(d.action == Action::Escalate && d.reason.contains("rate limit"), "{}", d.reason);
        assert_eq!(decide_at("b", t0).action, Action::QuarantinePod, "buckets are per namespace");
        assert_eq!(decide_at("a", t0 + Duration::from_secs(1)).action, Action::QuarantinePod, "refilled 1/s");

        let a1 = alert("Shell", "Notice", "a", "web", &[]);
        let a2 = alert("Shell", "Notice", "a", "web", &[]);
        let other = alert("Shell", "Notice", "a", "api", &[]);
        assert_eq!(g.duplicate_of(&a1, t0), None);
        assert_eq!(g.duplicate_of(&a2, t0 + Duration::from_secs(5)), Some(a1.uuid.to_string()));
        assert_eq!(g.duplicate_of(&other, t0), None, "another pod");
        assert_eq!(g.duplicate_of(&a2, t0 + Duration::from_secs(61)), None, "window passed");
        let v = p.evaluate(&a2, None);
        let d = g.decide(&p, &v, Err("x"), Some("prev"), &a2, &facts(), false, t0);
        assert_eq!((d.action, d.source), (Action::Ignore, Source::GuardOverride));
    }
}
