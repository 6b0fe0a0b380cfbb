//! What the model is asked about one alert ([`Ask`]): the facts the policy
//! and the guards used, the answers it may give ([`Choices`]) and few-shot
//! examples from the labelled set.
//!
//! * Choices: the actions inside the matching policy rule's
//!   `[min_action, max_action]`, minus `quarantine_pod` / `delete_pod` when
//!   a state-free guard would refuse them anyway (protected namespace or pod,
//!   DaemonSet, static pod, pod missing or unverifiable, foreign container);
//!   then `escalate` stands in, as the guard would decide. The classification
//!   is the policy rule's when it fixes one (anything but `unknown`).
//! * Examples: up to `shots` labelled cases, one per allowed action (the
//!   model sees each option used), never the case being asked and never an
//!   alert of the same Falco rule (so the eval measures judgement, not
//!   lookup). None when there is only one option to pick.
use std::sync::OnceLock;

use super::{
    alert::{self, Alert},
    cases::{self, Case},
    guard::Guard,
    model::{Action, Choices, Classification, PodLookup},
    policy::{Policy, Verdict},
    prompt::{self, Ask, Example, Facts},
};

/// Default number of few-shot examples: none. Measured with the bundled
/// SmolLM2-135M (docs/triage.md), examples made the prompt twice as long and the
/// proposals no better; a larger model may use them (`llm.few_shot`).
pub const DEFAULT_SHOTS: usize = 0;
/// Most few-shot examples a config may ask for.
pub const MAX_SHOTS: usize = 6;

/// The labelled cases examples are drawn from.
#[derive(Debug, Clone, Default)]
pub struct Bank {
    cases: Vec<Case>,
}

impl Bank {
    pub fn new(cases: Vec<Case>) -> Bank {
        Bank { cases }
    }

    /// The labelled set embedded in the binary.
    pub fn embedded() -> &'static Bank {
        static BANK: OnceLock<Bank> = OnceLock::new();
        BANK.get_or_init(|| {
            Bank::new(
                cases::parse(cases::EMBEDDED, "embedded eval.yaml").expect("the embedded eval set is valid (tested)"),
            )
        })
    }
}

/// The answers allowed for this verdict and pod.
pub fn choices(verdict: &Verdict, refusal: Option<&str>) -> Choices {
    let mut actions: Vec<Action> =
        Action::ALL.into_iter().filter(|a| *a >= verdict.min_action && *a <= verdict.max_action).collect();
    if refusal.is_some() {
        actions.retain(|a| !a.is_destructive());
        if actions.is_empty() {
            actions.push(Action::Escalate);
        }
    }
    let classifications = match verdict.classification {
        Classification::Unknown => Classification::ALL.to_vec(),
        fixed => vec![fixed],
    };
    Choices { actions, classifications }
}

fn owner(pod: &PodLookup, a: &Alert) -> String {
    match pod {
        _ if alert::target_pod(a).is_none() => "none".into(),
        PodLookup::Found(f) if f.mirror || f.owner_kinds.iter().any(|k| k == "Node") => "static pod".into(),
        PodLookup::Found(f) => f.owner_kinds.first().cloned().unwrap_or_else(|| "none (bare pod)".into()),
        PodLookup::NotFound => "pod not found".into(),
        PodLookup::Unknown(_) => "unknown".into(),
    }
}

/// The trusted facts of an alert.
pub fn facts(a: &Alert, pod: &PodLookup, refusal: Option<&str>) -> Facts {
    Facts {
        rule: a.rule.clone(),
        priority: a.priority.as_str().to_owned(),
        mitre: alert::mitre_techniques(a),
        tactics: alert::mitre_tactics(a),
        namespace: alert::namespace(a),
        protected: refusal.map(str::to_owned),
        owner: owner(pod, a),
    }
}

/// Build the prompt's content for one alert. `exclude` names the labelled
/// case being asked (eval), which is never its own example.
#[allow(clippy::too_many_arguments)]
pub fn ask(
    policy: &Policy,
    guard: &Guard,
    verdict: &Verdict,
    a: &Alert,
    pod: &PodLookup,
    bank: &Bank,
    shots: usize,
    exclude: Option<&str>,
) -> Ask {
    let refusal = guard.refusal(a, pod);
    let offered = choices(verdict, refusal.as_deref());
    let mut examples: Vec<Example> = Vec::new();
    if offered.actions.len() > 1 {
        // Candidates, in file order, with their own facts and choices.
        let candidates = bank.cases.iter().filter(|c| {
            Some(c.name.as_str()) != exclude
                && c.alert.rule != a.rule
                && !(c.alert.output_fields == a.output_fields && c.alert.tags == a.tags)
        });
        let mut per_action: Vec<(Action, Vec<Example>)> = offered.actions.iter().map(|x| (*x, vec![])).collect();
        for c in candidates {
            let Some(slot) = per_action.iter_mut().find(|(x, _)| *x == c.expect.action) else { continue };
            if slot.1.len() >= shots {
                continue;
            }
            let v = policy.evaluate(&c.alert, c.pod.labels());
            let r = guard.refusal(&c.alert, &c.pod);
            let ch = choices(&v, r.as_deref());
            // Prefer examples that had the same options to pick from.
            let same = ch.actions == offered.actions;
            let ex = Example {
                name: c.name.clone(),
                facts: facts(&c.alert, &c.pod, r.as_deref()),
                evidence: prompt::example_evidence(&c.alert),
                classification: c.expect.classification.unwrap_or(v.classification),
                choices: ch,
                action: c.expect.action,
            };
            if same {
                slot.1.insert(
                    slot.1.iter().position(|e| e.choices.actions != offered.actions).unwrap_or(slot.1.len()),
                    ex,
                );
            } else {
                slot.1.push(ex);
            }
        }
        // Round robin over the actions, best first, up to `shots`.
        let mut round = 0;
        while examples.len() < shots && per_action.iter().any(|(_, v)| v.len() > round) {
            for (_, v) in &per_action {
                if examples.len() < shots {
                    if let Some(e) = v.get(round) {
                        examples.push(e.clone());
                    }
                }
            }
            round += 1;
        }
    }
    Ask {
        facts: facts(a, pod, refusal.as_deref()),
        evidence: prompt::evidence(a, pod.labels()),
        choices: offered,
        examples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::{alert::test_alerts::alert, model::PodFacts};

    fn rs_pod() -> PodLookup {
        PodLookup::Found(PodFacts { owner_kinds: vec!["ReplicaSet".into()], ..Default::default() })
    }

    #[test]
    fn choices_follow_the_policy_bounds_and_the_guards() {
        let p = Policy::default_policy();
        let g = Guard::new(p.guard.clone());
        let shell = alert("Terminal shell in container", "Notice", "shop", "web-1", &["T1059"]);
        let v = p.evaluate(&shell, None);
        let c = choices(&v, g.refusal(&shell, &rs_pod()).as_deref());
        assert_eq!(c.actions, vec![Action::Escalate, Action::QuarantinePod]);
        assert_eq!(c.classifications, vec![Classification::TruePositive]);
        // Protected namespace: the destructive option is not offered.
        let ks = alert("Terminal shell in container", "Notice", "kube-system", "coredns-1", &["T1059"]);
        let r = g.refusal(&ks, &rs_pod());
        assert!(r.as_deref().unwrap().contains("protected"), "{r:?}");
        assert_eq!(choices(&p.evaluate(&ks, None), r.as_deref()).actions, vec![Action::Escalate]);
        // An ignore rule offers only ignore; an unknown-class rule every class.
        let info = alert("Container started", "Informational", "shop", "web-1", &[]);
        assert_eq!(choices(&p.evaluate(&info, None), None).actions, vec![Action::Ignore]);
        let recon = alert("Launch Suspicious Network Tool in Container", "Notice", "shop", "web-1", &[]);
        let c = choices(&p.evaluate(&recon, None), None);
        assert_eq!(c.actions, vec![Action::Escalate, Action::QuarantinePod]);
        assert_eq!(c.classifications.len(), 4);
        // Every case of the labelled set: the policy path's decision is always a choice.
        for case in &Bank::embedded().cases {
            let v = p.evaluate(&case.alert, case.pod.labels());
            let c = choices(&v, g.refusal(&case.alert, &case.pod).as_deref());
            assert!(!c.actions.is_empty() && !c.classifications.is_empty());
            assert!(c.actions.contains(&case.expect.action), "{}: {:?} not in {:?}", case.name, case.expect.action, c);
        }
    }

    #[test]
    fn examples_never_show_the_asked_case_or_its_rule() {
        let p = Policy::default_policy();
        let g = Guard::new(p.guard.clone());
        let bank = Bank::embedded();
        for case in &bank.cases {
            let v = p.evaluate(&case.alert, case.pod.labels());
            let ask = ask(&p, &g, &v, &case.alert, &case.pod, bank, 2, Some(&case.name));
            assert!(ask.examples.len() <= 2);
            if ask.choices.actions.len() > 1 {
                assert!(!ask.examples.is_empty(), "{}: no examples", case.name);
            }
            for e in &ask.examples {
                assert_ne!(e.name, case.name);
                assert_ne!(e.facts.rule, case.alert.rule, "{}: example {} has the same rule", case.name, e.name);
                assert!(ask.choices.actions.contains(&e.action), "{}: example {} off the options", case.name, e.name);
            }
        }
    }
}
