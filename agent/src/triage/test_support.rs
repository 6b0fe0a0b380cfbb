//! Test helpers shared by the triage tests: real-dependency discovery (fail
//! loudly unless `LANNER_SKIP_REAL=1`), a worker builder, and a recorded-
//! response HTTP double for faults a real model or webhook cannot be made to
//! show on demand (500s, hangs, malformed answers).
use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{
    actions::{KubeActions, Retry, Webhook},
    lease::Leases,
    llm::{LlmClient, LlmSettings},
    metrics::TriageMetrics,
    policy::Policy,
    records::Records,
    worker::{Parts, Worker},
};

/// `true` when a missing real dependency may skip the test.
pub fn skip_real_allowed(test: &str, what: &str) -> bool {
    if std::env::var("LANNER_SKIP_REAL").is_ok_and(|v| v == "1") {
        eprintln!("SKIP {test}: {what} (LANNER_SKIP_REAL=1)");
        return true;
    }
    panic!("{test}: {what}. Start it (see docs/triage.md) or set LANNER_SKIP_REAL=1 to skip real-dependency tests");
}

/// The local LLM server has one slot: real-model tests take turns.
pub static REAL_LLM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Base URL of the real local LLM (`xtask/llm/llm.sh up`), if it answers.
pub async fn real_llm(test: &str) -> Option<(String, String)> {
    let url = std::env::var("LANNER_LLM_URL").unwrap_or_else(|_| "http://127.0.0.1:8087/v1".into());
    let model = std::env::var("LANNER_LLM_MODEL").unwrap_or_else(|_| "SmolLM2-135M-Instruct".into());
    let ok = reqwest::Client::new()
        .get(format!("{}/models", url.trim_end_matches('/')))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if ok {
        return Some((url, model));
    }
    skip_real_allowed(test, &format!("no LLM answering at {url} (run: xtask/llm/llm.sh up)"));
    None
}

pub fn kube_dir() -> PathBuf {
    PathBuf::from(std::env::var("LANNER_KUBE_DIR").unwrap_or_else(|_| "/tmp/lanner-kube".into()))
}

/// A kube client from a kubeconfig of the test apiserver (`xtask/kube/kube.sh up`).
pub async fn kube_client(test: &str, kubeconfig: &str) -> Option<kube::Client> {
    let p = kube_dir().join(kubeconfig);
    if !p.exists() {
        skip_real_allowed(test, &format!("no {} (run: xtask/kube/kube.sh up)", p.display()));
        return None;
    }
    let kc = kube::config::Kubeconfig::read_from(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("kubeconfig");
    let c = kube::Client::try_from(cfg).expect("kube client");
    if c.apiserver_version().await.is_err() {
        skip_real_allowed(
            test,
            &format!("the API server of {} does not answer (run: xtask/kube/kube.sh up)", p.display()),
        );
        return None;
    }
    Some(c)
}

/// The prompt content the worker would build for `a` on a ReplicaSet pod.
pub fn ask_of(a: &super::alert::Alert, policy: &Policy) -> super::prompt::Ask {
    let pod = super::model::PodLookup::Found(super::model::PodFacts {
        owner_kinds: vec!["ReplicaSet".into()],
        ..Default::default()
    });
    let guard = super::guard::Guard::new(policy.guard.clone());
    let v = policy.evaluate(a, pod.labels());
    super::grounding::ask(policy, &guard, &v, a, &pod, super::grounding::Bank::embedded(), 3, None)
}

pub fn llm_settings(url: &str, model: &str, timeout: Duration) -> LlmSettings {
    LlmSettings {
        url: url.into(),
        model: model.into(),
        timeout,
        max_tokens: 512,
        calls: super::llm::Calls::One,
        // Examples in the prompt: the contract tests cover the longer prompt.
        shots: 2,
        seed: 42,
        cache_prompt_field: true,
        api_key: None,
    }
}

pub fn fast_retry() -> Retry {
    Retry {
        attempts: 3,
        base: Duration::from_millis(50),
        max: Duration::from_millis(200),
        timeout: Duration::from_secs(10),
    }
}

/// What a test worker is made of.
#[derive(Default)]
pub struct TestWorker {
    pub policy: Option<Policy>,
    pub llm: Option<LlmSettings>,
    pub kube: Option<kube::Client>,
    pub leases: Option<Leases>,
    pub webhook: Option<Webhook>,
    pub identity: Option<String>,
    pub dry_run: bool,
}

impl TestWorker {
    pub fn build(self, dir: &std::path::Path) -> Worker {
        let metrics = Arc::new(TriageMetrics::new());
        let identity = self.identity.unwrap_or_else(|| "test-worker".into());
        Worker::new(Parts {
            policy: self.policy.unwrap_or_else(Policy::default_policy),
            llm: self.llm.map(|s| LlmClient::new(s, Some(metrics.clone())).unwrap()),
            kube: self.kube.map(|c| KubeActions::new(c, fast_retry(), identity.clone())),
            leases: self.leases,
            webhooks: self.webhook.map(|w| [("default".to_owned(), w)].into()).unwrap_or_default(),
            retry: fast_retry(),
            default_grace: 0,
            records: Records::open(&dir.join("audit.jsonl"), Some(&dir.join("reports"))).unwrap(),
            metrics,
            identity,
            dry_run: self.dry_run,
        })
    }
}

/// One canned HTTP answer.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Canned {
    pub fn ok(body: serde_json::Value) -> Canned {
        Canned { status: 200, body: body.to_string(), delay: Duration::ZERO }
    }
    /// A chat completion whose message content is `content`.
    pub fn chat(content: &str, finish_reason: &str) -> Canned {
        Canned::ok(serde_json::json!({
            "model": "double", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}]
        }))
    }
}

/// A tiny HTTP/1.1 server answering by a routing function and recording
/// every request body.
pub struct HttpDouble {
    pub url: String,
    pub requests: Arc<Mutex<Vec<serde_json::Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpDouble {
    pub async fn start(route: impl Fn(&serde_json::Value) -> Canned + Send + Sync + 'static) -> HttpDouble {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let (reqs, route) = (requests.clone(), Arc::new(route));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let (reqs, route) = (reqs.clone(), route.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let (head_end, len) = loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            break (i + 4, len);
                        }
                    };
                    while buf.len() < head_end + len {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body: serde_json::Value =
                        serde_json::from_slice(&buf[head_end..]).unwrap_or(serde_json::Value::Null);
                    let c = route(&body);
                    reqs.lock().unwrap().push(body);
                    tokio::time::sleep(c.delay).await;
                    let resp = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        c.status,
                        c.body.len(),
                        c.body
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        HttpDouble { url, requests, task }
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.requests.lock().unwrap().clone()
    }
}

/// Which call of the triage pair a chat request is (`analysis` / `decision`).
pub fn call_name(req: &serde_json::Value) -> &str {
    req["response_format"]["json_schema"]["name"].as_str().unwrap_or("")
}
