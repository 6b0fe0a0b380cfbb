//! The one userspace table of programs: which hook each attaches to, the
//! lowest kernel it needs, and whether the agent is useless without it.
//!
//! Loading is fail-soft per probe: a program that the verifier rejects or whose
//! hook is missing is reported with the tail of the verifier log and skipped;
//! the agent stops only when no exec probe could attach.
//!
//! A program whose event type no active rule can use is not attached at all (it
//! would cost a tracepoint hit per syscall for nothing); the process table's
//! programs (exec, execveat, fork, exit) always are. A reloaded rule set that needs
//! a skipped type gets its programs attached then (`attach_needed`).
//!
//! A probe may be *preferred* over others (`replaces`): an fexit program on the
//! kernel function that does the work (one program, arguments and result
//! together, no stash) instead of a syscall tracepoint pair. It comes first in
//! the table; when it attaches the pairs it replaces are not loaded, when it
//! cannot (no trampolines, no BTF, this host's EPERM) they are the fallback.
//!
//! A BPF LSM program is preferred the same way, but only where the kernel runs
//! BPF LSM (`bpf` in /sys/kernel/security/lsm): without it an LSM program still
//! loads and attaches on some kernels (5.10) and then never runs, so the list is
//! checked first and an unreadable list counts as "not active".
//!
//! On tracepoint-only hosts the exec, open, connect and numeric-argument
//! syscall pairs have a preferred probe too: one exit program that reads the
//! arguments from the saved user registers (`*_regs`: `openat_regs`,
//! `connect_regs`, `socket_regs`...; x86_64, 5.15+). The table is in `table`.
//! Each probe logs which hook it uses; /metrics has `lanner_probe_attached`.
use aya::{
    programs::{FExit, Lsm, ProgramError, RawTracePoint, TracePoint},
    util::KernelVersion,
    Btf, Ebpf,
};
use lanner_rules::EvtType;

#[derive(Clone, Copy, Debug)]
pub enum Hook {
    TracePoint {
        category: &'static str,
        name: &'static str,
    },
    RawTracePoint {
        name: &'static str,
    },
    /// fexit on a kernel function (BTF and BPF trampolines).
    FExit {
        function: &'static str,
    },
    /// BPF LSM program on a security hook (BTF, `bpf` in the active LSM list).
    Lsm {
        hook: &'static str,
    },
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hook::TracePoint { category, name } => write!(f, "tracepoint/{category}/{name}"),
            Hook::RawTracePoint { name } => write!(f, "raw_tracepoint/{name}"),
            Hook::FExit { function } => write!(f, "fexit/{function}"),
            Hook::Lsm { hook } => write!(f, "lsm/{hook}"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ProbeSpec {
    /// Program (function) name in the object.
    pub program: &'static str,
    pub hook: Hook,
    /// Lowest kernel (major, minor) on which the hook exists.
    pub min_kernel: (u8, u8),
    /// Part of the exec path: without it there is no process lineage.
    pub essential: bool,
    /// Programs this one makes unnecessary when it attaches (listed later).
    pub replaces: &'static [&'static str],
}

mod table;
use table::reads_x86_regs;
pub use table::TABLE;

/// Comma-separated programs not to load (`*suffix` for all ending so; as if the
/// kernel rejected them, so their fallbacks load): how the benchmark measures the enter+exit pairs
/// against the exit-only programs in the same run, and how a test exercises a
/// fallback on a host where the preferred probe works. Not for production.
pub const SKIP_ENV: &str = "LANNER_SKIP_PROBES";

/// Outcome of one probe.
#[derive(Debug, Clone)]
pub struct ProbeStatus {
    pub program: &'static str,
    pub hook: Hook,
    pub attached: bool,
    /// Not loaded because a preferred probe attached in its place.
    pub replaced_by: Option<&'static str>,
    pub error: Option<String>,
    /// Not loaded because no active rule can use its event type.
    pub unneeded: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("no exec probe could be attached; failures:\n{0}")]
    NoExec(String),
}

/// Last `n` lines of a verifier log (the useful part is at the end).
pub fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn describe(e: &ProgramError) -> String {
    match e {
        ProgramError::LoadError { io_error, verifier_log } => {
            format!(
                "verifier rejected the program ({io_error}); log tail:\n{}",
                log_tail(&verifier_log.to_string(), 15)
            )
        }
        other => format!("{other}"),
    }
}

/// tracefs mount points, newest first.
const TRACEFS: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// `Some(message)` when tracefs is mounted under one of `roots` but has no `category/name`
/// event: the kernel lacks that tracepoint (e.g. a syscall not built in), so only this
/// probe is skipped. `None` when the event exists or tracefs cannot be checked.
fn missing_tracepoint(roots: &[&str], category: &str, name: &str) -> Option<String> {
    let mounted: Vec<&str> =
        roots.iter().copied().filter(|r| std::path::Path::new(r).join("events").is_dir()).collect();
    if mounted.is_empty()
        || mounted.iter().any(|r| std::path::Path::new(r).join("events").join(category).join(name).is_dir())
    {
        return None;
    }
    Some(format!(
        "tracepoint {category}/{name} does not exist on this kernel (syscall not built in or too old): \
         only this probe is skipped, rules on its event type never match"
    ))
}

/// The kernel's active LSMs, as securityfs lists them.
const LSM_LIST: &str = "/sys/kernel/security/lsm";

/// `Some(message)` unless `list` (the contents of [`LSM_LIST`], or the error reading
/// it) names `bpf`: a BPF LSM program would not run.
fn bpf_lsm_inactive(list: Result<String, std::io::Error>) -> Option<String> {
    match list {
        Ok(l) if l.trim().split(',').any(|m| m == "bpf") => None,
        Ok(l) => Some(format!("BPF LSM is not active (active LSMs: {}; boot with lsm=...,bpf to enable it)", l.trim())),
        Err(e) => Some(format!("cannot read the active LSM list {LSM_LIST} ({e}): BPF LSM not assumed")),
    }
}

fn load_one(ebpf: &mut Ebpf, spec: &ProbeSpec, btf: &mut Option<Result<Btf, String>>) -> Result<(), String> {
    if let Hook::TracePoint { category, name } = spec.hook {
        if let Some(msg) = missing_tracepoint(TRACEFS, category, name) {
            return Err(msg);
        }
    }
    if let Hook::Lsm { .. } = spec.hook {
        if let Some(msg) = bpf_lsm_inactive(std::fs::read_to_string(LSM_LIST)) {
            return Err(msg);
        }
    }
    let prog = ebpf.program_mut(spec.program).ok_or_else(|| "program missing from the object".to_string())?;
    match spec.hook {
        Hook::TracePoint { category, name } => {
            let p: &mut TracePoint = prog.try_into().map_err(|e: ProgramError| describe(&e))?;
            p.load().map_err(|e| describe(&e))?;
            p.attach(category, name).map_err(|e| format!("attach {category}/{name}: {}", describe(&e)))?;
        }
        Hook::RawTracePoint { name } => {
            let p: &mut RawTracePoint = prog.try_into().map_err(|e: ProgramError| describe(&e))?;
            p.load().map_err(|e| describe(&e))?;
            p.attach(name).map_err(|e| format!("attach raw_tp/{name}: {}", describe(&e)))?;
        }
        Hook::FExit { function } => {
            // Parsed once, on the first program that needs it.
            let btf = btf.get_or_insert_with(|| Btf::from_sys_fs().map_err(|e| format!("kernel BTF: {e}")));
            let btf = btf.as_ref().map_err(Clone::clone)?;
            let p: &mut FExit = prog.try_into().map_err(|e: ProgramError| describe(&e))?;
            p.load(function, btf).map_err(|e| describe(&e))?;
            p.attach().map_err(|e| format!("attach fexit/{function}: {}", describe(&e)))?;
        }
        Hook::Lsm { hook } => {
            let btf = btf.get_or_insert_with(|| Btf::from_sys_fs().map_err(|e| format!("kernel BTF: {e}")));
            let btf = btf.as_ref().map_err(Clone::clone)?;
            let p: &mut Lsm = prog.try_into().map_err(|e: ProgramError| describe(&e))?;
            p.load(hook, btf).map_err(|e| describe(&e))?;
            p.attach().map_err(|e| format!("attach lsm/{hook}: {}", describe(&e)))?;
        }
    }
    Ok(())
}

/// The event type a program serves, or `None` for the programs the process table
/// needs (exec, execveat, fork, exit: the sched hooks and the execve(at) pairs) and
/// hooks this function does not know (they always attach). Derived from the hook: a
/// `syscalls/sys_{enter,exit}_<syscall>` tracepoint serves Falco's type of that
/// syscall, the open fexit serves `openat`.
pub fn probe_type(spec: &ProbeSpec) -> Option<EvtType> {
    if spec.essential {
        return None;
    }
    let syscall = match spec.hook {
        Hook::TracePoint { category: "syscalls", name } => {
            name.strip_prefix("sys_enter_").or_else(|| name.strip_prefix("sys_exit_"))?
        }
        Hook::FExit { function: "do_sys_openat2" } => return Some(EvtType::Openat),
        _ => return None,
    };
    match syscall {
        "execve" | "execveat" => None,
        "setreuid" | "setresuid" => Some(EvtType::Setuid),
        // The umount2 syscall's tracepoint is `umount`.
        "umount" => Some(EvtType::Umount2),
        s => EvtType::from_falco_name(s),
    }
}

/// Load and attach every probe the kernel supports and some rule can use
/// (`needs(type)`, the compiled rules' event types: the pre-filter's source); fail
/// soft per probe. A program no rule needs is not loaded ([`ProbeStatus::unneeded`]);
/// [`attach_needed`] attaches it when a reloaded rule set needs it.
pub fn attach_all(
    ebpf: &mut Ebpf,
    kernel: KernelVersion,
    needs: &dyn Fn(EvtType) -> bool,
) -> Result<Vec<ProbeStatus>, AttachError> {
    let mut out: Vec<ProbeStatus> = Vec::new();
    let mut btf = None;
    for spec in TABLE {
        let status = attach_one(ebpf, spec, &out, kernel, &mut btf, needs);
        out.push(status);
    }
    // An essential probe counts as present when a preferred probe replaced it.
    let exec_ok =
        TABLE.iter().zip(&out).filter(|(s, _)| s.essential).all(|(_, st)| st.attached || st.replaced_by.is_some());
    if !exec_ok {
        let msgs = out
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("  {}: {e}", s.program)))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(AttachError::NoExec(msgs));
    }
    Ok(out)
}

/// After a rule reload: attach the programs skipped as unneeded that the new rules
/// need (in table order, so a preferred probe still replaces its fallbacks). Returns
/// the programs newly attached; `statuses` is updated in place.
pub fn attach_needed(
    ebpf: &mut Ebpf,
    kernel: KernelVersion,
    statuses: &mut [ProbeStatus],
    needs: &dyn Fn(EvtType) -> bool,
) -> Vec<&'static str> {
    let mut btf = None;
    let mut attached = Vec::new();
    for (i, spec) in TABLE.iter().enumerate().take(statuses.len()) {
        let st = &statuses[i];
        if !st.unneeded || !probe_type(spec).is_some_and(needs) {
            continue;
        }
        let new = attach_one(ebpf, spec, &statuses[..i], kernel, &mut btf, needs);
        if new.attached {
            attached.push(spec.program);
        }
        statuses[i] = new;
    }
    attached
}

/// `LANNER_SKIP_PROBES` names this program (forces its fallback, for tests and the
/// bench): an entry is a program name, or `*suffix` for every program ending so
/// (`*_regs`: all the register-reading programs, so every pair loads).
fn skipped(program: &str) -> bool {
    std::env::var(SKIP_ENV).is_ok_and(|v| skip_list_names(&v, program))
}

fn skip_list_names(list: &str, program: &str) -> bool {
    list.split(',').map(str::trim).any(|p| match p.strip_prefix('*') {
        Some(sfx) => !sfx.is_empty() && program.ends_with(sfx),
        None => p == program,
    })
}

/// Decide, load and log one probe; `earlier` are the statuses of the probes before it.
fn attach_one(
    ebpf: &mut Ebpf,
    spec: &ProbeSpec,
    earlier: &[ProbeStatus],
    kernel: KernelVersion,
    btf: &mut Option<Result<Btf, String>>,
    needs: &dyn Fn(EvtType) -> bool,
) -> ProbeStatus {
    let (a, b) = spec.min_kernel;
    let base = ProbeStatus {
        program: spec.program,
        hook: spec.hook,
        attached: false,
        replaced_by: None,
        error: None,
        unneeded: false,
    };
    let by = TABLE.iter().zip(earlier).find(|(s, st)| st.attached && s.replaces.contains(&spec.program));
    let unneeded = probe_type(spec).filter(|t| !needs(*t));
    let status = if let Some((pref, _)) = by {
        ProbeStatus { replaced_by: Some(pref.program), ..base }
    } else if let Some(t) = unneeded {
        tracing::info!(probe = spec.program, hook = %spec.hook, evt_type = %t, "probe not attached: no rule needs it");
        return ProbeStatus { unneeded: true, ..base };
    } else if kernel < KernelVersion::new(a, b, 0) {
        ProbeStatus { error: Some(format!("needs kernel {a}.{b}+")), ..base }
    } else if !cfg!(target_arch = "x86_64") && reads_x86_regs(spec.program) {
        ProbeStatus { error: Some("reads x86_64 syscall registers".into()), ..base }
    } else if skipped(spec.program) {
        ProbeStatus { error: Some(format!("skipped ({SKIP_ENV})")), ..base }
    } else {
        match load_one(ebpf, spec, btf) {
            Ok(()) => ProbeStatus { attached: true, ..base },
            Err(e) => ProbeStatus { error: Some(e), ..base },
        }
    };
    let hook = spec.hook;
    match (&status.error, status.replaced_by) {
        (_, Some(p)) => tracing::info!(probe = spec.program, hook = %hook, by = p, "probe replaced"),
        (Some(e), None) if !spec.replaces.is_empty() => {
            let fallback = spec.replaces.join(", ");
            tracing::info!(probe = spec.program, hook = %hook, fallback = %fallback, "probe fallback: {e}")
        }
        (Some(e), None) => tracing::warn!(probe = spec.program, hook = %hook, "probe not attached: {e}"),
        (None, None) => tracing::info!(probe = spec.program, hook = %hook, "probe attached"),
    }
    status
}

/// `recursion_misses` from a BPF program's /proc fdinfo text (5.12+; `None` when absent).
fn fdinfo_recursion_misses(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("recursion_misses:")).and_then(|v| v.trim().parse().ok())
}

/// Runs the kernel skipped per attached program: a tracepoint program is not run
/// while another tracing program is active on the same CPU (`bpf_prog_active`),
/// a trampoline (fexit, LSM) program while it is itself active there. Each is an
/// event lost before any of our counters sees it. Only non-zero entries.
pub fn recursion_misses(ebpf: &Ebpf, statuses: &[ProbeStatus]) -> Vec<(&'static str, u64)> {
    use std::os::fd::{AsFd as _, AsRawFd as _};
    statuses
        .iter()
        .filter(|s| s.attached)
        .filter_map(|s| {
            let fd = ebpf.program(s.program)?.fd().ok()?.as_fd().as_raw_fd();
            let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
            Some((s.program, fdinfo_recursion_misses(&text)?))
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[cfg(test)]
mod tests;
