//! Webhook sink: POSTs each alert as JSON, falcosidekick-compatible (the body
//! is Falco's alert JSON, so `url: http://falcosidekick:2801/` works as Falco's
//! `http_output`). Retries with exponential backoff + jitter on connection
//! errors, timeouts, 5xx, 408 and 429; other statuses are not retried. An
//! alert that cannot be delivered is dropped and counted with the reason.
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use reqwest::{
    header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE},
    StatusCode, Url,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{backoff::Backoff, invalid, reason, AlertPayload, SinkError, WarnLimiter};
use crate::metrics::SinkMetrics;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "super::default_queue")]
    pub queue_capacity: usize,
    /// http:// or https:// endpoint.
    pub url: String,
    /// Timeout of one request (connect + response).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after the first attempt.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retry delay; doubles per retry (with jitter) up to `max_backoff_ms`.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Extra request headers (e.g. `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_timeout_ms() -> u64 {
    5000
}
fn default_retries() -> u32 {
    3
}
fn default_backoff_ms() -> u64 {
    200
}
fn default_max_backoff_ms() -> u64 {
    5000
}

impl WebhookConfig {
    pub fn build(&self, name: &str) -> Result<WebhookSink, SinkError> {
        let url = Url::parse(&self.url).map_err(|e| invalid(name, format!("url {:?}: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(name, format!("url {:?}: scheme must be http or https", self.url)));
        }
        if self.timeout_ms == 0 {
            return Err(invalid(name, "timeout_ms must be above 0"));
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in &self.headers {
            let k = HeaderName::try_from(k.as_str()).map_err(|e| invalid(name, format!("header {k:?}: {e}")))?;
            let mut v = HeaderValue::try_from(v.as_str()).map_err(|e| invalid(name, format!("header {k}: {e}")))?;
            v.set_sensitive(true);
            headers.insert(k, v);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(self.timeout_ms))
            .user_agent(concat!("lanner/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .build()
            .map_err(|source| SinkError::Http { sink: name.to_owned(), source })?;
        Ok(WebhookSink {
            client,
            url,
            retries: self.retries,
            backoff: Backoff::new(Duration::from_millis(self.backoff_ms), Duration::from_millis(self.max_backoff_ms)),
            retry_warn: WarnLimiter::new(Duration::from_secs(10)),
        })
    }
}

#[derive(Debug)]
pub struct WebhookSink {
    client: reqwest::Client,
    url: Url,
    retries: u32,
    backoff: Backoff,
    retry_warn: WarnLimiter,
}

/// Result of one delivery (all attempts).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Sent,
    Dropped(&'static str),
}

fn retryable(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT
}

impl WebhookSink {
    pub async fn run<A: AlertPayload>(mut self, mut rx: mpsc::Receiver<Arc<A>>, m: SinkMetrics) {
        let warn = WarnLimiter::new(Duration::from_secs(10));
        while let Some(a) = rx.recv().await {
            m.queue_depth.set(rx.len() as i64);
            let body = match serde_json::to_vec(&*a) {
                Ok(b) => b,
                Err(e) => {
                    m.dropped(reason::SERIALIZE).inc();
                    tracing::warn!(sink = %m.name, rule = a.rule(), "alert not serializable: {e}");
                    continue;
                }
            };
            match self.deliver(body, &m).await {
                Outcome::Sent => {
                    m.sent.inc();
                }
                Outcome::Dropped(r) => {
                    m.dropped(r).inc();
                    if let Some(s) = warn.hit() {
                        tracing::warn!(sink = %m.name, rule = a.rule(), reason = r, suppressed = s, "webhook: alert dropped");
                    }
                }
            }
        }
    }

    async fn deliver(&mut self, body: Vec<u8>, m: &SinkMetrics) -> Outcome {
        let body = bytes::Bytes::from(body);
        self.backoff.reset();
        let mut attempt = 0;
        loop {
            let res = self.client.post(self.url.clone()).body(body.clone()).send().await;
            let (why, retry) = match res {
                Ok(r) if r.status().is_success() => return Outcome::Sent,
                Ok(r) => (reason::HTTP_STATUS, retryable(r.status())),
                Err(e) => {
                    tracing::debug!(sink = %m.name, attempt, "webhook request failed: {e}");
                    (reason::HTTP_ERROR, true)
                }
            };
            if !retry || attempt >= self.retries {
                return Outcome::Dropped(why);
            }
            attempt += 1;
            let d = self.backoff.next_delay();
            if attempt == 1 && self.retry_warn.hit().is_some() {
                tracing::warn!(sink = %m.name, url = %self.url, "webhook delivery failing ({why}); retrying");
            }
            tokio::time::sleep(d).await;
        }
    }
}
