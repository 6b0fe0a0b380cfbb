//! The worker's own metrics (`lanner_triage_*` plus the protocol server's
//! `lanner_protocol_*`) and a small HTTP endpoint for them: `/metrics`
//! (OpenMetrics text, scraped; a long-running worker is not a Pushgateway
//! job), `/healthz` and `/readyz`. MTTA and MTTR are measured from the
//! alert's own `time` (the kernel event), not from its arrival.
use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::{Registry, Unit},
};

use crate::metrics::ProtocolMetrics;

/// Seconds, event → decision / action: 100 ms … 10 min.
pub const RESPONSE_BUCKETS: [f64; 13] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0];
/// Seconds per LLM call: 50 ms … 60 s.
pub const LLM_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    pub classification: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub action: &'static str,
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Debug)]
pub struct TriageMetrics {
    registry: Registry,
    /// `lanner_triage_mtta_seconds`: event time → decision recorded (ack).
    pub mtta: Histogram,
    /// `lanner_triage_mttr_seconds`: event time → response action completed.
    pub mttr: Histogram,
    pub incidents: Family<ClassLabels, Counter>,
    pub decisions: Family<DecisionLabels, Counter>,
    pub llm_latency: Histogram,
    pub llm_failures: Family<ReasonLabels, Counter>,
    pub actions: Family<ActionLabels, Counter>,
    pub protocol: ProtocolMetrics,
}

impl Default for TriageMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl TriageMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lanner");
        let mtta = Histogram::new(RESPONSE_BUCKETS);
        let mttr = Histogram::new(RESPONSE_BUCKETS);
        let llm_latency = Histogram::new(LLM_BUCKETS);
        let m = TriageMetrics {
            mtta: mtta.clone(),
            mttr: mttr.clone(),
            incidents: Family::default(),
            decisions: Family::default(),
            llm_latency: llm_latency.clone(),
            llm_failures: Family::default(),
            actions: Family::default(),
            protocol: ProtocolMetrics::register(&mut registry),
            registry: Registry::default(),
        };
        registry.register_with_unit(
            "triage_mtta",
            "Mean time to acknowledge: alert event time to the decision durably recorded",
            Unit::Seconds,
            mtta,
        );
        registry.register_with_unit(
            "triage_mttr",
            "Mean time to respond: alert event time to the response action completed",
            Unit::Seconds,
            mttr,
        );
        registry.register("triage_incidents", "Incidents triaged, by final classification", m.incidents.clone());
        registry.register(
            "triage_decisions",
            "Final decisions, by action and source (llm, policy, guard-override)",
            m.decisions.clone(),
        );
        registry.register_with_unit("triage_llm_latency", "Latency of one LLM call", Unit::Seconds, llm_latency);
        registry.register(
            "triage_llm_failures",
            "LLM calls that gave no usable answer (handed to the policy fallback), by reason",
            m.llm_failures.clone(),
        );
        registry.register("triage_actions", "Response actions executed, by action and result", m.actions.clone());
        TriageMetrics { registry, ..m }
    }

    pub fn llm_failure(&self, reason: &'static str) {
        self.llm_failures.get_or_create(&ReasonLabels { reason }).inc();
    }

    pub fn action(&self, action: &'static str, result: &'static str) {
        self.actions.get_or_create(&ActionLabels { action, result }).inc();
    }

    /// OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsServeError {
    #[error("binding the triage metrics endpoint on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("serving the triage metrics endpoint: {0}")]
    Serve(std::io::Error),
}

/// A bound metrics endpoint (bind early: a port clash fails the start).
pub struct MetricsEndpoint {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl MetricsEndpoint {
    pub async fn bind(addr: SocketAddr) -> Result<Self, MetricsServeError> {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| MetricsServeError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| MetricsServeError::Bind { addr, source })?;
        Ok(Self { listener, addr })
    }

    #[cfg_attr(not(test), allow(dead_code))] // used by tests and the eval/diagnostic paths
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn serve<F: Future<Output = ()> + Send + 'static>(
        self,
        m: Arc<TriageMetrics>,
        shutdown: F,
    ) -> Result<(), MetricsServeError> {
        tracing::info!(addr = %self.addr, "triage metrics endpoint listening (/metrics, /healthz, /readyz)");
        let app = Router::new()
            .route("/metrics", get(scrape))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(|| async { "ready\n" }))
            .with_state(m);
        axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await.map_err(MetricsServeError::Serve)
    }
}

async fn scrape(State(m): State<Arc<TriageMetrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exported_under_its_documented_name() {
        let m = TriageMetrics::new();
        m.mtta.observe(1.0);
        m.mttr.observe(2.0);
        m.incidents.get_or_create(&ClassLabels { classification: "true_positive" }).inc();
        m.decisions.get_or_create(&DecisionLabels { action: "quarantine_pod", source: "policy" }).inc();
        m.llm_latency.observe(0.3);
        m.llm_failure("timeout");
        m.action("quarantine_pod", "success");
        m.protocol.server_alerts.get_or_create(&crate::metrics::ResultLabels { result: "handled" }).inc();
        let text = m.encode();
        for want in [
            "lanner_triage_mtta_seconds_bucket",
            "lanner_triage_mttr_seconds_count 1",
            "lanner_triage_incidents_total{classification=\"true_positive\"} 1",
            "lanner_triage_decisions_total{action=\"quarantine_pod\",source=\"policy\"} 1",
            "lanner_triage_llm_latency_seconds_sum",
            "lanner_triage_llm_failures_total{reason=\"timeout\"} 1",
            "lanner_triage_actions_total{action=\"quarantine_pod\",result=\"success\"} 1",
            "lanner_protocol_server_alerts_total{result=\"handled\"} 1",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
    }
}
