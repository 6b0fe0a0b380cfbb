//! Worker configuration: a YAML file (serde, `deny_unknown_fields`) overlaid
//! by CLI flags, validated into [`Settings`]. The policy (what to do) is a
//! separate file (`policy.rs`); this one says how the worker is wired: where
//! it listens, the LLM endpoint, cluster access, leases, webhooks, records.
use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

use super::{
    actions::{Retry, Webhook, WebhookFormat},
    grounding,
    llm::{Calls, LlmSettings},
    yaml,
};
use crate::protocol::{Address, Token};

pub const DEFAULT_LISTEN: &str = "unix:///run/lanner/triage.sock";
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9377";
pub const DEFAULT_AUDIT: &str = "/var/lib/lanner/triage/audit.jsonl";
pub const DEFAULT_REPORTS: &str = "/var/lib/lanner/triage/reports";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub listen: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub metrics_addr: Option<String>,
    /// Replica identity (leases, Events); default `$POD_NAME`, else the hostname.
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub policy_file: Option<PathBuf>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub llm: Option<LlmFile>,
    #[serde(default)]
    pub kube: KubeFile,
    #[serde(default)]
    pub lease: LeaseFile,
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookFile>,
    #[serde(default)]
    pub records: RecordsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmFile {
    pub url: String,
    pub model: String,
    #[serde(default = "d_llm_timeout")]
    pub timeout_secs: f64,
    /// Answer tokens per call (every string in the schemas is bounded, so a
    /// whole answer fits; the cap keeps a CPU answer short).
    #[serde(default = "d_max_tokens")]
    pub max_tokens: u32,
    /// `one` (analysis + proposal in one schema) or `two` (ROSES, then RACE).
    #[serde(default)]
    pub calls: Calls,
    /// Few-shot examples from the labelled set per prompt (0–6).
    #[serde(default = "d_few_shot")]
    pub few_shot: usize,
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// Send llama.cpp's `cache_prompt: false`: bit-repeatable answers, but the
    /// prompt's shared prefix (system prompt) is processed again for every
    /// alert. Off by default: the prefix is reused (p95 7.3 → 4.6 s per alert
    /// with the bundled model on 2 cores, docs/triage.md).
    #[serde(default)]
    pub cache_prompt_field: bool,
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeFile {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Default: in-cluster config or `$KUBECONFIG` (kube's `Config::infer`).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    #[serde(default = "d_grace")]
    pub default_grace_period_secs: u32,
    #[serde(default)]
    pub retry: RetryFile,
}

impl Default for KubeFile {
    fn default() -> Self {
        KubeFile { enabled: true, kubeconfig: None, default_grace_period_secs: d_grace(), retry: RetryFile::default() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    #[serde(default = "d_attempts")]
    pub attempts: u32,
    #[serde(default = "d_base_ms")]
    pub base_ms: u64,
    #[serde(default = "d_max_ms")]
    pub max_ms: u64,
    #[serde(default = "d_call_timeout")]
    pub timeout_secs: f64,
}

impl Default for RetryFile {
    fn default() -> Self {
        RetryFile { attempts: d_attempts(), base_ms: d_base_ms(), max_ms: d_max_ms(), timeout_secs: d_call_timeout() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseFile {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "d_lease_ns")]
    pub namespace: String,
    #[serde(default = "d_lease_secs")]
    pub duration_secs: u64,
    #[serde(default = "d_retention")]
    pub retention_secs: u64,
}

impl Default for LeaseFile {
    fn default() -> Self {
        LeaseFile {
            enabled: true,
            namespace: d_lease_ns(),
            duration_secs: d_lease_secs(),
            retention_secs: d_retention(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    pub url: String,
    #[serde(default = "d_format")]
    pub format: WebhookFormat,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsFile {
    #[serde(default)]
    pub audit_file: Option<PathBuf>,
    #[serde(default)]
    pub reports_dir: Option<PathBuf>,
}

fn yes() -> bool {
    true
}
fn d_llm_timeout() -> f64 {
    30.0
}
fn d_max_tokens() -> u32 {
    256
}
fn d_few_shot() -> usize {
    grounding::DEFAULT_SHOTS
}
fn d_seed() -> u64 {
    42
}
fn d_grace() -> u32 {
    10
}
fn d_attempts() -> u32 {
    4
}
fn d_base_ms() -> u64 {
    200
}
fn d_max_ms() -> u64 {
    3000
}
fn d_call_timeout() -> f64 {
    10.0
}
fn d_lease_ns() -> String {
    "lanner".into()
}
fn d_lease_secs() -> u64 {
    120
}
fn d_retention() -> u64 {
    3600
}
fn d_format() -> WebhookFormat {
    WebhookFormat::Json
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
    #[error("invalid triage config: {0}")]
    Invalid(String),
}

/// Validated worker settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: Address,
    pub token: Option<Token>,
    pub metrics_addr: Option<SocketAddr>,
    pub identity: String,
    pub policy_file: Option<PathBuf>,
    pub dry_run: bool,
    pub llm: Option<LlmSettings>,
    pub kube_enabled: bool,
    pub kubeconfig: Option<PathBuf>,
    pub default_grace: u32,
    pub retry: Retry,
    pub lease: Option<LeaseSettings>,
    pub webhooks: BTreeMap<String, Webhook>,
    pub audit_file: PathBuf,
    pub reports_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub namespace: String,
    pub duration: Duration,
    pub retention: Duration,
}

impl ConfigFile {
    pub fn load(path: &std::path::Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Ok(yaml::from_str(&text, &path.display().to_string())?)
    }

    /// Validate into settings.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let bad = |s: String| ConfigError::Invalid(s);
        let listen_s = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: Address = listen_s.parse().map_err(|e| bad(format!("listen: {e}")))?;
        let token = match &self.token_file {
            Some(p) => {
                let t = Token::from_file(p).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
                if t.is_empty() {
                    return Err(bad(format!("token file {} is empty", p.display())));
                }
                Some(t)
            }
            None => None,
        };
        if token.is_none() && matches!(listen, Address::Tcp(_)) {
            return Err(bad("a TCP listener needs token_file (the agents authenticate with it)".into()));
        }
        let metrics_s = self.metrics_addr.unwrap_or_else(|| DEFAULT_METRICS_ADDR.into());
        let metrics_addr = if metrics_s.eq_ignore_ascii_case("off") {
            None
        } else {
            Some(metrics_s.parse().map_err(|e| bad(format!("metrics_addr {metrics_s:?}: {e}")))?)
        };
        let identity = self
            .identity
            .or_else(|| std::env::var("POD_NAME").ok())
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "lanner-triage".into());
        let llm = match self.llm {
            None => None,
            Some(l) => {
                if !(l.url.starts_with("http://") || l.url.starts_with("https://")) {
                    return Err(bad(format!("llm.url {:?} must be http(s)://…/v1", l.url)));
                }
                if !(l.timeout_secs > 0.0 && l.timeout_secs <= 600.0) {
                    return Err(bad("llm.timeout_secs must be in (0, 600]".into()));
                }
                if l.max_tokens < 16 {
                    return Err(bad("llm.max_tokens must be at least 16".into()));
                }
                if l.few_shot > grounding::MAX_SHOTS {
                    return Err(bad(format!("llm.few_shot must be at most {}", grounding::MAX_SHOTS)));
                }
                let api_key = match &l.api_key_file {
                    Some(p) => Some(
                        Token::from_file(p)
                            .map_err(|source| ConfigError::Read { path: p.clone(), source })?
                            .expose()
                            .to_owned(),
                    ),
                    None => None,
                };
                Some(LlmSettings {
                    url: l.url,
                    model: l.model,
                    timeout: Duration::from_secs_f64(l.timeout_secs),
                    max_tokens: l.max_tokens,
                    calls: l.calls,
                    shots: l.few_shot,
                    seed: l.seed,
                    cache_prompt_field: l.cache_prompt_field,
                    api_key,
                })
            }
        };
        let r = &self.kube.retry;
        if r.attempts == 0 || r.timeout_secs.is_nan() || r.timeout_secs <= 0.0 {
            return Err(bad("kube.retry: attempts and timeout_secs must be positive".into()));
        }
        let retry = Retry {
            attempts: r.attempts,
            base: Duration::from_millis(r.base_ms),
            max: Duration::from_millis(r.max_ms.max(r.base_ms)),
            timeout: Duration::from_secs_f64(r.timeout_secs),
        };
        let lease = (self.lease.enabled && self.kube.enabled).then(|| LeaseSettings {
            namespace: self.lease.namespace,
            duration: Duration::from_secs(self.lease.duration_secs.max(1)),
            retention: Duration::from_secs(self.lease.retention_secs),
        });
        let mut webhooks = BTreeMap::new();
        for (name, w) in self.webhooks {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(bad(format!("webhooks.{name}.url {:?} must be http(s)", w.url)));
            }
            webhooks.insert(name, Webhook { url: w.url, format: w.format });
        }
        Ok(Settings {
            listen,
            token,
            metrics_addr,
            identity,
            policy_file: self.policy_file,
            dry_run: self.dry_run,
            llm,
            kube_enabled: self.kube.enabled,
            kubeconfig: self.kube.kubeconfig,
            default_grace: self.kube.default_grace_period_secs,
            retry,
            lease,
            webhooks,
            audit_file: self.records.audit_file.unwrap_or_else(|| DEFAULT_AUDIT.into()),
            reports_dir: self.records.reports_dir.or_else(|| Some(DEFAULT_REPORTS.into())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_parses_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let tok = dir.path().join("token");
        std::fs::write(&tok, "s3cret\n").unwrap();
        let text = format!(
            "listen: tcp://127.0.0.1:7700\ntoken_file: {}\nmetrics_addr: \"off\"\nidentity: w-1\ndry_run: true\n\
llm: {{url: \"http://127.0.0.1:8087/v1\", model: m, timeout_secs: 5, max_tokens: 128, calls: two, few_shot: 0}}\n\
kube: {{enabled: true, default_grace_period_secs: 0, retry: {{attempts: 2}}}}\n\
lease: {{namespace: sec, duration_secs: 30}}\n\
webhooks: {{default: {{url: \"http://127.0.0.1:9/hook\", format: slack}}}}\n\
records: {{audit_file: /tmp/a.jsonl}}\n",
            tok.display()
        );
        let s: Settings = yaml::from_str::<ConfigFile>(&text, "c.yaml").unwrap().validate().unwrap();
        assert_eq!(s.listen, Address::Tcp("127.0.0.1:7700".into()));
        assert!(s.token.as_ref().unwrap().matches("s3cret"));
        assert_eq!((s.metrics_addr, s.identity.as_str(), s.dry_run), (None, "w-1", true));
        let l = s.llm.as_ref().unwrap();
        assert_eq!((l.timeout, l.calls, l.shots), (Duration::from_secs(5), Calls::Two, 0));
        let d: Settings = yaml::from_str::<ConfigFile>("llm: {url: \"http://x/v1\", model: m}", "d.yaml")
            .unwrap()
            .validate()
            .unwrap();
        let l = d.llm.unwrap();
        assert_eq!((l.calls, l.shots, l.max_tokens), (Calls::One, grounding::DEFAULT_SHOTS, 256));
        assert_eq!((s.retry.attempts, s.default_grace), (2, 0));
        assert_eq!(s.lease.as_ref().unwrap().namespace, "sec");
        assert_eq!(s.webhooks["default"].format, WebhookFormat::Slack);
        assert_eq!(s.audit_file, PathBuf::from("/tmp/a.jsonl"));
    }

    #[test]
    fn invalid_configs_are_refused() {
        for (text, want) in [
            ("bogus: 1", "unknown field"),
            ("listen: tcp://127.0.0.1:7700", "needs token_file"),
            ("listen: http://x", "listen"),
            ("metrics_addr: nope", "metrics_addr"),
            ("llm: {url: ftp://x, model: m}", "llm.url"),
            ("llm: {url: \"http://x/v1\", model: m, max_tokens: 4}", "max_tokens"),
            ("llm: {url: \"http://x/v1\", model: m, calls: three}", "unknown variant"),
            ("llm: {url: \"http://x/v1\", model: m, few_shot: 7}", "few_shot"),
            ("llm: {url: \"http://x/v1\", model: m, shots: 2}", "unknown field"),
            ("webhooks: {a: {url: x}}", "webhooks.a.url"),
            ("webhooks: {a: {url: \"http://x\", format: teams}}", "unknown variant"),
        ] {
            let r =
                yaml::from_str::<ConfigFile>(text, "c.yaml").map_err(ConfigError::from).and_then(ConfigFile::validate);
            let e = r.unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let s = ConfigFile::default().validate().unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert!(s.llm.is_none() && s.kube_enabled && s.lease.is_some());
    }
}
