//! `lanner run`: pre-flight checks, load + attach, read until SIGINT/SIGTERM,
//! detach, print the final counters (kernel drops included) on stderr.
use std::{io::BufWriter, time::Duration};

use anyhow::Context as _;
use aya::{maps::RingBuf, EbpfLoader};
use lanner_common::ProbeConfig;
use serde::Serialize;
use tokio::sync::watch;

use crate::{
    btf::Btf,
    counters, kernel,
    pipeline::Pipeline,
    prefilter::{KernelFilter, Prefilter},
    probes, transport,
};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Print every decoded event as a JSON line on stdout.
    #[arg(long)]
    pub events: bool,
    /// With --events: print only events of this process id.
    #[arg(long)]
    pub events_pid: Option<u32>,
    /// Ring buffer size in MiB (power of two).
    #[arg(long, default_value_t = 16)]
    pub ringbuf_mib: u32,
    /// Wake the reader once this many KiB are pending (0: on every event).
    #[arg(long, default_value_t = 64)]
    pub wakeup_kib: u32,
    /// Drain the ring buffer at least this often (bounds alert latency).
    #[arg(long, default_value_t = 2)]
    pub poll_ms: u64,
    /// Turn the in-kernel pre-filter off: emit every event, whatever the rules need.
    #[arg(long)]
    pub no_prefilter: bool,
}

/// The compiled eBPF object, embedded at build time by agent/build.rs.
static PROBES_OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lanner-probes"));

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
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    kernel::check_privileges()?;
    let kver = kernel::check_kernel()?;
    kernel::raise_memlock();
    kernel::ensure_tracefs()?;
    let btf = Btf::from_sys_fs().context("reading kernel BTF")?;
    let offsets = btf.kernel_offsets();

    let cfg = ProbeConfig {
        agent_tgid: std::process::id(),
        wakeup_bytes: args.wakeup_kib * 1024,
        _pad0: 0,
        _pad: 0,
        offsets,
    };
    let ring_bytes = args.ringbuf_mib.checked_mul(1024 * 1024).filter(|b| b.is_power_of_two());
    let ring_bytes = ring_bytes.context("--ringbuf-mib must be a power of two")?;
    let mut ebpf = EbpfLoader::new()
        .override_global("LANNER_CONFIG", &cfg, true)
        .map_max_entries("EVENTS", ring_bytes)
        .load(PROBES_OBJ)
        .context("loading the eBPF object (is BPF enabled and are you root?)")?;
    // The pre-filter maps start zeroed (= pass everything); install the
    // rule-derived filter before the probes attach.
    let mut prefilter = Prefilter::new(&mut ebpf).context("pre-filter maps")?;
    prefilter.apply(&KernelFilter::pass_all()).context("writing the pre-filter")?;
    let _ = args.no_prefilter;
    let statuses = probes::attach_all(&mut ebpf, kver)?;
    let attached = statuses.iter().filter(|s| s.attached).count();

    let ring = RingBuf::try_from(ebpf.take_map("EVENTS").context("EVENTS map missing")?)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let stdout = std::io::stdout();
    let out = args.events.then(|| BufWriter::with_capacity(1 << 16, stdout.lock()));
    let mut pipeline = Pipeline::new(kernel::boot_to_unix_offset_ns(), out, args.events_pid);
    let (tx, rx) = watch::channel(false);

    let ring = rt.block_on(async {
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = sigterm.recv() => {},
            }
            let _ = tx.send(true);
        });
        tracing::info!(probes = attached, total = probes::TABLE.len(), pid = std::process::id(), "lanner ready");
        transport::run_reader(ring, &mut pipeline, Duration::from_millis(args.poll_ms), rx).await
    });
    let mut ring = ring?;

    // Detach every program (dropping the object does it) before reading the
    // final counters, which live on in the map we took out.
    let counters_map = ebpf.take_map("COUNTERS").context("COUNTERS map missing")?;
    drop(ebpf);
    transport::drain_all(&mut ring, &mut pipeline);
    let kc = counters::read(&counters_map);
    let report = FinalReport {
        final_counters: FinalCounters {
            userspace: &pipeline.stats,
            kernel: &kc,
            ringbuf_drop_total: kc.total(lanner_common::Counter::RingbufDrop),
            str_read_fail_total: kc.total(lanner_common::Counter::StrReadFail),
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
