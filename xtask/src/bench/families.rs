//! One row per syscall family issue 14 added (path, namespace, fd, socket,
//! execveat): a loop of the family's syscalls without and with `lanner run`
//! (default rules, pre-filter on), five rounds interleaved, the loop pinned,
//! median and spread; and the kernel ns per loop iteration from `bpf_stats`
//! over the agent's own programs of that family. The loops act on the bench's
//! own /tmp files and a private fd, so no default rule fires: the figures are
//! the cost of looking, not of alerting.
use std::{ffi::CString, path::Path, time::Instant};

use anyhow::Result;

use super::{
    agent::Agent,
    floor::pinned,
    median,
    overhead::{bpf_stats, prog_ids, stats_delta},
    verdict, Report,
};

struct Family {
    name: &'static str,
    what: &'static str,
    ops: u64,
    programs: &'static [&'static str],
}

const FAMILIES: &[Family] = &[
    Family {
        name: "path",
        what: "mkdirat + renameat + unlinkat(AT_REMOVEDIR) of a /tmp directory",
        ops: 50_000,
        programs: &[
            "mkdirat_regs",
            "renameat_regs",
            "unlinkat_regs",
            "mkdirat_enter",
            "mkdirat_exit",
            "renameat_enter",
            "renameat_exit",
            "unlinkat_enter",
            "unlinkat_exit",
        ],
    },
    Family {
        name: "unshare",
        what: "unshare(0)",
        ops: 200_000,
        programs: &["unshare_regs", "unshare_enter", "unshare_exit"],
    },
    Family {
        name: "dup",
        what: "dup2 of a file fd",
        ops: 200_000,
        programs: &["dup2_regs", "dup2_enter", "dup2_exit"],
    },
    Family {
        name: "socket",
        what: "socket(AF_INET, SOCK_STREAM) + close",
        ops: 100_000,
        programs: &["socket_regs", "socket_enter", "socket_exit"],
    },
    Family {
        name: "execveat",
        what: "fork + execveat(AT_FDCWD, /bin/true)",
        ops: 2_000,
        programs: &["exec_rename_regs", "execveat_regs", "execveat_enter", "execveat_exit", "sched_exec", "lsm_exec"],
    },
];

/// Kernel ns over one loop, its iterations, and the per-program detail.
type KernelRound = (u64, u64, String);

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

fn run_family(f: &Family, n: u64, dir: &str) -> f64 {
    pinned(|| {
        let t = Instant::now();
        match f.name {
            "path" => {
                let (a, b) = (c(&format!("{dir}/a")), c(&format!("{dir}/b")));
                for _ in 0..n {
                    unsafe {
                        libc::mkdirat(libc::AT_FDCWD, a.as_ptr(), 0o700);
                        libc::syscall(libc::SYS_renameat, libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr());
                        libc::unlinkat(libc::AT_FDCWD, b.as_ptr(), libc::AT_REMOVEDIR);
                    }
                }
            }
            "unshare" => {
                for _ in 0..n {
                    unsafe { libc::syscall(libc::SYS_unshare, 0) };
                }
            }
            "dup" => {
                let p = c(&format!("{dir}/dupfile"));
                let fd = unsafe { libc::open(p.as_ptr(), libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC, 0o600) };
                for _ in 0..n {
                    unsafe { libc::syscall(libc::SYS_dup2, fd, 200) };
                }
                unsafe {
                    libc::close(200);
                    libc::close(fd);
                }
            }
            "socket" => {
                for _ in 0..n {
                    unsafe {
                        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                        libc::close(s);
                    }
                }
            }
            "execveat" => {
                let path = c("/bin/true");
                let argv = [path.as_ptr(), std::ptr::null()];
                let envp = [std::ptr::null::<libc::c_char>()];
                for _ in 0..n {
                    unsafe {
                        let pid = libc::fork();
                        if pid == 0 {
                            libc::syscall(
                                libc::SYS_execveat,
                                libc::AT_FDCWD,
                                path.as_ptr(),
                                argv.as_ptr(),
                                envp.as_ptr(),
                                0,
                            );
                            libc::_exit(127);
                        }
                        let mut st = 0;
                        libc::waitpid(pid, &mut st, 0);
                    }
                }
            }
            other => unreachable!("family {other}"),
        }
        t.elapsed().as_secs_f64()
    })
}

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("[{lo:+.1} … {hi:+.1}]")
}

pub fn run(rep: &mut Report, bin: &Path, quick: bool) -> Result<()> {
    let scale = if quick { 10 } else { 1 };
    let rounds = 5;
    let dir = std::env::temp_dir().join(format!("lanner-bench-fam-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let d = dir.to_string_lossy().to_string();
    let k = FAMILIES.len();
    let mut slow: Vec<Vec<f64>> = vec![Vec::new(); k];
    // Per family and round: kernel ns over the loop, loop iterations, per-program detail.
    let mut kns: Vec<Vec<KernelRound>> = vec![Vec::new(); k];
    for r in 0..rounds {
        eprintln!("bench: syscall families round {}/{rounds}", r + 1);
        let base: Vec<f64> = FAMILIES.iter().map(|f| run_family(f, f.ops / scale, &d)).collect();
        let agent = Agent::start(bin, &[])?;
        let ids = prog_ids(agent.pid());
        for (i, f) in FAMILIES.iter().enumerate() {
            let s0 = bpf_stats(&ids);
            let t = run_family(f, f.ops / scale, &d);
            let delta = stats_delta(&s0, &bpf_stats(&ids), f.programs);
            slow[i].push((t / base[i] - 1.0) * 100.0);
            let ns: u64 = delta.values().map(|v| v.0).sum();
            let detail = delta
                .iter()
                .map(|(p, (t, n))| format!("{p} {:.2} runs × {} ns", *n as f64 / (f.ops / scale) as f64, t / n.max(&1)))
                .collect::<Vec<_>>()
                .join(", ");
            kns[i].push((ns, f.ops / scale, detail));
        }
        agent.stop()?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (i, f) in FAMILIES.iter().enumerate() {
        let m = median(slow[i].clone());
        // The round with the median kernel cost per iteration.
        let mut per: Vec<(f64, &String)> = kns[i].iter().map(|(ns, ops, d)| (*ns as f64 / *ops as f64, d)).collect();
        per.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ns, detail) = per[per.len() / 2];
        rep.row(
            format!("{} loop ({} × {}): slowdown with agent + default rules", f.name, f.ops / scale, f.what),
            format!(
                "**{m:+.1}%** {} (median [min … max] of {rounds} interleaved rounds, loop pinned); kernel {ns:.0} ns per \
                 iteration ({})",
                spread(&slow[i]),
                if detail.is_empty() { "no program of the family ran".to_string() } else { detail.clone() }
            ),
            "≤ 5%",
            verdict(m <= 5.0, format!("by {:.1} points", m - 5.0)),
        );
    }
    Ok(())
}
