//! Coordination across worker replicas: one coordination.k8s.io/v1 Lease per
//! alert, named from its uuid (`lanner-triage-<uuid>`) in the worker's own
//! namespace. The replica whose create succeeds handles the alert; the
//! others see it held (not acked: the agent resends, by then it is done) or
//! done (acked without acting). A lease whose holder stopped renewing past
//! `leaseDurationSeconds` is taken over (optimistic concurrency on its
//! resourceVersion), so a crashed replica never strands an alert. Completed
//! leases carry `lanner.io/triage-state: done` and are garbage-collected
//! after a retention period (the test apiserver, like any cluster without
//! owner references on them, keeps them otherwise).
use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    Api, Client,
};

use super::actions::{retry, CallError, Retry};

pub const STATE_ANNOTATION: &str = "lanner.io/triage-state";
pub const DECISION_ANNOTATION: &str = "lanner.io/triage-decision";
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "lanner-triage");

/// Result of trying to own an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This replica handles it.
    Acquired,
    /// Already handled (by any replica).
    Done { holder: String },
    /// Another live replica is handling it.
    HeldElsewhere { holder: String },
}

#[derive(Clone)]
pub struct Leases {
    api: Api<Lease>,
    identity: String,
    duration: Duration,
    retry: Retry,
}

pub fn lease_name(uuid: &str) -> String {
    let clean: String =
        uuid.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(200).collect();
    format!("lanner-triage-{clean}")
}

impl Leases {
    pub fn new(client: Client, namespace: &str, identity: impl Into<String>, duration: Duration, retry: Retry) -> Self {
        Leases { api: Api::namespaced(client, namespace), identity: identity.into(), duration, retry }
    }

    fn fresh(&self, name: &str, rv: Option<String>) -> Lease {
        let now = MicroTime(Timestamp::now());
        Lease {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                resource_version: rv,
                labels: Some(BTreeMap::from([(MANAGED_BY.0.into(), MANAGED_BY.1.into())])),
                annotations: Some(BTreeMap::from([(STATE_ANNOTATION.into(), "in-progress".into())])),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.duration.as_secs().max(1) as i32),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                ..Default::default()
            }),
        }
    }

    /// Try to own the alert `uuid`.
    pub async fn claim(&self, uuid: &str) -> Result<Claim, CallError> {
        let name = lease_name(uuid);
        let lease = self.fresh(&name, None);
        let (r, _) = retry(&self.retry, "create lease", || async {
            match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(CallError::from_kube(e)),
            }
        })
        .await;
        if r? {
            return Ok(Claim::Acquired);
        }
        let (cur, _) =
            retry(&self.retry, "get lease", || async { self.api.get(&name).await.map_err(CallError::from_kube) }).await;
        let cur = cur?;
        let holder = cur.spec.as_ref().and_then(|s| s.holder_identity.clone()).unwrap_or_default();
        let state =
            cur.metadata.annotations.as_ref().and_then(|a| a.get(STATE_ANNOTATION)).cloned().unwrap_or_default();
        if state == "done" {
            return Ok(Claim::Done { holder });
        }
        if holder == self.identity {
            return Ok(Claim::Acquired);
        }
        if !expired(&cur) {
            return Ok(Claim::HeldElsewhere { holder });
        }
        // Take over a stale lease; a concurrent taker makes this 409.
        let take = self.fresh(&name, cur.metadata.resource_version.clone());
        match self.api.replace(&name, &PostParams::default(), &take).await {
            Ok(_) => {
                tracing::warn!(lease = %name, previous = %holder, "took over an expired triage lease");
                Ok(Claim::Acquired)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Claim::HeldElsewhere { holder }),
            Err(e) => Err(CallError::from_kube(e)),
        }
    }

    /// Mark the alert handled (idempotent).
    pub async fn complete(&self, uuid: &str, action: &str) -> Result<(), CallError> {
        let name = lease_name(uuid);
        let patch = serde_json::json!({
            "metadata": {"annotations": {STATE_ANNOTATION: "done", DECISION_ANNOTATION: action}},
            "spec": {"renewTime": MicroTime(Timestamp::now())}
        });
        let (r, _) = retry(&self.retry, "complete lease", || async {
            self.api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
                .map_err(CallError::from_kube)
        })
        .await;
        r
    }

    /// Delete done or expired leases older than `retention`; returns how many.
    pub async fn collect_garbage(&self, retention: Duration) -> Result<usize, CallError> {
        let lp = ListParams::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
        let (list, _) =
            retry(&self.retry, "list leases", || async { self.api.list(&lp).await.map_err(CallError::from_kube) })
                .await;
        let now = Timestamp::now();
        let mut n = 0;
        for l in list?.items {
            let renewed = l.spec.as_ref().and_then(|s| s.renew_time.as_ref().or(s.acquire_time.as_ref())).map(|t| t.0);
            let old = renewed.is_none_or(|t| now.duration_since(t).as_secs() as u64 >= retention.as_secs());
            if old {
                if let Some(name) = &l.metadata.name {
                    match self.api.delete(name, &DeleteParams::default()).await {
                        Ok(_) => n += 1,
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => return Err(CallError::from_kube(e)),
                    }
                }
            }
        }
        Ok(n)
    }
}

fn expired(l: &Lease) -> bool {
    let Some(spec) = &l.spec else { return true };
    let Some(t) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let dur = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    Timestamp::now().duration_since(t.0).as_secs() > dur
}
