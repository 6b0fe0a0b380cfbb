//! `lanner triage eval FILE`: run the decision path over a labelled alert
//! set (`agent/triage-data/eval.yaml`, loaded by `cases.rs`) and print
//! accuracy per expected action and per decision source. Without `--llm` only
//! the policy and the guards decide (the deterministic path, which must score
//! 100%); with `--llm` the model is asked too, with the same grounded,
//! constrained prompt as the worker (few-shot examples never include the case
//! asked), and its raw proposals are scored apart: accuracy per expected
//! action, a confusion matrix, the out-of-range rate, latency p50/p95 and
//! tokens/s. Each case gets fresh guard state (no rate limit / dedup across
//! cases). Injection cases show their text as quoted (JSON-escaped) data.
use std::{collections::BTreeMap, time::Instant};

use serde::Serialize;

use super::{
    cases::{self, Case},
    grounding::{self, Bank},
    guard::{Guard, Source},
    llm::LlmClient,
    model::Action,
    policy::{LlmMode, Policy},
};

pub use super::cases::load;

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
    /// The actions the model could choose from.
    pub llm_choices: Option<Vec<Action>>,
    pub llm_ms: Option<u64>,
    /// The decision stayed inside the policy rule's `[min_action, max_action]`
    /// (or is a guard's escalation / dedup ignore).
    pub in_bounds: bool,
    /// The injection text of an injection case, as quoted JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injection: Option<String>,
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
    pub llm: Option<LlmReport>,
    /// Decisions outside the policy bounds (must be 0).
    pub out_of_bounds_decisions: usize,
    pub cases: Vec<CaseResult>,
}

/// The model's raw proposals against the labels.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LlmReport {
    pub calls: &'static str,
    pub shots: usize,
    pub max_tokens: u32,
    pub model: Option<String>,
    /// Raw proposal accuracy, by expected action.
    pub by_action: BTreeMap<&'static str, Tally>,
    /// expected action → proposed action (or `none`: no usable answer) → count.
    pub confusion: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    /// Answers (schema-valid JSON) whose action or classification lies outside
    /// the choices offered.
    pub out_of_range: usize,
    pub answers: usize,
    pub failures: BTreeMap<&'static str, usize>,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    pub latency_max_ms: u64,
    pub completion_tokens: u64,
    /// Answer tokens over the time spent in LLM calls.
    pub tokens_per_second: f64,
}

impl LlmReport {
    pub fn out_of_range_pct(&self) -> f64 {
        if self.answers == 0 {
            0.0
        } else {
            100.0 * self.out_of_range as f64 / self.answers as f64
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
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
        llm: llm.map(|l| LlmReport {
            calls: match l.settings().calls {
                super::llm::Calls::One => "one",
                super::llm::Calls::Two => "two",
            },
            shots: l.settings().shots,
            max_tokens: l.settings().max_tokens,
            ..Default::default()
        }),
        out_of_bounds_decisions: 0,
        cases: Vec::new(),
    };
    let mut latencies = Vec::new();
    let mut llm_secs = 0.0;
    for c in cases {
        let guard = Guard::new(policy.guard.clone());
        let verdict = policy.evaluate(&c.alert, c.pod.labels());
        let mut llm_choices = None;
        let outcome = match llm {
            Some(l) => {
                let ask = grounding::ask(
                    &policy,
                    &guard,
                    &verdict,
                    &c.alert,
                    &c.pod,
                    Bank::embedded(),
                    l.settings().shots,
                    Some(&c.name),
                );
                let o = l.triage(&ask).await;
                llm_choices = Some(ask.choices.actions);
                Some(o)
            }
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
        let in_bounds = (d.action >= verdict.min_action && d.action <= verdict.max_action)
            || (d.source == Source::GuardOverride && d.action <= Action::Escalate);
        r.out_of_bounds_decisions += usize::from(!in_bounds);
        let llm_proposal = proposal.as_ref().ok().map(|p| p.action);
        // What the model answered, valid or out of range (None: no usable answer).
        let answered = match outcome.as_ref().map(|o| &o.proposal) {
            Some(Ok(p)) => Some(p.action),
            Some(Err(super::llm::LlmError::OutOfRange { action, .. })) => Some(*action),
            _ => None,
        };
        if let (Some(raw), Some(valid)) = (r.llm_raw.as_mut(), r.llm_valid_answers.as_mut()) {
            raw.add(llm_proposal == Some(c.expect.action));
            valid.add(answered.is_some());
        }
        if let (Some(rep), Some(o)) = (r.llm.as_mut(), &outcome) {
            rep.by_action.entry(c.expect.action.as_str()).or_default().add(llm_proposal == Some(c.expect.action));
            *rep.confusion
                .entry(c.expect.action.as_str())
                .or_default()
                .entry(answered.map_or("none", Action::as_str))
                .or_default() += 1;
            rep.answers += usize::from(answered.is_some());
            match &o.proposal {
                Err(super::llm::LlmError::OutOfRange { .. }) => rep.out_of_range += 1,
                Err(e) => *rep.failures.entry(e.reason()).or_default() += 1,
                Ok(_) => {}
            }
            rep.completion_tokens += o.completion_tokens;
            if rep.model.is_none() {
                rep.model.clone_from(&o.model);
            }
            latencies.push(o.elapsed.as_millis() as u64);
            llm_secs += o.elapsed.as_secs_f64();
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
            llm_choices,
            llm_ms: outcome.as_ref().map(|o| o.elapsed.as_millis() as u64),
            in_bounds,
            injection: cases::injection_text(c).map(|t| serde_json::to_string(&t).unwrap_or_default()),
            reason: d.reason,
        });
    }
    if let Some(rep) = r.llm.as_mut() {
        latencies.sort_unstable();
        rep.latency_p50_ms = percentile(&latencies, 50.0);
        rep.latency_p95_ms = percentile(&latencies, 95.0);
        rep.latency_max_ms = latencies.last().copied().unwrap_or(0);
        rep.tokens_per_second = if llm_secs > 0.0 { rep.completion_tokens as f64 / llm_secs } else { 0.0 };
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
        if let Some(t) = &c.injection {
            let _ = writeln!(s, "    injection text (quoted data): {t}");
        }
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
    let _ = writeln!(s, "decisions outside the policy bounds: {}", r.out_of_bounds_decisions);
    if let Some(l) = &r.llm {
        s.push_str(&render_llm(l));
    }
    s
}

/// The model's raw proposals: accuracy per expected action, confusion
/// matrix, out-of-range rate, latency and throughput.
pub fn render_llm(l: &LlmReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nmodel {} ({} call(s) per alert, {} few-shot examples, max_tokens {})",
        l.model.as_deref().unwrap_or("?"),
        l.calls,
        l.shots,
        l.max_tokens
    );
    let _ = writeln!(s, "raw proposal accuracy by expected action:");
    for (k, t) in &l.by_action {
        let _ = writeln!(s, "  {k:<16} {:>3}/{:<3} {:6.1}%", t.correct, t.total, t.pct());
    }
    let cols = ["ignore", "escalate", "quarantine_pod", "delete_pod", "none"];
    let _ = write!(s, "confusion (rows: expected, columns: proposed)\n  {:<16}", "");
    for c in cols {
        let _ = write!(s, " {c:>14}");
    }
    s.push('\n');
    for (row, m) in &l.confusion {
        let _ = write!(s, "  {row:<16}");
        for c in cols {
            let _ = write!(s, " {:>14}", m.get(c).copied().unwrap_or(0));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "out of range: {}/{} answers ({:.1}%); no usable answer: {:?}",
        l.out_of_range,
        l.answers,
        l.out_of_range_pct(),
        l.failures
    );
    let _ = writeln!(
        s,
        "latency per alert: p50 {} ms, p95 {} ms, max {} ms; {} answer tokens, {:.1} tokens/s",
        l.latency_p50_ms, l.latency_p95_ms, l.latency_max_ms, l.completion_tokens, l.tokens_per_second
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_eval() -> Vec<Case> {
        load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("triage-data/eval.yaml")).unwrap()
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
    fn the_set_covers_every_default_pack_rule_and_the_injection_suite() {
        let cases = repo_eval();
        assert!(cases.len() >= 60, "{} cases", cases.len());
        let pack = lanner_rules::RuleSet::default_pack().expect("default pack");
        let missing: Vec<&str> = pack
            .rules()
            .iter()
            .map(|r| r.name.as_str())
            .filter(|n| !cases.iter().any(|c| c.alert.rule == *n))
            .collect();
        assert!(missing.is_empty(), "default-pack rules without an eval case: {missing:?}");
        let inj: Vec<&Case> = cases.iter().filter(|c| c.injection.is_some()).collect();
        assert!(inj.len() >= 6, "{} injection cases", inj.len());
        for at in ["proc.cmdline", "fd.name", "pod.labels"] {
            assert!(inj.iter().any(|c| c.injection.as_deref() == Some(at)), "no injection in {at}");
        }
        for c in &inj {
            assert!(cases::injection_text(c).is_some_and(|t| !t.is_empty()), "{}", c.name);
        }
    }
}
