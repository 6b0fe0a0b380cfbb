//! The metrics endpoint: `GET /metrics` (OpenMetrics text), `GET /healthz`
//! (liveness: the event loop's heartbeat is fresh) and `GET /readyz`
//! (readiness: probes attached) for Kubernetes, on `--metrics-addr`.
//!
//! Port 9376 is Lanner's default (Falco uses 8765, Tetragon 2112, so the
//! three can run side by side during a migration).
use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

use super::Metrics;

pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9376";
/// `/healthz` fails once the heartbeat is older than this (the event loop is stuck).
pub const STALE_HEARTBEAT_SECS: u64 = 30;
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// CLI of the metrics endpoint (flatten into `RunArgs`).
#[derive(clap::Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Serve /metrics, /healthz and /readyz on this address; "off" disables.
    #[arg(long, env = "LANNER_METRICS_ADDR", default_value = DEFAULT_METRICS_ADDR)]
    pub metrics_addr: String,
}

impl MetricsArgs {
    /// The address to bind, or `None` when disabled.
    pub fn addr(&self) -> Result<Option<SocketAddr>, MetricsError> {
        if self.metrics_addr.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        self.metrics_addr
            .parse()
            .map(Some)
            .map_err(|e| MetricsError::BadAddr { addr: self.metrics_addr.clone(), detail: format!("{e}") })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("bad --metrics-addr {addr:?}: {detail} (want host:port or \"off\")")]
    BadAddr { addr: String, detail: String },
    #[error("binding the metrics endpoint on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("serving the metrics endpoint: {0}")]
    Serve(std::io::Error),
}

/// A bound (not yet serving) metrics endpoint: bind early so a port clash
/// fails the start instead of a background task.
pub struct MetricsServer {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl MetricsServer {
    pub async fn bind(addr: SocketAddr) -> Result<Self, MetricsError> {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| MetricsError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| MetricsError::Bind { addr, source })?;
        Ok(Self { listener, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until `shutdown` resolves.
    pub async fn serve<F>(self, metrics: Arc<Metrics>, shutdown: F) -> Result<(), MetricsError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tracing::info!(addr = %self.addr, "metrics endpoint listening (/metrics, /healthz, /readyz)");
        axum::serve(self.listener, router(metrics)).with_graceful_shutdown(shutdown).await.map_err(MetricsError::Serve)
    }
}

fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(metrics)
}

async fn scrape(State(m): State<Arc<Metrics>>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], m.encode()).into_response()
}

async fn healthz(State(m): State<Arc<Metrics>>) -> Response {
    match m.heartbeat_age_secs() {
        Some(age) if age > STALE_HEARTBEAT_SECS => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("event loop stalled for {age}s\n")).into_response()
        }
        _ => (StatusCode::OK, "ok\n").into_response(),
    }
}

async fn readyz(State(m): State<Arc<Metrics>>) -> Response {
    if m.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get_path(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, out)
    }

    #[tokio::test]
    async fn serves_metrics_health_and_readiness() {
        let m = Arc::new(Metrics::new());
        m.decode_errors.inc();
        let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(m.clone(), async move {
            let _ = rx.await;
        }));
        let (st, body) = get_path(addr, "/metrics").await;
        assert_eq!(st, 200);
        assert!(body.contains("application/openmetrics-text"), "{body}");
        assert!(body.contains("lanner_decode_errors_total 1"), "{body}");
        assert_eq!(get_path(addr, "/healthz").await.0, 200);
        assert_eq!(get_path(addr, "/readyz").await.0, 503);
        m.set_ready(true);
        assert_eq!(get_path(addr, "/readyz").await.0, 200);
        // A stale heartbeat fails liveness.
        m.heartbeat.store(1, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(get_path(addr, "/healthz").await.0, 503);
        assert_eq!(get_path(addr, "/nope").await.0, 404);
        tx.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn metrics_addr_parsing() {
        let a = MetricsArgs { metrics_addr: "off".into() };
        assert_eq!(a.addr().unwrap(), None);
        let a = MetricsArgs { metrics_addr: DEFAULT_METRICS_ADDR.into() };
        assert_eq!(a.addr().unwrap().unwrap().port(), 9376);
        let a = MetricsArgs { metrics_addr: "nope".into() };
        assert!(matches!(a.addr(), Err(MetricsError::BadAddr { .. })));
    }
}
