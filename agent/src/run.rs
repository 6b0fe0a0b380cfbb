//! `lanner run`: pre-flight checks, load + attach, read until SIGINT/SIGTERM,
//! detach, print the final counters (kernel drops included) on stderr.
use std::{cell::RefCell, io::BufWriter, path::PathBuf, rc::Rc, sync::Arc, time::Duration};

use anyhow::Context as _;
use aya::EbpfLoader;
use lanner_common::{config::OFFSET_NONE, ProbeConfig};
use lanner_rules::RuleSetHandle;
use serde::Serialize;
use tokio::sync::watch;

use crate::{
    assemble::Assembler,
    btf::Btf,
    counters, kernel,
    pipeline::Pipeline,
    prefilter::{KernelFilter, Prefilter},
    probes,
    proctable::ProcTable,
    transport,
};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Print every decoded event as a JSON line on stdout (turns the
    /// pre-filter off: every event is shown, whatever the rules need).
    #[arg(long)]
    pub events: bool,
    /// With --events: print only events of this process id.
    #[arg(long)]
    pub events_pid: Option<u32>,
    /// Ring buffer size in MiB (power of two). Default: 4 MiB per online CPU,
    /// rounded up to a power of two, at least 16 and at most 256 (every CPU
    /// writes into the one ring, so what a reader stall must absorb grows with them).
    #[arg(long)]
    pub ringbuf_mib: Option<u32>,
    /// Wake the reader once this many KiB are pending (0: on every event).
    #[arg(long, default_value_t = 64)]
    pub wakeup_kib: u32,
    /// While events flow, drain the ring buffer this often (µs); the probes
    /// then send no wake-ups below `--wakeup-kib`. Bounds alert latency.
    #[arg(long, default_value_t = 1000)]
    pub active_poll_us: u32,
    /// Housekeeping period (held alerts, sink flush). An idle reader is woken
    /// by the first event, a busy one polls every `--active-poll-us`: this is
    /// not what bounds alert latency.
    #[arg(long, default_value_t = 50)]
    pub poll_ms: u64,
    /// Turn the in-kernel pre-filter off: emit every event, whatever the rules need.
    #[arg(long)]
    pub no_prefilter: bool,
    /// Attach every probe, also those whose event type no rule needs (by default they
    /// are not attached); the pre-filter still drops their events. The kernel matrix
    /// uses it to check that each program loads on each kernel.
    #[arg(long)]
    pub attach_all: bool,
    /// Rule files or directories (*.yaml), loaded in order. Default: the
    /// embedded default pack. Reloaded on change and on SIGHUP.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// How often to check the rule files for changes.
    #[arg(long, default_value_t = 2000)]
    pub rules_poll_ms: u64,
    /// How often (seconds, 1..86400) to re-resolve the DNS names rules compare
    /// fd.sip.name / fd.cip.name / fd.rip.name / fd.lip.name with (a rule load
    /// resolves its new names at once).
    #[arg(long, default_value_t = crate::dns::DEFAULT_REFRESH_SECS)]
    pub dns_refresh_secs: u64,
    /// Host name reported in alerts. Default: this node's name
    /// (`--node-name`/`NODE_NAME`, which the DaemonSet sets from
    /// `spec.nodeName`: in a pod the kernel's host name is the pod's name),
    /// else the kernel's host name.
    #[arg(long, env = "LANNER_HOSTNAME")]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub k8s: crate::k8s::K8sArgs,
    #[command(flatten)]
    pub sinks: crate::output::SinkArgs,
    #[command(flatten)]
    pub metrics: crate::metrics::MetricsArgs,
}

impl RunArgs {
    /// The `hostname` of alerts (see `--hostname`).
    pub fn alert_hostname(&self) -> String {
        let set = |s: &Option<String>| s.clone().filter(|h| !h.trim().is_empty());
        set(&self.hostname).or_else(|| set(&self.k8s.node_name)).unwrap_or_else(crate::k8s::hostname)
    }
}

/// Exited processes the table keeps in their 5 s grace at most: at the exit
/// rates of a fork+exec loop (~8,000/s here) the grace alone let the agent
/// grow by ~28 MiB (0.7 KiB per process); 4,096 cost ~3 MiB and still cover
/// 5 s of up to ~800 exits per second.
const MAX_EXITED: usize = 4096;

/// Load the rule set: the given files, or the embedded default pack. Logs where the
/// rules came from, the files and, once, every inactive rule with its reason.
pub fn load_rules(paths: &[PathBuf]) -> anyhow::Result<RuleSetHandle> {
    let handle = if paths.is_empty() { RuleSetHandle::with_default_pack() } else { RuleSetHandle::load(paths) };
    let handle = handle.map_err(|e| anyhow::anyhow!("rules failed to load:\n{e}"))?;
    let rs = handle.current();
    for st in rs.inactive_rules() {
        if let Some(why) = &st.inactive {
            tracing::info!(rule = %st.name, location = %st.location, reason = %why, "rule inactive");
        }
    }
    let source = if paths.is_empty() {
        "embedded default pack (no --rules)".to_string()
    } else {
        format!("--rules {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "))
    };
    tracing::info!(
        rules = rs.len(),
        inactive = rs.inactive_rules().count(),
        source = %source,
        files = ?rs.files(),
        "rules loaded"
    );
    Ok(handle)
}

fn log_reload(metrics: &crate::metrics::Metrics, r: &Result<lanner_rules::ReloadOk, lanner_rules::LoadErrors>) {
    match r {
        Ok(ok) => {
            metrics.rules_reloaded(true, ok.rules, ok.inactive);
            tracing::info!(
                rules = ok.rules,
                inactive = ok.inactive,
                warnings = ok.warnings.len(),
                files = ?ok.files,
                "rules reloaded"
            )
        }
        Err(e) => {
            metrics.rules_reloaded(false, 0, 0);
            tracing::error!("rule reload rejected, the previous rules stay active:\n{e}")
        }
    }
}

/// The v1 hierarchy whose ids the probes read (`k8s::cgroup_v1`), logged;
/// `None` on pure v2 hosts or with `LANNER_CGROUP_V1=off`.
fn cgroup_v1_choice(btf: &Btf) -> Option<crate::k8s::cgroup_v1::V1Choice> {
    if std::env::var("LANNER_CGROUP_V1").is_ok_and(|v| v == "off") {
        tracing::info!("LANNER_CGROUP_V1=off: no v1 cgroup ids (containers in v1 only resolve per process)");
        return None;
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let choice = crate::k8s::cgroup_v1::choose(&mountinfo, |c| btf.cgroup_offsets(Some(c)).v1_subsys != OFFSET_NONE);
    if let Some(c) = &choice {
        tracing::info!(controller = %c.controller, mount = %c.mount.display(), "v1 cgroup hierarchy mounted: events also carry its cgroup id");
    }
    choice
}

/// Whether the probes read kernel memory with plain BTF loads
/// (`ProbeConfig::direct`): from 6.1, the oldest kernel on which the kernel
/// matrix proves them on every exec and cgroup path (Debian has no 5.11-6.0
/// kernel to prove them on); helper reads before. `LANNER_KERNEL_READS=helpers`
/// keeps the helper reads on any kernel (a diagnostic for A/B measurements).
fn direct_loads(kver: aya::util::KernelVersion) -> bool {
    let helpers = std::env::var("LANNER_KERNEL_READS").is_ok_and(|v| v == "helpers");
    let direct = !helpers && kver >= aya::util::KernelVersion::new(6, 1, 0);
    tracing::info!(direct, "kernel reads: plain BTF loads (direct) or helper calls");
    direct
}

/// The compiled eBPF object, embedded at build time by agent/build.rs.
pub(crate) static PROBES_OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lanner-probes"));

/// The embedded object (~2 MB: programs, maps, BTF; agent/build.rs strips the DWARF)
/// is read once, by `EbpfLoader::load`, which copies what it needs (programs,
/// maps, BTF) into its own structures; later attaches (a reload that needs an
/// unattached probe) use those copies. The pages the parse touched are
/// file-backed and stayed mapped, 4.4 MiB of the agent's RSS for its whole
/// life here (docs/benchmarks.md, RSS rows): drop them from this process. A later read
/// of the bytes would fault them in again from the binary, so this is safe
/// whatever reads them.
fn release_object_pages() {
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    let (at, len) = (PROBES_OBJ.as_ptr() as usize, PROBES_OBJ.len());
    // Whole pages inside the object only: its neighbours in .rodata stay untouched.
    let start = at.div_ceil(page) * page;
    let end = (at + len) / page * page;
    if end > start {
        // SAFETY: a range of read-only, file-backed pages of this binary; their
        // contents do not change, only whether they are resident.
        let r = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if r != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "madvise of the embedded object's pages");
        }
    }
}

#[derive(Serialize)]
struct FinalReport<'a> {
    final_counters: FinalCounters<'a>,
}

#[derive(Serialize)]
struct FinalCounters<'a> {
    userspace: &'a crate::pipeline::PipelineStats,
    kernel: &'a counters::KernelCounters,
    ringbuf_drop_total: u64,
    str_read_fail_total: u64,
    /// Per program, the runs the kernel skipped (recursion protection): events lost
    /// before any probe counter sees them. Only programs with misses are listed.
    recursion_misses: std::collections::BTreeMap<&'static str, u64>,
    process_table: crate::proctable::TableStats,
    /// Container resolution: cgroup caches (v2, and v1 on hybrid hosts), per-process /proc reads.
    enrich: Option<crate::k8s::enrich::EnrichStats>,
}

/// What a successful rule reload runs, before the reload is reported (log,
/// `lanner_rules` in /metrics): the in-kernel pre-filter re-derived from the
/// new rules, then the programs skipped at start because no rule needed their
/// event type, if the new rules need it (see `probes`). Until 2026-12-06 the
/// pre-filter followed on the pipeline's next housekeeping tick, so for up to
/// a tick after /metrics showed the new rule active, the kernel still dropped
/// the events only it needed (falco_rules_e2e's reload check caught it in a
/// loaded CI run).
fn reload_attacher(
    ebpf: Arc<std::sync::Mutex<Option<aya::Ebpf>>>,
    statuses: Arc<std::sync::Mutex<Vec<probes::ProbeStatus>>>,
    prefilter: Arc<std::sync::Mutex<Prefilter>>,
    rules: Arc<RuleSetHandle>,
    metrics: Arc<crate::metrics::Metrics>,
    kver: aya::util::KernelVersion,
    prefilter_on: bool,
) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || {
        if !prefilter_on {
            return;
        }
        let rs = rules.current();
        let f = KernelFilter::for_rules(&rs);
        match prefilter.lock().unwrap_or_else(|e| e.into_inner()).apply(&f) {
            Ok(()) => tracing::info!(filter = %f.describe(), "pre-filter updated for the new rules"),
            Err(e) => tracing::error!("pre-filter update failed (left open): {e}"),
        }
        let needs = |t: lanner_rules::EvtType| rs.rules_for_type(t) > 0;
        let mut object = ebpf.lock().unwrap_or_else(|e| e.into_inner());
        let Some(object) = object.as_mut() else { return };
        let mut st = statuses.lock().unwrap_or_else(|e| e.into_inner());
        let new = probes::attach_needed(object, kver, &mut st, &needs);
        if !new.is_empty() {
            tracing::info!(probes = %new.join(", "), "rule reload: probes attached for event types the new rules need");
            metrics.set_probes(&st);
        }
    })
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    // Two malloc arenas instead of up to 8 per core: the agent's threads mostly
    // wait, and bursts (the first pod list, BTF) otherwise leave freed pages
    // stranded in per-thread arenas, which shows as RSS on every node.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let dns_refresh = crate::dns::refresh_interval(args.dns_refresh_secs).map_err(anyhow::Error::msg)?;
    // Rules first: a broken rule file should fail before anything is loaded.
    let rules = Arc::new(load_rules(&args.rules)?);
    let kver = kernel::check_kernel()?;
    kernel::check_privileges(kver)?;
    let memlock = kernel::raise_memlock(kver);
    kernel::ensure_tracefs()?;
    let btf = Btf::from_sys_fs().context("reading kernel BTF")?;
    let (offsets, exe, sock, hook) = (btf.kernel_offsets(), btf.exe_offsets(), btf.sock_offsets(), btf.hook_offsets());
    // Hybrid-cgroup hosts: the probes also read each task's cgroup id in one v1 hierarchy.
    let v1 = cgroup_v1_choice(&btf);
    let cgroup = btf.cgroup_offsets(v1.as_ref().map(|c| c.controller.as_str()));
    let direct = direct_loads(kver);
    drop(btf);
    let found = [
        crate::btf::resolved(&offsets),
        crate::btf::resolved(&exe),
        crate::btf::resolved(&sock),
        crate::btf::resolved(&hook),
    ];
    let (ok, total) = found.iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    tracing::info!(resolved = ok, fields = total, "kernel BTF read: struct offsets resolved");

    let cfg = ProbeConfig {
        agent_tgid: std::process::id(),
        wakeup_bytes: args.wakeup_kib * 1024,
        direct: u32::from(direct),
        _pad: 0,
        offsets,
        exe,
        sock,
        hook,
        cgroup,
    };
    let cpus = aya::util::online_cpus().map(|c| c.len()).unwrap_or(1);
    let ring_mib = args.ringbuf_mib.unwrap_or_else(|| default_ring_mib(cpus));
    let ring_bytes = ring_mib.checked_mul(1024 * 1024).filter(|b| b.is_power_of_two());
    let ring_bytes = ring_bytes.context("--ringbuf-mib must be a power of two")?;
    tracing::info!(
        ring_mib,
        cpus,
        chosen = if args.ringbuf_mib.is_some() { "--ringbuf-mib" } else { "by CPU count" },
        "ring buffer"
    );
    let mut ebpf = EbpfLoader::new()
        .override_global("LANNER_CONFIG", &cfg, true)
        .map_max_entries("EVENTS", ring_bytes)
        .load(PROBES_OBJ)
        .map_err(|e| {
            let hint = kernel::memlock_hint(&e, kver, memlock);
            anyhow::Error::new(e)
                .context(hint.unwrap_or_else(|| "loading the eBPF object (is BPF enabled and are you root?)".into()))
        })?;
    // The pre-filter maps start zeroed (= pass everything); install the
    // rule-derived filter before the probes attach.
    let mut prefilter = Prefilter::new(&mut ebpf).context("pre-filter maps")?;
    let prefilter_on = !args.no_prefilter && !args.events;
    let wanted = if prefilter_on { KernelFilter::for_rules(&rules.current()) } else { KernelFilter::pass_all() };
    prefilter.apply(&wanted).context("writing the pre-filter")?;
    tracing::info!(filter = %wanted.describe(), "in-kernel pre-filter");
    // The programs no rule can use are not attached (with the pre-filter off every
    // event is wanted, so all are); a reload that needs one attaches it.
    let needs = {
        let (rs, all) = (rules.current(), args.attach_all || !prefilter_on);
        move |t: lanner_rules::EvtType| all || rs.rules_for_type(t) > 0
    };
    let statuses = probes::attach_all(&mut ebpf, kver, &needs)?;
    let attached = statuses.iter().filter(|s| s.attached).count();
    // Loading parsed several MiB of BTF; give the freed heap back to the OS.
    unsafe { libc::malloc_trim(0) };
    release_object_pages();

    let ring =
        transport::Ring::new(ebpf.take_map("EVENTS").context("EVENTS map missing")?, args.wakeup_kib as usize * 1024)
            .context("mapping the EVENTS ring buffer")?;
    let idle_flag = aya::maps::Array::try_from(ebpf.take_map("READER_IDLE").context("READER_IDLE map missing")?)?;
    let counters_map = Arc::new(ebpf.take_map("COUNTERS").context("COUNTERS map missing")?);
    let metrics = Arc::new(crate::metrics::Metrics::new());
    metrics.set_probes(&statuses);
    let ebpf = Arc::new(std::sync::Mutex::new(Some(ebpf)));
    let statuses = Arc::new(std::sync::Mutex::new(statuses));
    let on_reload = reload_attacher(
        ebpf.clone(),
        statuses.clone(),
        Arc::new(std::sync::Mutex::new(prefilter)),
        rules.clone(),
        metrics.clone(),
        kver,
        prefilter_on,
    );
    {
        let m = counters_map.clone();
        metrics.set_kernel_source(move || counters::read(&m).by_probe);
    }
    {
        let rs = rules.current();
        metrics.rules_reloaded(true, rs.len(), rs.inactive_rules().count());
    }
    crate::dns::spawn(dns_refresh, metrics.clone()).context("starting the DNS resolver thread")?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let _guard = rt.enter();
    let stdout = std::io::stdout();
    let out = Rc::new(RefCell::new(BufWriter::with_capacity(1 << 16, stdout)));
    let pods = crate::k8s::start(&args.k8s);
    pods.export_size(metrics.k8s_pods_cached.clone());
    let enricher = Arc::new(crate::k8s::Enricher::with_defaults(pods, args.k8s.hold(), v1.as_ref()));
    {
        let e = enricher.clone();
        metrics.set_enrich_source(move || e.stats());
    }
    let mut procs = ProcTable::new(65_536, Duration::from_secs(5)).with_max_exited(MAX_EXITED);
    let seeded = procs.seed_from_proc("/proc");
    tracing::info!(processes = seeded, "process table seeded from /proc");
    let assembler = Assembler::new(procs, Some(enricher), kernel::boot_to_unix_offset_ns());
    let hostname = args.alert_hostname();
    lanner_rules::runtime::host::set_hostname(&hostname);
    // `evt.reltime`: the capture starts now, before the first record is read.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    lanner_rules::runtime::host::set_capture_start(now);
    tracing::info!(hostname = %hostname, "alerts carry this hostname");
    let sink_configs = args.sinks.configs(!args.events)?;
    let ctx = crate::sinks::SinkContext {
        metrics: metrics.clone(),
        agent_id: format!("{}-{}", crate::k8s::hostname(), std::process::id()),
        node: args.k8s.node_name.clone().unwrap_or_else(crate::k8s::hostname),
    };
    let sink_set = crate::sinks::SinkSet::build(&sink_configs, &ctx).context("building the alert sinks")?;
    let drops = {
        let m = counters_map.clone();
        crate::output::DropWatch {
            source: Box::new(move || counters::read(&m).by_probe),
            state: crate::metrics::DropAlertState::new(Duration::from_secs(60)),
            hostname: hostname.clone(),
            last_check: std::time::Instant::now(),
        }
    };
    let embedded = if args.sinks.triage_embedded {
        let e = rt
            .block_on(crate::output::embedded_triage(args.sinks.triage_config.as_deref()))
            .context("embedded triage worker")?;
        tracing::info!("triage worker running in-process (--triage-embedded)");
        Some(e)
    } else {
        None
    };
    let sink = Box::new(
        crate::output::Output::new(metrics.clone(), args.events.then(|| out.clone()), sink_set)
            .with_drop_watch(drops)
            .with_embedded_triage(embedded),
    );
    let mut pipeline = Pipeline::new(
        kernel::boot_to_unix_offset_ns(),
        args.events.then(|| out.clone()),
        args.events_pid,
        assembler,
        rules.clone(),
        hostname,
        sink,
    );
    pipeline.set_metrics(&metrics);
    pipeline.start_match_thread().context("starting the rule-match thread")?;
    let match_wake = pipeline.match_wake();
    let (tx, rx) = watch::channel(false);
    let _watcher = if args.rules.is_empty() {
        None
    } else {
        Some(lanner_rules::Watcher::spawn(
            rules.clone(),
            args.rules.clone(),
            Duration::from_millis(args.rules_poll_ms),
            {
                let (m, attach) = (metrics.clone(), on_reload.clone());
                Box::new(move |r| {
                    if r.is_ok() {
                        attach();
                    }
                    log_reload(&m, r);
                })
            },
        )?)
    };

    rt.block_on(async {
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        // Registered before "ready" is logged, so an early SIGINT is handled.
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let (rules2, paths, metrics2, attach) = (rules.clone(), args.rules.clone(), metrics.clone(), on_reload.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = sigint.recv() => break,
                    _ = sigterm.recv() => break,
                    _ = sighup.recv() => {
                        tracing::info!("SIGHUP: reloading rules");
                        let r = if paths.is_empty() { rules2.reload_default() } else { rules2.reload(&paths) };
                        if r.is_ok() {
                            attach();
                        }
                        log_reload(&metrics2, &r);
                    }
                }
            }
            let _ = tx.send(true);
        });
        let addr = args.metrics.addr().map_err(std::io::Error::other)?;
        if let Some(addr) = addr {
            let server = crate::metrics::MetricsServer::bind(addr).await.map_err(std::io::Error::other)?;
            tracing::info!(addr = %server.local_addr(), "metrics on /metrics, /healthz, /readyz");
            let (m, mut rx2) = (metrics.clone(), rx.clone());
            tokio::spawn(async move {
                let _ = server
                    .serve(m, async move {
                        let _ = rx2.wait_for(|v| *v).await;
                    })
                    .await;
            });
        }
        Ok::<_, std::io::Error>(())
    })?;
    // The reader runs on this thread in a runtime of its own: a ring-buffer
    // wake-up reaches it directly (no hop through a worker thread). Sinks,
    // the pod watch, holds and the metrics server stay on `rt`.
    let reader_rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    metrics.set_ready(true);
    tracing::info!(probes = attached, total = probes::TABLE.len(), pid = std::process::id(), "lanner ready");
    let timing = transport::Timing {
        poll: Duration::from_millis(args.poll_ms),
        active: Duration::from_micros(args.active_poll_us.clamp(100, 1_000_000) as u64),
        idle_after: 3,
    };
    let ring = reader_rt.block_on(transport::run_reader(ring, &mut pipeline, timing, Some(idle_flag), match_wake, rx));
    let mut ring = ring?;

    let misses: std::collections::BTreeMap<_, _> = {
        let object = ebpf.lock().unwrap_or_else(|e| e.into_inner());
        let statuses = statuses.lock().unwrap_or_else(|e| e.into_inner());
        object.as_ref().map(|o| probes::recursion_misses(o, &statuses)).unwrap_or_default().into_iter().collect()
    };
    if !misses.is_empty() {
        tracing::warn!(misses = ?misses, "the kernel skipped probe runs (another BPF program was active on the CPU)");
    }
    // Detach every program (dropping the object does it) before reading the
    // final counters, which live on in the map we took out.
    let object = ebpf.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(object);
    transport::drain_all(&mut ring, &mut pipeline);
    pipeline.finish();
    let kc = counters::read(&counters_map);
    let report = FinalReport {
        final_counters: FinalCounters {
            userspace: &pipeline.stats,
            kernel: &kc,
            ringbuf_drop_total: kc.total(lanner_common::Counter::RingbufDrop),
            str_read_fail_total: kc.total(lanner_common::Counter::StrReadFail),
            recursion_misses: misses,
            process_table: pipeline.assembler.procs.stats(),
            enrich: pipeline.assembler.enricher().map(|e| e.stats()),
        },
    };
    eprintln!("{}", serde_json::to_string(&report)?);
    tracing::info!(
        records = pipeline.stats.records,
        ringbuf_drops = report.final_counters.ringbuf_drop_total,
        "lanner stopped"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        run: super::RunArgs,
    }

    fn parse(args: &[&str]) -> super::RunArgs {
        Cli::try_parse_from(std::iter::once("lanner-run").chain(args.iter().copied())).expect("flags").run
    }

    /// In a pod the kernel's host name is the pod's name: alerts must carry
    /// the node's name, which the DaemonSet passes as NODE_NAME (spec.nodeName).
    #[test]
    fn alerts_carry_the_node_name_unless_a_hostname_is_given() {
        assert_eq!(parse(&["--node-name", "worker-3"]).alert_hostname(), "worker-3");
        assert_eq!(parse(&["--node-name", "worker-3", "--hostname", "edge-a"]).alert_hostname(), "edge-a");
        assert_eq!(parse(&["--node-name", "worker-3", "--hostname", ""]).alert_hostname(), "worker-3");
        // Only this test reads these variables in this binary.
        std::env::set_var("NODE_NAME", "worker-from-downward-api");
        let from_env = parse(&[]).alert_hostname();
        std::env::remove_var("NODE_NAME");
        assert_eq!(from_env, "worker-from-downward-api");
        if std::env::var_os("LANNER_HOSTNAME").is_none() {
            assert_eq!(parse(&[]).alert_hostname(), crate::k8s::hostname(), "outside a pod: the kernel's");
        }
    }
}

/// The ring buffer's default size for `cpus` online CPUs: 4 MiB each, rounded
/// up to a power of two (the kernel's requirement), within 16..=256 MiB.
pub fn default_ring_mib(cpus: usize) -> u32 {
    let want = (cpus.max(1) as u32).saturating_mul(4).next_power_of_two();
    want.clamp(16, 256)
}

#[cfg(test)]
mod ring_tests {
    use super::default_ring_mib;

    #[test]
    fn the_default_ring_grows_with_the_cpus_within_its_bounds() {
        assert_eq!([1, 2, 4, 5, 8, 16, 64, 1024].map(default_ring_mib), [16, 16, 16, 32, 32, 64, 256, 256]);
        assert!((0..300).map(default_ring_mib).all(u32::is_power_of_two));
    }
}
