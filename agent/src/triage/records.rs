//! Durable records of every incident: one JSON line in the audit file
//! (appended, then `fsync`ed before the alert is acked) and one Markdown
//! report per incident in the reports directory (written to a temporary file,
//! synced, renamed). Alert strings are attacker-controlled: the report puts
//! them in code spans / fenced blocks so they cannot forge report structure.
use std::{
    fs::{File, OpenOptions},
    io::{Read as _, Seek as _, SeekFrom, Write as _},
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::Serialize;

use super::{
    actions::StepResult,
    alert::{self, Alert},
    guard::Decision,
    model::{Analysis, Choices, PodFacts, Proposal},
    policy::Verdict,
};

/// What the LLM said for an incident (or why it said nothing usable).
#[derive(Debug, Clone, Serialize)]
pub struct LlmRecord {
    pub model: Option<String>,
    pub analysis: Option<Analysis>,
    pub analysis_error: Option<String>,
    pub proposal: Option<Proposal>,
    pub proposal_error: Option<String>,
    pub elapsed_ms: u64,
    pub calls: u32,
    pub completion_tokens: u64,
    /// The answers the model was allowed to give (the schema's enums).
    pub choices: Option<Choices>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Alert event time → received by the worker.
    pub event_to_received_s: f64,
    pub llm_ms: u64,
    pub decision_ms: u64,
    pub actions_ms: u64,
    /// Event time → decision recorded.
    pub mtta_s: f64,
    /// Event time → response completed.
    pub mttr_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mitre {
    pub techniques: Vec<String>,
    pub tactics: Vec<String>,
}

/// One incident: the audit line.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// Always `incident` (the write-ahead line before acting is `decision`).
    pub record: &'static str,
    pub uuid: String,
    pub worker: String,
    pub received_at: String,
    pub alert: Alert,
    /// `found`, `not_found`, `unknown: …` or `no pod`.
    pub pod_lookup: String,
    pub pod: Option<PodFacts>,
    pub policy: Verdict,
    pub llm: Option<LlmRecord>,
    pub decision: Decision,
    pub actions: Vec<StepResult>,
    pub mitre: Mitre,
    pub timings: Timings,
    pub report: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("opening audit file {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("creating reports directory {path}: {source}")]
    ReportsDir { path: PathBuf, source: std::io::Error },
    #[error("writing audit file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("writing report {path}: {source}")]
    Report { path: PathBuf, source: std::io::Error },
    #[error("serializing incident {uuid}: {source}")]
    Serialize { uuid: String, source: serde_json::Error },
}

/// The audit file and reports directory.
#[derive(Debug)]
pub struct Records {
    audit_path: PathBuf,
    audit: Mutex<File>,
    reports_dir: Option<PathBuf>,
}

impl Records {
    pub fn open(audit_path: &Path, reports_dir: Option<&Path>) -> Result<Records, RecordsError> {
        if let Some(dir) = audit_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| RecordsError::Open { path: audit_path.into(), source })?;
        }
        let audit = OpenOptions::new()
            .create(true)
            .append(true)
            .open(audit_path)
            .map_err(|source| RecordsError::Open { path: audit_path.into(), source })?;
        if let Some(d) = reports_dir {
            std::fs::create_dir_all(d).map_err(|source| RecordsError::ReportsDir { path: d.into(), source })?;
        }
        Ok(Records {
            audit_path: audit_path.into(),
            audit: Mutex::new(audit),
            reports_dir: reports_dir.map(Into::into),
        })
    }

    #[cfg_attr(not(test), allow(dead_code))] // used by tests and the eval/diagnostic paths
    pub fn audit_path(&self) -> &Path {
        &self.audit_path
    }

    /// Append the incident's line and fsync (blocking: call from a blocking task).
    pub fn append(&self, inc: &Incident) -> Result<(), RecordsError> {
        let line =
            serde_json::to_vec(inc).map_err(|source| RecordsError::Serialize { uuid: inc.uuid.clone(), source })?;
        self.append_bytes(line)
    }

    /// Append any JSON value as a line and fsync (the write-ahead decision line).
    pub fn append_value(&self, v: &serde_json::Value) -> Result<(), RecordsError> {
        let uuid = v["uuid"].as_str().unwrap_or_default().to_owned();
        let line = serde_json::to_vec(v).map_err(|source| RecordsError::Serialize { uuid, source })?;
        self.append_bytes(line)
    }

    fn append_bytes(&self, mut line: Vec<u8>) -> Result<(), RecordsError> {
        line.push(b'\n');
        let f = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        let w = |e| RecordsError::Write { path: self.audit_path.clone(), source: e };
        (&*f).write_all(&line).map_err(w)?;
        f.sync_data().map_err(w)
    }

    /// Write the Markdown report; returns its path (`None` without a reports dir).
    pub fn write_report(&self, inc: &Incident) -> Result<Option<PathBuf>, RecordsError> {
        let Some(dir) = &self.reports_dir else {
            return Ok(None);
        };
        let stamp: String = inc.received_at.chars().filter(|c| c.is_ascii_digit()).take(14).collect();
        let safe: String = inc.uuid.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        let path = dir.join(format!("{stamp}-{safe}.md"));
        let tmp = dir.join(format!(".{safe}.md.tmp"));
        let err = |source| RecordsError::Report { path: path.clone(), source };
        let mut f = File::create(&tmp).map_err(err)?;
        f.write_all(report_markdown(inc).as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)?;
        Ok(Some(path))
    }
}

/// Uuids of the last completed incidents in an audit file (reads at most its
/// last MiB): seeds the protocol's dedup window after a restart. Decision
/// lines without their incident line (a crash while acting) are left out, so
/// the replayed alert is handled again.
pub fn recent_uuids(path: &Path, max: usize) -> Vec<String> {
    let Ok(mut f) = File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(1 << 20);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut buf = String::new();
    if f.read_to_string(&mut buf).is_err() {
        return Vec::new();
    }
    let lines: Vec<&str> = buf.lines().skip(usize::from(start > 0)).collect();
    lines
        .iter()
        .rev()
        .take(max)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["record"] == "incident")
        .filter_map(|v| v["uuid"].as_str().map(str::to_owned))
        .collect()
}

/// Inline code that no content can break out of.
fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    format!("{fence} {s} {fence}")
}

/// A fenced block that no content can close.
fn block(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{s}\n{fence}\n")
}

pub fn report_markdown(inc: &Incident) -> String {
    use std::fmt::Write as _;
    let a = &inc.alert;
    let d = &inc.decision;
    let mut m = String::new();
    let _ = writeln!(m, "# Incident {}\n", inc.uuid);
    let _ = writeln!(m, "## Summary\n");
    let _ = writeln!(m, "- Rule: {} ({})", code(&a.rule), a.priority);
    let _ = writeln!(m, "- Event time: {} — received {}", code(&a.time), inc.received_at);
    let _ = writeln!(
        m,
        "- Decision: **{}** (source `{}`, classification `{}`{})",
        d.action,
        d.source.as_str(),
        d.classification.as_str(),
        d.confidence.map(|c| format!(", confidence {c}%")).unwrap_or_default()
    );
    if d.dry_run {
        let _ = writeln!(m, "- DRY RUN: nothing was executed");
    }
    if let Some(an) = inc.llm.as_ref().and_then(|l| l.analysis.as_ref()) {
        let _ = writeln!(m, "\nAnalysis (LLM, untrusted):\n\n{}", block(&an.summary));
    }
    let _ = writeln!(m, "## Pod\n");
    match alert::target_pod(a) {
        Some((ns, pod)) => {
            let _ = writeln!(m, "- Namespace / pod: {} / {}", code(&ns), code(&pod));
        }
        None => {
            let _ = writeln!(m, "- No pod: host process on {}", code(&a.hostname));
        }
    }
    for k in ["container.id", "container.name", "container.image.repository", "k8s.pod.labels"] {
        if let Some(v) = alert::field(a, k) {
            let _ = writeln!(m, "- {k}: {}", code(&v));
        }
    }
    let _ = writeln!(m, "- Lookup: {}", inc.pod_lookup);
    if let Some(p) = &inc.pod {
        let _ = writeln!(
            m,
            "- Owners: {}",
            if p.owner_kinds.is_empty() { "none".into() } else { p.owner_kinds.join(", ") }
        );
    }
    let _ = writeln!(m, "\n## Process lineage\n");
    let lin = alert::lineage(a);
    if lin.is_empty() {
        let _ = writeln!(m, "(no process fields)");
    }
    for (k, v) in lin {
        let _ = writeln!(m, "- {k}: {}", code(&v));
    }
    if let Some(c) = alert::field(a, "proc.cmdline") {
        let _ = writeln!(m, "\nCommand line:\n\n{}", block(&c));
    }
    let _ = writeln!(m, "## MITRE ATT&CK (from the rule's tags)\n");
    let _ = writeln!(
        m,
        "- Techniques: {}",
        if inc.mitre.techniques.is_empty() { "none".into() } else { inc.mitre.techniques.join(", ") }
    );
    let _ = writeln!(
        m,
        "- Tactics: {}",
        if inc.mitre.tactics.is_empty() { "none".into() } else { inc.mitre.tactics.join(", ") }
    );
    let _ = writeln!(m, "\n## Evidence\n");
    let _ = writeln!(m, "Alert output:\n\n{}", block(&a.output));
    for (k, v) in &a.output_fields {
        let _ = writeln!(m, "- {k}: {}", code(&v.to_text()));
    }
    if let Some(an) = inc.llm.as_ref().and_then(|l| l.analysis.as_ref()) {
        let _ = writeln!(m, "\nLLM evidence (untrusted):\n");
        for e in &an.evidence {
            let _ = writeln!(m, "- {}", code(e));
        }
        let _ = writeln!(m, "- benign explanation: {}", code(&an.benign_explanation));
    }
    let _ = writeln!(m, "\n## Decision and rationale\n");
    let _ = writeln!(
        m,
        "- Policy verdict: `{}` by {}{}",
        inc.policy.action,
        inc.policy.rule.as_deref().map_or_else(|| "the default".to_owned(), code),
        inc.policy.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    );
    if let Some(l) = &inc.llm {
        match (&l.proposal, &l.proposal_error) {
            (Some(p), _) => {
                let _ = writeln!(
                    m,
                    "- LLM proposal: `{}` / `{}` at {}%: {}",
                    p.action,
                    p.classification.as_str(),
                    p.confidence,
                    code(&p.rationale)
                );
            }
            (None, Some(e)) => {
                let _ = writeln!(m, "- LLM: no usable proposal ({})", code(e));
            }
            _ => {}
        }
    }
    let _ = writeln!(m, "- Final: **{}** from `{}`", d.action, d.source.as_str());
    let _ = writeln!(m, "\nReason:\n\n{}", block(&d.reason));
    let _ = writeln!(m, "## Actions and results\n");
    let _ = writeln!(m, "| step | result | attempts | ms | detail |\n|---|---|---|---|---|");
    for s in &inc.actions {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} |",
            s.step,
            s.result,
            s.attempts,
            s.elapsed_ms,
            code(&s.detail).replace('|', "\\|")
        );
    }
    let t = &inc.timings;
    let _ = writeln!(m, "\n## Timings\n\n- event → received: {:.3} s\n- LLM: {} ms\n- MTTA (event → decision recorded): {:.3} s\n- MTTR (event → response done): {:.3} s",
        t.event_to_received_s, t.llm_ms, t.mtta_s, t.mttr_s);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::{
        alert::test_alerts::alert,
        guard::Source,
        model::{Action, Classification},
        policy::Parameters,
    };

    pub(crate) fn incident(a: Alert) -> Incident {
        let verdict = Verdict {
            rule: Some("terminal-shell".into()),
            description: None,
            action: Action::QuarantinePod,
            classification: Classification::TruePositive,
            parameters: Parameters::default(),
            max_action: Action::QuarantinePod,
            min_action: Action::Escalate,
        };
        Incident {
            record: "incident",
            uuid: a.uuid.to_string(),
            worker: "w".into(),
            received_at: "2026-11-23T12:00:01Z".into(),
            mitre: Mitre { techniques: alert::mitre_techniques(&a), tactics: alert::mitre_tactics(&a) },
            alert: a,
            pod_lookup: "found".into(),
            pod: None,
            policy: verdict,
            llm: None,
            decision: Decision {
                action: Action::QuarantinePod,
                classification: Classification::TruePositive,
                confidence: None,
                source: Source::Policy,
                reason: "policy rule".into(),
                policy_rule: Some("terminal-shell".into()),
                parameters: Parameters::default(),
                dry_run: false,
            },
            actions: vec![],
            timings: Timings::default(),
            report: None,
        }
    }

    #[test]
    fn audit_lines_are_appended_and_reports_resist_markdown_injection() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Records::open(&dir.path().join("a/audit.jsonl"), Some(&dir.path().join("reports"))).unwrap();
        let mut a = alert("Terminal shell in container", "Notice", "shop", "web", &["T1059", "mitre_execution"]);
        a.output_fields
            .insert("proc.cmdline".into(), lanner_rules::FieldValue::Str("sh -c '```\n# Decision: ignore'".into()));
        let i1 = incident(a);
        let i2 = incident(alert("x", "Warning", "shop", "web", &[]));
        rec.append(&i1).unwrap();
        rec.append_value(&serde_json::json!({"record": "decision", "uuid": "half-done"})).unwrap();
        rec.append(&i2).unwrap();
        let text = std::fs::read_to_string(rec.audit_path()).unwrap();
        assert_eq!(text.lines().count(), 3);
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["decision"]["source"], "policy");
        assert_eq!(v["mitre"]["techniques"][0], "T1059");
        assert_eq!(recent_uuids(rec.audit_path(), 10), vec![i2.uuid.clone(), i1.uuid.clone()]);
        let p = rec.write_report(&i1).unwrap().unwrap();
        let md = std::fs::read_to_string(p).unwrap();
        assert!(
            md.contains("## Process lineage") && md.contains("T1059") && md.contains("Decision: **quarantine_pod**"),
            "{md}"
        );
        // The injected heading stays inside a fence longer than any backtick run in it.
        assert!(md.contains("````text\nsh -c '```\n# Decision: ignore'\n````"), "{md}");
    }
}
