//! `lanner floor [--program P] CATEGORY/NAME...` (hidden): attach one of the
//! object's floor programs (default the EMPTY `floor_tp`; `floor_path` only
//! copies an open's path; `floor_raw`, EMPTY, takes raw tracepoints, given as
//! `raw/NAME`) to the given syscall tracepoints and hold it until stdin
//! closes. `cargo xtask bench` runs it between its baseline and agent
//! rounds to measure the floor: what a syscall pays for one (or two) BPF program
//! runs that do nothing, or nothing but the path copy, on the same hooks the
//! agent uses. Never part of the probe table; the agent itself never attaches it.
use std::io::Read as _;

use anyhow::{bail, Context as _};
use aya::{
    programs::{RawTracePoint, TracePoint},
    EbpfLoader,
};

#[derive(clap::Args)]
pub struct FloorArgs {
    /// The floor program: `floor_tp` (empty), `floor_path` (copies an open's path) or
    /// `floor_raw` (empty, on raw tracepoints: `raw/sys_exit`).
    #[arg(long, default_value = "floor_tp", value_parser = ["floor_tp", "floor_path", "floor_raw"])]
    program: String,
    /// Tracepoints as `category/name`, e.g. `syscalls/sys_enter_openat`
    /// (`raw/sys_exit` for `floor_raw`).
    #[arg(required = true)]
    hooks: Vec<String>,
}

pub fn run(args: FloorArgs) -> anyhow::Result<()> {
    let kver = crate::kernel::check_kernel()?;
    crate::kernel::check_privileges(kver)?;
    crate::kernel::raise_memlock(kver);
    crate::kernel::ensure_tracefs()?;
    let mut hooks = Vec::new();
    for h in &args.hooks {
        match h.split_once('/') {
            Some((c, n)) if !c.is_empty() && !n.is_empty() && !n.contains('/') => hooks.push((c, n)),
            _ => bail!("hook {h:?}: expected category/name"),
        }
    }
    // The smallest ring buffer: the empty program never writes one.
    let mut ebpf =
        EbpfLoader::new().map_max_entries("EVENTS", 4096).load(crate::run::PROBES_OBJ).context("loading the object")?;
    let name = args.program.as_str();
    let id = if name == "floor_raw" {
        let prog: &mut RawTracePoint =
            ebpf.program_mut(name).with_context(|| format!("{name} missing from the object"))?.try_into()?;
        prog.load().with_context(|| format!("loading {name}"))?;
        for (c, n) in &hooks {
            if *c != "raw" {
                bail!("{name} takes raw tracepoints, as raw/NAME, not {c}/{n}");
            }
            prog.attach(n).with_context(|| format!("attaching {name} to raw tracepoint {n}"))?;
        }
        prog.info().map(|i| i.id()).unwrap_or(0)
    } else {
        let prog: &mut TracePoint =
            ebpf.program_mut(name).with_context(|| format!("{name} missing from the object"))?.try_into()?;
        prog.load().with_context(|| format!("loading {name}"))?;
        for (c, n) in &hooks {
            prog.attach(c, n).with_context(|| format!("attaching {name} to {c}/{n}"))?;
        }
        prog.info().map(|i| i.id()).unwrap_or(0)
    };
    eprintln!("floor ready: prog_id={id} hooks={}", args.hooks.join(","));
    // Held until the caller closes stdin (or dies); dropping `ebpf` detaches.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(ebpf);
    Ok(())
}
