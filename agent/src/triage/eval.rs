//! `lanner triage eval FILE`: run the decision path over a labelled alert
//! set (`agent/triage-data/eval.yaml`) and print accuracy per expected
//! action and per decision source. Without `--llm` only the policy and the
//! guards decide (the deterministic path, which must score 100%); with
//! `--llm` the model is asked too and its raw proposals are scored apart.
//! Each case gets fresh guard state (no rate limit / dedup across cases).
use std::{collections::BTreeMap, path::Path, time::Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    alert::Alert,
    guard::{Guard, Source},
    llm::LlmClient,
    model::{Action, Classification, PodFacts, PodLookup},
    policy::{LlmMode, Policy},
    yaml,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalFile {
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
    pub expect: Expect,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
    #[error("{origin}: case {case:?}: alert: {detail}")]
    Alert { origin: String, case: String, detail: String },
}

/// Load a labelled set. Alerts need `rule`, `priority`, `output_fields`;
/// `tags`, `output`, `time`, `hostname`, `source` and `uuid` get defaults.
pub fn load(path: &Path) -> Result<Vec<Case>, EvalError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read { path: origin.clone(), source })?;
    parse(&text, &origin)
}

pub fn parse(text: &str, origin: &str) -> Result<Vec<Case>, EvalError> {
    let f: EvalFile = yaml::from_str(text, origin)?;
    let mut out = Vec::new();
    for (i, c) in f.cases.into_iter().enumerate() {
        let mut v = c.alert;
        let o = v.as_object_mut().ok_or_else(|| EvalError::Alert {
            origin: origin.into(),
            case: c.name.clone(),
            detail: "not a mapping".into(),
        })?;
        let rule = o.get("rule").and_then(Value::as_str).unwrap_or_default().to_owned();
        let prio = o.get("priority").and_then(Value::as_str).unwrap_or("Notice").to_owned();
        o.entry("output").or_insert_with(|| format!("12:00:00.000000000: {prio} {rule}").into());
        o.entry("time").or_insert_with(|| "2026-11-23T12:00:00.000000000Z".into());
        o.entry("source").or_insert_with(|| "syscall".into());
        o.entry("tags").or_insert_with(|| Value::Array(vec![]));
        o.entry("hostname").or_insert_with(|| "eval-node".into());
        o.entry("uuid").or_insert_with(|| format!("00000000-0000-4000-8000-{:012x}", i + 1).into());
        let alert: Alert = serde_json::from_value(v).map_err(|e| EvalError::Alert {
            origin: origin.into(),
            case: c.name.clone(),
            detail: e.to_string(),
        })?;
        let pod = if c.pod_missing {
            PodLookup::NotFound
        } else {
            PodLookup::Found(
                c.pod.unwrap_or_else(|| PodFacts { owner_kinds: vec!["ReplicaSet".into()], ..Default::default() }),
            )
        };
        out.push(Case { name: c.name, alert, pod, expect: c.expect });
    }
    Ok(out)
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub expected: Action,
    pub got: Action,
    pub source: Source,
    pub ok: bool,
    pub classification_ok: Option<bool>,
    pub llm_proposal: Option<Action>,
    pub llm_error: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub correct: usize,
    pub total: usize,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.correct += usize::from(ok);
    }
    pub fn pct(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            100.0 * self.correct as f64 / self.total as f64
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub overall: Tally,
    pub by_action: BTreeMap<&'static str, Tally>,
    pub by_source: BTreeMap<&'static str, Tally>,
    pub classification: Tally,
    /// The model's raw proposals against the labels (with `--llm`).
    pub llm_raw: Option<Tally>,
    pub llm_valid_answers: Option<Tally>,
    pub cases: Vec<CaseResult>,
}

/// Run every case. With `llm`, the policy's `llm_mode` applies (forced to
/// `advise` when it says `off`); without, the mode is `off`.
pub async fn run(cases: &[Case], policy: &Policy, llm: Option<&LlmClient>) -> Report {
    let mut policy = policy.clone();
    policy.llm_mode = match (llm, policy.llm_mode) {
        (None, _) => LlmMode::Off,
        (Some(_), LlmMode::Off) => LlmMode::Advise,
        (Some(_), m) => m,
    };
    let mut r = Report {
        mode: match policy.llm_mode {
            LlmMode::Off => "policy",
            LlmMode::Advise => "llm-advise",
            LlmMode::Propose => "llm-propose",
        },
        overall: Tally::default(),
        by_action: BTreeMap::new(),
        by_source: BTreeMap::new(),
        classification: Tally::default(),
        llm_raw: llm.map(|_| Tally::default()),
        llm_valid_answers: llm.map(|_| Tally::default()),
        cases: Vec::new(),
    };
    for c in cases {
        let guard = Guard::new(policy.guard.clone());
        let verdict = policy.evaluate(&c.alert, c.pod.labels());
        let outcome = match llm {
            Some(l) => Some(l.triage(&c.alert).await),
            None => None,
        };
        let proposal = match &outcome {
            Some(o) => o.proposal.as_ref().map_err(|e| format!("{}: {e}", e.reason())),
            None => Err("llm_mode off".to_owned()),
        };
        let d = guard.decide(
            &policy,
            &verdict,
            proposal.as_ref().copied().map_err(String::as_str),
            None,
            &c.alert,
            &c.pod,
            false,
            Instant::now(),
        );
        let ok = d.action == c.expect.action;
        r.overall.add(ok);
        r.by_action.entry(c.expect.action.as_str()).or_default().add(ok);
        r.by_source.entry(d.source.as_str()).or_default().add(ok);
        let classification_ok = c.expect.classification.map(|want| want == d.classification);
        if let Some(k) = classification_ok {
            r.classification.add(k);
        }
        let llm_proposal = proposal.as_ref().ok().map(|p| p.action);
        if let (Some(raw), Some(valid)) = (r.llm_raw.as_mut(), r.llm_valid_answers.as_mut()) {
            raw.add(llm_proposal == Some(c.expect.action));
            valid.add(llm_proposal.is_some());
        }
        r.cases.push(CaseResult {
            name: c.name.clone(),
            expected: c.expect.action,
            got: d.action,
            source: d.source,
            ok,
            classification_ok,
            llm_proposal,
            llm_error: proposal.err().filter(|_| llm.is_some()),
            reason: d.reason,
        });
    }
    r
}

/// Human-readable table.
pub fn render(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{:<44} {:<15} {:<15} {:<15} ok", "case", "expected", "got", "source");
    for c in &r.cases {
        let _ = writeln!(
            s,
            "{:<44} {:<15} {:<15} {:<15} {}{}",
            c.name,
            c.expected.as_str(),
            c.got.as_str(),
            c.source.as_str(),
            if c.ok { "ok" } else { "MISS" },
            c.llm_proposal
                .map(|p| format!("  (llm proposed {p})"))
                .or_else(|| c.llm_error.as_ref().map(|e| format!("  (llm: {e})")))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(s, "\naccuracy by expected action ({} mode):", r.mode);
    for (k, t) in &r.by_action {
        let _ = writeln!(s, "  {k:<16} {:>3}/{:<3} {:6.1}%", t.correct, t.total, t.pct());
    }
    let _ = writeln!(s, "accuracy by decision source:");
    for (k, t) in &r.by_source {
        let _ = writeln!(s, "  {k:<16} {:>3}/{:<3} {:6.1}%", t.correct, t.total, t.pct());
    }
    if r.classification.total > 0 {
        let t = &r.classification;
        let _ = writeln!(s, "classification     {:>3}/{:<3} {:6.1}%", t.correct, t.total, t.pct());
    }
    if let (Some(raw), Some(valid)) = (&r.llm_raw, &r.llm_valid_answers) {
        let _ = writeln!(
            s,
            "llm raw proposals  {:>3}/{:<3} {:6.1}% correct ({} of {} answers valid)",
            raw.correct,
            raw.total,
            raw.pct(),
            valid.correct,
            valid.total
        );
    }
    let _ = writeln!(s, "overall            {:>3}/{:<3} {:6.1}%", r.overall.correct, r.overall.total, r.overall.pct());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_eval() -> Vec<Case> {
        load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("triage-data/eval.yaml")).unwrap()
    }

    #[tokio::test]
    async fn the_policy_path_scores_100_percent_on_the_labelled_set() {
        let cases = repo_eval();
        assert!(cases.len() >= 30, "the labelled set has {} cases", cases.len());
        for want in Action::ALL {
            assert!(cases.iter().any(|c| c.expect.action == want), "no case expects {want}");
        }
        let r = run(&cases, &Policy::default_policy(), None).await;
        let misses: Vec<String> =
            r.cases.iter().filter(|c| !c.ok).map(|c| format!("{}: got {} ({})", c.name, c.got, c.reason)).collect();
        assert!(misses.is_empty(), "policy misses:\n{}\n{}", misses.join("\n"), render(&r));
        assert_eq!(r.overall.correct, cases.len());
        assert_eq!(r.classification.pct(), 100.0, "{}", render(&r));
        assert!(r.by_source.contains_key("guard-override"), "the set exercises the guards");
        assert!(!r.by_source.contains_key("llm"));
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
    }
}
