//! One incident end to end: claim (lease) → dedup window → pod lookup →
//! policy verdict → LLM (analysis + proposal) → guarded decision → decision
//! line fsynced (MTTA) → actions, Event, escalation of failures (MTTR) →
//! report + incident line fsynced → `Ok` (the protocol acks after that).
//!
//! [`Worker::handle`] is the protocol handler; [`Embedded`] runs the same
//! worker in-process next to the agent (single node, no socket).
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Instant, SystemTime},
};

use serde_json::json;
use tokio::sync::mpsc;

use super::{
    actions::{post_webhook, step, KubeActions, Retry, StepResult, Webhook},
    alert::{self, Alert},
    grounding::{self, Bank},
    guard::{Decision, Guard},
    lease::{Claim, Leases},
    llm::{LlmClient, LlmOutcome},
    metrics::{ClassLabels, DecisionLabels, TriageMetrics},
    model::{Action, PodLookup},
    policy::{LlmMode, Policy},
    records::{Incident, LlmRecord, Mitre, Records, RecordsError, Timings},
};

/// Everything a worker is made of (built by `mod.rs` from the settings).
pub struct Parts {
    pub policy: Policy,
    pub llm: Option<LlmClient>,
    pub kube: Option<KubeActions>,
    pub leases: Option<Leases>,
    pub webhooks: BTreeMap<String, Webhook>,
    pub retry: Retry,
    pub default_grace: u32,
    pub records: Records,
    pub metrics: Arc<TriageMetrics>,
    pub identity: String,
    pub dry_run: bool,
}

pub struct Worker {
    policy: Policy,
    guard: Guard,
    llm: Option<LlmClient>,
    kube: Option<KubeActions>,
    leases: Option<Leases>,
    webhooks: BTreeMap<String, Webhook>,
    http: reqwest::Client,
    retry: Retry,
    default_grace: u32,
    records: Arc<Records>,
    metrics: Arc<TriageMetrics>,
    identity: String,
    dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("alert {uuid} is being handled by replica {holder}: not acked, the agent resends it")]
    HeldElsewhere { uuid: String, holder: String },
    #[error(transparent)]
    Records(#[from] RecordsError),
    #[error("records task: {0}")]
    Join(String),
}

/// What [`Worker::handle`] did (inspected by tests; the server only needs Ok).
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub enum Handled {
    Incident(Box<Incident>),
    /// Another replica (or this one, before a restart) already handled it.
    AlreadyDone {
        holder: String,
    },
}

impl Worker {
    pub fn new(p: Parts) -> Worker {
        Worker {
            guard: Guard::new(p.policy.guard.clone()),
            policy: p.policy,
            llm: p.llm,
            kube: p.kube,
            leases: p.leases,
            webhooks: p.webhooks,
            http: reqwest::Client::builder().timeout(p.retry.timeout).build().unwrap_or_default(),
            retry: p.retry,
            default_grace: p.default_grace,
            records: Arc::new(p.records),
            metrics: p.metrics,
            identity: p.identity,
            dry_run: p.dry_run,
        }
    }

    #[cfg_attr(not(test), allow(dead_code))] // used by tests and the eval/diagnostic paths
    pub fn metrics(&self) -> &Arc<TriageMetrics> {
        &self.metrics
    }

    pub fn leases(&self) -> Option<&Leases> {
        self.leases.as_ref()
    }

    pub async fn handle(&self, a: &Alert) -> Result<Handled, HandleError> {
        let received = SystemTime::now();
        let t0 = Instant::now();
        let uuid = a.uuid.to_string();
        if let Some(l) = &self.leases {
            match l.claim(&uuid).await {
                Ok(Claim::Acquired) => {}
                Ok(Claim::Done { holder }) => return Ok(Handled::AlreadyDone { holder }),
                Ok(Claim::HeldElsewhere { holder }) => return Err(HandleError::HeldElsewhere { uuid, holder }),
                // Coordination is best effort: a lease error must not stop triage.
                Err(e) => {
                    tracing::warn!(%uuid, "triage lease unavailable, handling without it: {e}")
                }
            }
        }
        let duplicate_of = self.guard.duplicate_of(a, t0);
        let target = alert::target_pod(a);
        let pod = match (&target, &self.kube) {
            (None, _) => None,
            (Some((ns, name)), Some(k)) => Some(k.pod(ns, name).await),
            (Some(_), None) => Some(PodLookup::Unknown("no cluster access (kube disabled)".into())),
        };
        let unknown = PodLookup::Unknown("the alert names no pod".into());
        let pod_ref = pod.as_ref().unwrap_or(&unknown);
        let verdict = self.policy.evaluate(a, pod_ref.labels());

        let t_llm = Instant::now();
        let mut choices = None;
        let outcome: Option<LlmOutcome> = match (&self.llm, self.policy.llm_mode, &duplicate_of) {
            (Some(c), LlmMode::Advise | LlmMode::Propose, None) => {
                let ask = grounding::ask(
                    &self.policy,
                    &self.guard,
                    &verdict,
                    a,
                    pod_ref,
                    Bank::embedded(),
                    c.settings().shots,
                    None,
                );
                let o = c.triage(&ask).await;
                choices = Some(ask.choices);
                Some(o)
            }
            _ => None,
        };
        let llm_ms = t_llm.elapsed().as_millis() as u64;
        let why_none = match (&self.llm, self.policy.llm_mode, &duplicate_of) {
            (_, LlmMode::Off, _) => "llm_mode off".to_owned(),
            (_, _, Some(_)) => "duplicate: not asked".to_owned(),
            (None, _, _) => "no LLM configured".to_owned(),
            _ => String::new(),
        };
        let proposal = match &outcome {
            Some(o) => o.proposal.as_ref().map_err(|e| format!("{}: {e}", e.reason())),
            None => Err(why_none),
        };
        let decision = self.guard.decide(
            &self.policy,
            &verdict,
            proposal.as_ref().copied().map_err(String::as_str),
            duplicate_of.as_deref(),
            a,
            pod_ref,
            self.dry_run,
            Instant::now(),
        );
        let decision_ms = t0.elapsed().as_millis() as u64;

        // Write-ahead decision line: the decision is durable before anything acts.
        let line = json!({"record": "decision", "uuid": uuid, "worker": self.identity, "rule": a.rule,
            "pod": target.as_ref().map(|(n, p)| format!("{n}/{p}")), "decision": decision});
        self.blocking_append(line).await?;
        let mtta = alert::seconds_since_event(a, SystemTime::now());
        self.metrics.mtta.observe(mtta);

        let t_act = Instant::now();
        let facts = match pod_ref {
            PodLookup::Found(f) => Some(f),
            _ => None,
        };
        let summary = outcome.as_ref().and_then(|o| o.analysis.as_ref().ok()).map(|an| an.summary.clone());
        let steps = self.execute(a, &decision, facts.and_then(|f| f.uid.as_deref()), summary.as_deref()).await;
        let actions_ms = t_act.elapsed().as_millis() as u64;
        let acted = !decision.dry_run && decision.action != Action::Ignore;
        let mttr = alert::seconds_since_event(a, SystemTime::now());
        if acted {
            self.metrics.mttr.observe(mttr);
        }
        for s in &steps {
            self.metrics.action(s.step, s.result);
        }
        self.metrics
            .decisions
            .get_or_create(&DecisionLabels { action: decision.action.as_str(), source: decision.source.as_str() })
            .inc();
        self.metrics.incidents.get_or_create(&ClassLabels { classification: decision.classification.as_str() }).inc();

        let mut inc = Incident {
            record: "incident",
            uuid: uuid.clone(),
            worker: self.identity.clone(),
            received_at: k8s_openapi::jiff::Timestamp::try_from(received).map(|t| t.to_string()).unwrap_or_default(),
            mitre: Mitre { techniques: alert::mitre_techniques(a), tactics: alert::mitre_tactics(a) },
            alert: a.clone(),
            pod_lookup: match &pod {
                None => "no pod".into(),
                Some(PodLookup::Found(_)) => "found".into(),
                Some(PodLookup::NotFound) => "not_found".into(),
                Some(PodLookup::Unknown(w)) => format!("unknown: {w}"),
            },
            pod: facts.cloned(),
            policy: verdict,
            llm: outcome.map(|o| LlmRecord {
                model: o.model,
                analysis_error: o.analysis.as_ref().err().map(|e| format!("{}: {e}", e.reason())),
                analysis: o.analysis.ok(),
                proposal_error: o.proposal.as_ref().err().map(|e| format!("{}: {e}", e.reason())),
                proposal: o.proposal.ok(),
                elapsed_ms: o.elapsed.as_millis() as u64,
                calls: o.calls,
                completion_tokens: o.completion_tokens,
                choices,
            }),
            decision,
            actions: steps,
            timings: Timings {
                event_to_received_s: alert::seconds_since_event(a, received),
                llm_ms,
                decision_ms,
                actions_ms,
                mtta_s: mtta,
                mttr_s: if acted { mttr } else { 0.0 },
            },
            report: None,
        };
        let records = self.records.clone();
        let inc = tokio::task::spawn_blocking(move || -> Result<Incident, RecordsError> {
            inc.report = records.write_report(&inc)?.map(|p| p.display().to_string());
            records.append(&inc)?;
            Ok(inc)
        })
        .await
        .map_err(|e| HandleError::Join(e.to_string()))??;
        if let Some(l) = &self.leases {
            if let Err(e) = l.complete(&uuid, inc.decision.action.as_str()).await {
                tracing::warn!(%uuid, "could not mark the triage lease done: {e}");
            }
        }
        tracing::info!(%uuid, rule = %a.rule, action = inc.decision.action.as_str(), source = inc.decision.source.as_str(),
            reason = %inc.decision.reason, "incident triaged");
        Ok(Handled::Incident(Box::new(inc)))
    }

    async fn blocking_append(&self, line: serde_json::Value) -> Result<(), HandleError> {
        let records = self.records.clone();
        tokio::task::spawn_blocking(move || records.append_value(&line))
            .await
            .map_err(|e| HandleError::Join(e.to_string()))??;
        Ok(())
    }

    /// Run the decided action, then the Event; a failed action is escalated.
    async fn execute(&self, a: &Alert, d: &Decision, uid: Option<&str>, summary: Option<&str>) -> Vec<StepResult> {
        let now = Instant::now();
        if d.dry_run {
            return vec![step(d.action.as_str(), "dry_run", format!("dry run: {} not executed", d.action), 0, now)];
        }
        let target = alert::target_pod(a);
        let uuid = a.uuid.to_string();
        let mut steps = Vec::new();
        match (d.action, &target, &self.kube) {
            (Action::Ignore, _, _) => steps.push(step("ignore", "success", "no action".into(), 0, now)),
            (Action::Escalate, _, _) => steps.push(self.escalate(a, d, summary, None).await),
            (Action::QuarantinePod, Some((ns, name)), Some(k)) => {
                let rule = d.policy_rule.as_deref().unwrap_or(&a.rule);
                steps.extend(k.quarantine_pod(ns, name, &uuid, rule, &d.parameters.labels).await)
            }
            (Action::DeletePod, Some((ns, name)), Some(k)) => {
                let grace = d.parameters.grace_period_seconds.unwrap_or(self.default_grace);
                steps.push(k.delete_pod(ns, name, uid, grace).await)
            }
            (act, _, _) => {
                steps.push(step(act.as_str(), "failed", "no cluster access or no target pod".into(), 0, now))
            }
        }
        let failed: Vec<String> = steps.iter().filter(|s| s.result == "failed").map(|s| s.detail.clone()).collect();
        if !failed.is_empty() && d.action != Action::Escalate {
            steps.push(self.escalate(a, d, summary, Some(&failed.join("; "))).await);
        }
        if let (Some(k), Some((ns, name))) = (&self.kube, &target) {
            let (reason, act) = match (d.action, failed.is_empty()) {
                (_, false) => ("LannerActionFailed", "Respond"),
                (Action::Ignore, _) => ("LannerIgnored", "Ignore"),
                (Action::Escalate, _) => ("LannerEscalated", "Escalate"),
                (Action::QuarantinePod, _) => ("LannerQuarantined", "Quarantine"),
                (Action::DeletePod, _) => ("LannerDeletedPod", "Delete"),
            };
            let note = format!(
                "Lanner triage: {} by {} for alert {uuid} (rule {:?}, policy rule {:?}): {}",
                d.action,
                d.source.as_str(),
                a.rule,
                d.policy_rule.as_deref().unwrap_or("default"),
                d.reason
            );
            steps.push(k.event(ns, name, uid, &uuid, d.action != Action::Ignore, reason, act, &note).await);
        }
        steps
    }

    async fn escalate(&self, a: &Alert, d: &Decision, summary: Option<&str>, failure: Option<&str>) -> StepResult {
        let name = d.parameters.webhook.as_deref().unwrap_or("default");
        let Some(hook) = self.webhooks.get(name) else {
            let (result, detail) = if d.parameters.webhook.is_some() {
                ("failed", format!("webhook {name:?} is not configured"))
            } else {
                (
                    "recorded",
                    "no webhook configured: escalated through the audit log, the report and a Kubernetes Event"
                        .to_owned(),
                )
            };
            return step("escalate", result, detail, 0, Instant::now());
        };
        let pod = alert::target_pod(a).map(|(n, p)| format!("{n}/{p}"));
        let incident = json!({
            "uuid": a.uuid.to_string(), "rule": a.rule, "priority": a.priority.as_str(), "time": a.time,
            "hostname": a.hostname, "pod": pod, "tags": a.tags,
            "mitre": {"techniques": alert::mitre_techniques(a), "tactics": alert::mitre_tactics(a)},
            "decision": {"action": d.action, "source": d.source.as_str(), "classification": d.classification, "reason": d.reason},
            "summary": summary, "failure": failure, "worker": self.identity,
        });
        let text = format!(
            "[Lanner] {} {} on {}: {} ({}){}: {}",
            a.priority.as_str(),
            a.rule,
            pod.as_deref().unwrap_or(&a.hostname),
            if failure.is_some() { "response FAILED, escalated" } else { d.action.as_str() },
            d.source.as_str(),
            failure.map(|f| format!(" [{f}]")).unwrap_or_default(),
            d.reason
        );
        post_webhook(&self.http, &self.retry, hook, &incident, &text).await
    }
}

/// The worker in-process next to the agent: `submit` never blocks the event
/// path (a full queue drops the alert and says so); incidents are handled
/// one at a time in arrival order.
pub struct Embedded {
    tx: mpsc::Sender<Arc<Alert>>,
    task: tokio::task::JoinHandle<()>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Embedded {
    /// Start on the current tokio runtime.
    pub fn start(worker: Arc<Worker>, queue: usize) -> Embedded {
        let (tx, mut rx) = mpsc::channel::<Arc<Alert>>(queue.max(1));
        let task = tokio::spawn(async move {
            while let Some(a) = rx.recv().await {
                if let Err(e) = worker.handle(&a).await {
                    tracing::error!(uuid = %a.uuid, "embedded triage failed: {e}");
                }
            }
        });
        Embedded { tx, task, dropped: Arc::default() }
    }

    /// Queue an alert; `false` when the queue is full or stopped (counted).
    pub fn submit(&self, a: Arc<Alert>) -> bool {
        match self.tx.try_send(a) {
            Ok(()) => true,
            Err(e) => {
                let n = self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let why = if matches!(e, mpsc::error::TrySendError::Full(_)) { "queue full" } else { "stopped" };
                tracing::warn!(dropped_total = n, "embedded triage {why}: alert not triaged");
                false
            }
        }
    }

    #[cfg_attr(not(test), allow(dead_code))] // used by tests and the eval/diagnostic paths
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Finish the queued alerts, then stop.
    pub async fn shutdown(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}
