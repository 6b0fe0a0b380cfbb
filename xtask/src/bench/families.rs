//! One row per syscall family issue 14 added (path, namespace, fd, socket,
//! execveat): a loop of the family's syscalls without an agent, with the
//! floor (one EMPTY program per syscall on the tracepoint Lanner's program
//! uses, [`super::floor`]) and with `lanner run` (default rules, pre-filter
//! on), five rounds interleaved, the loop pinned, median and spread, and
//! Lanner's points above the floor (the target, as for the open and connect
//! loops: a 60 ns syscall such as unshare(0) pays tens of percent for any
//! program at all); and the kernel ns per loop iteration from `bpf_stats`
//! over the agent's own programs of that family. The loops act on the bench's
//! own /tmp files and a private fd, so no default rule fires: the figures are
//! the cost of looking, not of alerting.
use std::{ffi::CString, path::Path, time::Instant};

use anyhow::Result;

use super::{
    agent::Agent,
    floor::{pinned, Floor},
    kstats::{bpf_stats, prog_ids, stats_delta, StatsOn},
    median, spread, verdict, Report,
};

struct Family {
    name: &'static str,
    what: &'static str,
    ops: u64,
    programs: &'static [&'static str],
    /// The floor: one EMPTY program on each of these tracepoints (one per
    /// syscall of the loop, on the hook Lanner's program for it uses).
    floor: &'static [&'static str],
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
        floor: &["syscalls/sys_exit_mkdirat", "syscalls/sys_exit_renameat", "syscalls/sys_exit_unlinkat"],
    },
    Family {
        name: "unshare",
        what: "unshare(0)",
        ops: 200_000,
        programs: &["unshare_regs", "unshare_enter", "unshare_exit"],
        floor: &["syscalls/sys_exit_unshare"],
    },
    Family {
        name: "dup",
        what: "dup2 of a file fd",
        ops: 200_000,
        programs: &["dup2_regs", "dup2_enter", "dup2_exit"],
        floor: &["syscalls/sys_exit_dup2"],
    },
    Family {
        name: "socket",
        what: "socket(AF_INET, SOCK_STREAM) + close",
        ops: 100_000,
        programs: &["socket_regs", "socket_enter", "socket_exit"],
        floor: &["syscalls/sys_exit_socket"],
    },
    Family {
        name: "execveat",
        what: "fork + execveat(AT_FDCWD, /bin/true)",
        ops: 2_000,
        programs: &["exec_rename_regs", "execveat_regs", "execveat_enter", "execveat_exit", "sched_exec", "lsm_exec"],
        // A successful execveat: the program that builds its record.
        floor: &["sched/sched_process_exec"],
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

pub fn run(rep: &mut Report, bin: &Path, quick: bool) -> Result<()> {
    let scale = if quick { 10 } else { 1 };
    let rounds = 5;
    let dir = std::env::temp_dir().join(format!("lanner-bench-fam-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let d = dir.to_string_lossy().to_string();
    let k = FAMILIES.len();
    let mut slow: Vec<Vec<f64>> = vec![Vec::new(); k];
    // Per family and round: the floor's slowdown, and Lanner's points above it.
    let mut floor_pct: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut above: Vec<Vec<f64>> = vec![Vec::new(); k];
    // Per family and round: kernel ns over the loop, loop iterations, per-program detail.
    let mut kns: Vec<Vec<KernelRound>> = vec![Vec::new(); k];
    for r in 0..rounds {
        eprintln!("bench: syscall families round {}/{rounds}", r + 1);
        let base: Vec<f64> = FAMILIES.iter().map(|f| run_family(f, f.ops / scale, &d)).collect();
        let mut floor = Vec::with_capacity(k);
        for f in FAMILIES {
            let held = Floor::start(bin, "floor_tp", f.floor)?;
            floor.push(run_family(f, f.ops / scale, &d));
            drop(held);
        }
        let agent = Agent::start(bin, &[])?;
        let ids = prog_ids(agent.pid());
        let with: Vec<f64> = FAMILIES.iter().map(|f| run_family(f, f.ops / scale, &d)).collect();
        // The kernel cost: the loops again, with `bpf_stats` on (off while timed).
        let on = StatsOn::new();
        for (i, f) in FAMILIES.iter().enumerate() {
            let s0 = bpf_stats(&ids);
            run_family(f, f.ops / scale, &d);
            let delta = stats_delta(&s0, &bpf_stats(&ids), f.programs);
            let ns: u64 = delta.values().map(|v| v.0).sum();
            let detail = delta
                .iter()
                .map(|(p, (t, n))| format!("{p} {:.2} runs × {} ns", *n as f64 / (f.ops / scale) as f64, t / n.max(&1)))
                .collect::<Vec<_>>()
                .join(", ");
            kns[i].push((ns, f.ops / scale, detail));
        }
        drop(on);
        agent.stop()?;
        // The round's closing baseline: each round is compared with the mean of its two.
        for (i, f) in FAMILIES.iter().enumerate() {
            let b = (base[i] + run_family(f, f.ops / scale, &d)) / 2.0;
            slow[i].push((with[i] / b - 1.0) * 100.0);
            floor_pct[i].push((floor[i] / b - 1.0) * 100.0);
            above[i].push((with[i] - floor[i]) / b * 100.0);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (i, f) in FAMILIES.iter().enumerate() {
        let m = median(slow[i].clone());
        let a = median(above[i].clone());
        // The round with the median kernel cost per iteration.
        let mut per: Vec<(f64, &String)> = kns[i].iter().map(|(ns, ops, d)| (*ns as f64 / *ops as f64, d)).collect();
        per.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ns, detail) = per[per.len() / 2];
        let hooks: Vec<&str> = f.floor.iter().map(|h| h.trim_start_matches("syscalls/")).collect();
        rep.row(
            format!("{} loop ({} × {}): slowdown, floor and Lanner (default rules)", f.name, f.ops / scale, f.what),
            format!(
                "Lanner **{m:+.1}%** {}; floor, 1 empty program per syscall ({}) {:+.1}% {}; Lanner above the floor \
                 **{a:+.1} points** {}, each round against its own floor (median [min … max] of {rounds} interleaved \
                 rounds, loop pinned, each against the mean of its opening and closing baselines, timed with \
                 bpf_stats off); kernel {ns:.0} ns per iteration ({})",
                spread(&slow[i]),
                hooks.join(", "),
                median(floor_pct[i].clone()),
                spread(&floor_pct[i]),
                spread(&above[i]),
                if detail.is_empty() { "no program of the family ran".to_string() } else { detail.clone() }
            ),
            "≤ 5 points above the floor",
            verdict(a <= 5.0, format!("by {:.1} points", a - 5.0)),
        );
    }
    Ok(())
}
