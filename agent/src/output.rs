//! Where `lanner run` sends alerts: counts them in the metrics, then hands
//! them to the configured sinks (stdout JSON, triage worker over msgpack,
//! webhook, file). With `--events`, alerts are written by the pipeline's own
//! stdout writer instead of the stdout sink so event and alert lines never
//! interleave.
use std::{cell::RefCell, io::Write, path::PathBuf, rc::Rc, sync::Arc, time::SystemTime};

use lanner_rules::Alert;

use crate::{
    metrics::Metrics,
    pipeline::{AlertSink, JsonLines},
    sinks::{SinkConfig, SinkSet},
    triage::WireAlert,
};

/// Sink flags of `lanner run` (flattened into `RunArgs`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SinkArgs {
    /// YAML file with a `sinks:` list (kinds: stdout, file, webhook, triage).
    /// Default: stdout, plus the sinks the flags below add.
    #[arg(long, env = "LANNER_SINKS")]
    pub sinks: Option<PathBuf>,
    /// Triage worker address (unix:///path or tcp://host:port).
    #[arg(long, env = "LANNER_TRIAGE_ADDR")]
    pub triage_addr: Option<String>,
    /// Shared-secret token file for the triage worker.
    #[arg(long, env = "LANNER_TRIAGE_TOKEN_FILE")]
    pub triage_token_file: Option<PathBuf>,
    /// On-disk spool of alerts not yet acked by the triage worker.
    #[arg(long, env = "LANNER_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// falcosidekick-compatible webhook URL.
    #[arg(long, env = "LANNER_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Run the triage worker in-process (single-node use): every alert is
    /// analysed, decided and acted on here, without the msgpack hop.
    #[arg(long)]
    pub triage_embedded: bool,
    /// Worker config for --triage-embedded (same YAML as `lanner triage --config`).
    #[arg(long, requires = "triage_embedded")]
    pub triage_config: Option<PathBuf>,
}

/// Build the in-process worker from its config file (or defaults).
pub async fn embedded_triage(config: Option<&std::path::Path>) -> anyhow::Result<crate::triage::Embedded> {
    #[derive(clap::Parser)]
    struct W {
        #[command(flatten)]
        a: crate::triage::TriageArgs,
    }
    let mut argv = vec!["triage".to_string()];
    if let Some(c) = config {
        argv.extend(["--config".to_string(), c.display().to_string()]);
    }
    let w = <W as clap::Parser>::try_parse_from(argv)?;
    let settings = crate::triage::settings_from(&w.a)?;
    let metrics = Arc::new(crate::triage::metrics::TriageMetrics::new());
    let worker = crate::triage::build_worker(&settings, metrics).await?;
    Ok(crate::triage::Embedded::start(Arc::new(worker), 1024))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SinksFile {
    sinks: Vec<SinkConfig>,
}

impl SinkArgs {
    /// parse → validate (in `SinkSet::build`) → run.
    pub fn configs(&self, stdout: bool) -> anyhow::Result<Vec<SinkConfig>> {
        let mut v = match &self.sinks {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                let f: SinksFile = serde_yaml_from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                f.sinks
            }
            None if stdout => SinkConfig::default_set(),
            None => Vec::new(),
        };
        if let Some(addr) = &self.triage_addr {
            let mut j = serde_json::json!({ "kind": "triage", "address": addr });
            if let Some(t) = &self.triage_token_file {
                j["token_file"] = serde_json::json!(t);
            }
            if let Some(d) = &self.spool_dir {
                j["spool_dir"] = serde_json::json!(d);
            }
            v.push(serde_json::from_value(j)?);
        }
        if let Some(url) = &self.webhook_url {
            v.push(serde_json::from_value(serde_json::json!({ "kind": "webhook", "url": url }))?);
        }
        Ok(v)
    }
}

/// YAML through the rule engine's positioned parser (errors carry line:col).
fn serde_yaml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let docs = lanner_rules::yaml::parse(text).map_err(|e| format!("{}:{}: {}", e.pos.line, e.pos.col, e.message))?;
    let node = docs.first().ok_or_else(|| "empty file".to_string())?;
    lanner_rules::de::from_node(node).map_err(|e| e.to_string())
}

/// Kernel drops become a rate-limited internal alert (never silent).
pub struct DropWatch {
    pub source: Box<dyn Fn() -> crate::metrics::KernelSnapshot>,
    pub state: crate::metrics::DropAlertState,
    pub hostname: String,
    pub last_check: std::time::Instant,
}

pub struct Output<W: Write> {
    metrics: Arc<Metrics>,
    local: Option<JsonLines<W>>,
    sinks: Option<SinkSet<WireAlert>>,
    drops: Option<DropWatch>,
    embedded: Option<crate::triage::Embedded>,
}

/// Turn a drop report into a Falco-shaped alert.
fn drop_alert(r: &crate::metrics::DropReport, hostname: &str) -> Alert {
    use lanner_rules::FieldValue;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let output_fields = r
        .output_fields()
        .into_iter()
        .map(|(k, v)| {
            let fv = match v {
                serde_json::Value::Number(n) => {
                    n.as_i64().map(FieldValue::Int).unwrap_or(FieldValue::Str(n.to_string()))
                }
                serde_json::Value::String(s) => FieldValue::Str(s),
                serde_json::Value::Bool(b) => FieldValue::Bool(b),
                serde_json::Value::Null => FieldValue::Null,
                other => FieldValue::Str(other.to_string()),
            };
            (k, fv)
        })
        .collect();
    Alert {
        output: r.output.clone(),
        priority: r.priority.parse().unwrap_or(lanner_rules::Priority::Critical),
        rule: r.rule.to_string(),
        time: lanner_rules::alert::rfc3339_nanos(now),
        output_fields,
        source: "internal".into(),
        tags: r.tags.iter().map(|t| t.to_string()).collect(),
        hostname: hostname.to_string(),
        uuid: uuid::Uuid::new_v4(),
    }
}

impl<W: Write> Output<W> {
    pub fn new(metrics: Arc<Metrics>, local: Option<Rc<RefCell<W>>>, sinks: SinkSet<WireAlert>) -> Self {
        Self { metrics, local: local.map(JsonLines), sinks: Some(sinks), drops: None, embedded: None }
    }

    pub fn with_embedded_triage(mut self, e: Option<crate::triage::Embedded>) -> Self {
        self.embedded = e;
        self
    }

    pub fn with_drop_watch(mut self, d: DropWatch) -> Self {
        self.drops = Some(d);
        self
    }

    fn check_drops(&mut self) {
        let Some(d) = self.drops.as_mut() else { return };
        let now = std::time::Instant::now();
        if now.duration_since(d.last_check) < std::time::Duration::from_secs(1) {
            return;
        }
        d.last_check = now;
        let snap = (d.source)();
        if let Some(r) = d.state.observe_snapshot(now, &snap) {
            let a = drop_alert(&r, &d.hostname);
            tracing::warn!(new_drops = r.new_drops, total = r.total_drops, "kernel event drops");
            self.metrics.drop_alerts.inc();
            let t = 0;
            self.alert(a, t);
        }
    }
}

impl<W: Write> AlertSink for Output<W> {
    fn alert(&mut self, alert: Alert, event_time_ns: u64) {
        self.metrics.rule_matched(&alert.rule, alert.priority.as_str(), &alert.tags);
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        if event_time_ns > 0 {
            self.metrics.alert_latency.observe(now.saturating_sub(event_time_ns) as f64 / 1e9);
        }
        if let Some(l) = self.local.as_mut() {
            l.alert(alert.clone(), event_time_ns);
        }
        if let Some(e) = &self.embedded {
            e.submit(Arc::new(alert.clone()));
        }
        if let Some(s) = &self.sinks {
            s.send(Arc::new(WireAlert::new(alert)));
        }
    }

    fn finish(&mut self) {
        if let Some(e) = self.embedded.take() {
            tokio::runtime::Handle::current().block_on(e.shutdown());
        }
        if let Some(set) = self.sinks.take() {
            // Longer than the triage sink's own shutdown grace (2 s).
            let h = tokio::runtime::Handle::current();
            h.block_on(set.shutdown(std::time::Duration::from_secs(4)));
        }
    }

    fn flush(&mut self) {
        self.metrics.heartbeat();
        self.check_drops();
        if let Some(l) = self.local.as_mut() {
            l.flush();
        }
    }
}
