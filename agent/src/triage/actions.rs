//! Response actions against the cluster (kube-rs) and the escalation
//! webhook.
//!
//! * `delete_pod`: delete with the rule's grace period, with a UID
//!   precondition so a recreated pod of the same name is never hit.
//! * `quarantine_pod`: first ensure the deny-all (ingress + egress)
//!   NetworkPolicy `lanner-quarantine` selecting `lanner.io/quarantine=true`
//!   exists in the namespace, then merge-patch that label (and the alert uuid
//!   annotation) onto the pod. Idempotent: replays change nothing.
//! * `escalate`: POST the incident to the configured webhook (JSON, or a
//!   Slack-compatible `{"text": …}`).
//! * Every action leaves an events.k8s.io/v1 Event on the pod.
//!
//! API calls are retried with exponential backoff on 5xx, 429 and transport
//! errors or timeouts, never on other 4xx (403 and 404 are answers). A failed
//! quarantine or delete is escalated, never dropped.
use std::{collections::BTreeMap, future::Future, time::Duration};

use k8s_openapi::{
    api::{
        core::v1::{ObjectReference, Pod},
        events::v1::Event as K8sEvent,
        networking::v1::{NetworkPolicy, NetworkPolicySpec},
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, MicroTime, ObjectMeta},
};
use kube::{
    api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions},
    Api, Client,
};
use serde::Serialize;

use super::model::{PodFacts, PodLookup, QUARANTINE_ALERT_ANNOTATION, QUARANTINE_LABEL, QUARANTINE_RULE_ANNOTATION};

pub const NETPOL_NAME: &str = "lanner-quarantine";
pub const REPORTING_CONTROLLER: &str = "lanner.io/triage";

/// Retry schedule of one API or webhook call.
#[derive(Debug, Clone)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
    /// Per attempt.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            base: Duration::from_millis(200),
            max: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a call failed, and whether a retry could help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct CallError {
    /// HTTP status, when the server answered.
    pub code: Option<u16>,
    pub detail: String,
    pub retryable: bool,
}

impl CallError {
    pub(crate) fn from_kube(e: kube::Error) -> Self {
        match &e {
            kube::Error::Api(s) => CallError {
                code: Some(s.code),
                retryable: s.code >= 500 || s.code == 429,
                detail: format!("{} ({})", s.message, s.code),
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::HttpError(_) => {
                CallError { code: None, retryable: true, detail: e.to_string() }
            }
            _ => CallError { code: None, retryable: false, detail: e.to_string() },
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code == Some(404)
    }
}

/// Run `f` with retries; returns the result and the attempts made.
pub async fn retry<T, F, Fut>(r: &Retry, what: &str, mut f: F) -> (Result<T, CallError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut delay = r.base;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let res = match tokio::time::timeout(r.timeout, f()).await {
            Ok(res) => res,
            Err(_) => {
                Err(CallError { code: None, retryable: true, detail: format!("timed out after {:?}", r.timeout) })
            }
        };
        match res {
            Ok(v) => return (Ok(v), attempt),
            Err(e) if e.retryable && attempt < r.attempts => {
                tracing::warn!(what, attempt, "retrying in {delay:?}: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(r.max);
            }
            Err(e) => return (Err(e), attempt),
        }
    }
}

/// Outcome of one step, for the audit line and `lanner_triage_actions_total`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    /// `delete_pod`, `network_policy`, `label_pod`, `escalate`, `event`, `ignore`.
    pub step: &'static str,
    /// `success`, `failed`, `dry_run`, `skipped`.
    pub result: &'static str,
    pub detail: String,
    pub attempts: u32,
    pub elapsed_ms: u64,
}

/// Cluster actions of the worker.
#[derive(Clone)]
pub struct KubeActions {
    client: Client,
    retry: Retry,
    instance: String,
}

impl KubeActions {
    pub fn new(client: Client, retry: Retry, instance: impl Into<String>) -> Self {
        KubeActions { client, retry, instance: instance.into() }
    }

    /// Look the alert's pod up (guards need labels, owners, containers).
    pub async fn pod(&self, ns: &str, name: &str) -> PodLookup {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let (r, _) =
            retry(&self.retry, "get pod", || async { api.get(name).await.map_err(CallError::from_kube) }).await;
        match r {
            Ok(p) => PodLookup::Found(facts(&p)),
            Err(e) if e.is_not_found() => PodLookup::NotFound,
            Err(e) => PodLookup::Unknown(e.detail),
        }
    }

    pub async fn delete_pod(&self, ns: &str, name: &str, uid: Option<&str>, grace: u32) -> StepResult {
        let t = std::time::Instant::now();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(grace),
            preconditions: uid.map(|u| Preconditions { uid: Some(u.to_owned()), resource_version: None }),
            ..DeleteParams::default()
        };
        let (r, attempts) =
            retry(&self.retry, "delete pod", || async { api.delete(name, &dp).await.map_err(CallError::from_kube) })
                .await;
        let (result, detail) = match r {
            Ok(_) => ("success", format!("pod {ns}/{name} deleted (grace period {grace}s)")),
            Err(e) => ("failed", format!("deleting pod {ns}/{name}: {e}")),
        };
        step("delete_pod", result, detail, attempts, t)
    }

    /// NetworkPolicy first (so the label isolates at once), then the label.
    pub async fn quarantine_pod(
        &self,
        ns: &str,
        name: &str,
        uuid: &str,
        rule: &str,
        extra: &BTreeMap<String, String>,
    ) -> Vec<StepResult> {
        let mut out = vec![self.ensure_network_policy(ns).await];
        if out[0].result != "success" {
            out.push(step(
                "label_pod",
                "skipped",
                "not labelled: the quarantine NetworkPolicy is missing".into(),
                0,
                std::time::Instant::now(),
            ));
            return out;
        }
        let t = std::time::Instant::now();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let mut labels = serde_json::Map::new();
        for (k, v) in extra {
            labels.insert(k.clone(), v.clone().into());
        }
        labels.insert(QUARANTINE_LABEL.into(), "true".into());
        let patch = serde_json::json!({"metadata": {
            "labels": labels,
            "annotations": {QUARANTINE_ALERT_ANNOTATION: uuid, QUARANTINE_RULE_ANNOTATION: rule.chars().take(200).collect::<String>()}
        }});
        let pp = PatchParams::default();
        let (r, attempts) = retry(&self.retry, "label pod", || async {
            api.patch(name, &pp, &Patch::Merge(&patch)).await.map_err(CallError::from_kube)
        })
        .await;
        out.push(match r {
            Ok(_) => {
                step("label_pod", "success", format!("pod {ns}/{name} labelled {QUARANTINE_LABEL}=true"), attempts, t)
            }
            Err(e) => step("label_pod", "failed", format!("labelling pod {ns}/{name}: {e}"), attempts, t),
        });
        out
    }

    async fn ensure_network_policy(&self, ns: &str) -> StepResult {
        let t = std::time::Instant::now();
        let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), ns);
        let np = quarantine_policy(ns);
        let (r, attempts) = retry(&self.retry, "create network policy", || async {
            match api.create(&PostParams::default(), &np).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(CallError::from_kube(e)),
            }
        })
        .await;
        match r {
            Ok(true) => {
                step("network_policy", "success", format!("created NetworkPolicy {ns}/{NETPOL_NAME}"), attempts, t)
            }
            Ok(false) => step(
                "network_policy",
                "success",
                format!("NetworkPolicy {ns}/{NETPOL_NAME} already present"),
                attempts,
                t,
            ),
            Err(e) => {
                step("network_policy", "failed", format!("creating NetworkPolicy {ns}/{NETPOL_NAME}: {e}"), attempts, t)
            }
        }
    }

    /// An events.k8s.io/v1 Event on the pod. Its name is derived from the
    /// alert, so a replay finds it already recorded (409 = success).
    #[allow(clippy::too_many_arguments)]
    pub async fn event(
        &self,
        ns: &str,
        pod: &str,
        uid: Option<&str>,
        uuid: &str,
        warning: bool,
        reason: &str,
        action: &str,
        note: &str,
    ) -> StepResult {
        let t = std::time::Instant::now();
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), ns);
        let short: String = uuid.chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect();
        let name =
            format!("{}.lanner-{short}-{}", pod.chars().take(200).collect::<String>(), action.to_ascii_lowercase());
        let ev = K8sEvent {
            metadata: ObjectMeta { name: Some(name), namespace: Some(ns.to_owned()), ..Default::default() },
            event_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            action: Some(action.to_owned()),
            reason: Some(reason.to_owned()),
            note: Some(note.chars().take(1000).collect()),
            type_: Some(if warning { "Warning" } else { "Normal" }.to_owned()),
            reporting_controller: Some(REPORTING_CONTROLLER.to_owned()),
            reporting_instance: Some(self.instance.chars().take(128).collect()),
            regarding: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(pod.to_owned()),
                namespace: Some(ns.to_owned()),
                uid: uid.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (r, attempts) = retry(&self.retry, "create event", || async {
            match api.create(&PostParams::default(), &ev).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(CallError::from_kube(e)),
            }
        })
        .await;
        match r {
            Ok(()) => step("event", "success", format!("Event {reason} on pod {ns}/{pod}"), attempts, t),
            Err(e) => step("event", "failed", format!("Event on pod {ns}/{pod}: {e}"), attempts, t),
        }
    }
}

/// The deny-all quarantine NetworkPolicy of a namespace.
pub fn quarantine_policy(ns: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(NETPOL_NAME.into()),
            namespace: Some(ns.into()),
            labels: Some(BTreeMap::from([("app.kubernetes.io/managed-by".into(), "lanner-triage".into())])),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(QUARANTINE_LABEL.into(), "true".into())])),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: None,
            egress: None,
        }),
    }
}

/// Guard facts of a pod object.
pub fn facts(p: &Pod) -> PodFacts {
    let md = &p.metadata;
    PodFacts {
        uid: md.uid.clone(),
        labels: md.labels.clone().unwrap_or_default(),
        owner_kinds: md.owner_references.iter().flatten().map(|o| o.kind.clone()).collect(),
        mirror: md.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror")),
        container_ids: p
            .status
            .iter()
            .flat_map(|s| {
                s.container_statuses
                    .iter()
                    .flatten()
                    .chain(s.init_container_statuses.iter().flatten())
                    .chain(s.ephemeral_container_statuses.iter().flatten())
            })
            .filter_map(|c| c.container_id.as_deref())
            .map(|id| id.split_once("://").map_or(id, |(_, r)| r).to_owned())
            .collect(),
    }
}

pub fn step(
    step: &'static str,
    result: &'static str,
    detail: String,
    attempts: u32,
    started: std::time::Instant,
) -> StepResult {
    StepResult { step, result, detail, attempts, elapsed_ms: started.elapsed().as_millis() as u64 }
}

// ---- escalation webhook ---------------------------------------------------------------------

/// Body format of an escalation webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The incident as JSON.
    Json,
    /// `{"text": "…"}` (Slack, Mattermost, Rocket.Chat incoming webhooks).
    Slack,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub format: WebhookFormat,
}

/// POST the incident to a webhook, with retries on 5xx/429/transport errors.
pub async fn post_webhook(
    http: &reqwest::Client,
    r: &Retry,
    hook: &Webhook,
    incident: &serde_json::Value,
    text: &str,
) -> StepResult {
    let t = std::time::Instant::now();
    let body = match hook.format {
        WebhookFormat::Json => incident.clone(),
        WebhookFormat::Slack => serde_json::json!({ "text": text }),
    };
    let (res, attempts) = retry(r, "escalation webhook", || async {
        let resp = http.post(&hook.url).json(&body).send().await.map_err(|e| CallError {
            code: None,
            retryable: true,
            detail: e.to_string(),
        })?;
        let s = resp.status().as_u16();
        if resp.status().is_success() {
            Ok(s)
        } else {
            Err(CallError { code: Some(s), retryable: s >= 500 || s == 429, detail: format!("HTTP {s}") })
        }
    })
    .await;
    match res {
        Ok(s) => step("escalate", "success", format!("webhook answered {s}"), attempts, t),
        Err(e) => step("escalate", "failed", format!("webhook: {e}"), attempts, t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retry_stops_on_answers_and_retries_server_errors() {
        let r = Retry {
            attempts: 3,
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
            timeout: Duration::from_millis(200),
        };
        let mut n = 0;
        let (res, attempts) = retry(&r, "t", || {
            n += 1;
            async move { Err::<(), _>(CallError { code: Some(403), detail: "forbidden".into(), retryable: false }) }
        })
        .await;
        assert_eq!((res.unwrap_err().code, attempts, n), (Some(403), 1, 1), "403 is an answer: no retry");
        let mut n = 0;
        let (res, attempts) = retry(&r, "t", || {
            n += 1;
            let k = n;
            async move {
                if k < 3 {
                    Err(CallError { code: Some(503), detail: "busy".into(), retryable: true })
                } else {
                    Ok(k)
                }
            }
        })
        .await;
        assert_eq!((res.unwrap(), attempts), (3, 3));
        let (res, attempts) = retry(&r, "t", || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<(), CallError>(())
        })
        .await;
        assert!(res.unwrap_err().detail.contains("timed out"));
        assert_eq!(attempts, 3, "timeouts are retried");
    }

    #[test]
    fn quarantine_policy_denies_everything_for_the_label() {
        let np = quarantine_policy("shop");
        let spec = np.spec.unwrap();
        assert_eq!(spec.pod_selector.unwrap().match_labels.unwrap()[QUARANTINE_LABEL], "true");
        assert_eq!(spec.policy_types.unwrap(), vec!["Ingress", "Egress"]);
        assert!(spec.ingress.is_none() && spec.egress.is_none(), "no allow rules: deny all");
    }
}
