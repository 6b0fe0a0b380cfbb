//! The triage worker (`lanner triage`): receives alerts from the agents over
//! the triage protocol (or in-process, [`Embedded`]), asks an optional local
//! LLM for an analysis and a proposal, decides under a deterministic policy
//! that guards every destructive action, acts on the cluster (delete /
//! quarantine / Event / escalation webhook), and records every incident
//! (fsynced audit line, Markdown report, metrics). See docs/triage.md.
//!
//! Layout: `model.rs` (the vocabulary: actions, classifications, the LLM's
//! answers and choices, pod facts, the quarantine label), `policy.rs` (rules,
//! fallback), `guard.rs` (decision + safety guards), `llm.rs` + `prompt.rs`
//! (OpenAI-compatible backend, grounded constrained prompts), `grounding.rs`
//! (what the model is asked: facts, choices, few-shot examples),
//! `cases.rs` (labelled cases), `actions.rs` (kube-rs + webhook), `lease.rs`
//! (replica coordination), `records.rs`, `metrics.rs`, `worker.rs` (one
//! incident end to end), `eval.rs` (scoring a labelled set), `config.rs`
//! (worker settings). The modules import each other in no cycle
//! (`tests_structure.rs`): `model` imports none of them; `prompt` and
//! `policy` only `model` (and `alert`, `yaml`); `llm` imports `prompt`,
//! `guard` imports `policy`, `grounding` imports `guard`, `policy`, `prompt`
//! and `cases`, and `actions` only `model`.
pub mod actions;
pub mod alert;
pub mod cases;
pub mod config;
pub mod eval;
pub mod grounding;
pub mod guard;
pub mod lease;
pub mod llm;
pub mod metrics;
pub mod model;
pub mod policy;
pub mod policy_lint;
pub mod prompt;
pub mod records;
pub mod worker;
pub mod yaml;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_kube;
#[cfg(test)]
mod tests_llm;
#[cfg(test)]
mod tests_serve;
#[cfg(test)]
mod tests_structure;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;

pub use alert::WireAlert;
pub use worker::{Embedded, Worker};

use crate::protocol::{
    server::{self, Dedup, ServerConfig},
    Listener, Token,
};

/// `lanner triage [eval FILE]`.
#[derive(clap::Args, Debug)]
pub struct TriageArgs {
    #[command(subcommand)]
    pub cmd: Option<TriageCommand>,
    /// Worker config (YAML); flags below override it.
    #[arg(long, env = "LANNER_TRIAGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen address: unix:///path or tcp://host:port.
    #[arg(long, env = "LANNER_TRIAGE_LISTEN")]
    pub listen: Option<String>,
    /// Shared-secret file the agents present in Hello.
    #[arg(long, env = "LANNER_TRIAGE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Policy file (default: the embedded agent/triage-data/policy.yaml).
    #[arg(long, env = "LANNER_TRIAGE_POLICY")]
    pub policy: Option<PathBuf>,
    /// host:port of /metrics, or "off".
    #[arg(long, env = "LANNER_TRIAGE_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// OpenAI-compatible base URL (…/v1) of the LLM.
    #[arg(long, env = "LANNER_LLM_URL")]
    pub llm_url: Option<String>,
    #[arg(long, env = "LANNER_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Record decisions without executing any action.
    #[arg(long)]
    pub dry_run: bool,
    /// No cluster access (no pod lookups, actions, Events or leases).
    #[arg(long)]
    pub no_kube: bool,
    #[arg(long, env = "LANNER_TRIAGE_AUDIT_FILE")]
    pub audit_file: Option<PathBuf>,
    #[arg(long, env = "LANNER_TRIAGE_REPORTS_DIR")]
    pub reports_dir: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum TriageCommand {
    /// Score the decision path on a labelled alert set.
    Eval(EvalArgs),
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Labelled alert set (YAML), e.g. agent/triage-data/eval.yaml.
    pub file: PathBuf,
    /// Policy file (default: the embedded one).
    #[arg(long, env = "LANNER_TRIAGE_POLICY")]
    pub policy: Option<PathBuf>,
    /// Also ask the LLM (at --llm-url); without it only policy and guards decide.
    #[arg(long)]
    pub llm: bool,
    #[arg(long, env = "LANNER_LLM_URL")]
    pub llm_url: Option<String>,
    #[arg(long, env = "LANNER_LLM_MODEL", default_value = "local")]
    pub llm_model: String,
    #[arg(long, default_value_t = 60.0)]
    pub llm_timeout_secs: f64,
    /// LLM calls per alert: one (analysis + proposal) or two (ROSES, then RACE).
    #[arg(long, value_enum, default_value = "one")]
    pub llm_calls: EvalCalls,
    /// Answer tokens per call.
    #[arg(long, default_value_t = 256)]
    pub llm_max_tokens: u32,
    /// Few-shot examples per prompt (0-6), never the case being asked.
    #[arg(long, default_value_t = grounding::DEFAULT_SHOTS)]
    pub few_shot: usize,
    /// Send llama.cpp's `cache_prompt: false` (repeatable answers, slower: the
    /// shared system prompt is processed again for every alert)
    #[arg(long)]
    pub llm_no_prompt_cache: bool,
    /// Override the policy's llm_mode (advise or propose) for the run.
    #[arg(long, value_enum)]
    pub llm_mode: Option<EvalMode>,
    /// Print the report as one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Fail (exit 1) when overall accuracy is below this percentage.
    #[arg(long)]
    pub min_accuracy: Option<f64>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum EvalCalls {
    One,
    Two,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum EvalMode {
    Advise,
    Propose,
}

/// `lanner triage`: serve (or `eval`).
pub fn run(args: TriageArgs) -> anyhow::Result<()> {
    if let Some(TriageCommand::Eval(e)) = args.cmd {
        return eval(e);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let r = rt.block_on(async {
        // Handlers first: as PID 1 of a container a SIGTERM that arrives before a handler
        // exists is dropped by the kernel, and the pod then waits out its grace period.
        let stop = ShutdownSignal::install()?;
        let settings = settings_from(&args)?;
        tokio::select! {
            r = serve(settings, stop.clone().wait()) => r,
            // Startup (cluster access, bind) or shutdown that hangs past the bound: exit anyway.
            _ = stop.deadline(EXIT_BOUND) => {
                tracing::warn!(bound = ?EXIT_BOUND, "triage worker did not stop within the bound after the signal; exiting");
                Ok(())
            }
        }
    });
    // Blocking tasks (an fsync in flight) get a moment, not a veto over the exit.
    rt.shutdown_timeout(Duration::from_secs(1));
    r
}

/// The longest a worker keeps running after SIGTERM/SIGINT: the server's handler grace
/// (5 s) plus the metrics endpoint's, well inside Kubernetes' default 30 s.
const EXIT_BOUND: Duration = Duration::from_secs(10);

/// SIGTERM/SIGINT, registered once at start; cloneable so that the serve path and the
/// exit bound both wait on it.
#[derive(Clone)]
struct ShutdownSignal(tokio::sync::watch::Receiver<bool>);

impl ShutdownSignal {
    fn install() -> anyhow::Result<ShutdownSignal> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("triage worker stopping (SIGTERM)"),
                _ = int.recv() => tracing::info!("triage worker stopping (SIGINT)"),
            }
            let _ = tx.send(true);
        });
        Ok(ShutdownSignal(rx))
    }

    async fn wait(mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }

    async fn deadline(self, bound: Duration) {
        self.wait().await;
        tokio::time::sleep(bound).await;
    }
}

/// Config file + flags → settings.
pub fn settings_from(args: &TriageArgs) -> anyhow::Result<config::Settings> {
    let mut f = match &args.config {
        Some(p) => config::ConfigFile::load(p)?,
        None => config::ConfigFile::default(),
    };
    if let Some(v) = &args.listen {
        f.listen = Some(v.clone());
    }
    if let Some(v) = &args.token_file {
        f.token_file = Some(v.clone());
    }
    if let Some(v) = &args.policy {
        f.policy_file = Some(v.clone());
    }
    if let Some(v) = &args.metrics_addr {
        f.metrics_addr = Some(v.clone());
    }
    if let Some(url) = &args.llm_url {
        match &mut f.llm {
            Some(l) => l.url = url.clone(),
            None => {
                let model = args.llm_model.clone().unwrap_or_else(|| "local".into());
                f.llm = Some(yaml::from_str(&format!("{{url: {url:?}, model: {model:?}}}"), "--llm-url")?);
            }
        }
    }
    if let (Some(m), Some(l)) = (&args.llm_model, &mut f.llm) {
        l.model = m.clone();
    }
    f.dry_run |= args.dry_run;
    if args.no_kube {
        f.kube.enabled = false;
    }
    if let Some(v) = &args.audit_file {
        f.records.audit_file = Some(v.clone());
    }
    if let Some(v) = &args.reports_dir {
        f.records.reports_dir = Some(v.clone());
    }
    Ok(f.validate()?)
}

/// The policy file, or the embedded default; one warning per `match.rules`
/// name an earlier rule always takes ([`policy_lint`]).
fn load_policy(path: Option<&std::path::Path>) -> anyhow::Result<policy::Policy> {
    let p = match path {
        Some(path) => policy::Policy::load(path)?,
        None => policy::Policy::default_policy(),
    };
    let origin = path.map_or_else(|| "embedded default".to_string(), |p| p.display().to_string());
    for w in policy_lint::shadowed(&p) {
        tracing::warn!(policy = %origin, "{w}");
    }
    Ok(p)
}

/// Build a worker from settings (connects to the cluster when enabled).
pub async fn build_worker(s: &config::Settings, metrics: Arc<metrics::TriageMetrics>) -> anyhow::Result<Worker> {
    let policy = load_policy(s.policy_file.as_deref())?;
    let llm = match &s.llm {
        Some(l) => Some(llm::LlmClient::new(l.clone(), Some(metrics.clone()))?),
        None => None,
    };
    let (kube, leases) = if s.kube_enabled {
        let cfg = match &s.kubeconfig {
            Some(p) => {
                let kc = kube::config::Kubeconfig::read_from(p)
                    .with_context(|| format!("reading kubeconfig {}", p.display()))?;
                kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?
            }
            None => kube::Config::infer()
                .await
                .context("no cluster access (set kube.enabled: false or --no-kube to run without)")?,
        };
        let client = kube::Client::try_from(cfg)?;
        let leases = s
            .lease
            .as_ref()
            .map(|l| lease::Leases::new(client.clone(), &l.namespace, &s.identity, l.duration, s.retry.clone()));
        (Some(actions::KubeActions::new(client, s.retry.clone(), &s.identity)), leases)
    } else {
        (None, None)
    };
    let records = records::Records::open(&s.audit_file, s.reports_dir.as_deref())?;
    tracing::info!(llm_mode = ?policy.llm_mode, llm = s.llm.as_ref().map(|l| l.url.as_str()), kube = s.kube_enabled,
        dry_run = s.dry_run || policy.dry_run, rules = policy.rules.len(), audit = %s.audit_file.display(), "triage worker configured");
    Ok(Worker::new(worker::Parts {
        policy,
        llm,
        kube,
        leases,
        webhooks: s.webhooks.clone(),
        retry: s.retry.clone(),
        default_grace: s.default_grace,
        records,
        metrics,
        identity: s.identity.clone(),
        dry_run: s.dry_run,
    }))
}

/// Serve the protocol until `shutdown` resolves.
pub async fn serve(
    s: config::Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::TriageMetrics::new());
    let worker = Arc::new(build_worker(&s, metrics.clone()).await?);
    let dedup = Arc::new(Dedup::default());
    dedup.seed(records::recent_uuids(&s.audit_file, 65_536));
    let listener = Listener::bind(&s.listen).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = s.metrics_addr {
        let ep = metrics::MetricsEndpoint::bind(addr).await?;
        let mut rx = stop_rx.clone();
        let m = metrics.clone();
        tasks.spawn(async move {
            if let Err(e) = ep
                .serve(m, async move {
                    let _ = rx.changed().await;
                })
                .await
            {
                tracing::error!("{e}");
            }
        });
    }
    if let (Some(l), Some(leases)) = (&s.lease, worker.leases().cloned()) {
        let retention = l.retention;
        let mut rx = stop_rx.clone();
        tasks.spawn(async move {
            loop {
                match leases.collect_garbage(retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "old triage leases collected"),
                    Err(e) => tracing::warn!("triage lease garbage collection: {e}"),
                }
                tokio::select! {
                    _ = rx.changed() => break,
                    _ = tokio::time::sleep(Duration::from_secs(600)) => {},
                }
            }
        });
    }
    let token = s.token.clone().unwrap_or_else(|| Token::new(""));
    let w = worker.clone();
    server::serve(
        listener,
        ServerConfig::new(token),
        dedup,
        metrics.protocol.clone(),
        move |d: server::Delivery<WireAlert>| {
            let w = w.clone();
            async move { w.handle(&d.alert.alert).await.map(|_| ()) }
        },
        shutdown,
    )
    .await;
    let _ = stop_tx.send(true);
    // The metrics endpoint waits for its open connections (a scraper or proxy holding a
    // half-sent request would hold it forever): a short grace, then cancelled.
    if tokio::time::timeout(Duration::from_secs(2), async { while tasks.join_next().await.is_some() {} }).await.is_err()
    {
        tracing::warn!("triage background tasks still busy 2 s after the server stopped; cancelling");
        tasks.shutdown().await;
    }
    Ok(())
}

/// `lanner triage eval FILE`.
pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let cases = eval::load(&args.file)?;
    let mut policy = load_policy(args.policy.as_deref())?;
    match args.llm_mode {
        Some(EvalMode::Advise) => policy.llm_mode = policy::LlmMode::Advise,
        Some(EvalMode::Propose) => policy.llm_mode = policy::LlmMode::Propose,
        None => {}
    }
    anyhow::ensure!(args.few_shot <= grounding::MAX_SHOTS, "--few-shot must be at most {}", grounding::MAX_SHOTS);
    anyhow::ensure!(args.llm_max_tokens >= 16, "--llm-max-tokens must be at least 16");
    let llm = if args.llm {
        let url = args.llm_url.clone().context("--llm needs --llm-url or LANNER_LLM_URL")?;
        Some(llm::LlmClient::new(
            llm::LlmSettings {
                url,
                model: args.llm_model.clone(),
                timeout: Duration::from_secs_f64(args.llm_timeout_secs),
                max_tokens: args.llm_max_tokens,
                calls: match args.llm_calls {
                    EvalCalls::One => llm::Calls::One,
                    EvalCalls::Two => llm::Calls::Two,
                },
                shots: args.few_shot,
                seed: 42,
                cache_prompt_field: args.llm_no_prompt_cache,
                api_key: None,
            },
            None,
        )?)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = rt.block_on(eval::run(&cases, &policy, llm.as_ref()));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", eval::render(&report));
    }
    if let Some(min) = args.min_accuracy {
        anyhow::ensure!(
            report.overall.pct() >= min,
            "accuracy {:.1}% is below --min-accuracy {min}",
            report.overall.pct()
        );
    }
    Ok(())
}
